"""How good a trained classifier is on the held-out data, and where it fails.

:func:`evaluate` builds the model (the project's current weights, or a run's
best or final weights with the graph and preprocessing that run trained),
runs it over the held-out examples once (one batched ``model.predict``) and
derives everything from those predictions: the loss and metrics as Keras
computes them (the same loss and metric objects, plus regularization
penalties), per-class precision, recall, F1 and support, the confusion
matrix, and for every cell of it the examples sorted with the largest
mistakes first. Nothing here imports Qt; the window calls :func:`evaluate`
from a worker thread and the command line from its main thread.

"Largest mistake first" means: highest probability given to a wrong class
first. Off the diagonal that is the confidence in the (wrong) predicted class;
on the diagonal it is the runner-up's probability, so the closest calls come
first there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from studio.engine import datasets as ds_mod
from studio.engine.errors import BAD_INPUT, FAILURE, StudioError

WEIGHT_CHOICES = ("best", "final")
MAX_RUN_CONFIG_BYTES = 64 * 1024 * 1024


class EvaluationError(StudioError):
    """The evaluation cannot be done as asked (no data, not a classifier, no such run)."""

    exit_code = BAD_INPUT


class EvaluationFailed(EvaluationError):
    """The model failed while predicting (out of memory, a backend error)."""

    exit_code = FAILURE


# -- what is evaluated -------------------------------------------------------------------

@dataclass
class RunWeights:
    """A run's weights and what it trained them with (graph, settings, preprocessing)."""

    path: Path
    which: str                      # best | final: the file actually read
    weights: dict
    project: object | None = None   # studio.engine.project.Project from config.json, or None
    preprocess: dict | None = None
    notes: list[str] = field(default_factory=list)


def _show(path) -> str:
    text = "".join(c if c.isprintable() else "?" for c in str(path))
    return text if len(text) <= 160 else f"{text[:100]}…{text[-50:]}"


def load_run(path: str | Path, which: str = "best") -> RunWeights:
    """Read a run folder's ``weights_<which>.h5`` and its ``config.json``.

    A run that kept no best weights (keep-best off) is evaluated with its final
    ones and the other way round (a run that ended before writing them), with a
    note; a folder with neither is refused.
    """
    from studio.engine.project import load_weights
    if which not in WEIGHT_CHOICES:
        raise EvaluationError(f"weights must be 'best' or 'final', not {which!r:.40}")
    path = Path(path)
    if not str(path).strip():
        raise EvaluationError("the run folder path is empty; give a folder under PROJECT.studio.runs/")
    if not path.exists():
        raise EvaluationError(f"the run folder '{_show(path)}' does not exist")
    if not path.is_dir():
        raise EvaluationError(f"'{_show(path)}' is not a run folder (it is a file); give a folder under "
                              "PROJECT.studio.runs/")
    files = {w: path / f"weights_{w}.h5" for w in WEIGHT_CHOICES}
    notes = []
    chosen = which
    if not files[which].is_file():
        other = WEIGHT_CHOICES[1 - WEIGHT_CHOICES.index(which)]
        if not files[other].is_file():
            raise EvaluationError(f"'{_show(path)}' holds no weights (weights_best.h5 or weights_final.h5): "
                                  "it is not a run folder, or the run ended before its first epoch")
        notes.append(f"this run has no {which} weights; its {other} weights are evaluated")
        chosen = other
    weights = load_weights(files[chosen])
    project, preprocess = _run_config(path)
    if project is None:
        notes.append("the run has no config.json; it is evaluated with the project's current model")
    return RunWeights(path, chosen, weights, project, preprocess, notes)


def _run_config(path: Path):
    """(Project with the run's graph, settings and dataset; its preprocessing) or (None, None)
    when the run has no config.json. The file is read as a project file is: its size bounded
    before reading, its JSON and every field checked the same way."""
    from studio.engine.project import FORMAT, SCHEMA_VERSION, ProjectError, parse_json_bytes, project_from_document
    config = path / "config.json"
    source = f"the run's config.json ('{_show(config)}')"
    try:
        if not config.exists():
            return None, None
        if not config.is_file():
            raise EvaluationError(f"{source} is not a regular file")
        size = config.stat().st_size
        if size > MAX_RUN_CONFIG_BYTES:
            raise EvaluationError(f"{source} is {size // 1_000_000} MB, too large to be a run's settings")
        raw = config.read_bytes()
    except OSError as exc:
        raise EvaluationError(f"cannot read {source}: {exc.strerror or exc}") from None
    try:
        doc = parse_json_bytes(raw, source)
        del raw
        if not isinstance(doc, dict):
            raise ProjectError(f"{source}: should be a JSON object")
        for key in ("graph", "training"):
            if key not in doc:
                raise ProjectError(f"{source}: {key} is missing")
        project = project_from_document({"format": FORMAT, "schema_version": SCHEMA_VERSION, "graph": doc["graph"],
                                         "dataset": doc.get("dataset"), "training": doc["training"]},
                                        source=source)
    except ProjectError as exc:
        raise EvaluationError(str(exc)) from None
    pre = doc.get("preprocess")
    return project, pre if isinstance(pre, dict) else None


# -- the result --------------------------------------------------------------------------

@dataclass
class Evaluation:
    """Every figure of one evaluation; arrays are indexed by held-out example."""

    source: dict                    # {"kind": "current"} or {"kind": "run", "run", "weights", "file"}
    dataset: str
    class_names: list[str]
    y_true: np.ndarray              # (n,) class numbers
    y_pred: np.ndarray              # (n,) predicted class numbers
    probabilities: np.ndarray       # (n, classes): the model's outputs as probabilities
    loss: float | None
    loss_name: str
    metrics: dict[str, float]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        k = len(self.class_names)
        n = len(self.y_true)
        rows = np.arange(n)
        self.confidence = self.probabilities[rows, self.y_pred] if n else np.zeros(0, "float32")
        wrong = self.probabilities.copy()
        if n:
            wrong[rows, self.y_true] = -np.inf
        # the highest probability given to a class other than the true one
        self.wrong_score = wrong.max(axis=1) if k > 1 and n else np.zeros(n, "float32")
        keys = self.y_true.astype(np.int64) * k + self.y_pred
        self.confusion = np.bincount(keys, minlength=k * k).reshape(k, k)
        # by cell (true, then predicted), then largest mistake first; ties keep example order
        self._order = np.lexsort((rows, -self.wrong_score, keys)) if n else rows
        sorted_keys = keys[self._order]
        self._starts = np.searchsorted(sorted_keys, np.arange(k * k + 1))
        tp = np.diag(self.confusion).astype(np.float64)
        self.support = self.confusion.sum(axis=1)
        predicted = self.confusion.sum(axis=0)
        self.precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
        self.recall = np.divide(tp, self.support, out=np.zeros(k), where=self.support > 0)
        pr = self.precision + self.recall
        self.f1 = np.divide(2 * self.precision * self.recall, pr, out=np.zeros(k), where=pr > 0)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def samples(self) -> int:
        return int(len(self.y_true))

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(1, self.samples))

    def cell(self, true: int, predicted: int) -> np.ndarray:
        """Indices of the held-out examples of class ``true`` predicted as ``predicted``,
        largest mistakes first."""
        k = self.num_classes
        key = int(true) * k + int(predicted)
        return self._order[self._starts[key]:self._starts[key + 1]]

    def mistakes(self) -> np.ndarray:
        """Every misclassified example, largest mistake (most confident) first."""
        wrong = np.flatnonzero(self.y_true != self.y_pred)
        return wrong[np.lexsort((wrong, -self.confidence[wrong]))]

    def averages(self) -> dict[str, dict[str, float]]:
        k = max(1, self.num_classes)
        weights = self.support / max(1, self.samples)
        out = {}
        for name, w in (("macro", np.full(self.num_classes, 1 / k)), ("weighted", weights)):
            out[name] = {"precision": float(self.precision @ w), "recall": float(self.recall @ w),
                         "f1": float(self.f1 @ w), "support": self.samples}
        return out

    def describe_source(self) -> str:
        if self.source.get("kind") == "run":
            return f"run {Path(self.source['run']).name} ({self.source['weights']} weights)"
        return "the current weights"

    def to_dict(self, mistakes: int | None = None) -> dict:
        """Plain data for JSON (the README documents the keys)."""
        wrong = self.mistakes()
        if mistakes is not None:
            wrong = wrong[:mistakes]
        return {
            "source": dict(self.source),
            "dataset": self.dataset,
            "samples": self.samples,
            "loss_name": self.loss_name,
            "loss": _finite(self.loss),
            "metrics": {k: _finite(v) for k, v in self.metrics.items()},
            "accuracy": self.accuracy,
            "classes": list(self.class_names),
            "per_class": [{"class": i, "name": self.class_names[i], "precision": float(self.precision[i]),
                           "recall": float(self.recall[i]), "f1": float(self.f1[i]),
                           "support": int(self.support[i])} for i in range(self.num_classes)],
            "averages": self.averages(),
            "confusion_matrix": self.confusion.tolist(),
            "mistakes": [{"index": int(i), "true": int(self.y_true[i]), "predicted": int(self.y_pred[i]),
                          "confidence": float(self.confidence[i])} for i in wrong],
            "seconds": self.seconds,
            "notes": list(self.notes),
        }


def _finite(value):
    """A number for JSON: NaN and infinities (a diverged model) become null."""
    return float(value) if value is not None and np.isfinite(value) else None


# -- evaluating ---------------------------------------------------------------------------

def class_numbers(y: np.ndarray) -> np.ndarray:
    """Labels as class numbers, whether they are class numbers or one-hot rows."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1).astype(np.int64)
    return y.reshape(len(y)).astype(np.int64)


def _is_binary_or_sparse(y_true, y_pred) -> tuple[bool, bool]:
    """Keras's own rule (``compile_utils.is_binary_or_sparse_categorical``) for 'accuracy'."""
    is_binary = y_pred.shape[-1] == 1
    is_sparse = y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
    return is_binary, is_sparse


CROSSENTROPIES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy")


def keras_loss_and_metrics(model, loss_name: str, metric_names, y, outputs: np.ndarray,
                           logits: np.ndarray | None = None) -> tuple[float, dict]:
    """The loss and metrics ``model.evaluate`` would report, from predictions already made:
    the same loss function (on the scores before a final softmax/sigmoid, as Keras does,
    when ``logits`` are given) and metric objects over all examples at once, plus the
    model's regularization penalties (which Keras adds to the loss)."""
    import keras
    if loss_name.lower() in ("crossentropy", "ce"):
        binary, sparse = _is_binary_or_sparse(y, outputs)
        loss_name = ("binary_crossentropy" if binary else
                     "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy")
    loss_fn = keras.losses.get(loss_name)
    if logits is not None and loss_name in CROSSENTROPIES:
        per_sample = keras.ops.convert_to_numpy(loss_fn(y, logits, from_logits=True))
    else:
        per_sample = keras.ops.convert_to_numpy(loss_fn(y, outputs))
    loss = float(np.mean(per_sample, dtype=np.float64))
    penalties = [float(keras.ops.convert_to_numpy(p)) for p in model.losses]
    if penalties:
        loss += float(sum(penalties))
    metrics = {}
    for name in metric_names:
        if str(name).lower() in ("accuracy", "acc"):
            binary, sparse = _is_binary_or_sparse(y, outputs)
            metric = (keras.metrics.BinaryAccuracy if binary else keras.metrics.SparseCategoricalAccuracy
                      if sparse else keras.metrics.CategoricalAccuracy)(name=str(name))
        else:
            metric = keras.metrics.get(name)
            if not isinstance(metric, keras.metrics.Metric):
                metric = keras.metrics.MeanMetricWrapper(metric, name=str(name))
        metric.update_state(y, outputs)
        metrics[str(name)] = float(keras.ops.convert_to_numpy(metric.result()))
    return loss, metrics


def as_probabilities(outputs: np.ndarray) -> tuple[np.ndarray, bool]:
    """(probabilities per class, whether the outputs were logits). One output unit is a
    binary classifier: its value is the probability of class 1."""
    out = np.asarray(outputs, dtype=np.float32)
    if out.shape[1] == 1:
        p = out[:, 0]
        logits = bool(p.size) and (p.min() < -1e-6 or p.max() > 1 + 1e-6)
        if logits:
            p = 1 / (1 + np.exp(-p))
        return np.stack([1 - p, p], axis=1), logits
    sums = out.sum(axis=1)
    logits = bool(out.size) and (out.min() < -1e-6 or out.max() > 1 + 1e-6 or np.abs(sums - 1).max() > 1e-3)
    if logits:
        z = out - out.max(axis=1, keepdims=True)
        e = np.exp(z)
        out = e / e.sum(axis=1, keepdims=True)
    return out, logits


def _logits_of(output):
    """The scores a final softmax/sigmoid was applied to, as Keras's crossentropy finds them
    (the activation caches them on its output; a separate Softmax op is looked through)."""
    logits = getattr(output, "_keras_logits", None)
    op = getattr(output, "op", None)
    if logits is None and op is not None and getattr(op, "type", None) in ("Softmax", "Sigmoid") \
            and len(op.inputs) == 1:
        logits = op.inputs[0]
    return logits


def _predict(model, x, batch_size: int, progress: Callable[[int, int], None] | None):
    """One batched ``model.predict`` pass: (outputs, logits or None).

    Keras computes a crossentropy from the scores before the final softmax or
    sigmoid when it can (exact even where a probability rounds to 0); the
    predict step returns those scores beside the outputs so that the loss here
    is the one ``model.evaluate`` reports, without a second pass.
    """
    import keras
    _install_scores_step(model)
    callbacks = []
    if progress is not None:
        steps = -(-len(x) // batch_size)

        class _Progress(keras.callbacks.Callback):
            def on_predict_batch_end(self, batch, logs=None):
                progress(batch + 1, steps)

        callbacks.append(_Progress())
    try:
        result = model.predict(x, batch_size=batch_size, verbose=0, callbacks=callbacks)
    except MemoryError:
        raise EvaluationFailed(f"not enough memory to predict with batches of {batch_size}; try a smaller "
                               "batch size") from None
    except Exception as exc:  # a backend error: one line for the person, the rest for the log
        from studio.engine.errors import message_of
        raise EvaluationFailed(f"the model failed while predicting: {message_of(exc)}") from exc
    if isinstance(result, (tuple, list)):
        return np.asarray(result[0]), np.asarray(result[1], dtype=np.float32)
    return np.asarray(result), None


def _install_scores_step(model) -> None:
    """Make ``model.predict`` return (outputs, scores before the final softmax/sigmoid)
    where Keras would find such scores, else the outputs alone (once per model)."""
    if getattr(model, "_studio_scores_step", False):
        return

    def predict_step(data):
        inputs = data[0] if isinstance(data, (tuple, list)) else data
        output = model(inputs, training=False)
        logits = _logits_of(output)
        return output if logits is None else (output, logits)

    model.predict_step = predict_step
    model.predict_function = None      # made again, with this step
    model._studio_scores_step = True


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def evaluate(project, dataset: ds_mod.Dataset | None, run: str | Path | RunWeights | None = None,
             weights: str = "best", batch_size: int | None = None,
             progress: Callable[[int, int], None] | None = None, model=None) -> Evaluation:
    """Evaluate ``project``'s model on ``dataset``'s held-out examples.

    ``project`` is a :class:`studio.engine.project.Project` (a document snapshot
    with the current weights, or a loaded project file). With ``run`` (a run
    folder, or :func:`load_run`'s result) that run's ``weights`` (best|final) are
    evaluated with the graph, loss, metrics and preprocessing the run trained
    with. ``progress(batch, batches)`` is called after each predicted batch.
    ``model``: one already built from that graph and those weights (kept between
    evaluations by a caller that evaluates the same weights again), else one is built.
    Raises :class:`EvaluationError` with a one-line message.
    """
    from studio.engine.compiler import CompileError, compile_graph
    from studio.engine.train.settings import TrainingConfig

    t0 = time.perf_counter()
    if dataset is None:
        raise EvaluationError("there is no dataset to evaluate on: choose one in the Dataset tab")
    notes: list[str] = []
    graph, chosen = project.graph, project.current_weights()
    training, spec = project.training, project.dataset
    preprocess = (spec or {}).get("preprocess") if isinstance(spec, dict) else None
    source = {"kind": "current"}
    if run is not None:
        run = run if isinstance(run, RunWeights) else load_run(run, weights)
        notes += run.notes
        chosen = run.weights
        if run.project is not None:
            graph, training = run.project.graph, run.project.training
            preprocess = run.preprocess if run.preprocess is not None else \
                (run.project.dataset or {}).get("preprocess") if isinstance(run.project.dataset, dict) else None
        source = {"kind": "run", "run": str(run.path), "weights": run.which, "file": f"weights_{run.which}.h5"}
    config = TrainingConfig.from_dict(training if isinstance(training, dict) else None)
    pre = ds_mod.Preprocess.from_dict(preprocess)
    if len(dataset.x_test) == 0:
        raise EvaluationError(f"the dataset '{dataset.name}' has no held-out examples to evaluate on")
    if not chosen:
        notes.append("the model has no trained weights (every layer freshly initialised): these are the figures "
                     "of an untrained model")
    if model is None:
        try:
            model = compile_graph(graph, chosen or None)
        except CompileError as exc:
            raise EvaluationError(f"the model cannot be built: {exc}") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise EvaluationError(f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                              "evaluation needs one input and one classifier output")
    out_shape = tuple(model.outputs[0].shape)
    ends = graph.model_outputs()
    output_name = graph.nodes[ends[0]].name if ends else "output"
    if len(out_shape) != 2:
        raise EvaluationError(f"the model's output '{output_name}' has shape {_shape_text(out_shape)}; evaluation "
                              "needs a classifier, whose output is one score per class (batch, classes)")
    x = pre.x(dataset.x_test, pre.scales(dataset.x_train))   # scaled as the training data is
    expected = tuple(model.inputs[0].shape[1:])
    if len(expected) != x.ndim - 1 or any(e is not None and e != a for e, a in zip(expected, x.shape[1:])):
        raise EvaluationError(f"the model expects inputs of shape {_shape_text(expected)} but the held-out data "
                              f"is {_shape_text(x.shape[1:])} after preprocessing; check the Dataset tab's "
                              "choices or the Input layer")
    y_true = class_numbers(dataset.y_test)
    units = int(out_shape[1])
    k = 2 if units == 1 else units
    if y_true.size and (y_true.max() >= k or y_true.min() < 0):
        raise EvaluationError(f"the held-out data has class {int(y_true.max())} but the model's output "
                              f"'{output_name}' has {units} unit{'s' if units != 1 else ''}; give the last layer one "
                              "unit per class")
    y = pre.y(dataset.y_test, max(dataset.num_classes, k)) if units > 1 else y_true.astype("float32")[:, None]
    if y.ndim == 2 and units > 1 and y.shape[1] != units:
        y = y[:, :units] if y.shape[1] > units else np.pad(y, ((0, 0), (0, units - y.shape[1])))
    outputs, logits = _predict(model, x, int(batch_size or config.batch_size), progress)
    if outputs.shape != (len(x), units):
        raise EvaluationFailed(f"the model returned shape {outputs.shape} for {len(x)} examples")
    outputs = outputs.astype(np.float32, copy=False)
    from studio.engine.train.fit_checks import loss_problems
    unfit = loss_problems(output_name, tuple(out_shape), dataset, pre, str(config.loss))
    try:
        if unfit:   # the same sentence as train's refusal; the figures below still apply
            raise ValueError(unfit[0])
        loss, metrics = keras_loss_and_metrics(model, config.loss, config.metrics, y, outputs, logits)
    except Exception as exc:  # a loss that does not apply to these labels: the figures below still do
        from studio.engine.errors import message_of
        loss, metrics = None, {}
        notes.append(f"the loss '{config.loss}' could not be computed on these labels ({message_of(exc)})")
    probabilities, were_scores = as_probabilities(outputs)
    if were_scores:
        notes.append("the model outputs scores, not probabilities (no softmax/sigmoid at the end); confidences "
                     "are their softmax")
    names = [str(n) for n in (dataset.class_names or [])][:k]
    names += [str(i) for i in range(len(names), k)]
    return Evaluation(source=source, dataset=dataset.name, class_names=names, y_true=y_true,
                      y_pred=probabilities.argmax(axis=1).astype(np.int64), probabilities=probabilities,
                      loss=loss, loss_name=config.loss, metrics=metrics, seconds=time.perf_counter() - t0,
                      notes=notes)


# -- text for the command line -----------------------------------------------------------------

def _printable(text) -> str:
    """Text for one line of a terminal: control characters shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def format_report(result: Evaluation, mistakes: int = 10, max_matrix: int = 30) -> str:
    """Loss and metrics, the per-class table, the confusion matrix and the largest mistakes.
    Names and paths (a class named by a folder, a run folder) are shown with control characters
    escaped, so each line of the report is one line on a terminal."""
    lines = [f"evaluated {_printable(result.describe_source())} on {result.samples:,} held-out examples of "
             f"{_printable(result.dataset)} ({result.seconds:.1f} s)"]
    class_names = [_printable(n) for n in result.class_names]
    figures = [f"loss {result.loss:.4f}" if result.loss is not None else "loss -"]
    figures += [f"{k} {v:.4f}" for k, v in result.metrics.items()]
    if not any(k in ("accuracy", "acc") for k in result.metrics):
        figures.append(f"accuracy {result.accuracy:.4f}")
    lines += ["  ".join(figures), ""]
    name_w = max([len(n) for n in class_names] + [12])
    lines.append(f"{'class':<{name_w}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>8}")
    for i, name in enumerate(class_names):
        lines.append(f"{name:<{name_w}}  {result.precision[i]:>9.4f}  {result.recall[i]:>9.4f}  "
                     f"{result.f1[i]:>9.4f}  {int(result.support[i]):>8,}")
    for label, avg in result.averages().items():
        lines.append(f"{label + ' avg':<{name_w}}  {avg['precision']:>9.4f}  {avg['recall']:>9.4f}  "
                     f"{avg['f1']:>9.4f}  {avg['support']:>8,}")
    lines.append("")
    k = result.num_classes
    if k <= max_matrix:
        lines.append("confusion matrix (rows: true class, columns: predicted class)")
        labels = [n[:8] for n in class_names]
        cell_w = max([len(str(int(result.confusion.max())))] + [len(n) for n in labels]) + 1
        corner = "true\\pred"
        row_w = max(len(n) for n in labels + [corner])
        lines.append(f"{corner:<{row_w}}" + "".join(f"{n:>{cell_w}}" for n in labels))
        for i in range(k):
            lines.append(f"{labels[i]:<{row_w}}" + "".join(f"{int(c):>{cell_w}}" for c in result.confusion[i]))
    else:
        lines.append(f"confusion matrix: {k}×{k} (too wide to print; --json gives it)")
    wrong = result.mistakes()
    if len(wrong):
        lines += ["", f"{len(wrong):,} mistakes; the largest:"]
        for i in wrong[:mistakes]:
            lines.append(f"  example {int(i):>6}: true {class_names[result.y_true[i]]}, predicted "
                         f"{class_names[result.y_pred[i]]} ({result.confidence[i]:.1%})")
    for note in result.notes:
        lines.append(f"note: {_printable(note)}")
    return "\n".join(lines)
