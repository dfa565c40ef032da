"""The Training tab: settings, Train/Pause/Stop/Continue, live curves, runs.

Training runs in a QThread that drives the engine's Trainer; the Trainer's
events are turned into Qt signals (queued to the GUI thread) and stored in
growing numpy buffers, which a timer hands to pyqtgraph a few tens of times a
second, never once per batch.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QSpinBox, QSplitter, QVBoxLayout,
                               QWidget)

log = logging.getLogger(__name__)


class TrainingWorker(QThread):
    """Runs ``trainer.run_training(epochs)`` off the GUI thread."""

    batch_ended = Signal(int, float, int, int)   # step, loss, epoch, batch
    epoch_ended = Signal(int, dict)
    done = Signal(dict)
    failed = Signal(str, str)                     # message, node id ('' if none)

    def __init__(self, trainer, epochs: int):
        super().__init__()
        self.trainer = trainer
        self.epochs = epochs
        trainer.batch_ended.connect(self._on_batch)
        trainer.epoch_ended.connect(self._on_epoch)

    def _on_epoch(self, epoch, logs):
        self.epoch_ended.emit(epoch, dict(logs))

    def _on_batch(self, step, logs):
        self.batch_ended.emit(step, float(logs.get("loss", float("nan"))), int(logs.get("epoch", 0)),
                              int(logs.get("batch", 0)))

    def run(self) -> None:
        from studio.engine.train import TrainingError
        try:
            self.done.emit(self.trainer.run_training(self.epochs))
        except TrainingError as exc:
            self.failed.emit(str(exc), exc.node_id or "")
        except Exception as exc:  # noqa: BLE001 - reported to the person, traceback to the log
            log.exception("training worker failed")
            self.failed.emit(f"training failed: {exc}", "")
        finally:  # a later Continue gets a worker of its own
            self.trainer.batch_ended.disconnect(self._on_batch)
            self.trainer.epoch_ended.disconnect(self._on_epoch)


class Buffer:
    """A growing float array (amortised doubling)."""

    def __init__(self):
        self.data = np.empty(1024)
        self.n = 0

    def append(self, value: float) -> None:
        if self.n == len(self.data):
            self.data = np.resize(self.data, 2 * len(self.data))
        self.data[self.n] = value
        self.n += 1

    def values(self) -> np.ndarray:
        return self.data[:self.n]

    def clear(self) -> None:
        self.n = 0


SMOOTHING = 0.9  # weight of the exponential moving average (as TensorBoard's smoothing)


class TrainingPanel(QWidget):
    training_started = Signal()
    training_stopped = Signal()
    problem_pinned = Signal(str, str)   # node id, message

    def __init__(self, window, parent=None):
        super().__init__(parent)
        import pyqtgraph as pg
        pg.setConfigOptions(antialias=False, background="w", foreground="#37474f")
        self.window = window
        self.trainer = None
        self.worker: TrainingWorker | None = None
        self.dataset = None
        self.batch_step = Buffer()
        self.batch_loss = Buffer()
        self.batch_smooth = Buffer()   # exponential moving average, kept incrementally
        self.epochs: list[dict] = []
        self._dirty = False
        self._t0 = 0.0
        self._build(pg)
        # 10 Hz: live to the eye, and little GIL time taken from the training thread
        self.plot_timer = QTimer(self, interval=100, timeout=self._update_plots)
        self._epochs_dirty = False
        self._last_label = 0.0

    # -- layout ----------------------------------------------------------------------
    def _build(self, pg) -> None:
        controls = QWidget()
        form = QFormLayout(controls)
        self.dataset_label = QLabel("–")
        self.dataset_label.setWordWrap(True)
        self.epochs_spin = QSpinBox(minimum=1, maximum=10000, value=3)
        self.batch_spin = QSpinBox(minimum=1, maximum=65536, value=64)
        self.optimizer_combo = QComboBox()
        for name in ("adam", "sgd", "rmsprop", "adamw", "adagrad", "nadam"):
            self.optimizer_combo.addItem(name)
        self.lr_spin = QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=10.0, singleStep=0.0001, value=0.001)
        self.lr_spin.valueChanged.connect(self._on_lr_changed)
        form.addRow("Dataset", self.dataset_label)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Optimizer", self.optimizer_combo)
        form.addRow("Learning rate", self.lr_spin)
        self.more = _AdvancedSettings()
        form.addRow(self.more.toggle)
        form.addRow(self.more)
        buttons = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.continue_button = QPushButton("Continue")
        for b in (self.train_button, self.pause_button, self.stop_button, self.continue_button):
            buttons.addWidget(b)
        form.addRow(buttons)
        self.progress = QProgressBar()
        self.progress_label = QLabel("Ready.")
        self.progress_label.setWordWrap(True)
        form.addRow(self.progress)
        form.addRow(self.progress_label)
        self.train_button.clicked.connect(lambda: self.start(new=True))
        self.continue_button.clicked.connect(lambda: self.start(new=False))
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.batch_plot = pg.PlotWidget(title="Training loss per batch")
        self.batch_plot.setLabel("bottom", "batch")
        self.raw_curve = self.batch_plot.plot(pen=pg.mkPen("#b0bec5", width=1), connect="finite")
        self.smooth_curve = self.batch_plot.plot(pen=pg.mkPen("#1565c0", width=2))
        for c in (self.raw_curve, self.smooth_curve):
            c.setDownsampling(auto=True, method="peak")
            c.setClipToView(True)
        self.epoch_plot = pg.PlotWidget(title="Per epoch: loss and accuracy")
        self.epoch_plot.setLabel("bottom", "epoch")
        self.epoch_plot.addLegend(offset=(-10, 10))
        self.epoch_curves = {
            "loss": self.epoch_plot.plot(pen=pg.mkPen("#1565c0", width=2), symbol="o", symbolSize=5, name="loss"),
            "val_loss": self.epoch_plot.plot(pen=pg.mkPen("#1565c0", width=2, style=Qt.DashLine), symbol="o", symbolSize=5,
                                             name="val loss"),
            "accuracy": self.epoch_plot.plot(pen=pg.mkPen("#2e7d32", width=2), symbol="t", symbolSize=6,
                                             name="accuracy"),
            "val_accuracy": self.epoch_plot.plot(pen=pg.mkPen("#2e7d32", width=2, style=Qt.DashLine), symbol="t",
                                                 symbolSize=6, name="val accuracy"),
        }
        self.overlay_curves = []
        self.runs_list = QListWidget()
        self.runs_list.itemChanged.connect(lambda _item: self._draw_overlays())
        runs_box = QWidget()
        rl = QVBoxLayout(runs_box)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(QLabel("Runs (tick to overlay validation accuracy)"))
        rl.addWidget(self.runs_list)
        splitter = QSplitter()
        splitter.addWidget(controls)
        splitter.addWidget(self.batch_plot)
        splitter.addWidget(self.epoch_plot)
        splitter.addWidget(runs_box)
        splitter.setSizes([300, 420, 420, 240])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)
        self._set_state("idle")

    def _set_state(self, state: str) -> None:
        self.state = state
        running = state in ("running", "paused")
        self.train_button.setEnabled(not running)
        self.continue_button.setEnabled(not running and self.trainer is not None and self.trainer.model is not None)
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.stop_button.setEnabled(running)
        for w in (self.epochs_spin, self.batch_spin, self.optimizer_combo, self.more):
            w.setEnabled(not running)

    # -- project -------------------------------------------------------------------
    def bind(self, project) -> None:
        if self.is_running():
            return
        self.project = project
        self.trainer = None
        t = project.training
        self.epochs_spin.setValue(int(t.get("epochs", 3)))
        self.batch_spin.setValue(int(t.get("batch_size", 64)))
        self.optimizer_combo.setCurrentText(str(t.get("optimizer", "adam")))
        self.lr_spin.setValue(float(t.get("learning_rate", 0.001)))
        self.more.load(t)
        ds = project.dataset
        self.dataset_label.setText(_describe(ds))
        self.dataset = None
        self._clear_plots()
        self.refresh_runs()
        self._set_state("idle")

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def runs_dir(self) -> Path:
        from studio.engine.runs import runs_dir_for
        from studio.ui.recovery import app_home
        return runs_dir_for(self.project.path, app_home() / "runs" / self.project.graph.name)

    # -- actions -------------------------------------------------------------------
    def start(self, new: bool = True) -> bool:
        from studio.engine import datasets
        from studio.engine.train import Trainer, TrainingConfig
        if self.is_running():
            return False
        self.window.flush_updates()
        t = self.project.training
        t.update(epochs=self.epochs_spin.value(), batch_size=self.batch_spin.value(),
                 optimizer=self.optimizer_combo.currentText(), learning_rate=self.lr_spin.value(),
                 **self.more.values())
        if new or self.trainer is None:
            try:
                if self.dataset is None:
                    self.dataset = datasets.load(self.project.dataset,
                                                 self.project.path.parent if self.project.path else None)
            except datasets.DatasetError as exc:
                self._fail(str(exc), "")
                return False
            self.trainer = Trainer(self.project, self.dataset, TrainingConfig.from_dict(t),
                                   runs_dir=self.runs_dir())
            problems = self.trainer.check()
            if problems:
                node_id, message = problems[0]
                self._fail(message, node_id or "")
                return False
            self._clear_plots()
        else:
            self.trainer.config.learning_rate = self.lr_spin.value()
        self.worker = TrainingWorker(self.trainer, self.epochs_spin.value())
        self.worker.batch_ended.connect(self._on_batch)
        self.worker.epoch_ended.connect(self._on_epoch)
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._fail)
        self.worker.finished.connect(self._on_thread_finished)
        self._t0 = time.perf_counter()
        self._samples_at_start = len(self.trainer.batch_losses)
        self._total_steps = self.epochs_spin.value() * -(-len(self.dataset.x_train) // self.batch_spin.value())
        self.progress.setRange(0, self._total_steps)
        self.progress.setValue(0)
        self.progress_label.setText("Building the model…")
        self._set_state("running")
        self.plot_timer.start()
        self.worker.start()
        self.training_started.emit()
        return True

    def toggle_pause(self) -> None:
        if self.trainer is None or not self.is_running():
            return
        if self.state == "paused":
            self.trainer.resume()
            self._set_state("running")
        else:
            self.trainer.pause()
            self._set_state("paused")
            self.progress_label.setText(self.progress_label.text() + "  — paused (the learning rate can be changed)")

    def _on_lr_changed(self, value: float) -> None:
        if self.trainer is not None and self.trainer.model is not None:
            self.trainer.set_learning_rate(value)

    def stop(self, wait: bool = False) -> None:
        if self.trainer is not None and self.is_running():
            self.trainer.stop()
            self.progress_label.setText("Stopping after this batch…")
            if wait:
                self.worker.wait(120_000)

    # -- worker signals (GUI thread) -------------------------------------------------
    def _on_batch(self, step: int, loss: float, epoch: int, batch: int) -> None:
        # events are throttled; take every batch's loss recorded since the last one
        self._take_losses(step + 1)
        now = time.perf_counter()
        if now - self._last_label < 0.2:
            return
        self._last_label = now
        done = step + 1 - self._samples_at_start
        elapsed = now - self._t0
        rate = done * self.batch_spin.value() / max(elapsed, 1e-9)
        left = (self._total_steps - done) * self.batch_spin.value() / max(rate, 1e-9)
        self.progress.setValue(min(done, self._total_steps))
        steps = -(-len(self.dataset.x_train) // self.batch_spin.value())
        self.progress_label.setText(f"Epoch {epoch + 1}, batch {batch + 1}/{steps} — loss {loss:.4f} — "
                                    f"{rate:,.0f} samples/s — {left:,.0f} s left")

    def _on_epoch(self, epoch: int, logs: dict) -> None:
        self.epochs.append(logs)
        self._epochs_dirty = True

    def _on_done(self, summary: dict) -> None:
        last = summary.get("last", {})
        acc = last.get("val_accuracy")
        text = f"{summary['status'].capitalize()} after {summary['epochs']} epochs"
        if acc is not None:
            text += f" — validation accuracy {acc:.4f}"
        text += f" — {summary.get('samples_per_second', 0):,.0f} samples/s"
        self.progress_label.setText(text)
        self.window.statusBar().showMessage(text, 8000)
        if self.trainer is not None and self.trainer.model is not None:
            self.project.weights = self.trainer.weights()

    def _fail(self, message: str, node_id: str) -> None:
        self.progress_label.setText(f"⚠ {message}")
        self.window.statusBar().showMessage(message, 10000)
        if node_id:
            self.problem_pinned.emit(node_id, message)
        from PySide6.QtWidgets import QMessageBox
        QMessageBox.warning(self.window, "Training", message)

    def _on_thread_finished(self) -> None:
        self.plot_timer.stop()
        if self.trainer is not None:
            self._take_losses(len(self.trainer.batch_losses))
            self._epochs_dirty = True
        self._update_plots()
        self._set_state("idle")
        self.refresh_runs()
        self.training_stopped.emit()

    # -- plots -----------------------------------------------------------------------
    def _take_losses(self, upto: int) -> None:
        losses = self.trainer.batch_losses
        for k in range(self.batch_loss.n, min(len(losses), upto)):
            value = losses[k]
            prev = self.batch_smooth.values()[-1] if self.batch_smooth.n else value
            self.batch_step.append(k)
            self.batch_loss.append(value)
            self.batch_smooth.append(SMOOTHING * prev + (1 - SMOOTHING) * value if np.isfinite(value) else prev)
        self._dirty = True

    def _clear_plots(self) -> None:
        self.batch_step.clear()
        self.batch_loss.clear()
        self.batch_smooth.clear()
        self.epochs = []
        self._dirty = self._epochs_dirty = True
        self._update_plots()

    def _update_plots(self) -> None:
        if self._dirty:
            self._dirty = False
            x, y = self.batch_step.values(), self.batch_loss.values()
            self.raw_curve.setData(x, y)
            self.smooth_curve.setData(x, self.batch_smooth.values())
        if not self._epochs_dirty:
            return
        self._epochs_dirty = False
        for key, curve in self.epoch_curves.items():
            pts = [(e["epoch"] + 1, e[key]) for e in self.epochs if key in e]
            curve.setData([p[0] for p in pts], [p[1] for p in pts])

    def plotted_points(self) -> tuple[int, int]:
        """(batch points, epoch points) currently drawn; for tests."""
        xs, _ = self.raw_curve.getData()
        ex, _ = self.epoch_curves["loss"].getData()
        return (0 if xs is None else len(xs)), (0 if ex is None else len(ex))

    def refresh_runs(self) -> None:
        from studio.engine.runs import list_runs
        self.runs_list.blockSignals(True)
        self.runs_list.clear()
        self.runs = list_runs(self.runs_dir()) if self.project is not None else []
        for run in self.runs:
            last = run["history"][-1] if run["history"] else {}
            acc = last.get("val_accuracy")
            item = QListWidgetItem(f"{Path(run['path']).name}  {run['status']}"
                                   + (f"  acc {acc:.3f}" if acc is not None else ""))
            item.setCheckState(Qt.Unchecked)
            self.runs_list.addItem(item)
        self.runs_list.blockSignals(False)
        self._draw_overlays()

    def _draw_overlays(self) -> None:
        import pyqtgraph as pg
        for c in self.overlay_curves:
            self.epoch_plot.removeItem(c)
        self.overlay_curves = []
        colors = ["#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#5d4037"]
        for k in range(self.runs_list.count()):
            if self.runs_list.item(k).checkState() == Qt.Checked:
                run = self.runs[k]
                pts = [(e["epoch"] + 1, e["val_accuracy"]) for e in run["history"] if "val_accuracy" in e]
                curve = self.epoch_plot.plot([p[0] for p in pts], [p[1] for p in pts],
                                             pen=pg.mkPen(colors[len(self.overlay_curves) % len(colors)], width=1.5))
                self.overlay_curves.append(curve)


class _AdvancedSettings(QWidget):
    """The rest of the training configuration, folded away under a toggle."""

    LOSSES = ["sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
              "mean_squared_error", "mean_absolute_error", "huber"]

    def __init__(self):
        super().__init__()
        from PySide6.QtWidgets import QCheckBox, QLineEdit
        self.toggle = QPushButton("More settings ▸")
        self.toggle.setCheckable(True)
        self.toggle.setFlat(True)
        self.toggle.toggled.connect(self._show)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.loss = QComboBox()
        self.loss.addItems(self.LOSSES)
        self.loss.setEditable(True)
        self.metrics = QLineEdit("accuracy")
        self.validation = QComboBox()
        self.validation.addItem("dataset's held-out part", "held_out")
        self.validation.addItem("split off the training data", "split")
        self.validation.addItem("none", "none")
        self.split = QDoubleSpinBox(minimum=0.01, maximum=0.9, singleStep=0.05, value=0.1)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=42)
        self.early = QSpinBox(minimum=0, maximum=1000, specialValueText="off")
        self.plateau = QSpinBox(minimum=0, maximum=1000, specialValueText="off")
        self.keep_best = QCheckBox("keep the best weights")
        self.mixed = QCheckBox("mixed precision (float16)")
        self.device = QComboBox()
        self.device.addItem("automatic", "auto")
        self.device.addItem("CPU", "cpu")
        self.device.addItem("GPU 0", "gpu:0")
        self.device.addItem("all GPUs (MirroredStrategy)", "mirrored")
        for label, w in (("Loss", self.loss), ("Metrics", self.metrics), ("Validation", self.validation),
                         ("Split fraction", self.split), ("Shuffle seed", self.seed),
                         ("Early stopping patience", self.early), ("Reduce LR on plateau", self.plateau),
                         ("", self.keep_best), ("", self.mixed), ("Device", self.device)):
            form.addRow(label, w)
        self.setVisible(False)

    def _show(self, on: bool) -> None:
        self.setVisible(on)
        self.toggle.setText("More settings ▾" if on else "More settings ▸")

    def load(self, t: dict) -> None:
        self.loss.setCurrentText(str(t.get("loss", "sparse_categorical_crossentropy")))
        self.metrics.setText(", ".join(t.get("metrics", ["accuracy"])))
        self.validation.setCurrentIndex(max(0, self.validation.findData(t.get("validation", "held_out"))))
        self.split.setValue(float(t.get("validation_split", 0.1)))
        self.seed.setValue(int(t.get("shuffle_seed") or 0))
        self.early.setValue(int(t.get("early_stopping") or 0))
        self.plateau.setValue(int(t.get("reduce_lr") or 0))
        self.keep_best.setChecked(bool(t.get("keep_best", True)))
        self.mixed.setChecked(bool(t.get("mixed_precision", False)))
        self.device.setCurrentIndex(max(0, self.device.findData(t.get("device", "auto"))))

    def values(self) -> dict:
        return {"loss": self.loss.currentText().strip(),
                "metrics": [m.strip() for m in self.metrics.text().split(",") if m.strip()],
                "validation": self.validation.currentData(), "validation_split": self.split.value(),
                "shuffle_seed": self.seed.value(), "early_stopping": self.early.value() or None,
                "reduce_lr": self.plateau.value() or None, "keep_best": self.keep_best.isChecked(),
                "mixed_precision": self.mixed.isChecked(), "device": self.device.currentData()}


def _describe(ds: dict | None) -> str:
    if not ds:
        return "none — choose one (File → Choose Dataset…)"
    if ds.get("kind") == "builtin":
        return "MNIST sample: 10,000 digits (8,000 train / 2,000 held out)"
    if ds.get("kind") == "download":
        return f"download: {ds.get('name')}"
    return f"file: {ds.get('path')}"
