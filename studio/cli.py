"""Command line: ``layer-studio [PROJECT]`` opens the window; subcommands work headless.

Every refusal is one line on stderr, ``error: <what, where, what to do>``,
and an exit code: 0 done, 1 the work failed (or ``check`` found errors), 2 the
input or an argument is wrong, 130 interrupted. Tracebacks are printed only
with ``--debug``. No command writes over its own input, and none writes over
an existing file that is not the same kind of output unless given ``--force``.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import stat
import sys
from pathlib import Path

from studio.engine.errors import BAD_INPUT, FAILURE, StudioError, exit_code_for, message_of
from studio.engine.errors import printable as _printable
from studio.engine.errors import show_path as _show

SUBCOMMANDS = ("open", "check", "import", "codegen", "train", "evaluate", "export")
DOCUMENT_SUFFIXES = (".studio", ".keras")


class UsageError(StudioError):
    """A bad command-line argument."""

    exit_code = BAD_INPUT


class CommandFailed(StudioError):
    """The command could not do its work (a file could not be written, ...)."""

    exit_code = FAILURE


# What TensorFlow's C++ side prints while it loads, before absl's logging is set up (so
# TF_CPP_MIN_LOG_LEVEL cannot hide it): notes, not problems. Shown only with --debug.
_TF_NOISE = ("All log messages before absl::InitializeLog() is called", "oneDNN custom operations are on",
             "Could not find cuda drivers", "cudart_stub", "Unable to register cu", "computation placer already "
             "registered", "TensorFlow binary is optimized to use available CPU instructions",
             "To enable the following instructions", "rebuild TensorFlow with the appropriate compiler flags")


def _quiet_tensorflow(debug: bool = False) -> None:
    """Keep TensorFlow's C++ start-up notes off the terminal whenever a command first needs
    it: the import of ``tensorflow`` runs with file descriptor 2 going to a temporary file,
    and any line that is not one of those notes is passed on. Nothing is imported here, so a
    command that refuses its input first (a bad file, a bad path) never waits for TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TF_ENABLE_ONEDNN_OPTS stays as the user has it: "0" hid one log line and
    # cost 1.3-1.4x the CPU per epoch on the starter convnet (issue 8).
    if debug or "tensorflow" in sys.modules or any(isinstance(f, _QuietImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietImport())


class _QuietImport:
    """A finder that wraps the loading of the ``tensorflow`` package, once."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader:
    def __init__(self, real):
        self.real = real

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module) -> None:
        import tempfile
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            sink = tempfile.TemporaryFile()
        except (OSError, ValueError):
            self.real.exec_module(module)
            return
        with sink:
            try:
                os.dup2(sink.fileno(), 2)
                try:
                    self.real.exec_module(module)
                finally:
                    os.dup2(saved, 2)
            finally:
                os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
        kept = [line for line in text.splitlines() if line.strip() and not any(n in line for n in _TF_NOISE)]
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")


# -- arguments and paths ---------------------------------------------------------------

def _whole_number(low: int, high: int):
    """An argparse type: a whole number from ``low`` to ``high`` (the project file's own limits)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{_printable(text)[:40]}' is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low:,} (got {value})")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:,}, as in the project file (got {text[:40]})")
        return value
    return parse


# the same caps as the project file's settings (studio.engine.train.settings)
_epochs = _whole_number(1, 100_000)
_batch_size = _whole_number(1, 1_000_000)
_worker_index = _whole_number(0, 65_535)


def _cluster(text: str) -> str:
    """--cluster: HOST:PORT,HOST:PORT,... with a host and a port from 1 to 65535 in each."""
    hosts = [h.strip() for h in text.split(",")]
    if not any(hosts):
        raise argparse.ArgumentTypeError("is empty; give HOST:PORT,HOST:PORT,...")
    for h in hosts:
        host, sep, port = h.rpartition(":")
        if not h or not sep or not host or not port.isdigit() or not port.isascii() or not 1 <= int(port) <= 65535:
            raise argparse.ArgumentTypeError(f"'{_printable(h)[:60]}' is not HOST:PORT with a port from 1 to 65535")
    return text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value > 0 or value > 86_400 * 365:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (got {text})")
    return value


def _non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give mnist-sample, mnist, fashion_mnist, or a file or folder")
    return text


def _input_file(path: str, what: str) -> Path:
    """An input that must be an existing regular file (never a folder, device or FIFO)."""
    if not path or not path.strip():
        raise UsageError(f"the {what} path is empty")
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise UsageError(f"'{_show(path)}' does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read '{_show(path)}': {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"'{_show(path)}' is a folder; give a {what}")
    if not stat.S_ISREG(mode):
        raise UsageError(f"'{_show(path)}' is not a regular file (a device, FIFO or socket); give a {what}")
    return p


def _head(path: Path, n: int = 4096) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def is_project_file(path: Path) -> bool:
    return path.is_file() and b'"layer-studio-project"' in _head(path)


def is_generated_code(path: Path) -> bool:
    return path.is_file() and b"generated by Layer Studio" in _head(path, 1024)


def _output_file(path: str, inputs: list[Path], same_kind, kind: str, force: bool, option: str = "-o",
                 depends=(), replaces=()) -> Path:
    """Check an output file (studio.engine.outputs): never an input, a file it depends on, a folder
    holding either, or a folder; not another kind of file unless forced."""
    from studio.engine.outputs import check_output
    return check_output(path, inputs, depends, same_kind=same_kind, kind=kind, force=force, option=option,
                        replaces=replaces)


# -- commands ------------------------------------------------------------------------

def _load_project(path: str, with_weights: bool = True, warn: bool = True):
    """The project; what was found while reading it (an unknown setting, a missing weights
    file) is said on stderr, unless the caller lists it itself (check)."""
    from studio.engine.project import load_project
    project = load_project(_input_file(path, ".studio project file"), with_weights=with_weights)
    if warn:
        for warning in project.warnings:
            print(f"warning: {_printable(warning)}", file=sys.stderr)
    return project


def _refuse_errors(project, path: str, refusal: str) -> None:
    """Refuse a project whose check finds errors, naming the first: code or a model made from
    it could not run. Bad input (exit 2), as train and evaluate say of the same project;
    ``check`` itself exits 1 when it finds errors. ``refusal`` says what was not done."""
    from studio.engine.shapes import ShapeChecker
    checker = ShapeChecker(project.graph)
    checker.detach()
    errors = checker.errors()
    if not errors:
        return
    # the cause, not the layers that wait for it
    first = next((m for _, m in errors if not m.startswith("waiting for ")), errors[0][1])
    many = f"{len(errors)} errors" if len(errors) > 1 else "an error"
    raise UsageError(refusal.format(path=_show(path), many=many) + f"; the first: {first} "
                        "(layer-studio check lists them all)")


def cmd_check(args) -> int:
    from studio.engine.keras_bridge import UnsafeConfigError, check_training_names
    from studio.engine.shapes import ShapeChecker, format_shape

    project = _load_project(args.project, warn=False)
    graph = project.graph
    checker = ShapeChecker(graph)
    checker.refresh()
    name_w = max([len(n.name) for n in graph.nodes.values()] + [4])
    type_w = max([len(n.class_name) for n in graph.nodes.values()] + [4])
    print(f"{'node':<{name_w}}  {'type':<{type_w}}  {'output shape':<24} {'params':>12}")
    errors = 0
    for node_id in _display_order(graph):
        node = graph.nodes[node_id]
        st = checker.states[node_id]
        shape = ", ".join(format_shape(s) for s in st.outputs) if st.ok else "-"
        params = f"{st.params:,}" if st.params is not None else "-"
        print(f"{_printable(node.name):<{name_w}}  {_printable(node.class_name):<{type_w}}  {shape:<24} {params:>12}")
        if st.error:
            errors += 1
            print(f"  error: {_printable(st.error)}" + (f"  [fix: {st.fix.label}]" if st.fix else ""))
        elif st.warning:
            print(f"  warning: {_printable(st.warning)}")
    for problem in checker.problems:
        errors += 1
        print(f"error: {_printable(problem)}")
    try:
        check_training_names(project.training if isinstance(project.training, dict) else {})
    except UnsafeConfigError as exc:
        errors += 1
        print(f"error: {_printable(exc)}")
    # what train would refuse before training, said here too (once the layers it names are sound)
    fine_tune = _fine_tune_problem(project) if not errors else None
    if fine_tune:
        errors += 1
        print(f"error: {_printable(fine_tune)}")
    for warning in getattr(project, "warnings", []) or []:
        print(f"warning: {_printable(warning)}")
    if not errors:  # what will not fit the selected device's memory, before any training
        from studio.engine.resources import resource_problems
        from studio.engine.train import TrainingConfig
        for problem in resource_problems(graph, checker.states, TrainingConfig.from_dict(project.training)):
            errors += problem.error
            print(f"{'error' if problem.error else 'warning'}: {_printable(problem.message)}")
    if not errors and project.current_weights():   # saved weights that no longer fit their layer: said here too
        unfit, cannot = _unfit_weights(project)
        for message in unfit:
            print(f"warning: {_printable(message)}; train starts it fresh, evaluate and export refuse")
        if cannot:   # the model with its weights does not build: evaluate and export would refuse it
            errors += 1
            print(f"error: the model cannot be built: {_printable(cannot)}")
    total = checker.total_params()
    print(f"total parameters: {total:,}")
    if not errors:  # the model summary's totals (studio.engine.summary)
        from studio.engine.summary import format_count, summarize
        s = summarize(graph, checker.states, TrainingConfig.from_dict(project.training))
        print(f"non-trainable parameters: {s.non_trainable:,}; MACs per sample: {s.macs:,} ({format_count(s.macs)})")
        print(f"memory: {_printable(s.advice)}")
    if errors:
        print(f"{errors} error{'s' if errors != 1 else ''} found", file=sys.stderr)
        return 1
    print("no errors")
    return 0


def _fine_tune_problem(project) -> str | None:
    """Why train would refuse the project's fine-tuning stage (train's own sentence), or None:
    the same planning ``_fine_tune_settings`` does, without the command line's flags."""
    from studio.engine.train import SettingsError, TrainingConfig
    from studio.engine.train.fine_tune import FineTuneProblem, plan
    try:
        config = TrainingConfig.from_dict(project.training)
    except SettingsError as exc:   # the loader refuses these already; said the same way if one slips through
        return str(exc)
    if config.fine_tune is None:
        return None
    try:
        plan(project.graph, config.fine_tune)
    except FineTuneProblem as exc:
        return str(exc)
    return None


def _unfit_weights(project) -> tuple[list[str], str | None]:
    """The saved weights that do not fit their layer any more (one message each), and why the
    model cannot be built with its weights at all (None when it can): never dropped silently,
    since evaluate and export build the same model and would refuse it."""
    from studio.engine.compiler import CompileError, compile_graph
    skipped: list[tuple[str, str]] = []
    try:
        compile_graph(project.graph, project.current_weights(), skipped=skipped)
    except CompileError as exc:
        return [message for _node_id, message in skipped], str(exc)
    return [message for _node_id, message in skipped], None


def _display_order(graph):
    try:
        return graph.topological_order()
    except Exception:
        return list(graph.nodes)


def cmd_import(args) -> int:
    from studio.engine.importer import graph_from_keras_file
    from studio.engine.project import Project, ProjectError

    src = _input_file(args.model, ".keras model file")
    from studio.engine.outputs import project_dependencies
    given = args.output is not None
    target = args.output if given else str(src.with_suffix(".studio"))
    out = _output_file(target, [src], is_project_file, "a Layer Studio project", args.force,
                       "-o" if given else "the output",
                       replaces=project_dependencies(Path(target)) if target.strip() else ())
    graph, weights = graph_from_keras_file(src)
    project = Project(graph=graph, weights=weights)
    try:
        project.save(out)
    except ProjectError as exc:
        raise CommandFailed(str(exc)) from None
    params = sum(int(a.size) for arrays in weights.values() for a in arrays)
    print(f"imported {len(graph.nodes)} layers ({params:,} weights) from {_printable(src)} into {_printable(out)}")
    return 0


def cmd_codegen(args) -> int:
    from studio.engine.codegen import generate
    from studio.engine.project import ProjectError, atomic_write_text

    src = _input_file(args.project, ".studio project file")
    out = None
    if args.output is not None:
        from studio.engine.outputs import project_dependencies
        out = _output_file(args.output, [src], is_generated_code, "Python code generated by Layer Studio",
                           args.force, depends=project_dependencies(src, _dataset_of(src)))
    project = _load_project(args.project, with_weights=False)
    code = generate(project.graph, project.training)  # first, as it refuses unsafe input (exit 2)
    _refuse_errors(project, args.project, "{path} has {many}, so no code was written")
    if out is None:
        sys.stdout.write(code)
        sys.stdout.flush()
        return 0
    try:
        atomic_write_text(out, code)
    except ProjectError as exc:
        raise CommandFailed(str(exc)) from None
    print(f"wrote {_printable(out)}", file=sys.stderr)
    return 0


def _dataset_of(project_path: Path):
    """The project's dataset entry, read without loading the model (None if it cannot be read)."""
    import json
    try:
        with open(project_path, "rb") as f:
            doc = json.loads(f.read(64 * 1024 * 1024))
        return doc.get("dataset") if isinstance(doc, dict) else None
    except (OSError, ValueError, RecursionError):
        return None


def _run_folder(path: str, project_path: Path, force: bool, depends=()) -> Path:
    """Check ``--out``: a new folder, or a run folder; never a file or an unrelated folder (without --force)."""
    if not path.strip():
        raise UsageError("--out is empty; give a folder for the run")
    from studio.engine.outputs import check_not_needed
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out '{path}' is an existing file; --out names a folder for the run")
    check_not_needed(out, [project_path], depends, option="--out", input_name="project file")
    if out.is_dir() and any(out.iterdir()) and not (out / "run.json").exists() and not force:
        raise UsageError(f"--out '{path}' is a folder that already holds other files; choose a new folder or "
                         "pass --force to write the run into it")
    from studio.engine.outputs import check_parent
    check_parent(out, option="--out", make=True)   # the run folder is made (and folders above it), never over a file
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CommandFailed(f"cannot write the run folder '{path}': {exc.strerror or exc}") from None
    return out


def cmd_train(args) -> int:
    from studio.engine import datasets
    from studio.engine.runs import runs_dir_for
    from studio.engine.train import Trainer, TrainingError
    from studio.engine.train.trainer import DataMismatch, FeatureExtractionRefused, FineTuneRefused

    src = _input_file(args.project, ".studio project file")
    if args.cluster or args.worker_index is not None:   # a bad --worker-index is refused before any data loads
        from studio.engine.distributed import check_cluster_args
        check_cluster_args(args.cluster, args.worker_index)
    project = _load_project(args.project)
    if args.dataset is not None:
        spec = args.dataset
        keep = {"preprocess": (project.dataset or {}).get("preprocess")}
        if spec in ("mnist-sample", "sample"):
            project.dataset = {"kind": "builtin", "name": "mnist-sample", **keep}
        elif spec in datasets.DOWNLOADS:
            project.dataset = {"kind": "download", "name": spec, **keep}
        else:
            project.dataset = {"kind": "file", "path": str(Path(spec).resolve()), **keep}
    if args.out is not None:
        from studio.engine.outputs import project_dependencies
        depends = project_dependencies(src, project.dataset)
        out = _run_folder(args.out, src, args.force, depends)
    else:
        out = None
    chosen = [project.dataset["path"]] if args.dataset is not None and project.dataset.get("kind") == "file" else []
    dataset = datasets.load(project.dataset, Path(args.project).resolve().parent, trusted=chosen)
    for note in dataset.notes:
        print(f"note: {_printable(note)}", file=sys.stderr)
    if args.batch_size:
        project.training["batch_size"] = args.batch_size
    if args.feature_extraction is not None:
        project.training["feature_extraction"] = args.feature_extraction
    fine_tune = _fine_tune_settings(args, project)
    if args.epochs:
        epochs = args.epochs
    else:
        epochs = project.training.get("epochs", 5)
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise UsageError(f"training.epochs in {args.project} is {epochs!r}; it must be a whole number of at "
                             "least 1 (or pass --epochs)")
    if args.cluster or args.worker_index is not None or "TF_CONFIG" in os.environ:
        if fine_tune is not None:
            raise UsageError("fine-tuning (a second stage) is not available on a cluster; train the stages on one "
                             "machine, or pass --no-fine-tune")
        if project.training.get("feature_extraction") is True:
            print("note: fast feature extraction is not used on a cluster; every layer runs every epoch",
                  file=sys.stderr)
        return _train_cluster(args, project, dataset, epochs)
    from studio.engine import runtime_gc
    runtime_gc.import_keras_settled()  # collector: see studio/engine/runtime_gc.py
    trainer = Trainer(project, dataset, runs_dir=runs_dir_for(Path(args.project).resolve(), Path.cwd() / "runs"),
                      run_folder=out)
    device = trainer.device_note()   # said before training starts, and again in run.json
    if device:
        print(f"warning: {_printable(device)}", file=sys.stderr)
    progress = _Progress(trainer.planned_epochs(epochs), len(dataset.x_train), project.training.get("batch_size", 128))
    trainer.batch_ended.connect(progress.batch)
    trainer.epoch_ended.connect(progress.epoch)
    trainer.caching_started.connect(progress.caching)
    trainer.features_cached.connect(progress.cached)
    trainer.stage_started.connect(progress.stage)
    try:
        summary = trainer.run_training(epochs)
    except (FineTuneRefused, DataMismatch, FeatureExtractionRefused) as exc:   # said before anything trained:
        progress.close()                                                      # the input is at fault
        where = ""
        if getattr(exc, "node_id", None) and exc.node_id in project.graph.nodes:
            where = f" [node '{project.graph.nodes[exc.node_id].name}']"
        message = message_of(exc)
        if isinstance(exc, FeatureExtractionRefused) and args.feature_extraction:   # asked for by the flag
            message = f"--feature-extraction: fast feature extraction is not possible: {exc.reason}; " \
                      "drop --feature-extraction"
        raise UsageError(f"{message}{where}") from None
    except TrainingError as exc:
        progress.close()
        _warn_skipped(trainer)
        where = ""
        if getattr(exc, "node_id", None) and exc.node_id in project.graph.nodes:
            where = f" [node '{project.graph.nodes[exc.node_id].name}']"
        raise CommandFailed(f"{message_of(exc)}{where}") from None
    except KeyboardInterrupt:
        trainer.stop()
        raise
    progress.close()
    _warn_skipped(trainer)
    last = summary.get("last", {})
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in last.items() if k not in ("epoch", "seconds"))
    print(f"finished {summary['epochs']} epochs in {summary['seconds']:.1f} s "
          f"({summary['samples_per_second']:,.0f} samples/s)  {metrics}")
    if "feature_extraction" in summary:
        from studio.engine.train.feature_cache import describe_speedup
        print(_printable(describe_speedup(summary["feature_extraction"])))
    for stage in summary.get("stages", []):
        print(f"stage {stage['stage']}: epochs {stage['first_epoch'] + 1}–{stage['first_epoch'] + stage['epochs']} "
              f"at lr {stage['learning_rate']:g}, {len(stage['frozen'])} frozen layers")
    if "run" in summary:
        print(f"run folder: {_printable(summary['run'])}")
    return 0


_FINE_TUNE_FLAGS = {"unfreeze_from": "--fine-tune-from", "epochs": "--fine-tune-epochs",
                    "learning_rate": "--fine-tune-lr"}


def _fine_tune_settings(args, project):
    """The project's fine-tuning stage with the command line's flags applied (``--no-fine-tune``
    drops it), checked against the model before anything loads or trains; None for one stage."""
    from studio.engine.train import SettingsError, TrainingConfig
    from studio.engine.train.fine_tune import FineTuneProblem, plan
    values = {"unfreeze_from": args.fine_tune_from, "epochs": args.fine_tune_epochs, "learning_rate": args.fine_tune_lr}
    given = {k: v for k, v in values.items() if v is not None}
    if args.no_fine_tune:
        if given:
            raise UsageError(f"--no-fine-tune cannot be combined with {', '.join(_FINE_TUNE_FLAGS[k] for k in given)}")
        project.training.pop("fine_tune", None)
        return None
    current = project.training.get("fine_tune")
    if given:
        if not isinstance(current, dict) and "unfreeze_from" not in given:
            flags = ", ".join(_FINE_TUNE_FLAGS[k] for k in given)
            raise UsageError(f"{flags}: {args.project} has no fine-tuning stage; add --fine-tune-from NAME to say "
                             "which layer to unfreeze from")
        project.training["fine_tune"] = {**(current if isinstance(current, dict) else {}), **given}
    try:
        config = TrainingConfig.from_dict(project.training)
    except SettingsError as exc:
        key = exc.field.split(".")[-1]
        flag = _FINE_TUNE_FLAGS.get(key) if exc.field.startswith("fine_tune") and key in given else None
        raise UsageError(f"{flag}: {exc}" if flag else str(exc)) from None
    if config.fine_tune is None:
        return None
    try:
        plan(project.graph, config.fine_tune)
    except FineTuneProblem as exc:
        raise UsageError(str(exc)) from None
    return config.fine_tune


def _learning_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 < value <= 1e9:   # the project file's cap
        raise argparse.ArgumentTypeError(f"must be a positive learning rate such as 1e-5 (got {text})")
    return value


def _warn_skipped(trainer) -> None:
    """Saved weights that no longer fit their layer (those layers trained from fresh weights),
    and settings the trainer adjusted to the data."""
    for _node_id, message in trainer.skipped_weights:
        print(f"warning: {_printable(message)}", file=sys.stderr)
    for note in trainer.notes:
        if note != trainer.device_note():   # already said, as a warning, before training
            print(f"note: {_printable(note)}", file=sys.stderr)


def _train_cluster(args, project, dataset, epochs: int) -> int:
    from studio.engine.distributed import configure_from_args, train_multiworker
    configure_from_args(args.cluster, args.worker_index)
    out = Path(args.out) if args.out else Path(args.project).resolve().with_name(
        Path(args.project).name + ".runs") / "cluster"
    history = train_multiworker(project, dataset, epochs, out, timeout=args.timeout,
                                on_epoch=lambda e, logs: print(f"epoch {e + 1}/{epochs} loss={logs['loss']:.6f} "
                                                               f"workers={logs['workers']}", flush=True))
    print(f"finished {len(history)} epochs on {history[-1]['workers'] if history else '?'} workers")
    return 0


class _Progress:
    """A one-line terminal progress bar (epoch, batch, samples/s, time left)."""

    def __init__(self, epochs: int, samples: int, batch_size):
        import time
        batch_size = batch_size if isinstance(batch_size, int) and batch_size > 0 else 1
        self.epochs, self.steps = max(1, epochs), max(1, -(-samples // batch_size))
        self.batch_size = batch_size
        self.t0 = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def batch(self, index: int, logs: dict) -> None:
        import time
        done = index + 1
        total = self.epochs * self.steps
        elapsed = time.perf_counter() - self.t0
        rate = done * self.batch_size / max(elapsed, 1e-9)
        left = max(0, total - done) * self.batch_size / max(rate, 1e-9)
        width = 30
        filled = int(width * min(done, total) / total)
        line = (f"epoch {logs.get('epoch', 0) + 1}/{self.epochs} [{'#' * filled}{'.' * (width - filled)}] "
                f"batch {logs.get('batch', 0) + 1}/{self.steps} loss {logs.get('loss', float('nan')):.4f} "
                f"{rate:,.0f} samples/s, {left:.0f} s left")
        if self.tty:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()

    def caching(self, what: str) -> None:
        sys.stderr.write(f"fast feature extraction: {_printable(what)}…\n")
        sys.stderr.flush()

    def cached(self, info: dict) -> None:
        from studio.engine.train.feature_cache import describe_cached
        sys.stderr.write(_printable(describe_cached(info)) + "\n")
        sys.stderr.flush()
        import time
        self.t0 = time.perf_counter()  # rates and time left count training, not the caching pass

    def epoch(self, epoch: int, logs: dict) -> None:
        metrics = "  ".join(f"{k}={v:.4f}" for k, v in logs.items() if k not in ("epoch", "seconds"))
        sys.stderr.write(("\r" if self.tty else "") + f"epoch {epoch + 1}/{self.epochs}  {metrics}  "
                         f"({logs.get('seconds', 0):.1f} s)\n")
        sys.stderr.flush()

    def stage(self, info: dict) -> None:
        sys.stderr.write(("\n" if self.tty else "") + f"{_printable(info['text'])}\n")
        for note in info.get("notes", []):
            sys.stderr.write(f"note: {_printable(note)}\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def cmd_export(args) -> int:
    from studio.engine import datasets
    from studio.engine.export import check_destination, export
    from studio.engine.project import load_weights

    _input_file(args.project, ".studio project file")
    if not args.output.strip():
        raise UsageError("-o is empty; give the file or folder to write")
    project = _load_project(args.project)
    which = None
    if args.run:
        run = Path(args.run)
        if not run.is_dir():
            raise UsageError(f"--run '{args.run}' is not a run folder")
        which = run / f"weights_{args.weights}.h5"
        if not which.exists():
            which = run / "weights_final.h5"
    check_destination(project, args.format, Path(args.output), overwrite=args.force,
                      depends=[which] if which is not None else [])
    if args.format not in ("png", "svg"):  # a diagram of an unfinished model is fine; the model is not
        _refuse_errors(project, args.project, "{path}: the model cannot be built ({many}), so nothing was exported")
    if which is not None:
        project.weights, project.trained_weights = load_weights(which), {}
    sample = None
    if project.dataset:
        try:
            ds = datasets.load(project.dataset, Path(args.project).resolve().parent)
            pre = datasets.Preprocess.from_dict(project.dataset.get("preprocess"))
            sample = pre.x(ds.x_test[:200] if args.quantize else ds.x_test[:16], pre.scales(ds.x_train))
        except datasets.DatasetError as exc:
            print(f"note: the dataset is not used to verify the export ({_printable(exc)})", file=sys.stderr)
            sample = None
    from studio.engine.quiet import library_output
    with library_output():   # what TensorFlow and Qt print while they start and export (--debug shows it)
        if args.format == "png":
            from studio.ui.diagram_png import export_png
            result = export_png(project, args.output, overwrite=args.force)
        else:
            result = export(project, args.format, args.output, sample=sample, quantize=args.quantize,
                            overwrite=args.force)
    print(_printable(result.summary()))
    return 0


def cmd_evaluate(args) -> int:
    import json

    from studio.engine import datasets, runtime_gc
    from studio.engine.evaluation import evaluate, format_report, load_run

    if args.weights is not None and args.run is None:
        raise UsageError("--weights chooses which of a run's weights to evaluate; give the run with --run")
    project = _load_project(args.project)
    run = load_run(args.run, args.weights or "best") if args.run is not None else None
    spec, chosen = project.dataset, []
    if spec is None and run is not None and run.project is not None:
        spec = run.project.dataset
    if args.dataset is not None:   # as for train: the held-out part of this data, preprocessed as the project says
        keep = {"preprocess": (spec or {}).get("preprocess") if isinstance(spec, dict) else None}
        if args.dataset in ("mnist-sample", "sample"):
            spec = {"kind": "builtin", "name": "mnist-sample", **keep}
        elif args.dataset in datasets.DOWNLOADS:
            spec = {"kind": "download", "name": args.dataset, **keep}
        else:
            spec = {"kind": "file", "path": str(Path(args.dataset).resolve()), **keep}
            chosen = [spec["path"]]
    if spec is None:
        raise UsageError(f"{_show(args.project)} has no dataset to evaluate on; choose one in the Dataset tab "
                         "and save, or pass --dataset")
    dataset = datasets.load(spec, Path(args.project).resolve().parent, trusted=chosen)
    for note in dataset.notes:
        print(f"note: {_printable(note)}", file=sys.stderr)
    runtime_gc.import_keras_settled()  # collector: see studio/engine/runtime_gc.py
    result = evaluate(project, dataset, run=run)
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        print(_printable_lines(format_report(result)))
    return 0


def _printable_lines(text: str) -> str:
    return "\n".join(_printable(line) for line in text.split("\n"))


def cmd_open(args) -> int:
    return launch_gui(args.project)


# -- parsing --------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line: ``error: ...`` and exit code 2."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="layer-studio", description="Build, check and train Keras models visually.",
                     epilog="Exit codes: 0 done, 1 the work failed or check found errors, 2 a bad file or "
                            "argument, 130 interrupted. --debug (anywhere) prints tracebacks.")
    parser.add_argument("--debug", action="store_true", help="print the traceback of any error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("open", help="open a project or .keras model in the window (same as: layer-studio FILE)")
    p.add_argument("project", nargs="?", help="a .studio project or .keras model")
    p.set_defaults(func=cmd_open)
    p = sub.add_parser("check", help="print each node's output shape and parameter count, and every error")
    p.add_argument("project", help="a .studio project file")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("import", help="turn a .keras model file into a project (with its weights)")
    p.add_argument("model", help="a .keras file")
    p.add_argument("-o", "--output", help="the .studio file to write (default: beside the model)")
    p.add_argument("--force", action="store_true", help="replace an existing file that is not a project")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("codegen", help="print the Python code that rebuilds the project's model")
    p.add_argument("project")
    p.add_argument("-o", "--output", help="write the code to this file instead of printing it")
    p.add_argument("--force", action="store_true", help="replace an existing file that is not generated code")
    p.set_defaults(func=cmd_codegen)
    p = sub.add_parser("train", help="train the project's model headless, writing a run folder")
    p.add_argument("project")
    p.add_argument("--epochs", type=_epochs, help="epochs to train (with fine-tuning: the first stage's; default: the project's setting)")
    p.add_argument("--batch-size", type=_batch_size, help="batch size (default: the project's setting)")
    p.add_argument("--dataset", type=_non_empty,
                   help="mnist-sample, mnist, fashion_mnist, or a .npz/.csv file or image folder")
    p.add_argument("--feature-extraction", action=argparse.BooleanOptionalAction, default=None,
                   help="compute the frozen layers' outputs once and train only the layers after them "
                        "(default: the project's setting)")
    p.add_argument("--fine-tune-from", type=_non_empty, metavar="NAME",
                   help="after the epochs, unfreeze this layer and the ones after it ('block › layer' inside a "
                        "block, or a layer's name) and fine-tune (default: the project's setting)")
    p.add_argument("--fine-tune-epochs", type=_epochs, metavar="N",
                   help="epochs of the fine-tuning stage (default: the project's setting)")
    p.add_argument("--fine-tune-lr", type=_learning_rate, metavar="L",
                   help="learning rate of the fine-tuning stage, e.g. 1e-5 (default: the project's setting)")
    p.add_argument("--no-fine-tune", action="store_true", help="train one stage, without the project's fine-tuning")
    p.add_argument("--out", help="the run folder to write (default: PROJECT.studio.runs/<time>-<name>)")
    p.add_argument("--force", action="store_true", help="write the run into an existing folder of other files")
    p.add_argument("--cluster", type=_cluster, help="HOST:PORT,HOST:PORT,... — train on several machines (TF_CONFIG also works)")
    p.add_argument("--worker-index", type=_worker_index,
                   help="this machine's position in --cluster (0 writes the run)")
    p.add_argument("--timeout", type=_positive_float, default=30.0,
                   help="seconds to wait for a silent worker (cluster)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("evaluate", help="loss, metrics, per-class figures and confusion matrix on the held-out data")
    p.add_argument("project")
    p.add_argument("--run", help="a run folder whose weights to evaluate (default: the project's weights)")
    p.add_argument("--weights", choices=["best", "final"], help="with --run: which weights (default: best)")
    p.add_argument("--dataset", type=_non_empty,
                   help="evaluate on this data's held-out part instead of the project's: mnist-sample, mnist, "
                        "fashion_mnist, or a .npz/.csv file or image folder")
    p.add_argument("--json", action="store_true", help="print one JSON object (keys: see the README)")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("export", help="export the model (verified by reloading it in its own runtime)")
    p.add_argument("project")
    p.add_argument("--format", required=True, choices=["keras", "savedmodel", "tflite", "onnx", "python", "svg", "png"])
    p.add_argument("-o", "--output", required=True, help="the file or folder to write")
    p.add_argument("--run", help="a run folder whose weights to export (default: the project's weights)")
    p.add_argument("--weights", choices=["best", "final"], default="best", help="with --run: which weights")
    p.add_argument("--quantize", action="store_true", help="TFLite: dynamic-range quantization")
    p.add_argument("--force", action="store_true", help="replace an existing file or folder that is not "
                                                        "an export of this format")
    p.set_defaults(func=cmd_export)
    return parser


def _dispatch(argv: list[str]) -> int:
    if not argv:
        return launch_gui(None)
    first = argv[0]
    if first not in SUBCOMMANDS and not first.startswith("-"):
        if len(argv) == 1 and Path(first).suffix.lower() in DOCUMENT_SUFFIXES:
            return launch_gui(first)
        close = difflib.get_close_matches(first, SUBCOMMANDS, 1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UsageError(f"unknown command '{_printable(first)}'{hint} (commands: {', '.join(SUBCOMMANDS)}; "
                         "a single .studio or .keras file opens the window)")
    args = build_parser().parse_args(argv)
    if args.command is None:
        raise UsageError("no command given (see layer-studio --help)")
    if args.command != "open":   # a headless command that loads TensorFlow does so quietly
        _quiet_tensorflow(_debug)
    return args.func(args)


_debug = False


def main(argv: list[str] | None = None) -> int:
    global _debug
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    from studio.engine import quiet
    quiet.verbose = debug   # library warnings and prints: shown only with --debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        try:  # the reader went away (layer-studio codegen P | head): nothing more to say
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return FAILURE
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the one place every error becomes a line and a code
        return _report(exc, debug)


def _report(exc: BaseException, debug: bool) -> int:
    code = exit_code_for(exc)
    if debug:
        import traceback
        traceback.print_exception(exc)
    if code is not None:
        message = message_of(exc)
    elif isinstance(exc, MemoryError):
        code, message = FAILURE, "out of memory"
    elif isinstance(exc, OSError):
        where = f"'{exc.filename}': " if getattr(exc, "filename", None) else ""
        code, message = FAILURE, f"{where}{exc.strerror or message_of(exc)}"
    else:
        code = FAILURE
        message = (f"internal error: {type(exc).__name__}: {message_of(exc)} (this is a bug in Layer Studio; "
                   "run again with --debug for the traceback and report it)")
    print(f"error: {_printable(message)}", file=sys.stderr)
    return code


def launch_gui(path: str | None) -> int:
    try:
        from studio.ui.app import display_problem, run
    except ImportError as exc:
        raise CommandFailed(f"the desktop window is not available in this build ({exc}); "
                            "use the subcommands (layer-studio --help)") from None
    problem = display_problem()
    if problem:
        raise CommandFailed(problem)
    return run(path)
