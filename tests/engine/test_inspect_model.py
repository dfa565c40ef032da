"""Looking inside a model: layer outputs, Grad-CAM against a reference, filter patterns, histograms."""

import numpy as np
import pytest

from studio.engine import datasets, inspect_model, templates
from studio.engine.compiler import compile_graph
from studio.engine.inspect_model import InspectError, ModelInspector


@pytest.fixture(scope="module")
def tiny():
    """A hand-built conv model: two convolutions (relu, tanh), a dense softmax on top."""
    import keras
    keras.utils.set_random_seed(11)
    inp = keras.Input((10, 10, 2), name="image")
    a = keras.layers.Conv2D(4, 3, activation="relu", name="conv_a")(inp)
    b = keras.layers.Conv2D(3, 3, activation="tanh", name="conv_b")(a)
    out = keras.layers.Dense(5, activation="softmax", name="classes")(keras.layers.Flatten(name="flat")(b))
    model = keras.Model(inp, out)
    # bigger weights than the initialiser's, so the gradients are far from zero
    for layer in model.layers:
        if layer.get_weights():
            layer.set_weights([w * 3 + 0.05 for w in layer.get_weights()])
    return model


def _conv(x, kernel, bias):
    """A 'valid' 2-D convolution written out in numpy: (h, w, cin) -> (h-k+1, w-k+1, cout)."""
    k = kernel.shape[0]
    h, w = x.shape[0] - k + 1, x.shape[1] - k + 1
    out = np.empty((h, w, kernel.shape[3]))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.tensordot(x[i:i + k, j:j + k], kernel, axes=([0, 1, 2], [0, 1, 2])) + bias
    return out


def _reference_grad_cam(model, x, layer_name, class_index):
    """Grad-CAM with the gradients taken by central finite differences on a float64 numpy
    forward pass from the layer's maps to the class's logit (before the softmax)."""
    conv_a, conv_b, dense = (model.get_layer(n).get_weights() for n in ("conv_a", "conv_b", "classes"))
    a = np.maximum(_conv(x[0].astype(np.float64), *conv_a), 0.0)

    if layer_name == "conv_a":
        maps = a

        def logit(m):
            return np.tanh(_conv(m, *conv_b)).ravel() @ dense[0][:, class_index] + dense[1][class_index]
    else:
        maps = np.tanh(_conv(a, *conv_b))

        def logit(m):
            return m.ravel() @ dense[0][:, class_index] + dense[1][class_index]

    grads = np.zeros_like(maps)
    eps = 1e-4
    for idx in np.ndindex(maps.shape):
        up, down = maps.copy(), maps.copy()
        up[idx] += eps
        down[idx] -= eps
        grads[idx] = (logit(up) - logit(down)) / (2 * eps)
    weights = grads.mean(axis=(0, 1))
    cam = np.maximum((maps * weights).sum(axis=-1), 0.0)
    return cam / cam.max() if cam.max() > 0 else cam, logit(maps)


def test_grad_cam_matches_a_finite_difference_reference(tiny):
    x = np.random.default_rng(5).normal(size=(1, 10, 10, 2)).astype("float32")
    inspector = ModelInspector(tiny)
    assert inspector.conv_layers() == ["conv_a", "conv_b"] and inspector.last_conv_layer() == "conv_b"
    probabilities = tiny(x).numpy()[0]
    checked = 0
    for layer in ("conv_a", "conv_b"):
        for class_index in range(5):
            ref, _ = _reference_grad_cam(tiny, x, layer, class_index)
            got = inspector.grad_cam(x, class_index, layer)
            assert got.cam.shape == ref.shape
            assert got.class_index == class_index and got.predicted == int(probabilities.argmax())
            if ref.max() > 0:
                np.testing.assert_allclose(got.cam, ref, atol=2e-3)
                checked += 1
            assert got.heatmap.shape == (10, 10)
            assert 0.0 <= got.heatmap.min() and got.heatmap.max() <= 1.0 + 1e-9
    assert checked >= 6
    default = inspector.grad_cam(x)                       # predicted class, last conv layer
    assert default.layer == "conv_b" and default.class_index == int(probabilities.argmax())
    np.testing.assert_allclose(default.probabilities, probabilities, rtol=1e-5)


def test_grad_cam_refuses_what_it_cannot_do(tiny):
    inspector = ModelInspector(tiny)
    x = np.zeros((1, 10, 10, 2), "float32")
    with pytest.raises(InspectError, match="2-D feature maps"):
        inspector.grad_cam(x, layer_name="classes")
    with pytest.raises(InspectError, match="out of range"):
        inspector.grad_cam(x, class_index=7)
    with pytest.raises(InspectError, match="no layer"):
        inspector.grad_cam(x, layer_name="nope")


@pytest.fixture(scope="module")
def convnet():
    project = templates.build("mnist_convnet")
    return project, compile_graph(project.graph)


def test_activation_shapes_per_layer(convnet):
    project, model = convnet
    ds = datasets.bundled_sample()
    pre = datasets.Preprocess.from_dict(project.dataset["preprocess"])
    x = inspect_model.model_input(model, pre, ds.x_test[0])
    assert x.shape == (1, 28, 28, 1) and x.max() > 1          # the model rescales inside
    inspector = ModelInspector(model)
    expected = {"digits": (1, 28, 28, 1), "scale": (1, 28, 28, 1), "conv1": (1, 26, 26, 32),
                "pool1": (1, 13, 13, 32), "conv2": (1, 11, 11, 64), "pool2": (1, 5, 5, 64),
                "conv3": (1, 3, 3, 128), "flatten": (1, 1152), "classes": (1, 10)}
    for node in project.graph.nodes.values():
        out = inspector.output_of(node.name, x)
        assert out.shape == expected[node.name], node.name
    np.testing.assert_allclose(inspector.output_of("classes", x), model(x).numpy(), rtol=1e-5)
    np.testing.assert_allclose(inspector.output_of("scale", x), x / 255, rtol=1e-6)
    assert inspector.conv_layers() == ["conv1", "conv2", "conv3"]
    assert inspect_model.image_shape(model) == (28, 28, 1)
    assert inspect_model.image_shape(model, (28, 28)) == (28, 28)


def test_image_shape_of_other_models():
    import keras
    flat = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
    assert inspect_model.image_shape(flat) is None
    assert inspect_model.image_shape(flat, (28, 28)) == (28, 28)
    colour = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(4)])
    assert inspect_model.image_shape(colour) == (32, 32, 3)
    regression = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    assert inspect_model.image_shape(regression) is None


def test_filter_patterns_raise_the_filter_activation(convnet):
    project, model = convnet
    inspector = ModelInspector(model)
    progress = list(inspector.filter_patterns("conv1", count=2, steps=12, value_range=(0, 255)))
    assert [p.done for p in progress] == list(range(1, 25))
    finished = [p for p in progress if p.pattern is not None]
    assert [p.filter_index for p in finished] == [0, 1]
    for p in finished:
        assert p.pattern.shape == (28, 28, 1)
        assert 0 <= p.pattern.min() and p.pattern.max() <= 255
        assert p.activation_end > p.activation_start, (p.activation_start, p.activation_end)
        shown = inspect_model.pattern_image(p.pattern)
        assert shown.dtype == np.uint8 and shown.shape == (22, 22, 1)     # the book's border crop
    # a relu filter that is off at the grey start still gets a pattern (its response before the relu)
    for p in inspector.filter_patterns("conv3", count=4, steps=8, value_range=(0, 255)):
        if p.pattern is not None:
            assert p.activation_end > p.activation_start, (p.filter_index, p.activation_start, p.activation_end)
    # a generator: stopping it stops the work
    gen = inspector.filter_patterns("conv2", count=3, steps=10, value_range=(0, 255))
    first = next(gen)
    gen.close()
    assert first.done == 1 and first.total == 30
    with pytest.raises(InspectError):
        next(inspector.filter_patterns("flatten"))


def test_histogram_counts_sum_to_the_weight_count(convnet):
    _, model = convnet
    layer = model.get_layer("conv2")
    hists = inspect_model.histograms(layer, bins=25)
    assert [h.name for h in hists] == ["kernel", "bias"]
    assert [int(h.counts.sum()) for h in hists] == [3 * 3 * 32 * 64, 64]
    assert hists[0].shape == (3, 3, 32, 64) and len(hists[0].edges) == 26
    assert hists[0].stats["min"] == pytest.approx(float(layer.get_weights()[0].min()))
    assert inspect_model.histograms(model.get_layer("pool1")) == []
    plain = inspect_model.histograms([np.arange(10.0)], bins=5, names=["w"])
    assert plain[0].counts.tolist() == [2, 2, 2, 2, 2]
