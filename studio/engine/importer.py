"""``keras.Model`` or ``.keras`` file -> ModelGraph (+ weights), laid out.

Only catalog layers and operations are accepted. A ``.keras`` file's ``config.json`` is read
and checked before Keras loads anything, so a file holding a Lambda or a
custom layer is refused by name and none of its code runs. Shared layers
(one layer called at several places) and models nested inside models are
refused with their names rather than silently flattened or duplicated.

A ``.keras`` file is a zip archive: before anything in it is read, the sizes
its directory declares are checked against the file's real size and stated
limits (a small file that inflates to gigabytes is refused), and the HDF5
weights inside are checked from their declared shapes (no external files, no
array larger than the limits) before Keras reads a byte of them.
"""

from __future__ import annotations

import json
import math
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

from studio.engine import catalog, keras_bridge
from studio.engine.compiler import Weights, model_weights
from studio.engine.errors import BAD_INPUT, StudioError, size_text as _size_text
from studio.engine.graph import GraphError, ModelGraph
from studio.engine.layout import layered_layout

GiB = 1024 ** 3
MB = 1024 ** 2
MAX_CONFIG_BYTES = 64 * MB                # config.json, uncompressed
MAX_ARCHIVE_BYTES = int(os.environ.get("LAYER_STUDIO_MAX_DATA_BYTES", 4 * GiB))  # all members, uncompressed
MAX_EXPANSION = 200                       # uncompressed / compressed, for members over SMALL_BYTES
SMALL_BYTES = 64 * MB
MAX_MEMBERS = 10_000


def model_name(name) -> str:
    """A model's name as a project can keep it (what TensorFlow's name scopes accept);
    other characters become '_' (the name changes nothing the model computes)."""
    import re
    text = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(name or "model"))[:100]
    return text if re.match(r"^[A-Za-z0-9_]", text) else f"m{text}"[:100]


class ImportRefused(StudioError, ValueError):
    """The model cannot be represented faithfully as a Layer Studio graph."""

    exit_code = BAD_INPUT


_MODEL_CLASSES = {"Functional", "Sequential", "Model"}


def _is_tensor_ref(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _tensor_refs(value: Any) -> list[tuple[str, int, int]]:
    """Keras tensor references in call arguments, in argument order."""
    if _is_tensor_ref(value):
        name, node_index, tensor_index = value["config"]["keras_history"]
        return [(name, int(node_index), int(tensor_index))]
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(_tensor_refs(v))
        return out
    if isinstance(value, dict) and "class_name" not in value:
        out = []
        for v in value.values():
            out.extend(_tensor_refs(v))
        return out
    return []


def _constants(value: Any) -> list[Any]:
    """Call arguments that are not tensors (numbers, strings, None...), in argument order."""
    if _is_tensor_ref(value):
        return []
    if isinstance(value, (list, tuple)):
        return [c for v in value for c in _constants(v)]
    if isinstance(value, dict) and "class_name" not in value:
        return [c for v in value.values() for c in _constants(v)]
    return [value]


def _ref_text(refs) -> str:
    names = list(dict.fromkeys(r[0] for r in refs))
    return f" (applied to the output of {', '.join(repr(n) for n in names)})" if names else ""


def _constant_problem(value: Any, depth: int = 0) -> str | None:
    """Why a constant call argument cannot be kept exactly in a node (None: it can).
    Numbers, booleans, strings, None, lists of them, and Keras's slice and ``...``
    markers are plain data; anything else (an array, an object) is not."""
    if depth > 32:
        return "it is nested too deeply"
    if value is None or isinstance(value, (bool, str, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a finite number"
    if isinstance(value, (list, tuple)):
        for v in value:
            problem = _constant_problem(v, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        try:
            if keras_bridge._inert_marker(value, "constant"):
                return None
        except keras_bridge.UnsafeConfigError as exc:
            return str(exc)
        return f"it is a {str(value.get('class_name', 'object'))[:40]} (only numbers, lists and slices are kept)"
    return f"it is a {type(value).__name__}"


def _as_json(value: Any) -> Any:
    """A constant as the project file holds it (tuples as lists)."""
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    return value


def _operation_call(entry: dict, where: str) -> tuple[str, dict, list[tuple[int, tuple]]]:
    """A Keras operation node -> (catalog name, node config, [(port, tensor reference)]).

    The node keeps the operation's settings (``axis``...) and every constant argument
    of its call by name (``x2: 3.0`` for ``x + 3.0``); tensors become edges into the
    port of their argument. Refused by name: an operation outside the catalog, keyword
    arguments, and constants that are not plain data."""
    cname, module = str(entry.get("class_name")), entry.get("module")
    config = entry.get("config") or {}
    lname = config.get("name") or entry.get("name") or "?"
    inbound = entry.get("inbound_nodes") or []
    call = inbound[0] if inbound and isinstance(inbound[0], dict) else {}
    args = call.get("args") or []
    kwargs = call.get("kwargs") or {}
    op = f"operation '{lname}' ({module}.{cname}){_ref_text(_tensor_refs(args) + _tensor_refs(kwargs))}"
    name = catalog.OPS_BY_KERAS.get((module, cname))
    if name is None:
        known = ", ".join(sorted(catalog.spec(n).keras_name for n in catalog.op_names()))
        raise ImportRefused(f"{where}: {op} is a Keras operation that Layer Studio does not keep (it keeps {known}); "
                            "write it as a layer, or leave it out")
    if kwargs:
        raise ImportRefused(f"{where}: {op} is called with keyword arguments ({', '.join(sorted(map(str, kwargs)))}), "
                            "which Keras's own functions never pass; refused rather than changed")
    spec = catalog.spec(name)
    params = spec.op.call
    if not isinstance(args, (list, tuple)) or len(args) != len(params):
        raise ImportRefused(f"{where}: {op} takes {len(params)} argument(s) "
                            f"({', '.join(p.name for p in params)}) but is called with {len(args)}")
    settings = set(keras_bridge.op_settings(name))
    extra = sorted(k for k in config if k != "name" and k not in settings)
    if extra:
        raise ImportRefused(f"{where}: {op} has settings ({', '.join(extra)}) that Layer Studio does not know")
    try:
        keras_bridge.check_config_safe(config, f"operation '{lname}'")
    except keras_bridge.UnsafeConfigError as exc:
        raise ImportRefused(f"{where}: {exc}") from None
    node_config = _strip_name(config)
    edges: list[tuple[int, tuple]] = []
    port = 0
    for p, value in zip(params, args):
        if p.kind == "tensors":
            refs = value if isinstance(value, (list, tuple)) and value and all(_is_tensor_ref(v) for v in value) else None
            if refs is None:
                raise ImportRefused(f"{where}: {op}: argument '{p.name}' should be a list of tensors")
            for v in refs:
                edges.append((port, _tensor_refs(v)[0]))
                port += 1
            continue
        if _is_tensor_ref(value) and p.kind in ("tensor", "operand"):
            edges.append((port, _tensor_refs(value)[0]))
        elif p.kind == "tensor":
            raise ImportRefused(f"{where}: {op}: argument '{p.name}' is {value!r:.40}, not a tensor")
        else:
            if _tensor_refs(value):
                raise ImportRefused(f"{where}: {op}: argument '{p.name}' mixes tensors into a constant "
                                    "(a tensor index), which a node cannot keep")
            problem = _constant_problem(value)
            if problem or (p.kind == "operand" and value is None):
                raise ImportRefused(f"{where}: {op} takes the constant {p.name}={value!r:.60} that Layer Studio "
                                    f"cannot keep exactly ({problem or 'None is not a value'}); refused rather "
                                    "than imported without it")
            if p.name in node_config:
                raise ImportRefused(f"{where}: {op}: argument '{p.name}' clashes with a setting of the same name")
            node_config[p.name] = _as_json(value)
        if p.kind != "constant":
            port += 1
    return name, node_config, edges


def _call_defaults(class_name: str) -> dict[str, Any]:
    """The defaults of a layer's ``call`` keyword arguments (what Keras passes when none is given)."""
    import inspect
    try:
        sig = inspect.signature(catalog.keras_class(class_name).call)
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in sig.parameters.values() if p.default is not inspect.Parameter.empty}


def _layer_call(entry: dict, where: str, call: dict | None = None) -> tuple[dict, list[tuple[int, tuple]]]:
    """A layer's call -> (its call fields for the node config, [(port, tensor reference)]).

    Positional tensors feed the layer's own input ports (MultiHeadAttention's
    ``query``/``value``/``key`` by keyword too). Other keyword arguments are kept: a
    tensor (``attention_mask=m``, ``mask=m``, a list such as ``initial_state=[h, c]``)
    feeds a port numbered after the layer's inputs, a constant (``training=False``,
    ``use_causal_mask=True``) is held in the node. A constant equal to the call's own
    default is what Keras passes anyway, so it is left out."""
    cname = entry["class_name"]
    lname = entry["config"]["name"]
    spec = catalog.spec(cname)
    if call is None:  # its first call (a shared layer's others are its uses')
        call = (entry.get("inbound_nodes") or [{}])[0]
    args = call.get("args") or []
    constants = _constants(args)
    if constants:
        raise ImportRefused(f"{where}: layer '{lname}' is called with a constant argument "
                            f"({', '.join(repr(c) for c in constants)[:80]}) that a graph node cannot carry")
    refs = _tensor_refs(args)
    kwargs = dict(call.get("kwargs") or {})
    positional_names = {p.name: k for k, p in enumerate(spec.ports)}
    positional: dict[int, tuple] = {}
    fields: dict[str, dict] = {}
    defaults = None
    next_port = spec.max_inputs if spec.max_inputs is not None else None
    for key, value in kwargs.items():
        if key in positional_names and _is_tensor_ref(value):
            positional[positional_names[key]] = _tensor_refs(value)[0]
            continue
        tensors = _tensor_refs(value)
        if tensors:
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            if not all(v is None or _is_tensor_ref(v) for v in items) or not _call_name(key):
                raise ImportRefused(f"{where}: layer '{lname}' is called with {key}={value!r:.60}, which mixes "
                                    "tensors and constants in a way a node cannot keep")
            if next_port is None:
                raise ImportRefused(f"{where}: layer '{lname}' ({cname}) takes any number of inputs and is also "
                                    f"given the tensor argument '{key}', which a node cannot keep")
            ports = []
            for v in items:
                if v is None:
                    ports.append(None)
                    continue
                ports.append(next_port)
                positional[next_port] = _tensor_refs(v)[0]
                next_port += 1
            fields.setdefault(catalog.CALL_PORTS, {})[key] = ports if isinstance(value, (list, tuple)) else ports[0]
            continue
        if defaults is None:
            defaults = _call_defaults(cname)
        if key in defaults and defaults[key] == value and type(defaults[key]) is type(value):
            continue   # what Keras passes when the argument is not given (mask=None, training=False...)
        problem = _constant_problem(value) or (None if _call_name(key) else "it is not a plain name")
        if problem:
            raise ImportRefused(f"{where}: layer '{lname}' is called with {key}={value!r:.60}, which a node "
                                f"cannot keep exactly ({problem})")
        fields.setdefault(catalog.CALL_KWARGS, {})[key] = _as_json(value)
    edges = list(enumerate(refs))
    taken = len(refs)
    for port in sorted(positional):
        if port < (spec.max_inputs or 0) and port < taken:
            raise ImportRefused(f"{where}: layer '{lname}' is given input '{spec.port_name(port)}' twice")
        edges.append((port, positional[port]))
    try:
        catalog.check_call_fields(cname, fields)
    except ValueError as exc:
        raise ImportRefused(f"{where}: layer '{lname}': {exc}") from None
    return fields, edges


def _call_name(key: Any) -> bool:
    import keyword
    return isinstance(key, str) and key.isascii() and key.isidentifier() and not keyword.iskeyword(key)


def _is_operation(entry: dict) -> bool:
    module = entry.get("module")
    return isinstance(module, str) and module.startswith("keras.src.ops")


_NESTED_MODULES = {"Sequential": ("keras", "keras.models", "keras.src.models.sequential"),
                   "Functional": ("keras", "keras.models", "keras.src.models.functional"),
                   "Model": ("keras", "keras.models", "keras.src.models.model")}


def _check_nested_model(entry: dict, cname: str, lname: str, module: Any, where: str, depth: int) -> None:
    """A model nested inside the model becomes a block: Keras's own Sequential or functional
    Model only (a subclassed model runs its own code), its layers checked like any others."""
    from studio.engine.blocks import MAX_DEPTH
    if module not in _NESTED_MODULES[cname] or entry.get("registered_name") not in (None, cname):
        raise ImportRefused(f"{where}: nested model '{lname}' is a '{module}.{cname}', not Keras's own "
                            f"{cname}; a subclassed model runs its own code and is refused")
    if depth >= MAX_DEPTH:
        raise ImportRefused(f"{where}: models are nested more than {MAX_DEPTH} deep")
    inner_entries = check_model_config({"class_name": "Sequential" if cname == "Sequential" else "Functional",
                                        "config": entry.get("config")}, f"{where} › {lname}")
    check_layer_entries(inner_entries, f"{where} › {lname}", depth + 1)


def check_layer_entries(entries: list[dict], where: str, depth: int = 0) -> None:
    """Refuse unknown, code-running, nested or shared layers, naming them.

    Keras 3 writes Python arithmetic on tensors (``x + 3.0``) and ``keras.ops``
    calls into a functional model as operation nodes (module ``keras.src.ops...``).
    Those in the catalog's Operations become operation nodes with their constants;
    any other operation is refused by name, never imported without it.
    """
    for entry in entries:
        cname = entry.get("class_name")
        lname = (entry.get("config") or {}).get("name") or entry.get("name") or "?"
        module = entry.get("module")
        if cname in _MODEL_CLASSES:
            _check_nested_model(entry, cname, lname, module, where, depth)
            continue
        inbound = entry.get("inbound_nodes") or []
        if _is_operation(entry):
            if len(inbound) > 1:
                raise ImportRefused(f"{where}: operation '{lname}' is called at {len(inbound)} places; an operation "
                                    "used at several places is refused (write each call as its own operation)")
            _operation_call(entry, where)
            continue
        if cname in catalog.APPLICATION_LAYERS:
            if module != catalog.APPLICATION_LAYERS[cname] or entry.get("registered_name") not in (None, cname):
                raise ImportRefused(f"{where}: layer '{lname}' is a '{module}.{cname}', not Keras's own {cname} "
                                    f"from {catalog.APPLICATION_LAYERS[cname]}; refused (it could run any code)")
        elif isinstance(module, str) and module not in ("keras.layers", "keras", "keras.models") \
                and cname in catalog.SPECS:
            raise ImportRefused(f"{where}: layer '{lname}' is of type '{cname}' from module '{module}', which is "
                                "not the built-in Keras layer of that name in the catalog")
        if cname not in catalog.SPECS or catalog.is_op(cname) or cname == "Block":
            raise ImportRefused(f"{where}: layer '{lname}' is of type '{cname}', which is not a built-in "
                                "Keras layer in the catalog (Lambda and custom layers run code and are refused)")
        if cname in catalog.WRAPPABLE:
            inner = (entry.get("config") or {}).get("layer") or {}
            if not isinstance(inner, dict) or inner.get("class_name") not in catalog.wrappable(cname):
                raise ImportRefused(f"{where}: layer '{lname}' wraps a '{inner.get('class_name')}', which "
                                    f"{cname} cannot hold in Layer Studio")
        try:
            keras_bridge.check_config_safe(entry.get("config"), f"layer '{lname}'")
        except keras_bridge.UnsafeConfigError as exc:
            raise ImportRefused(f"{where}: {exc}") from None
        if any(k in (entry.get("config") or {}) for k in catalog.CALL_KEYS):
            raise ImportRefused(f"{where}: layer '{lname}' has a setting named {catalog.CALL_KEYS}, which "
                                "Layer Studio keeps for call arguments")
        first = None
        for call in inbound:
            if isinstance(call, dict):
                fields, _edges = _layer_call(entry, where, call)
                if fields and len(inbound) > 1:
                    raise ImportRefused(f"{where}: layer '{lname}' is used at {len(inbound)} places and called "
                                        "with extra arguments, which a shared layer's uses cannot keep yet")
                first = fields


def _strip_name(config: dict) -> dict:
    config = dict(config)
    config.pop("name", None)
    return config


def graph_from_model(model) -> tuple[ModelGraph, Weights]:
    """Translate an in-memory Functional or Sequential model."""
    import keras

    cls_name = type(model).__name__
    if isinstance(model, keras.Sequential):
        graph = _from_sequential(model)
    elif cls_name == "Functional" or type(model) is keras.Model:
        graph = _from_functional_config(model.get_config(), f"model '{model.name}'")
    else:
        raise ImportRefused(f"model '{model.name}' is a subclassed model ({cls_name}); only Functional and "
                            "Sequential models describe a graph that can be imported")
    for layer in model.layers:
        if isinstance(layer, keras.Model) and type(layer) not in (keras.Sequential, keras.Model) \
                and type(layer).__name__ != "Functional":
            raise ImportRefused(f"model '{model.name}': layer '{layer.name}' is a subclassed model "
                                f"({type(layer).__name__}) nested inside the model; it runs its own code")
    weights = model_weights(model)
    layered_layout(graph)
    return graph, weights


def _check_io_lists(config: dict, where: str) -> None:
    """Refuse a model whose inputs or outputs are a dict (one sentence instead of a KeyError)."""
    for key, what in (("input_layers", "inputs"), ("output_layers", "outputs")):
        value = config.get(key)
        if isinstance(value, dict):
            raise ImportRefused(f"{where}: the model's {what} are a dict ({', '.join(map(repr, value))[:80]}); "
                                f"Layer Studio models take their {what} as one tensor or a list — "
                                "rebuild the model with a list")
        if value is not None and not isinstance(value, (list, tuple)):
            raise ImportRefused(f"{where}: the model's {what} are not a list of layers")


def _node_for_entry(graph: ModelGraph, entry: dict, where: str, depth: int):
    """The graph node for one layer entry of a Keras model config: a block for a nested model."""
    lname = entry["config"]["name"]
    if entry["class_name"] in _MODEL_CLASSES:
        from studio.engine.blocks import BLOCK, config_from_keras
        return graph.add_node(BLOCK, config_from_keras(entry, where, depth + 1), name=lname)
    return graph.add_node(entry["class_name"], _strip_name(entry["config"]), name=lname)


def _from_functional_config(config: dict, where: str, depth: int = 0) -> ModelGraph:
    _check_io_lists(config, where)
    entries = config.get("layers") or []
    check_layer_entries(entries, where, depth)
    graph = ModelGraph(model_name(config.get("name")))
    input_names = [ref[0] for ref in _io_refs(config.get("input_layers"))]
    ordered = sorted(entries, key=lambda e: (0, input_names.index(e["config"]["name"]))
                     if e["config"]["name"] in input_names else (1, 0))
    from studio.engine.sharing import SHARES
    calls: dict[tuple[str, int], Any] = {}   # (layer name, call index) -> its node
    wiring: list[tuple[Any, list]] = []       # (node, [(port, tensor reference)])
    for entry in ordered:
        lname = entry["config"]["name"]
        inbound = [c for c in entry.get("inbound_nodes") or [] if isinstance(c, dict)]
        if _is_operation(entry):
            class_name, node_config, edges = _operation_call(entry, where)
            node = graph.add_node(class_name, node_config, name=lname)
            per_call = [edges]
        elif entry["class_name"] in _MODEL_CLASSES:
            node = _node_for_entry(graph, entry, where, depth)
            per_call = [_block_call(call, lname, where) for call in inbound]
        else:
            node_config = _strip_name(entry["config"])
            per_call = []
            for k, call in enumerate(inbound):
                fields, edges = _layer_call(entry, where, call)
                if k == 0:
                    node_config.update(fields)
                per_call.append(edges)
            node = graph.add_node(entry["class_name"], node_config, name=lname)
        calls[(lname, 0)] = node
        for k, edges in enumerate(per_call):
            if k:  # the layer called again: a use that shares it (one layer, one set of weights)
                calls[(lname, k)] = graph.add_node(node.class_name, {SHARES: node.id},
                                                   name=graph.unique_name(f"{lname}_call{k + 1}"))
            wiring.append((calls[(lname, k)], edges))
    for node, edges in wiring:
        for port, (src, node_index, tensor_index) in edges:
            if (src, node_index) not in calls:
                raise ImportRefused(f"{where}: layer '{node.name}' takes a tensor from unknown layer '{src}'")
            graph.connect(calls[(src, node_index)].id, node.id, port, tensor_index)
    # Keras numbers a nested functional model's calls from 1 in output_layers (its call 0 is its
    # own construction) but from 0 in the tensors other layers take (keras Functional.get_config)
    functional = {e["config"]["name"] for e in entries if e.get("class_name") in ("Functional", "Model")}
    outputs = [(name, index - 1 if name in functional and index > 0 else index, tensor_index)
               for name, index, tensor_index in _io_refs(config.get("output_layers"))]
    for name, _, tensor_index in outputs:
        if tensor_index != 0:
            raise ImportRefused(f"{where}: model output {tensor_index + 1} of layer '{name}' is not its first "
                                "output; only first outputs can be model outputs")
    missing = [name for name, index, _ in outputs if (name, index) not in calls]
    if missing:
        raise ImportRefused(f"{where}: the model's output names unknown layer '{missing[0]}'")
    graph.set_outputs([calls[(name, index)].id for name, index, _ in outputs])
    return graph


def _block_call(call: dict, lname: str, where: str) -> list[tuple[int, tuple]]:
    """A nested model's call -> [(port, tensor reference)]: its inputs, in order (a list
    for several); the training flag and an empty mask Keras records are what it passes anyway."""
    kwargs = {k: v for k, v in (call.get("kwargs") or {}).items()
              if not (k == "training" and v in (None, True, False) or k == "mask" and v is None)}
    if kwargs:
        raise ImportRefused(f"{where}: nested model '{lname}' is called with extra arguments "
                            f"({', '.join(sorted(map(str, kwargs)))}), which a block cannot keep")
    args = call.get("args") or []
    if _constants(args):
        raise ImportRefused(f"{where}: nested model '{lname}' is called with a constant argument, "
                            "which a block cannot keep")
    return list(enumerate(_tensor_refs(args)))


def _io_refs(value) -> list[tuple[str, int, int]]:
    if not value:
        return []
    if isinstance(value[0], str):
        return [tuple(value)]
    return [tuple(v) for v in value]


def _from_sequential(model) -> ModelGraph:
    config = model.get_config()
    entries = config.get("layers") or []
    check_layer_entries(entries, f"model '{model.name}'")
    graph = ModelGraph(model_name(model.name))
    prev = None
    if not entries or entries[0]["class_name"] != "InputLayer":
        try:
            shape = tuple(model.inputs[0].shape)
            dtype = model.inputs[0].dtype
        except Exception:
            raise ImportRefused(f"Sequential model '{model.name}' has no input shape yet; "
                                "build it or start it with keras.Input") from None
        prev = graph.add_node("InputLayer", {"batch_shape": list(shape), "dtype": str(dtype)},
                              name=graph.unique_name("input_layer"))
    for entry in entries:
        node = _node_for_entry(graph, entry, f"model '{model.name}'", 0)
        if prev is not None:
            graph.connect(prev.id, node.id, 0)
        prev = node
    return graph


def _regular_file(path: Path) -> int:
    """The size of ``path`` if it is a regular file; anything else is refused by name."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImportRefused(f"{path}: no such file") from None
    except OSError as exc:
        raise ImportRefused(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImportRefused(f"{path}: is a folder, not a .keras file")
    if not stat.S_ISREG(st.st_mode):
        raise ImportRefused(f"{path}: is not a regular file (a device, FIFO or socket); give a .keras file")
    return st.st_size


def check_archive(zf: zipfile.ZipFile, path: Path) -> None:
    """Refuse an archive whose declared sizes are over the limits or out of proportion to what it stores."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ImportRefused(f"{path}: holds {len(infos):,} files, more than a .keras file has")
    seen: set[str] = set()
    for info in infos:   # two members of one name: this reader and Keras's could each take a different one
        if info.filename in seen:
            raise ImportRefused(f"{path}: holds two files named '{info.filename[:80]}', which a .keras file never "
                                "does; refused, as which one is read is not certain")
        seen.add(info.filename)
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise ImportRefused(f"{path}: its member '{info.filename[:80]}' is encrypted, which a .keras file never "
                                "is; refused without reading it")
        total += info.file_size
        if info.filename == "config.json" and info.file_size > MAX_CONFIG_BYTES:
            raise ImportRefused(f"{path}: config.json inflates to {_size_text(info.file_size)}, more than the "
                                f"{_size_text(MAX_CONFIG_BYTES)} a model description may take")
        if info.file_size > SMALL_BYTES and info.file_size > MAX_EXPANSION * max(info.compress_size, 1):
            raise ImportRefused(f"{path}: {info.filename} inflates from {_size_text(info.compress_size)} to "
                                f"{_size_text(info.file_size)}; a file that expands this much is refused as a "
                                "decompression bomb")
    if total > MAX_ARCHIVE_BYTES:
        raise ImportRefused(f"{path}: its contents inflate to {_size_text(total)}, more than the limit of "
                            f"{_size_text(MAX_ARCHIVE_BYTES)} (set LAYER_STUDIO_MAX_DATA_BYTES to change it)")


def check_weights_h5(fileobj, stored_bytes: int, where: str) -> int:
    """Refuse HDF5 weights whose declared arrays are too large, not numeric, or stored in other files.

    Only metadata is read: the declared shape and type of every dataset, and
    every link. Returns the declared bytes of all arrays.
    """
    import h5py

    total = [0]
    problems: list[str] = []

    def check_link(name, link):
        if isinstance(link, h5py.ExternalLink):
            problems.append(f"entry '{name}' links to another file ({link.filename})")

    def check(name, obj):
        if problems or not isinstance(obj, h5py.Dataset):
            return
        if obj.is_virtual or obj.external:
            problems.append(f"weight '{name}' reads its data from other files")
            return
        if obj.dtype.kind not in "fiub":
            problems.append(f"weight '{name}' is not numeric ({obj.dtype})")
            return
        shape = obj.shape or ()
        declared = math.prod(shape) * obj.dtype.itemsize
        total[0] += declared
        if declared > MAX_ARCHIVE_BYTES or total[0] > MAX_ARCHIVE_BYTES:
            problems.append(f"weight '{name}' declares shape {tuple(shape)} ({_size_text(declared)}), more than "
                            f"the limit of {_size_text(MAX_ARCHIVE_BYTES)}")
        elif declared > SMALL_BYTES and declared > MAX_EXPANSION * max(stored_bytes, 1):
            problems.append(f"weight '{name}' declares shape {tuple(shape)} ({_size_text(declared)}) in a file of "
                            f"{_size_text(stored_bytes)}")

    try:
        with h5py.File(fileobj, "r") as f:
            if hasattr(f, "visititems_links"):
                f.visititems_links(check_link)
            if not problems:
                f.visititems(check)
    except ImportRefused:
        raise
    except Exception as exc:
        raise ImportRefused(f"{where}: the weights are not a readable HDF5 file ({exc})") from None
    if problems:
        raise ImportRefused(f"{where}: {problems[0]}; refused before reading")
    return total[0]


def read_keras_config(path: str | Path) -> dict:
    """The model config inside a ``.keras`` file, read without loading Keras objects.

    Checks the archive's declared sizes and the weights' declared shapes first.
    """
    path = Path(path)
    _regular_file(path)
    try:
        with zipfile.ZipFile(path) as zf:
            check_archive(zf, path)
            try:
                info = zf.getinfo("config.json")
            except KeyError:
                raise ImportRefused(f"{path}: not a valid .keras file (it has no config.json)") from None
            with zf.open(info) as f:
                raw = f.read(MAX_CONFIG_BYTES + 1)
            if len(raw) > MAX_CONFIG_BYTES:
                raise ImportRefused(f"{path}: config.json is larger than {_size_text(MAX_CONFIG_BYTES)}")
            names = set(zf.namelist())
            if "model.weights.h5" in names:
                weights = zf.getinfo("model.weights.h5")
                with zf.open(weights) as w:
                    check_weights_h5(w, weights.file_size, f"{path}: model.weights.h5")
        config = json.loads(raw.decode("utf-8"))
    except ImportRefused:
        raise
    except FileNotFoundError:
        raise ImportRefused(f"{path}: no such file") from None
    except RecursionError:
        raise ImportRefused(f"{path}: config.json is nested too deeply") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, json.JSONDecodeError,
            UnicodeDecodeError, EOFError, OSError, ValueError) as exc:
        raise ImportRefused(f"{path}: not a valid .keras file ({exc})") from None
    return config


H5_SUFFIXES = (".h5", ".hdf5")


def model_format(path: Path) -> str:
    """'keras' (a zip archive) or 'h5' (an HDF5 file), told from the content, and only when the name
    makes Keras read the file the same way (it picks its reader by the name): what is checked is
    then exactly what Keras loads. A file that is both, or whose name disagrees, is refused."""
    from studio.engine.filekind import has_hdf5_signature, is_zip
    path = Path(path)
    _regular_file(path)
    h5, zipped = has_hdf5_signature(path), is_zip(path)
    suffix = path.suffix.lower()
    if h5 and zipped:
        raise ImportRefused(f"{path}: is both an HDF5 file and a zip archive, so what Keras would read depends "
                            "only on its name; refused")
    if zipped:
        if suffix != ".keras":
            raise ImportRefused(f"{path}: is a .keras archive (a zip) but its name ends in '{suffix[:20]}'; "
                                "rename it to end in .keras")
        return "keras"
    if h5:
        if suffix not in H5_SUFFIXES:
            raise ImportRefused(f"{path}: is an HDF5 (.h5) model file but its name ends in '{suffix[:20]}'; "
                                "rename it to end in .h5")
        return "h5"
    if suffix in H5_SUFFIXES:
        raise ImportRefused(f"{path}: not a valid .h5 model file (it is not an HDF5 file)")
    return "keras"   # read_keras_config says what is wrong with it


def read_h5_config(path: str | Path) -> dict:
    """The model config of a legacy HDF5 (.h5) model, read without loading Keras objects.

    The whole file's links and declared array sizes are checked first (as for the
    weights inside a .keras file), then its ``model_config`` attribute is parsed.
    """
    import h5py
    path = Path(path)
    size = _regular_file(path)
    with open(path, "rb") as fh:
        check_weights_h5(fh, size, str(path))
    try:
        with h5py.File(path, "r") as f:
            if "model_config" not in f.attrs:
                raise ImportRefused(f"{path}: holds no model (no model_config), so it is a weights file; import "
                                    "the .keras or .h5 file of the whole model")
            attr = f.attrs.get_id("model_config")
            if attr.get_storage_size() > MAX_CONFIG_BYTES:
                raise ImportRefused(f"{path}: its model_config is larger than {_size_text(MAX_CONFIG_BYTES)}")
            raw = f.attrs["model_config"]
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        if not isinstance(raw, str):
            raise ImportRefused(f"{path}: its model_config is not text")
        return json.loads(raw)
    except ImportRefused:
        raise
    except RecursionError:
        raise ImportRefused(f"{path}: model_config is nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - h5py's and json's errors, said in one sentence
        raise ImportRefused(f"{path}: not a valid .h5 model file ({' '.join(str(exc).split())[:200]})") from None


def check_model_config(config: Any, where: str) -> list[dict]:
    """The layer entries of a model config, after checking its structure; refuses anything malformed."""
    if not isinstance(config, dict):
        raise ImportRefused(f"{where}: config.json holds a {type(config).__name__}, not a model description")
    top = config.get("class_name")
    if top not in ("Functional", "Sequential", "Model"):
        raise ImportRefused(f"{where}: the file holds a {top!r:.60} object, not a Functional or Sequential model")
    inner = config.get("config")
    if not isinstance(inner, dict):
        raise ImportRefused(f"{where}: the model's config is not an object")
    entries = inner.get("layers")
    if not isinstance(entries, list) or not entries:
        raise ImportRefused(f"{where}: the model's config has no list of layers")
    for k, entry in enumerate(entries):
        if (not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str)
                or not isinstance(entry.get("config"), dict) or not isinstance(entry["config"].get("name"), str)):
            raise ImportRefused(f"{where}: layer {k + 1} of the model's config is not a layer description "
                                f"(class_name, config with a name): {entry!r:.60}")
        inbound = entry.get("inbound_nodes", [])
        if not isinstance(inbound, list) or not all(isinstance(c, dict) for c in inbound):
            raise ImportRefused(f"{where}: layer '{entry['config']['name']}' has malformed inbound_nodes")
    return entries


def declared_parameters(config: dict) -> int | None:
    """The parameter count a model config declares, found without creating a weight (None if unknown).

    The layers are shape-checked with shape-only weights, so a config that
    declares a 10 GB Dense layer costs microseconds here instead of 10 GB in
    Keras.
    """
    from studio.engine.shapes import ShapeChecker

    inner = config.get("config") or {}
    try:
        if config.get("class_name") == "Sequential":
            entries = list(inner.get("layers") or [])
            graph = ModelGraph(model_name(inner.get("name")))
            prev = None
            if entries and entries[0].get("class_name") != "InputLayer":
                shape = inner.get("build_input_shape")
                if not isinstance(shape, list):
                    return None
                prev = graph.add_node("InputLayer", {"batch_shape": shape}, name=graph.unique_name("input_layer"))
            for entry in entries:
                node = _node_for_entry(graph, entry, "model", 0)
                if prev is not None:
                    graph.connect(prev.id, node.id, 0)
                prev = node
        else:
            graph = _from_functional_config(inner, "model")
        checker = ShapeChecker(graph)
        checker.refresh()
        return checker.total_params()
    except Exception:  # noqa: BLE001 - an estimate only; Keras reports what is wrong
        return None


def graph_from_keras_file(path: str | Path) -> tuple[ModelGraph, Weights]:
    """Import a ``.keras`` (or legacy ``.h5``) file, refusing it by layer name before any code could run."""
    from studio.engine.quiet import library_output
    with library_output():   # TensorFlow's start-up log lines
        import keras

    path = Path(path)
    config = read_h5_config(path) if model_format(path) == "h5" else read_keras_config(path)
    entries = check_model_config(config, str(path))
    check_layer_entries(entries, str(path))
    params = declared_parameters(config)
    if params is not None and params * 4 > MAX_ARCHIVE_BYTES:
        raise ImportRefused(f"{path}: the model declares {params:,} parameters ({_size_text(params * 4)} as "
                            f"float32), more than the limit of {_size_text(MAX_ARCHIVE_BYTES)}; refused before "
                            "building it")
    stored = _regular_file(path)
    if params is not None and params * 4 > SMALL_BYTES and params * 4 > MAX_EXPANSION * max(stored, 1):
        raise ImportRefused(f"{path}: the model declares {params:,} parameters ({_size_text(params * 4)} as "
                            f"float32) in a file of only {_size_text(stored)}, far more than it could hold; "
                            "refused before building it")
    try:
        with library_output():   # zipfile's and Keras's warnings are not the person's concern
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except MemoryError:
        raise ImportRefused(f"{path}: not enough memory to load the model") from None
    except Exception as exc:
        text = " ".join(str(exc).split())[:300]
        raise ImportRefused(f"{path}: Keras could not load the model: {text}") from None
    try:
        return graph_from_model(model)
    except ImportRefused:
        raise
    except (GraphError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise ImportRefused(f"{path}: the model cannot be turned into a graph ({' '.join(str(exc).split())[:200]})"
                            ) from None
