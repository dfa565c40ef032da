"""Command line: ``layer-studio [PROJECT]`` opens the window; subcommands work headless."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

SUBCOMMANDS = ("check", "import", "codegen", "train", "export")


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def cmd_check(args) -> int:
    from studio.engine.project import ProjectError, load_project
    from studio.engine.shapes import ShapeChecker, format_shape

    try:
        project = load_project(args.project)
    except ProjectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
        print(f"{node.name:<{name_w}}  {node.class_name:<{type_w}}  {shape:<24} {params:>12}")
        if st.error:
            errors += 1
            print(f"  error: {st.error}" + (f"  [fix: {st.fix.label}]" if st.fix else ""))
        elif st.warning:
            print(f"  warning: {st.warning}")
    for problem in checker.problems:
        errors += 1
        print(f"error: {problem}")
    total = checker.total_params()
    print(f"total parameters: {total:,}")
    if errors:
        print(f"{errors} error{'s' if errors != 1 else ''} found", file=sys.stderr)
        return 1
    print("no errors")
    return 0


def _display_order(graph):
    try:
        return graph.topological_order()
    except Exception:
        return list(graph.nodes)


def cmd_import(args) -> int:
    from studio.engine.importer import ImportRefused, graph_from_keras_file
    from studio.engine.project import Project, ProjectError

    src = Path(args.model)
    out = Path(args.output) if args.output else src.with_suffix(".studio")
    try:
        graph, weights = graph_from_keras_file(src)
        project = Project(graph=graph, weights=weights)
        project.save(out)
    except (ImportRefused, ProjectError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    params = sum(int(a.size) for arrays in weights.values() for a in arrays)
    print(f"imported {len(graph.nodes)} layers ({params:,} weights) from {src} into {out}")
    return 0


def cmd_codegen(args) -> int:
    from studio.engine.codegen import generate
    from studio.engine.project import ProjectError, load_project

    try:
        project = load_project(args.project, with_weights=False)
        code = generate(project.graph, project.training)
    except (ProjectError, Exception) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output:
        from studio.engine.project import atomic_write_text
        atomic_write_text(args.output, code)
    else:
        sys.stdout.write(code)
    return 0


def cmd_train(args) -> int:
    from studio.engine import datasets
    from studio.engine.project import ProjectError, load_project
    from studio.engine.runs import runs_dir_for
    from studio.engine.training import Trainer, TrainingError

    try:
        project = load_project(args.project)
        if args.dataset:
            spec = args.dataset
            keep = {"preprocess": (project.dataset or {}).get("preprocess")}
            if spec in ("mnist-sample", "sample"):
                project.dataset = {"kind": "builtin", "name": "mnist-sample", **keep}
            elif spec in datasets.DOWNLOADS:
                project.dataset = {"kind": "download", "name": spec, **keep}
            else:
                project.dataset = {"kind": "file", "path": str(Path(spec).resolve()), **keep}
        dataset = datasets.load(project.dataset, Path(args.project).resolve().parent)
    except (ProjectError, datasets.DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.batch_size:
        project.training["batch_size"] = args.batch_size
    epochs = args.epochs or int(project.training.get("epochs", 5))
    if args.cluster or args.worker_index is not None or "TF_CONFIG" in os.environ:
        return _train_cluster(args, project, dataset, epochs)
    trainer = Trainer(project, dataset, runs_dir=runs_dir_for(Path(args.project).resolve(), Path.cwd() / "runs"),
                      run_folder=Path(args.out) if args.out else None)
    progress = _Progress(epochs, len(dataset.x_train), int(project.training.get("batch_size", 128)))
    trainer.batch_ended.connect(progress.batch)
    trainer.epoch_ended.connect(progress.epoch)
    try:
        summary = trainer.run_training(epochs)
    except TrainingError as exc:
        progress.close()
        where = ""
        if exc.node_id and exc.node_id in project.graph.nodes:
            where = f" [node '{project.graph.nodes[exc.node_id].name}']"
        print(f"error: {exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        trainer.stop()
        print("\ninterrupted", file=sys.stderr)
        return 130
    progress.close()
    last = summary.get("last", {})
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in last.items() if k not in ("epoch", "seconds"))
    print(f"finished {summary['epochs']} epochs in {summary['seconds']:.1f} s "
          f"({summary['samples_per_second']:,.0f} samples/s)  {metrics}")
    if "run" in summary:
        print(f"run folder: {summary['run']}")
    return 0


def _train_cluster(args, project, dataset, epochs: int) -> int:
    from studio.engine.distributed import ClusterError, configure_from_args, train_multiworker
    try:
        configure_from_args(args.cluster, args.worker_index)
        out = Path(args.out) if args.out else Path(args.project).resolve().with_name(
            Path(args.project).name + ".runs") / "cluster"
        history = train_multiworker(project, dataset, epochs, out, timeout=args.timeout,
                                    on_epoch=lambda e, logs: print(f"epoch {e + 1}/{epochs} loss={logs['loss']:.6f} "
                                                                   f"workers={logs['workers']}", flush=True))
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    print(f"finished {len(history)} epochs on {history[-1]['workers'] if history else '?'} workers")
    return 0


class _Progress:
    """A one-line terminal progress bar (epoch, batch, samples/s, time left)."""

    def __init__(self, epochs: int, samples: int, batch_size: int):
        import time
        self.epochs, self.steps = epochs, max(1, -(-samples // batch_size))
        self.batch_size = batch_size
        self.t0 = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def batch(self, index: int, logs: dict) -> None:
        import time
        done = index + 1
        total = self.epochs * self.steps
        elapsed = time.perf_counter() - self.t0
        rate = done * self.batch_size / max(elapsed, 1e-9)
        left = (total - done) * self.batch_size / max(rate, 1e-9)
        width = 30
        filled = int(width * min(done, total) / total)
        line = (f"epoch {logs.get('epoch', 0) + 1}/{self.epochs} [{'#' * filled}{'.' * (width - filled)}] "
                f"batch {logs.get('batch', 0) + 1}/{self.steps} loss {logs.get('loss', float('nan')):.4f} "
                f"{rate:,.0f} samples/s, {left:.0f} s left")
        if self.tty:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()

    def epoch(self, epoch: int, logs: dict) -> None:
        metrics = "  ".join(f"{k}={v:.4f}" for k, v in logs.items() if k not in ("epoch", "seconds"))
        sys.stderr.write(("\r" if self.tty else "") + f"epoch {epoch + 1}/{self.epochs}  {metrics}  "
                         f"({logs.get('seconds', 0):.1f} s)\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def cmd_export(args) -> int:
    from studio.engine import datasets
    from studio.engine.export import ExportError, export
    from studio.engine.project import ProjectError, load_project, load_weights

    try:
        project = load_project(args.project)
        if args.run:
            run = Path(args.run)
            which = run / f"weights_{args.weights}.h5"
            if not which.exists():
                which = run / "weights_final.h5"
            project.weights = load_weights(which)
        sample = None
        if project.dataset:
            try:
                ds = datasets.load(project.dataset, Path(args.project).resolve().parent)
                pre = datasets.Preprocess.from_dict(project.dataset.get("preprocess"))
                sample = pre.x(ds.x_test[:200] if args.quantize else ds.x_test[:16])
            except datasets.DatasetError:
                sample = None
        if args.format == "png":
            from studio.ui.diagram_png import export_png
            result = export_png(project, args.output)
        else:
            result = export(project, args.format, args.output, sample=sample, quantize=args.quantize)
    except (ProjectError, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layer-studio", description="Build, check and train Keras models visually.")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("check", help="print each node's output shape and parameter count, and every error")
    p.add_argument("project", help="a .studio project file")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("import", help="turn a .keras model file into a project (with its weights)")
    p.add_argument("model", help="a .keras file")
    p.add_argument("-o", "--output", help="the .studio file to write (default: beside the model)")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("codegen", help="print the Python code that rebuilds the project's model")
    p.add_argument("project")
    p.add_argument("-o", "--output", help="write the code to this file instead of printing it")
    p.set_defaults(func=cmd_codegen)
    p = sub.add_parser("train", help="train the project's model headless, writing a run folder")
    p.add_argument("project")
    p.add_argument("--epochs", type=int, help="epochs to train (default: the project's setting)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the project's setting)")
    p.add_argument("--dataset", help="mnist-sample, mnist, fashion_mnist, or a .npz/.csv file or image folder")
    p.add_argument("--out", help="the run folder to write (default: PROJECT.studio.runs/<time>-<name>)")
    p.add_argument("--cluster", help="HOST:PORT,HOST:PORT,... — train on several machines (TF_CONFIG also works)")
    p.add_argument("--worker-index", type=int, help="this machine's position in --cluster (0 writes the run)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a silent worker (cluster)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("export", help="export the model (verified by reloading it in its own runtime)")
    p.add_argument("project")
    p.add_argument("--format", required=True, choices=["keras", "savedmodel", "tflite", "onnx", "python", "svg", "png"])
    p.add_argument("-o", "--output", required=True, help="the file or folder to write")
    p.add_argument("--run", help="a run folder whose weights to export (default: the project's weights)")
    p.add_argument("--weights", choices=["best", "final"], default="best", help="with --run: which weights")
    p.add_argument("--quantize", action="store_true", help="TFLite: dynamic-range quantization")
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not argv or (argv[0] not in SUBCOMMANDS and not argv[0].startswith("-")):
        return launch_gui(argv[0] if argv else None)
    _quiet_tensorflow()
    args = build_parser().parse_args(argv)
    return args.func(args)


def launch_gui(path: str | None) -> int:
    try:
        from studio.ui.app import run
    except ImportError as exc:
        print(f"error: the desktop window is not available in this build ({exc}); "
              "use the subcommands (layer-studio --help)", file=sys.stderr)
        return 2
    return run(path)
