"""Export a project's model, verified before it is reported done.

Each format is written to a temporary name beside the destination, reloaded
in its own runtime and compared with the in-app model on sample inputs; only
then is it renamed into place, so a failed or interrupted export leaves no
half-written file at the destination.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.engine.compiler import CompileError, compile_graph
from studio.engine.errors import BAD_INPUT, StudioError
from studio.engine.outputs import OutputRefused, check_output, check_parent, check_suffix, project_dependencies

FORMATS = ("keras", "savedmodel", "tflite", "onnx", "python", "svg")
TOLERANCE = 1e-4


class ExportError(StudioError):
    """An export that could not be written or did not verify; the message says which."""


class DestinationRefused(ExportError, OutputRefused):
    """The destination may not be written (studio.engine.outputs says why): the project itself, a file it
    depends on, a folder of other things, or a file name of another format."""

    exit_code = BAD_INPUT


class ModelRefused(ExportError):
    """The project's saved weights do not fit its model: bad input, as for evaluate."""

    exit_code = BAD_INPUT


def is_output_of(fmt: str, path: Path) -> bool:
    """True if ``path`` already holds an export of format ``fmt`` (so replacing it loses nothing else)."""
    path = Path(path)
    try:
        if fmt == "savedmodel":
            return path.is_dir() and (path / "saved_model.pb").is_file()
        if fmt == "python":
            return path.is_dir() and (path / "model.py").is_file() and (path / "train.py").is_file()
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            head = f.read(1024)
        if fmt == "keras":
            import zipfile
            if not zipfile.is_zipfile(path):
                return False
            with zipfile.ZipFile(path) as zf:
                return "config.json" in zf.namelist() and "metadata.json" in zf.namelist()
        if fmt == "tflite":
            return head[4:8] == b"TFL3"
        if fmt == "onnx":
            return path.suffix.lower() == ".onnx" and head[:1] == b"\x08"
        if fmt == "svg":
            return b"<svg" in head and head.lstrip()[:1] == b"<"
        if fmt == "png":
            return head[:8] == b"\x89PNG\r\n\x1a\n"
    except OSError:
        return False
    return False


def check_destination(project, fmt: str, dest: Path, overwrite: bool = False, depends=()) -> None:
    """Refuse a destination that is not a file name of the format (``model.txt`` for keras), the project
    itself, a file it depends on (weights, data), a folder holding any of them, an existing folder that
    is not an earlier export of ``fmt``, or (unless ``overwrite``) a file that is not one."""
    dest = Path(dest)
    project_path = getattr(project, "path", None)
    sources = [Path(project_path)] if project_path else []
    deps = project_dependencies(Path(project_path) if project_path else None, getattr(project, "dataset", None))
    try:
        check_output(dest, sources, [*deps, *depends], same_kind=lambda p: is_output_of(fmt, p),
                     kind=f"a {fmt} export", force=overwrite, folder=fmt in ("savedmodel", "python"),
                     input_name="project", option="the export destination", parent=False)
        check_suffix(fmt, dest, option="the export destination")
        check_parent(dest, option="the export destination")
    except OutputRefused as exc:
        raise DestinationRefused(str(exc)) from None


@dataclass
class ExportResult:
    format: str
    path: Path
    seconds: float
    bytes: int
    max_abs_diff: float | None = None
    top1_agreement: float | None = None
    details: dict = field(default_factory=dict)

    def summary(self) -> str:
        check = []
        if self.max_abs_diff is not None:
            check.append(f"max |difference| {self.max_abs_diff:.2e}")
        if self.top1_agreement is not None:
            check.append(f"top-1 agreement {self.top1_agreement:.2%}")
        return (f"{self.format}: {self.path} ({self.bytes:,} bytes, {self.seconds:.1f} s)"
                + (f"; verified: {', '.join(check)}" if check else "; written"))


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _sample_inputs(model, dataset=None, n: int = 16) -> list[np.ndarray]:
    if dataset is not None and len(model.inputs) == 1:
        return [dataset[:n].astype("float32")]
    rng = np.random.default_rng(0)
    out = []
    for t in model.inputs:
        shape = [n] + [d or 8 for d in t.shape[1:]]
        if "int" in str(t.dtype):
            out.append(rng.integers(0, 10, shape).astype(str(t.dtype)))
        else:
            out.append(rng.random(shape, dtype="float32"))
    return out


def _outputs(values) -> list[np.ndarray]:
    if isinstance(values, dict):
        values = list(values.values())
    if not isinstance(values, (list, tuple)):
        values = [values]
    return [np.asarray(v) for v in values]


def _max_diff(a, b) -> float:
    a, b = _outputs(a), _outputs(b)
    if len(a) != len(b):
        raise ExportError(f"the exported model has {len(b)} outputs instead of {len(a)}")
    return max(float(np.max(np.abs(x.astype("float64") - y.astype("float64")))) for x, y in zip(a, b))


class _Staging:
    """A temporary path beside the destination, renamed into place on success."""

    def __init__(self, dest: Path, directory: bool):
        self.dest = Path(dest)
        self.directory = directory

    def __enter__(self) -> Path:
        parent = self.dest.parent
        try:
            self.tmp_root = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.", dir=parent))
        except OSError as exc:
            raise ExportError(f"cannot write in '{parent}': {exc.strerror or exc}") from None
        return self.tmp_root / self.dest.name

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                staged = self.tmp_root / self.dest.name
                if self.dest.exists():
                    if self.dest.is_dir():
                        shutil.rmtree(self.dest)
                    else:
                        self.dest.unlink()
                os.replace(staged, self.dest)
        except OSError as e:
            raise ExportError(f"could not move the export into '{self.dest}': {e.strerror or e}") from None
        finally:
            shutil.rmtree(self.tmp_root, ignore_errors=True)
        return False


def export(project, fmt: str, dest: str | Path, sample: np.ndarray | None = None, quantize: bool = False,
           model=None, overwrite: bool = False) -> ExportResult:
    """Write ``fmt`` to ``dest`` and verify it; raises ExportError with the reason.

    An existing ``dest`` is replaced only if it is an earlier export of the
    same format (or ``overwrite`` is true), and never if it is the project.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    dest = Path(dest)
    check_destination(project, fmt, dest, overwrite)
    from studio.engine.quiet import library_output
    with library_output():   # TFLite's deprecation notice, tensor-spec dumps, retracing warnings
        return _export(project, fmt, dest, sample, quantize, model)


def _export(project, fmt: str, dest: Path, sample, quantize: bool, model) -> ExportResult:
    if model is None:
        try:
            model = compile_graph(project.graph, project.current_weights() or None)
        except CompileError as exc:
            refused = ExportError
            try:   # the graph builds without the saved weights: they are at fault, bad input as for evaluate
                compile_graph(project.graph, None)
                refused = ModelRefused
            except CompileError:
                pass
            raise refused(f"the model cannot be built, so nothing was exported: {exc}") from None
    t0 = time.perf_counter()
    inputs = _sample_inputs(model, sample)
    expected = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    writer = {"keras": _keras, "savedmodel": _savedmodel, "tflite": _tflite, "onnx": _onnx,
              "python": _python, "svg": _svg}[fmt]
    try:
        with _Staging(dest, directory=fmt in ("savedmodel", "python")) as staged:
            result = writer(project, model, staged, inputs, expected, quantize)
    except ExportError:
        raise
    except OSError as exc:
        raise ExportError(f"could not write '{dest}': {exc.strerror or exc}") from None
    except Exception as exc:
        raise ExportError(f"{fmt} export failed: {type(exc).__name__}: {exc}") from None
    result.path = dest
    result.seconds = time.perf_counter() - t0
    result.bytes = _size(dest)
    return result


def _check(fmt, diff: float, tolerance: float = TOLERANCE) -> None:
    if not math.isfinite(diff) or diff > tolerance:
        raise ExportError(f"the {fmt} export does not reproduce the model: max |difference| {diff:.3g} "
                          f"exceeds {tolerance:g}; nothing was written")


def _keras(project, model, path, inputs, expected, quantize) -> ExportResult:
    import keras
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    diff = _max_diff(expected, reloaded.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0))
    _check("keras", diff)
    return ExportResult("keras", path, 0, 0, max_abs_diff=diff)


def _savedmodel(project, model, path, inputs, expected, quantize) -> ExportResult:
    import tensorflow as tf
    model.export(str(path), verbose=False)
    loaded = tf.saved_model.load(str(path))
    got = loaded.serve(*[tf.constant(x) for x in inputs])
    diff = _max_diff(expected, got)
    _check("SavedModel", diff)
    return ExportResult("savedmodel", path, 0, 0, max_abs_diff=diff, details={"signature": "serve"})


def _tflite(project, model, path, inputs, expected, quantize) -> ExportResult:
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    path.write_bytes(converter.convert())
    interpreter = tf.lite.Interpreter(model_path=str(path))
    got = []
    for k in range(len(inputs[0])):
        interpreter.allocate_tensors()
        for detail, x in zip(interpreter.get_input_details(), inputs):
            interpreter.set_tensor(detail["index"], x[k:k + 1])
        interpreter.invoke()
        got.append([interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()])
    outs = [np.concatenate([g[j] for g in got]) for j in range(len(got[0]))]
    exp = _outputs(expected)
    if quantize:
        agree = float(np.mean(np.argmax(outs[0], -1) == np.argmax(exp[0], -1)))
        if agree < 0.99:
            raise ExportError(f"the quantized TFLite model agrees on the top-1 class for only {agree:.1%} of the "
                              "samples (needs 99%); nothing was written")
        return ExportResult("tflite", path, 0, 0, top1_agreement=agree, details={"quantized": True})
    diff = _max_diff(exp, outs)
    _check("TFLite", diff)
    return ExportResult("tflite", path, 0, 0, max_abs_diff=diff)


def _onnx(project, model, path, inputs, expected, quantize) -> ExportResult:
    import warnings

    import onnxruntime as ort
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(path), format="onnx", verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
    diff = _max_diff(expected, session.run(None, feeds))
    _check("ONNX", diff)
    return ExportResult("onnx", path, 0, 0, max_abs_diff=diff, details={"runtime": f"onnxruntime {ort.__version__}"})


def _python(project, model, path, inputs, expected, quantize) -> ExportResult:
    """The project is checked by building its model from the written model.py and
    comparing layers, configs and parameter count with the in-app model."""
    from studio.engine.standalone import write_standalone
    write_standalone(project, path)
    from studio.engine.codegen import normalize_config as _plain
    namespace: dict = {"__name__": "exported_model"}
    exec(compile((path / "model.py").read_text(encoding="utf-8"), str(path / "model.py"), "exec"), namespace)
    rebuilt = namespace["build_model"]()
    ours, theirs = model.operations, rebuilt.operations   # layers and operation nodes (x + 3.0)
    mismatch = [a.name for a, b in zip(ours, theirs)
                if type(a) is not type(b) or _plain(a.get_config()) != _plain(b.get_config())]
    if len(ours) != len(theirs) or mismatch or model.count_params() != rebuilt.count_params():
        raise ExportError(f"the exported model.py does not rebuild the same model (differs at "
                          f"{', '.join(mismatch[:3]) or 'the layer count'}); nothing was written")
    rebuilt.set_weights(model.get_weights())
    diff = _max_diff(expected, rebuilt.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0))
    _check("Python", diff)
    return ExportResult("python", path, 0, 0, max_abs_diff=diff,
                        details={"files": sorted(p.name for p in path.iterdir())})


def _svg(project, model, path, inputs, expected, quantize) -> ExportResult:
    import xml.etree.ElementTree as ET

    from studio.engine.diagram import graph_svg
    text = graph_svg(project.graph)
    path.write_text(text, encoding="utf-8")
    root = ET.parse(path).getroot()  # reads back as well-formed SVG with one box per layer
    boxes = sum(1 for el in root.iter() if el.tag.endswith("rect")) - 1
    if boxes != 2 * len(project.graph.nodes):
        raise ExportError("the SVG diagram did not read back with every layer; nothing was written")
    return ExportResult("svg", path, 0, 0, details={"layers": len(project.graph.nodes)})
