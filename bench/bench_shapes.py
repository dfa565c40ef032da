"""Shape checking speed: full check of a 200-node graph and an incremental re-check.

Targets (issue 2): full check <= 150 ms, incremental re-check after one
parameter edit <= 30 ms, once Keras is loaded. The baseline, measured in the
same run, is Keras building the same model symbolically (``compile_graph``,
which is what ``keras.Model`` construction costs).
"""

import sys

from common import report, timed

from studio.engine.compiler import compile_graph
from studio.engine.graph import ModelGraph
from studio.engine.shapes import ShapeChecker


def residual_graph(n_target=200, seed_filters=(16, 24, 32, 48, 64, 96, 128, 160)):
    """A ResNet-like graph of about n_target nodes with varied layer settings."""
    g = ModelGraph("bench200")
    prev = g.add_node("InputLayer", {"shape": [64, 64, 3]})
    k = 0
    def add(cls, cfg, *srcs):
        node = g.add_node(cls, cfg)
        for port, s in enumerate(srcs):
            g.connect(s.id, node.id, port)
        return node
    x = add("Conv2D", {"filters": 16, "kernel_size": [3, 3], "padding": "same"}, prev)
    while len(g.nodes) < n_target - 4:
        f = seed_filters[(k // 3) % len(seed_filters)]
        k += 1
        a = add("Conv2D", {"filters": f, "kernel_size": [3, 3], "padding": "same", "use_bias": False}, x)
        a = add("BatchNormalization", {}, a)
        a = add("Activation", {"activation": "relu"}, a)
        a = add("SeparableConv2D", {"filters": f, "kernel_size": [3, 3], "padding": "same"}, a)
        a = add("BatchNormalization", {"momentum": 0.9}, a)
        s = add("Conv2D", {"filters": f, "kernel_size": [1, 1], "padding": "same"}, x)
        x = add("Add", {}, a, s)
        x = add("Dropout", {"rate": 0.1 + 0.01 * (k % 10)}, x)
    x = add("GlobalAveragePooling2D", {}, x)
    x = add("Dense", {"units": 64, "activation": "relu"}, x)
    add("Dense", {"units": 10, "activation": "softmax"}, x)
    return g


def main():
    # load Keras and warm it up on a different small graph
    warm = residual_graph(40, seed_filters=(8,))
    ShapeChecker(warm).refresh()
    compile_graph(warm)

    g = residual_graph()
    n = len(g.nodes)
    holder = {}

    def cold_setup():
        holder["checker"] = ShapeChecker(g)  # empty cache: nothing known about this graph

    full_med, full_min = timed(lambda: holder["checker"].refresh(), repeat=5, setup=cold_setup)
    checker = ShapeChecker(g)
    checker.refresh()
    assert not checker.errors(), checker.errors()[:3]
    convs = [i for i, nd in g.nodes.items() if nd.class_name == "Conv2D"]
    target = convs[len(convs) // 2]
    values = iter([40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51])

    def edit():
        g.set_param(target, "filters", next(values))
        checker.refresh()

    inc_med, inc_min = timed(edit, repeat=7)
    base_med, _ = timed(lambda: compile_graph(g), repeat=3)
    # worst case: result cache disabled, every node is inferred through Keras
    worst = {}
    worst_med, _ = timed(lambda: worst["c"].refresh(), repeat=3,
                         setup=lambda: worst.update(c=ShapeChecker(g, cache_size=0)))
    rows = [
        {"what": f"full check, {n} nodes, cold cache", "value": f"{full_med * 1000:.1f} ms (min {full_min * 1000:.1f})",
         "target": "<= 150 ms", "ok": full_med <= 0.150, "ms": full_med * 1000},
        {"what": "incremental re-check after one parameter edit", "value": f"{inc_med * 1000:.1f} ms (min {inc_min * 1000:.1f})",
         "target": "<= 30 ms", "ok": inc_med <= 0.030, "ms": inc_med * 1000},
        {"what": f"full check, {n} nodes, result cache disabled (worst case)",
         "value": f"{worst_med * 1000:.1f} ms", "target": "informational", "ms": worst_med * 1000},
        {"what": "baseline: keras builds the same model (compile_graph)", "value": f"{base_med * 1000:.0f} ms; "
         f"full check is {full_med / base_med:.2f}x of it", "target": "reference", "ms": base_med * 1000},
    ]
    return report("shapes", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
