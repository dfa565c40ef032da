"""Does the data fit the model? Checks made before training and after every edit."""

from __future__ import annotations

from studio.engine import datasets as ds_mod
from studio.engine.train.settings import TrainingConfig


def check_fit(graph, dataset: ds_mod.Dataset, preprocess: ds_mod.Preprocess, config: TrainingConfig
              ) -> list[tuple[str | None, str]]:
    """Mismatches between the data and the model, found before training, pinned to nodes."""
    from studio.engine.shapes import ShapeChecker, format_shape

    problems: list[tuple[str | None, str]] = []
    checker = ShapeChecker(graph)
    checker.detach()  # a one-off check: it must not stay subscribed to the graph
    errors = checker.errors()
    if errors:
        return errors
    from studio.engine.resources import resource_problems
    too_big = [(None, p.message) for p in resource_problems(graph, checker.states, config) if p.error]
    if too_big:
        return too_big
    inputs = graph.input_nodes()
    outputs = graph.model_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        return [(None, f"training from one dataset needs a model with one input and one output "
                       f"(this one has {len(inputs)} and {len(outputs)})")]
    want = tuple(preprocess.input_shape(dataset))
    have = checker.states[inputs[0].id].output[1:]
    if tuple(have) != want:
        problems.append((inputs[0].id, f"the input '{inputs[0].name}' expects samples of shape {format_shape(have)} "
                                       f"but the dataset gives {format_shape(want)}; set the input's shape to "
                                       f"{list(want)}"))
    out_node = graph.nodes[outputs[0]]
    out_shape = checker.states[out_node.id].output
    problems += _split_problems(dataset, config)
    if out_shape is not None:
        problems += [(out_node.id, m) for m in loss_problems(out_node.name, tuple(out_shape), dataset, preprocess,
                                                            str(config.loss))]
    return problems


def _split_problems(dataset: ds_mod.Dataset, config: TrainingConfig) -> list[tuple[str | None, str]]:
    """A validation split that leaves no sample on one side (Keras keeps floor(n × (1 − split)) to train)."""
    if config.validation != "split":
        return []
    n = len(dataset.x_train)
    n_train = int(n * (1 - config.validation_split))
    if n_train < 1:
        return [(None, f"training.validation_split {config.validation_split:g} leaves none of the {n:,} training "
                       f"samples to train on; lower it (at most {(n - 1) / n:.3g} here) or use the held-out data")]
    if n_train >= n:
        return [(None, f"training.validation_split {config.validation_split:g} leaves none of the {n:,} training "
                       f"samples for validation; raise it or use the held-out data")]
    return []


_CLASS_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy")


def describe_labels(y) -> str:
    return ("one class number per sample" if y.ndim == 1 else
            f"rows of {y.shape[1]} columns (one-hot or probabilities)")


def loss_problems(out_name: str, out_shape: tuple, dataset: ds_mod.Dataset, preprocess: ds_mod.Preprocess,
                  loss: str) -> list[str]:
    """Does the loss fit the labels (as preprocessed) and the output's shape? Each refusal says what to change."""
    from studio.engine.shapes import format_shape

    classes = dataset.num_classes
    y = preprocess.y(dataset.y_train[:1], classes)
    units = out_shape[-1] if len(out_shape) == 2 else None
    shown = format_shape(out_shape)
    if loss in _CLASS_LOSSES and units != classes:
        return [f"'{out_name}' outputs {shown} but the dataset has {classes} classes; the last layer needs "
                f"{classes} units"]
    if loss == "sparse_categorical_crossentropy" and y.ndim == 2:
        return [f"the labels are one-hot rows ({y.shape[1]} columns) but the loss sparse_categorical_crossentropy "
                "wants class numbers: choose categorical_crossentropy (or integer labels in the preprocessing)"]
    if loss == "categorical_crossentropy" and y.ndim == 1:
        return ["the labels are class numbers but the loss categorical_crossentropy wants one-hot rows: choose "
                "sparse_categorical_crossentropy (or one-hot labels in the preprocessing)"]
    if loss in _CLASS_LOSSES:
        return []
    # element-wise losses (binary cross-entropy, mse, mae, huber): one output per label column
    want = 1 if y.ndim == 1 else y.shape[1]
    if units != want:
        hint = ("choose sparse_categorical_crossentropy" if y.ndim == 1 else "choose categorical_crossentropy")
        return [f"the loss {loss} compares each output with a label of the same position, but '{out_name}' "
                f"outputs {shown} and the labels are {describe_labels(y)}; give the last layer {want} "
                f"unit{'s' if want != 1 else ''} or {hint}"]
    if loss == "binary_crossentropy" and y.ndim == 1 and classes > 2:
        return [f"the loss binary_crossentropy takes labels 0 and 1 but the dataset has {classes} classes; choose "
                "sparse_categorical_crossentropy with one unit per class"]
    return []


def data_problems(graph, states: dict, dataset: ds_mod.Dataset, preprocess: ds_mod.Preprocess,
                  config: TrainingConfig) -> dict:
    """Where the data does not fit the model, by node: {node id: (message, Fix)}.

    Uses shape states already computed (the window's live checker), so it is
    cheap enough to run after every edit.
    """
    from studio.engine.shapes import Fix, format_shape

    out: dict = {}
    if dataset.x_train.ndim == 2:  # rows of numbers: image-only layers do not belong
        for node_id in graph.model_node_ids():
            node = graph.nodes[node_id]
            if node.class_name == "Rescaling":
                out[node_id] = (f"The dataset holds rows of numbers, not images; '{node.name}' rescales as if they "
                                "were pixel values. Remove it unless that is what you want.",
                                Fix(f"Remove '{node.name}'", "bypass", node_id))
    inputs = graph.input_nodes()
    outputs = graph.model_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        return out
    want = list(preprocess.input_shape(dataset))
    state = states.get(inputs[0].id)
    if state is not None and state.output is not None and list(state.output[1:]) != want:
        out[inputs[0].id] = (f"The dataset gives samples of shape {format_shape(tuple(want))}.",
                             Fix(f"Set the input shape to {want}", "set_param", inputs[0].id, param="shape",
                                 value=want))
    node = graph.nodes[outputs[0]]
    state = states.get(node.id)
    classes = dataset.num_classes
    if state is not None and state.output is not None and "categorical" in str(config.loss):
        shape = state.output
        if len(shape) == 2 and shape[-1] != classes:
            fix = None
            if "units" in node.config or node.class_name == "Dense":
                fix = Fix(f"Set units to {classes}", "set_param", node.id, param="units", value=classes)
            out[node.id] = (f"The dataset has {classes} classes but this layer outputs {shape[-1]}.", fix)
    return out
