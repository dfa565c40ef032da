"""The model before training: per layer and in total, output shapes, trainable and
non-trainable parameters, multiply-accumulate operations, and the memory one
training step needs at the chosen batch size, with advice on the largest batch
that fits the chosen device.

Everything here is arithmetic on the shape checker's results (output shapes and
parameter counts, which come from Keras itself), so a summary costs
microseconds per layer and can be redrawn after every edit on the GUI thread;
nothing builds a Keras model.

What is counted
---------------
Parameters: the checker's count per layer, split into trainable and not.
BatchNormalization's moving mean and variance and Normalization's statistics
are not trainable; a layer whose config says ``trainable: false`` has none
trainable. Wrappers (Bidirectional, TimeDistributed) follow their inner layer.

MACs (multiply-accumulates, per sample, forward pass): the matrix products and
convolutions, which dominate the arithmetic:

- Dense: input features x units for every position of the output.
- ConvND (and ConvLSTM2D's two convolutions per step): output positions x
  filters x kernel size x input channels / groups.
- SeparableConv: the depthwise part (output positions x channels x depth
  multiplier x kernel size) plus the pointwise part (output positions x
  channels x depth multiplier x filters). DepthwiseConv: the depthwise part.
- ConvNDTranspose: input positions x input channels x kernel size x filters.
- SimpleRNN / GRU / LSTM (1, 3, 4 gates): time steps x gates x (input
  features + units) x units; Bidirectional twice its layer; TimeDistributed
  its layer times the steps.
- MultiHeadAttention: the query, key, value and output projections plus the
  scores and the weighted sum (heads x query steps x key steps x key/value
  size). Attention / AdditiveAttention: scores and weighted sum. Dot: output
  size x contracted length.
- 0 for the rest: Embedding (a lookup), pooling, activations, normalization,
  dropout, merges, reshaping, resizing. Their element-wise work is small next
  to the products above and is memory-bound, not arithmetic-bound.

A layer whose shapes have an unknown dimension (a sequence of any length)
has unknown MACs and activation memory; totals then count the known layers
only and say so (``complete`` is False).

Memory for one training step (bytes) is

- weights: every parameter, float32 (4 bytes; mixed precision keeps float32
  variables),
- gradients: one float32 value per trainable parameter,
- optimizer state: slots per trainable parameter (adam, adamw, nadam 2;
  rmsprop 1, 2 with momentum; sgd 1 with momentum, 0 without; adagrad 1),
- activations kept for the backward pass, batch x per-sample size: every
  layer's output once (the next layer's gradient needs it; a built-in
  activation is fused and keeps nothing more), in the compute dtype (float16
  under mixed precision on a GPU: half; on the CPU TensorFlow keeps float32
  copies, so nothing is saved there); a dropout layer also keeps its mask, a
  normalization layer half as much again; a recurrent layer keeps its gates and
  states for every step; layers that only reshape (Flatten, Reshape, Identity)
  share their input's memory. On top come the gradient flowing back through
  the largest layer output and a second copy of the input batch (the next
  batch, prefetched).

These rules were fitted against TensorFlow's CPU allocator on eight models
(convnets with and without batch normalization and dropout, separable
residual blocks, wide and small multilayer perceptrons, an LSTM) at two batch
sizes each: the convolutional and dense models land within 25 % of the measured
peak (most within 10 %); recurrent layers are rougher (their per-step
buffers are many small allocations). ``MEMORY_METHOD`` says how the test in
tests/engine/test_summary.py measures.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

MEMORY_METHOD = ("in a fresh process, after warm-up steps: TensorFlow's CPU allocator peak "
                 "(tf.config.experimental.get_memory_info('CPU:0') after reset_memory_stats) over one "
                 "train_on_batch, and the process's resident-set high-water mark (VmHWM, reset through "
                 "/proc/self/clear_refs) over the same step plus the weights and optimizer state "
                 "already resident")

# share of the device's memory a batch-size suggestion may use
CPU_SHARE = 0.8
WORKSPACE = 1
GPU_SHARE = 0.9
ASSUMED_GPU_BYTES = 8 * 1024 ** 3

_DTYPE_BYTES = {"float64": 8, "int64": 8, "uint64": 8, "complex64": 8, "float32": 4, "int32": 4, "uint32": 4,
                "float16": 2, "bfloat16": 2, "int16": 2, "uint16": 2, "int8": 1, "uint8": 1, "bool": 1,
                "string": 8}
# layers whose output is their input, reshaped (no memory of their own)
_ALIASES = {"Flatten", "Reshape", "Identity", "InputLayer"}
_DROPOUTS = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
             "AlphaDropout", "GaussianNoise"}
_NORMALIZATIONS = {"BatchNormalization", "LayerNormalization", "GroupNormalization"}
_RNN_GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}
_CONV = re.compile(r"^Conv(\d)D$")
_CONV_T = re.compile(r"^Conv(\d)DTranspose$")
_SEPARABLE = re.compile(r"^SeparableConv(\d)D$")
_DEPTHWISE = re.compile(r"^DepthwiseConv(\d)D$")


# -- per layer -----------------------------------------------------------------
def optimizer_slots(optimizer: str, momentum: float = 0.0) -> int:
    """Values the optimizer keeps per trainable parameter."""
    if optimizer in ("adam", "adamw", "nadam"):
        return 2
    if optimizer == "rmsprop":
        return 2 if momentum else 1
    if optimizer == "sgd":
        return 1 if momentum else 0
    if optimizer == "adagrad":
        return 1
    return 2  # an optimizer not listed: assume Adam's two


_BLOCK_TOTALS: dict[str, tuple[int | None, int | None]] = {}


def _block_totals(config: dict, half_activations: bool) -> tuple[int | None, int | None]:
    """(MACs, values kept for the backward pass) per sample of a block's inside, from
    its own layers (None when some are unknown); remembered per block config."""
    import json

    from studio.engine.blocks import inner_graph, without_positions
    from studio.engine.shapes import ShapeChecker
    key = json.dumps([without_positions(config), half_activations], sort_keys=True, default=str)
    found = _BLOCK_TOTALS.get(key)
    if found is not None:
        return found
    try:
        graph = inner_graph(config)
        checker = ShapeChecker(graph)
        checker.refresh()
        rows = summarize_layers(graph, checker.states, half_activations)
    except Exception:  # noqa: BLE001 - the block's own check reports what is wrong with it
        return None, None
    inner = [r for r in rows if r.class_name != "InputLayer"]  # its inputs are the outer layers' outputs
    macs = None if any(r.macs is None for r in inner) else sum(r.macs for r in inner)
    size = 2 if half_activations else 4
    kept = None if any(r.activation_bytes is None for r in inner) else sum(r.activation_bytes for r in inner) // size
    if len(_BLOCK_TOTALS) > 64:
        _BLOCK_TOTALS.clear()
    _BLOCK_TOTALS[key] = (macs, kept)
    return macs, kept


def split_params(class_name: str, config: dict, params: int | None) -> tuple[int | None, int | None]:
    """(trainable, non-trainable) parameters of a layer with ``params`` in all."""
    if params is None:
        return None, None
    if config.get("trainable") is False:
        return 0, params
    if class_name in ("Bidirectional", "TimeDistributed"):
        inner = config.get("layer")
        if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
            return split_params(str(inner.get("class_name")), inner["config"], params)
        return params, 0
    if class_name == "BatchNormalization":
        # gamma and beta (when scale / center) are trained; moving mean and variance are not
        kinds = 2 + bool(config.get("center", True)) + bool(config.get("scale", True))
        fixed = params // kinds * 2
        return params - fixed, fixed
    if class_name == "Normalization":
        return 0, params
    return params, 0


def _prod(values) -> int | None:
    out = 1
    for v in values:
        if v is None:
            return None
        out *= int(v)
    return out


def _channels_first(config: dict) -> bool:
    return config.get("data_format") == "channels_first"


def _spatial(shape: tuple, config: dict) -> tuple[tuple, Any]:
    """(spatial dims, channels) of a (batch, ..., channels) or channels-first shape."""
    if _channels_first(config):
        return tuple(shape[2:]), shape[1]
    return tuple(shape[1:-1]), shape[-1]


def _kernel(config: dict, rank: int) -> int:
    k = config.get("kernel_size", 1)
    if isinstance(k, (list, tuple)):
        return _prod(k) or 0
    return int(k) ** rank


def _inner(config: dict) -> tuple[str, dict]:
    inner = config.get("layer") or {}
    return str(inner.get("class_name", "")), dict(inner.get("config") or {})


def layer_macs(class_name: str, config: dict, inputs: list[tuple], outputs: list[tuple]) -> int | None:
    """Multiply-accumulates per sample of one forward pass (see the module's notes); None if unknown."""
    config = config or {}
    if not inputs or not outputs:
        return 0 if class_name == "InputLayer" else None
    x, y = inputs[0], outputs[0]
    try:
        if class_name == "Dense":
            return _prod([*y[1:-1], x[-1], y[-1]])
        m = _CONV.match(class_name)
        if m:
            space, c_in = _spatial(x, config)
            out_space, filters = _spatial(y, config)
            groups = int(config.get("groups", 1) or 1)
            n = _prod([*out_space, filters, c_in])
            return None if n is None else n * _kernel(config, int(m.group(1))) // groups
        m = _CONV_T.match(class_name)
        if m:
            space, c_in = _spatial(x, config)
            n = _prod([*space, c_in, int(config.get("filters", 1))])
            return None if n is None else n * _kernel(config, int(m.group(1)))
        m = _DEPTHWISE.match(class_name) or _SEPARABLE.match(class_name)
        if m:
            _space, c_in = _spatial(x, config)
            out_space, filters = _spatial(y, config)
            mult = int(config.get("depth_multiplier", 1) or 1)
            depthwise = _prod([*out_space, c_in, mult])
            if depthwise is None:
                return None
            total = depthwise * _kernel(config, int(m.group(1)))
            if class_name.startswith("Separable"):
                total += depthwise * int(filters)
            return total
        if class_name in _RNN_GATES:
            steps, features = x[1], x[-1]
            units = int(config.get("units", 1))
            return _prod([steps, _RNN_GATES[class_name], features + units if features is not None else None, units])
        if class_name == "ConvLSTM2D":
            steps = x[1]
            frame = (x[0],) + tuple(x[2:])
            space, c_in = _spatial(frame, config)
            out_space, filters = _spatial(y[:1] + y[2:] if len(y) == 5 else y, config)
            n = _prod([steps, *out_space, 4, filters, (c_in or 0) + (filters or 0)])
            return None if n is None else n * _kernel(config, 2)
        if class_name == "Bidirectional":
            inner_name, inner_cfg = _inner(config)
            one = layer_macs(inner_name, inner_cfg, inputs, outputs)
            return None if one is None else 2 * one
        if class_name == "TimeDistributed":
            inner_name, inner_cfg = _inner(config)
            steps = x[1]
            one = layer_macs(inner_name, inner_cfg, [(x[0],) + tuple(x[2:])], [(y[0],) + tuple(y[2:])])
            return None if one is None or steps is None else steps * one
        if class_name == "MultiHeadAttention":
            return _attention_macs(config, inputs, y)
        if class_name in ("Attention", "AdditiveAttention"):
            q, v = inputs[0], inputs[1]
            k = inputs[2] if len(inputs) > 2 else v
            return _prod([q[1], k[1], q[-1]]) + _prod([q[1], v[1], v[-1]]) \
                if None not in (q[1], k[1], v[1], q[-1], v[-1]) else None
        if class_name == "Dot":
            axes = config.get("axes", -1)
            axis = axes[0] if isinstance(axes, (list, tuple)) else axes
            contracted = x[int(axis)]
            n = _prod(y[1:]) if len(y) > 1 else 1
            return None if n is None or contracted is None else n * contracted
    except (TypeError, ValueError, IndexError):
        return None
    return 0


def _attention_macs(config: dict, inputs: list[tuple], y: tuple) -> int | None:
    q, v = inputs[0], inputs[1]
    k = inputs[2] if len(inputs) > 2 else v
    heads = int(config.get("num_heads", 1))
    key_dim = int(config.get("key_dim", 1))
    value_dim = int(config.get("value_dim") or key_dim)
    tq, tk = _prod(q[1:-1]), _prod(v[1:-1])
    if tq is None or tk is None or None in (q[-1], k[-1], v[-1], y[-1]):
        return None
    return (tq * q[-1] * heads * key_dim + tk * k[-1] * heads * key_dim + tk * v[-1] * heads * value_dim
            + heads * tq * tk * key_dim + heads * tq * tk * value_dim + tq * heads * value_dim * y[-1])


def kept_values(class_name: str, config: dict, inputs: list[tuple], outputs: list[tuple]) -> int | None:
    """Values per sample this layer keeps for the backward pass (see the module's notes)."""
    config = config or {}
    if class_name in _ALIASES and class_name != "InputLayer":
        return 0
    size = 0
    for shape in outputs:
        n = _prod(shape[1:])
        if n is None:
            return None
        size += n
    if class_name in _DROPOUTS:
        return 2 * size  # the output and the mask
    if class_name in _NORMALIZATIONS:
        return size + size // 2  # the output and part of the normalized values (measured)
    x = inputs[0] if inputs else None
    try:
        if class_name in _RNN_GATES:
            steps = _prod([x[1], _RNN_GATES[class_name] + 2, int(config.get("units", 1))])
            return None if steps is None else size + steps  # the gates and states of every step
        if class_name == "Bidirectional":
            inner_name, inner_cfg = _inner(config)
            one = kept_values(inner_name, inner_cfg, inputs, outputs)
            return None if one is None else one + size
        if class_name == "ConvLSTM2D":
            space = outputs[0][2:-1] if len(outputs[0]) == 5 else outputs[0][1:-1]
            steps = _prod([x[1], *space, 6, int(config.get("filters", 1))])
            return None if steps is None else size + steps
    except (TypeError, ValueError, IndexError):
        return None
    return size


def dtype_bytes(dtype: str | None) -> int:
    return _DTYPE_BYTES.get(str(dtype or "float32"), 4)


@dataclass(frozen=True)
class LayerSummary:
    node_id: str
    name: str
    class_name: str
    outputs: tuple | None           # output shapes (None when the layer has an error)
    trainable: int | None
    non_trainable: int | None
    macs: int | None                # per sample
    activation_bytes: int | None    # per sample, kept for the backward pass
    error: str | None = None
    output_bytes: int = 0           # per sample, the layer's outputs

    @property
    def params(self) -> int | None:
        return None if self.trainable is None else self.trainable + self.non_trainable


# -- memory ----------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceMemory:
    """How much memory the chosen device offers, and where that figure came from."""

    device: str        # "CPU", "GPU:0"
    name: str          # a description for people
    bytes: int | None  # usable for training (the stated share applied)
    source: str        # how it was found, or the assumption made


@dataclass(frozen=True)
class MemoryEstimate:
    batch_size: int
    weights: int
    gradients: int
    optimizer_state: int
    activations: int       # for the whole batch, including the backward pass's working gradient
    per_sample: int        # activation bytes per sample
    complete: bool

    @property
    def fixed(self) -> int:
        return self.weights + self.gradients + self.optimizer_state

    @property
    def total(self) -> int:
        return self.fixed + self.activations

    def at_batch(self, batch: int) -> int:
        return self.fixed + self.per_sample * batch


@dataclass
class ModelSummary:
    layers: list[LayerSummary]
    trainable: int
    non_trainable: int
    macs: int                   # per sample, forward
    memory: MemoryEstimate
    device: DeviceMemory | None
    largest_batch: int | None   # largest batch size that fits the device (None: unknown)
    advice: str
    complete: bool              # every layer checked, every shape known
    notes: list[str] = field(default_factory=list)

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def training_macs(self) -> int:
        """Per sample, one training step: the backward pass costs about twice the forward."""
        return 3 * self.macs


def summarize_layers(graph, states: dict, half_activations: bool = False) -> list[LayerSummary]:
    """One :class:`LayerSummary` per node of the model, in graph order.

    ``half_activations``: layers compute in float16 (mixed precision on a GPU).
    """
    try:
        order = graph.topological_order()
    except Exception:
        order = list(graph.nodes)
    model = graph.model_node_ids()
    rows = []
    for node_id in order:
        if node_id not in model:
            continue
        node = graph.nodes[node_id]
        state = states.get(node_id)
        if state is None or state.error is not None or state.outputs is None:
            error = state.error if state is not None else "not checked yet"
            rows.append(LayerSummary(node_id, node.name, node.class_name, None, None, None, None, None, error))
            continue
        inputs = []
        ports = graph.inputs_of(node_id)
        for port in sorted(ports):
            src, k = ports[port]
            up = states.get(src)
            if up is None or not up.outputs or k >= len(up.outputs):
                inputs = []
                break
            inputs.append(up.outputs[k])
        from studio.engine.sharing import effective_config
        config = effective_config(graph, node)  # a shared layer's use computes with its layer's settings
        trainable, fixed = split_params(node.class_name, config, state.params)
        if config is not node.config:  # ... and holds no weights of its own
            trainable, fixed = 0, 0
        if node.class_name == "Block" and config is node.config:  # its inside, summed
            trainable = state.trainable_params
            fixed = None if trainable is None or state.params is None else state.params - trainable
            macs, values = _block_totals(config, half_activations)
        else:
            macs = layer_macs(node.class_name, config, inputs, list(state.outputs))
            values = kept_values(node.class_name, config, inputs, list(state.outputs))
        size = dtype_bytes((state.dtypes or ["float32"])[0])
        if half_activations and node.class_name != "InputLayer" and size == 4:
            size = 2
        act = None if values is None else values * size
        out_size = sum(_prod(shape[1:]) or 0 for shape in state.outputs)
        rows.append(LayerSummary(node_id, node.name, node.class_name, tuple(state.outputs), trainable, fixed,
                                 macs, act, None, out_size * size))
    return rows


def estimate_memory(layers: list[LayerSummary], batch_size: int, optimizer: str = "adam",
                    momentum: float = 0.0) -> MemoryEstimate:
    """Bytes for one training step at ``batch_size`` (see the module's notes)."""
    trainable = sum(r.trainable or 0 for r in layers)
    fixed = sum(r.non_trainable or 0 for r in layers)
    kept = [r.activation_bytes for r in layers if r.activation_bytes is not None]
    complete = all(r.activation_bytes is not None for r in layers)
    inputs = sum(r.activation_bytes or 0 for r in layers if r.class_name == "InputLayer")
    largest = max((r.output_bytes for r in layers), default=0)
    per_sample = sum(kept) + inputs + WORKSPACE * largest
    return MemoryEstimate(batch_size=batch_size, weights=4 * (trainable + fixed), gradients=4 * trainable,
                          optimizer_state=4 * trainable * optimizer_slots(optimizer, momentum),
                          activations=per_sample * batch_size, per_sample=per_sample, complete=complete)


# -- the device -------------------------------------------------------------------
def _meminfo_available() -> tuple[int | None, str]:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available, /proc/meminfo"
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        return pages * os.sysconf("SC_PAGE_SIZE"), "free, os.sysconf"
    except (ValueError, OSError, AttributeError):
        pass
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return total // 2, "assumed free: half the installed memory, os.sysconf"
    except (ValueError, OSError, AttributeError):
        return None, "the free memory could not be read"


_cpu_cache: tuple[float, DeviceMemory] | None = None


def cpu_memory(max_age: float = 5.0) -> DeviceMemory:
    """The memory available to a CPU run now (read at most every ``max_age`` seconds)."""
    global _cpu_cache
    now = time.monotonic()
    if _cpu_cache is not None and now - _cpu_cache[0] < max_age:
        return _cpu_cache[1]
    available, source = _meminfo_available()
    usable = None if available is None else int(available * CPU_SHARE)
    result = DeviceMemory("CPU", "CPU memory", usable,
                          f"{int(CPU_SHARE * 100)} % of the {_fmt(available)} {source}" if available is not None
                          else source)
    _cpu_cache = (now, result)
    return result


@lru_cache(maxsize=8)
def gpu_memory(index: int = 0) -> DeviceMemory:
    """A GPU's memory: from nvidia-smi when present, else TensorFlow's device details
    (when TensorFlow is already loaded), else a stated assumption."""
    name = f"GPU:{index}"
    total, label = _nvidia_smi_total(index)
    if total is not None:
        return DeviceMemory(name, label or name, int(total * GPU_SHARE),
                            f"{int(GPU_SHARE * 100)} % of its {_fmt(total)}, nvidia-smi")
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            gpus = tf.config.list_physical_devices("GPU")
            if index < len(gpus):
                details = tf.config.experimental.get_device_details(gpus[index]) or {}
                label = details.get("device_name") or name
        except Exception:
            pass
    return DeviceMemory(name, label or name, int(ASSUMED_GPU_BYTES * GPU_SHARE),
                        f"{int(GPU_SHARE * 100)} % of an assumed {_fmt(ASSUMED_GPU_BYTES)}: "
                        "the GPU's memory could not be read")


def _nvidia_smi_total(index: int) -> tuple[int | None, str | None]:
    import shutil
    import subprocess
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None, None
    try:
        out = subprocess.run([exe, f"--id={index}", "--query-gpu=name,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=3)
        name, mib = [p.strip() for p in out.stdout.strip().splitlines()[0].rsplit(",", 1)]
        return int(float(mib)) * 1024 * 1024, f"{name} (GPU:{index})"
    except Exception:
        return None, None


def visible_gpus() -> int:
    """GPUs TensorFlow sees, when it is loaded (0 otherwise: nothing is imported for this)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return 0
    try:
        return len(tf.config.list_physical_devices("GPU"))
    except Exception:
        return 0


def device_memory(device: str) -> tuple[DeviceMemory, int]:
    """(memory of the device a run would use, how many devices share the batch)."""
    device = device or "auto"
    if device == "cpu":
        return cpu_memory(), 1
    if device.startswith("gpu:"):
        return gpu_memory(int(device.split(":")[1])), 1
    gpus = visible_gpus()
    if device == "mirrored":
        return (gpu_memory(0), gpus) if gpus else (cpu_memory(), 1)
    return (gpu_memory(0), 1) if gpus else (cpu_memory(), 1)


def largest_batch(memory: MemoryEstimate, available: int) -> int | None:
    """The largest batch size whose estimate fits ``available`` bytes (0: not even the weights)."""
    if memory.per_sample <= 0:
        return None
    room = available - memory.fixed
    return max(0, room // memory.per_sample)


def _fmt(n: float | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if abs(n) >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    return f"{int(n)} B"


format_bytes = _fmt


def format_count(n: float | None) -> str:
    """12.3 M, 4.5 G: counts for people."""
    if n is None:
        return "?"
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)}"


def _power_of_two_below(n: int) -> int:
    return 1 << (n.bit_length() - 1) if n >= 1 else 0


# -- the whole model --------------------------------------------------------------
def summarize(graph, states: dict, training, device: DeviceMemory | None = None, replicas: int | None = None,
              train_samples: int | None = None) -> ModelSummary:
    """The summary of a checked graph for a training configuration.

    ``device`` (and ``replicas``, devices sharing each batch) default to what
    ``training.device`` selects; ``train_samples`` caps the advice.
    """
    if device is None:
        device, found = device_memory(training.device)
        replicas = replicas or found
    replicas = max(1, int(replicas or 1))
    on_gpu = device is not None and device.device.startswith("GPU")
    layers = summarize_layers(graph, states, half_activations=bool(training.mixed_precision) and on_gpu)
    batch = int(training.batch_size)
    per_device = -(-batch // replicas)
    memory = estimate_memory(layers, per_device, training.optimizer,
                             float(training.momentum) if training.optimizer in ("sgd", "rmsprop") else 0.0)
    checked = all(r.error is None for r in layers) and bool(layers)
    complete = checked and memory.complete and all(r.macs is not None for r in layers)
    trainable = sum(r.trainable or 0 for r in layers)
    fixed = sum(r.non_trainable or 0 for r in layers)
    macs = sum(r.macs or 0 for r in layers)
    notes = []
    if not checked:
        notes.append("some layers have errors: their figures are missing from the totals")
    elif not complete:
        notes.append("some shapes have a dimension of any size: those layers' MACs and memory are not counted")
    if replicas > 1:
        notes.append(f"the batch of {batch} is split over {replicas} devices: {per_device} per device")
    if training.mixed_precision and not on_gpu:
        notes.append("mixed precision saves no activation memory on the CPU (TensorFlow keeps float32 "
                     "copies; measured), so none is counted")
    fit = None
    if device is not None and device.bytes is not None and memory.per_sample > 0:
        fit = largest_batch(memory, device.bytes)
        if fit is not None:
            fit *= replicas
    advice = _advice(memory, device, fit, batch, train_samples, replicas)
    return ModelSummary(layers, trainable, fixed, macs, memory, device, fit, advice, complete, notes)


def _advice(memory: MemoryEstimate, device: DeviceMemory | None, fit: int | None, batch: int,
            train_samples: int | None, replicas: int) -> str:
    need = f"One training step at batch size {batch:,} needs about {_fmt(memory.total)}"
    if replicas > 1:
        need += " per device"
    if device is None or device.bytes is None:
        return need + "; the device's memory is unknown."
    where = f"{device.name}: {_fmt(device.bytes)} usable ({device.source})"
    if fit is None:
        return f"{need}. {where}."
    if fit == 0:
        return (f"{need}; the weights and optimizer state alone ({_fmt(memory.fixed)}) do not fit {where}: "
                "use a smaller model or an optimizer with less state (SGD).")
    if train_samples and fit >= train_samples:
        return f"{need}. {where}: every batch size up to the {train_samples:,} training samples fits."
    suggestion = _power_of_two_below(fit)
    if batch > fit:
        return (f"{need}, more than {where}. Use a batch size of at most {fit:,} "
                f"(e.g. {suggestion:,}).")
    return f"{need}. {where}: batch sizes up to about {fit:,} fit (largest power of two: {suggestion:,})."


def summarize_document(document, device: DeviceMemory | None = None) -> ModelSummary:
    """The summary of a document's model as checked now (no check is run here)."""
    samples = None
    if document.dataset is not None:
        try:
            samples = len(document.dataset.x_train)
        except Exception:
            samples = None
    return summarize(document.graph, document.checker.states, document.training, device=device,
                     train_samples=samples)
