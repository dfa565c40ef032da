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
    classes = dataset.num_classes
    loss = str(config.loss)
    if "categorical" in loss and out_shape is not None:
        if len(out_shape) != 2 or out_shape[-1] != classes:
            problems.append((out_node.id, f"'{out_node.name}' outputs {format_shape(out_shape)} but the dataset has "
                                          f"{classes} classes; the last layer needs {classes} units"))
    if loss == "sparse_categorical_crossentropy" and preprocess.labels == "onehot":
        problems.append((out_node.id, "the labels are one-hot but the loss is sparse_categorical_crossentropy; "
                                      "use categorical_crossentropy or integer labels"))
    if loss == "categorical_crossentropy" and preprocess.labels == "integer":
        problems.append((out_node.id, "the labels are integers but the loss is categorical_crossentropy; "
                                      "use sparse_categorical_crossentropy or one-hot labels"))
    return problems


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
