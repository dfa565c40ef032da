"""Every keras.applications constructor in the pinned Keras (weights=None, small inputs)
imports, checks, compiles, exports and generates code exactly: the same layer classes,
configs and wiring, the same parameter counts (trainable and not), and the same
predictions within 1e-5, on the outputs and on an intermediate feature.

One model per family runs in CI; the whole list with ``-m slow``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from studio.engine.codegen import generate
from studio.engine.compiler import compile_graph
from studio.engine.importer import graph_from_keras_file, graph_from_model
from studio.engine.shapes import ShapeChecker

from .test_codegen_exact import assert_same_model

# the smallest input each family accepts with its classifier on (weights=None)
SIZES = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71, "NASNetLarge": 331}
# the model per family that runs in CI (the others: -m slow)
IN_CI = {"ConvNeXtTiny", "DenseNet121", "EfficientNetB0", "EfficientNetV2B0", "InceptionV3", "InceptionResNetV2",
         "MobileNet", "MobileNetV2", "MobileNetV3Small", "NASNetMobile", "ResNet50", "ResNet50V2", "VGG16",
         "Xception"}


def _constructors() -> list[str]:
    import keras
    return sorted(n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n)))


def _params(model) -> tuple[int, int]:
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return trainable, model.count_params() - trainable


def _run(model, x) -> np.ndarray:
    """One forward pass, called directly (``predict`` would trace a function for each model)."""
    return np.asarray(model(x, training=False))


def _middle_feature(model):
    """A model from the input to a layer half way through (an intermediate feature)."""
    import keras
    layers = [layer for layer in model.layers if layer.weights]
    layer = layers[len(layers) // 2]
    return keras.Model(model.inputs, layer.output), layer.name


@pytest.mark.parametrize("name", [n if n in IN_CI else pytest.param(n, marks=pytest.mark.slow)
                                  for n in _constructors()])
def test_every_application_round_trips_exactly(name, tmp_path):
    import keras
    size = SIZES.get(name, 32)
    original = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10)
    graph, weights = graph_from_model(original)
    checker = ShapeChecker(graph)
    checker.refresh()
    assert not checker.errors(), checker.errors()[:3]
    assert checker.total_params() == original.count_params()

    rebuilt = compile_graph(graph, weights)
    x = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype(np.float32)
    expected = _run(original, x)
    assert np.abs(_run(rebuilt, x) - expected).max() <= 1e-5
    feature, layer_name = _middle_feature(original)
    rebuilt_feature = keras.Model(rebuilt.inputs, rebuilt.get_layer(layer_name).output)
    assert np.abs(_run(rebuilt_feature, x) - _run(feature, x)).max() <= 1e-5
    assert _params(rebuilt) == _params(original)

    path = tmp_path / f"{name}.keras"
    rebuilt.save(path)
    again, again_weights = graph_from_keras_file(path)
    assert [n.name for n in again.nodes.values()] == [n.name for n in graph.nodes.values()]
    assert np.abs(_run(compile_graph(again, again_weights), x) - expected).max() <= 1e-5

    namespace: dict = {}
    exec(compile(generate(graph), f"<{name}>", "exec"), namespace)  # noqa: S102 - our own output
    assert_same_model(original, namespace["build_model"]())
