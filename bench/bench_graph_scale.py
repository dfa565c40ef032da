"""Loading and checking grow linearly with the graph.

A project file holding a chain of N layers (Input -> Dense x N, with a few
different settings so the check cache is not the whole story) is checked the
way a person checks it: ``layer-studio check P.studio``, which reads the file,
validates every field, checks every shape and prints a line per layer, the
totals and the memory advice. Target (issue 9): 20,000 nodes take at most 20x
the time of 1,000. Before the graph kept its indexes, 5,000 nodes took 6.4 s,
10,000 15.5 s and 20,000 about 90 s to load.

Every measurement is a fresh process, alternating the two sizes, median of
seven pairs:

- whole process: ``layer-studio check`` from start to exit, wall and CPU time
  (the interpreter's start and Keras's import included, the same on both sides:
  what the person waits for);
- the command's own work: CPU time of the same entry point, ``cli.main(["check",
  path])``, in a process that has imported Keras and checked a 10-node project
  first, so that start-up and Keras's first calls dilute neither side: the
  ratio that shows whether the work is linear;
- of which reading, validating and checking (no printing), timed the same way.

Loading the same file again and again in one process would time it with its data
already in the CPU's caches, which no real load enjoys.
"""

import contextlib
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import load, report

from studio.engine.graph import ModelGraph
from studio.engine.project import Project

PAIRS = 7
ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / ".venv" / "bin" / "layer-studio"


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


def _check_command(path: Path) -> float:
    """CPU seconds of ``layer-studio check`` in this process, its output thrown away."""
    from studio import cli
    gc.collect()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        t = time.process_time()
        code = cli.main(["check", str(path)])
        seconds = time.process_time() - t
    assert code == 0, f"check failed on {path}"
    return seconds


def _load_and_check(path: Path) -> float:
    """CPU seconds to read, validate and fully check one project, as the command does first."""
    from studio.engine.project import load_project
    from studio.engine.shapes import ShapeChecker
    gc.collect()
    t = time.process_time()
    checker = ShapeChecker(load_project(path).graph)
    checker.refresh()
    seconds = time.process_time() - t
    assert not checker.errors(), checker.errors()[:3]
    return seconds


def child(what: str, path: str, warm_up: str) -> None:
    """One measurement in a fresh process. Keras is imported as every entry point does, and
    Keras's first calls for these layers are made on a 10-node project first."""
    from studio.engine.runtime_gc import import_keras_settled
    import_keras_settled()
    timed = _check_command if what == "command" else _load_and_check
    timed(Path(warm_up))
    print(f"SECONDS {timed(Path(path)):.6f}", flush=True)


def inside(what: str, path: Path, warm_up: Path) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", what, str(path), str(warm_up)],
                         capture_output=True, text=True, check=True).stdout
    return float(out.split("SECONDS ")[1])


def whole(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``layer-studio check path`` as a process of its own."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([str(CLI), "check", str(path)], capture_output=True, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _pairs(measure, small: Path, large: Path, label: str) -> tuple[list, list]:
    smalls, larges = [], []
    for k in range(PAIRS):
        if k % 2 == 0:
            s, g = measure(small), measure(large)
        else:
            g, s = measure(large), measure(small)
        smalls.append(s)
        larges.append(g)
        print(f"{label} pair {k + 1}: 1,000 nodes {_seconds(s)}, 20,000 nodes {_seconds(g)}", flush=True)
    return smalls, larges


def _seconds(value) -> str:
    return " / ".join(f"{v:.3f} s" for v in (value if isinstance(value, tuple) else (value,)))


def _ratio(smalls, larges) -> float:
    return statistics.median(g / s for s, g in zip(smalls, larges))


def main() -> int:
    folder = Path(tempfile.mkdtemp())
    warm_up, small, large = chain_file(10, folder), chain_file(1_000, folder), chain_file(20_000, folder)
    ws, wl = _pairs(whole, small, large, "whole process (wall / CPU)")
    cs, cl = _pairs(lambda p: inside("command", p, warm_up), small, large, "check command")
    ls, ll = _pairs(lambda p: inside("load", p, warm_up), small, large, "load + check")
    wall = _ratio([w for w, _ in ws], [w for w, _ in wl])
    cpu = _ratio([c for _, c in ws], [c for _, c in wl])
    command, loading = _ratio(cs, cl), _ratio(ls, ll)
    med = statistics.median
    return 0 if report("graph_scale", [
        {"what": "layer-studio check, whole process, 1,000 nodes (median wall / CPU)",
         "value": f"{med(w for w, _ in ws):.2f} s / {med(c for _, c in ws):.2f} s", "target": "baseline"},
        {"what": "layer-studio check, whole process, 20,000 nodes (median wall / CPU)",
         "value": f"{med(w for w, _ in wl):.2f} s / {med(c for _, c in wl):.2f} s", "target": "-"},
        {"what": "whole process, 20,000 / 1,000 nodes (wall / CPU)", "value": f"{wall:.2f}x / {cpu:.2f}x",
         "target": "<= 20x", "ok": wall <= 20 and cpu <= 20},
        {"what": "check command's own work, 1,000 nodes (median CPU)", "value": f"{med(cs) * 1000:.1f} ms",
         "target": "baseline"},
        {"what": "check command's own work, 20,000 nodes (median CPU)", "value": f"{med(cl) * 1000:.0f} ms",
         "target": "-"},
        {"what": f"check command's own work, 20,000 / 1,000 nodes (load average {load():.1f})",
         "value": f"{command:.1f}x", "target": "<= 20x", "ok": command <= 20},
        {"what": "of which load + full check (no printing), 1,000 / 20,000 nodes (median CPU)",
         "value": f"{med(ls) * 1000:.1f} ms / {med(ll) * 1000:.0f} ms", "target": "-"},
        {"what": "load + full check, 20,000 / 1,000 nodes", "value": f"{loading:.1f}x", "target": "<= 20x",
         "ok": loading <= 20},
    ]) else 1


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
        sys.exit(0)
    sys.exit(main())
