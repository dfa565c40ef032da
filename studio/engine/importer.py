"""``keras.Model`` or ``.keras`` file -> ModelGraph (+ weights), laid out.

Only catalog layers are accepted. A ``.keras`` file's ``config.json`` is read
and checked before Keras loads anything, so a file holding a Lambda or a
custom layer is refused by name and none of its code runs. Shared layers
(one layer called at several places) and models nested inside models are
refused with their names rather than silently flattened or duplicated.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from studio.engine import catalog, keras_bridge
from studio.engine.compiler import Weights, model_weights
from studio.engine.graph import ModelGraph
from studio.engine.layout import layered_layout


class ImportRefused(ValueError):
    """The model cannot be represented faithfully as a Layer Studio graph."""


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


def check_layer_entries(entries: list[dict], where: str) -> None:
    """Refuse unknown, code-running, nested or shared layers, naming them."""
    for entry in entries:
        cname = entry.get("class_name")
        lname = (entry.get("config") or {}).get("name") or entry.get("name") or "?"
        if cname in _MODEL_CLASSES:
            raise ImportRefused(f"{where}: layer '{lname}' is a whole model nested inside the model; "
                                "nested models are not supported — flatten it into one functional model first")
        if cname not in catalog.SPECS:
            raise ImportRefused(f"{where}: layer '{lname}' is of type '{cname}', which is not a built-in "
                                "Keras layer in the catalog (Lambda and custom layers run code and are refused)")
        if cname in catalog.WRAPPABLE:
            inner = (entry.get("config") or {}).get("layer") or {}
            if inner.get("class_name") not in catalog.wrappable(cname):
                raise ImportRefused(f"{where}: layer '{lname}' wraps a '{inner.get('class_name')}', which "
                                    f"{cname} cannot hold in Layer Studio")
        try:
            keras_bridge.check_config_safe(entry.get("config"), f"layer '{lname}'")
        except keras_bridge.UnsafeConfigError as exc:
            raise ImportRefused(f"{where}: {exc}") from None
        inbound = entry.get("inbound_nodes") or []
        if len(inbound) > 1:
            raise ImportRefused(f"{where}: layer '{lname}' is called at {len(inbound)} places (shared weights); "
                                "shared layers are not supported — give each call its own layer")


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
        if isinstance(layer, keras.Model):
            raise ImportRefused(f"model '{model.name}': layer '{layer.name}' is a model nested inside the model; "
                                "nested models are not supported")
    weights = model_weights(model)
    layered_layout(graph)
    return graph, weights


def _from_functional_config(config: dict, where: str) -> ModelGraph:
    entries = config.get("layers") or []
    check_layer_entries(entries, where)
    graph = ModelGraph(config.get("name") or "model")
    by_name = {}
    input_names = [ref[0] for ref in _io_refs(config.get("input_layers"))]
    ordered = sorted(entries, key=lambda e: (0, input_names.index(e["config"]["name"]))
                     if e["config"]["name"] in input_names else (1, 0))
    for entry in ordered:
        lname = entry["config"]["name"]
        node = graph.add_node(entry["class_name"], _strip_name(entry["config"]), name=lname)
        by_name[lname] = node
    for entry in entries:
        lname = entry["config"]["name"]
        inbound = entry.get("inbound_nodes") or []
        if not inbound:
            continue
        call = inbound[0]
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
        for port, (src, _node_index, tensor_index) in enumerate(refs):
            if src not in by_name:
                raise ImportRefused(f"{where}: layer '{lname}' takes a tensor from unknown layer '{src}'")
            graph.connect(by_name[src].id, by_name[lname].id, port, tensor_index)
    outputs = _io_refs(config.get("output_layers"))
    for name, _, tensor_index in outputs:
        if tensor_index != 0:
            raise ImportRefused(f"{where}: model output {tensor_index + 1} of layer '{name}' is not its first "
                                "output; only first outputs can be model outputs")
    graph.set_outputs([by_name[name].id for name, _, _ in outputs])
    return graph


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
    graph = ModelGraph(model.name)
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
        node = graph.add_node(entry["class_name"], _strip_name(entry["config"]),
                              name=entry["config"]["name"])
        if prev is not None:
            graph.connect(prev.id, node.id, 0)
        prev = node
    return graph


def read_keras_config(path: str | Path) -> dict:
    """The model config inside a ``.keras`` file, read without loading Keras objects."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            with zf.open("config.json") as f:
                return json.load(f)
    except FileNotFoundError:
        raise ImportRefused(f"{path}: no such file") from None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportRefused(f"{path}: not a valid .keras file ({exc})") from None


def graph_from_keras_file(path: str | Path) -> tuple[ModelGraph, Weights]:
    """Import a ``.keras`` file, refusing it by layer name before any code could run."""
    import keras

    path = Path(path)
    config = read_keras_config(path)
    top = config.get("class_name")
    if top not in ("Functional", "Sequential", "Model"):
        raise ImportRefused(f"{path}: the file holds a '{top}' object, not a Functional or Sequential model")
    inner = config.get("config") or {}
    entries = inner.get("layers") or []
    check_layer_entries(entries, str(path))
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        raise ImportRefused(f"{path}: Keras could not load the model: {exc}") from None
    return graph_from_model(model)
