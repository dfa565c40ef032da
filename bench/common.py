"""Shared helpers for the benchmarks: quiet TensorFlow, timing, result lines."""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RESULTS = Path(__file__).resolve().parent / "out"


def timed(fn, repeat=7, setup=None):
    """Median and minimum wall time of fn() over `repeat` runs, in seconds."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def interleaved_pairs(baseline, candidate, n, label=("baseline", "candidate")):
    """Run ``baseline(k)`` and ``candidate(k)`` n times each, in pairs whose order
    alternates (this machine's speed drifts, and the second run of a pair tends
    to be the faster). Both return a rate; returns (baselines, candidates, ratios)."""
    bases, cands, ratios = [], [], []
    for k in range(n):
        if k % 2 == 0:
            b = baseline(k)
            c = candidate(k)
        else:
            c = candidate(k)
            b = baseline(k)
        bases.append(b)
        cands.append(c)
        ratios.append(c / b)
        print(f"pair {k + 1}: {label[0]} {b:,.0f}, {label[1]} {c:,.0f} samples/s, ratio {c / b:.3f}", flush=True)
    return bases, cands, ratios


def run_child(cmd, **popen_kwargs):
    """Run ``cmd`` as a child process to its end; returns (CPU seconds, user +
    system over all its threads (and any children it waited for), wall
    seconds, exit code). The CPU time comes from ``os.wait4``: unlike wall
    time it hardly depends on what else the machine is running."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, **popen_kwargs)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    return usage.ru_utime + usage.ru_stime, wall, proc.returncode


def load():
    """The machine's 1-minute load average (it is shared: say how busy it was)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def machine():
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(name, rows):
    """Print rows (dicts) and store them as JSON in bench/out/<name>.json."""
    RESULTS.mkdir(exist_ok=True)
    for r in rows:
        status = "PASS" if r.get("ok", True) else "FAIL"
        print(f"[{status}] {r['what']}: {r['value']}  (target {r['target']})")
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))
    return all(r.get("ok", True) for r in rows)
