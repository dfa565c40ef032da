"""Graph (+ training configuration) -> readable Keras functional-API Python.

Only settings that differ from Keras's defaults are written, so a generated
layer reads like one a person would type: ``layers.Conv2D(32, (3, 3),
activation="relu", name="conv1")``. Nested Keras objects (initializers,
regularizers, wrapped layers) become constructor calls too.
"""

from __future__ import annotations

import inspect
import keyword
import re
from typing import Any

from studio.engine import catalog
from studio.engine.graph import ModelGraph

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


def _default_config(class_name: str) -> dict[str, Any]:
    """The config Keras itself writes for a default instance of the layer."""
    try:
        from studio.engine.keras_bridge import make_layer
        spec = catalog.spec(class_name)
        return make_layer(class_name, "x", spec.default_config()).get_config()
    except Exception:
        return {}


_DEFAULT_CONFIGS: dict[str, dict[str, Any]] = {}


def normalize_config(value: Any) -> Any:
    """Configs compare equal whether they hold tuples or lists (registered names ignored)."""
    if isinstance(value, tuple):
        return [normalize_config(v) for v in value]
    if isinstance(value, list):
        return [normalize_config(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize_config(v) for k, v in value.items() if k != "registered_name"}
    return value


def _is_default(class_name: str, key: str, value: Any) -> bool:
    if class_name not in _DEFAULT_CONFIGS:
        _DEFAULT_CONFIGS[class_name] = _default_config(class_name)
    defaults = _DEFAULT_CONFIGS[class_name]
    if key in defaults and key not in catalog.spec(class_name).default_config():
        return normalize_config(defaults[key]) == normalize_config(value)
    return False


def py_literal(value: Any) -> str:
    """A Python expression for a config value (tuples for lists of numbers)."""
    if isinstance(value, dict):
        if "class_name" in value and "config" in value and isinstance(value.get("module"), str):
            return _object_call(value)
        if value.get("class_name") == "__tuple__":
            return py_literal(tuple(value["config"]["value"]))
        return "{" + ", ".join(f"{k!r}: {py_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = [py_literal(v) for v in value]
        if value and all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in value):
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"
    if isinstance(value, float):
        r = repr(value)
        return r if r not in ("inf", "-inf", "nan") else f"float({r!r})"
    return repr(value)


def _object_call(obj: dict) -> str:
    module = obj["module"]
    cname = obj["class_name"]
    cfg = dict(obj.get("config") or {})
    if module == "keras" and cname == "DTypePolicy":
        return repr(cfg.get("name", "float32"))
    prefix = _MODULE_ALIASES.get(module, module)
    if module == "keras.layers":
        return layer_expression(cname, cfg.pop("name", None), cfg)
    defaults = _defaults(cname, module)
    args = [f"{k}={py_literal(v)}" for k, v in cfg.items()
            if not (k in defaults and normalize_config(defaults[k]) == normalize_config(v))]
    return f"{prefix}.{cname}({', '.join(args)})"


def layer_expression(class_name: str, name: str | None, config: dict[str, Any]) -> str:
    """``layers.Dense(10, activation="softmax", name="out")`` for one node."""
    args = []
    for key, value in config.items():
        if key in ("name", "trainable") and (key == "name" or value is True):
            continue
        if key == "dtype" and isinstance(value, dict) and value.get("config", {}).get("name") == "float32":
            continue
        if key == "dtype" and value in ("float32", None) and class_name != "InputLayer":
            continue
        if _is_default(class_name, key, value):
            continue
        args.append(f"{key}={py_literal(value)}")
    if name is not None:
        args.append(f"name={name!r}")
    return f"layers.{class_name}({', '.join(args)})"


def _var(name: str, used: set[str]) -> str:
    v = re.sub(r"\W", "_", name)
    if not v or v[0].isdigit():
        v = "x_" + v
    if keyword.iskeyword(v) or v in {"keras", "layers", "model", "np", "inputs", "outputs"}:
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
    if dtype not in (None, "float32"):
        parts.append(f"dtype={dtype!r}")
    if cfg.get("sparse"):
        parts.append("sparse=True")
    parts.append(f"name={name!r}")
    return f"keras.Input({', '.join(parts)})"


def model_code(graph: ModelGraph, function_name: str = "build_model") -> str:
    """A function that rebuilds the graph's model with the functional API."""
    lines = [f"def {function_name}():"]
    used: set[str] = set()
    var: dict[str, list[str]] = {}
    order = graph.topological_order()
    for node_id in order:
        node = graph.nodes[node_id]
        name = _var(node.name, used)
        if node.spec.is_input:
            lines.append(f"    {name} = {input_expression(node.config, node.name)}")
            var[node_id] = [name]
            continue
        ports = graph.inputs_of(node_id)
        args = [var[ports[k][0]][ports[k][1]] for k in sorted(ports)]
        style = node.spec.call_style
        call = args[0] if style == "single" else (", ".join(args) if style == "positional" else "[" + ", ".join(args) + "]")
        expr = layer_expression(node.class_name, node.name, node.config)
        lines.append(f"    {name} = {expr}({call})")
        last_port = max((e.src_port for e in graph.edges if e.src == node_id), default=0)
        var[node_id] = [name] if last_port == 0 else [f"{name}[{k}]" for k in range(last_port + 1)]
    ins = [var[n.id][0] for n in graph.input_nodes()]
    outs = [var[i][0] for i in graph.model_outputs()]
    fmt = lambda xs: xs[0] if len(xs) == 1 else "[" + ", ".join(xs) + "]"  # noqa: E731
    lines.append(f"    return keras.Model(inputs={fmt(ins)}, outputs={fmt(outs)}, name={graph.name!r})")
    return "\n".join(lines) + "\n"


def training_code(training: dict[str, Any]) -> str:
    opt = training.get("optimizer", "adam")
    optimizers = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adamw": "AdamW",
                  "adagrad": "Adagrad", "nadam": "Nadam"}
    cls = optimizers.get(str(opt).lower(), "Adam")
    extra = ", momentum=%r" % training["momentum"] if cls in ("SGD", "RMSprop") and "momentum" in training else ""
    lr = training.get("learning_rate", 0.001)
    batch, epochs = training.get("batch_size", 128), training.get("epochs", 5)
    split = training.get("validation_split", 0.1)
    if training.get("lr_schedule") == "cosine":
        rate = ("    # cosine decay of the learning rate to 0 over the whole run\n"
                f"    learning_rate = keras.optimizers.schedules.CosineDecay({lr!r}, decay_steps=steps)\n")
    else:
        rate = f"    learning_rate = {lr!r}\n"
    return (
        "def compile_model(model, steps=1000):\n"
        + rate +
        "    model.compile(\n"
        f"        optimizer=keras.optimizers.{cls}(learning_rate=learning_rate{extra}),\n"
        f"        loss={training.get('loss', 'sparse_categorical_crossentropy')!r},\n"
        f"        metrics={list(training.get('metrics', ['accuracy']))!r},\n"
        "    )\n"
        "    return model\n\n\n"
        "def train(model, x_train, y_train, epochs=None):\n"
        f"    keras.utils.set_random_seed({training.get('shuffle_seed', 42)!r})\n"
        f"    epochs = epochs or {epochs!r}\n"
        f"    steps = epochs * -(-int(len(x_train) * (1 - {split!r})) // {batch!r})\n"
        "    compile_model(model, steps)\n"
        "    return model.fit(\n"
        "        x_train, y_train,\n"
        f"        batch_size={batch!r},\n"
        "        epochs=epochs,\n"
        f"        validation_split={split!r},\n"
        "    )\n"
    )


def generate(graph: ModelGraph, training: dict[str, Any] | None = None) -> str:
    """A complete, runnable Python module for the graph."""
    parts = [
        f'"""Model "{graph.name}", generated by Layer Studio."""\n',
        "import keras\nfrom keras import layers\n\n",
        model_code(graph),
    ]
    if training:
        parts += ["\n\n", training_code(training)]
    parts += ["\n\nif __name__ == \"__main__\":\n",
              "    model = build_model()\n",
              "    compile_model(model)\n" if training else "",
              "    model.summary()\n"]
    return "".join(parts)
