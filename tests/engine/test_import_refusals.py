"""Import refuses what it cannot reproduce exactly, naming the layer or operation."""

from __future__ import annotations

import pytest

from studio.engine.importer import ImportRefused, graph_from_keras_file, graph_from_model


def test_mobilenet_v3_hard_sigmoid_constant_is_refused_by_name():
    import keras

    model = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, minimalistic=False,
                                                include_top=False, include_preprocessing=False)
    with pytest.raises(ImportRefused, match=r"operation '\w+' .*applied to the output of '[\w]+'.*"
                                            r"takes a constant \((3\.0|0\.1666)"):
        graph_from_model(model)


def test_python_arithmetic_with_a_constant_is_refused(tmp_path):
    import keras

    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(3, name="d")(inputs)
    model = keras.Model(inputs, h + 3.0, name="plus")
    with pytest.raises(ImportRefused, match=r"'d'.*takes a constant \(3\.0\)"):
        graph_from_model(model)
    path = tmp_path / "plus.keras"
    model.save(path)
    with pytest.raises(ImportRefused, match=r"takes a constant \(3\.0\)"):
        graph_from_keras_file(path)


def test_operation_outside_the_merge_layers_is_refused_by_name():
    import keras

    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.ops.not_equal(inputs, 0), name="mask")
    with pytest.raises(ImportRefused, match=r"operation '\w+' \(keras\.src\.ops\.numpy\.NotEqual\)"):
        graph_from_model(model)


def test_adding_two_tensors_of_the_same_shape_imports_as_an_add_layer():
    import keras
    import numpy as np

    from studio.engine.compiler import compile_graph

    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    model = keras.Model([a, b], a + b, name="sum")
    graph, _ = graph_from_model(model)
    assert [n.class_name for n in graph.nodes.values()].count("Add") == 1
    x, y = np.ones((2, 4), "float32"), np.arange(8, dtype="float32").reshape(2, 4)
    np.testing.assert_array_equal(compile_graph(graph).predict([x, y], verbose=0), model.predict([x, y], verbose=0))


def test_broadcasting_arithmetic_is_refused():
    import keras

    a = keras.Input((4,), name="a")
    b = keras.Input((1,), name="b")
    model = keras.Model([a, b], a * b, name="scale")
    with pytest.raises(ImportRefused, match="different shapes"):
        graph_from_model(model)


def test_dict_outputs_are_refused_in_one_sentence():
    import keras

    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, {"score": keras.layers.Dense(1, name="score")(inputs),
                                 "label": keras.layers.Dense(3, name="label")(inputs)}, name="heads")
    with pytest.raises(ImportRefused, match="outputs are a dict") as info:
        graph_from_model(model)
    assert "\n" not in str(info.value)


def test_multi_head_attention_with_an_attention_mask_is_refused_by_name():
    import keras

    q = keras.Input((5, 8), name="q")
    mask = keras.Input((5, 5), name="mask", dtype="bool")
    out = keras.layers.MultiHeadAttention(2, 4, name="mha")(q, q, attention_mask=mask)
    model = keras.Model([q, mask], out, name="masked")
    with pytest.raises(ImportRefused, match=r"'mha'.*attention_mask"):
        graph_from_model(model)
