"""The model summary: parameters against Keras, MACs against hand counts, optimizer
state against Keras's optimizers, and the memory estimate against measured peaks."""

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import pytest

from studio.engine import catalog, keras_bridge, summary, templates
from studio.engine.compiler import compile_graph
from studio.engine.graph import ModelGraph
from studio.engine.shapes import ShapeChecker
from studio.engine.train.settings import TrainingConfig

from .helpers import chain

ROOT = Path(__file__).resolve().parents[2]


def _checked(graph):
    checker = ShapeChecker(graph)
    checker.refresh()
    return checker.states


def bn_model() -> ModelGraph:
    """A small convnet with batch normalization (moving statistics: not trainable) and dropout."""
    g = ModelGraph("bn_convnet")
    chain(g, ("InputLayer", {"shape": [32, 32, 3]}),
          ("Conv2D", {"filters": 32, "kernel_size": [3, 3], "activation": "relu"}),
          ("BatchNormalization", {}),
          ("MaxPooling2D", {"pool_size": [2, 2]}),
          ("Conv2D", {"filters": 64, "kernel_size": [3, 3], "activation": "relu"}),
          ("Dropout", {"rate": 0.3}),
          ("GlobalAveragePooling2D", {}),
          ("Dense", {"units": 10, "activation": "softmax"}))
    return g


def _graphs():
    out = {name: templates.build(name).graph for name in templates.TEMPLATES}
    out["bn_convnet"] = bn_model()
    frozen = bn_model()
    frozen.name = "bn_frozen_conv"
    conv = next(n for n in frozen.nodes.values() if n.class_name == "Conv2D")
    frozen.set_param(conv.id, "trainable", False)
    out["bn_frozen_conv"] = frozen
    return out


@pytest.mark.parametrize("name", sorted(_graphs()))
def test_parameters_match_keras_per_layer_and_in_total(name):
    graph = _graphs()[name]
    rows = summary.summarize_layers(graph, _checked(graph))
    model = compile_graph(graph)
    by_name = {r.name: r for r in rows}
    for layer in model.layers:
        row = by_name[layer.name]
        trainable = sum(math.prod(w.shape) for w in layer.trainable_weights)
        fixed = sum(math.prod(w.shape) for w in layer.non_trainable_weights)
        assert (row.trainable, row.non_trainable) == (trainable, fixed), layer.name
    s = summary.summarize(graph, _checked(graph), TrainingConfig(device="cpu"))
    assert s.params == model.count_params()
    assert s.trainable == sum(math.prod(w.shape) for w in model.trainable_weights)
    assert s.non_trainable == sum(math.prod(w.shape) for w in model.non_trainable_weights)
    if name == "bn_convnet":
        assert s.non_trainable == 64   # the moving mean and variance of 32 channels


SAMPLE_INPUTS = [(None, 16, 16, 32), (None, 10, 8), (None, 16), (None, 4, 8, 8, 3), (None, 3, 8, 8, 2)]


@pytest.mark.parametrize("name", sorted(n for n in catalog.layer_names() if n not in ("InputLayer", "Block")))  # blocks: test_blocks
def test_trainable_split_matches_keras_for_every_catalog_layer(name):
    """The arithmetic split agrees with a real build, as is and with ``trainable: false``."""
    s = catalog.spec(name)
    checker = ShapeChecker(ModelGraph())
    for cfg in (s.default_config(), dict(s.default_config(), trainable=False)):
        for shape in SAMPLE_INPUTS:
            shapes = [shape] * max(1, s.min_inputs)
            result = checker._infer_uncached(name, cfg, shapes, ["float32"] * len(shapes))
            if result.error is None:
                break
        try:
            layer = keras_bridge.make_layer(name, "x", cfg)
        except TypeError:   # a layer without weights that does not take `trainable`
            assert "trainable" in cfg and not result.params
            continue
        keras_bridge.call_layer(layer, name, [keras.KerasTensor(sh) for sh in shapes])
        expected = (sum(math.prod(w.shape) for w in layer.trainable_weights),
                    sum(math.prod(w.shape) for w in layer.non_trainable_weights))
        assert summary.split_params(name, cfg, result.params) == expected, cfg


def _macs(class_name, config, *inputs):
    graph = ModelGraph()
    nodes = [graph.add_node("InputLayer", {"shape": list(shape)}) for shape in inputs]
    node = graph.add_node(class_name, config)
    for k, n in enumerate(nodes):
        graph.connect(n.id, node.id, k)
    rows = {r.node_id: r for r in summary.summarize_layers(graph, _checked(graph))}
    assert rows[node.id].error is None, rows[node.id].error
    return rows[node.id].macs


def test_macs_against_hand_counts():
    # Conv2D 3x3, 1 -> 32 channels on 28x28: 26x26 outputs x 32 filters x 9 taps x 1 channel
    assert _macs("Conv2D", {"filters": 32, "kernel_size": [3, 3]}, (28, 28, 1)) == 26 * 26 * 32 * 9
    # strided, padded, 3 input channels: 16x16 outputs x 8 filters x 25 taps x 3 channels
    assert _macs("Conv2D", {"filters": 8, "kernel_size": [5, 5], "strides": [2, 2], "padding": "same"},
                 (32, 32, 3)) == 16 * 16 * 8 * 25 * 3
    # Dense 1152 -> 10: one multiply-add per weight
    assert _macs("Dense", {"units": 10}, (1152,)) == 11520
    # Dense on a sequence acts per step: 7 steps x 16 x 4
    assert _macs("Dense", {"units": 4}, (7, 16)) == 7 * 16 * 4
    # LSTM, 20 steps of 8 features, 16 units: per step 4 gates x (8 input + 16 recurrent) x 16
    assert _macs("LSTM", {"units": 16}, (20, 8)) == 20 * 4 * (8 + 16) * 16
    assert _macs("GRU", {"units": 16}, (20, 8)) == 20 * 3 * (8 + 16) * 16
    assert _macs("SimpleRNN", {"units": 16}, (20, 8)) == 20 * 1 * (8 + 16) * 16
    assert _macs("Bidirectional", {"layer": {"class_name": "LSTM", "config": {"units": 16}}},
                 (20, 8)) == 2 * 20 * 4 * (8 + 16) * 16
    # depthwise 3x3 on 10x10x4 (valid: 8x8 out), then pointwise to 6 filters
    assert _macs("DepthwiseConv2D", {"kernel_size": [3, 3]}, (10, 10, 4)) == 8 * 8 * 4 * 9
    assert _macs("SeparableConv2D", {"filters": 6, "kernel_size": [3, 3]}, (10, 10, 4)) == \
        8 * 8 * 4 * 9 + 8 * 8 * 4 * 6
    # a transposed convolution scatters every input value through the kernel: 5x5 in x 2 ch x 9 x 3 filters
    assert _macs("Conv2DTranspose", {"filters": 3, "kernel_size": [3, 3]}, (5, 5, 2)) == 5 * 5 * 2 * 9 * 3
    assert _macs("Conv1D", {"filters": 4, "kernel_size": 3}, (10, 2)) == 8 * 4 * 3 * 2
    # attention: projections (3 in, 1 out) plus scores and weighted sum
    q, h, k = 6, 2, 4
    assert _macs("MultiHeadAttention", {"num_heads": h, "key_dim": k}, (5, q), (7, q)) == \
        5 * q * h * k + 7 * q * h * k + 7 * q * h * k + h * 5 * 7 * k + h * 5 * 7 * k + 5 * h * k * q
    for zero in (("Embedding", {"input_dim": 100, "output_dim": 8}, (12,)),
                 ("MaxPooling2D", {"pool_size": [2, 2]}, (8, 8, 3)),
                 ("Activation", {"activation": "relu"}, (8,)), ("BatchNormalization", {}, (8, 8, 3)),
                 ("Flatten", {}, (4, 4))):
        assert _macs(*zero) == 0


def test_macs_agree_with_weight_counts_on_a_real_model():
    """Independently: a Dense or Conv2D layer does one MAC per kernel weight per output position."""
    graph = templates.build("mnist_convnet").graph
    model = compile_graph(graph)
    rows = {r.name: r for r in summary.summarize_layers(graph, _checked(graph))}
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            positions = math.prod(layer.output.shape[1:-1])
            assert rows[layer.name].macs == math.prod(layer.kernel.shape) * positions
    assert summary.summarize(graph, _checked(graph), TrainingConfig(device="cpu")).macs == sum(
        r.macs for r in rows.values())


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_optimizer_slots_match_keras(optimizer, momentum):
    """Slots per weight: the optimizer's variables shaped like a weight, after it is built."""
    config = TrainingConfig(optimizer=optimizer, momentum=momentum)
    opt = config.make_optimizer()
    weight = keras.Variable(keras.ops.zeros((3, 5)))
    opt.build([weight])
    slots = sum(1 for v in opt.variables if tuple(v.shape) == (3, 5))
    used = momentum if optimizer in ("sgd", "rmsprop") else 0.0
    assert summary.optimizer_slots(optimizer, used) == slots


def test_advice_names_the_largest_batch_and_the_source_of_the_figure():
    graph = templates.build("mnist_convnet").graph
    states = _checked(graph)
    training = TrainingConfig(batch_size=64)
    device = summary.DeviceMemory("CPU", "CPU memory", 200 * 2 ** 20, "a test's 200 MB")
    s = summary.summarize(graph, states, training, device=device, replicas=1)
    assert s.complete and s.largest_batch == (device.bytes - s.memory.fixed) // s.memory.per_sample
    assert s.memory.at_batch(s.largest_batch) <= device.bytes < s.memory.at_batch(s.largest_batch + 1)
    assert f"{s.largest_batch:,}" in s.advice and "a test's 200 MB" in s.advice
    big = summary.summarize(graph, states, training.with_changes(batch_size=100_000), device=device, replicas=1)
    assert "more than" in big.advice and f"at most {big.largest_batch:,}" in big.advice
    tiny = summary.DeviceMemory("GPU:0", "a tiny GPU", 1000, "assumed")
    assert "do not fit" in summary.summarize(graph, states, training, device=tiny, replicas=1).advice
    # the optimizer's state and the batch size show in the figures
    sgd = summary.summarize(graph, states, training.with_changes(optimizer="sgd", momentum=0.0), device=device)
    assert sgd.memory.optimizer_state == 0 and s.memory.optimizer_state == 2 * 4 * s.trainable
    assert s.memory.activations == 64 * s.memory.per_sample
    # mixed precision halves activations on a GPU, not on the CPU (see summary's notes)
    gpu = summary.DeviceMemory("GPU:0", "a GPU", 2 ** 34, "assumed")
    full = summary.summarize(graph, states, training, device=gpu)
    half = summary.summarize(graph, states, training.with_changes(mixed_precision=True), device=gpu)
    assert half.memory.per_sample < 0.6 * full.memory.per_sample
    cpu_mixed = summary.summarize(graph, states, training.with_changes(mixed_precision=True), device=device)
    assert cpu_mixed.memory.per_sample == s.memory.per_sample and cpu_mixed.notes


def test_cpu_memory_is_read_from_the_system():
    found = summary.cpu_memory(max_age=0)
    assert found.bytes and found.bytes > 0 and found.source
    memory, replicas = summary.device_memory("cpu")
    assert memory.device == "CPU" and replicas == 1


def test_errors_and_unknown_lengths_are_left_out_of_totals_and_said():
    g = ModelGraph()
    chain(g, ("InputLayer", {"shape": [None, 8]}), ("LSTM", {"units": 4}), ("Dense", {"units": 2}))
    s = summary.summarize(g, _checked(g), TrainingConfig(device="cpu"))
    assert not s.complete and s.notes and s.macs == 4 * 2   # the Dense layer only: the LSTM's steps are unknown
    broken = ModelGraph()
    chain(broken, ("InputLayer", {"shape": [4]}), ("Conv2D", {"filters": 2, "kernel_size": 3}))
    s = summary.summarize(broken, _checked(broken), TrainingConfig(device="cpu"))
    assert not s.complete and any(r.error for r in s.layers) and "errors" in s.notes[0]


_MEASURE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    # one op at a time: the peak then does not depend on how busy the machine is (with
    # parallel ops, how many temporaries are alive at once moves with the scheduling)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from studio.engine import summary, templates
    from studio.engine.compiler import compile_graph
    from studio.engine.shapes import ShapeChecker
    from studio.engine.train.settings import TrainingConfig
    from tests.engine.test_summary import bn_model

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

    out = []
    for name, graph, batch in [("bn_convnet", bn_model(), 256),
                               ("mnist_convnet", templates.build("mnist_convnet").graph, 256)]:
        checker = ShapeChecker(graph)
        checker.refresh()
        config = TrainingConfig(optimizer="adam", batch_size=batch, device="cpu")
        device = summary.DeviceMemory("CPU", "CPU", 2 ** 40, "test")
        estimate = summary.summarize(graph, checker.states, config, device=device).memory
        model = compile_graph(graph)
        model.compile(optimizer=config.make_optimizer(), loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        def data(n):
            return (rng.random((n, *model.inputs[0].shape[1:])) * 255).astype("float32"), rng.integers(0, 10, n)
        for n in (1, 2, 3):   # trace the step (a batch of any size) and create the optimizer's slots
            model.train_on_batch(*data(n))
        x, y = data(batch)
        tf.config.experimental.reset_memory_stats("CPU:0")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        rss = status("VmRSS")
        model.train_on_batch(x, y)
        growth = status("VmHWM") - rss
        peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
        out.append({"model": name, "batch": batch, "estimate": estimate.total, "allocator_peak": peak,
                    "rss_peak": growth + estimate.weights + estimate.optimizer_state, "first": not out})
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc to reset the peak")
def test_memory_estimate_is_within_25_percent_of_the_measured_peak_on_cpu():
    """One training step of small convnets at batch 256, measured in a fresh process.

    Method (``summary.MEMORY_METHOD``): after three warm-up steps (the step is
    traced, the optimizer's slots exist) TensorFlow's CPU allocator statistics
    and the process's resident-set high-water mark are reset; one
    ``train_on_batch`` runs; the allocator's peak (weights, slots, activations,
    gradients and temporaries in TensorFlow's own allocator, oneDNN's) and the
    growth of the resident set plus the weights and optimizer state already
    resident are the two measurements. The resident set is only fair for the
    first model measured in a process (later ones reuse the memory the first
    one freed), so it is checked there only.

    oneDNN is on (TensorFlow's default; its allocator keeps the statistics).
    Measured here (2 CPU cores, TF 2.21): bn_convnet estimate 150 MB,
    allocator 168 MB, resident 163 MB; mnist_convnet estimate 65 MB, allocator
    73 MB. Over eight models at two batch sizes the convolutional and dense ones
    were within 25 % (the fitted rules are in summary's notes).
    """
    # oneDNN on, as TensorFlow runs by default (the tests' conftest turns it off): its allocator keeps statistics
    # a clean environment: what earlier tests left in this one (a cluster description, thread
    # settings) changes how TensorFlow schedules the step, and so its peak
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", TF_ENABLE_ONEDNN_OPTS="1")
    done = subprocess.run([sys.executable, "-c", _MEASURE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, done.stderr[-3000:]
    for row in json.loads(line[0][7:]):
        print(row)
        assert 0.75 <= row["estimate"] / row["allocator_peak"] <= 1.25, row
        if row["first"]:
            assert 0.75 <= row["estimate"] / row["rss_peak"] <= 1.25, row
