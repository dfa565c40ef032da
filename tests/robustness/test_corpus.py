"""The hostile-input corpus, run in subprocesses with a memory limit and per-case time limits.

Cases are batched (TensorFlow's import costs seconds per process) into two
runner processes, each limited to 4 GiB of address space. A case that
crashes or hangs its process is reported by name, and the cases after it run
in a fresh process; a case that misbehaves also ends its process (its state
could taint the next case), so every verdict is from a clean run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.robustness import corpus
from tests.robustness.runner import verdict

ROOT = Path(__file__).resolve().parents[2]
MEMORY_GIB = 4
WORKERS = 2


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, [asdict(c) for c in corpus.build(folder)]


def _balanced(cases: list[dict], n: int) -> list[list[dict]]:
    groups = [[] for _ in range(n)]
    loads = [0.0] * n
    for case in sorted(cases, key=lambda c: -c["cost"]):
        k = loads.index(min(loads))
        groups[k].append(case)
        loads[k] += case["cost"]
    order = {c["id"]: i for i, c in enumerate(cases)}
    return [sorted(g, key=lambda c: order[c["id"]]) for g in groups]


def _start(folder: Path, batch: list[dict], tag: str):
    cases_file = folder / f"batch-{tag}.json"
    results_file = folder / f"batch-{tag}.jsonl"
    cases_file.write_text(json.dumps(batch))
    results_file.write_text("")
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen([sys.executable, "-m", "tests.robustness.runner", str(cases_file), str(results_file),
                             "--stop-on-failure", "--memory-gib", str(MEMORY_GIB)],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    return proc, results_file


def _read(results_file: Path) -> tuple[dict, str | None, float]:
    results, started, started_at = {}, None, time.monotonic()
    for line in results_file.read_text().splitlines():
        row = json.loads(line)
        if "start" in row:
            started = row["start"]
        else:
            results[row["id"]] = row
            started = None
    return results, started, started_at


@pytest.fixture(scope="module")
def results(cases):
    """Every case's result (None for one that crashed or hung its process)."""
    folder, all_cases = cases
    out: dict[str, dict | None] = {}
    pending = _balanced(all_cases, WORKERS)
    round_ = 0
    running = []
    while pending or running:
        while pending and len(running) < WORKERS:
            batch = pending.pop(0)
            if batch:
                proc, res = _start(folder, batch, f"{round_}-{len(running)}")
                running.append((proc, res, batch, time.monotonic(), None))
                round_ += 1
        time.sleep(0.2)
        still = []
        for proc, res, batch, t0, last in running:
            done, started, _ = _read(res)
            current = started
            # a case over its time limit (+ slack) with the process still alive: kill the process
            if proc.poll() is None:
                if current != last:
                    t0, last = time.monotonic(), current
                limit = next((c["timeout"] for c in batch if c["id"] == current), 60) + 30
                if current is not None and time.monotonic() - t0 > limit:
                    proc.kill()
                    proc.wait()
                else:
                    still.append((proc, res, batch, t0, last))
                    continue
            done, started, _ = _read(res)
            out.update(done)
            ids = [c["id"] for c in batch]
            finished = [i for i in ids if i in done]
            if started is not None:                       # crashed or killed inside a case
                out[started] = None
                finished.append(started)
            rest = [c for c in batch if c["id"] not in finished]
            if rest:
                pending.append(rest)
        running = still
    return out


@pytest.mark.timeout(240)
@pytest.mark.parametrize("family", corpus.FAMILIES)
def test_corpus_family(cases, results, family):
    _folder, all_cases = cases
    mine = [c for c in all_cases if c["family"] == family]
    assert mine, family
    failures, known = [], []
    for case in mine:
        problems = verdict(case, results.get(case["id"]))
        if not problems:
            continue
        result = results.get(case["id"]) or {}
        report = (f"{case['id']}: layer-studio {' '.join(case['argv'])[:200]}\n    "
                  + "\n    ".join(problems)
                  + f"\n    stderr: {(result.get('stderr') or '')[-600:]!r}")
        (known if case.get("known_issue") else failures).append(report + (
            f"\n    known issue: {case['known_issue']}" if case.get("known_issue") else ""))
    for report in known:
        warnings.warn(f"known issue still open: {report}")
    assert not failures, f"{len(failures)} of {len(mine)} {family} cases misbehaved:\n" + "\n".join(failures)


def test_corpus_size(cases):
    _folder, all_cases = cases
    assert len(all_cases) >= 150
    assert {c["family"] for c in all_cases} == set(corpus.FAMILIES)
