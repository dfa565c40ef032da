"""Import refuses what it cannot reproduce exactly, naming the layer or operation."""

from __future__ import annotations

import pytest

from studio.engine.importer import ImportRefused, graph_from_keras_file, graph_from_model


def test_an_array_constant_is_refused_by_name(tmp_path):
    """Operations keep plain constants (x + 3.0); an array constant is refused, never dropped."""
    import keras
    import numpy as np

    inputs = keras.Input((3,), name="x")
    h = keras.layers.Dense(3, name="d")(inputs)
    model = keras.Model(inputs, h * np.array([1.0, 2.0, 3.0], "float32"), name="scaled")
    with pytest.raises(ImportRefused, match=r"operation 'multiply(_\d+)?' \(keras\.src\.ops\.numpy\.Multiply\) "
                                            r"\(applied to the output of 'd'\) takes the constant x2=.*__numpy__"):
        graph_from_model(model)
    path = tmp_path / "scaled.keras"
    model.save(path)
    with pytest.raises(ImportRefused, match=r"takes the constant x2="):
        graph_from_keras_file(path)


def test_operation_outside_the_catalog_is_refused_by_name(tmp_path):
    import keras

    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.ops.sin(keras.layers.Dense(4, name="d")(inputs)), name="wave")
    with pytest.raises(ImportRefused, match=r"operation 'sin' \(keras\.src\.ops\.numpy\.Sin\) \(applied to the "
                                            r"output of 'd'\) is a Keras operation that Layer Studio does not keep "
                                            r"\(it keeps .*NotEqual"):
        graph_from_model(model)
    path = tmp_path / "wave.keras"
    model.save(path)
    with pytest.raises(ImportRefused, match=r"keras\.src\.ops\.numpy\.Sin"):
        graph_from_keras_file(path)


def test_an_operation_from_another_module_is_refused():
    """An operation is known by its module and class together: an 'Add' from elsewhere is not ops.Add."""
    from studio.engine.importer import check_layer_entries

    entry = {"module": "keras.src.ops.nn", "class_name": "Add", "config": {"name": "add"},
             "inbound_nodes": [{"args": [], "kwargs": {}}]}
    with pytest.raises(ImportRefused, match=r"keras\.src\.ops\.nn\.Add\) is a Keras operation"):
        check_layer_entries([entry], "model")


def test_a_tensor_inside_an_index_is_refused():
    import keras

    x = keras.Input((4, 3), name="x")
    i = keras.Input((), name="i", dtype="int32")
    model = keras.Model([x, i], keras.ops.take(x, i, axis=1), name="gather")
    graph, _ = graph_from_model(model)      # a tensor as the indices of take is an input port
    assert graph.node_by_name("take").class_name == "ops.Take"
    entry = {"module": "keras.src.ops.numpy", "class_name": "GetItem", "config": {"name": "get_item"},
             "inbound_nodes": [{"args": [_ref("x"), [0, _ref("i")]], "kwargs": {}}]}
    from studio.engine.importer import check_layer_entries
    with pytest.raises(ImportRefused, match="mixes tensors into a constant"):
        check_layer_entries([entry], "model")


def _ref(name):
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "dtype": "float32",
                                                         "keras_history": [name, 0, 0]}}


def test_adding_two_tensors_imports_as_the_add_operation_keras_wrote():
    import keras
    import numpy as np

    from studio.engine.compiler import compile_graph

    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    model = keras.Model([a, b], a + b, name="sum")
    graph, _ = graph_from_model(model)
    assert [n.class_name for n in graph.nodes.values()].count("ops.Add") == 1
    x, y = np.ones((2, 4), "float32"), np.arange(8, dtype="float32").reshape(2, 4)
    np.testing.assert_array_equal(compile_graph(graph).predict([x, y], verbose=0), model.predict([x, y], verbose=0))


def test_broadcasting_arithmetic_imports_exactly():
    import keras
    import numpy as np

    from studio.engine.compiler import compile_graph

    a = keras.Input((4,), name="a")
    b = keras.Input((1,), name="b")
    model = keras.Model([a, b], a * b, name="scale")
    graph, _ = graph_from_model(model)
    x, y = np.ones((2, 4), "float32") * 3, np.arange(2, dtype="float32").reshape(2, 1)
    np.testing.assert_array_equal(compile_graph(graph).predict([x, y], verbose=0), model.predict([x, y], verbose=0))


def test_an_operation_called_with_keyword_arguments_is_refused():
    from studio.engine.importer import check_layer_entries

    entry = {"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "add"},
             "inbound_nodes": [{"args": [_ref("x")], "kwargs": {"x2": 3.0}}]}
    with pytest.raises(ImportRefused, match=r"'add'.*keyword arguments \(x2\)"):
        check_layer_entries([entry], "model")


def test_a_layer_called_with_a_constant_positional_argument_is_still_refused():
    from studio.engine.importer import check_layer_entries

    entry = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2},
             "inbound_nodes": [{"args": [_ref("x"), 3.0], "kwargs": {}}]}
    with pytest.raises(ImportRefused, match=r"'d' is called with a constant argument \(3\.0\)"):
        check_layer_entries([entry], "model")


def test_a_shared_operation_is_refused():
    from studio.engine.importer import check_layer_entries

    call = {"args": [_ref("x"), 3.0], "kwargs": {}}
    entry = {"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "add"},
             "inbound_nodes": [call, call]}
    with pytest.raises(ImportRefused, match=r"operation 'add' is called at 2 places"):
        check_layer_entries([entry], "model")


def test_dict_outputs_are_refused_in_one_sentence():
    import keras

    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, {"score": keras.layers.Dense(1, name="score")(inputs),
                                 "label": keras.layers.Dense(3, name="label")(inputs)}, name="heads")
    with pytest.raises(ImportRefused, match="outputs are a dict") as info:
        graph_from_model(model)
    assert "\n" not in str(info.value)


def test_a_layer_keyword_argument_mixing_tensors_and_constants_is_refused():
    from studio.engine.importer import check_layer_entries

    entry = {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "lstm", "units": 2},
             "inbound_nodes": [{"args": [_ref("x")], "kwargs": {"initial_state": [_ref("h"), 0.0]}}]}
    with pytest.raises(ImportRefused, match=r"'lstm' is called with initial_state=.*mixes tensors and constants"):
        check_layer_entries([entry], "model")


def test_a_tensor_keyword_argument_of_a_merge_layer_is_refused():
    from studio.engine.importer import check_layer_entries

    entry = {"module": "keras.layers", "class_name": "Concatenate", "config": {"name": "cat"},
             "inbound_nodes": [{"args": [[_ref("x"), _ref("y")]], "kwargs": {"mask": [_ref("m"), None]}}]}
    with pytest.raises(ImportRefused, match=r"'cat' \(Concatenate\) takes any number of inputs"):
        check_layer_entries([entry], "model")


def test_an_archive_with_two_members_of_one_name_is_refused(tmp_path):
    """The importer and Keras could each read a different one: refused, whichever comes first."""
    import json
    import warnings
    import zipfile

    import keras

    from studio.engine.errors import exit_code_for

    inputs = keras.Input((4,), name="x")
    good = tmp_path / "good.keras"
    keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs)).save(good)
    twice = tmp_path / "twice.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(twice, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zf.writestr("config.json", json.dumps({"class_name": "Lambda"}))
        for name in src.namelist():
            zf.writestr(name, src.read(name))
    with pytest.raises(ImportRefused, match="holds two files named 'config.json'") as info:
        graph_from_keras_file(twice)
    assert exit_code_for(info.value) == 2
    graph_from_keras_file(good)
