"""Loading and checking grow linearly with the graph.

A project file holding a chain of N layers (Input -> Dense x N, with a few
different settings so the check cache is not the whole story) is loaded from
disk, validated and shape-checked in full, as `layer-studio check` and the
window do. Target (issue 9): 20,000 nodes take at most 20x the time of 1,000
(measured in the same run, alternating, median of five pairs, CPU time). Before the graph
kept its indexes, 5,000 nodes took 6.4 s, 10,000 15.5 s and 20,000 about 90 s.
"""

import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import load, report

from studio.engine.graph import ModelGraph
from studio.engine.project import Project, load_project
from studio.engine.shapes import ShapeChecker


def chain_file(n: int, folder: Path) -> Path:
    g = ModelGraph(f"chain{n}")
    prev = g.add_node("InputLayer", {"shape": [16]}, position=(0, 0))
    for k in range(n - 1):
        node = g.add_node("Dense", {"units": 16, "activation": ("relu", "tanh", "linear")[k % 3]},
                          position=(0, 100 * (k + 1)))
        g.connect(prev.id, node.id)
        prev = node
    path = folder / f"chain{n}.studio"
    Project(graph=g).save(path)
    return path


def load_and_check(path: Path) -> float:
    """CPU seconds of this process (the machine is shared: wall time swings with its load),
    each run starting from a collected heap (the previous run's garbage is not billed to it)."""
    gc.collect()
    t = time.process_time()
    project = load_project(path)
    checker = ShapeChecker(project.graph)
    checker.refresh()
    assert not checker.errors(), checker.errors()[:3]
    return time.process_time() - t


def main() -> int:
    from studio.engine.runtime_gc import import_keras_settled
    import_keras_settled()  # as every entry point loads Keras (outside the timings)
    folder = Path(tempfile.mkdtemp())
    small, large = chain_file(1_000, folder), chain_file(20_000, folder)
    load_and_check(small)  # warm-up: imports, first Keras calls
    ratios, smalls, larges = [], [], []
    for k in range(5):
        if k % 2 == 0:
            s, g = load_and_check(small), load_and_check(large)
        else:
            g, s = load_and_check(large), load_and_check(small)
        smalls.append(s)
        larges.append(g)
        ratios.append(g / s)
        print(f"pair {k + 1}: 1,000 nodes {s:.3f} s, 20,000 nodes {g:.3f} s, ratio {g / s:.1f}", flush=True)
    ratio = statistics.median(ratios)
    return 0 if report("graph_scale", [
        {"what": "load + full check, 1,000-node chain (median)", "value": f"{statistics.median(smalls):.3f} s",
         "target": "baseline"},
        {"what": "load + full check, 20,000-node chain (median)", "value": f"{statistics.median(larges):.2f} s",
         "target": "-"},
        {"what": f"20,000 / 1,000 nodes (load average {load():.1f})", "value": f"{ratio:.1f}x",
         "target": "<= 20x", "ok": ratio <= 20},
    ]) else 1


if __name__ == "__main__":
    sys.exit(main())
