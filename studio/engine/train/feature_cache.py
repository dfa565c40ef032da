"""Fast feature extraction ("Deep Learning with Python", DL4J's frozen-layer cache).

When every layer up to some cut is frozen and computes the same thing in
training as in inference, its outputs do not change from epoch to epoch: the
trainer computes them once for the training and validation data and trains
only the rest of the model (the head) on them. The head is the same layers as
the full model (Keras's functional API reuses layer objects), so what it learns
is in the full model when training ends: full(x) == head(frozen(x)).

What keeps a layer out of the frozen part (each is a one-line reason):
- it has trainable weights (its ``trainable`` switch is on);
- it is random in training: dropout of any kind, noise, ``Random*``
  augmentation, recurrent or attention dropout;
- a BatchNormalization that is not frozen (in training it normalizes with the
  batch's statistics and updates its moving ones; a frozen one runs in
  inference mode, as Keras does);
- it adds a loss of its own (an activity regularizer) or keeps state between
  batches (a stateful RNN).
Layers without weights (pooling, reshaping, activations) join the frozen part
when everything before them is in it, so the cut falls as late as it can.

Pure Python (no Qt, no Keras import at module level).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.engine.graph import ModelGraph, Node
from studio.engine.sharing import owner_id

# layers that are random in training whatever their settings (augmentation)
_RANDOM_ALWAYS = {"RandAugment", "AugMix", "MixUp", "CutMix", "Solarization"}
# layers that are random in training when their rate is above zero: class -> setting
_RANDOM_RATE = {"Dropout": "rate", "SpatialDropout1D": "rate", "SpatialDropout2D": "rate",
                "SpatialDropout3D": "rate", "AlphaDropout": "rate", "GaussianDropout": "rate",
                "GaussianNoise": "stddev"}
_DROPOUT_SETTINGS = ("dropout", "recurrent_dropout")
_WRAPPED = ("layer", "backward_layer")


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def random_in_training(class_name: str, config: dict) -> str | None:
    """Why a layer with this class and config is random in training (None if it is not)."""
    if class_name in _RANDOM_ALWAYS or (class_name.startswith("Random") and class_name != "RandomState"):
        return "is random in training"
    key = _RANDOM_RATE.get(class_name)
    if key is not None:
        return f"is random in training ({key} {config.get(key)})" if _positive(config.get(key, 0.5)) else None
    for key in _DROPOUT_SETTINGS:
        if _positive(config.get(key)):
            return f"is random in training ({key} {config[key]})"
    for key in _WRAPPED:
        inner = config.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
            why = random_in_training(str(inner.get("class_name", "")), inner["config"])
            if why is not None:
                return why
    return None


def _inside_reason(config: dict, frozen_around: bool) -> str | None:
    """Why a block's inside cannot be computed once: a random layer, a BatchNormalization
    that trains, an activity regularizer, a stateful layer (None if it can)."""
    frozen = frozen_around or config.get("trainable", True) is False
    for inner in (config.get("graph") or {}).get("nodes") or []:
        cname, cfg = inner.get("class_name"), inner.get("config") or {}
        if cname == "Block":
            why = _inside_reason(cfg, frozen)
        else:
            why = random_in_training(cname, cfg)
            if why is None and cname == "BatchNormalization" and not frozen and cfg.get("trainable", True) is not False:
                why = "is a BatchNormalization that is not frozen (in training it uses each batch's statistics)"
            if why is None and (cname == "ActivityRegularization" or cfg.get("activity_regularizer")):
                why = "adds an activity-regularization loss in training"
            if why is None and cfg.get("stateful") is True:
                why = "is stateful (it carries its state from batch to batch)"
        if why is not None:
            return why if cname == "Block" else f"holds '{inner.get('name')}', which {why}"
    return None


def _own_reason(node: Node, counts: dict[str, tuple[int, int]]) -> str | None:
    """Why this node itself cannot be in the frozen part (None if it can)."""
    config = node.config
    if node.class_name == "Block":  # a model inside the model: what is inside decides
        why = _inside_reason(config, False)
        if why is not None:
            return why
        return "is trainable" if counts.get(node.id, (0, 0))[1] else None
    why = random_in_training(node.class_name, config)
    if why is not None:
        return why
    if node.class_name == "BatchNormalization" and config.get("trainable", True) is not False:
        return "is a BatchNormalization that is not frozen (in training it uses each batch's statistics)"
    if counts.get(node.id, (0, 0))[1]:
        return "is trainable"
    if node.class_name == "ActivityRegularization" or config.get("activity_regularizer"):
        return "adds an activity-regularization loss in training"
    if config.get("stateful") is True:
        return "is stateful (it carries its state from batch to batch)"
    return None


@dataclass
class CutPlan:
    """Where the frozen part ends, or why there is no usable one."""

    available: bool
    reason: str = ""                     # why not (one sentence), when not available
    node_id: str | None = None           # the node the reason is about
    frozen_part: list[str] = field(default_factory=list)   # node ids computed once (inputs included)
    cut: list[tuple[str, int]] = field(default_factory=list)   # (node id, output port) whose outputs are cached
    frozen_params: int = 0               # weights in the frozen part
    frozen_layers: int = 0               # layers with weights in the frozen part
    cut_names: list[str] = field(default_factory=list)
    note: str = ""                       # what stopped the frozen part early, when something did

    def describe(self) -> str:
        if not self.available:
            return self.reason
        names = ", ".join(f"'{n}'" for n in self.cut_names)
        text = (f"computes the output of {names} once and trains only what follows "
                f"({self.frozen_params:,} frozen weights in {self.frozen_layers:,} layers are skipped every epoch)")
        return text + (f"; {self.note}" if self.note else "")


def frozen_layer_names_in(node: Node) -> list[str]:
    """The frozen layers inside a block node."""
    from studio.engine.blocks import frozen_layers
    return frozen_layers(node.config) if node.class_name == "Block" else []


def frozen_layer_names(graph: ModelGraph) -> list[str]:
    """Names of the model's layers whose ``trainable`` switch is off, in graph order
    (inside a block, 'block › layer' for each frozen layer; a frozen block frees none)."""
    from studio.engine.blocks import frozen_layers, with_trainable
    used = graph.model_node_ids()
    out = []
    for i, n in graph.nodes.items():
        if i not in used or n.spec.is_input or owner_id(n) is not None:
            continue
        if n.class_name == "Block":
            config = with_trainable(n.config, False) if n.config.get("trainable", True) is False else n.config
            out += frozen_layers(config, f"{n.name} › ")
        elif n.config.get("trainable", True) is False:
            out.append(n.name)
    return out


def plan_cut(graph: ModelGraph, counts: dict[str, tuple[int, int]]) -> CutPlan:
    """The largest frozen, deterministic part of the model that starts at its inputs.

    ``counts`` maps node ids to (parameters, trainable parameters), from the shape
    checker or a built model."""
    used = graph.model_node_ids()
    order = [i for i in graph.topological_order() if i in used]
    nodes = graph.nodes
    part: set[str] = set()
    blocked: dict[str, tuple[str, str]] = {}   # node id -> (culprit node id, its reason)
    for node_id in order:
        node = nodes[node_id]
        if node.spec.is_input:
            part.add(node_id)
            continue
        shared = owner_id(node)  # a layer used again computes, and trains, as its owner
        why = _own_reason(nodes[shared] if shared in nodes else node, counts)
        if why is not None:
            blocked[node_id] = (node_id, why)
            continue
        outside = [src for src, _port in graph.inputs_of(node_id).values() if src not in part]
        if outside:
            blocked[node_id] = blocked.get(outside[0], (outside[0], "is not part of the frozen layers"))
        else:
            part.add(node_id)
    weighted = [i for i in order if i in part and not nodes[i].spec.is_input and counts.get(i, (0, 0))[0] > 0]
    frozen_with_weights = [i for i in order if counts.get(i, (0, 0))[0] > 0 and counts.get(i, (0, 0))[1] == 0]
    late = [i for i in frozen_with_weights if i not in part]
    if not weighted:
        partly = next((i for i in order if nodes[i].class_name == "Block" and 0 < counts.get(i, (0, 0))[1]
                       < counts.get(i, (0, 0))[0] and frozen_layer_names_in(nodes[i])), None)
        if not late and partly is not None:
            return CutPlan(False, f"'{nodes[partly].name}' is only partly frozen (its top layers train) and the "
                                  "outputs computed once cannot come from inside a block: freeze the block whole, "
                                  "or dissolve it", partly)
        if not late:
            return CutPlan(False, "nothing is frozen: switch off 'trainable' on the layers to keep as they are "
                                  "(a pretrained base), then their outputs can be computed once")
        first = late[0]
        culprit, why = blocked[first]
        if culprit == first:
            return CutPlan(False, f"'{nodes[first].name}' {why}", first)
        return CutPlan(False, f"'{nodes[culprit].name}' before the frozen '{nodes[first].name}' {why}", culprit)
    for out in graph.model_outputs():
        if out in part:
            return CutPlan(False, f"the output '{nodes[out].name}' comes only from frozen layers: there is nothing "
                                  "after the cut to train", out)
    head_trainable = sum(counts.get(i, (0, 0))[1] for i in order if i not in part)
    if head_trainable == 0:
        return CutPlan(False, "no layer after the frozen part has trainable weights: there is nothing to train")
    cut: list[tuple[str, int]] = []
    for node_id in order:
        if node_id in part:
            continue
        for src, port in graph.inputs_of(node_id).values():
            if src in part and (src, port) not in cut:
                cut.append((src, port))
    cut.sort(key=lambda c: (order.index(c[0]), c[1]))
    note = ""
    if late:
        culprit, why = blocked[late[0]]
        note = (f"'{nodes[late[0]].name}' is frozen but stays in training: "
                + (f"it {why}" if culprit == late[0] else f"'{nodes[culprit].name}' before it {why}"))
    return CutPlan(True, frozen_part=[i for i in order if i in part and not nodes[i].spec.is_input],
                   cut=cut, frozen_params=sum(counts.get(i, (0, 0))[0] for i in weighted), frozen_layers=len(weighted),
                   cut_names=[nodes[i].name for i, _ in cut], note=note)


def counts_from_states(graph: ModelGraph, states) -> dict[str, tuple[int, int]] | None:
    """(parameters, trainable parameters) per model node from the shape checker; None while any is unknown."""
    out = {}
    for node_id in graph.model_node_ids():
        s = states.get(node_id)
        if s is None or s.params is None:
            return None
        out[node_id] = (int(s.params), int(s.trainable_params if s.trainable_params is not None else s.params))
    return out


def counts_from_model(graph: ModelGraph, model) -> dict[str, tuple[int, int]]:
    """(parameters, trainable parameters) per node from a built model, as Keras counts them."""
    import math
    out = {}
    for node_id in graph.model_node_ids():
        node = graph.nodes[node_id]
        try:
            layer = model.get_layer(node.name)
        except ValueError:
            continue
        out[node_id] = (sum(math.prod(w.shape) for w in layer.weights),
                        sum(math.prod(w.shape) for w in layer.trainable_weights))
    return out


def _values(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def describe_cached(info: dict) -> str:
    """One sentence on the cache just computed (or reused)."""
    what = ", ".join(f"'{n}'" for n in info.get("cut", []))
    values = sum(_values(s) for s in info.get("feature_shapes", []))
    if info.get("reused"):
        return f"fast feature extraction: reusing the cached outputs of {what} ({values:,} values a sample)"
    return (f"fast feature extraction: the outputs of {what} ({values:,} values a sample) for "
            f"{info.get('samples', 0):,} samples computed once in {info.get('cache_seconds', 0):.1f} s")


def describe_speedup(info: dict) -> str:
    """The cache and the speed-up in one sentence, for the run log and the Training tab."""
    text = describe_cached(info)
    if "epoch_seconds" in info:
        text += (f"; an epoch took {info['epoch_seconds']:.2f} s instead of about "
                 f"{info['estimated_plain_epoch_seconds']:.1f} s for a plain one (estimated: the caching pass "
                 f"plus this epoch), {info['speedup']:.0f}× faster")
    return text
