"""Run corpus cases in this process, under a memory limit and a time limit per case.

    python -m tests.robustness.runner CASES.json [RESULTS.jsonl] [--only ID,ID]

Each case calls ``studio.cli.main(argv)`` with stdout and stderr captured, the
case's environment applied, and an interval timer as its time limit. Before
each case a ``{"start": id}`` line is written to RESULTS (flushed), then a
result line, so the driver can name the case that crashed or hung the process
and run the rest in a fresh one. The address-space limit (RLIMIT_AS,
``--memory-gib``, 4 GiB by default) is set before anything is imported: a
loader that allocated what a hostile header declares fails the case instead
of the machine.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import io
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

EXPECTED_TOP_LEVEL = {"Expr", "Import", "ImportFrom", "FunctionDef", "If"}
EXPECTED_FUNCTIONS = {"build_model", "compile_model", "train"}


class _CaseTimeout(Exception):
    pass


def set_memory_limit(gib: float) -> None:
    limit = int(gib * 1024 ** 3)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def code_is_inert(path: Path) -> str | None:
    """None if ``path`` holds only the statements generated code may hold, else what is wrong."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError) as exc:
        return f"cannot parse {path}: {exc}"
    body = tree.body
    if not body or not isinstance(body[0], ast.Expr) or not isinstance(body[0].value, ast.Constant):
        return "the module does not start with its docstring"
    for stmt in body[1:]:
        kind = type(stmt).__name__
        if kind not in EXPECTED_TOP_LEVEL - {"Expr"}:
            return f"unexpected top-level statement {ast.unparse(stmt)[:80]!r}"
        if isinstance(stmt, ast.Import) and [a.name for a in stmt.names] != ["keras"]:
            return f"unexpected import {ast.unparse(stmt)!r}"
        if isinstance(stmt, ast.ImportFrom) and (stmt.module, [a.name for a in stmt.names]) != ("keras", ["layers"]):
            return f"unexpected import {ast.unparse(stmt)!r}"
        if isinstance(stmt, ast.FunctionDef) and stmt.name not in EXPECTED_FUNCTIONS:
            return f"unexpected function {stmt.name!r}"
        if isinstance(stmt, ast.If) and ast.unparse(stmt.test) != "__name__ == '__main__'":
            return f"unexpected if {ast.unparse(stmt.test)!r}"
    return None


def post_check(check: str) -> str | None:
    """None if the post-condition holds, else why not."""
    kind, _, arg = check.partition(":")
    if kind == "absent":
        return f"{arg} exists (code from the input ran)" if Path(arg).exists() else None
    if kind == "unchanged":
        path, _, digest = arg.rpartition(":")
        try:
            now = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError as exc:
            return f"{path} is gone ({exc})"
        return None if now == digest else f"{path} was changed"
    if kind == "code_inert":
        return code_is_inert(Path(arg))
    if kind in ("quiet", "printable"):   # judged on the output, in verdict()
        return None
    if kind == "keras_settings":
        import keras
        if keras.config.epsilon() != 1e-7 or keras.config.floatx() != "float32":
            return (f"a process-wide Keras setting changed: epsilon={keras.config.epsilon()}, "
                    f"floatx={keras.config.floatx()}")
        return None
    return f"unknown check {check!r}"


@contextlib.contextmanager
def _environment(changes: dict):
    saved = {k: os.environ.get(k) for k in changes}
    try:
        for k, v in changes.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_case(case: dict) -> dict:
    from studio.cli import main

    out, err = io.StringIO(), io.StringIO()
    timed_out = False

    def on_alarm(signum, frame):
        raise _CaseTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    t0 = time.perf_counter()
    code = None
    escaped = None
    try:
        with _environment(case.get("env") or {}), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            signal.setitimer(signal.ITIMER_REAL, case.get("timeout", 60))
            try:
                code = main(list(case["argv"]))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except _CaseTimeout:
        timed_out = True
    except BaseException as exc:  # noqa: BLE001 - anything escaping main is a finding
        import traceback
        escaped = "".join(traceback.format_exception(exc))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - t0
    output = out.getvalue() + err.getvalue()
    if "_CaseTimeout" in output or seconds >= case.get("timeout", 60) - 0.05:
        timed_out = True
    checks = {c: post_check(c) for c in case.get("checks") or []}
    return {"id": case["id"], "code": code, "stdout": out.getvalue()[-4000:], "stderr": err.getvalue()[-4000:],
            "seconds": round(seconds, 3), "timed_out": timed_out, "escaped": escaped,
            "checks": {k: v for k, v in checks.items() if v is not None}}


def verdict(case: dict, result: dict | None) -> list[str]:
    """What is wrong with a case's result (empty: it behaved as expected)."""
    if result is None:
        return ["no result: the process crashed or hung on this case"]
    problems = []
    if result.get("timed_out"):
        problems.append(f"ran past its time limit of {case.get('timeout', 60)} s")
    if result.get("escaped"):
        problems.append("an exception escaped main(): " + result["escaped"].strip().splitlines()[-1])
    output = (result.get("stdout") or "") + (result.get("stderr") or "")
    if result.get("code") != case["code"]:
        problems.append(f"exit code {result.get('code')}, expected {case['code']}")
    if not any(p in output for p in case["phrase"].split("|")):
        problems.append(f"the output lacks {case['phrase']!r}")
    if "Traceback" in output:
        problems.append("a traceback reached the output")
    errors = [line for line in (result.get("stderr") or "").splitlines() if line.startswith("error:")]
    if len(errors) > 1:
        problems.append(f"{len(errors)} error lines instead of one")
    for check, why in (result.get("checks") or {}).items():
        problems.append(f"{check}: {why}")
    if "quiet" in (case.get("checks") or []):   # no library warnings or dumps: our own lines only
        stray = [line for line in (result.get("stderr") or "").splitlines()
                 if line.strip() and not line.startswith(("error:", "warning:", "note:"))]
        stray += [line for line in (result.get("stdout") or "").splitlines() if line.strip()][1:]
        if stray:
            problems.append(f"quiet: library output reached the terminal: {stray[0][:120]!r}")
    if "printable" in (case.get("checks") or []):   # no raw control characters (an ESC, a CR) from a name
        raw = sorted({c for c in output if not c.isprintable() and c not in "\n\t"})
        if raw:
            problems.append(f"printable: raw control characters reached the terminal: {raw!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("cases")
    parser.add_argument("results", nargs="?")
    parser.add_argument("--only", help="comma-separated case ids")
    parser.add_argument("--memory-gib", type=float, default=4.0)
    parser.add_argument("--stop-on-failure", action="store_true",
                        help="exit (code 3) after a case that did not behave: its state may taint the next ones")
    args = parser.parse_args(argv)
    set_memory_limit(args.memory_gib)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    cases = json.loads(Path(args.cases).read_text())
    if args.only:
        wanted = args.only.split(",")
        cases = [c for c in cases if c["id"] in wanted]
    import logging
    logging.basicConfig(level=logging.WARNING)  # once, so the CLI's basicConfig adds no handler per case
    sink = open(args.results, "a", buffering=1) if args.results else None
    failures = 0
    for case in cases:
        if sink:
            sink.write(json.dumps({"start": case["id"]}) + "\n")
            sink.flush()
        result = run_case(case)
        if sink:
            sink.write(json.dumps(result) + "\n")
            sink.flush()
        problems = verdict(case, result)
        failures += bool(problems)
        if problems and args.stop_on_failure:
            return 3
        if not sink or problems:
            status = "ok  " if not problems else "FAIL"
            print(f"{status} {case['id']} ({result['seconds']:.1f} s)" + "".join(f"\n     {p}" for p in problems),
                  file=sys.__stdout__, flush=True)
    if not sink:
        print(f"{len(cases) - failures} of {len(cases)} cases as expected", file=sys.__stdout__)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
