"""Two-stage fine-tuning, the recipe of "Deep Learning with Python".

Stage 1 trains the model as the project has it (typically a pretrained base,
frozen, under a new head). Stage 2 unfreezes the top of the base, the layers
from ``fine_tune.unfreeze_from`` onwards, and goes on training with a lower
learning rate:

- ``'conv_base › block5_conv1'`` names a layer inside a block: that layer and
  every later one of the block (in the order the block computes them) train in
  stage 2, the block's earlier layers stay frozen;
- a plain name (``'conv3'``, or a block's name) names a layer of the model:
  that layer and every later one of the model train in stage 2.

BatchNormalization layers that are frozen stay frozen in stage 2 (the book's
advice: in training mode they would renormalize with the small batches'
statistics and undo what the base learned). The plan below is pure data
(a copy of the graph with stage 2's ``trainable`` switches); the trainer
applies it to the built Keras model, which must be recompiled afterwards.

Qt-free, and Keras is not imported here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from studio.engine.blocks import frozen_layers, inner_graph, is_block, with_trainable
from studio.engine.errors import BAD_INPUT, StudioError
from studio.engine.graph import ModelGraph
from studio.engine.sharing import owner_id
from studio.engine.train.settings import FINE_TUNE_SEPARATOR, FineTune

FIELD = "training.fine_tune.unfreeze_from"
BN = "BatchNormalization"


class FineTuneProblem(StudioError, ValueError):
    """The second stage cannot be planned; one sentence, pinned to a node when it can be."""

    exit_code = BAD_INPUT

    def __init__(self, message: str, node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id


@dataclass
class StagePlan:
    """What stage 2 changes: the graph with its ``trainable`` switches, and who starts training."""

    target: str                            # 'block › layer' or 'layer', as the settings name it
    node_id: str                           # the model's node: the block, or the layer itself
    graph: ModelGraph                      # a copy of the model with stage 2's switches
    changed: list[str] = field(default_factory=list)        # ids of the model's nodes whose config changed
    unfrozen: list[str] = field(default_factory=list)       # layers frozen in stage 1 that train in stage 2
    kept_frozen: list[str] = field(default_factory=list)    # frozen BatchNormalization layers left frozen

    def describe(self, learning_rate: float) -> str:
        return f"fine-tuning from {self.target} at lr {learning_rate:g}"

    def batchnorm_note(self) -> str:
        if not self.kept_frozen:
            return ""
        names = ", ".join(f"'{n}'" for n in self.kept_frozen)
        many = len(self.kept_frozen) != 1
        return (f"fine-tuning: the BatchNormalization layer{'s' if many else ''} {names} "
                f"{'stay' if many else 'stays'} frozen (in inference mode), as Deep Learning with Python advises: "
                "training them on small batches would undo what the base learned")


def _effective(config: dict) -> dict:
    """A block config whose inner switches say what Keras does (a frozen block freezes all inside)."""
    return with_trainable(config, False) if config.get("trainable", True) is False else copy.deepcopy(config)


def _unfreeze_node(node: dict, prefix: str, unfrozen: list[str], kept: list[str]) -> None:
    """Make one node dict (of a graph's to_dict) train in stage 2, frozen BatchNormalization excepted."""
    name = f"{prefix}{node['name']}"
    cname, config = node["class_name"], node["config"]
    if cname == "InputLayer" or owner_id(_NodeView(node)) is not None:
        return
    if is_block(cname):
        config = _effective(config)
        config["trainable"] = True
        for inner in config["graph"]["nodes"]:
            _unfreeze_node(inner, f"{name}{FINE_TUNE_SEPARATOR}", unfrozen, kept)
        node["config"] = config
        return
    if config.get("trainable", True) is not False:
        return
    if cname == BN:
        kept.append(name)
        return
    config["trainable"] = True
    unfrozen.append(name)


class _NodeView:
    def __init__(self, node: dict):
        self.config = node.get("config")


def plan(graph: ModelGraph, fine_tune: FineTune) -> StagePlan:
    """Stage 2's switches for ``fine_tune.unfreeze_from``; FineTuneProblem (one sentence) when it
    names nothing usable or there is nothing to unfreeze."""
    parts = fine_tune.path()
    target = FINE_TUNE_SEPARATOR.join(parts)
    if len(parts) > 2 or not all(parts):
        raise FineTuneProblem(f"{FIELD} is '{fine_tune.unfreeze_from}'; name a block's layer as "
                              "'block › layer' (one level deep) or a layer of the model by its name")
    used = graph.model_node_ids()
    node = graph.node_by_name(parts[0])
    if node is None or node.spec.is_input or node.id not in used:
        what = "an Input" if node is not None and node.spec.is_input else (
            "not part of the model" if node is not None else None)
        blocks = [n.name for n in graph.nodes.values() if is_block(n.class_name) and n.id in used]
        hint = (f"; name a layer inside {', '.join(repr(b) for b in blocks[:3])} as 'block › layer'" if blocks
                else "; name a layer of the model")
        raise FineTuneProblem(f"{FIELD} names '{parts[0]}', which is {what or 'not a layer of the model'}{hint}",
                              node.id if node is not None else None)
    if owner_id(node) is not None:
        owner = graph.nodes.get(owner_id(node))
        raise FineTuneProblem(f"{FIELD} names '{node.name}', which shares the weights of "
                              f"'{owner.name if owner else '?'}'; name that one instead", node.id)
    data = graph.to_dict()
    nodes = {n["id"]: n for n in data["nodes"]}
    unfrozen: list[str] = []
    kept: list[str] = []
    changed: list[str] = []
    if len(parts) == 2:
        if not is_block(node.class_name):
            raise FineTuneProblem(f"{FIELD} names '{target}', but '{node.name}' is a {node.class_name}, not a "
                                  "block; name the layer alone", node.id)
        inside = inner_graph(node.config, node.name)
        layer = inside.node_by_name(parts[1])
        if layer is None or layer.spec.is_input:
            names = [n.name for n in (inside.nodes[i] for i in inside.topological_order()) if not n.spec.is_input]
            shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
            what = "is the block's input" if layer is not None else f"is not a layer of block '{node.name}'"
            raise FineTuneProblem(f"{FIELD} names '{target}', but '{parts[1]}' {what}; its layers are {shown}",
                                  node.id)
        config = _effective(node.config)
        config["trainable"] = True
        inner_nodes = {n["id"]: n for n in config["graph"]["nodes"]}
        order = inside.topological_order()
        for inner_id in order[order.index(layer.id):]:
            _unfreeze_node(inner_nodes[inner_id], f"{node.name}{FINE_TUNE_SEPARATOR}", unfrozen, kept)
        nodes[node.id]["config"] = config
        changed.append(node.id)
    else:
        order = [i for i in graph.topological_order() if i in used]
        for node_id in order[order.index(node.id):]:
            before = copy.deepcopy(nodes[node_id]["config"])
            _unfreeze_node(nodes[node_id], "", unfrozen, kept)
            if nodes[node_id]["config"] != before:
                changed.append(node_id)
    if not unfrozen:
        raise FineTuneProblem(f"{FIELD} is '{target}', but nothing from there on is frozen in stage 1 "
                              "(or only BatchNormalization layers, which stay frozen): there is nothing to "
                              "unfreeze; freeze the base, or pick an earlier layer", node.id)
    classes = _classes(graph, node.id if len(parts) == 2 else None)
    if all(_weightless(classes.get(n, "")) for n in unfrozen):
        raise FineTuneProblem(nothing_with_weights(target, unfrozen, kept), node.id)
    return StagePlan(target=target, node_id=node.id, graph=ModelGraph.from_dict(data, owned=True),
                     changed=changed, unfrozen=unfrozen, kept_frozen=kept)


def nothing_with_weights(target: str, unfrozen: list[str], kept: list[str]) -> str:
    names = ", ".join(f"'{n}'" for n in unfrozen[:4])
    kept_text = f"; the BatchNormalization {', '.join(repr(n) for n in kept[:4])} stays frozen" if kept else ""
    return (f"{FIELD} is '{target}', but nothing with weights would train in stage 2 ({names} "
            f"{'has' if len(unfrozen) == 1 else 'have'} no weights{kept_text}); pick an earlier layer")


# layer classes that never hold weights (a layer not listed is taken to have some;
# the trainer checks the built model as well)
_WEIGHTLESS_PREFIXES = ("MaxPooling", "AveragePooling", "GlobalMaxPooling", "GlobalAveragePooling", "Cropping",
                        "ZeroPadding", "UpSampling", "SpatialDropout")
_WEIGHTLESS = {"Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Flatten", "Reshape", "Permute",
               "RepeatVector", "Dropout", "GaussianDropout", "GaussianNoise", "AlphaDropout", "Rescaling", "Add",
               "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
               "ActivityRegularization", "Identity", "Masking"}


def _weightless(class_name: str) -> bool:
    return class_name in _WEIGHTLESS or class_name.startswith(_WEIGHTLESS_PREFIXES)


def _classes(graph: ModelGraph, block_id: str | None) -> dict[str, str]:
    """Display name -> class name for the model's layers (inside blocks too)."""
    out: dict[str, str] = {}

    def walk(nodes, prefix):
        for n in nodes:
            out[f"{prefix}{n['name']}"] = n["class_name"]
            if is_block(n["class_name"]) and isinstance(n.get("config"), dict) and "graph" in n["config"]:
                walk(n["config"]["graph"]["nodes"], f"{prefix}{n['name']}{FINE_TUNE_SEPARATOR}")

    walk(graph.to_dict()["nodes"], "")
    return out


def frozen_in(graph: ModelGraph) -> list[str]:
    """The frozen layers of a graph, as run.json lists them."""
    from studio.engine.train.feature_cache import frozen_layer_names
    return frozen_layer_names(graph)


# -- the built model ----------------------------------------------------------------

def keras_layer(model, name: str):
    """The Keras layer a 'block › layer' (or nested) name points to in a built model."""
    layer = model
    for part in name.split(FINE_TUNE_SEPARATOR):
        layer = layer.get_layer(part)
    return layer


def unfrozen_with_weights(model, stage: StagePlan) -> list[str]:
    """The layers stage 2 unfreezes that have weights to train (in the built model)."""
    return [n for n in stage.unfrozen if keras_layer(model, n).weights]


def apply(model, stage: StagePlan) -> None:
    """Set the built model's ``trainable`` switches to stage 2's (the model must be recompiled after)."""
    for node_id in stage.changed:
        node = stage.graph.nodes[node_id]
        _apply_switches(model.get_layer(node.name), node.class_name, node.config)


def _apply_switches(layer, class_name: str, config: dict) -> None:
    if not is_block(class_name):
        layer.trainable = config.get("trainable", True) is not False
        return
    layer.trainable = config.get("trainable", True) is not False   # Keras sets every layer inside too
    if not layer.trainable:
        return
    for inner in config["graph"]["nodes"]:
        if inner["class_name"] == "InputLayer" or owner_id(_NodeView(inner)) is not None:
            continue
        _apply_switches(layer.get_layer(inner["name"]), inner["class_name"], inner["config"])


# -- for the Training tab ------------------------------------------------------------

def choices(graph: ModelGraph) -> list[str]:
    """The names ``unfreeze_from`` can take, in model order: every layer inside the model's
    blocks ('block › layer'), or, in a model without blocks, its own layers."""
    used = graph.model_node_ids()
    order = [graph.nodes[i] for i in graph.topological_order() if i in used]
    out = []
    for node in order:
        if is_block(node.class_name) and owner_id(node) is None:
            inside = inner_graph(node.config, node.name)
            out += [f"{node.name}{FINE_TUNE_SEPARATOR}{inside.nodes[i].name}" for i in inside.topological_order()
                    if not inside.nodes[i].spec.is_input]
    if not out:
        out = [n.name for n in order if not n.spec.is_input and owner_id(n) is None]
    return out


_WEIGHTED = ("Conv", "Dense", "Embedding", "LSTM", "GRU", "RNN", "Attention")


def suggestion(graph: ModelGraph) -> str | None:
    """A layer to unfreeze from when the person turns fine-tuning on: in the first block that
    has frozen layers, the last layer with weights (not a BatchNormalization)."""
    used = graph.model_node_ids()
    for node_id in graph.topological_order():
        node = graph.nodes[node_id]
        if node_id not in used or not is_block(node.class_name) or owner_id(node) is not None:
            continue
        config = _effective(node.config)
        if not frozen_layers(config):
            continue
        inside = inner_graph(config, node.name)
        for inner_id in reversed(inside.topological_order()):
            inner = inside.nodes[inner_id]
            if any(w in inner.class_name for w in _WEIGHTED) and inner.class_name != BN:
                return f"{node.name}{FINE_TUNE_SEPARATOR}{inner.name}"
    names = choices(graph)
    return names[-1] if names else None
