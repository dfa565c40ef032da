"""Run folders: everything about one training run, beside the project.

    <project>.runs/<YYYYmmdd-HHMMSS>-<name>/
        config.json            training configuration, graph and dataset snapshot
        history_epochs.csv/json per-epoch metrics
        history_batches.csv/json per-batch training loss
        weights_best.h5, weights_final.h5   (Layer Studio weights files)
        run.json               status, device, durations, message
        tensorboard/           event logs (tensorboard --logdir works on it)
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from studio.engine.project import atomic_write_text, save_weights


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
        Path(path).mkdir(parents=True, exist_ok=True)
        return cls(path)

    @classmethod
    def create(cls, runs_dir: Path, name: str) -> "RunFolder":
        runs_dir = Path(runs_dir)
        runs_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = runs_dir / f"{stamp}-{name}"
        k = 1
        while path.exists():
            k += 1
            path = runs_dir / f"{stamp}-{name}-{k}"
        path.mkdir()
        return cls(path)

    def _write_json(self, name: str, data) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=1, default=str) + "\n")

    def write_config(self, project, config, dataset, preprocess) -> None:
        self._write_json("config.json", {
            "training": config.to_dict(), "graph": project.graph.to_dict(), "dataset": project.dataset,
            "dataset_summary": dataset.summary(), "preprocess": preprocess.to_dict()})

    def save_weights(self, which: str, weights: dict) -> None:
        save_weights(weights, self.path / f"weights_{which}.h5")

    def append_history(self, trainer) -> None:
        epochs = trainer.history_epochs
        self._write_json("history_epochs.json", epochs)
        keys = sorted({k for row in epochs for k in row}, key=lambda k: (k != "epoch", k))
        atomic_write_text(self.path / "history_epochs.csv", _csv(keys, epochs))
        batches = [{"step": i, "loss": v} for i, v in enumerate(trainer.batch_losses)]
        self._write_json("history_batches.json", batches)
        atomic_write_text(self.path / "history_batches.csv", _csv(["step", "loss"], batches))

    def write_tensorboard(self, epoch: int, logs: dict) -> None:
        """Per-epoch scalars in TensorBoard's layout (train/ and validation/)."""
        import tensorflow as tf
        if not hasattr(self, "_writers"):
            self._writers = {part: tf.summary.create_file_writer(str(self.path / "tensorboard" / part))
                             for part in ("train", "validation")}
        for key, value in logs.items():
            if key in ("epoch", "seconds"):
                continue
            part, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writers[part].as_default():
                tf.summary.scalar(f"epoch_{name}", value, step=epoch)
        for w in self._writers.values():
            w.flush()

    def finish(self, trainer, status: str, message: str = "") -> None:
        if trainer.model is not None:
            self.save_weights("final", trainer.weights())
        self.append_history(trainer)
        self._write_json("run.json", {
            "status": status, "message": message, "device": device_description(),
            "started": self.started, "finished": time.time(), "seconds": time.time() - self.started,
            "epochs": trainer.epochs_done,
            "epoch_seconds": [e.get("seconds") for e in trainer.history_epochs]})


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


def list_runs(runs_dir: Path) -> list[dict]:
    """Every run in a runs folder, newest first, with its status and epoch history."""
    out = []
    for path in sorted(Path(runs_dir).glob("*/run.json"), reverse=True):
        try:
            meta = json.loads(path.read_text())
            history = json.loads((path.parent / "history_epochs.json").read_text())
        except (OSError, ValueError):
            continue
        meta["path"] = str(path.parent)
        meta["history"] = history
        out.append(meta)
    return out
