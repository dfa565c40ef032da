"""Blocks: models nested inside the model import, check, compile, export, save and
generate code exactly, with the nesting kept (the book's augmentation block and
its frozen convolutional base)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from studio.engine import blocks
from studio.engine.codegen import generate, normalize_config
from studio.engine.compiler import compile_graph
from studio.engine.graph import ModelGraph
from studio.engine.importer import ImportRefused, graph_from_keras_file, graph_from_model
from studio.engine.project import Project, ProjectError, load_project, load_project_bytes
from studio.engine.shapes import ShapeChecker


def _book_models():
    """The augmentation block and a frozen VGG16 base (random weights), as the book writes them."""
    import keras
    from keras import layers

    augmentation = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
                                     layers.RandomZoom(0.2)], name="data_augmentation")
    conv_base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    conv_base.trainable = False
    inputs = keras.Input((32, 32, 3), name="image")
    x = augmentation(inputs)
    x = layers.Rescaling(1 / 255.0)(x)
    x = conv_base(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="cats_vs_dogs")


def _nested_functional():
    """A functional block holding a Sequential block, called from a functional model."""
    import keras
    from keras import layers

    inner = keras.Sequential([keras.Input((6,)), layers.Dense(5, activation="tanh", name="deep")], name="deep_seq")
    i = keras.Input((6,), name="block_in")
    branch = layers.Dense(6, name="side")(i)
    merged = layers.Add(name="merge")([layers.Dense(6, name="again")(i), branch])
    y = inner(merged)
    encoder = keras.Model(i, y, name="encoder")
    x_in = keras.Input((6,), name="x")
    out = layers.Dense(2, activation="softmax", name="classes")(encoder(x_in))
    return keras.Model(x_in, out, name="nested")


def _config_tree(model) -> dict:
    return normalize_config(json.loads(json.dumps(model.get_config())))


def _sample(model, n=4, seed=0):
    shape = [d or 3 for d in model.inputs[0].shape[1:]]
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def _params(model):
    import math
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return trainable, model.count_params() - trainable


@pytest.mark.parametrize("make", [_book_models, _nested_functional], ids=["book_vgg16", "nested_functional"])
def test_nested_models_import_check_compile_export_and_generate_exactly(make, tmp_path):
    import keras

    original = make()
    graph, weights = graph_from_model(original)
    assert any(n.class_name == "Block" for n in graph.nodes.values())
    checker = ShapeChecker(graph)
    checker.refresh()
    assert not checker.errors(), checker.errors()
    trainable, frozen = _params(original)
    assert checker.total_params() == trainable + frozen
    assert checker.total_trainable_params() == trainable

    rebuilt = compile_graph(graph, weights)
    assert _config_tree(rebuilt) == _config_tree(original)  # same layers, configs, nesting
    x = _sample(original)
    expected = original.predict(x, verbose=0)
    assert np.abs(rebuilt.predict(x, verbose=0) - expected).max() <= 1e-5
    assert _params(rebuilt) == (trainable, frozen)

    path = tmp_path / "m.keras"
    rebuilt.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    assert any(isinstance(layer, keras.Model) for layer in reloaded.layers)  # the nesting is in the file
    assert np.abs(reloaded.predict(x, verbose=0) - expected).max() <= 1e-5
    again, again_weights = graph_from_keras_file(path)
    assert again.to_dict()["edges"] == graph.to_dict()["edges"]
    assert [n.config for n in again.nodes.values()] == [n.config for n in graph.nodes.values()]
    assert np.abs(compile_graph(again, again_weights).predict(x, verbose=0) - expected).max() <= 1e-5

    namespace: dict = {}
    exec(compile(generate(graph), "<blocks>", "exec"), namespace)  # noqa: S102 - our own output
    generated = namespace["build_model"]()
    assert _config_tree(generated) == _config_tree(original)
    assert _params(generated) == (trainable, frozen)


def test_generated_code_writes_blocks_the_way_the_book_does():
    graph, _ = graph_from_model(_book_models())
    code = generate(graph)
    assert "def build_data_augmentation():\n    return keras.Sequential([" in code
    assert "layers.RandomFlip(" in code
    assert "def build_vgg16():" in code and "model.trainable = False" in code
    assert "data_augmentation_block = build_data_augmentation()" in code


def test_a_project_keeps_its_blocks_and_their_weights(tmp_path):
    original = _nested_functional()
    graph, weights = graph_from_model(original)
    path = tmp_path / "nested.studio"
    Project(graph=graph, weights=weights).save(path)
    loaded = load_project(path)
    assert loaded.graph.to_dict()["nodes"] == json.loads(json.dumps(graph.to_dict()["nodes"]))
    x = _sample(original)
    model = compile_graph(loaded.graph, loaded.weights)
    assert np.abs(model.predict(x, verbose=0) - original.predict(x, verbose=0)).max() <= 1e-5


def _project_with_block_config(tmp_path, config):
    graph, _ = graph_from_model(_nested_functional())
    path = tmp_path / "p.studio"
    Project(graph=graph).save(path)
    doc = json.loads(path.read_text())
    block = next(n for n in doc["graph"]["nodes"] if n["class_name"] == "Block")
    block["config"] = config(block["config"])
    return json.dumps(doc).encode()


@pytest.mark.parametrize("mutate, message", [
    (lambda c: {**c, "kind": "subclassed"}, "kind should be"),
    (lambda c: {**c, "code": "print(1)"}, "unexpected fields code"),
    (lambda c: {**c, "graph": {**c["graph"], "nodes": c["graph"]["nodes"] + [
        {"id": "zz", "class_name": "Lambda", "name": "evil", "config": {}, "position": [0, 0]}]}}, "Lambda"),
    (lambda c: {**c, "graph": {**c["graph"], "nodes": [
        {**n, "config": {**n["config"], "activation": {"module": "builtins", "class_name": "eval"}}}
        if n["class_name"] == "Dense" else n for n in c["graph"]["nodes"]]}}, "builtins"),
    (lambda c: {**c, "graph": {**c["graph"], "edges": c["graph"]["edges"] + [["nope", 0, "n1", 0]]}},
     "between its own layers"),
], ids=["kind", "extra_field", "lambda_inside", "function_inside", "dangling_edge"])
def test_a_malformed_or_unsafe_block_in_a_file_is_refused_by_name(tmp_path, mutate, message):
    raw = _project_with_block_config(tmp_path, mutate)
    with pytest.raises(ProjectError, match=message):
        load_project_bytes(raw, "p.studio")


def test_blocks_nested_too_deep_are_refused():
    g = ModelGraph("inner")
    i = g.add_node("InputLayer", {"shape": [3]})
    d = g.add_node("Dense", {"units": 3})
    g.connect(i.id, d.id)
    config = blocks.block_config(g)
    for _ in range(blocks.MAX_DEPTH + 1):
        g = ModelGraph("wrap")
        i = g.add_node("InputLayer", {"shape": [3]})
        b = g.add_node("Block", config, name="b")
        g.connect(i.id, b.id)
        config = blocks.block_config(g)
    with pytest.raises(blocks.BlockError, match="nested more than"):
        blocks.check_block_config(config, "block")


def test_a_subclassed_nested_model_is_refused():
    import keras
    from keras import layers

    class Mine(keras.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d = layers.Dense(2)

        def call(self, x):
            return self.d(x) * 2

    i = keras.Input((3,))
    model = keras.Model(i, layers.Dense(1)(Mine(name="mine")(i)))
    with pytest.raises(ImportRefused, match="mine"):
        graph_from_model(model)


def test_a_frozen_block_counts_its_weights_as_non_trainable_and_freezing_is_a_setting():
    graph, _ = graph_from_model(_book_models())
    checker = ShapeChecker(graph)
    checker.refresh()
    vgg = graph.node_by_name("vgg16")
    assert vgg.config["trainable"] is False
    state = checker.states[vgg.id]
    assert state.params > 0 and state.trainable_params == 0
    graph.set_config(vgg.id, blocks.with_trainable(vgg.config, True))  # conv_base.trainable = True
    checker.refresh()
    assert checker.states[vgg.id].trainable_params == checker.states[vgg.id].params
    model = compile_graph(graph)
    assert model.get_layer("vgg16").trainable

    # the book's fine-tuning: everything up to block4_pool frozen, block5 trains
    inner = blocks.inner_graph(vgg.config)
    graph.set_config(vgg.id, blocks.freeze_up_to(vgg.config, inner.node_by_name("block4_pool").id))
    checker.refresh()
    model = compile_graph(graph)
    base = model.get_layer("vgg16")
    trainable = [layer.name for layer in base.layers if layer.trainable and layer.weights]
    assert trainable == ["block5_conv1", "block5_conv2", "block5_conv3"]
    expected = sum(int(np.prod(w.shape)) for w in base.trainable_weights)
    assert checker.states[vgg.id].trainable_params == expected
    assert "block4_conv3" in blocks.frozen_layers(graph.nodes[vgg.id].config)


def _residual_graph():
    g = ModelGraph("res")
    i = g.add_node("InputLayer", {"shape": [8]}, name="x")
    a = g.add_node("Dense", {"units": 8, "activation": "relu"}, name="a")
    b = g.add_node("Dense", {"units": 8}, name="b")
    s = g.add_node("Add", {}, name="skip")
    o = g.add_node("Dense", {"units": 3, "activation": "softmax"}, name="classes")
    g.connect(i.id, a.id)
    g.connect(a.id, b.id)
    g.connect(i.id, s.id, 0)
    g.connect(b.id, s.id, 1)
    g.connect(s.id, o.id)
    return g


def test_make_a_block_from_a_selection_and_dissolve_it_back():
    g = _residual_graph()
    before = compile_graph(g)
    x = np.random.default_rng(1).random((5, 8), dtype=np.float32)
    expected = before.predict(x, verbose=0)
    weights = {layer.name: layer.get_weights() for layer in before.layers if layer.weights}

    block_id = blocks.make_block(g, [g.node_by_name(n).id for n in ("a", "b", "skip")], name="residual")
    block = g.nodes[block_id]
    assert block.config["kind"] == "functional" and blocks.layer_count(block.config) == 3
    assert [n.name for n in g.nodes.values()] == ["x", "classes", "residual"]
    checker = ShapeChecker(g)
    checker.refresh()
    assert not checker.errors(), checker.errors()
    assert checker.states[block_id].outputs == [(None, 8)]
    model = compile_graph(g)
    inner = model.get_layer("residual")
    inner.set_weights([w for n in ("a", "b") for w in weights[n]])
    model.get_layer("classes").set_weights(weights["classes"])
    assert np.abs(model.predict(x, verbose=0) - expected).max() <= 1e-6

    blocks.dissolve_block(g, block_id)
    assert sorted(n.name for n in g.nodes.values()) == ["a", "b", "classes", "skip", "x"]
    again = compile_graph(g)
    for layer in again.layers:
        if layer.name in weights:
            layer.set_weights(weights[layer.name])
    assert np.abs(again.predict(x, verbose=0) - expected).max() <= 1e-6


def test_a_chain_becomes_a_sequential_block_and_a_selected_output_stays_the_output():
    g = _residual_graph()
    block_id = blocks.make_block(g, [g.node_by_name("classes").id], name="head")
    assert g.nodes[block_id].config["kind"] == "sequential"
    assert g.model_outputs() == [block_id]
    assert "def build_head():\n    return keras.Sequential([" in generate(g)
    blocks.dissolve_block(g, block_id)
    assert g.model_outputs() == [g.node_by_name("classes").id]


def test_a_block_cannot_take_the_models_inputs():
    g = _residual_graph()
    with pytest.raises(Exception, match="Inputs"):
        blocks.make_block(g, [g.node_by_name("x").id, g.node_by_name("a").id])


def test_an_opened_block_edits_the_block_in_the_model_and_follows_undo():
    from studio.engine.block_document import BlockDocument
    from studio.engine.document import Document

    graph, weights = graph_from_model(_nested_functional())
    document = Document(Project(graph=graph, weights=weights))
    document.enable_checking()
    encoder = graph.node_by_name("encoder")
    status = document.weight_status()
    assert status.get(encoder.id)  # the imported weights are the block's
    inside = BlockDocument(document, encoder.id)
    assert inside.path() == ["nested", "encoder"]
    assert not inside.errors()
    side = inside.graph.node_by_name("side")
    before = copy.deepcopy(graph.nodes[encoder.id].config)

    inside.graph.move(side.id, (500.0, 40.0))  # moving a layer inside keeps the block's weights
    document.refresh()
    assert graph.nodes[encoder.id].config != before
    assert document.weight_status().get(encoder.id) == status[encoder.id]

    inside.graph.set_param(side.id, "units", 7)  # breaks the Add inside: the inside says so
    assert any("merge" in m or "side" in m or "again" in m for _, m in inside.errors())
    assert blocks.inner_graph(graph.nodes[encoder.id].config).node_by_name("side").config["units"] == 7
    document.refresh()
    assert document.errors()  # and the model does too

    graph.set_config(encoder.id, before)  # an undo in the outer model is replayed inside
    assert inside.graph.node_by_name("side").config["units"] == 6
    assert not inside.errors()
    closed = []
    inside.closed.connect(lambda: closed.append(1))
    graph.remove_node(encoder.id)
    assert closed == [1]
    inside.close()


def test_the_summary_counts_a_blocks_inside():
    from studio.engine.summary import summarize_layers
    g = _residual_graph()
    flat = {r.name: r for r in summarize_layers(g, _checked(g).states)}
    block_id = blocks.make_block(g, [g.node_by_name(n).id for n in ("a", "b", "skip")], name="residual")
    rows = {r.name: r for r in summarize_layers(g, _checked(g).states)}
    block = rows["residual"]
    assert block.macs == sum(flat[n].macs for n in ("a", "b", "skip"))
    assert block.activation_bytes == sum(flat[n].activation_bytes for n in ("a", "b", "skip"))
    assert (block.trainable, block.non_trainable) == (sum(flat[n].trainable for n in ("a", "b")), 0)
    g.set_config(block_id, blocks.with_trainable(g.nodes[block_id].config, False))
    frozen = {r.name: r for r in summarize_layers(g, _checked(g).states)}["residual"]
    assert (frozen.trainable, frozen.non_trainable) == (0, block.trainable)


def _checked(g):
    checker = ShapeChecker(g)
    checker.refresh()
    return checker


def test_freezing_is_reported_as_a_changed_check_result():
    g = _residual_graph()
    checker = _checked(g)
    seen = []
    checker.states_changed.connect(lambda ids: seen.append(set(ids)))
    a = g.node_by_name("a")
    g.set_param(a.id, "trainable", False)
    checker.refresh()
    assert seen and a.id in seen[-1] and checker.states[a.id].trainable_params == 0


# -- random nested graphs ------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def _nested_graphs(draw, depth=0):
    """A functional graph of small Dense/Add layers whose steps may be blocks (sequential
    or functional), nested up to two deep."""
    g = ModelGraph(f"g{depth}")
    width = 4
    x = g.add_node("InputLayer", {"shape": [width]}, name=f"in{depth}")
    tensors = [x]
    for k in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["dense", "add", "block", "share"] if depth < 2 else ["dense", "add", "share"]))
        name = f"d{depth}_{k}"
        owners = [n for n in tensors if n.class_name in ("Dense", "Block") and "shares" not in n.config]
        if kind == "share" and owners:  # a layer or block called again, with the same weights
            owner = draw(st.sampled_from(owners))
            node = g.add_node(owner.class_name, {"shares": owner.id}, name=f"{owner.name}_again{k}")
            g.connect(draw(st.sampled_from(tensors)).id, node.id)
        elif kind == "add" and len(tensors) >= 2:
            a, b = draw(st.permutations(tensors))[:2]
            node = g.add_node("Add", {}, name=name)
            g.connect(a.id, node.id, 0)
            g.connect(b.id, node.id, 1)
        elif kind == "block":
            inner = draw(_nested_graphs(depth + 1))
            kind_of = "sequential" if _is_chain(inner) and draw(st.booleans()) else "functional"
            config = blocks.block_config(inner, kind_of, trainable=draw(st.booleans()))
            node = g.add_node("Block", config, name=f"block{depth}_{k}")
            g.connect(draw(st.sampled_from(tensors)).id, node.id)
        else:
            node = g.add_node("Dense", {"units": width, "activation": draw(st.sampled_from(["relu", "tanh"]))},
                              name=name)
            g.connect(draw(st.sampled_from(tensors)).id, node.id)
        tensors.append(node)
    ends = [n.id for n in g.nodes.values() if not g.successors(n.id) and not n.spec.is_input]
    if len(ends) != 1:
        last = g.add_node("Concatenate", {}, name=f"join{depth}") if len(ends) > 1 else None
        if last is None:  # only the input: one layer so that the graph computes something
            last = g.add_node("Dense", {"units": width}, name=f"only{depth}")
            g.connect(x.id, last.id)
        else:
            for port, end in enumerate(ends):
                g.connect(end, last.id, port)
        if last.class_name == "Concatenate":
            out = g.add_node("Dense", {"units": width}, name=f"out{depth}")
            g.connect(last.id, out.id)
    return g


def _is_chain(g) -> bool:
    try:
        blocks.sequential_order(g)
        return True
    except blocks.BlockError:
        return False


def _structure(graph, frozen_around: bool = False) -> list:
    """Names, classes, wiring, which layers train, and (recursively) the insides of blocks:
    what must round-trip. A layer trains when neither it nor a block around it is frozen
    (Keras writes a frozen nested Sequential as trainable with its layers frozen: the same
    weights train)."""
    # a use of a shared layer has no name in a .keras file (Keras keeps one layer): uses are
    # named after their layer and what they are called on (the order of the calls is not
    # kept: Keras may list a later call first, the same model)
    names = {n.id: n.name for n in graph.nodes.values()}
    for node_id in graph.topological_order():
        owner = graph.nodes[node_id].config.get("shares")
        if owner is not None:
            args = ",".join(f"{names[src]}:{k}" for _, (src, k) in sorted(graph.inputs_of(node_id).items()))
            names[node_id] = f"{graph.nodes[owner].name}({args})"
    out = []
    for node in graph.nodes.values():
        inputs = {port: names[src] for port, (src, _k) in graph.inputs_of(node.id).items()}
        frozen = frozen_around or node.config.get("trainable", True) is False
        if "shares" in node.config:  # a use: which layer it calls again
            out.append((names[node.id], node.class_name, sorted(inputs.items()), graph.nodes[node.config["shares"]].name))
        elif node.class_name == "Block":
            inside = (node.config["kind"], _structure(blocks.inner_graph(node.config), frozen))
            out.append((node.name, node.class_name, sorted(inputs.items()), inside))
        else:
            out.append((node.name, node.class_name, sorted(inputs.items()),
                        None if node.spec.is_input else not frozen))
    return sorted(out, key=lambda t: t[0])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(graph=_nested_graphs())
def test_random_nested_and_shared_graphs_compile_save_and_import_to_the_same_graph(graph, tmp_path):
    import keras
    checker = _checked(graph)
    assert not checker.errors(), checker.errors()
    model = compile_graph(graph)
    path = tmp_path / "random.keras"
    model.save(path)
    again, weights = graph_from_keras_file(path)
    assert _structure(again) == _structure(graph)
    rebuilt = compile_graph(again, weights)
    loaded = keras.saving.load_model(path, compile=False)
    # Keras writes and reads a frozen nested model's flags differently (a frozen block may come
    # back trainable with its layers frozen): what must agree is which weights train
    assert _params(rebuilt) == _params(model) == _params(loaded)
    x = np.random.default_rng(0).random((3, 4), dtype=np.float32)
    assert np.abs(rebuilt.predict(x, verbose=0) - model.predict(x, verbose=0)).max() <= 1e-5


def test_fast_feature_extraction_looks_inside_blocks():
    from studio.engine.train.feature_cache import counts_from_states, frozen_layer_names, plan_cut
    graph, _ = graph_from_model(_book_models())
    checker = _checked(graph)
    plan = plan_cut(graph, counts_from_states(graph, checker.states))
    assert not plan.available and "data_augmentation" in plan.reason and "random" in plan.reason
    assert "vgg16 › block1_conv1" in frozen_layer_names(graph)

    augmentation = graph.node_by_name("data_augmentation")  # without augmentation the base is cached
    blocks.dissolve_block(graph, augmentation.id)
    for node in [n for n in graph.nodes.values() if n.class_name.startswith("Random")]:
        (src, port), = graph.inputs_of(node.id).values()
        (dst_edge,) = graph.out_edges(node.id)
        graph.remove_node(node.id)
        graph.connect(src, dst_edge.dst, dst_edge.dst_port, port)
    checker = _checked(graph)
    plan = plan_cut(graph, counts_from_states(graph, checker.states))
    assert plan.available and plan.cut_names[0].startswith("flatten"), plan.describe()

    vgg = graph.node_by_name("vgg16")  # a trainable top inside the base: the cut cannot fall inside it
    graph.set_config(vgg.id, blocks.freeze_up_to(vgg.config, blocks.inner_graph(vgg.config)
                                                 .node_by_name("block4_pool").id))
    plan = plan_cut(graph, counts_from_states(graph, _checked(graph).states))
    assert not plan.available and "'vgg16' is only partly frozen" in plan.reason


def test_batch_normalization_inside_a_frozen_block_runs_in_inference_mode():
    """As Keras does for a frozen model: training the model around it changes neither the
    block's weights nor its moving statistics, and it computes the same in training mode."""
    import keras
    from keras import layers
    base = keras.Sequential([keras.Input((6,)), layers.Dense(6, name="d"), layers.BatchNormalization(name="bn")],
                            name="base")
    base.trainable = False
    i = keras.Input((6,))
    model = keras.Model(i, layers.Dense(2, name="head")(base(i)))
    graph, weights = graph_from_model(model)
    rebuilt = compile_graph(graph, weights)
    inner = rebuilt.get_layer("base")
    before = [w.copy() for w in inner.get_weights()]
    x = np.random.default_rng(3).normal(5.0, 3.0, (32, 6)).astype(np.float32)
    assert np.allclose(np.asarray(inner(x, training=True)), np.asarray(inner(x, training=False)), atol=1e-6)
    rebuilt.compile(optimizer="sgd", loss="mse")
    rebuilt.fit(x, np.zeros((32, 2), np.float32), epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, inner.get_weights()))
