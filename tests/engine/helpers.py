"""Small graph builders shared by the engine tests."""

from studio.engine.graph import ModelGraph


def chain(graph: ModelGraph, *specs):
    """Add nodes given as (class_name, config) and connect them in a line."""
    nodes = []
    for class_name, config in specs:
        node = graph.add_node(class_name, config)
        if nodes:
            graph.connect(nodes[-1].id, node.id, 0)
        nodes.append(node)
    return nodes


def mnist_convnet() -> ModelGraph:
    g = ModelGraph("mnist_convnet")
    chain(g,
          ("InputLayer", {"shape": [28, 28, 1]}),
          ("Conv2D", {"filters": 32, "kernel_size": [3, 3], "activation": "relu"}),
          ("MaxPooling2D", {"pool_size": [2, 2]}),
          ("Conv2D", {"filters": 64, "kernel_size": [3, 3], "activation": "relu"}),
          ("MaxPooling2D", {"pool_size": [2, 2]}),
          ("Conv2D", {"filters": 128, "kernel_size": [3, 3], "activation": "relu"}),
          ("Flatten", {}),
          ("Dense", {"units": 10, "activation": "softmax"}))
    return g


def normalize(value):
    """Configs compare equal whether they hold tuples or lists."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if k != "registered_name"}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    return value


def connectivity(model):
    """Layer name -> the (source layer, output index) of each of its inputs, in order."""
    out = {}
    for layer in model.layers:
        nodes = [n for n in layer._inbound_nodes if n.operation is layer]
        if not nodes or not nodes[0].input_tensors:
            out[layer.name] = []
            continue
        out[layer.name] = [(t._keras_history.operation.name, t._keras_history.tensor_index)
                           for t in nodes[0].input_tensors]
    return out


def assert_same_model(original, rebuilt, sample=None, atol=1e-5):
    """Same layer classes, configs, connectivity, parameter count and predictions."""
    import numpy as np

    a = {l.name: l for l in original.layers}
    b = {l.name: l for l in rebuilt.layers}
    a = {k: v for k, v in a.items() if type(v).__name__ != "InputLayer"}
    b = {k: v for k, v in b.items() if type(v).__name__ != "InputLayer"}
    assert sorted(a) == sorted(b)
    for name in a:
        assert type(a[name]) is type(b[name]), name
        assert normalize(a[name].get_config()) == normalize(b[name].get_config()), name
    ca, cb = connectivity(original), connectivity(rebuilt)
    for name in a:
        assert ca[name] == cb[name] or not ca[name], (name, ca[name], cb[name])
    assert original.count_params() == rebuilt.count_params()
    if sample is not None:
        pa = original.predict(sample, verbose=0)
        pb = rebuilt.predict(sample, verbose=0)
        pa = pa if isinstance(pa, (list, tuple)) else [pa]
        pb = pb if isinstance(pb, (list, tuple)) else [pb]
        assert len(pa) == len(pb)
        for x, y in zip(pa, pb):
            assert np.max(np.abs(np.asarray(x) - np.asarray(y))) <= atol


def sample_slice(n_train: int, n_test: int):
    """The first digits of the bundled sample: a small dataset that trains in seconds."""
    from studio.engine import datasets
    ds = datasets.bundled_sample()
    return datasets.Dataset("small", ds.x_train[:n_train], ds.y_train[:n_train], ds.x_test[:n_test],
                            ds.y_test[:n_test], ds.class_names, "slice")
