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

# -- operations ---------------------------------------------------------------------
# Keras writes Python arithmetic on tensors (``x + 3.0``) and ``keras.ops`` calls into
# functional models as operation nodes. Each one below is a node class named
# ``ops.<Keras class>`` (so ``ops.Add`` never collides with the ``Add`` layer).
# op | module (keras.src.ops.<module>) | keras.ops function | call parameters | shown first | description
# call parameters, in the order the operation's ``call`` takes them:
#   x   a tensor (an input port)
#   x~  a tensor or a constant (an input port, unless the node holds a constant for it)
#   x*  a list of tensors (ports 1, 2, ...: any number)
#   x=  a constant (a setting of the node, never a port)

_OPS_TABLE = """
Add | numpy | add | x1~ x2~ | x1,x2 | x1 + x2 element-wise (broadcasting); either side may be a constant, as in x + 3.0
Subtract | numpy | subtract | x1~ x2~ | x1,x2 | x1 - x2 element-wise (broadcasting); either side may be a constant
Multiply | numpy | multiply | x1~ x2~ | x1,x2 | x1 * x2 element-wise (broadcasting); either side may be a constant, as in x * (1/6)
Divide | numpy | divide | x1~ x2~ | x1,x2 | keras.ops.divide(x1, x2) element-wise; either side may be a constant
TrueDivide | numpy | true_divide | x1~ x2~ | x1,x2 | x1 / x2 (Python's / on tensors) element-wise; either side may be a constant
Power | numpy | power | x1~ x2~ | x1,x2 | x1 ** x2 element-wise; either side may be a constant
Maximum | numpy | maximum | x1~ x2~ | x1,x2 | Element-wise maximum of x1 and x2 (broadcasting); either may be a constant
Minimum | numpy | minimum | x1~ x2~ | x1,x2 | Element-wise minimum of x1 and x2 (broadcasting); either may be a constant
Equal | numpy | equal | x1~ x2~ | x1,x2 | x1 == x2 element-wise, a boolean tensor
NotEqual | numpy | not_equal | x1~ x2~ | x1,x2 | x1 != x2 element-wise, a boolean tensor (the mask of Embedding(mask_zero=True))
Greater | numpy | greater | x1~ x2~ | x1,x2 | x1 > x2 element-wise, a boolean tensor
Less | numpy | less | x1~ x2~ | x1,x2 | x1 < x2 element-wise, a boolean tensor
Negative | numpy | negative | x | | -x element-wise
Absolute | numpy | absolute | x | | abs(x) element-wise
Sqrt | numpy | sqrt | x | | Square root element-wise
Square | numpy | square | x | | x squared element-wise
Exp | numpy | exp | x | | Exponential element-wise
Log | numpy | log | x | | Natural logarithm element-wise
Tanh | numpy | tanh | x | | Hyperbolic tangent element-wise
Relu | nn | relu | x | | max(x, 0) element-wise (keras.ops.relu)
Sigmoid | nn | sigmoid | x | | 1 / (1 + exp(-x)) element-wise (keras.ops.sigmoid)
Softmax | nn | softmax | x | axis | Softmax along an axis (keras.ops.softmax)
Clip | numpy | clip | x | x_min,x_max | Limits every value to [x_min, x_max]
Mean | numpy | mean | x | axis,keepdims | Mean over the given axes (None: over all, the batch axis too)
Sum | numpy | sum | x | axis,keepdims | Sum over the given axes (None: over all, the batch axis too)
Max | numpy | max | x | axis,keepdims | Maximum over the given axes (None: over all, the batch axis too)
Min | numpy | min | x | axis,keepdims | Minimum over the given axes (None: over all, the batch axis too)
Concatenate | numpy | concatenate | xs* | axis | Joins any number of tensors along an axis (keras.ops.concatenate)
Stack | numpy | stack | x* | axis | Stacks tensors of the same shape along a new axis
Reshape | numpy | reshape | x | newshape | Reshapes the whole tensor, batch axis included (keras.ops.reshape)
Transpose | numpy | transpose | x | axes | Reorders the axes, batch axis included (keras.ops.transpose)
ExpandDims | numpy | expand_dims | x | axis | Inserts an axis of size 1
Squeeze | numpy | squeeze | x | axis | Removes axes of size 1
Cast | core | cast | x | dtype | Converts the tensor to another dtype
Matmul | numpy | matmul | x1~ x2~ | x1,x2 | Matrix product of x1 and x2 (x1 @ x2)
Take | numpy | take | x indices~ | indices,axis | Picks the entries at the given indices along an axis
GetItem | numpy | get_item | x key= | key | Indexing and slicing, as in x[:, 0] or x[..., 1:]
"""

OPS_PREFIX = "ops."
OPS_MODULES = {"numpy": "keras.src.ops.numpy", "core": "keras.src.ops.core", "nn": "keras.src.ops.nn"}

CATEGORIES = [
    "Input", "Core", "Convolution", "Pooling", "Normalization",
    "Regularization", "Recurrent", "Attention", "Merge", "Reshaping",
    "Activation", "Preprocessing", "Augmentation", "Operations", "Blocks", "Applications",
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
    "Preprocessing": "#37474f", "Augmentation": "#455a64", "Operations": "#00695c", "Blocks": "#283593",
    "Applications": "#4a148c",
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
    # operations: what a person most often means (axis -1 rather than the batch axis)
    "ops.Mean": {"axis": -1}, "ops.Sum": {"axis": -1}, "ops.Max": {"axis": -1}, "ops.Min": {"axis": -1},
    "ops.Concatenate": {"axis": -1}, "ops.Stack": {"axis": 1},
    "ops.Reshape": {"newshape": [-1]}, "ops.ExpandDims": {"axis": -1}, "ops.Cast": {"dtype": "float32"},
    "ops.Clip": {"x_min": 0.0, "x_max": 1.0},
    "ops.Take": {"indices": [0], "axis": -1},
    "ops.GetItem": {"key": [{"class_name": "__slice__", "config": {"start": None, "stop": None, "step": None}}, 0]},
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
    kind: str  # int, float, bool, str, choice, tuple, int_or_tuple, layer, json, operand, index
    default: Any
    required: bool = False
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    allow_none: bool = False


@dataclass(frozen=True)
class CallParam:
    """One argument of an operation's ``call``: kind ``tensor`` (a port), ``operand`` (a port
    or a constant the node holds), ``tensors`` (a list of ports) or ``constant`` (a setting)."""

    name: str
    kind: str


@dataclass(frozen=True)
class OpInfo:
    """Where Keras keeps an operation: ``keras.src.ops.<module>.<keras_class>``, made by
    the ``keras.ops.<function>`` a person writes."""

    module: str
    keras_class: str
    function: str
    call: tuple[CallParam, ...]

    @property
    def port_params(self) -> tuple[CallParam, ...]:
        return tuple(p for p in self.call if p.kind != "constant")

    @property
    def constant_names(self) -> tuple[str, ...]:
        """Call arguments a node may hold as constants (in its config, by name)."""
        return tuple(p.name for p in self.call if p.kind in ("operand", "constant"))


@dataclass(frozen=True)
class LayerSpec:
    """What the catalog knows about one Keras layer class (or one Keras operation)."""

    class_name: str
    category: str
    description: str
    primary: tuple[str, ...]
    min_inputs: int
    max_inputs: int | None  # None: any number
    ports: tuple[Port, ...] = field(default=())
    call_style: str = "single"  # single | list | positional | op | block (one tensor, or a list for several)
    op: OpInfo | None = None    # set for operation nodes

    @property
    def is_input(self) -> bool:
        return self.max_inputs == 0

    @property
    def is_op(self) -> bool:
        return self.op is not None

    @property
    def is_merge(self) -> bool:
        return self.call_style == "list" and self.category == "Merge"

    @property
    def keras_name(self) -> str:
        """The Keras class name (``Add`` for both the layer and ``ops.Add``)."""
        return self.op.keras_class if self.op is not None else self.class_name

    def port_name(self, index: int) -> str:
        if self.op is not None and self.max_inputs is None and self.ports:
            return f"{self.ports[-1].name} {index + 1}"     # a list of tensors: xs 1, xs 2, ...
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


_CALL_KINDS = {"~": "operand", "*": "tensors", "=": "constant"}


def _parse_ops_table() -> dict[str, LayerSpec]:
    specs: dict[str, LayerSpec] = {}
    for line in _OPS_TABLE.strip().splitlines():
        keras_class, module, function, call, primary, description = (p.strip() for p in line.split("|"))
        params = tuple(CallParam(a[:-1], _CALL_KINDS[a[-1]]) if a[-1] in _CALL_KINDS else CallParam(a, "tensor")
                       for a in call.split())
        op = OpInfo(OPS_MODULES[module], keras_class, function, params)
        ports = tuple(Port(p.name, p.kind == "operand") for p in op.port_params)
        variadic = any(p.kind == "tensors" for p in params)
        required = sum(1 for p in params if p.kind == "tensor")
        name = OPS_PREFIX + keras_class
        specs[name] = LayerSpec(
            class_name=name, category="Operations", description=description,
            primary=tuple(p for p in primary.split(",") if p),
            min_inputs=max(1, required), max_inputs=None if variadic else len(ports), ports=ports,
            call_style="op", op=op)
    return specs


SPECS: dict[str, LayerSpec] = {**_parse_table(), **_parse_ops_table()}
# Keras operation class (module, class) -> the catalog name of its node
OPS_BY_KERAS = {(s.op.module, s.op.keras_class): name for name, s in SPECS.items() if s.op is not None}


def is_op(class_name: str) -> bool:
    s = SPECS.get(class_name)
    return s is not None and s.op is not None


def layer_names() -> list[str]:
    """The catalog's layers (every entry but the operations)."""
    return [n for n, s in SPECS.items() if s.op is None]


def op_names() -> list[str]:
    return [n for n, s in SPECS.items() if s.op is not None]


def base_name(class_name: str) -> str:
    """The Keras class name a node's default name comes from (``ops.NotEqual`` -> ``NotEqual``)."""
    s = SPECS.get(class_name)
    return s.keras_name if s is not None else class_name


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
        hay = f"{s.class_name} {s.category} {s.description} {s.op.function if s.op else ''}".lower()
        if all(w in hay for w in words):
            hits.append(s)
    hits.sort(key=lambda s: (not s.class_name.lower().startswith(text.lower().strip()), s.class_name))
    return hits


def keras_class(class_name: str):
    """The Keras layer (or operation) class for a catalog name (imports Keras)."""
    s = spec(class_name)
    if s.op is not None:
        import importlib
        return getattr(importlib.import_module(s.op.module), s.op.keras_class)
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
    if s.op is not None:
        # a call argument held as a constant: None (or absent) means "the tensor on the input port"
        for c in s.op.call:
            if c.kind == "operand":
                out.append(ParamSpec(name=c.name, kind="operand", default=None, allow_none=True))
            elif c.kind == "constant":
                kind = "index" if class_name == "ops.GetItem" else "json"
                out.append(ParamSpec(name=c.name, kind=kind, default=required.get(c.name), required=True))
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in _HIDDEN_PARAMS or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            if not (class_name == "InputLayer" and p.name == "shape"):
                continue
        is_required = p.default is inspect.Parameter.empty
        default = required.get(p.name) if is_required or (p.name in required and s.op is None) else p.default
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
    if class_name != "InputLayer" and s.op is None:
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


_NUMERIC_KINDS = {"int": "a whole number", "float": "a number", "tuple": "a whole number or a list of them",
                  "int_or_tuple": "a whole number or a list of them"}


def _holds_bool(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, (list, tuple)) and any(_holds_bool(v) for v in value))


def param_type_problem(class_name: str, config: dict[str, Any]) -> str | None:
    """The first setting whose value is true or false where the layer takes a number (Python
    counts True as 1, so Keras would silently build one unit), as ``'units' should be ...``."""
    if class_name not in SPECS or class_name == "Block":
        return None
    for p in params(class_name):
        what = _NUMERIC_KINDS.get(p.kind)
        if what is not None and p.name in config and _holds_bool(config[p.name]):
            return f"setting '{p.name}' should be {what}, not {str(config[p.name]).lower()}"
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
        if name == "key" and class_name == "ops.GetItem":
            parts.append(index_text(value))
        elif name == "layer" and isinstance(value, dict):
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


# -- calls: how a node's input ports and constants become one Keras call ----------------
# A layer node may be called with more than its inputs, as Keras allows:
# ``MultiHeadAttention(...)(q, v, attention_mask=m, use_causal_mask=True)``. Its config
# then holds two fields that are not layer settings (they never reach the layer's
# constructor): the constant keyword arguments, and the keyword arguments fed by
# input ports (numbered after the layer's own inputs; a list of ports for a
# keyword that takes a list of tensors, such as an LSTM's ``initial_state``).

CALL_KWARGS = "call_kwargs"   # {"training": False, "use_causal_mask": True}
CALL_PORTS = "call_ports"     # {"attention_mask": 3} or {"initial_state": [1, 2]}
CALL_KEYS = (CALL_KWARGS, CALL_PORTS)
MAX_PORT = 9_999


def _is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def keyword_ports(config: dict[str, Any]) -> dict[int, str]:
    """{port: name} of a layer node's tensor keyword arguments (``mask``, ``initial_state[1]``)."""
    ports = config.get(CALL_PORTS) if isinstance(config, dict) else None
    out: dict[int, str] = {}
    if not isinstance(ports, dict):
        return out
    for name, value in ports.items():
        if isinstance(value, list):
            for k, v in enumerate(value):
                if _is_port(v):
                    out[v] = f"{name}[{k}]"
        elif _is_port(value):
            out[value] = str(name)
    return out


def _call_name_problem(name: Any) -> str | None:
    import keyword
    if not isinstance(name, str) or not name.isascii() or not name.isidentifier() or keyword.iskeyword(name):
        return f"{name!r:.60} is not a keyword argument's name"
    return None


def check_call_fields(class_name: str, config: dict[str, Any]) -> None:
    """Raise ValueError, naming the field, if a node's call fields are malformed."""
    s = spec(class_name)
    kwargs, ports = config.get(CALL_KWARGS), config.get(CALL_PORTS)
    if s.op is not None or s.is_input:
        if kwargs is not None or ports is not None:
            raise ValueError(f"{'an operation' if s.op else 'an Input'} takes no keyword arguments "
                             f"('{CALL_KWARGS}'/'{CALL_PORTS}')")
        return
    if kwargs is not None:
        if not isinstance(kwargs, dict):
            raise ValueError(f"'{CALL_KWARGS}' should be an object of keyword arguments")
        for name in kwargs:
            problem = _call_name_problem(name)
            if problem:
                raise ValueError(f"'{CALL_KWARGS}': {problem}")
    if ports is None:
        return
    if not isinstance(ports, dict):
        raise ValueError(f"'{CALL_PORTS}' should be an object of keyword arguments and port numbers")
    if ports and s.max_inputs is None:
        raise ValueError(f"{class_name} takes any number of inputs, so it cannot also take tensors by keyword")
    positional = {p.name for p in s.ports}
    seen: set[int] = set()
    for name, value in ports.items():
        problem = _call_name_problem(name)
        if problem:
            raise ValueError(f"'{CALL_PORTS}': {problem}")
        if name in positional or (isinstance(kwargs, dict) and name in kwargs):
            raise ValueError(f"'{CALL_PORTS}': '{name}' is given twice")
        items = value if isinstance(value, list) else [value]
        if not items or not any(_is_port(v) for v in items) or not all(v is None or _is_port(v) for v in items):
            raise ValueError(f"'{CALL_PORTS}.{name}' should be a port number or a list of port numbers")
        for v in items:
            if v is None:
                continue
            if not s.max_inputs <= v <= MAX_PORT:
                raise ValueError(f"'{CALL_PORTS}.{name}': port {v} is not after the {s.max_inputs} input(s) of "
                                 f"{class_name}")
            if v in seen:
                raise ValueError(f"'{CALL_PORTS}': port {v} feeds two keyword arguments")
            seen.add(v)


def port_limit(class_name: str, config: dict[str, Any]) -> int | None:
    """How many input ports a node has (None: any number)."""
    s = spec(class_name)
    if s.max_inputs is None:
        return None
    if s.op is not None or CALL_PORTS not in config:  # the usual case: the class's own inputs
        return s.max_inputs
    kw = keyword_ports(config)
    return max([s.max_inputs] + [k + 1 for k in kw])


def port_label(class_name: str, config: dict[str, Any], index: int) -> str:
    """The name of input port ``index`` of a node (``query``, ``mask``, ``x2``, ``in 1``)."""
    s = spec(class_name)
    if s.op is None:
        kw = keyword_ports(config)
        if index in kw:
            return kw[index]
    return s.port_name(index)


def filled_ports(class_name: str, config: dict[str, Any]) -> dict[int, Any]:
    """{port: constant} of an operation's inputs that the node gives as constants (``x + 3.0``)."""
    s = SPECS.get(class_name)
    if s is None or s.op is None:
        return {}
    return {k: config[p.name] for k, p in enumerate(s.op.port_params)
            if p.kind == "operand" and config.get(p.name) is not None}


@dataclass
class PortCheck:
    """What is wrong with the inputs connected to a node."""

    missing: list[int]               # ports that need a tensor and have none
    extra: list[tuple[int, str]]     # connected ports the node does not take (port, why)
    positional: int                  # connected inputs that are not keyword arguments


def check_ports(class_name: str, config: dict[str, Any], connected, required: bool = True) -> PortCheck:
    """Compare the connected input ports with what the node takes. ``required=False``
    reports only gaps below the last connected input (the shape checker words "too few
    inputs" on its own)."""
    s = spec(class_name)
    connected = set(connected)
    if s.op is None and len(connected) == 1 and 0 in connected and CALL_PORTS not in config:
        return PortCheck([], [], 1)  # the usual case: a layer fed on its first input (checked in bulk)
    if s.op is not None:
        filled = filled_ports(class_name, config)
        params = s.op.port_params
        if s.max_inputs is None:   # a list of tensors: ports 0, 1, ... without gaps
            hi = max(connected) + 1 if connected else 0
            return PortCheck([k for k in range(max(hi, 1)) if k not in connected], [], len(connected))
        missing = [k for k in range(len(params)) if k not in connected and k not in filled]
        extra = [(k, f"input '{params[k].name}' holds the constant {filled[k]!r:.40}; clear the constant or "
                     "remove the connection") for k in sorted(connected) if k in filled]
        extra += [(k, f"{class_name} has no input {k + 1}") for k in sorted(connected) if k >= len(params)]
        return PortCheck(missing, extra, len(connected))
    kw = keyword_ports(config)
    pos = sorted(k for k in connected if k not in kw)
    hi = pos[-1] + 1 if pos else 0
    top = max(s.min_inputs, hi) if required else hi
    missing = [k for k in range(top) if k not in connected
               and not (k < len(s.ports) and s.ports[k].optional and (not pos or k > pos[-1]))]
    missing += [k for k in sorted(kw) if k not in connected]
    extra = [(k, f"{class_name} takes {s.max_inputs} input{'s' if s.max_inputs != 1 else ''}; it has no port "
                 f"{k + 1}") for k in pos if s.max_inputs is not None and k >= s.max_inputs]
    return PortCheck(missing, extra, len(pos))


def call_arguments(class_name: str, config: dict[str, Any], values: dict[int, Any],
                   constant=lambda name, value: value) -> tuple[list, dict]:
    """The positional and keyword arguments of the call a node makes: ``values`` are what
    its input ports carry (tensors, or variable names for code), ``constant(name, value)``
    turns a constant the node holds into what the call takes."""
    s = spec(class_name)
    if s.op is not None:
        args: list = []
        port = 0
        for p in s.op.call:
            if p.kind == "constant":
                args.append(constant(p.name, config.get(p.name)))
            elif p.kind == "tensors":
                args.append([values[k] for k in sorted(values) if k >= port])
            elif p.kind == "operand" and port not in values:
                args.append(constant(p.name, config.get(p.name)))
                port += 1
            else:
                args.append(values[port])
                port += 1
        return args, {}
    kw = keyword_ports(config)
    positional = [values[k] for k in sorted(values) if k not in kw]
    if s.call_style == "single":
        args = positional[:1]
    elif s.call_style == "positional":
        args = positional
    elif s.call_style == "block" and len(positional) == 1:  # a nested model with one input takes one tensor
        args = positional
    else:
        args = [positional]
    kwargs: dict[str, Any] = {}
    for name, value in (config.get(CALL_PORTS) or {}).items():
        kwargs[name] = ([values.get(v) if v is not None else None for v in value] if isinstance(value, list)
                        else values[value])
    for name, value in (config.get(CALL_KWARGS) or {}).items():
        kwargs[name] = constant(name, value)
    return args, kwargs


def layer_settings(config: dict[str, Any]) -> dict[str, Any]:
    """A layer node's config without its call fields: what the layer's constructor takes."""
    if CALL_KWARGS in config or CALL_PORTS in config:
        return {k: v for k, v in config.items() if k not in CALL_KEYS}
    return config


# -- index keys (ops.GetItem): Python's subscript syntax <-> Keras's plain data --------------

def _index_item_text(item: Any) -> str:
    if item is None:
        return "None"
    if isinstance(item, bool):
        raise ValueError(f"{item!r} is not an index")
    if isinstance(item, int):
        return str(item)
    if isinstance(item, dict) and item.get("class_name") == "__ellipsis__":
        return "..."
    if isinstance(item, dict) and item.get("class_name") == "__slice__":
        c = item.get("config") or {}
        start, stop, step = (c.get(k) for k in ("start", "stop", "step"))
        text = f"{'' if start is None else start}:{'' if stop is None else stop}"
        return text + (f":{step}" if step is not None else "")
    raise ValueError(f"{item!r:.40} is not an index")


def index_text(key: Any) -> str:
    """``[:, 0, 1:]`` for the key of ``x[:, 0, 1:]`` as Keras writes it; JSON where the key
    is not plain Python index syntax (a list of indices)."""
    import json
    try:
        if isinstance(key, list):
            items = [_index_item_text(k) for k in key]
            return "[" + ", ".join(items) + ("," if len(items) == 1 else "") + "]"
        return f"[{_index_item_text(key)}]"
    except ValueError:
        return json.dumps(key)


def _parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"'{text.strip()}' is not an index: use whole numbers, ':', '...' or None") from None


def _parse_index_item(text: str) -> Any:
    t = text.strip()
    if t == "...":
        return {"class_name": "__ellipsis__", "config": {}}
    if t == "None":
        return None
    if ":" in t:
        parts = t.split(":")
        if len(parts) > 3:
            raise ValueError(f"'{t}' is not a slice: use start:stop or start:stop:step")
        values = [None if not p.strip() else _parse_int(p) for p in parts] + [None] * (3 - len(parts))
        return {"class_name": "__slice__", "config": dict(zip(("start", "stop", "step"), values))}
    return _parse_int(t)


def parse_index(text: str) -> Any:
    """The key Keras writes for Python's ``x[...]``: ``[:, 0]`` -> a list of a slice and 0,
    ``[0]`` -> 0 (a single index), ``[0,]`` -> a list of one (a tuple in Python)."""
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    if t.strip().startswith(("[", "{")):
        import json
        try:
            return json.loads(t)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg}") from None
    if not t.strip():
        raise ValueError("enter an index, e.g. [:, 0] or [..., 1:]")
    parts = t.split(",")
    if len(parts) == 1:
        return _parse_index_item(parts[0])
    if not parts[-1].strip():
        parts = parts[:-1]
    return [_parse_index_item(p) for p in parts]
