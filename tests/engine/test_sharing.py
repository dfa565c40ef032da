"""Shared layers and blocks (a siamese encoder): one layer called at several places,
one set of weights; import, check, compile, export, save and code generation are exact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from studio.engine import sharing
from studio.engine.codegen import generate, normalize_config
from studio.engine.compiler import compile_graph
from studio.engine.graph import ModelGraph
from studio.engine.importer import graph_from_keras_file, graph_from_model
from studio.engine.project import Project, load_project
from studio.engine.shapes import ShapeChecker


def _siamese(block: bool):
    import keras
    from keras import layers

    if block:
        i = keras.Input((6,), name="enc_in")
        encoder = keras.Model(i, layers.Dense(4, activation="tanh", name="enc_dense")(i), name="encoder")
    else:
        encoder = layers.Dense(4, activation="tanh", name="encoder")
    a, b = keras.Input((6,), name="left"), keras.Input((6,), name="right")
    ea, eb = encoder(a), encoder(b)
    distance = layers.Subtract(name="difference")([ea, eb])
    out = layers.Dense(1, activation="sigmoid", name="same")(distance)
    return keras.Model([a, b], out, name="siamese")


def _config_tree(model):
    return normalize_config(json.loads(json.dumps(model.get_config())))


def _pair(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random((4, 6), dtype=np.float32), rng.random((4, 6), dtype=np.float32)]


@pytest.mark.parametrize("block", [False, True], ids=["shared_layer", "shared_block"])
def test_a_siamese_model_round_trips_exactly(block, tmp_path):
    import keras
    original = _siamese(block)
    graph, weights = graph_from_model(original)
    uses = sharing.uses_index(graph)
    assert len(uses) == 1
    owner = graph.nodes[next(iter(uses))]
    assert owner.name == "encoder" and len(uses[owner.id]) == 1
    checker = ShapeChecker(graph)
    checker.refresh()
    assert not checker.errors(), checker.errors()
    assert checker.total_params() == original.count_params()  # the shared weights count once

    rebuilt = compile_graph(graph, weights)
    assert _config_tree(rebuilt) == _config_tree(original)
    x = _pair()
    expected = original.predict(x, verbose=0)
    assert np.abs(rebuilt.predict(x, verbose=0) - expected).max() <= 1e-6

    path = tmp_path / "siamese.keras"
    rebuilt.save(path)
    again, again_weights = graph_from_keras_file(path)
    assert [(n.name, n.class_name, json.loads(json.dumps(n.config))) for n in again.nodes.values()] == \
        [(n.name, n.class_name, json.loads(json.dumps(n.config))) for n in graph.nodes.values()]
    assert np.abs(keras.saving.load_model(path).predict(x, verbose=0) - expected).max() <= 1e-6

    project_path = tmp_path / "siamese.studio"
    Project(graph=graph, weights=weights).save(project_path)
    loaded = load_project(project_path)
    assert np.abs(compile_graph(loaded.graph, loaded.weights).predict(x, verbose=0) - expected).max() <= 1e-6

    namespace: dict = {}
    code = generate(graph)
    assert "encoder_layer = " in code and "= encoder_layer(left)" in code and "= encoder_layer(right)" in code
    exec(compile(code, "<siamese>", "exec"), namespace)  # noqa: S102 - our own output
    assert _config_tree(namespace["build_model"]()) == _config_tree(original)


def test_editing_the_shared_layer_edits_every_use_and_a_copy_is_independent():
    g = ModelGraph("twice")
    a = g.add_node("InputLayer", {"shape": [5]}, name="a")
    b = g.add_node("InputLayer", {"shape": [5]}, name="b")
    enc = g.add_node("Dense", {"units": 3}, name="enc")
    g.connect(a.id, enc.id)
    use_id = sharing.add_use(g, enc.id)
    g.connect(b.id, use_id)
    join = g.add_node("Concatenate", {}, name="join")
    g.connect(enc.id, join.id, 0)
    g.connect(use_id, join.id, 1)
    checker = ShapeChecker(g)
    checker.refresh()
    assert not checker.errors()
    assert checker.states[use_id].outputs == [(None, 3)] and checker.states[use_id].params == 0
    g.set_param(enc.id, "units", 7)
    checker.refresh()
    assert checker.states[use_id].outputs == [(None, 7)] and checker.states[join.id].outputs == [(None, 14)]
    assert compile_graph(g).count_params() == 5 * 7 + 7

    sharing.make_independent(g, use_id)
    checker.refresh()
    assert checker.states[use_id].params == 5 * 7 + 7
    assert compile_graph(g).count_params() == 2 * (5 * 7 + 7)


def test_a_use_whose_layer_is_gone_is_an_error_with_a_fix():
    g = ModelGraph("gone")
    a = g.add_node("InputLayer", {"shape": [5]}, name="a")
    enc = g.add_node("Dense", {"units": 3}, name="enc")
    use = g.add_node("Dense", {"shares": "n999"}, name="use")
    g.connect(a.id, enc.id)
    g.connect(enc.id, use.id)
    checker = ShapeChecker(g)
    checker.refresh()
    assert "no longer in the model" in checker.states[use.id].error
    wrong = g.add_node("Conv2D", {"shares": enc.id}, name="wrong")
    g.connect(enc.id, wrong.id)
    checker.refresh()
    assert "shares the weights of 'enc', a Dense" in checker.states[wrong.id].error
    assert checker.states[wrong.id].fix.action == "unshare"


def test_code_leaves_out_a_layer_wired_to_nothing():
    g = ModelGraph("stray")
    a = g.add_node("InputLayer", {"shape": [5]}, name="a")
    d = g.add_node("Dense", {"units": 3}, name="d")
    g.connect(a.id, d.id)
    sharing.add_use(g, d.id)  # not connected yet
    g.add_node("Dense", {"units": 2}, name="lonely")
    code = generate(g)
    assert "lonely" not in code and "d_shared" not in code and "name='d'" in code


def test_the_summary_counts_a_shared_layers_weights_once_and_its_work_at_every_use():
    from studio.engine.summary import summarize_layers
    graph, _ = graph_from_model(_siamese(block=False))
    checker = ShapeChecker(graph)
    checker.refresh()
    rows = {r.name: r for r in summarize_layers(graph, checker.states)}
    assert rows["encoder"].trainable == 6 * 4 + 4 and rows["encoder_call2"].trainable == 0
    assert rows["encoder_call2"].macs == rows["encoder"].macs > 0


def test_a_chain_that_calls_a_layer_twice_becomes_a_functional_block_and_a_sequential_one_is_refused():
    """Found by the random nested graphs: Keras's Sequential calls each layer once, so a block
    whose chain uses a layer again is functional; a file that says sequential is refused by name."""
    from studio.engine import blocks
    g = ModelGraph("again")
    x = g.add_node("InputLayer", {"shape": [4]}, name="x")
    d = g.add_node("Dense", {"units": 4, "activation": "relu"}, name="d")
    g.connect(x.id, d.id)
    use_id = sharing.add_use(g, d.id)
    g.connect(d.id, use_id)
    block_id = blocks.make_block(g, [d.id, use_id], name="twice")
    assert g.nodes[block_id].config["kind"] == "functional"
    checker = ShapeChecker(g)
    checker.refresh()
    assert not checker.errors() and checker.states[block_id].params == 4 * 4 + 4
    model = compile_graph(g)
    sample = np.ones((2, 4), np.float32)
    layer = model.get_layer("twice").get_layer("d")
    np.testing.assert_allclose(model.predict(sample, verbose=0), layer(layer(sample)).numpy(), atol=1e-6)

    g.set_config(block_id, {**g.nodes[block_id].config, "kind": "sequential"})
    checker.refresh()
    error = checker.states[block_id].error
    assert "sequential block cannot call a layer twice" in error and "uses a layer again" in error
