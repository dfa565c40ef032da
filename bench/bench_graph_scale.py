"""Loading and checking grow linearly with the graph.

A project file holding a chain of N layers (Input -> Dense x N, with a few
different settings so the check cache is not the whole story) is loaded from
disk, validated and shape-checked in full, as `layer-studio check` and the
window do. Target (issue 9): 20,000 nodes take at most 20x the time of 1,000
(measured in the same run, alternating, median of seven pairs, CPU time). Before the graph
kept its indexes, 5,000 nodes took 6.4 s, 10,000 15.5 s and 20,000 about 90 s.

Each measurement runs in a fresh process, as a person opens one project: loading
the same 1,000-node file again and again in one process would time it with its
data already in the CPU's caches, which no real load enjoys.
"""

import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import load, report

from studio.engine.graph import ModelGraph
from studio.engine.project import Project, load_project
from studio.engine.shapes import ShapeChecker

PAIRS = 7


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
    """CPU seconds of this process to read, validate and fully check one project."""
    gc.collect()
    t = time.process_time()
    project = load_project(path)
    checker = ShapeChecker(project.graph)
    checker.refresh()
    assert not checker.errors(), checker.errors()[:3]
    return time.process_time() - t


def child(path: str, warm_up: str) -> None:
    """One measurement in a fresh process, as ``layer-studio check`` opens one project:
    the data starts cold on both sides. Keras's first calls for these layers are made
    on a 10-node project first, so that neither side is billed for them."""
    from studio.engine.runtime_gc import import_keras_settled
    import_keras_settled()  # as every entry point loads Keras
    load_and_check(Path(warm_up))
    print(f"SECONDS {load_and_check(Path(path)):.6f}", flush=True)


def measure(path: Path, warm_up: Path) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", str(path), str(warm_up)],
                         capture_output=True, text=True, check=True).stdout
    return float(out.split("SECONDS ")[1])


def main() -> int:
    folder = Path(tempfile.mkdtemp())
    warm_up, small, large = chain_file(10, folder), chain_file(1_000, folder), chain_file(20_000, folder)
    ratios, smalls, larges = [], [], []
    for k in range(PAIRS):
        if k % 2 == 0:
            s, g = measure(small, warm_up), measure(large, warm_up)
        else:
            g, s = measure(large, warm_up), measure(small, warm_up)
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
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        sys.exit(0)
    sys.exit(main())
