"""Compiling a ResNet50-sized graph vs ``keras.Model.from_config`` in the same run.

Target (issue 2): compile_graph takes at most 2x what from_config takes for
the same architecture.
"""

import copy
import sys

from common import report, timed

import keras

from studio.engine.compiler import compile_graph
from studio.engine.importer import graph_from_model


def main():
    model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3))
    config = model.get_config()
    graph, _ = graph_from_model(model)
    fresh = {}

    def fresh_config():  # from_config consumes its argument; copy outside the timing
        fresh["config"] = copy.deepcopy(config)

    fresh_config()
    keras.Model.from_config(fresh["config"])  # warm both paths
    compile_graph(graph)
    base_med, base_min = timed(lambda: keras.Model.from_config(fresh["config"]), repeat=5, setup=fresh_config)
    ours_med, ours_min = timed(lambda: compile_graph(graph), repeat=5)
    ratio = ours_med / base_med
    rows = [
        {"what": f"keras.Model.from_config, ResNet50 ({len(model.layers)} layers)",
         "value": f"{base_med * 1000:.0f} ms (min {base_min * 1000:.0f})", "target": "baseline", "ms": base_med * 1000},
        {"what": "compile_graph, same architecture", "value": f"{ours_med * 1000:.0f} ms (min {ours_min * 1000:.0f})",
         "target": "", "ms": ours_med * 1000},
        {"what": "ratio compile_graph / from_config", "value": f"{ratio:.2f}x", "target": "<= 2.0x",
         "ok": ratio <= 2.0, "ratio": ratio},
    ]
    return report("compile", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
