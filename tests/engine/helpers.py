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
