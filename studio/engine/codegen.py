"""Graph (+ training configuration) -> readable Keras functional-API Python.

Only settings that differ from Keras's defaults are written, so a generated
layer reads like one a person would type: ``layers.Conv2D(32, (3, 3),
activation="relu", name="conv1")``. Nested Keras objects (initializers,
regularizers, wrapped layers) become constructor calls too.

Nothing from a project reaches the code as text: every string (the model's
name, node names, settings, the loss) is written as a Python literal with
``repr``; every name that becomes code (a variable, a keyword argument, a
class or module name) is checked to be a plain identifier, and configs pass
the same allow-lists as the compiler (:func:`keras_bridge.check_config_safe`).
Anything else is refused with :class:`CodegenError`.
"""

from __future__ import annotations

import inspect
import keyword
import math
import re
from typing import Any

from studio.engine import catalog
from studio.engine.errors import BAD_INPUT, StudioError
from studio.engine.graph import ModelGraph

_MAX_DEPTH = 40
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
OPTIMIZER_CLASSES = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adamw": "AdamW",
                     "adagrad": "Adagrad", "nadam": "Nadam"}


class CodegenError(StudioError, ValueError):
    """The project holds something that cannot be written as code; the message names it."""

    exit_code = BAD_INPUT


def _identifier(text: Any, what: str) -> str:
    """``text`` if it is a plain ASCII identifier (not a keyword), else CodegenError."""
    if (not isinstance(text, str) or not text.isascii() or not text.isidentifier()
            or keyword.iskeyword(text)):
        raise CodegenError(f"{what} {text!r:.80} is not a valid Python name")
    return text


def _dotted(text: Any, what: str) -> str:
    if not isinstance(text, str) or not _DOTTED.match(text) or any(keyword.iskeyword(p) for p in text.split(".")):
        raise CodegenError(f"{what} {text!r:.80} is not a valid Python module path")
    return text


def _number(value: Any, what: str, whole: bool = False) -> str:
    """A finite int (or float) as a literal."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not isinstance(value, int)):
        raise CodegenError(f"{what} should be a {'whole ' if whole else ''}number, not {value!r:.80}")
    if isinstance(value, float) and not math.isfinite(value):
        raise CodegenError(f"{what} should be a finite number, not {value!r}")
    return repr(int(value) if isinstance(value, int) else float(value))

_MODULE_ALIASES = {"keras.layers": "layers", "keras.initializers": "keras.initializers",
                   "keras.regularizers": "keras.regularizers", "keras.constraints": "keras.constraints",
                   "keras": "keras"}


def _defaults(class_name: str, module: str = "keras.layers") -> dict[str, Any]:
    import importlib

    mod = importlib.import_module(module)
    cls = getattr(mod, class_name, None)
    if cls is None:
        return {}
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in sig.parameters.values() if p.default is not inspect.Parameter.empty}


def normalize_config(value: Any) -> Any:
    """Configs compare equal whether they hold tuples or lists (registered names ignored)."""
    if isinstance(value, tuple):
        return [normalize_config(v) for v in value]
    if isinstance(value, list):
        return [normalize_config(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize_config(v) for k, v in value.items() if k != "registered_name"}
    return value


_SIGNATURES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {}
_REFERENCE_CONFIGS: dict[tuple[str, str], dict[str, Any]] = {}


def _signature(class_name: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The layer constructor's real defaults and its required argument names."""
    if class_name not in _SIGNATURES:
        defaults: dict[str, Any] = {}
        required: list[str] = []
        try:
            sig = inspect.signature(catalog.keras_class(class_name).__init__)
            for p in list(sig.parameters.values())[1:]:
                if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    continue
                if p.default is inspect.Parameter.empty:
                    required.append(p.name)
                else:
                    defaults[p.name] = p.default
        except (TypeError, ValueError):
            pass
        _SIGNATURES[class_name] = (defaults, tuple(required))
    return _SIGNATURES[class_name]


def _built_config(class_name: str, config: dict[str, Any]) -> dict[str, Any] | None:
    """``get_config()`` of the layer Keras builds from ``config`` (name excluded), or None."""
    try:
        from studio.engine.keras_bridge import make_layer
        cfg = make_layer(class_name, "x", config).get_config()
    except Exception:  # noqa: BLE001 - no reference: only exact omissions are made
        return None
    cfg.pop("name", None)
    return normalize_config(cfg)


def _reference_config(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """What a layer built from only the required arguments of ``config`` writes (cached)."""
    _, required = _signature(class_name)
    req = {k: config[k] for k in required if k in config}
    key = (class_name, repr(sorted(req.items())))
    if key not in _REFERENCE_CONFIGS:
        _REFERENCE_CONFIGS[key] = _built_config(class_name, req) or {}
    return _REFERENCE_CONFIGS[key]


def omitted_keys(class_name: str, config: dict[str, Any]) -> set[str]:
    """The settings that can be left out of a constructor call without changing the layer.

    A setting equal to the constructor's own default (its signature) is always
    omitted: leaving it out passes the very same value. A setting equal to what
    a layer built from the required arguments alone writes in its config (e.g.
    ``strides=(1, 1)`` for a Conv2D, whose signature says ``1``) is omitted only
    when a layer built without it has exactly the same config as one built
    with everything; otherwise it is written (pooling ``strides`` follow
    ``pool_size``, so ``strides=(2, 2)`` with ``pool_size=(3, 3)`` stays).
    """
    defaults, required = _signature(class_name)
    exact = {k for k, v in config.items()
             if k in defaults and normalize_config(defaults[k]) == normalize_config(v)}
    reference = _reference_config(class_name, config)
    guesses = {k for k, v in config.items() if k not in exact and k != "name" and k not in required
               and ((k in reference and reference[k] == normalize_config(v))
                    or (k == "dtype" and v in ("float32", None)))}
    if not guesses:
        return exact
    target = _built_config(class_name, config)
    if target is None:
        return exact
    for _ in range(len(guesses) + 1):
        built = _built_config(class_name, {k: v for k, v in config.items() if k not in exact | guesses})
        if built is None:
            return exact
        wrong = {k for k in guesses if built.get(k, object()) != target.get(k, object())}
        if not wrong:
            return exact | guesses if built == target else exact
        guesses -= wrong
    return exact


def py_literal(value: Any, _depth: int = 0) -> str:
    """A Python expression for a config value (tuples for lists of numbers).

    Only plain values are written: None, booleans, numbers, strings (as
    ``repr`` literals), lists, tuples, dicts and serialized Keras objects,
    which become constructor calls with checked names.
    """
    if _depth > _MAX_DEPTH:
        raise CodegenError("a setting is nested too deeply to write as code")
    if isinstance(value, dict):
        if "class_name" in value and "config" in value and isinstance(value.get("module"), str):
            return _object_call(value, _depth + 1)
        if value.get("class_name") == "__tuple__":
            inner = value.get("config")
            items = inner.get("value") if isinstance(inner, dict) else None
            if not isinstance(items, (list, tuple)):
                raise CodegenError(f"a tuple setting {value!r:.80} has no list of values")
            return py_literal(tuple(items), _depth + 1)
        for k in value:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise CodegenError(f"a setting has a key {k!r:.80} that is not a string")
        return "{" + ", ".join(f"{k!r}: {py_literal(v, _depth + 1)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = [py_literal(v, _depth + 1) for v in value]
        if value and all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in value):
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"
    if isinstance(value, float):
        r = repr(value)
        return r if r not in ("inf", "-inf", "nan") else f"float({r!r})"
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    raise CodegenError(f"a setting of type {type(value).__name__} cannot be written as code")


def _object_call(obj: dict, _depth: int = 0) -> str:
    module = _dotted(obj["module"], "module")
    if not (module == "keras" or module.startswith("keras.")):
        raise CodegenError(f"module {module!r} is not part of Keras")
    cname = _identifier(obj["class_name"], "class name")
    cfg = obj.get("config") or {}
    if not isinstance(cfg, dict):
        raise CodegenError(f"the settings of {module}.{cname} should be an object")
    cfg = dict(cfg)
    if module in ("keras", "keras.dtype_policies") and cname in ("DTypePolicy", "FloatDTypePolicy"):
        return repr(cfg.get("name", "float32"))
    prefix = _MODULE_ALIASES.get(module, module)
    if module == "keras.layers":
        if cname not in catalog.SPECS:
            raise CodegenError(f"'{cname}' is not a layer in the catalog")
        return layer_expression(cname, cfg.pop("name", None), cfg, _depth)
    defaults = _defaults(cname, module)
    args = [f"{_identifier(k, 'setting')}={py_literal(v, _depth + 1)}" for k, v in cfg.items()
            if not (k in defaults and normalize_config(defaults[k]) == normalize_config(v))]
    return f"{prefix}.{cname}({', '.join(args)})"


def layer_expression(class_name: str, name: str | None, config: dict[str, Any], _depth: int = 0) -> str:
    """``layers.Dense(10, activation="softmax", name="out")`` for one node."""
    if class_name not in catalog.SPECS:
        raise CodegenError(f"'{class_name!s:.80}' is not a layer in the catalog")
    _identifier(class_name, "layer type")
    if name is not None and not isinstance(name, str):
        raise CodegenError(f"a layer name should be a string, not {name!r:.80}")
    args = []
    for key in config:
        _identifier(key, f"setting of {class_name} '{name}'")
    omit = omitted_keys(class_name, {k: v for k, v in config.items() if k != "name"})
    for key, value in config.items():
        if key == "name" or key in omit:
            continue
        args.append(f"{key}={py_literal(value, _depth + 1)}")
    if name is not None:
        args.append(f"name={name!r}")
    module = catalog.APPLICATION_LAYERS.get(class_name)
    prefix = f"{module}." if module else "layers."  # Keras's own layers that live in keras.applications
    return f"{prefix}{class_name}({', '.join(args)})"


# names the generated code refers to inside a function: a node must not shadow them
_RESERVED = {"keras", "layers", "model", "np", "inputs", "outputs", "build_model", "compile_model", "train",
             "learning_rate", "steps", "epochs", "float", "tuple", "list", "dict", "None", "True", "False",
             "slice", "sum", "max", "min", "abs"}


class _Code(str):
    """Text that is already code (a variable, a literal): written as it is."""


def _render(value: Any) -> str:
    """Call arguments as code: variables and literals as they are, lists of them in brackets."""
    if isinstance(value, _Code):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if value is None:
        return "None"
    raise CodegenError(f"a call argument {value!r:.60} cannot be written as code")


def constant_literal(value: Any, _depth: int = 0) -> str:
    """An operation's constant argument as a literal: lists stay lists (they are data, not
    shapes), Keras's slice and ``...`` markers become ``slice(1, None, None)`` and ``...``."""
    if _depth > _MAX_DEPTH:
        raise CodegenError("a constant is nested too deeply to write as code")
    if isinstance(value, dict) and value.get("class_name") == "__slice__":
        cfg = value.get("config") or {}
        parts = [cfg.get(k) for k in ("start", "stop", "step")]
        if set(value) - {"class_name", "config"} or set(cfg) - {"start", "stop", "step"} or not all(
                v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in parts):
            raise CodegenError(f"a slice {value!r:.80} should hold whole numbers or None")
        return f"slice({', '.join(repr(v) for v in parts)})"
    if isinstance(value, dict) and value.get("class_name") == "__ellipsis__":
        return "..."
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(constant_literal(v, _depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        raise CodegenError(f"a constant {value!r:.80} is not plain data")
    return py_literal(value, _depth + 1)


def _op_constant(class_name: str, param: str, value: Any) -> _Code:
    text = constant_literal(value)
    if class_name == "ops.GetItem" and param == "key" and isinstance(value, (list, tuple)):
        text = "(" + text[1:-1] + ("," if len(value) == 1 else "") + ")"   # x[a, b] indexes with a tuple
    return _Code(text)


def operation_expression(class_name: str, name: str | None, config: dict[str, Any]) -> str:
    """``keras.src.ops.numpy.Mean(axis=1, name="mean")`` for an operation node: Keras's own
    operation class, because the ``keras.ops`` functions cannot give what they record a
    name (and an unnamed one may take the name of a layer of the model)."""
    from studio.engine.keras_bridge import op_config

    s = catalog.spec(class_name)
    module = _dotted(s.op.module, "module")
    cls_name = _identifier(s.op.keras_class, "operation")
    try:
        settings = op_config(class_name, "x", config)
    except ValueError as exc:
        raise CodegenError(f"operation '{name}': {' '.join(str(exc).split())[:200]}") from None
    settings.pop("name", None)
    defaults = _defaults(cls_name, module)
    args = [f"{_identifier(k, f'setting of {class_name} {name!r}')}={py_literal(v)}" for k, v in settings.items()
            if not (k in defaults and normalize_config(defaults[k]) == normalize_config(v))]
    if name is not None:
        if not isinstance(name, str):
            raise CodegenError(f"an operation name should be a string, not {name!r:.80}")
        args.append(f"name={name!r}")
    return f"{module}.{cls_name}({', '.join(args)})"


def call_expression(node, values: dict[int, str]) -> str:
    """The node's layer (or operation) called on its inputs: ``(x)``, ``([a, b])``,
    ``(q, v, attention_mask=m)``, ``(x, 3.0)``."""
    try:
        catalog.check_call_fields(node.class_name, node.config)
    except ValueError as exc:
        raise CodegenError(f"layer '{node.name}': {exc}") from None
    if node.spec.is_op:
        constant = lambda param, value: _op_constant(node.class_name, param, value)  # noqa: E731
    else:
        constant = lambda param, value: _Code(py_literal(value))  # noqa: E731
    args, kwargs = catalog.call_arguments(node.class_name, node.config, {k: _Code(v) for k, v in values.items()},
                                          constant)
    parts = [_render(a) for a in args]
    parts += [f"{_identifier(k, f'keyword argument of {node.name!r}')}={_render(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def _var(name: str, used: set[str]) -> str:
    """A local variable name for a node: its name with anything but ASCII letters,
    digits and '_' replaced, never a keyword or a name the generated code uses."""
    v = re.sub(r"[^A-Za-z0-9_]", "_", str(name))[:60]
    if not v or v[0].isdigit():
        v = "x_" + v
    if keyword.iskeyword(v) or keyword.issoftkeyword(v) or v in _RESERVED or v.startswith("__"):
        v += "_"
    base, k = v, 1
    while v in used:
        k += 1
        v = f"{base}_{k}"
    used.add(v)
    return v


def input_expression(config: dict[str, Any], name: str) -> str:
    from studio.engine.keras_bridge import input_layer_config

    cfg = input_layer_config(config)
    shape = list(cfg["batch_shape"])
    parts = []
    if shape[0] is None:
        parts.append(f"shape={py_literal(tuple(shape[1:]))}")
    else:
        parts.append(f"batch_shape={py_literal(tuple(shape))}")
    dtype = cfg.get("dtype")
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name") if isinstance(dtype.get("config"), dict) else None
    if dtype not in (None, "float32"):
        if not isinstance(dtype, str):
            raise CodegenError(f"input '{name}' has a dtype {dtype!r:.80} that is not a name")
        parts.append(f"dtype={dtype!r}")
    if cfg.get("sparse"):
        parts.append("sparse=True")
    if not isinstance(name, str):
        raise CodegenError(f"an input name should be a string, not {name!r:.80}")
    parts.append(f"name={name!r}")
    return f"keras.Input({', '.join(parts)})"


def _block_function(node, helpers: list[str], taken: set[str]) -> str:
    """Write the function that builds a block's nested model (the way the book writes
    one: a ``keras.Sequential`` list, or a functional model); returns its name."""
    from studio.engine.blocks import BlockError, inner_graph, sequential_order

    base = "build_" + (re.sub(r"\W", "_", node.name).strip("_") or "block")
    fn = base if base.isidentifier() and not keyword.iskeyword(base) else f"build_block_{len(taken)}"
    k = 1
    while fn in taken:
        k += 1
        fn = f"{base}_{k}"
    taken.add(fn)
    try:
        graph = inner_graph(node.config, node.name)
    except (BlockError, KeyError, TypeError, ValueError) as exc:
        raise CodegenError(f"block '{node.name}': {exc}") from None
    frozen = node.config.get("trainable", True) is False
    if node.config.get("kind") == "sequential":
        try:
            order = sequential_order(graph)
        except BlockError as exc:
            raise CodegenError(str(exc)) from None
        items = []
        for node_id in order:
            inner = graph.nodes[node_id]
            if inner.spec.is_input:
                items.append(input_expression(inner.config, inner.name))
            elif inner.class_name == "Block":
                items.append(f"{_block_function(inner, helpers, taken)}()")
            else:
                items.append(layer_expression(inner.class_name, inner.name, inner.config))
        body = "keras.Sequential([\n" + "".join(f"        {item},\n" for item in items) + f"    ], name={node.name!r})"
        lines = [f"def {fn}():"]
        if frozen:
            lines += [f"    model = {body}", "    model.trainable = False", "    return model"]
        else:
            lines += [f"    return {body}"]
        helpers.append("\n".join(lines) + "\n")
    else:
        helpers.append(model_code(graph, fn, frozen=frozen, _helpers=helpers, _taken=taken))
    return fn


def model_code(graph: ModelGraph, function_name: str = "build_model", frozen: bool = False,
               _helpers: list[str] | None = None, _taken: set[str] | None = None) -> str:
    """A function that rebuilds the graph's model with the functional API (preceded by
    one function per block it holds, unless the caller collects those in ``_helpers``)."""
    from studio.engine.blocks import BlockError, check_block_config
    from studio.engine.keras_bridge import UnsafeConfigError, check_config_safe

    top = _helpers is None
    helpers: list[str] = [] if top else _helpers
    taken: set[str] = {function_name} if _taken is None else _taken
    _identifier(function_name, "function name")
    if not isinstance(graph.name, str):
        raise CodegenError(f"the model's name should be a string, not {graph.name!r:.80}")
    for node in graph.nodes.values():
        if not isinstance(node.name, str):
            raise CodegenError(f"node {node.id!r:.40} has a name {node.name!r:.80} that is not a string")
        try:
            if node.class_name == "Block":
                check_block_config(node.config, f"block '{node.name}'")
            else:
                check_config_safe(node.config, f"layer '{node.name}'")
        except (UnsafeConfigError, BlockError) as exc:
            raise CodegenError(str(exc)) from None
    lines = [f"def {function_name}():"]
    used: set[str] = set()
    var: dict[str, list[str]] = {}
    last_port: dict[str, int] = {}
    for e in graph.edges:
        last_port[e.src] = max(last_port.get(e.src, 0), e.src_port)
    used_ids = graph.model_node_ids()  # a layer wired to nothing is not part of the model, nor of its code
    order = [i for i in graph.topological_order() if i in used_ids]
    shared_uses: dict[str, list[str]] | None = None
    shared_vars: dict[str, str] = {}   # owner id -> the variable holding the layer its uses call again
    for node_id in order:
        node = graph.nodes[node_id]
        name = _var(node.name, used)
        if node.spec.is_input:
            try:
                lines.append(f"    {name} = {input_expression(node.config, node.name)}")
            except ValueError as exc:
                if isinstance(exc, CodegenError):
                    raise
                raise CodegenError(f"input '{node.name}': {exc}") from None
            var[node_id] = [name]
            continue
        ports = graph.inputs_of(node_id)
        try:
            values = {k: var[src][port] for k, (src, port) in ports.items()}
            found = catalog.check_ports(node.class_name, node.config, ports) if ports else None
        except (KeyError, IndexError, AttributeError, TypeError):
            values, found = {}, None
        if (not values or found is None or found.missing or found.extra
                or (found.positional < node.spec.min_inputs and not node.spec.is_op)):
            raise CodegenError(f"layer '{node.name}' is missing an input; fix the model first "
                               "(layer-studio check lists what is wrong)")
        call = call_expression(node, values)
        style = node.spec.call_style
        from studio.engine.sharing import owner_id, uses_index
        if shared_uses is None:
            shared_uses = uses_index(graph)
        owner = owner_id(node) or (node_id if node_id in shared_uses else None)
        if owner is not None:  # one layer called at several places: made once, then called
            if owner not in shared_vars:
                owner_node = graph.nodes.get(owner)
                if owner_node is None or owner_node.class_name != node.class_name:
                    raise CodegenError(f"layer '{node.name}' shares the weights of a layer that is not there; "
                                       "fix the model first (layer-studio check lists what is wrong)")
                shared_vars[owner] = _var(f"{owner_node.name}_layer", used)
                if style == "block":
                    maker = f"{_block_function(owner_node, helpers, taken)}()"
                elif owner_node.spec.is_op:
                    maker = operation_expression(owner_node.class_name, owner_node.name, owner_node.config)
                else:
                    maker = layer_expression(owner_node.class_name, owner_node.name,
                                             catalog.layer_settings(owner_node.config))
                lines.append(f"    {shared_vars[owner]} = {maker}")
            lines.append(f"    {name} = {shared_vars[owner]}({call})")
        elif style == "block":
            block_var = _var(f"{node.name}_block", used)
            lines.append(f"    {block_var} = {_block_function(node, helpers, taken)}()")
            lines.append(f"    {name} = {block_var}({call})")
        else:
            if node.spec.is_op:
                expr = operation_expression(node.class_name, node.name, node.config)
            else:
                expr = layer_expression(node.class_name, node.name, catalog.layer_settings(node.config))
            lines.append(f"    {name} = {expr}({call})")
        ports_out = last_port.get(node_id, 0)
        var[node_id] = [name] if ports_out == 0 else [f"{name}[{k}]" for k in range(ports_out + 1)]
    ins = [var[n.id][0] for n in graph.input_nodes() if n.id in var]
    outs = [var[i][0] for i in graph.model_outputs() if i in var]
    if not ins or not outs:
        raise CodegenError(f"the model has no {'input' if not ins else 'output'}; fix the model first "
                           "(layer-studio check lists what is wrong)")
    fmt = lambda xs: xs[0] if len(xs) == 1 else "[" + ", ".join(xs) + "]"  # noqa: E731
    model = f"keras.Model(inputs={fmt(ins)}, outputs={fmt(outs)}, name={graph.name!r})"
    if frozen:
        lines += [f"    model = {model}", "    model.trainable = False", "    return model"]
    else:
        lines.append(f"    return {model}")
    code = "\n".join(lines) + "\n"
    return "\n\n".join(helpers + [code]) if top else code


def training_code(training: dict[str, Any], graph: ModelGraph | None = None) -> str:
    """``compile_model`` and ``train`` for the training settings (every value checked); with a
    fine-tuning stage (which needs the graph) also ``fine_tune``, which ``train`` runs after its fit."""
    from studio.engine.keras_bridge import UnsafeConfigError, check_training_names

    if not isinstance(training, dict):
        raise CodegenError("the training settings should be an object")
    opt = training.get("optimizer", "adam")
    if not isinstance(opt, str) or opt.lower() not in OPTIMIZER_CLASSES:
        raise CodegenError(f"training.optimizer {opt!r:.80} is not one of {', '.join(OPTIMIZER_CLASSES)}")
    cls = OPTIMIZER_CLASSES[opt.lower()]
    try:
        check_training_names(training)
    except UnsafeConfigError as exc:
        raise CodegenError(str(exc)) from None
    extra = ""
    if cls in ("SGD", "RMSprop") and "momentum" in training:
        extra = f", momentum={_number(training['momentum'], 'training.momentum')}"
    lr = _number(training.get("learning_rate", 0.001), "training.learning_rate")
    batch = _number(training.get("batch_size", 128), "training.batch_size", whole=True)
    epochs = _number(training.get("epochs", 5), "training.epochs", whole=True)
    split = _number(training.get("validation_split", 0.1), "training.validation_split")
    seed = training.get("shuffle_seed", 42)
    seed = "None" if seed is None else _number(seed, "training.shuffle_seed", whole=True)
    loss = repr(training.get("loss", "sparse_categorical_crossentropy"))
    metrics = "[" + ", ".join(repr(m) for m in training.get("metrics", ["accuracy"])) + "]"
    if training.get("lr_schedule") == "cosine":
        rate = ("    # cosine decay of the learning rate to 0 over the whole run\n"
                f"    learning_rate = keras.optimizers.schedules.CosineDecay({lr}, decay_steps=steps)\n")
    else:
        rate = f"    learning_rate = {lr}\n"
    stage_two = _fine_tune_code(training, graph, cls, extra, loss, metrics, batch, split)
    return (
        "def compile_model(model, steps=1000):\n"
        + rate +
        "    model.compile(\n"
        f"        optimizer=keras.optimizers.{cls}(learning_rate=learning_rate{extra}),\n"
        f"        loss={loss},\n"
        f"        metrics={metrics},\n"
        "    )\n"
        "    return model\n\n\n"
        "def train(model, x_train, y_train, epochs=None):\n"
        f"    keras.utils.set_random_seed({seed})\n"
        f"    epochs = epochs or {epochs}\n"
        f"    steps = epochs * -(-int(len(x_train) * (1 - {split})) // {batch})\n"
        "    compile_model(model, steps)\n"
        + ("    history = model.fit(\n" if stage_two else "    return model.fit(\n") +
        "        x_train, y_train,\n"
        f"        batch_size={batch},\n"
        "        epochs=epochs,\n"
        f"        validation_split={split},\n"
        "    )\n"
        + ("    fine_tune(model, x_train, y_train, initial_epoch=epochs)\n    return history\n\n\n" + stage_two
           if stage_two else "")
    )


def _fine_tune_code(training, graph, cls, extra, loss, metrics, batch, split) -> str:
    """The book's second stage, exactly as the trainer runs it: stage 2's trainable switches,
    a recompile at the stage's learning rate, and fit from the next epoch ('' without one)."""
    if training.get("fine_tune") is None:
        return ""
    from studio.engine.train import fine_tune as ft_mod
    from studio.engine.train.settings import FineTune, SettingsError
    try:
        ft = FineTune.from_dict(training["fine_tune"])
    except SettingsError as exc:
        raise CodegenError(str(exc)) from None
    if graph is None:
        raise CodegenError("the fine-tuning stage needs the model to be written as code")
    try:
        plan = ft_mod.plan(graph, ft)
    except ft_mod.FineTuneProblem as exc:
        raise CodegenError(str(exc)) from None
    lr = _number(ft.learning_rate, "training.fine_tune.learning_rate")
    epochs = _number(ft.epochs, "training.fine_tune.epochs", whole=True)
    lines = []

    def switches(target: str, class_name: str, config: dict) -> None:
        on = config.get("trainable", True) is not False
        lines.append(f"    {target}.trainable = {on}")
        if class_name == "Block" and on:
            for inner in config["graph"]["nodes"]:
                if inner["class_name"] == "InputLayer" or set(inner["config"]) == {"shares"}:
                    continue
                switches(f"{target}.get_layer({inner['name']!r})", inner["class_name"], inner["config"])

    for node_id in plan.changed:
        node = plan.graph.nodes[node_id]
        switches(f"model.get_layer({node.name!r})", node.class_name, node.config)
    if training.get("lr_schedule") == "cosine":
        rate = (f"    steps = {epochs} * -(-int(len(x_train) * (1 - {split})) // {batch})\n"
                f"    learning_rate = keras.optimizers.schedules.CosineDecay({lr}, decay_steps=steps)\n")
    else:
        rate = f"    learning_rate = {lr}\n"
    kept = (f" (BatchNormalization {', '.join(plan.kept_frozen)} stays frozen)" if plan.kept_frozen else "")
    return (
        "def fine_tune(model, x_train, y_train, initial_epoch):\n"
        + f"    {docstring('Stage 2: train from ' + plan.target + ' onwards' + kept + ' at a lower learning rate.')}\n"
        + "\n".join(lines) + "\n"
        + rate +
        "    model.compile(  # Keras needs a compile after trainable changes\n"
        f"        optimizer=keras.optimizers.{cls}(learning_rate=learning_rate{extra}),\n"
        f"        loss={loss},\n"
        f"        metrics={metrics},\n"
        "    )\n"
        "    return model.fit(\n"
        "        x_train, y_train,\n"
        f"        batch_size={batch},\n"
        f"        epochs=initial_epoch + {epochs},\n"
        "        initial_epoch=initial_epoch,\n"
        f"        validation_split={split},\n"
        "    )\n"
    )


def docstring(text: str) -> str:
    """A module docstring for ``text``: a triple-quoted block when that is safe, else ``repr``."""
    if (text.isprintable() and '"' * 3 not in text and "\\" not in text and not text.endswith('"')):
        return f'"""{text}"""'
    return repr(text)


def generate(graph: ModelGraph, training: dict[str, Any] | None = None) -> str:
    """A complete, runnable Python module for the graph."""
    if not isinstance(graph.name, str):
        raise CodegenError(f"the model's name should be a string, not {graph.name!r:.80}")
    parts = [
        docstring(f'Model "{graph.name}", generated by Layer Studio.') + "\n",
        "import keras\nfrom keras import layers\n\n",
        model_code(graph),
    ]
    if training:
        parts += ["\n\n", training_code(training, graph)]
    parts += ["\n\nif __name__ == \"__main__\":\n",
              "    model = build_model()\n",
              "    compile_model(model)\n" if training else "",
              "    model.summary()\n"]
    return "".join(parts)
