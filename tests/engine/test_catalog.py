import keras
import pytest

from studio.engine import catalog, keras_bridge
from studio.engine.graph import ModelGraph
from studio.engine.shapes import ShapeChecker

REQUIRED = """InputLayer Dense Activation Dropout Flatten Reshape Permute RepeatVector Embedding Identity
Conv1D Conv2D Conv3D SeparableConv1D SeparableConv2D DepthwiseConv2D Conv1DTranspose Conv2DTranspose
Conv3DTranspose MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D AveragePooling2D AveragePooling3D
GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D GlobalAveragePooling1D GlobalAveragePooling2D
GlobalAveragePooling3D BatchNormalization LayerNormalization GroupNormalization UnitNormalization
SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianNoise GaussianDropout AlphaDropout
ActivityRegularization SimpleRNN LSTM GRU ConvLSTM2D Bidirectional TimeDistributed MultiHeadAttention
Attention AdditiveAttention Add Subtract Multiply Average Maximum Minimum Concatenate Dot UpSampling1D
UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D Cropping1D Cropping2D Cropping3D ReLU
LeakyReLU PReLU ELU Softmax Rescaling Normalization Resizing CenterCrop RandomFlip RandomRotation RandomZoom
RandomTranslation RandomContrast RandomCrop""".split()

# a sample input that suits each family of layer
SAMPLE_INPUTS = [(None, 16, 16, 32), (None, 10, 8), (None, 16), (None, 4, 8, 8, 3), (None, 3, 8, 8, 2)]


def test_every_required_layer_is_in_the_catalog():
    missing = [n for n in REQUIRED if n not in catalog.SPECS]
    assert not missing


def test_code_running_layers_are_not_in_the_catalog():
    assert "Lambda" not in catalog.SPECS
    with pytest.raises(catalog.UnknownLayerError, match="Lambda"):
        catalog.spec("Lambda")


@pytest.mark.parametrize("name", sorted(catalog.layer_names()))
def test_spec_is_complete(name):
    s = catalog.spec(name)
    assert s.category in catalog.CATEGORIES
    assert len(s.description) > 10
    if name == "Block":
        assert catalog.keras_class(name) is keras.Model
    elif name in catalog.APPLICATION_LAYERS:  # Keras's own, from its keras.applications module
        assert catalog.keras_class(name).__module__ == catalog.APPLICATION_LAYERS[name]
    else:
        assert hasattr(keras.layers, name)
    names = [p.name for p in catalog.params(name)]
    assert len(names) == len(set(names))
    for primary in s.primary:
        assert primary in names, f"{name}: primary parameter {primary} not among {names}"
    # primary parameters come first
    assert names[:len(s.primary)] == list(s.primary)


def test_parameters_come_from_keras_with_overlay():
    p = {x.name: x for x in catalog.params("Conv2D")}
    assert p["filters"].kind == "int" and p["filters"].min == 1
    assert p["padding"].kind == "choice" and set(p["padding"].choices) == {"valid", "same"}
    assert p["activation"].choices and "relu" in p["activation"].choices
    assert p["kernel_initializer"].default == "glorot_uniform"
    assert p["use_bias"].kind == "bool" and p["use_bias"].default is True
    assert p["kernel_size"].kind == "tuple"
    assert "causal" in catalog.param("Conv1D", "padding").choices
    assert catalog.param("Dense", "units").required


def test_input_arity():
    assert catalog.spec("InputLayer").max_inputs == 0
    assert catalog.spec("Dense").min_inputs == catalog.spec("Dense").max_inputs == 1
    assert catalog.spec("Add").max_inputs is None and catalog.spec("Add").min_inputs == 2
    assert catalog.spec("Subtract").max_inputs == 2
    mha = catalog.spec("MultiHeadAttention")
    assert [p.name for p in mha.ports] == ["query", "value", "key"]
    assert mha.min_inputs == 2 and mha.max_inputs == 3 and mha.ports[2].optional


def test_search_and_summary():
    hits = [s.class_name for s in catalog.search("conv2d")]
    assert hits[0] == "Conv2D"
    assert "Conv2DTranspose" in hits
    assert catalog.key_params_text("Conv2D", {"filters": 32, "kernel_size": [3, 3], "activation": "relu"}) == "32 3×3 relu"


@pytest.mark.parametrize("name", sorted(n for n in catalog.layer_names() if n not in ("InputLayer", "Block")))  # blocks: test_blocks
def test_default_layer_checks_and_counts_params_like_keras(name):
    """The fast (shape-only weights) check agrees with a real Keras build."""
    s = catalog.spec(name)
    cfg = s.default_config()
    checker = ShapeChecker(ModelGraph())
    for shape in SAMPLE_INPUTS:
        shapes = [shape] * max(1, s.min_inputs)
        result = checker._infer_uncached(name, cfg, shapes, ["float32"] * len(shapes))
        if result.error is None:
            break
    assert result.error is None, f"{name} accepts none of the sample inputs: {result.error}"
    layer = keras_bridge.make_layer(name, "x", cfg)
    out = keras_bridge.call_layer(layer, name, [keras.KerasTensor(sh) for sh in shapes])
    assert result.params == layer.count_params()
    assert result.outputs == [tuple(t.shape) for t in keras.tree.flatten(out)]
    assert result.dtypes == [str(t.dtype) for t in keras.tree.flatten(out)]


@pytest.mark.parametrize("name", sorted(n for n in catalog.layer_names() if n not in ("InputLayer", "Block")))  # blocks: test_blocks
def test_fast_check_refuses_exactly_what_keras_refuses(name):
    """For every sample input, the fast check errs exactly when calling the layer errs."""
    s = catalog.spec(name)
    cfg = s.default_config()
    checker = ShapeChecker(ModelGraph())
    for shape in SAMPLE_INPUTS + [(None,)]:
        shapes = [shape] * max(1, s.min_inputs)
        result = checker._infer_uncached(name, cfg, shapes, ["float32"] * len(shapes))
        layer = keras_bridge.make_layer(name, "x", cfg)
        try:
            out = keras_bridge.call_layer(layer, name, [keras.KerasTensor(sh) for sh in shapes])
            expected = [tuple(t.shape) for t in keras.tree.flatten(out)]
            if any(d is not None and d <= 0 for sh in expected for d in sh):
                expected = None
        except Exception:
            expected = None
        if expected is None:
            assert result.error is not None, (name, shape)
        else:
            assert result.error is None and result.outputs == expected, (name, shape, result.error)
