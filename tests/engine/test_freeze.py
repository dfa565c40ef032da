"""Freezing: ``trainable`` is a parameter of every layer, carried by compile, code
generation and import, and the shape checker counts trainable parameters as
Keras does (``trainable_weights`` / ``non_trainable_weights``)."""

from __future__ import annotations

import math

from studio.engine import catalog
from studio.engine.codegen import generate
from studio.engine.compiler import compile_graph
from studio.engine.graph import ModelGraph
from studio.engine.importer import graph_from_model
from studio.engine.shapes import ShapeChecker


def _count(weights) -> int:
    return sum(math.prod(w.shape) for w in weights)


def _graph(frozen_conv: bool) -> ModelGraph:
    g = ModelGraph("frozen")
    i = g.add_node("InputLayer", {"shape": [8, 8, 3]}, name="x")
    c = g.add_node("Conv2D", {"filters": 4, "kernel_size": [3, 3], "trainable": not frozen_conv}, name="conv")
    b = g.add_node("BatchNormalization", {}, name="bn")
    f = g.add_node("Flatten", {}, name="flat")
    d = g.add_node("Dense", {"units": 2, "trainable": False}, name="head")
    e = g.add_node("Dense", {"units": 2}, name="out")
    for a, z in ((i, c), (c, b), (b, f), (f, d), (d, e)):
        g.connect(a.id, z.id, 0)
    return g


def test_every_layer_but_input_has_a_trainable_switch():
    for name in catalog.layer_names():
        p = catalog.param(name, "trainable")
        if name == "InputLayer":
            assert p is None
        else:
            assert p is not None and p.kind == "bool" and p.default is True, name


def test_trainable_counts_match_keras():
    graph = _graph(frozen_conv=True)
    checker = ShapeChecker(graph)
    checker.refresh()
    model = compile_graph(graph)
    for node in graph.nodes.values():
        if node.spec.is_input:
            continue
        layer = model.get_layer(node.name)
        state = checker.states[node.id]
        assert state.params == layer.count_params(), node.name
        assert state.trainable_params == _count(layer.trainable_weights), node.name
        assert state.params - state.trainable_params == _count(layer.non_trainable_weights), node.name
    assert checker.states[graph.node_by_name("bn").id].trainable_params == 8  # gamma, beta; not the moving stats
    assert checker.total_trainable_params() == _count(model.trainable_weights)
    assert checker.total_params() - checker.total_trainable_params() == _count(model.non_trainable_weights)
    assert not model.get_layer("conv").trainable and not model.get_layer("head").trainable


def test_trainable_survives_codegen_and_import():
    import keras

    graph = _graph(frozen_conv=True)
    code = generate(graph)
    assert code.count("trainable=False") == 2 and "trainable=True" not in code
    namespace: dict = {}
    exec(compile(code, "<frozen>", "exec"), namespace)  # noqa: S102 - our own output
    rebuilt = namespace["build_model"]()
    assert [layer.trainable for layer in rebuilt.layers] == [layer.trainable for layer in compile_graph(graph).layers]

    base = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, name="a"), keras.layers.Dense(2, name="b")])
    base.get_layer("a").trainable = False
    imported, _ = graph_from_model(base)
    assert imported.node_by_name("a").config["trainable"] is False
    assert imported.node_by_name("b").config["trainable"] is True
    assert not compile_graph(imported).get_layer("a").trainable
