"""The layer catalog: which Keras layers a graph may hold and how to edit them.

The static part (category, ports, description) is a table below and needs no
Keras import, so a palette can be drawn before TensorFlow has loaded. The
parameter list of each layer (names, defaults, kinds) is derived from the Keras
class's constructor on first use, refined by a small curated overlay (choice
lists, ranges, which parameters to show first). Adding a Keras layer to the
catalog is one line in ``_TABLE``.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# -- choice lists ----------------------------------------------------------

ACTIVATIONS = [
    "linear", "relu", "sigmoid", "softmax", "tanh", "elu", "selu", "gelu",
    "silu", "swish", "softplus", "softsign", "relu6", "leaky_relu",
    "hard_sigmoid", "hard_silu", "exponential", "mish", "log_softmax",
]
INITIALIZERS = [
    "glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
    "lecun_normal", "lecun_uniform", "orthogonal", "random_normal",
    "random_uniform", "truncated_normal", "zeros", "ones",
]
REGULARIZERS = [None, "l1", "l2", "l1l2", "orthogonal_regularizer"]
CONSTRAINTS = [None, "max_norm", "min_max_norm", "non_neg", "unit_norm"]
DATA_FORMATS = [None, "channels_last", "channels_first"]
INTERPOLATIONS = ["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5", "area"]
FILL_MODES = ["constant", "reflect", "wrap", "nearest"]

# -- the table -----------------------------------------------------------------
# class name | category | inputs | parameters shown first | description
# inputs: "0" (model input), "1", "2", "2+" (two or more), or port names
# separated by "/" where a trailing "?" marks an optional port.

_TABLE = """
InputLayer | Input | 0 | shape,dtype | A model input: the shape of one sample, without the batch axis
Block | Blocks | 1+ | trainable | A model inside the model (a Sequential or functional block): open it to see and edit its layers
LayerScale | Applications | 1 | init_values,projection_dim | ConvNeXt's learned scale per channel (keras.applications.convnext)
CustomScaleLayer | Applications | 2 | scale | Inception-ResNet's scaled residual sum: first + second × scale (keras.applications.inception_resnet_v2)
Dense | Core | 1 | units,activation,use_bias | Fully connected layer: every input feeds every unit
Activation | Core | 1 | activation | Applies an activation function element-wise
Dropout | Regularization | 1 | rate | Randomly zeroes a fraction of inputs during training
Flatten | Reshaping | 1 | | Flattens each sample to one dimension
Reshape | Reshaping | 1 | target_shape | Reshapes each sample to a new shape with the same size
Permute | Reshaping | 1 | dims | Reorders the axes of each sample
RepeatVector | Reshaping | 1 | n | Repeats a vector n times, making a sequence
Embedding | Core | 1 | input_dim,output_dim | Maps integer token ids to dense vectors
Identity | Core | 1 | | Passes its input through unchanged
Conv1D | Convolution | 1 | filters,kernel_size,strides,padding,activation | 1-D convolution over sequences
Conv2D | Convolution | 1 | filters,kernel_size,strides,padding,activation | 2-D convolution over images
Conv3D | Convolution | 1 | filters,kernel_size,strides,padding,activation | 3-D convolution over volumes
SeparableConv1D | Convolution | 1 | filters,kernel_size,strides,padding,activation | Depthwise then pointwise 1-D convolution
SeparableConv2D | Convolution | 1 | filters,kernel_size,strides,padding,activation | Depthwise then pointwise 2-D convolution; fewer weights than Conv2D
DepthwiseConv2D | Convolution | 1 | kernel_size,depth_multiplier,strides,padding,activation | Convolves each channel on its own
Conv1DTranspose | Convolution | 1 | filters,kernel_size,strides,padding,activation | Transposed 1-D convolution (learned upsampling)
Conv2DTranspose | Convolution | 1 | filters,kernel_size,strides,padding,activation | Transposed 2-D convolution (learned upsampling)
Conv3DTranspose | Convolution | 1 | filters,kernel_size,strides,padding,activation | Transposed 3-D convolution (learned upsampling)
MaxPooling1D | Pooling | 1 | pool_size,strides,padding | Keeps the maximum of each window along a sequence
MaxPooling2D | Pooling | 1 | pool_size,strides,padding | Keeps the maximum of each 2-D window
MaxPooling3D | Pooling | 1 | pool_size,strides,padding | Keeps the maximum of each 3-D window
AveragePooling1D | Pooling | 1 | pool_size,strides,padding | Averages each window along a sequence
AveragePooling2D | Pooling | 1 | pool_size,strides,padding | Averages each 2-D window
AveragePooling3D | Pooling | 1 | pool_size,strides,padding | Averages each 3-D window
GlobalMaxPooling1D | Pooling | 1 | keepdims | Maximum over the whole sequence, per channel
GlobalMaxPooling2D | Pooling | 1 | keepdims | Maximum over the whole image, per channel
GlobalMaxPooling3D | Pooling | 1 | keepdims | Maximum over the whole volume, per channel
GlobalAveragePooling1D | Pooling | 1 | keepdims | Average over the whole sequence, per channel
GlobalAveragePooling2D | Pooling | 1 | keepdims | Average over the whole image, per channel
GlobalAveragePooling3D | Pooling | 1 | keepdims | Average over the whole volume, per channel
BatchNormalization | Normalization | 1 | axis,momentum,epsilon | Normalizes each feature over the batch
LayerNormalization | Normalization | 1 | axis,epsilon | Normalizes each sample over its features
GroupNormalization | Normalization | 1 | groups,axis,epsilon | Normalizes groups of channels within each sample
UnitNormalization | Normalization | 1 | axis | Scales each sample to unit L2 norm
SpatialDropout1D | Regularization | 1 | rate | Drops whole channels of a sequence
SpatialDropout2D | Regularization | 1 | rate | Drops whole feature maps of an image
SpatialDropout3D | Regularization | 1 | rate | Drops whole feature maps of a volume
GaussianNoise | Regularization | 1 | stddev | Adds zero-centred Gaussian noise during training
GaussianDropout | Regularization | 1 | rate | Multiplies by 1-centred Gaussian noise during training
AlphaDropout | Regularization | 1 | rate | Dropout that keeps the mean and variance (for selu)
ActivityRegularization | Regularization | 1 | l1,l2 | Adds a penalty on the activations to the loss
SimpleRNN | Recurrent | 1 | units,activation,return_sequences | Fully connected recurrent layer
LSTM | Recurrent | 1 | units,return_sequences,dropout | Long short-term memory recurrent layer
GRU | Recurrent | 1 | units,return_sequences,dropout | Gated recurrent unit layer
ConvLSTM2D | Recurrent | 1 | filters,kernel_size,padding,return_sequences | Convolutional LSTM over sequences of images
Bidirectional | Recurrent | 1 | layer,merge_mode | Runs a recurrent layer forwards and backwards
TimeDistributed | Recurrent | 1 | layer | Applies a layer to every time step
MultiHeadAttention | Attention | query/value/key? | num_heads,key_dim,dropout | Multi-head attention as in Transformers
Attention | Attention | query/value/key? | use_scale,score_mode | Dot-product (Luong) attention
AdditiveAttention | Attention | query/value/key? | use_scale | Additive (Bahdanau) attention
Add | Merge | 2+ | | Adds its inputs element-wise (residual connections)
Subtract | Merge | 2 | | Subtracts the second input from the first
Multiply | Merge | 2+ | | Multiplies its inputs element-wise
Average | Merge | 2+ | | Averages its inputs element-wise
Maximum | Merge | 2+ | | Element-wise maximum of its inputs
Minimum | Merge | 2+ | | Element-wise minimum of its inputs
Concatenate | Merge | 2+ | axis | Joins its inputs along an axis
Dot | Merge | 2 | axes,normalize | Dot product between two inputs along axes
UpSampling1D | Reshaping | 1 | size | Repeats each time step size times
UpSampling2D | Reshaping | 1 | size,interpolation | Enlarges an image by repeating rows and columns
UpSampling3D | Reshaping | 1 | size | Enlarges a volume by repeating entries
ZeroPadding1D | Reshaping | 1 | padding | Pads a sequence with zeros at both ends
ZeroPadding2D | Reshaping | 1 | padding | Pads an image with zeros around its border
ZeroPadding3D | Reshaping | 1 | padding | Pads a volume with zeros around its border
Cropping1D | Reshaping | 1 | cropping | Trims a sequence at both ends
Cropping2D | Reshaping | 1 | cropping | Trims an image at its border
Cropping3D | Reshaping | 1 | cropping | Trims a volume at its border
ReLU | Activation | 1 | max_value,negative_slope,threshold | Rectified linear unit with optional cap and slope
LeakyReLU | Activation | 1 | negative_slope | ReLU with a small slope for negative inputs
PReLU | Activation | 1 | | ReLU whose negative slope is learned
ELU | Activation | 1 | alpha | Exponential linear unit
Softmax | Activation | 1 | axis | Turns scores into probabilities along an axis
Rescaling | Preprocessing | 1 | scale,offset | Multiplies by scale and adds offset (e.g. 1/255)
Normalization | Preprocessing | 1 | axis,mean,variance | Shifts and scales features to zero mean and unit variance
Resizing | Preprocessing | 1 | height,width,interpolation | Resizes images to a fixed size
CenterCrop | Preprocessing | 1 | height,width | Crops the centre of images to a fixed size
RandomFlip | Augmentation | 1 | mode,seed | Flips images at random during training
RandomRotation | Augmentation | 1 | factor,fill_mode,seed | Rotates images at random during training
RandomZoom | Augmentation | 1 | height_factor,width_factor,seed | Zooms images at random during training
RandomTranslation | Augmentation | 1 | height_factor,width_factor,seed | Shifts images at random during training
RandomContrast | Augmentation | 1 | factor,seed | Changes image contrast at random during training
RandomCrop | Augmentation | 1 | height,width,seed | Crops images at random during training
"""

CATEGORIES = [
    "Input", "Core", "Convolution", "Pooling", "Normalization",
    "Regularization", "Recurrent", "Attention", "Merge", "Reshaping",
    "Activation", "Preprocessing", "Augmentation", "Blocks", "Applications",
]
# Keras's own layer classes that live in keras.applications (not keras.layers): accepted
# from exactly that module, as the networks that use them write them
APPLICATION_LAYERS = {"LayerScale": "keras.src.applications.convnext",
                      "CustomScaleLayer": "keras.src.applications.inception_resnet_v2"}
# categories whose entries are not dragged from the palette (a block is made from a
# selection, imported, or comes from the Pretrained section)
NOT_IN_PALETTE = {"Blocks", "Applications"}
# one colour per category: the canvas, the diagrams and the palette all use these
CATEGORY_COLORS = {
    "Input": "#2e7d32", "Core": "#1565c0", "Convolution": "#6a1b9a", "Pooling": "#00838f",
    "Normalization": "#ef6c00", "Regularization": "#757575", "Recurrent": "#ad1457",
    "Attention": "#c62828", "Merge": "#4e342e", "Reshaping": "#5d4037", "Activation": "#827717",
    "Preprocessing": "#37474f", "Augmentation": "#455a64", "Blocks": "#283593", "Applications": "#4a148c",
}
OTHER_COLOR = "#546e7a"


def category_color(class_name: str) -> str:
    spec_ = SPECS.get(class_name)
    return CATEGORY_COLORS.get(spec_.category, OTHER_COLOR) if spec_ is not None else OTHER_COLOR

# Required constructor arguments get these starting values on the canvas.
_REQUIRED_DEFAULTS: dict[str, dict[str, Any]] = {
    "InputLayer": {"shape": [28, 28, 1]},
    "LayerScale": {"init_values": 1e-6, "projection_dim": 32},
    "CustomScaleLayer": {"scale": 0.17},
    "Block": {"kind": "sequential", "trainable": True, "graph": {
        "nodes": [{"id": "n1", "class_name": "InputLayer", "name": "block_input", "config": {"shape": [28, 28, 1]},
                   "position": [0.0, 0.0]}], "edges": [], "outputs": []}},
    "Dense": {"units": 32},
    "Activation": {"activation": "relu"},
    "Dropout": {"rate": 0.5},
    "Reshape": {"target_shape": [-1]},
    "Permute": {"dims": [2, 1]},
    "RepeatVector": {"n": 2},
    "Embedding": {"input_dim": 10000, "output_dim": 64},
    "MultiHeadAttention": {"num_heads": 2, "key_dim": 32},
    "Dot": {"axes": -1},
    "SpatialDropout1D": {"rate": 0.1}, "SpatialDropout2D": {"rate": 0.1},
    "SpatialDropout3D": {"rate": 0.1},
    "GaussianNoise": {"stddev": 0.1}, "GaussianDropout": {"rate": 0.1},
    "AlphaDropout": {"rate": 0.1},
    "SimpleRNN": {"units": 32}, "LSTM": {"units": 32}, "GRU": {"units": 32},
    "ConvLSTM2D": {"filters": 16, "kernel_size": [3, 3]},
    "Bidirectional": {"layer": {"class_name": "LSTM", "config": {"units": 32}}},
    "TimeDistributed": {"layer": {"class_name": "Dense", "config": {"units": 32}}},
    "Rescaling": {"scale": 1 / 255, "offset": 0.0},
    "Resizing": {"height": 224, "width": 224},
    "CenterCrop": {"height": 224, "width": 224},
    "RandomCrop": {"height": 224, "width": 224},
    "RandomRotation": {"factor": 0.1},
    "RandomZoom": {"height_factor": 0.1},
    "RandomTranslation": {"height_factor": 0.1, "width_factor": 0.1},
    "RandomContrast": {"factor": 0.1},
}
for _name in ("Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D",
              "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
    _dims = int(re.search(r"(\d)D", _name).group(1))
    _REQUIRED_DEFAULTS[_name] = {"filters": 32, "kernel_size": [3] * _dims}
for _dims in (1, 2, 3):
    for _kind in ("Max", "Average"):
        _REQUIRED_DEFAULTS[f"{_kind}Pooling{_dims}D"] = {"pool_size": [2] * _dims}
_REQUIRED_DEFAULTS["DepthwiseConv2D"] = {"kernel_size": [3, 3]}

# Per-parameter overlay: choice lists and ranges, by parameter name.
_PARAM_OVERLAY: dict[str, dict[str, Any]] = {
    "activation": {"kind": "choice", "choices": ACTIVATIONS},
    "recurrent_activation": {"kind": "choice", "choices": ACTIVATIONS},
    "padding": {"kind": "choice", "choices": ["valid", "same"]},
    "data_format": {"kind": "choice", "choices": DATA_FORMATS},
    "interpolation": {"kind": "choice", "choices": INTERPOLATIONS},
    "fill_mode": {"kind": "choice", "choices": FILL_MODES},
    "merge_mode": {"kind": "choice", "choices": ["concat", "sum", "mul", "ave", None]},
    "score_mode": {"kind": "choice", "choices": ["dot", "concat"]},
    "mode": {"kind": "choice", "choices": ["horizontal_and_vertical", "horizontal", "vertical"]},
    "dtype": {"kind": "choice", "choices": ["float32", "float16", "bfloat16", "float64", "int32", "int64", "uint8", "bool"]},
    "units": {"kind": "int", "min": 1, "max": 1_000_000},
    "filters": {"kind": "int", "min": 1, "max": 100_000},
    "num_heads": {"kind": "int", "min": 1, "max": 1024},
    "key_dim": {"kind": "int", "min": 1, "max": 100_000},
    "input_dim": {"kind": "int", "min": 1, "max": 100_000_000},
    "output_dim": {"kind": "int", "min": 1, "max": 1_000_000},
    "depth_multiplier": {"kind": "int", "min": 1, "max": 1024},
    "groups": {"kind": "int", "min": 1, "max": 100_000},
    "n": {"kind": "int", "min": 1, "max": 1_000_000},
    "height": {"kind": "int", "min": 1, "max": 100_000},
    "width": {"kind": "int", "min": 1, "max": 100_000},
    "rate": {"kind": "float", "min": 0.0, "max": 0.999},
    "dropout": {"kind": "float", "min": 0.0, "max": 0.999},
    "recurrent_dropout": {"kind": "float", "min": 0.0, "max": 0.999},
    "momentum": {"kind": "float", "min": 0.0, "max": 1.0},
    "epsilon": {"kind": "float", "min": 0.0, "max": 1.0},
    "stddev": {"kind": "float", "min": 0.0, "max": 1e6},
    "kernel_size": {"kind": "tuple"},
    "strides": {"kind": "tuple"},
    "pool_size": {"kind": "tuple"},
    "dilation_rate": {"kind": "tuple"},
    "size": {"kind": "tuple"},
    "shape": {"kind": "tuple", "allow_none": True},
    "target_shape": {"kind": "tuple"},
    "dims": {"kind": "tuple"},
    "axis": {"kind": "int_or_tuple"},
    "axes": {"kind": "int_or_tuple"},
    "padding_tuple": {"kind": "tuple"},
    "cropping": {"kind": "tuple"},
    "layer": {"kind": "layer"},
}
for _suffix, _choices in (("_initializer", INITIALIZERS), ("_regularizer", REGULARIZERS),
                          ("_constraint", CONSTRAINTS)):
    _PARAM_OVERLAY[_suffix] = {"kind": "choice", "choices": _choices}

# Layers a wrapper may hold.
WRAPPABLE = {
    "Bidirectional": ["LSTM", "GRU", "SimpleRNN", "ConvLSTM2D"],
    "TimeDistributed": None,  # any single-input layer except the wrappers
}

# Keras arguments that are not layer settings and never shown.
_HIDDEN_PARAMS = {"self", "kwargs", "args", "weights", "input_tensor", "sparse",
                  "ragged", "backward_layer", "optional", "batch_shape", "batch_size",
                  "name", "trainable", "input_shape", "lora_rank", "lora_alpha",
                  "quantization_config", "flash_attention"}


@dataclass(frozen=True)
class Port:
    """An input port of a layer; ``optional`` ports may stay unconnected."""

    name: str
    optional: bool = False


@dataclass(frozen=True)
class ParamSpec:
    """One editable constructor argument of a layer."""

    name: str
    kind: str  # int, float, bool, str, choice, tuple, int_or_tuple, layer, json
    default: Any
    required: bool = False
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    allow_none: bool = False


@dataclass(frozen=True)
class LayerSpec:
    """What the catalog knows about one Keras layer class."""

    class_name: str
    category: str
    description: str
    primary: tuple[str, ...]
    min_inputs: int
    max_inputs: int | None  # None: any number
    ports: tuple[Port, ...] = field(default=())
    call_style: str = "single"  # single | list | positional | block (one tensor, or a list for several)

    @property
    def is_input(self) -> bool:
        return self.max_inputs == 0

    @property
    def is_merge(self) -> bool:
        return self.call_style == "list" and self.category == "Merge"

    def port_name(self, index: int) -> str:
        if index < len(self.ports):
            return self.ports[index].name
        return f"in {index + 1}"

    def default_config(self) -> dict[str, Any]:
        """The starting configuration of a new node of this layer."""
        import copy
        return copy.deepcopy(_REQUIRED_DEFAULTS.get(self.class_name, {}))


def _parse_table() -> dict[str, LayerSpec]:
    specs: dict[str, LayerSpec] = {}
    for line in _TABLE.strip().splitlines():
        class_name, category, inputs, primary, description = (p.strip() for p in line.split("|"))
        ports: tuple[Port, ...] = ()
        call_style = "single"
        if inputs == "0":
            lo, hi = 0, 0
        elif inputs == "1":
            lo, hi = 1, 1
        elif inputs == "2":
            lo, hi, call_style = 2, 2, "list"
        elif inputs == "2+":
            lo, hi, call_style = 2, None, "list"
        elif inputs == "1+":  # a block: as many inputs as its inside has Input layers
            lo, hi, call_style = 1, None, "block"
        else:
            names = inputs.split("/")
            ports = tuple(Port(n.rstrip("?"), n.endswith("?")) for n in names)
            lo = sum(1 for p in ports if not p.optional)
            hi = len(ports)
            call_style = "positional" if class_name == "MultiHeadAttention" else "list"
        specs[class_name] = LayerSpec(
            class_name=class_name, category=category, description=description,
            primary=tuple(p for p in primary.split(",") if p),
            min_inputs=lo, max_inputs=hi, ports=ports, call_style=call_style)
    return specs


SPECS: dict[str, LayerSpec] = _parse_table()


class UnknownLayerError(KeyError):
    """A class name that is not in the catalog (custom code, Lambda, typo)."""

    def __init__(self, class_name: str):
        super().__init__(class_name)
        self.class_name = class_name

    def __str__(self) -> str:
        return (f"layer type '{self.class_name}' is not in the Layer Studio catalog "
                "(custom layers and Lambda layers run arbitrary code and are not supported)")


def spec(class_name: str) -> LayerSpec:
    try:
        return SPECS[class_name]
    except KeyError:
        raise UnknownLayerError(class_name) from None


def names(category: str | None = None) -> list[str]:
    return [n for n, s in SPECS.items() if category is None or s.category == category]


def search(text: str) -> list[LayerSpec]:
    """Layers whose name, category or description contains every word of text."""
    words = text.lower().split()
    hits = []
    for s in SPECS.values():
        hay = f"{s.class_name} {s.category} {s.description}".lower()
        if all(w in hay for w in words):
            hits.append(s)
    hits.sort(key=lambda s: (not s.class_name.lower().startswith(text.lower().strip()), s.class_name))
    return hits


def keras_class(class_name: str):
    """The Keras layer class for a catalog name (imports Keras)."""
    spec(class_name)
    import keras
    if class_name == "Block":
        return keras.Model
    if class_name in APPLICATION_LAYERS:
        import importlib
        return getattr(importlib.import_module(APPLICATION_LAYERS[class_name]), class_name)
    return getattr(keras.layers, class_name)


def _overlay_for(name: str) -> dict[str, Any]:
    if name in _PARAM_OVERLAY:
        return _PARAM_OVERLAY[name]
    for suffix in ("_initializer", "_regularizer", "_constraint"):
        if name.endswith(suffix):
            return _PARAM_OVERLAY[suffix]
    return {}


def _kind_from_default(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "str"
    if isinstance(default, (tuple, list)):
        return "tuple"
    return "json"


@lru_cache(maxsize=None)
def params(class_name: str) -> tuple[ParamSpec, ...]:
    """The editable parameters of a layer, primary ones first (imports Keras)."""
    s = spec(class_name)
    if class_name == "Block":  # its settings are its inside, edited on the canvas
        return (ParamSpec(name="trainable", kind="bool", default=True),)
    cls = keras_class(class_name)
    required = _REQUIRED_DEFAULTS.get(class_name, {})
    out: list[ParamSpec] = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in _HIDDEN_PARAMS or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            if not (class_name == "InputLayer" and p.name == "shape"):
                continue
        is_required = p.default is inspect.Parameter.empty
        default = required.get(p.name) if is_required or p.name in required else p.default
        overlay = dict(_overlay_for(p.name))
        if class_name in ("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D") and p.name == "padding":
            overlay = dict(_PARAM_OVERLAY["padding_tuple"])
        if class_name == "Conv1D" and p.name == "padding":
            overlay = {"kind": "choice", "choices": ["valid", "same", "causal"]}
        kind = overlay.pop("kind", None) or _kind_from_default(default)
        choices = overlay.pop("choices", None)
        if kind == "choice" and choices is not None and default not in choices:
            choices = list(choices) + [default]
        allow_none = overlay.pop("allow_none", default is None)
        out.append(ParamSpec(
            name=p.name, kind=kind, default=default, required=is_required,
            choices=tuple(choices) if choices is not None else None,
            min=overlay.get("min"), max=overlay.get("max"), allow_none=allow_none))
    if class_name != "InputLayer":
        # every Layer takes it (through **kwargs); False freezes the layer's weights, as in Keras
        out.append(ParamSpec(name="trainable", kind="bool", default=True))
    order = {n: i for i, n in enumerate(s.primary)}
    out.sort(key=lambda ps: order.get(ps.name, len(order)))
    return tuple(out)


def param(class_name: str, name: str) -> ParamSpec | None:
    for p in params(class_name):
        if p.name == name:
            return p
    return None


def wrappable(wrapper: str) -> list[str]:
    allowed = WRAPPABLE.get(wrapper)
    if allowed is not None:
        return list(allowed)
    return [n for n, s in SPECS.items()
            if s.min_inputs == 1 and s.max_inputs == 1 and n not in WRAPPABLE]


def _is_unremarkable(name: str, value: Any) -> bool:
    """Values not worth showing on a node (the usual defaults)."""
    if name in ("strides", "dilation_rate") and isinstance(value, (int, list, tuple)):
        return all(v == 1 for v in (value if isinstance(value, (list, tuple)) else [value]))
    if value is None or isinstance(value, (dict, list, tuple)):
        return value is None
    return (name, value) in {("padding", "valid"), ("activation", "linear"), ("use_bias", True),
                             ("return_sequences", False), ("dropout", 0.0),
                             ("offset", 0.0), ("offset", 0)}


def key_params_text(class_name: str, config: dict[str, Any]) -> str:
    """A short summary of a node's key settings, e.g. ``32 3×3 relu``."""
    s = SPECS.get(class_name)
    if s is None:
        return ""
    parts: list[str] = []
    for name in s.primary:
        if name not in config or len(parts) >= 4:
            continue
        value = config[name]
        if _is_unremarkable(name, value):
            continue
        if name == "layer" and isinstance(value, dict):
            inner = value.get("config", {})
            parts.append(f"{value.get('class_name', '?')}({key_params_text(value.get('class_name', ''), inner)})")
        elif isinstance(value, (list, tuple)):
            parts.append("×".join("?" if v is None else str(v) for v in value))
        elif isinstance(value, float):
            parts.append(f"{value:.3g}")
        elif isinstance(value, dict):
            continue
        elif value is None or value is False:
            continue
        elif value is True:
            parts.append(name)
        else:
            parts.append(str(value))
    return " ".join(parts)
