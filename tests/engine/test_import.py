import json
import zipfile

import keras
import numpy as np
import pytest

from studio.engine.compiler import compile_graph
from studio.engine.importer import ImportRefused, graph_from_keras_file, graph_from_model
from studio.engine.shapes import ShapeChecker

from .helpers import assert_same_model


def _round_trip(model, sample):
    graph, weights = graph_from_model(model)
    rebuilt = compile_graph(graph, weights)
    assert_same_model(model, rebuilt, sample, atol=1e-5)
    checker = ShapeChecker(graph)
    assert checker.errors() == []
    assert checker.total_params() == model.count_params()
    return graph


def _images(shape, n=2):
    return np.random.RandomState(1).rand(n, *shape).astype("float32")


@pytest.mark.parametrize("ctor", ["MobileNetV2", "ResNet50", "EfficientNetB0"])
def test_keras_applications_round_trip(ctor):
    model = getattr(keras.applications, ctor)(weights=None, input_shape=(64, 64, 3), classes=7)
    graph = _round_trip(model, _images((64, 64, 3)))
    positions = {n.position for n in graph.nodes.values()}
    assert len(positions) == len(graph.nodes)  # laid out: nothing on top of anything else


def test_layout_puts_every_layer_below_its_inputs():
    model = keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=3)
    graph, _ = graph_from_model(model)
    assert len(graph.nodes) >= 230
    for e in graph.edges:
        assert graph.nodes[e.src].position[1] < graph.nodes[e.dst].position[1]


def test_multi_input_multi_output_round_trip():
    a = keras.Input((8,), name="a")
    b = keras.Input((4, 4, 1), name="b")
    fb = keras.layers.Flatten(name="fb")(b)
    x = keras.layers.Concatenate(name="cat")([a, fb])
    h = keras.layers.Dense(16, activation="relu", name="h")(x)
    o1 = keras.layers.Dense(1, name="score")(h)
    o2 = keras.layers.Dense(3, activation="softmax", name="cls")(h)
    model = keras.Model([a, b], [o2, o1])
    graph = _round_trip(model, [_images((8,)), _images((4, 4, 1))])
    assert [graph.nodes[i].name for i in graph.model_outputs()] == ["cls", "score"]
    assert [n.name for n in graph.input_nodes()] == ["a", "b"]


def test_sequential_round_trip():
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                              keras.layers.Dropout(0.3), keras.layers.Dense(10, activation="softmax")])
    _round_trip(model, _images((28, 28, 1)))


def test_sequential_built_without_input_layer():
    model = keras.Sequential([keras.layers.Dense(4), keras.layers.Dense(2)])
    model.build((None, 3))
    graph, weights = graph_from_model(model)
    rebuilt = compile_graph(graph, weights)
    x = _images((3,))
    assert np.abs(model.predict(x, verbose=0) - rebuilt.predict(x, verbose=0)).max() <= 1e-6


def test_wrappers_round_trip():
    inp = keras.Input((10, 6), name="tokens")
    x = keras.layers.Bidirectional(keras.layers.LSTM(8, return_sequences=True), name="bi")(inp)
    x = keras.layers.TimeDistributed(keras.layers.Dense(5, activation="relu"), name="td")(x)
    x = keras.layers.Bidirectional(keras.layers.GRU(4), merge_mode="sum", name="bi2")(x)
    out = keras.layers.Dense(2, activation="softmax", name="out")(x)
    _round_trip(keras.Model(inp, out), _images((10, 6)))


def test_multi_head_attention_block_round_trip():
    inp = keras.Input((12, 16), name="x")
    att = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8, name="mha")(inp, inp)
    x = keras.layers.LayerNormalization(name="ln1")(keras.layers.Add(name="res1")([inp, att]))
    ff = keras.layers.Dense(32, activation="relu", name="ff1")(x)
    ff = keras.layers.Dense(16, name="ff2")(ff)
    x = keras.layers.LayerNormalization(name="ln2")(keras.layers.Add(name="res2")([x, ff]))
    out = keras.layers.Dense(3, activation="softmax", name="out")(keras.layers.GlobalAveragePooling1D(name="gap")(x))
    graph = _round_trip(keras.Model(inp, out), _images((12, 16)))
    mha = graph.node_by_name("mha")
    assert sorted(graph.inputs_of(mha.id)) == [0, 1]


def test_cross_attention_with_kwargs_keeps_port_order():
    q = keras.Input((5, 8), name="q")
    v = keras.Input((7, 8), name="v")
    att = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(query=q, value=v)
    graph = _round_trip(keras.Model([q, v], att), [_images((5, 8)), _images((7, 8))])
    mha = graph.node_by_name("mha")
    names = {k: graph.nodes[src].name for k, (src, _) in graph.inputs_of(mha.id).items()}
    assert names == {0: "q", 1: "v"}


def test_a_shared_layer_imports_as_one_layer_and_a_use():
    a = keras.Input((4,))
    b = keras.Input((4,))
    shared = keras.layers.Dense(3, name="shared_dense")
    model = keras.Model([a, b], keras.layers.Add()([shared(a), shared(b)]))
    graph, weights = graph_from_model(model)
    use = graph.node_by_name("shared_dense_call2")
    assert use.config == {"shares": graph.node_by_name("shared_dense").id}
    assert_same_model(model, compile_graph(graph, weights), [_images((4,)), _images((4,))])


def test_nested_model_imports_as_a_block():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="encoder")
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(1)(inner(inp)))
    graph, weights = graph_from_model(model)
    block = graph.node_by_name("encoder")
    assert block.class_name == "Block" and block.config["kind"] == "sequential"
    assert_same_model(model, compile_graph(graph, weights), _images((4,)))


def test_keras_file_round_trip(tmp_path):
    inp = keras.Input((6,), name="x")
    out = keras.layers.Dense(3, activation="softmax", name="y")(keras.layers.Dense(5, name="h")(inp))
    model = keras.Model(inp, out)
    path = tmp_path / "m.keras"
    model.save(path)
    graph, weights = graph_from_keras_file(path)
    assert_same_model(model, compile_graph(graph, weights), _images((6,)))


def _keras_file_with_lambda(tmp_path, marker):
    """A .keras file whose Lambda would create `marker` if its code ever ran."""
    inp = keras.Input((3,), name="x")
    out = keras.layers.Lambda(lambda t: t * 2, name="doubler")(inp)
    path = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(path)
    # replace the lambda's code with code that writes a marker file when run
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(files["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Lambda":
            layer["config"]["function"] = {"class_name": "__lambda__", "config": {
                "code": f"open({str(marker)!r}, 'w').write('ran')", "defaults": None, "closure": None}}
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
    return path


def test_keras_file_with_lambda_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker.txt"
    path = _keras_file_with_lambda(tmp_path, marker)
    with pytest.raises(ImportRefused, match="'doubler' is of type 'Lambda'"):
        graph_from_keras_file(path)
    assert not marker.exists()


def test_keras_file_with_custom_layer_is_refused(tmp_path):
    @keras.saving.register_keras_serializable(package="test")
    class Twice(keras.layers.Layer):
        def call(self, x):
            return x * 2

    inp = keras.Input((3,))
    path = tmp_path / "custom.keras"
    keras.Model(inp, Twice(name="twice")(inp)).save(path)
    with pytest.raises(ImportRefused, match="'twice' is of type 'Twice'"):
        graph_from_keras_file(path)


def test_broken_keras_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip")
    with pytest.raises(ImportRefused, match="not a valid .keras file"):
        graph_from_keras_file(path)
    with pytest.raises(ImportRefused, match="no such file"):
        graph_from_keras_file(tmp_path / "missing.keras")


# -- hostile .keras files ---------------------------------------------------------------

def _small_keras(tmp_path, name="small.keras"):
    inp = keras.Input((3,), name="x")
    out = keras.layers.Dense(2, activation="relu", name="dense")(inp)
    path = tmp_path / name
    keras.Model(inp, out).save(path)
    return path


def _rewrite(path, config=None, files=None, compression=zipfile.ZIP_STORED):
    """Rewrite a .keras file with a changed config and/or member files."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if config is not None:
        members["config.json"] = json.dumps(config).encode() if not isinstance(config, bytes) else config
    members.update(files or {})
    with zipfile.ZipFile(path, "w", compression) as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return path


def _config(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("config.json"))


def test_config_that_inflates_past_the_limit_is_refused_from_its_size(tmp_path):
    path = _small_keras(tmp_path)
    bomb = b"[" + b" " * (100 * 2**20) + b"]"
    _rewrite(path, config=bomb, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImportRefused, match="config.json inflates to 104.9 MB"):
        graph_from_keras_file(path)


@pytest.mark.parametrize("mutate, message", [
    (lambda c: [c], "config.json holds a list, not a model description"),
    (lambda c: {**c, "config": "nope"}, "the model's config is not an object"),
    (lambda c: {**c, "config": {**c["config"], "layers": ["dense", "x"]}}, "layer 1 of the model's config is not a layer"),
    (lambda c: {**c, "config": {**c["config"], "layers": []}}, "has no list of layers"),
    (lambda c: {**c, "class_name": "Lambda"}, "not a Functional or Sequential model"),
])
def test_malformed_configs_are_refused(tmp_path, mutate, message):
    path = _small_keras(tmp_path)
    _rewrite(path, config=mutate(_config(path)))
    with pytest.raises(ImportRefused, match=message):
        graph_from_keras_file(path)


@pytest.mark.parametrize("field, value, message", [
    ("activation", {"module": "keras.config", "class_name": "set_epsilon"}, "keras.config.set_epsilon"),
    ("activation", "set_epsilon", "'set_epsilon', which is not an activation"),
    ("kernel_initializer", {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                            "registered_name": "builtins>eval"}, "'builtins>eval'"),
    ("kernel_initializer", {"module": "keras.config", "class_name": "set_floatx", "config": {"value": "float16"}},
     "keras.config.set_floatx"),
])
def test_non_allow_listed_objects_are_refused_by_name_and_nothing_is_called(tmp_path, field, value, message):
    path = _small_keras(tmp_path)
    config = _config(path)
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Dense":
            layer["config"][field] = value
    _rewrite(path, config=config)
    epsilon, floatx = keras.config.epsilon(), keras.config.floatx()
    with pytest.raises(ImportRefused, match=message):
        graph_from_keras_file(path)
    assert keras.config.epsilon() == epsilon and keras.config.floatx() == floatx


def test_a_folder_is_not_a_keras_file(tmp_path):
    with pytest.raises(ImportRefused, match="is a folder, not a .keras file"):
        graph_from_keras_file(tmp_path)


def _weights_file(tmp_path, build):
    import h5py
    h5 = tmp_path / "w.h5"
    with h5py.File(h5, "w") as f:
        build(f)
    return h5.read_bytes()


def test_weights_declaring_a_huge_array_are_refused_from_the_declared_shape(tmp_path):
    path = _small_keras(tmp_path)
    data = _weights_file(tmp_path, lambda f: f.create_dataset(
        "layers/dense/vars/0", shape=(2**32, 1), dtype="float32", chunks=(1024, 1), compression="gzip"))
    assert len(data) < 20_000
    _rewrite(path, files={"model.weights.h5": data})
    with pytest.raises(ImportRefused, match=r"declares shape \(4294967296, 1\) \(17.2 GB\)"):
        graph_from_keras_file(path)


def test_weights_linking_to_other_files_are_refused(tmp_path):
    import h5py
    path = _small_keras(tmp_path)
    data = _weights_file(tmp_path, lambda f: f.__setitem__("layers", h5py.ExternalLink("/etc/passwd", "/x")))
    _rewrite(path, files={"model.weights.h5": data})
    with pytest.raises(ImportRefused, match="links to another file"):
        graph_from_keras_file(path)
    data = _weights_file(tmp_path, lambda f: f.create_dataset(
        "layers/dense/vars/0", shape=(3, 2), dtype="float32", external=[("/dev/zero", 0, 24)]))
    _rewrite(path, files={"model.weights.h5": data})
    with pytest.raises(ImportRefused, match="reads its data from other files"):
        graph_from_keras_file(path)


def test_a_model_declaring_billions_of_parameters_is_refused_before_keras_builds_it(tmp_path):
    path = _small_keras(tmp_path)
    config = _config(path)
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_shape"] = [None, 50_000]
        if layer["class_name"] == "Dense":
            layer["config"]["units"] = 50_000
            layer["build_config"] = {"input_shape": [None, 50_000]}
    _rewrite(path, config=config)
    with pytest.raises(ImportRefused, match=r"declares 2,500,050,000 parameters \(10.0 GB as float32\)"):
        graph_from_keras_file(path)
