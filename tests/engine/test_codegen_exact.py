"""Generated code is exact: for one keras.applications model per family, the
model built by the generated code has the same layers, every layer's config
and the same connectivity as the model that was imported; a family the
importer refuses is refused with a message naming the layer."""

from __future__ import annotations

import pytest

from studio.engine.codegen import generate, normalize_config
from studio.engine.importer import ImportRefused, graph_from_model

# (constructor, input size, expected refusal text or None); CI runs one model per family in
# test_applications.py (generated code included), so these run with -m slow
FAMILIES = [
    pytest.param("DenseNet121", 32, None, marks=pytest.mark.slow),
    pytest.param("ResNet50", 32, None, marks=pytest.mark.slow),
    pytest.param("MobileNetV2", 32, None, marks=pytest.mark.slow),
    pytest.param("ResNet50V2", 32, None, marks=pytest.mark.slow),
    pytest.param("InceptionV3", 75, None, marks=pytest.mark.slow),
    pytest.param("Xception", 71, None, marks=pytest.mark.slow),
    pytest.param("NASNetMobile", 32, None, marks=pytest.mark.slow),
    pytest.param("EfficientNetB0", 32, None, marks=pytest.mark.slow),
    pytest.param("VGG16", 32, None, marks=pytest.mark.slow),
    pytest.param("ConvNeXtTiny", 32, None, marks=pytest.mark.slow),
    pytest.param("InceptionResNetV2", 75, None, marks=pytest.mark.slow),
]


def _layers_by_name(model) -> dict[str, dict]:
    """Every layer's class, config and inbound nodes, normalised (tuples vs lists)."""
    cfg = model.get_config()
    return {e["name"]: normalize_config({"class_name": e["class_name"], "module": e.get("module"),
                                         "config": e["config"], "inbound_nodes": e.get("inbound_nodes")})
            for e in cfg["layers"]}


def assert_same_model(original, rebuilt) -> None:
    a, b = _layers_by_name(original), _layers_by_name(rebuilt)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], f"layer '{name}' differs"
    ca, cb = original.get_config(), rebuilt.get_config()
    assert normalize_config(ca["input_layers"]) == normalize_config(cb["input_layers"])
    assert normalize_config(ca["output_layers"]) == normalize_config(cb["output_layers"])
    assert original.count_params() == rebuilt.count_params()


def check_family(constructor: str, size: int, refusal: str | None) -> None:
    import keras

    build = getattr(keras.applications, constructor, None)
    if build is None:
        pytest.skip(f"keras.applications has no {constructor}")
    model = build(weights=None, input_shape=(size, size, 3), classes=10)
    if refusal is not None:
        with pytest.raises(ImportRefused, match=refusal):
            graph_from_model(model)
        return
    graph, _ = graph_from_model(model)
    namespace: dict = {}
    exec(compile(generate(graph), f"<{constructor}>", "exec"), namespace)  # noqa: S102 - our own output
    assert_same_model(model, namespace["build_model"]())


@pytest.mark.parametrize("constructor,size,refusal", FAMILIES)
def test_generated_code_rebuilds_the_imported_model_exactly(constructor, size, refusal):
    check_family(constructor, size, refusal)


def test_pooling_strides_that_differ_from_pool_size_are_written():
    import keras

    inputs = keras.Input((24, 24, 3), name="x")
    y = keras.layers.MaxPooling2D(pool_size=3, strides=2, name="p")(inputs)
    y = keras.layers.AveragePooling2D(pool_size=2, strides=1, name="q")(y)
    y = keras.layers.MaxPooling2D(pool_size=2, name="r")(y)
    model = keras.Model(inputs, y, name="pools")
    graph, _ = graph_from_model(model)
    code = generate(graph)
    assert "strides=(2, 2)" in code and "strides=(1, 1)" in code
    namespace: dict = {}
    exec(compile(code, "<pools>", "exec"), namespace)  # noqa: S102
    assert_same_model(model, namespace["build_model"]())
