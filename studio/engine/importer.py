"""``keras.Model`` or ``.keras`` file -> ModelGraph (+ weights), laid out.

Only catalog layers are accepted. A ``.keras`` file's ``config.json`` is read
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
_POSITIONAL_KWARGS = {"query": 0, "value": 1, "key": 2}


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


# Keras operations (``keras.ops``) that are exactly a catalog merge layer when applied to
# two tensors of the same shape with nothing else: ``a + b`` computes what ``Add()([a, b])`` does.
_EXACT_OPS = {"Add", "Subtract", "Multiply", "Maximum", "Minimum"}


def _shape_of(ref: dict) -> Any:
    return normalize_shape((ref.get("config") or {}).get("shape"))


def normalize_shape(shape: Any) -> Any:
    return list(shape) if isinstance(shape, (list, tuple)) else shape


def _check_operation(entry: dict, cname: str, lname: str, where: str) -> None:
    """Refuse a Keras operation node unless it is exactly a catalog merge layer."""
    module = entry.get("module")
    inbound = entry.get("inbound_nodes") or []
    call = inbound[0] if inbound and isinstance(inbound[0], dict) else {}
    args = call.get("args") or []
    kwargs = call.get("kwargs") or {}
    sources = [r[0] for r in _tensor_refs(args)]
    after = f" (applied to the output of {', '.join(repr(n) for n in dict.fromkeys(sources))})" if sources else ""
    op = f"operation '{lname}' ({module}.{cname}){after}"
    if cname not in _EXACT_OPS:
        raise ImportRefused(f"{where}: {op} is a Keras operation that Layer Studio cannot keep yet; "
                            "only layers can be imported (write it as a layer, or leave it out)")
    constants = _constants(args)
    if constants:
        raise ImportRefused(f"{where}: {op} takes a constant ({', '.join(repr(c) for c in constants)[:80]}) "
                            "that Layer Studio cannot keep yet; refused rather than imported without it")
    if kwargs:
        raise ImportRefused(f"{where}: {op} is called with keyword arguments ({', '.join(sorted(map(str, kwargs)))}) "
                            "that Layer Studio cannot keep yet")
    refs = [a for a in args if _is_tensor_ref(a)]
    if len(refs) != 2 or len(args) != 2 or _shape_of(refs[0]) != _shape_of(refs[1]):
        raise ImportRefused(f"{where}: {op} combines tensors of different shapes or not exactly two tensors "
                            f"(broadcasting), which the '{cname}' layer does not do the same way; refused")
    extra = set(entry.get("config") or {}) - {"name"}
    if extra:
        raise ImportRefused(f"{where}: {op} has settings ({', '.join(sorted(extra))}) that Layer Studio "
                            "cannot keep yet")


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
    Only those that are exactly a catalog merge layer are accepted; one with a
    constant or keyword argument is refused by name, never imported without it.
    """
    for entry in entries:
        cname = entry.get("class_name")
        lname = (entry.get("config") or {}).get("name") or entry.get("name") or "?"
        module = entry.get("module")
        if cname in _MODEL_CLASSES:
            _check_nested_model(entry, cname, lname, module, where, depth)
            continue
        if isinstance(module, str) and module.startswith("keras.src.ops"):
            _check_operation(entry, str(cname), lname, where)
        elif cname in catalog.APPLICATION_LAYERS:
            if module != catalog.APPLICATION_LAYERS[cname] or entry.get("registered_name") not in (None, cname):
                raise ImportRefused(f"{where}: layer '{lname}' is a '{module}.{cname}', not Keras's own {cname} "
                                    f"from {catalog.APPLICATION_LAYERS[cname]}; refused (it could run any code)")
        elif isinstance(module, str) and module not in ("keras.layers", "keras", "keras.models") \
                and cname in catalog.SPECS:
            raise ImportRefused(f"{where}: layer '{lname}' is of type '{cname}' from module '{module}', which is "
                                "not the built-in Keras layer of that name in the catalog")
        if cname not in catalog.SPECS:
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
        inbound = entry.get("inbound_nodes") or []
        if inbound and isinstance(inbound[0], dict) and not (isinstance(module, str)
                                                             and module.startswith("keras.src.ops")):
            constants = _constants(inbound[0].get("args") or [])
            if constants:
                raise ImportRefused(f"{where}: layer '{lname}' is called with a constant argument "
                                    f"({', '.join(repr(c) for c in constants)[:80]}) that a graph node cannot carry")


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
    calls: dict[tuple[str, int], Any] = {}  # (layer name, call index) -> its node
    for entry in ordered:
        owner = _node_for_entry(graph, entry, where, depth)
        calls[(owner.name, 0)] = owner
        for k in range(1, len(entry.get("inbound_nodes") or [])):  # a layer called again: a use that shares it
            from studio.engine.sharing import SHARES
            calls[(owner.name, k)] = graph.add_node(owner.class_name, {SHARES: owner.id},
                                                    name=graph.unique_name(f"{owner.name}_call{k + 1}"))
    for entry in entries:
        lname = entry["config"]["name"]
        for k, call in enumerate(entry.get("inbound_nodes") or []):
            _connect_call(graph, calls, entry, lname, k, call, where)
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


def _connect_call(graph: ModelGraph, calls: dict, entry: dict, lname: str, k: int, call: dict, where: str) -> None:
    """Wire one call of a layer (its k-th use) to the tensors it takes."""
    refs = _tensor_refs(call.get("args", []))
    kwargs = dict(call.get("kwargs") or {})
    positional = {}
    for key in list(kwargs):
        if key in _POSITIONAL_KWARGS and _is_tensor_ref(kwargs[key]):
            positional[_POSITIONAL_KWARGS[key]] = _tensor_refs(kwargs.pop(key))[0]
        elif key == "training" and kwargs[key] in (None, True, False):
            # Keras records the training flag of the call context; at run time
            # a functional model passes its own flag to every layer instead.
            kwargs.pop(key)
        elif key == "mask" and kwargs[key] is None:
            kwargs.pop(key)
    if kwargs:
        raise ImportRefused(f"{where}: layer '{lname}' is called with extra arguments "
                            f"({', '.join(sorted(kwargs))}), which a graph node cannot carry")
    for port in sorted(positional):
        refs.insert(port, positional[port]) if port <= len(refs) else refs.append(positional[port])
    for port, (src, node_index, tensor_index) in enumerate(refs):
        if (src, node_index) not in calls:
            raise ImportRefused(f"{where}: layer '{lname}' takes a tensor from unknown layer '{src}'")
        graph.connect(calls[(src, node_index)].id, calls[(lname, k)].id, port, tensor_index)


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
    total = 0
    for info in infos:
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
    """Import a ``.keras`` file, refusing it by layer name before any code could run."""
    import keras

    path = Path(path)
    config = read_keras_config(path)
    entries = check_model_config(config, str(path))
    check_layer_entries(entries, str(path))
    params = declared_parameters(config)
    if params is not None and params * 4 > MAX_ARCHIVE_BYTES:
        raise ImportRefused(f"{path}: the model declares {params:,} parameters ({_size_text(params * 4)} as "
                            f"float32), more than the limit of {_size_text(MAX_ARCHIVE_BYTES)}; refused before "
                            "building it")
    try:
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
