"""Operation nodes (``x + 3.0``, ``keras.ops.mean(x, axis=1)``, the NotEqual mask of
``Embedding(mask_zero=True)``) and layers called with extra arguments (``attention_mask=``,
``mask=``, ``training=``) are kept exactly: every one imports from a ``.keras`` file,
shape-checks, compiles to the same Keras graph (same operations, settings, constants,
connectivity), exports and reloads, generates code that builds the same model, and
survives a project file. Predictions agree within 1e-5 everywhere."""

from __future__ import annotations

import ast
import json

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import layers, ops

from studio.engine import catalog
from studio.engine.codegen import CodegenError, generate, normalize_config
from studio.engine.compiler import compile_graph
from studio.engine.graph import ModelGraph, snake_case
from studio.engine.importer import graph_from_keras_file, graph_from_model
from studio.engine.project import Project, ProjectError, load_project, load_project_bytes
from studio.engine.shapes import ShapeChecker

ATOL = 1e-5


# -- helpers ------------------------------------------------------------------------------

def _entries(model) -> dict[str, dict]:
    """Every layer and operation of a functional model by name: class, module, settings and
    call (tensors and constants), normalised (tuples vs lists)."""
    out = {}
    for e in model.get_config()["layers"]:
        out[e["name"]] = normalize_config({"class_name": e["class_name"], "module": e.get("module"),
                                           "config": e["config"], "inbound_nodes": e.get("inbound_nodes")})
    return out


def assert_same_graph(original, other) -> None:
    """Same layers and operations, settings, calls and connectivity, inputs, outputs and parameters."""
    a, b = _entries(original), _entries(other)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], f"'{name}' differs:\n{a[name]}\n{b[name]}"
    ca, cb = original.get_config(), other.get_config()
    assert normalize_config(ca["input_layers"]) == normalize_config(cb["input_layers"])
    assert normalize_config(ca["output_layers"]) == normalize_config(cb["output_layers"])
    assert original.count_params() == other.count_params()
    assert (sum(int(np.prod(w.shape)) for w in original.trainable_weights)
            == sum(int(np.prod(w.shape)) for w in other.trainable_weights))


def _predict(model, sample):
    out = model.predict(sample, verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def assert_same_predictions(a, b, sample) -> None:
    pa, pb = _predict(a, sample), _predict(b, sample)
    assert len(pa) == len(pb)
    for x, y in zip(pa, pb):
        assert x.shape == y.shape and x.dtype == y.dtype
        if x.dtype == bool:
            np.testing.assert_array_equal(x, y)
        else:
            assert np.max(np.abs(x.astype("float64") - y.astype("float64")), initial=0.0) <= ATOL


def build_generated(graph):
    """The model the generated code builds (the code parsed first: it must be plain Python)."""
    code = generate(graph)
    ast.parse(code)
    namespace: dict = {"__name__": "generated"}
    exec(compile(code, "<generated>", "exec"), namespace)  # noqa: S102 - our own output
    return namespace["build_model"](), code


def round_trip(model, sample, tmp_path, *, project: bool = True):
    """.keras file -> graph -> check -> compile -> .keras -> reload -> code -> project, all exact."""
    path = tmp_path / "original.keras"
    model.save(path)
    graph, weights = graph_from_keras_file(path)
    checker = ShapeChecker(graph)
    assert checker.errors() == []
    assert checker.total_params() == model.count_params()
    # every node's output shape is the one Keras gave that layer or operation
    for op in model.operations:
        node = graph.node_by_name(op.name)
        expected = [tuple(t.shape) for t in keras.tree.flatten(op._inbound_nodes[0].output_tensors)]
        assert checker.state(node.id).outputs == expected, op.name
    compiled = compile_graph(graph, weights)
    assert_same_graph(model, compiled)
    assert_same_predictions(model, compiled, sample)
    exported = tmp_path / "exported.keras"
    compiled.save(exported)
    reloaded = keras.saving.load_model(exported, compile=False, safe_mode=True)
    assert_same_graph(model, reloaded)
    assert_same_predictions(model, reloaded, sample)
    generated, code = build_generated(graph)
    assert_same_graph(model, generated)
    generated.set_weights(model.get_weights())
    assert_same_predictions(model, generated, sample)
    if project:
        Project(graph=graph, weights=weights).save(tmp_path / "p.studio")
        loaded = load_project(tmp_path / "p.studio")
        assert json.loads(json.dumps(loaded.graph.to_dict())) == json.loads(json.dumps(graph.to_dict()))
        again = compile_graph(loaded.graph, loaded.weights)
        assert_same_graph(model, again)
        assert_same_predictions(model, again, sample)
    return graph, code


# -- every operation in the catalog ------------------------------------------------------------

def _x(shape=(4, 3)):
    return keras.Input(shape, name="x")


def _dense(x, units=3):
    return layers.Dense(units, name="d")(x)


# name -> (build outputs from the input, input shape, input dtype); every op of the catalog appears
CASES = {
    "add_constant": lambda x: _dense(x) + 3.0,
    "add_constant_left": lambda x: 3.0 + _dense(x),
    "add_tensors": lambda x: ops.add(_dense(x), x),
    "subtract_constant_left": lambda x: 2.0 - _dense(x),
    "multiply_hard_sigmoid": lambda x: ops.relu(_dense(x) + 3.0) * (1.0 / 6.0),
    "divide": lambda x: ops.divide(_dense(x), 4.0),
    "true_divide": lambda x: _dense(x) / 2,
    "power": lambda x: _dense(x) ** 2,
    "maximum": lambda x: ops.maximum(_dense(x), 0.5),
    "minimum_tensors": lambda x: ops.minimum(_dense(x), x),
    "equal": lambda x: ops.equal(x, 0.5),
    "not_equal": lambda x: ops.not_equal(x, 0),
    "greater": lambda x: ops.greater(_dense(x), 0.0),
    "less": lambda x: ops.less(0.25, _dense(x)),
    "negative": lambda x: -_dense(x),
    "absolute": lambda x: abs(_dense(x)),
    "sqrt": lambda x: ops.sqrt(x),
    "square": lambda x: ops.square(_dense(x)),
    "exp": lambda x: ops.exp(_dense(x)),
    "tanh_sigmoid": lambda x: ops.sigmoid(ops.tanh(_dense(x))),
    "softmax": lambda x: ops.softmax(_dense(x), axis=1),
    "log": lambda x: ops.log(x),
    "clip": lambda x: ops.clip(_dense(x), -0.25, 0.75),
    "mean": lambda x: ops.mean(_dense(x), axis=1),
    "sum": lambda x: ops.sum(_dense(x), axis=(1, 2), keepdims=True),
    "max": lambda x: ops.max(_dense(x), axis=-1),
    "min": lambda x: ops.min(_dense(x), axis=1, keepdims=True),
    "concatenate": lambda x: ops.concatenate([x, _dense(x, 2), x], axis=-1),
    "stack": lambda x: ops.stack([x, _dense(x)], axis=1),
    "reshape": lambda x: ops.reshape(_dense(x), (-1, 12)),
    "transpose": lambda x: ops.transpose(_dense(x), (0, 2, 1)),
    "expand_dims": lambda x: ops.expand_dims(_dense(x), 1),
    "squeeze": lambda x: ops.squeeze(ops.expand_dims(_dense(x), 2), 2),
    "cast": lambda x: ops.cast(ops.not_equal(x, 0.5), "float32"),
    "matmul": lambda x: ops.matmul(_dense(x), ops.transpose(x, (0, 2, 1))),
    "take": lambda x: ops.take(_dense(x), [0, 2], axis=2),
    "get_item": lambda x: _dense(x)[:, 0, 1:],
    "get_item_ellipsis": lambda x: _dense(x)[..., None, 1],
    "get_item_int": lambda x: ops.transpose(x, (1, 0, 2))[2],
}


def test_the_cases_cover_every_operation_in_the_catalog():
    used = set()
    for build in CASES.values():
        x = _x()
        used |= {type(op).__name__ for op in keras.Model(x, build(x)).operations}
    assert {catalog.spec(n).keras_name for n in catalog.op_names()} <= used


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_operation_round_trips_exactly(case, tmp_path):
    x = _x()
    model = keras.Model(x, CASES[case](x), name=case)
    sample = np.random.RandomState(0).uniform(0.1, 1.0, (3, 4, 3)).astype("float32")
    graph, code = round_trip(model, sample, tmp_path)
    ops_nodes = [n for n in graph.nodes.values() if n.spec.is_op]
    assert ops_nodes and all(n.class_name.startswith("ops.") for n in ops_nodes)
    assert "keras.src.ops." in code


def test_constants_are_kept_by_name_and_value():
    x = _x()
    model = keras.Model(x, [2.0 - x, x * (1 / 6), x[..., None, 1:]])
    graph, _ = graph_from_model(model)
    sub = next(n for n in graph.nodes.values() if n.class_name == "ops.Subtract")
    assert sub.config == {"x1": 2.0}
    assert [e.dst_port for e in graph.in_edges(sub.id)] == [1]   # the tensor is the second operand
    mul = next(n for n in graph.nodes.values() if n.class_name == "ops.Multiply")
    assert mul.config == {"x2": 1 / 6}
    item = next(n for n in graph.nodes.values() if n.class_name == "ops.GetItem")
    assert item.config == {"key": [{"class_name": "__ellipsis__", "config": {}}, None,
                                   {"class_name": "__slice__", "config": {"start": 1, "stop": None, "step": None}}]}


def test_a_model_with_keras_ops_arithmetic(tmp_path):
    """Python operators and keras.ops between layers, constants on both sides."""
    inputs = keras.Input((6,), name="features")
    h = layers.Dense(8, activation="relu", name="h")(inputs)
    scaled = (h - ops.mean(h, axis=-1, keepdims=True)) / (ops.max(h, axis=-1, keepdims=True) + 1e-3)
    gate = ops.clip(layers.Dense(8, name="g")(inputs) * (1 / 6) + 0.5, 0.0, 1.0)
    mixed = ops.concatenate([scaled * gate, ops.expand_dims(ops.sum(h, axis=-1), -1)], axis=-1)
    out = layers.Dense(2, activation="softmax", name="out")(mixed)
    model = keras.Model(inputs, out, name="arith")
    sample = np.random.RandomState(2).rand(5, 6).astype("float32")
    graph, _ = round_trip(model, sample, tmp_path)
    assert sum(1 for n in graph.nodes.values() if n.spec.is_op) == len(model.operations) - len(model.layers)


# -- layers called with more than their inputs ----------------------------------------------

def test_the_books_masked_bidirectional_lstm(tmp_path):
    """Embedding(mask_zero=True) -> Bidirectional(LSTM): Keras writes the mask as a NotEqual
    operation fed to the LSTM as ``mask=``; both are kept, it trains, exports and reloads."""
    inputs = keras.Input((None,), dtype="int64")
    x = layers.Embedding(1000, 16, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.LSTM(8))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.RandomState(3)
    tokens = rng.randint(1, 1000, (8, 12)).astype("int64")
    tokens[:, 9:] = 0                                            # padding
    graph, _ = round_trip(model, tokens, tmp_path)
    lstm = graph.node_by_name(model.layers[2].name)
    mask = graph.node_by_name("not_equal") or next(n for n in graph.nodes.values() if n.class_name == "ops.NotEqual")
    assert lstm.config[catalog.CALL_PORTS] == {"mask": 1}
    assert [(graph.nodes[e.src].class_name, e.dst_port) for e in graph.in_edges(lstm.id)] == \
        [("Embedding", 0), ("ops.NotEqual", 1)]
    assert mask.config == {"x2": 0}
    # it trains a step, from the graph, and the mask still works: padding changes nothing
    trained = compile_graph(graph)
    trained.compile(optimizer="adam", loss="binary_crossentropy")
    history = trained.fit(tokens, rng.randint(0, 2, (8, 1)).astype("float32"), epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    np.testing.assert_allclose(trained.predict(tokens, verbose=0), trained.predict(tokens[:, :9], verbose=0),
                               atol=ATOL)
    trained.save(tmp_path / "trained.keras")
    reloaded = keras.saving.load_model(tmp_path / "trained.keras", safe_mode=True)
    assert_same_predictions(trained, reloaded, tokens)
    # and the trained file imports again with its weights
    again, weights = graph_from_keras_file(tmp_path / "trained.keras")
    assert_same_predictions(trained, compile_graph(again, weights), tokens)


def test_attention_mask_causal_mask_and_training_flags(tmp_path):
    q = keras.Input((5, 8), name="q")
    mask = keras.Input((5, 5), name="mask", dtype="bool")
    attended = layers.MultiHeadAttention(2, 4, name="mha")(q, q, attention_mask=mask, use_causal_mask=True)
    dropped = layers.Dropout(0.3, name="mc_dropout")(attended, training=True)
    normed = layers.BatchNormalization(name="bn")(dropped, training=False)
    model = keras.Model([q, mask], normed, name="masked")
    rng = np.random.RandomState(4)
    sample = [rng.rand(3, 5, 8).astype("float32"), rng.rand(3, 5, 5) > 0.3]
    graph, code = round_trip(model, sample, tmp_path)
    mha = graph.node_by_name("mha")
    assert mha.config[catalog.CALL_PORTS] == {"attention_mask": 3}
    assert mha.config[catalog.CALL_KWARGS] == {"use_causal_mask": True}
    assert graph.node_by_name("mc_dropout").config[catalog.CALL_KWARGS] == {"training": True}
    assert graph.node_by_name("bn").config[catalog.CALL_KWARGS] == {"training": False}
    assert "(q, q, attention_mask=mask, use_causal_mask=True)" in code
    assert "(mha, training=True)" in code


def test_defaults_keras_passes_anyway_are_not_kept():
    """``training=False`` on a Dropout is what Keras records when none is given: no field."""
    x = keras.Input((4,), name="x")
    model = keras.Model(x, layers.BatchNormalization(name="bn")(layers.Dropout(0.1, name="drop")(x)))
    assert model.get_config()["layers"][1]["inbound_nodes"][0]["kwargs"] == {"training": False}
    graph, _ = graph_from_model(model)
    assert not any(k in n.config for n in graph.nodes.values() for k in catalog.CALL_KEYS)


def test_lstm_initial_state_is_a_list_of_ports(tmp_path):
    x = keras.Input((6, 3), name="x")
    h = keras.Input((4,), name="h")
    c = keras.Input((4,), name="c")
    seq = layers.LSTM(4, return_sequences=True, name="lstm")(x, initial_state=[h, c])
    model = keras.Model([x, h, c], seq, name="seeded")
    rng = np.random.RandomState(5)
    sample = [rng.rand(2, 6, 3).astype("float32"), rng.rand(2, 4).astype("float32"), rng.rand(2, 4).astype("float32")]
    graph, code = round_trip(model, sample, tmp_path)
    lstm = graph.node_by_name("lstm")
    assert lstm.config[catalog.CALL_PORTS] == {"initial_state": [1, 2]}
    assert "initial_state=[h, c]" in code
    assert catalog.port_label("LSTM", lstm.config, 2) == "initial_state[1]"


def test_an_explicit_mask_on_a_layer(tmp_path):
    x = keras.Input((5, 4), name="x")
    m = keras.Input((5,), name="m", dtype="bool")
    pooled = layers.GlobalAveragePooling1D(name="pool")(x, mask=m)
    model = keras.Model([x, m], pooled, name="masked_pool")
    rng = np.random.RandomState(6)
    sample = [rng.rand(2, 5, 4).astype("float32"), rng.rand(2, 5) > 0.4]
    graph, _ = round_trip(model, sample, tmp_path)
    assert graph.node_by_name("pool").config[catalog.CALL_PORTS] == {"mask": 1}


@pytest.mark.slow
def test_mobilenet_v3_small_hard_sigmoid_operations(tmp_path):
    """MobileNetV3 computes hard-sigmoid as ``x + 3.0`` and ``x * (1/6)`` operations."""
    model = keras.applications.MobileNetV3Small(input_shape=(64, 64, 3), weights=None, classes=10)
    sample = np.random.RandomState(7).rand(2, 64, 64, 3).astype("float32") * 255
    graph, code = round_trip(model, sample, tmp_path, project=False)
    adds = [n for n in graph.nodes.values() if n.class_name == "ops.Add"]
    muls = [n for n in graph.nodes.values() if n.class_name == "ops.Multiply"]
    assert adds and all(n.config == {"x2": 3.0} for n in adds)
    assert muls and all(n.config == {"x2": 1 / 6} for n in muls)


def test_mobilenet_v3_small_imports_and_generates_code_exactly():
    """The in-CI part of the MobileNetV3 check: in memory, no files."""
    model = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=5,
                                                include_preprocessing=False)
    graph, weights = graph_from_model(model)
    checker = ShapeChecker(graph)
    assert checker.errors() == [] and checker.total_params() == model.count_params()
    sample = np.random.RandomState(8).rand(2, 32, 32, 3).astype("float32")
    compiled = compile_graph(graph, weights)
    assert_same_graph(model, compiled)
    assert_same_predictions(model, compiled, sample)
    generated, _ = build_generated(graph)
    assert_same_graph(model, generated)


# -- the catalog, the graph and the checks -----------------------------------------------------

def test_operations_are_a_palette_category_apart_from_layers():
    assert "Operations" in catalog.CATEGORIES and catalog.CATEGORY_COLORS["Operations"]
    names = catalog.names("Operations")
    assert names and all(n.startswith(catalog.OPS_PREFIX) for n in names)
    assert set(names) == set(catalog.op_names())
    assert not set(names) & set(catalog.layer_names())
    for layer in ("Add", "Concatenate", "Reshape", "Multiply", "Subtract", "Maximum"):
        assert not catalog.spec(layer).is_op and catalog.spec(f"ops.{layer}").is_op
    required = {"NotEqual", "Equal", "Add", "Subtract", "Multiply", "Divide", "Mean", "Sum", "Max", "Concatenate",
                "Stack", "Reshape", "Transpose", "ExpandDims", "Squeeze", "Cast", "Matmul", "Take", "GetItem"}
    assert required <= {catalog.spec(n).keras_name for n in names}
    assert catalog.search("not_equal")[0].class_name == "ops.NotEqual"


@pytest.mark.parametrize("name", sorted(catalog.op_names()))
def test_operation_specs_match_keras(name):
    """The table's call arguments are the operation's own, and its settings come from Keras."""
    import inspect

    s = catalog.spec(name)
    cls = catalog.keras_class(name)
    assert cls.__module__ == s.op.module and cls.__name__ == s.op.keras_class
    call = [p.name for p in list(inspect.signature(cls.call).parameters.values())[1:]]
    assert call == [p.name for p in s.op.call]
    assert callable(getattr(keras.ops, s.op.function))
    params = [p.name for p in catalog.params(name)]
    assert len(params) == len(set(params)) and "trainable" not in params
    assert names_first(params, s.primary)
    from studio.engine.keras_bridge import op_settings
    assert not set(op_settings(name)) & set(s.op.constant_names)   # a constant never shadows a setting
    assert len(s.description) > 10


def names_first(params, primary) -> bool:
    return params[:len(primary)] == list(primary)


@pytest.mark.parametrize("name", sorted(catalog.op_names()))
def test_a_new_operation_from_the_palette_checks_compiles_and_generates_code(name):
    """The default of each operation works on a (3, 3) input: its free ports all fed by it."""
    g = ModelGraph("palette")
    x = g.add_node("InputLayer", {"shape": [3, 3]}, name="x")
    node = g.add_node(name)
    assert node.name == snake_case(catalog.spec(name).keras_name)      # as Keras names it: not_equal, get_item
    ports = catalog.port_limit(name, node.config) or 2
    filled = catalog.filled_ports(name, node.config)
    for k in range(ports):
        if k not in filled:
            g.connect(x.id, node.id, k)
    checker = ShapeChecker(g)
    assert checker.errors() == [], checker.errors()
    model = compile_graph(g)
    generated, _ = build_generated(g)
    assert_same_graph(model, generated)
    sample = np.random.RandomState(9).uniform(0.1, 1.0, (2, 3, 3)).astype("float32")
    assert_same_predictions(model, generated, sample)
    assert checker.state(node.id).outputs == [tuple(model.outputs[0].shape)]


def test_ports_a_constant_fills_are_skipped_and_checked():
    g = ModelGraph()
    x = g.add_node("InputLayer", {"shape": [3]}, name="x")
    sub = g.add_node("ops.Subtract", {"x1": 1.0})
    assert g.free_port(sub.id) == 1                         # 1.0 - x: the tensor goes second
    g.connect(x.id, sub.id)
    checker = ShapeChecker(g)
    assert checker.errors() == []
    g.set_param(sub.id, "x1", None)                         # no constant any more: x1 needs a tensor
    assert "'x1'" in checker.state(sub.id).error
    assert any("'x1'" in p.message for p in g.problems())
    g.set_param(sub.id, "x1", 1.0)
    g.connect(x.id, sub.id, 0)                              # a tensor and a constant on one port
    assert "holds the constant 1.0" in checker.state(sub.id).error
    assert any("holds the constant" in p.message for p in g.problems())


def test_keyword_ports_extend_a_layer_and_are_named():
    g = ModelGraph()
    q = g.add_node("InputLayer", {"shape": [5, 8]}, name="q")
    m = g.add_node("InputLayer", {"shape": [5, 5], "dtype": "bool"}, name="m")
    mha = g.add_node("MultiHeadAttention", {"num_heads": 2, "key_dim": 4})
    assert g.can_connect(m.id, 0, mha.id, 3) is not None     # no such port yet
    g.set_param(mha.id, catalog.CALL_PORTS, {"attention_mask": 3})
    assert catalog.port_limit("MultiHeadAttention", mha.config) == 4
    assert catalog.port_label("MultiHeadAttention", mha.config, 3) == "attention_mask"
    g.connect(q.id, mha.id, 0)
    g.connect(q.id, mha.id, 1)
    checker = ShapeChecker(g)
    assert "attention_mask" in checker.state(mha.id).error   # declared but not connected
    g.connect(m.id, mha.id, 3)                               # key (port 2) may stay empty
    assert checker.errors() == []
    model = compile_graph(g)
    node = next(e for e in model.get_config()["layers"] if e["name"] == mha.name)
    assert set(node["inbound_nodes"][0]["kwargs"]) == {"attention_mask"}


@pytest.mark.parametrize("config, message", [
    ({catalog.CALL_PORTS: {"mask": 0}}, "not after the 1 input"),
    ({catalog.CALL_PORTS: {"mask": "x"}}, "port number"),
    ({catalog.CALL_PORTS: {"mask": 1, "other": 1}}, "feeds two"),
    ({catalog.CALL_PORTS: {"import os": 1}}, "not a keyword argument"),
    ({catalog.CALL_KWARGS: {"training": True}, catalog.CALL_PORTS: {"training": 1}}, "given twice"),
    ({catalog.CALL_KWARGS: ["training"]}, "object of keyword arguments"),
])
def test_malformed_call_fields_are_refused_by_name(config, message):
    with pytest.raises(ValueError, match=message):
        catalog.check_call_fields("Dense", config)


def test_operations_take_no_call_fields():
    with pytest.raises(ValueError, match="an operation takes no keyword arguments"):
        catalog.check_call_fields("ops.Add", {catalog.CALL_KWARGS: {"x": 1}})


def test_unknown_operation_settings_are_errors_pinned_to_the_node():
    g = ModelGraph()
    x = g.add_node("InputLayer", {"shape": [3]}, name="x")
    mean = g.add_node("ops.Mean", {"axis": -1, "where": "os"})
    g.connect(x.id, mean.id)
    error = ShapeChecker(g).state(mean.id).error
    assert "has no setting 'where'" in error and mean.name in error


# -- project files ---------------------------------------------------------------------------

def _op_project_graph() -> ModelGraph:
    g = ModelGraph("ops_project")
    x = g.add_node("InputLayer", {"shape": [4, 3]}, name="x")
    item = g.add_node("ops.GetItem", {"key": [{"class_name": "__slice__", "config": {"start": None, "stop": None,
                                                                                    "step": None}}, 0]})
    add = g.add_node("ops.Add", {"x2": 3.0})
    g.connect(x.id, item.id)
    g.connect(item.id, add.id)
    return g


def test_project_save_and_load_keeps_operation_nodes(tmp_path):
    g = _op_project_graph()
    Project(graph=g).save(tmp_path / "ops.studio")
    loaded = load_project(tmp_path / "ops.studio")
    assert loaded.graph.to_dict() == json.loads(json.dumps(g.to_dict()))
    sample = np.random.RandomState(10).rand(2, 4, 3).astype("float32")
    np.testing.assert_array_equal(compile_graph(loaded.graph).predict(sample, verbose=0), sample[:, 0] + 3.0)


@pytest.mark.parametrize("bad, message", [
    ({"key": {"class_name": "__slice__", "config": {"start": "__import__('os')"}}}, "malformed __slice__"),
    ({"key": {"class_name": "__numpy__", "config": {"value": [1]}}}, "__numpy__"),
    ({"key": {"module": "builtins", "class_name": "eval", "config": {}}}, "not part of Keras"),
])
def test_project_refuses_hostile_operation_constants(tmp_path, bad, message):
    g = _op_project_graph()
    doc = Project(graph=g).to_dict()
    doc["graph"]["nodes"][1]["config"] = bad
    with pytest.raises(ProjectError, match=message):
        load_project_bytes(json.dumps(doc).encode(), "p.studio")


def test_project_refuses_malformed_call_ports(tmp_path):
    g = ModelGraph("m")
    x = g.add_node("InputLayer", {"shape": [3]}, name="x")
    d = g.add_node("Dense", {"units": 2})
    g.connect(x.id, d.id)
    doc = Project(graph=g).to_dict()
    doc["graph"]["nodes"][1]["config"][catalog.CALL_PORTS] = {"mask": -1}
    with pytest.raises(ProjectError, match=r"\('dense'\) config.*call_ports"):
        load_project_bytes(json.dumps(doc).encode(), "p.studio")


# -- generated code stays data -----------------------------------------------------------------

ATTACKS = st.sampled_from(['"); import os; os.system("x"); ("', "\\", "'''", "__import__('os')", "\x00",
                           "a\u2028b", "{x}"])
CONSTANTS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), ATTACKS),
    lambda inner: st.lists(inner, max_size=3), max_leaves=8)


def _assert_plain_module(code: str) -> None:
    """build_model holds assignments of calls of keras attributes (and slice) and one return."""
    tree = ast.parse(code)
    build = next(s for s in tree.body if isinstance(s, ast.FunctionDef))
    local = {t.id for s in build.body[:-1] for t in s.targets}
    for node in (n for s in build.body for n in ast.walk(s)):
        assert not isinstance(node, (ast.Lambda, ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef,
                                     ast.ListComp, ast.GeneratorExp, ast.NamedExpr, ast.Subscript)), ast.dump(node)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            assert node.id in local | {"keras", "layers", "float", "slice"}, node.id
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Call):
            func = node.func
            while isinstance(func, ast.Attribute):
                func = func.value
            assert isinstance(func, ast.Name) and func.id in ("keras", "layers", "float", "slice"), ast.dump(node)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=CONSTANTS, kwarg=st.one_of(st.text(max_size=10), ATTACKS, st.sampled_from(["training", "mask"])),
       kwvalue=CONSTANTS)
def test_operation_constants_and_call_arguments_are_literals(value, kwarg, kwvalue):
    g = ModelGraph("m")
    x = g.add_node("InputLayer", {"shape": [3]}, name="x")
    add = g.add_node("ops.Add", {"x2": value})
    drop = g.add_node("Dropout", {"rate": 0.1, catalog.CALL_KWARGS: {kwarg: kwvalue}})
    g.connect(x.id, add.id)
    g.connect(add.id, drop.id)
    try:
        code = generate(g)
    except CodegenError as exc:
        assert "\n" not in str(exc)
        return
    _assert_plain_module(code)
    constants = [n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant)]
    for leaf in (value if isinstance(value, list) else [value]):
        if isinstance(leaf, str):
            assert leaf in constants
    assert kwarg.isidentifier()


def test_hostile_slices_in_code_are_refused():
    g = _op_project_graph()
    item = next(n for n in g.nodes.values() if n.class_name == "ops.GetItem")
    item.config["key"] = [{"class_name": "__slice__", "config": {"start": "__import__('os')"}}]
    with pytest.raises(CodegenError, match="get_item"):
        generate(g)


# -- random graphs of operations: compile -> save -> import gives the same graph --------------

UNARY = ["ops.Negative", "ops.Absolute", "ops.Square", "ops.Exp"]
BINARY = ["ops.Add", "ops.Subtract", "ops.Multiply", "ops.TrueDivide", "ops.Maximum", "ops.Minimum"]
STEP = st.one_of(
    st.tuples(st.sampled_from(UNARY), st.none(), st.none()),
    st.tuples(st.sampled_from(BINARY), st.sampled_from(["x1", "x2"]),
              st.one_of(st.floats(-4, 4, allow_nan=False).filter(lambda v: abs(v) > 0.1), st.integers(1, 5))),
    st.tuples(st.sampled_from(BINARY), st.just("tensor"), st.none()),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=5))
def test_random_operation_graphs_survive_compile_save_and_import(steps, tmp_path_factory):
    g = ModelGraph("random_ops")
    x = g.add_node("InputLayer", {"shape": [3]}, name="x")
    prev = g.add_node("Dense", {"units": 3}, name="d")
    g.connect(x.id, prev.id)
    for class_name, side, constant in steps:
        config = {side: constant} if side in ("x1", "x2") else {}
        node = g.add_node(class_name, config)
        g.connect(prev.id, node.id)
        if side == "tensor":
            g.connect(x.id, node.id)
        prev = node
    assert ShapeChecker(g).errors() == []
    model = compile_graph(g)
    path = tmp_path_factory.mktemp("ops") / "m.keras"
    model.save(path)
    imported, weights = graph_from_keras_file(path)
    def operations(graph):
        return {n.name: (n.class_name, json.loads(json.dumps(n.config))) for n in graph.nodes.values() if n.spec.is_op}

    def edges(graph):
        return sorted((graph.nodes[e.src].name, e.src_port, graph.nodes[e.dst].name, e.dst_port) for e in graph.edges)

    assert operations(imported) == operations(g)
    assert edges(imported) == edges(g)
    sample = np.random.RandomState(11).rand(2, 3).astype("float32")
    assert_same_predictions(model, compile_graph(imported, weights), sample)


# -- the rest of the engine takes operation nodes in its stride -------------------------------

def _bilstm_project():
    inputs = keras.Input((None,), dtype="int64", name="tokens")
    x = layers.Embedding(50, 8, mask_zero=True, name="embed")(inputs)
    x = layers.Bidirectional(layers.LSTM(4), name="bilstm")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="score")(x * 0.5 + 0.25)
    model = keras.Model(inputs, outputs, name="text")
    graph, weights = graph_from_model(model)
    return model, Project(graph=graph, weights=weights)


@pytest.mark.parametrize("fmt", ["keras", "python"])
def test_verified_exports_of_operation_nodes(fmt, tmp_path):
    from studio.engine.export import export

    _, project = _bilstm_project()
    result = export(project, fmt, tmp_path / ("m.keras" if fmt == "keras" else "m"))
    assert result.max_abs_diff is not None and result.max_abs_diff <= ATOL


def test_summary_counts_operation_nodes():
    from studio.engine import summary
    from studio.engine.train.settings import TrainingConfig

    model, project = _bilstm_project()
    checker = ShapeChecker(project.graph)
    checker.refresh()
    rows = {r.name: r for r in summary.summarize_layers(project.graph, checker.states)}
    mask = next(n for n in project.graph.nodes.values() if n.class_name == "ops.NotEqual")
    assert rows[mask.name].params == 0 and rows["bilstm"].params > 0
    total = summary.summarize(project.graph, checker.states, TrainingConfig(device="cpu"))
    assert total.trainable == model.count_params()


def test_activations_of_an_operation_node():
    from studio.engine.inspect_model import ModelInspector

    x = keras.Input((3,), name="x")
    model = compile_graph(graph_from_model(keras.Model(x, layers.Dense(2, name="d")(x) * 2.0 + 1.0))[0])
    op = next(o for o in model.operations if type(o).__name__ == "Multiply")
    sample = np.ones((1, 3), "float32")
    doubled = ModelInspector(model).output_of(op.name, sample)
    np.testing.assert_allclose(doubled, model.get_layer("d")(sample) * 2.0, atol=ATOL)


def test_a_mask_keras_makes_itself_never_takes_the_name_of_a_node():
    """An Embedding(mask_zero=True) feeding an LSTM makes a ``not_equal`` operation while the
    model is built; a node already called ``not_equal`` must not make the build fail."""
    keras.backend.clear_session()          # Keras's own names start again from "not_equal"
    g = ModelGraph("two_masks")
    tokens = g.add_node("InputLayer", {"shape": [None], "dtype": "int64"}, name="tokens")
    embed = g.add_node("Embedding", {"input_dim": 20, "output_dim": 4, "mask_zero": True})
    lstm = g.add_node("LSTM", {"units": 3})
    mask = g.add_node("ops.NotEqual", {"x2": 0})
    assert mask.name == "not_equal"
    g.connect(tokens.id, embed.id)
    g.connect(embed.id, lstm.id)
    g.connect(tokens.id, mask.id)
    g.set_outputs([lstm.id, mask.id])
    model = compile_graph(g)
    names = [op.name for op in model.operations]
    assert names.count("not_equal") == 1 and len(set(names)) == len(names)


def test_port_names_follow_the_operations_arguments():
    assert [catalog.port_label("ops.Take", {}, k) for k in range(2)] == ["x", "indices"]
    assert [catalog.port_label("ops.Concatenate", {}, k) for k in range(3)] == ["xs 1", "xs 2", "xs 3"]
    assert catalog.port_limit("ops.Concatenate", {}) is None and catalog.port_limit("ops.GetItem", {}) == 1
    assert catalog.filled_ports("ops.Take", {"indices": [0, 2]}) == {1: [0, 2]}
