"""Run folders: everything about one training run, beside the project.

    <project>.runs/<YYYYmmdd-HHMMSS>-<name>/
        config.json            training configuration, graph and dataset snapshot
        history_epochs.csv/json per-epoch metrics
        history_batches.csv/json per-batch training loss
        weights_best.h5, weights_final.h5   (Layer Studio weights files)
        run.json               status, device, durations, message, frozen layers, feature extraction,
                               with fine-tuning the stages (first epoch, epochs, learning rate, frozen layers)
        tensorboard/           event logs (tensorboard --logdir works on it)
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import time
from pathlib import Path

import numpy as np

from studio.engine.errors import StudioError
from studio.engine.project import ProjectError, atomic_write_text, save_weights


class RunFolderError(StudioError):
    """The run folder cannot be made or written (a read-only or full disk)."""


def _folder_error(path: Path, exc: OSError) -> RunFolderError:
    return RunFolderError(f"cannot write the run folder '{path}': {exc.strerror or exc}")


def runs_dir_for(project_path: Path | None, fallback: Path) -> Path:
    if project_path is not None:
        return project_path.with_name(project_path.name + ".runs")
    return fallback


class RunFolder:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.started = time.time()

    @classmethod
    def at(cls, path: Path) -> "RunFolder":
        """A run folder at a chosen path (created if missing)."""
        try:
            Path(path).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _folder_error(Path(path), exc) from None
        return cls(path)

    @classmethod
    def create(cls, runs_dir: Path, name: str) -> "RunFolder":
        runs_dir = Path(runs_dir)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = runs_dir / f"{stamp}-{name}"
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
            k = 1
            while path.exists():
                k += 1
                path = runs_dir / f"{stamp}-{name}-{k}"
            path.mkdir()
        except OSError as exc:
            raise _folder_error(path, exc) from None
        return cls(path)

    def start(self, trainer) -> None:
        """Mark the run as running, with this process's id: a run whose process was killed
        is then listed as interrupted instead of vanishing."""
        self._write_json("history_epochs.json", list(trainer.history_epochs))
        self._write_json("run.json", {"status": "running", "pid": os.getpid(), "host": socket.gethostname(),
                                      "started": self.started, "device": device_description(),
                                      "epochs": trainer.epochs_done, **_training_facts(trainer)})

    def _write_json(self, name: str, data) -> None:
        try:
            atomic_write_text(self.path / name, json.dumps(data, indent=1, default=str) + "\n")
        except ProjectError as exc:
            raise RunFolderError(str(exc)) from None

    def write_config(self, project, config, dataset, preprocess) -> None:
        self._write_json("config.json", {
            "training": config.to_dict(), "graph": project.graph.to_dict(), "dataset": project.dataset,
            "dataset_summary": dataset.summary(), "preprocess": preprocess.to_dict()})

    def save_weights(self, which: str, weights: dict) -> None:
        save_weights(weights, self.path / f"weights_{which}.h5")

    def save_histograms(self, epoch: int, weights: dict, bins: int = 40) -> None:
        """Each layer's weight and bias histograms at the end of an epoch (histograms/epoch_NNNN.npz:
        for layer L and array k, 'L/k/counts', 'L/k/edges'); a few milliseconds an epoch."""
        arrays = {}
        for layer, values in weights.items():
            for k, a in enumerate(values):
                flat = np.asarray(a, dtype=np.float64).ravel()
                flat = flat[np.isfinite(flat)]
                counts, edges = np.histogram(flat, bins=bins) if flat.size else (np.zeros(bins, np.int64),
                                                                                  np.linspace(0, 1, bins + 1))
                arrays[f"{layer}/{k}/counts"] = counts
                arrays[f"{layer}/{k}/edges"] = edges
        folder = self.path / "histograms"
        try:
            folder.mkdir(exist_ok=True)
            with open(folder / f"epoch_{epoch:04d}.npz", "wb") as f:
                np.savez(f, **arrays)
        except OSError as exc:
            raise _folder_error(folder, exc) from None

    def append_history(self, trainer) -> None:
        epochs = trainer.history_epochs
        self._write_json("history_epochs.json", epochs)
        keys = sorted({k for row in epochs for k in row}, key=lambda k: (k != "epoch", k))
        atomic_write_text(self.path / "history_epochs.csv", _csv(keys, epochs))
        batches = [{"step": i, "loss": v} for i, v in enumerate(trainer.batch_losses)]
        self._write_json("history_batches.json", batches)
        atomic_write_text(self.path / "history_batches.csv", _csv(["step", "loss"], batches))

    def write_tensorboard(self, epoch: int, logs: dict, batch_losses=(), first_step: int = 0,
                          learning_rate: float | None = None) -> None:
        """Per-epoch scalars in TensorBoard's layout (train/ and validation/), with the
        learning rate (train/epoch_learning_rate) and every batch's training loss
        (batches/batch_loss at its global step). The batch losses are appended as plain
        event records, about 15 µs each (tf.summary.scalar costs about 1 ms a call);
        they have a folder of their own so a live TensorBoard reads them as they come."""
        import tensorflow as tf
        if not hasattr(self, "_writers"):
            self._writers = {part: tf.summary.create_file_writer(str(self.path / "tensorboard" / part))
                             for part in ("train", "validation")}
        if learning_rate is not None:
            logs = dict(logs, learning_rate=learning_rate)
        for key, value in logs.items():
            if key in ("epoch", "seconds"):
                continue
            part, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writers[part].as_default():
                tf.summary.scalar(f"epoch_{name}", value, step=epoch)
        for w in self._writers.values():
            w.flush()
        if not len(batch_losses):
            return
        import math

        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter
        records = []
        if getattr(self, "_batch_events", None) is None:
            self._batch_events = (self.path / "tensorboard" / "batches"
                                  / f"events.out.tfevents.{int(self.started)}.layer-studio")
            records.append(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        now = time.time()
        for k, value in enumerate(batch_losses):
            if math.isfinite(value):
                records.append(event_pb2.Event(wall_time=now, step=first_step + k, summary=summary_pb2.Summary(
                    value=[summary_pb2.Summary.Value(tag="batch_loss", simple_value=float(value))])))
        try:
            self._batch_events.parent.mkdir(parents=True, exist_ok=True)
            with open(self._batch_events, "ab") as f:
                writer = RecordWriter(f)
                for event in records:
                    writer.write(event.SerializeToString())
        except OSError:
            pass  # a convenience copy: history_batches.json/csv hold the same losses

    def finish(self, trainer, status: str, message: str = "") -> str | None:
        """Write the final weights, the history and run.json. Never raises: what could
        not be written (a full or read-only disk) is recorded in run.json when that
        still can be, and returned as one sentence (None when all was written)."""
        problems = []
        for what, write in (("the final weights", lambda: trainer.model is not None
                             and self.save_weights("final", trainer.weights())),
                            ("the history", lambda: self.append_history(trainer))):
            try:
                write()
            except Exception as exc:  # noqa: BLE001 - finishing a run must never raise
                problems.append(f"{what} could not be written ({_reason(exc)})")
        if problems:
            status = "failed"
            message = "; ".join(([message] if message else []) + problems)
        try:
            self._write_json("run.json", {
                "status": status, "message": message, "device": device_description(),
                "started": self.started, "finished": time.time(), "seconds": time.time() - self.started,
                "epochs": trainer.epochs_done,
                "epoch_seconds": [e.get("seconds") for e in trainer.history_epochs], **_training_facts(trainer)})
        except Exception as exc:  # noqa: BLE001
            problems.append(f"run.json could not be written ({_reason(exc)})")
        return f"the run folder '{self.path}' is incomplete: " + "; ".join(problems) if problems else None


def _training_facts(trainer) -> dict:
    """What run.json says about how the model was trained: the frozen layers (``trainable``
    off) and, with fast feature extraction, where the cut was and what it saved."""
    from studio.engine.train.feature_cache import frozen_layer_names
    try:
        frozen = frozen_layer_names(trainer.project.graph)
    except Exception:  # noqa: BLE001 - a fact for the record; never stops a run
        frozen = []
    facts = {"frozen": frozen, "feature_extraction": getattr(trainer, "feature_info", None)}
    if getattr(trainer, "stages", None):   # two-stage fine-tuning: each stage's frozen layers and epochs
        facts["stages"] = trainer.stage_summary()
    if getattr(trainer, "notes", None):   # settings adjusted or not honoured (a missing GPU), as told to the person
        facts["notes"] = list(trainer.notes)
    if getattr(trainer, "failure_traceback", None):   # an unexpected failure: its traceback, for a bug report
        facts["traceback"] = trainer.failure_traceback
    return facts


def _csv(keys, rows) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(keys), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def device_description() -> str:
    try:
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        return ", ".join(g.name for g in gpus) if gpus else "CPU"
    except Exception:
        return "unknown"


def load_histograms(run_path: Path, layer: str) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
    """A layer's recorded histograms, by epoch: {epoch: [(counts, edges) per weight array]}."""
    out: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for path in sorted(Path(run_path, "histograms").glob("epoch_*.npz")):
        try:
            epoch = int(path.stem.split("_")[1])
            with np.load(path, allow_pickle=False) as f:
                k, found = 0, []
                while f"{layer}/{k}/counts" in f.files:
                    found.append((f[f"{layer}/{k}/counts"], f[f"{layer}/{k}/edges"]))
                    k += 1
        except (OSError, ValueError, IndexError):
            continue
        if found:
            out[epoch] = found
    return out


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.split(": ", 1)[-1] if isinstance(exc, (StudioError, ProjectError)) else (
        getattr(exc, "strerror", None) or text)


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError, OverflowError):
        return False
    return True


def list_runs(runs_dir: Path) -> list[dict]:
    """Every run in a runs folder, newest first, with its status and epoch history.

    A run still marked running whose process is gone (killed, crashed, the
    machine restarted) is listed as interrupted, with the epochs it finished."""
    out = []
    for path in sorted(Path(runs_dir).glob("*/run.json"), reverse=True):
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict):
            continue
        try:
            history = json.loads((path.parent / "history_epochs.json").read_text())
        except (OSError, ValueError):
            history = []
        if meta.get("status") == "running" and not (
                meta.get("host") == socket.gethostname() and _alive(meta.get("pid"))):
            meta["status"] = "interrupted"
            meta.setdefault("message", "the training process ended without finishing the run")
        meta["path"] = str(path.parent)
        meta["history"] = history if isinstance(history, list) else []
        out.append(meta)
    return out
