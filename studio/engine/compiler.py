"""Graph -> ``keras.Model`` through the functional API, exactly as drawn."""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.engine import keras_bridge
from studio.engine.graph import GraphError, ModelGraph
from studio.engine.shapes import _first_sentence


class CompileError(Exception):
    """The graph cannot become a model; ``errors`` lists (node id or None, message)."""

    def __init__(self, errors: list[tuple[str | None, str]]):
        self.errors = errors
        lines = [m for _, m in errors]
        super().__init__(lines[0] if len(lines) == 1 else f"{len(lines)} problems: " + "; ".join(lines))


Weights = dict[str, list[np.ndarray]]


def compile_graph(graph: ModelGraph, weights: Weights | None = None, name: str | None = None,
                  skipped: list[tuple[str, str]] | None = None):
    """Build the functional ``keras.Model`` the graph describes.

    Only the nodes that make up the model are built (layers left dangling are
    not part of it: see ``ModelGraph.stray_nodes``). ``weights`` maps node
    names to the arrays ``layer.set_weights`` takes; nodes without an entry
    keep freshly initialized weights. Weights that no longer fit their layer
    raise CompileError, unless a ``skipped`` list is given: then those layers
    start fresh and (node id, message) is appended for each.
    """
    import keras

    problems = graph.problems()
    if problems:
        raise CompileError([(p.node_id, p.message) for p in problems])
    try:
        order = graph.topological_order()
    except GraphError as exc:
        raise CompileError([(None, str(exc))]) from None
    from studio.engine.sharing import owner_id
    used = graph.model_node_ids()
    _reserve_names(graph.nodes[i].name for i in used)
    tensors: dict[str, list[Any]] = {}
    layers: dict[str, Any] = {}   # node id -> its Keras layer (a shared layer under its owner's id only)

    def layer_of(node_id: str):
        if node_id not in layers:
            owner = graph.nodes[node_id]
            layers[node_id] = keras_bridge.make_layer(owner.class_name, owner.name, owner.config)
        return layers[node_id]

    for node_id in (i for i in order if i in used):
        node = graph.nodes[node_id]
        try:
            shared = owner_id(node)
            layer = layer_of(shared if shared is not None else node_id)  # a use calls its owner's layer again
            if node.spec.is_input:
                tensors[node_id] = [layer.output]
            else:
                ports = graph.inputs_of(node_id)
                values = {k: tensors[src][src_port] for k, (src, src_port) in ports.items()}
                tensors[node_id] = keras.tree.flatten(
                    keras_bridge.call_node(layer, node.class_name, node.config, values))
        except Exception as exc:
            raise CompileError([(node_id, f"'{node.name}' ({node.class_name}): {_first_sentence(exc)}")]) from exc
    inputs = [tensors[n.id][0] for n in graph.input_nodes()]
    outputs = [tensors[i][0] for i in graph.model_outputs()]
    model = keras.Model(inputs=inputs[0] if len(inputs) == 1 else inputs,
                        outputs=outputs[0] if len(outputs) == 1 else outputs,
                        name=name or graph.name)
    if weights:
        set_weights(graph, layers, weights, skipped)
    return model


def _reserve_names(names) -> None:
    """Keep the names Keras gives on its own clear of the graph's: a layer may make an
    operation while it is called (an Embedding's ``mask_zero`` mask is a ``not_equal``
    operation), and one named like a node of the model would make the model refuse to build."""
    import re

    from keras.src.backend.common import global_state

    counters = global_state.get_global_attribute("object_name_uids", None)
    if counters is None:
        import collections
        counters = collections.defaultdict(int)
        global_state.set_global_attribute("object_name_uids", counters)
    for name in names:
        m = re.fullmatch(r"(.+?)(?:_(\d+))?", name)
        base, k = m.group(1), int(m.group(2) or 0)
        if counters[base] <= k:
            counters[base] = k + 1


def set_weights(graph: ModelGraph, layers: dict[str, Any], weights: Weights,
                skipped: list[tuple[str, str]] | None = None) -> None:
    errors = []
    for node_id, layer in layers.items():
        node = graph.nodes[node_id]
        arrays = weights.get(node.name)
        if arrays is None:
            continue
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(np.shape(a)) for a in arrays]
        if expected != got:
            if skipped is not None:
                skipped.append((node_id, f"the saved weights of '{node.name}' do not fit the layer any more "
                                         f"(shapes {got}, the layer needs {expected}); it starts fresh"))
                continue
            errors.append((node_id, f"the saved weights of '{node.name}' have shapes {got} but the layer "
                                    f"now needs {expected}; its settings changed since they were saved"))
            continue
        layer.set_weights(list(arrays))
    if errors:
        raise CompileError(errors)


def model_weights(model) -> Weights:
    """Every layer's weights by layer name (layers without weights omitted)."""
    out: Weights = {}
    for layer in model.layers:
        arrays = layer.get_weights()
        if arrays:
            out[layer.name] = [np.asarray(a) for a in arrays]
    return out

