"""Blocks: a model inside the model.

A block is one node of the graph (class ``Block``) whose config holds a whole
graph of its own, exactly as Keras nests a ``Sequential`` or a functional
``Model`` inside another model (the book's data-augmentation block, a
pretrained convolutional base)::

    {"kind": "sequential" | "functional",
     "graph": {"nodes": [...], "edges": [...], "outputs": [...]},   # ModelGraph.to_dict() minus its name
     "trainable": true}

The node's name is the nested model's name. The inner graph's Input nodes
are the block's inputs (in their order) and its outputs are the block's
outputs, so a block is checked, compiled, exported and written as code as
the nested Keras model it is: same layers, same configs, same nesting.

Everything here is plain data and Qt-free. A block's config is checked as
strictly as a project: every inner node is a catalog layer (or a block, up to
:data:`MAX_DEPTH` deep) with a config that passes the same allow-lists.
"""

from __future__ import annotations

import copy
from typing import Any

from studio.engine import catalog
from studio.engine.errors import BAD_INPUT, StudioError

BLOCK = "Block"
KINDS = ("sequential", "functional")
MAX_DEPTH = 8
MAX_INNER_NODES = 20_000
MAX_COORDINATE = 2 ** 53  # as the project loader: whole numbers JSON keeps exactly (and no inf or nan)


class BlockError(StudioError, ValueError):
    """A block config that is malformed or unsafe."""

    exit_code = BAD_INPUT


def is_block(class_name: str) -> bool:
    return class_name == BLOCK


def check_block_config(config: Any, where: str, depth: int = 0, _count: list[int] | None = None) -> None:
    """Refuse a malformed or unsafe block config, naming where; recursive for nested blocks."""
    from studio.engine.keras_bridge import UnsafeConfigError, check_config_safe

    count = _count if _count is not None else [0]
    if isinstance(config, dict) and set(config) == {"shares"} and isinstance(config["shares"], str):
        return  # a block used again: it has no inside of its own (see sharing.py)
    if depth > MAX_DEPTH:
        raise BlockError(f"{where}: blocks are nested more than {MAX_DEPTH} deep")
    if not isinstance(config, dict):
        raise BlockError(f"{where} should be an object")
    extra = set(config) - {"kind", "graph", "trainable"}
    if extra:
        raise BlockError(f"{where} has unexpected fields {', '.join(sorted(map(str, extra)))}")
    if config.get("kind") not in KINDS:
        raise BlockError(f"{where}.kind should be 'sequential' or 'functional' (got {config.get('kind')!r:.40})")
    if not isinstance(config.get("trainable", True), bool):
        raise BlockError(f"{where}.trainable should be true or false")
    graph = config.get("graph")
    if not isinstance(graph, dict):
        raise BlockError(f"{where}.graph should be an object")
    nodes, edges, outputs = graph.get("nodes"), graph.get("edges", []), graph.get("outputs", [])
    if not isinstance(nodes, list) or not nodes:
        raise BlockError(f"{where}.graph.nodes should be a list of layers")
    ids, names = set(), set()
    for k, node in enumerate(nodes):
        here = f"{where} layer {k + 1}"
        if not (isinstance(node, dict) and isinstance(node.get("id"), str) and isinstance(node.get("name"), str)
                and isinstance(node.get("class_name"), str) and isinstance(node.get("config"), dict)):
            raise BlockError(f"{here} should have an id, a class_name, a name and a config")
        count[0] += 1
        if count[0] > MAX_INNER_NODES:
            raise BlockError(f"{where} holds more than {MAX_INNER_NODES:,} layers")
        if node["id"] in ids or node["name"] in names:
            raise BlockError(f"{here} repeats the id or name '{node['name']}'")
        ids.add(node["id"])
        names.add(node["name"])
        cname = node["class_name"]
        if cname not in catalog.SPECS:
            raise BlockError(f"{here}: {catalog.UnknownLayerError(cname)}")
        pos = node.get("position", [0, 0])
        if not (isinstance(pos, list) and len(pos) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                        and -MAX_COORDINATE <= v <= MAX_COORDINATE for v in pos)):
            raise BlockError(f"{here} position should be two finite numbers [x, y] within ±{MAX_COORDINATE:,}")
        if is_block(cname):
            check_block_config(node["config"], f"{where} › {node['name']}", depth + 1, count)
        else:
            try:
                check_config_safe(node["config"], f"{where} › layer '{node['name']}' config")
            except UnsafeConfigError as exc:
                raise BlockError(str(exc)) from None
    if not isinstance(edges, list):
        raise BlockError(f"{where}.graph.edges should be a list")
    for k, edge in enumerate(edges):
        if not (isinstance(edge, list) and len(edge) == 4 and edge[0] in ids and edge[2] in ids
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10_000
                        for v in (edge[1], edge[3]))):
            raise BlockError(f"{where} connection {k + 1} should be [source id, port, target id, port] "
                             "between its own layers")
    if not isinstance(outputs, list) or not all(o in ids for o in outputs):
        raise BlockError(f"{where}.graph.outputs should list the ids of its output layers")


def inner_graph(config: dict[str, Any], name: str = "block"):
    """The block's inside as a ModelGraph (a copy: editing it changes nothing here)."""
    from studio.engine.graph import ModelGraph

    data = copy.deepcopy(config["graph"])
    data["name"] = name
    return ModelGraph.from_dict(data)


def block_config(graph, kind: str = "functional", trainable: bool = True) -> dict[str, Any]:
    """A block config holding ``graph`` (a ModelGraph)."""
    if kind not in KINDS:
        raise BlockError(f"a block's kind is 'sequential' or 'functional', not {kind!r}")
    data = graph.to_dict()
    data.pop("name", None)
    return {"kind": kind, "graph": data, "trainable": bool(trainable)}


def layer_count(config: dict[str, Any]) -> int:
    """Layers inside (nested blocks counted by their own layers; Inputs not counted)."""
    total = 0
    for node in (config.get("graph") or {}).get("nodes") or []:
        cname = node.get("class_name")
        if is_block(cname):
            total += layer_count(node.get("config") or {})
        elif cname != "InputLayer":
            total += 1
    return total


def input_count(config: dict[str, Any]) -> int:
    return sum(1 for n in (config.get("graph") or {}).get("nodes") or [] if n.get("class_name") == "InputLayer")


def sequential_order(graph) -> list[str]:
    """A sequential block's layers in call order; raises BlockError if the inside is not one chain."""
    inputs = graph.input_nodes()
    if len(inputs) != 1:
        raise BlockError(f"a sequential block has one Input; this one has {len(inputs)}")
    again = next((n for n in graph.nodes.values() if "shares" in n.config), None)
    if again is not None:  # Keras's Sequential calls each of its layers once
        raise BlockError(f"a sequential block cannot call a layer twice ('{again.name}' uses a layer "
                         "again); a functional block can")
    order = [inputs[0].id]
    while True:
        nxt = graph.successors(order[-1])
        if not nxt:
            break
        if len(nxt) != 1 or len(graph.inputs_of(next(iter(nxt)))) != 1:
            raise BlockError("the inside of a sequential block must be a single chain of layers")
        order.append(next(iter(nxt)))
    if len(order) != len(graph.nodes):
        raise BlockError("the inside of a sequential block has layers outside its chain")
    return order


def build_block(name: str, config: dict[str, Any]):
    """The nested Keras model a block describes (fresh weights), named ``name``."""
    import keras

    from studio.engine import keras_bridge
    from studio.engine.compiler import compile_graph

    graph = inner_graph(config, name)
    if config["kind"] == "sequential":
        order = sequential_order(graph)
        layers = []
        for node_id in order:
            node = graph.nodes[node_id]
            if node.spec.is_input:
                layers.append(keras_bridge.make_layer("InputLayer", node.name, node.config))
            else:
                layers.append(keras_bridge.make_layer(node.class_name, node.name, node.config))
        model = keras.Sequential(layers, name=name)
    else:
        model = compile_graph(graph, name=name)
    if not config.get("trainable", True):
        model.trainable = False
    return model


def call_block(model, inputs: list):
    """Call a nested model on its input tensors (one tensor, or a list for several inputs)."""
    return model(inputs[0] if len(inputs) == 1 else list(inputs))


# -- import -------------------------------------------------------------------

def config_from_keras(entry: dict[str, Any], where: str, depth: int = 0) -> dict[str, Any]:
    """A block config from a nested model's entry in a Keras model config (already checked)."""
    from studio.engine.graph import ModelGraph
    from studio.engine.importer import ImportRefused, _from_functional_config, _strip_name

    if depth > MAX_DEPTH:
        raise ImportRefused(f"{where}: models are nested more than {MAX_DEPTH} deep")
    cname = entry.get("class_name")
    inner = entry.get("config") or {}
    name = inner.get("name") or "block"
    trainable = inner.get("trainable", True)
    if not isinstance(trainable, bool):
        raise ImportRefused(f"{where}: nested model '{name}' has a trainable flag that is not true or false")
    if cname == "Sequential":
        layers = inner.get("layers") or []
        graph = ModelGraph(name)
        prev = None
        if not layers or layers[0].get("class_name") != "InputLayer":
            shape = inner.get("build_input_shape") or (entry.get("build_config") or {}).get("input_shape")
            if not isinstance(shape, list):
                raise ImportRefused(f"{where}: nested Sequential '{name}' has no input shape; "
                                    "build it (call it once, or start it with keras.Input) before saving")
            prev = graph.add_node("InputLayer", {"batch_shape": list(shape)}, name=graph.unique_name("input_layer"))
        for layer in layers:
            lname = layer["config"]["name"]
            if layer.get("class_name") in ("Sequential", "Functional", "Model"):
                node = graph.add_node(BLOCK, config_from_keras(layer, f"{where} › {name}", depth + 1), name=lname)
            else:
                node = graph.add_node(layer["class_name"], _strip_name(layer["config"]), name=lname)
            if prev is not None:
                graph.connect(prev.id, node.id, 0)
            prev = node
        kind = "sequential"
    else:
        graph = _from_functional_config(inner, f"{where} › {name}", depth + 1)
        kind = "functional"
    from studio.engine.layout import layered_layout
    layered_layout(graph)  # the inside is laid out for when it is opened
    return block_config(graph, kind, trainable)


# -- freezing -----------------------------------------------------------------

def with_trainable(config: dict[str, Any], trainable: bool) -> dict[str, Any]:
    """The block config with the block and every layer inside it (nested blocks too) made
    trainable or frozen, as setting ``model.trainable`` does in Keras."""
    out = copy.deepcopy(config)
    out["trainable"] = bool(trainable)
    for node in out["graph"]["nodes"]:
        if is_block(node["class_name"]):
            if "shares" not in node["config"]:
                node["config"] = with_trainable(node["config"], trainable)
        elif _has_switch(node):
            node["config"]["trainable"] = bool(trainable)
    return out


def _has_switch(node: dict) -> bool:
    """Whether an inner node has a trainable switch of its own (not an Input, an operation or
    a shared layer's use, which trains with its layer)."""
    return (node["class_name"] != "InputLayer" and not catalog.is_op(node["class_name"])
            and "shares" not in node["config"])


def freeze_up_to(config: dict[str, Any], node_id: str) -> dict[str, Any]:
    """The book's fine-tuning step: every layer inside the block up to and including
    ``node_id`` (in the order the block computes them) frozen, every later one trainable;
    the block itself trainable, so that its unfrozen top trains."""
    graph = inner_graph(config)
    if node_id not in graph.nodes:
        raise BlockError(f"the block has no layer with id '{node_id}'")
    out = copy.deepcopy(config)
    out["trainable"] = True
    nodes = {n["id"]: n for n in out["graph"]["nodes"]}
    frozen = True
    for inner_id in graph.topological_order():
        node = nodes[inner_id]
        if is_block(node["class_name"]):
            if "shares" not in node["config"]:
                node["config"] = with_trainable(node["config"], not frozen)
        elif _has_switch(node):
            node["config"]["trainable"] = not frozen
        if inner_id == node_id:
            frozen = False
    return out


def frozen_layers(config: dict[str, Any], prefix: str = "") -> list[str]:
    """Names ('block › layer') of the frozen layers with weights-to-be inside a block."""
    out = []
    for node in (config.get("graph") or {}).get("nodes") or []:
        name = f"{prefix}{node['name']}"
        if is_block(node["class_name"]):
            out += frozen_layers(node["config"], f"{name} › ")
        elif _has_switch(node) and node["config"].get("trainable", True) is False:
            out.append(name)
    return out


# -- making and dissolving blocks (engine operations; undo replays them) ----------

def make_block(graph, node_ids, name: str | None = None) -> str:
    """Replace the chosen layers by one block holding them; returns the block's node id.

    The wires that cross the selection's boundary become the block's inputs (one
    per distinct tensor coming in, in the order of the layers that take them)
    and outputs (one per distinct tensor going out, and per model output inside).
    The inside is a sequential block when it is one chain, else a functional one.
    """
    from studio.engine.graph import GraphError, ModelGraph
    from studio.engine.shapes import ShapeChecker

    chosen = [i for i in graph.topological_order() if i in set(node_ids)]
    if not chosen:
        raise GraphError("select the layers to put in a block")
    if any(graph.nodes[i].spec.is_input for i in chosen):
        raise GraphError("a block cannot take the model's Inputs; select the layers after them")
    inside = set(chosen)
    checker = ShapeChecker(graph)
    checker.refresh()
    sources: list[tuple[str, int]] = []          # outer tensors coming in, in order of use
    for node_id in chosen:
        for port, (src, src_port) in sorted(graph.inputs_of(node_id).items()):
            if src not in inside and (src, src_port) not in sources:
                sources.append((src, src_port))
    if not sources:
        raise GraphError("the selection takes no input from the rest of the model")
    results: list[tuple[str, int]] = []          # inner tensors going out
    for node_id in chosen:
        for e in graph.out_edges(node_id):
            if e.dst not in inside and (node_id, e.src_port) not in results:
                results.append((node_id, e.src_port))
        if node_id in graph.model_outputs() and (node_id, 0) not in results:
            results.append((node_id, 0))
    if not results:
        raise GraphError("nothing outside the selection uses its result")
    if any(port != 0 for _, port in results):
        raise GraphError("a block's outputs are its layers' first outputs; leave that layer out of the block")
    inner = ModelGraph("inner")
    for k, (src, src_port) in enumerate(sources):
        state = checker.states.get(src)
        if state is None or state.error is not None or not state.outputs or src_port >= len(state.outputs):
            raise GraphError(f"'{graph.nodes[src].name}' has no known output shape yet; fix it before making a block")
        x, y = graph.nodes[chosen[0]].position
        inner.add_node("InputLayer", {"batch_shape": list(state.outputs[src_port]), "dtype": state.dtypes[src_port]},
                       name=inner.unique_name(f"{graph.nodes[src].name}_in"), position=(x + 220 * k, y - 100),
                       node_id=f"in{k + 1}")
    for node_id in chosen:
        node = graph.nodes[node_id]
        inner.add_node(node.class_name, node.config, name=node.name, position=node.position, node_id=node_id)
    for node_id in chosen:
        for port, (src, src_port) in sorted(graph.inputs_of(node_id).items()):
            if src in inside:
                inner.connect(src, node_id, port, src_port)
            else:
                inner.connect(f"in{sources.index((src, src_port)) + 1}", node_id, port, 0)
    inner.set_outputs([i for i, _ in results])
    try:
        sequential_order(inner)
        kind = "sequential" if len(results) == 1 else "functional"
    except BlockError:
        kind = "functional"
    consumers = [(e, results.index((e.src, e.src_port))) for node_id in chosen for e in graph.out_edges(node_id)
                 if e.dst not in inside]
    outputs = list(graph.output_ids)
    xs = [graph.nodes[i].position[0] for i in chosen]
    ys = [graph.nodes[i].position[1] for i in chosen]
    for node_id in chosen:
        graph.remove_node(node_id)
    block_name = graph.unique_name(name or "block")
    block = graph.add_node(BLOCK, block_config(inner, kind), name=block_name,
                           position=(sum(xs) / len(xs), sum(ys) / len(ys)))
    for k, (src, src_port) in enumerate(sources):
        graph.connect(src, block.id, k, src_port)
    for e, k in consumers:
        graph.connect(block.id, e.dst, e.dst_port, k)
    if outputs:
        replaced = []
        for o in outputs:
            new = block.id if o in inside else o
            if new not in replaced:
                replaced.append(new)
        graph.set_outputs(replaced)
    return block.id


def dissolve_block(graph, block_id: str) -> list[str]:
    """Put a block's layers back into the model in its place; returns their new node ids."""
    from studio.engine.graph import GraphError

    block = graph.node(block_id)
    if not is_block(block.class_name):
        raise GraphError(f"'{block.name}' is not a block")
    inner = inner_graph(block.config, block.name)
    in_ports = [n.id for n in inner.input_nodes()]
    sources = graph.inputs_of(block_id)
    consumers = graph.out_edges(block_id)
    inner_outputs = inner.model_outputs()
    was_output = block_id in graph.output_ids
    outputs = list(graph.output_ids)
    bx, by = block.position
    cx = sum(n.position[0] for n in inner.nodes.values()) / len(inner.nodes)
    cy = sum(n.position[1] for n in inner.nodes.values()) / len(inner.nodes)
    graph.remove_node(block_id)
    new_ids: dict[str, str] = {}
    for node in inner.nodes.values():
        if node.spec.is_input:
            continue
        name = node.name if graph.node_by_name(node.name) is None else graph.unique_name(node.name)
        new = graph.add_node(node.class_name, node.config, name=name,
                             position=(bx + node.position[0] - cx, by + node.position[1] - cy))
        new_ids[node.id] = new.id
    for e in inner.edges:
        if e.src in new_ids:
            graph.connect(new_ids[e.src], new_ids[e.dst], e.dst_port, e.src_port)
        else:
            k = in_ports.index(e.src)
            if k in sources:
                src, src_port = sources[k]
                graph.connect(src, new_ids[e.dst], e.dst_port, src_port)
    for e in consumers:
        graph.connect(new_ids[inner_outputs[e.src_port]], e.dst, e.dst_port, 0)
    if was_output:
        replaced = []
        for o in outputs:
            for new in ([new_ids[i] for i in inner_outputs] if o == block_id else [o]):
                if new not in replaced:
                    replaced.append(new)
        graph.set_outputs(replaced)
    return list(new_ids.values())


def without_positions(config: dict[str, Any]) -> dict[str, Any]:
    """The block config without where its layers sit on the canvas (which computes nothing):
    the check cache's key, so that moving a layer inside a large block does not re-check it."""
    graph = dict(config.get("graph") or {})
    graph["nodes"] = [{k: (without_positions(v) if k == "config" and is_block(n.get("class_name")) else v)
                       for k, v in n.items() if k != "position"} for n in graph.get("nodes") or []]
    return {**config, "graph": graph}
