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
from PySide6.QtCore import QCoreApplication, Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGridLayout, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QProgressBar, QPushButton, QScrollArea, QSpinBox,
                               QSplitter, QVBoxLayout, QWidget)

from studio.engine.train.settings import OPTIMIZERS
from studio.ui import commands
from studio.ui.plots import whole_number_axis

log = logging.getLogger(__name__)


class TrainingWorker(QThread):
    """Runs ``trainer.run_training(epochs)`` off the GUI thread."""

    batch_ended = Signal(int, float, int, int)   # step, loss, epoch, batch
    epoch_ended = Signal(int, dict)
    caching_started = Signal(str)                 # what the frozen part's cache holds
    features_cached = Signal(dict)                # the cache's figures
    stage_started = Signal(dict)                  # a fine-tuning run's stage begins
    done = Signal(dict)
    failed = Signal(str, str)                     # message, node id ('' if none)

    def __init__(self, trainer, epochs: int):
        super().__init__()
        self.trainer = trainer
        self.epochs = epochs
        trainer.batch_ended.connect(self._on_batch)
        trainer.epoch_ended.connect(self._on_epoch)
        trainer.caching_started.connect(self.caching_started.emit)
        trainer.features_cached.connect(self._on_cached)
        trainer.stage_started.connect(self._on_stage)

    def _on_stage(self, info):
        self.stage_started.emit(dict(info))

    def _on_cached(self, info):
        self.features_cached.emit(dict(info))

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
            self.trainer.caching_started.disconnect(self.caching_started.emit)
            self.trainer.features_cached.disconnect(self._on_cached)
            self.trainer.stage_started.disconnect(self._on_stage)


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


class RunClock:
    """Time spent running, excluding pauses (for rates and time left)."""

    def __init__(self):
        self._t0 = time.perf_counter()
        self._paused_at: float | None = None
        self._paused = 0.0

    def start(self) -> None:
        self.__init__()

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = time.perf_counter()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._paused += time.perf_counter() - self._paused_at
            self._paused_at = None

    def elapsed(self) -> float:
        now = self._paused_at if self._paused_at is not None else time.perf_counter()
        return now - self._t0 - self._paused


SMOOTHING = 0.9  # weight of the exponential moving average (as TensorBoard's smoothing)


class TrainingPanel(QWidget):
    """Training settings (the document's, edited through undo commands), the run
    controls, live curves and the runs list."""

    training_started = Signal()
    training_stopped = Signal()
    problem_pinned = Signal(str, str)   # node id, message

    def __init__(self, document, undo_stack, window, parent=None):
        super().__init__(parent)
        import pyqtgraph as pg
        pg.setConfigOptions(antialias=False, background="w", foreground="#37474f")
        self.document = document
        self.undo_stack = undo_stack
        self.window = window
        self.trainer = None
        self.worker: TrainingWorker | None = None
        self.batch_step = Buffer()
        self.batch_loss = Buffer()
        self.batch_smooth = Buffer()   # exponential moving average, kept incrementally
        self.epochs: list[dict] = []
        self.runs: list[dict] = []
        self._dirty = False
        self._epochs_dirty = False
        self._last_label = 0.0
        self._run_started = None   # (graph revision, settings) when the current run's snapshot was taken
        self._clock = RunClock()
        self._showing = False
        self._build(pg)
        # 10 Hz: live to the eye, and little GIL time taken from the training thread
        self.plot_timer = QTimer(self, interval=100, timeout=self._update_plots)
        document.training_changed.connect(self._show_settings)
        document.training_changed.connect(self._follow_learning_rate)
        document.training_changed.connect(self._note_changes)
        document.graph_changed.connect(self._note_changes)
        document.dataset_changed.connect(self._show_dataset)
        document.weights_changed.connect(lambda: self._set_state(self.state))
        document.runs_changed.connect(self.refresh_runs)
        document.project_replaced.connect(self._reset)
        # whether the model has a frozen part to cache: re-planned once per burst of edits
        self._cut_timer = QTimer(self, singleShot=True, interval=0, timeout=self._show_cut)
        for event in (document.graph_changed, document.states_changed, document.training_changed,
                      document.project_replaced):
            event.connect(lambda *_: self._cut_timer.start())
        self._reset()
        self._cut_timer.start()

    # -- layout ----------------------------------------------------------------------
    def _build(self, pg) -> None:
        controls = QWidget()
        form = QFormLayout(controls)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.dataset_label = QLabel("–")
        self.dataset_label.setWordWrap(True)
        self.epochs_spin = QSpinBox(minimum=1, maximum=100000, value=3)
        self.batch_spin = QSpinBox(minimum=1, maximum=1_000_000, value=64)
        self.optimizer_combo = QComboBox()
        for name in OPTIMIZERS:
            self.optimizer_combo.addItem(name)
        self.lr_spin = QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=10.0, singleStep=0.0001, value=0.001)
        form.addRow("Dataset", self.dataset_label)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Optimizer", self.optimizer_combo)
        form.addRow("Learning rate", self.lr_spin)
        self.fx_check = QCheckBox("Fast feature extraction")
        self.fx_label = _WrappedLabel()
        self.fx_label.setStyleSheet("color: #546e7a;")
        form.addRow(self.fx_check)
        form.addRow(self.fx_label)
        self.fine_tune = FineTuneGroup()
        form.addRow(self.fine_tune)
        self.more = _AdvancedSettings()
        form.addRow(self.more.toggle)
        form.addRow(self.more)
        buttons = QGridLayout()
        self.train_button = QPushButton("Train from start")
        self.train_button.setToolTip("Start a new run from the starting weights: imported or pretrained ones "
                                     "where the project has them, fresh initialisation elsewhere (F5)")
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip("Train more epochs from the weights the last run reached (Shift+F5)")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current batch, keeping the weights reached")
        for k, b in enumerate((self.train_button, self.continue_button, self.pause_button, self.stop_button)):
            buttons.addWidget(b, k // 2, k % 2)
        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.progress_label = QLabel("Ready.")
        self.progress_label.setWordWrap(True)
        self.changed_label = QLabel("")
        self.changed_label.setWordWrap(True)
        self.changed_label.setStyleSheet("color: #8d6e00;")
        self.weights_label = QLabel("")
        self.weights_label.setWordWrap(True)
        self.weights_label.setStyleSheet("color: #546e7a;")
        self.train_button.clicked.connect(lambda: self.start(new=True))
        self.continue_button.clicked.connect(lambda: self.start(new=False))
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self._connect_settings()
        # run controls and status on top, always in view; the settings scroll below them
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(controls)
        left = QWidget()
        left.setMinimumWidth(250)
        column = QVBoxLayout(left)
        column.setContentsMargins(4, 2, 2, 2)
        column.setSpacing(3)
        column.addLayout(buttons)
        column.addWidget(self.progress)
        for label in (self.progress_label, self.changed_label, self.weights_label):
            column.addWidget(label)
        column.addWidget(scroll, 1)
        self.batch_plot = pg.PlotWidget(title="Training loss per batch")
        self.batch_plot.setLabel("bottom", "batch")
        self.raw_curve = self.batch_plot.plot(pen=pg.mkPen("#b0bec5", width=1), connect="finite")
        self.smooth_curve = self.batch_plot.plot(pen=pg.mkPen("#1565c0", width=2))
        for c in (self.raw_curve, self.smooth_curve):
            c.setDownsampling(auto=True, method="peak")
            c.setClipToView(True)
        self.epoch_plot = pg.PlotWidget(title="Loss and accuracy per epoch",
                                        axisItems={"bottom": whole_number_axis()})
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
        for plot in (self.batch_plot, self.epoch_plot):
            plot.setMinimumWidth(160)
        self.overlay_curves = []
        self.runs_list = QListWidget()
        self.runs_list.setWordWrap(True)
        self.runs_list.itemChanged.connect(lambda _item: self._draw_overlays())
        runs_box = QWidget()
        rl = QVBoxLayout(runs_box)
        rl.setContentsMargins(0, 0, 0, 0)
        runs_title = QLabel("Runs (tick to overlay validation accuracy)")
        runs_title.setWordWrap(True)
        rl.addWidget(runs_title)
        rl.addWidget(self.runs_list)
        runs_box.setMinimumWidth(150)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.batch_plot)
        splitter.addWidget(self.epoch_plot)
        splitter.addWidget(runs_box)
        splitter.setSizes([300, 420, 420, 240])
        for k in range(4):
            splitter.setCollapsible(k, False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)
        self._set_state("idle")

    def _connect_settings(self) -> None:
        self.epochs_spin.valueChanged.connect(lambda v: self._edit("epochs", int(v)))
        self.batch_spin.valueChanged.connect(lambda v: self._edit("batch_size", int(v)))
        self.optimizer_combo.currentTextChanged.connect(lambda t: self._edit("optimizer", t))
        self.lr_spin.valueChanged.connect(self._on_lr_changed)
        self.fx_check.toggled.connect(lambda on: self._edit("feature_extraction", bool(on)))
        self.fine_tune.edited.connect(lambda value: self._edit("fine_tune", value))
        self.fine_tune.refused.connect(lambda message: self.window.statusBar().showMessage(message, 6000))
        self.more.edited.connect(self._edit)

    def _set_state(self, state: str) -> None:
        self.state = state
        running = state in ("running", "paused")
        can_continue = self.document.has_trained_weights()  # a reset of the weights reached ends Continue
        self.train_button.setEnabled(not running)
        self.continue_button.setEnabled(not running and can_continue)
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.stop_button.setEnabled(running)
        self.weights_label.setText(self.document.weight_summary() if self.document.checking_enabled else "")

    # -- the document ----------------------------------------------------------------
    def _reset(self) -> None:
        """A different project: nothing of the previous one stays on screen."""
        if self.is_running():
            return
        self.trainer = None
        self._run_started = None
        self._clear_plots()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label.setText("Ready.")
        self.changed_label.setText("")
        self.changed_label.hide()
        self._show_settings()
        self._show_dataset()
        self.refresh_runs()
        self._set_state("idle")

    def _show_settings(self) -> None:
        t = self.document.training
        self._showing = True
        try:
            self.epochs_spin.setValue(t.epochs)
            self.batch_spin.setValue(t.batch_size)
            self.optimizer_combo.setCurrentText(t.optimizer)
            if abs(self.lr_spin.value() - t.learning_rate) > 1e-12:
                self.lr_spin.setValue(t.learning_rate)
            self.more.load(t)
            self.fx_check.setChecked(t.feature_extraction)
            self.fine_tune.load(t, self.document.graph)
        finally:
            self._showing = False

    def cut_plan(self):
        """Where the model's frozen part ends (or why it has none), from the live shape checks;
        None while the checks are not ready."""
        from studio.engine.train.feature_cache import CutPlan, counts_from_states, plan_cut
        d = self.document
        if not d.checking_enabled:
            return None
        if d.checker.errors():
            return CutPlan(False, "the model has errors (see Problems)")
        counts = counts_from_states(d.graph, d.checker.states)
        if counts is None:
            return None
        try:
            return plan_cut(d.graph, counts)
        except Exception:  # noqa: BLE001 - advice only: a graph mid-edit never breaks the tab
            log.exception("planning the feature cache failed")
            return None

    def _show_cut(self) -> None:
        """The checkbox says what it would cache, or why it cannot; it stays enabled while on,
        so an option that no longer applies can be turned off. The fine-tuning group follows
        the model too (its layers, what stage 2 would unfreeze)."""
        self._showing = True
        try:
            self.fine_tune.load(self.document.training, self.document.graph)
        finally:
            self._showing = False
        plan = self.cut_plan()
        on = self.document.training.feature_extraction
        tip = ("Compute the outputs of the frozen layers (trainable off, nothing random in training) once for "
               "the training and validation data, then train only the layers after them on those outputs. "
               "The result is the same model; epochs take a fraction of the time.")
        if plan is None:
            text = "" if not on else "Checked when training starts."
            self.fx_check.setEnabled(True)
        elif plan.available:
            text = plan.describe()
            text = text[0].upper() + text[1:] + "."
            self.fx_check.setEnabled(True)
        else:
            text = f"Unavailable: {plan.reason}."
            self.fx_check.setEnabled(on)
        self.fx_label.setText(text)
        self.fx_check.setToolTip(tip + (f"\n\n{text}" if text else ""))
        self.fx_label.setStyleSheet("color: #8d6e00;" if plan is not None and not plan.available and on
                                    else "color: #546e7a;")

    def _show_dataset(self) -> None:
        self.dataset_label.setText(describe_dataset(self.document.dataset_spec))

    def _edit(self, field: str, value) -> None:
        """A setting edited in the panel: one undo command (merged while typing)."""
        if self._showing or getattr(self.document.training, field) == value:
            return
        from studio.engine.train import SettingsError
        try:
            command = commands.SetTraining(self.document, field, value)
        except SettingsError as exc:
            self.window.statusBar().showMessage(str(exc), 6000)
            self._show_settings()
            return
        self.undo_stack.push(command)

    def _on_lr_changed(self, value: float) -> None:
        self._edit("learning_rate", float(value))

    def _follow_learning_rate(self) -> None:
        """A run that is going on (or paused) takes the settings' learning rate, whether it
        was typed, undone or redone; the optimizer keeps its state."""
        t = self.trainer
        if t is None or t.model is None:
            return
        if t.stage == 2:   # fine-tuning: the stage's own rate
            ft = self.document.training.fine_tune
            if ft is not None and t.learning_rate() != ft.learning_rate:
                t.set_learning_rate(ft.learning_rate)
        elif t.config.learning_rate != self.document.training.learning_rate:
            t.set_learning_rate(self.document.training.learning_rate)

    def _note_changes(self) -> None:
        if self._run_started is None:
            return
        revision, settings = self._run_started
        d = self.document
        changed = []
        if d.revision != revision:
            changed.append("the model")
        if d.training != settings:
            changed.append("the settings")
        self.changed_label.setText(
            f"⚠ {' and '.join(changed).capitalize()} changed since this run started; the run goes on with "
            "what it started with. Train from start to use the changes." if changed else "")
        self.changed_label.setVisible(bool(changed))

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    # -- actions -------------------------------------------------------------------
    def start(self, new: bool = True) -> bool:
        """Train from start (``new``) or continue from the weights the last run reached."""
        from studio.engine import datasets
        from studio.engine.document import STARTING, TRAINED
        from studio.engine.train import Trainer
        if self.is_running():
            return False
        d = self.document
        self.window.flush_updates()
        continuing = (not new and self.trainer is not None and self.trainer.model is not None
                      and d.has_trained_weights())
        if not new and not continuing and not d.has_trained_weights():
            new = True
        if not continuing:
            try:
                dataset = d.load_dataset()
            except datasets.DatasetError as exc:
                self._fail(str(exc), "")
                return False
            snapshot = d.snapshot(STARTING if new else TRAINED)
            self.trainer = Trainer(snapshot, dataset, d.training, runs_dir=d.runs_dir())
            problems = self.trainer.check()
            if problems:
                node_id, message = problems[0]
                self._fail(message, node_id or "")
                self.trainer = None
                self._set_state("idle")
                return False
            self._clear_plots()
            self._run_started = (d.revision, d.training)
            self._note_changes()
        epochs = d.training.epochs
        self._stage_text = ""
        self.worker = TrainingWorker(self.trainer, epochs)
        self.worker.stage_started.connect(self._on_stage)
        self.worker.batch_ended.connect(self._on_batch)
        self.worker.epoch_ended.connect(self._on_epoch)
        self.worker.caching_started.connect(self._on_caching)
        self.worker.features_cached.connect(self._on_cached)
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._fail)
        self.worker.finished.connect(self._on_thread_finished)
        n_train, self._batch_size = self.trainer.plan()
        self._steps_per_epoch = -(-n_train // self._batch_size)
        self._first_step = len(self.trainer.batch_losses)
        self._last_step, self._last_loss, self._last_batch = self._first_step - 1, float("nan"), -1
        self._last_epoch = self.trainer.epochs_done
        self._epochs_at_start = self.trainer.completed_epochs
        self._first_epoch = self.trainer.epochs_done
        self._planned_epochs = epochs = self.trainer.planned_epochs(epochs)   # both stages when fine-tuning
        self._clock.start()
        self.progress.setRange(0, epochs * self._steps_per_epoch)
        self.progress.setValue(0)
        self.progress_label.setText("Building the model…" if not continuing else "Continuing…")
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
            self._clock.resume()
            self._set_state("running")
            self.progress_label.setText(self._progress_text())
        else:
            self.trainer.pause()
            self._clock.pause()
            self._set_state("paused")
            self.progress_label.setText(f"Paused — {self._progress_text(rates=False)} "
                                        "(the learning rate can be changed)")

    def stop(self, wait: bool = False) -> None:
        if self.trainer is not None and self.is_running():
            self.trainer.stop()
            self._clock.resume()
            self.progress_label.setText("Stopping after this batch…")
            if wait:
                self.worker.wait(120_000)
                # the worker's last signals (the run's weights) are queued for this thread: take them now
                QCoreApplication.sendPostedEvents()

    # -- worker signals (GUI thread) -------------------------------------------------
    def _epochs_done(self) -> int:
        return self.trainer.completed_epochs - self._epochs_at_start if self.trainer is not None else 0

    def _progress_text(self, rates: bool = True) -> str:
        done_steps = max(0, self._last_step + 1 - self._first_step)
        text = (f"{self._stage_text} — " if self._stage_text else "") + (
                f"Epoch {self._last_epoch - self._first_epoch + 1} of {self._planned_epochs}, "
                f"batch {self._last_batch + 1}/{self._steps_per_epoch} — {self._epochs_done()} epochs done — "
                f"loss {self._last_loss:.4f}")
        if rates:
            elapsed = self._clock.elapsed()
            rate = done_steps * self._batch_size / max(elapsed, 1e-9)
            left = (self.progress.maximum() - done_steps) * self._batch_size / max(rate, 1e-9)
            text += f" — {rate:,.0f} samples/s — {left:,.0f} s left"
        return text

    def _on_batch(self, step: int, loss: float, epoch: int, batch: int) -> None:
        # events are throttled; take every batch's loss recorded since the last one
        self._take_losses(step + 1)
        self._last_step, self._last_loss, self._last_batch, self._last_epoch = step, loss, batch, epoch
        now = time.perf_counter()
        if now - self._last_label < 0.2 or self.state != "running":
            return
        self._last_label = now
        self.progress.setValue(min(step + 1 - self._first_step, self.progress.maximum()))
        self.progress_label.setText(self._progress_text())

    def _on_epoch(self, epoch: int, logs: dict) -> None:
        self.epochs.append(logs)
        self._epochs_dirty = True

    def _on_stage(self, info: dict) -> None:
        text = info.get("text", "")
        self._stage_text = text[:1].upper() + text[1:]
        self.progress_label.setText(self._stage_text + "…")
        notes = info.get("notes") or []
        if notes:
            self.window.statusBar().showMessage("; ".join(notes), 15000)

    def _on_caching(self, what: str) -> None:
        self.progress_label.setText(f"Computing the frozen layers' outputs once: {what}…")

    def _on_cached(self, info: dict) -> None:
        from studio.engine.train.feature_cache import describe_cached
        self._clock.start()   # samples/s and time left count training, not the caching pass
        text = describe_cached(info)
        self.progress_label.setText(text[0].upper() + text[1:] + "; training the layers after them…")

    def _on_done(self, summary: dict) -> None:
        last = summary.get("last", {})
        acc = last.get("val_accuracy")
        done = self._epochs_done()
        status = summary["status"]
        if status == "finished":
            self.progress.setValue(self.progress.maximum())
        text = f"{status.capitalize()} after {done} completed epoch{'s' if done != 1 else ''}"
        if acc is not None:
            text += f" — validation accuracy {acc:.4f}"
        text += f" — {summary.get('samples_per_second', 0):,.0f} samples/s"
        self.window.statusBar().showMessage(text, 8000)
        if "feature_extraction" in summary:
            from studio.engine.train.feature_cache import describe_speedup
            said = describe_speedup(summary["feature_extraction"])
            text += f"\n{said[0].upper() + said[1:]}."
        self.progress_label.setText(text)
        self._keep_weights()

    def _keep_weights(self) -> None:
        t = self.trainer
        if t is not None and t.model is not None and t.epochs_done > 0:
            self.undo_stack.push(commands.KeepRunWeights(self.document, t.weights(), t.project.graph))
        said = [m for _, m in t.skipped_weights] + list(t.notes) if t is not None else []
        if said:
            self.window.statusBar().showMessage("; ".join(said), 15000)

    def _fail(self, message: str, node_id: str) -> None:
        self.progress_label.setText(f"⚠ Failed: {message}")
        self.window.statusBar().showMessage(message, 10000)
        if node_id:
            self.problem_pinned.emit(node_id, message)
        from PySide6.QtWidgets import QMessageBox
        QMessageBox.warning(self.window, "Training", message)

    def _on_thread_finished(self) -> None:
        self.plot_timer.stop()
        self._clock.pause()
        if self.trainer is not None:
            self._take_losses(len(self.trainer.batch_losses))
            self._epochs_dirty = True
        self._update_plots()
        self._set_state("idle")
        self.document.refresh_runs()
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
        self.runs_list.blockSignals(True)
        self.runs_list.clear()
        self.runs = self.document.runs
        for run in self.runs:
            last = run["history"][-1] if run["history"] else {}
            acc = last.get("val_accuracy")
            frozen = run.get("frozen") if isinstance(run.get("frozen"), list) else []
            cached = isinstance(run.get("feature_extraction"), dict)
            stages = run.get("stages") if isinstance(run.get("stages"), list) else []
            item = QListWidgetItem(f"{Path(run['path']).name}  {run['status']}"
                                   + (f"  acc {acc:.3f}" if acc is not None else "")
                                   + (f"  {len(frozen)} frozen" if frozen else "")
                                   + (f"  {len(stages)} stages" if len(stages) > 1 else "")
                                   + ("  (features cached)" if cached else ""))
            tips = ["Frozen layers: " + ", ".join(str(n) for n in frozen)] if frozen else []
            tips += [str(st.get("text", "")) for st in stages if isinstance(st, dict)]
            if tips:
                item.setToolTip("\n".join(tips))
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


class _WrappedLabel(QLabel):
    """A word-wrapped label that keeps the height its text needs at its own width: the
    form inside the settings' scroll area otherwise sizes it for another width, and
    its last lines then run under the row that follows."""

    def __init__(self, text: str = ""):
        super().__init__(text)
        self.setWordWrap(True)

    def _refit(self) -> None:
        height = self.heightForWidth(max(self.width(), 120)) if self.text() else 0
        if height != self.minimumHeight():
            self.setMinimumHeight(height)

    def setText(self, text: str) -> None:
        super().setText(text)
        self._refit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._refit()


class FineTuneGroup(QWidget):
    """"Fine-tune afterwards": the book's second stage (unfreeze the top of the base, go on
    with a lower learning rate), shown from the document's settings; every change the
    person makes is emitted as the whole new ``fine_tune`` value (None: one stage)."""

    edited = Signal(object)    # a FineTune, or None
    refused = Signal(str)      # why the stage cannot be turned on (one sentence)

    def __init__(self):
        super().__init__()
        from PySide6.QtWidgets import QGroupBox
        from studio.engine.train.settings import FineTune
        self._defaults = FineTune(unfreeze_from="x")
        self._loading = False
        self._current = None
        self._graph = None
        box = QGroupBox("Fine-tuning (a second stage)")
        box.setFlat(True)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(box)
        form = QFormLayout(box)
        form.setContentsMargins(4, 2, 0, 0)
        self.check = QCheckBox("Fine-tune afterwards")
        self.check.setToolTip("After the epochs above, unfreeze the layers from the chosen one onwards "
                              "(BatchNormalization layers stay frozen) and train on with a lower learning rate, "
                              "as Deep Learning with Python fine-tunes a pretrained base")
        self.layer = QComboBox()
        self.layer.setToolTip("Stage 2 trains this layer and every later one of its block")
        self.epochs = QSpinBox(minimum=1, maximum=100000, value=self._defaults.epochs)
        self.lr = QDoubleSpinBox(decimals=7, minimum=1e-7, maximum=10.0, singleStep=0.00001,
                                 value=self._defaults.learning_rate)
        self.label = _WrappedLabel()
        self.label.setStyleSheet("color: #546e7a;")
        form.addRow(self.check)
        form.addRow("Unfreeze from", self.layer)
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.lr)
        form.addRow(self.label)
        self.check.toggled.connect(self._on_toggled)
        self.layer.currentIndexChanged.connect(lambda _i: self._changed(unfreeze_from=self.layer.currentData()))
        self.epochs.valueChanged.connect(lambda v: self._changed(epochs=int(v)))
        self.lr.valueChanged.connect(lambda v: self._changed(learning_rate=float(v)))

    def load(self, training, graph) -> None:
        """Show the settings' stage (the caller ignores the edits this causes)."""
        from studio.engine.train import fine_tune as ft_mod
        ft = training.fine_tune
        self._current = ft
        self._graph = graph
        self._loading = True
        try:
            try:
                names = ft_mod.choices(graph)
            except Exception:  # noqa: BLE001 - a graph mid-edit never breaks the tab
                log.exception("listing the layers to fine-tune failed")
                names = []
            if ft is not None and ft.unfreeze_from not in names:
                names = [ft.unfreeze_from] + names   # kept visible, flagged below
            if [self.layer.itemData(k) for k in range(self.layer.count())] != names:
                self.layer.clear()
                for name in names:
                    self.layer.addItem(name, name)
            self.check.setChecked(ft is not None)
            if ft is not None:
                self.layer.setCurrentIndex(max(0, self.layer.findData(ft.unfreeze_from)))
                self.epochs.setValue(ft.epochs)
                if abs(self.lr.value() - ft.learning_rate) > 1e-12:
                    self.lr.setValue(ft.learning_rate)
            for w in (self.layer, self.epochs, self.lr):
                w.setEnabled(ft is not None)
            self._describe(ft, graph)
        finally:
            self._loading = False

    def _describe(self, ft, graph) -> None:
        from studio.engine.train import fine_tune as ft_mod
        if ft is None:
            self.label.setText("")
            self.label.setVisible(False)
            return
        self.label.setVisible(True)
        try:
            plan = ft_mod.plan(graph, ft)
        except ft_mod.FineTuneProblem as exc:
            self.label.setStyleSheet("color: #8d6e00;")
            self.label.setText(f"Unavailable: {exc}.")
            return
        except Exception:  # noqa: BLE001
            log.exception("planning the fine-tuning stage failed")
            self.label.setText("")
            return
        self.label.setStyleSheet("color: #546e7a;")
        text = (f"Stage 2 unfreezes {', '.join(plan.unfrozen)} and trains {ft.epochs} more epoch"
                f"{'s' if ft.epochs != 1 else ''} at lr {ft.learning_rate:g}")
        if plan.kept_frozen:
            text += f"; {', '.join(plan.kept_frozen)} (BatchNormalization) stay frozen"
        self.label.setText(text + ".")

    def _on_toggled(self, on: bool) -> None:
        for w in (self.layer, self.epochs, self.lr):
            w.setEnabled(on)
        if self._loading:
            return
        if not on:
            self.edited.emit(None)
            return
        from studio.engine.train import fine_tune as ft_mod
        from studio.engine.train.settings import FineTune
        name = ft_mod.suggestion(self._graph) if self._graph is not None else None
        if name is None:
            self.refused.emit("fine-tuning needs a layer to unfreeze from: the model has no layers yet")
            self.load_current()
            return
        self.edited.emit(FineTune(unfreeze_from=name, epochs=int(self.epochs.value()),
                                  learning_rate=float(self.lr.value())))

    def load_current(self) -> None:
        self._loading = True
        try:
            self.check.setChecked(self._current is not None)
        finally:
            self._loading = False

    def _changed(self, **change) -> None:
        if self._loading or self._current is None or change.get("unfreeze_from", "") is None:
            return
        from dataclasses import replace
        self.edited.emit(replace(self._current, **change))


class _AdvancedSettings(QWidget):
    """The rest of the training settings, folded away under a toggle."""

    edited = Signal(str, object)   # field, value (only edits the person makes)

    def __init__(self):
        super().__init__()
        from PySide6.QtWidgets import QCheckBox, QLineEdit
        from studio.engine.train.settings import LOSSES
        self.toggle = QPushButton("More settings ▸")
        self.toggle.setCheckable(True)
        self.toggle.setFlat(True)
        self.toggle.toggled.connect(self._show)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.loss = QComboBox()
        self.loss.addItems(LOSSES)
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
                         ("Early stopping", self.early), ("Reduce LR on plateau", self.plateau),
                         ("", self.keep_best), ("", self.mixed), ("Device", self.device)):
            form.addRow(label, w)
        self.early.setToolTip("Stop when the validation loss has not improved for this many epochs")
        self.plateau.setToolTip("Lower the learning rate when the validation loss has not improved "
                                "for this many epochs")
        self.loss.currentTextChanged.connect(lambda t: self.edited.emit("loss", t))
        self.metrics.editingFinished.connect(lambda: self.edited.emit(
            "metrics", tuple(m.strip() for m in self.metrics.text().split(",") if m.strip())))
        self.validation.currentIndexChanged.connect(lambda _i: self.edited.emit("validation",
                                                                                self.validation.currentData()))
        self.split.valueChanged.connect(lambda v: self.edited.emit("validation_split", float(v)))
        self.seed.valueChanged.connect(lambda v: self.edited.emit("shuffle_seed", int(v)))
        self.early.valueChanged.connect(lambda v: self.edited.emit("early_stopping", int(v) or None))
        self.plateau.valueChanged.connect(lambda v: self.edited.emit("reduce_lr", int(v) or None))
        self.keep_best.toggled.connect(lambda on: self.edited.emit("keep_best", bool(on)))
        self.mixed.toggled.connect(lambda on: self.edited.emit("mixed_precision", bool(on)))
        self.device.currentIndexChanged.connect(lambda _i: self.edited.emit("device", self.device.currentData()))
        self.setVisible(False)

    def _show(self, on: bool) -> None:
        self.setVisible(on)
        self.toggle.setText("More settings ▾" if on else "More settings ▸")

    def load(self, t) -> None:
        """Show a TrainingConfig (the caller ignores the edits this causes)."""
        self.loss.setCurrentText(t.loss)
        self.metrics.setText(", ".join(t.metrics))
        self.validation.setCurrentIndex(max(0, self.validation.findData(t.validation)))
        self.split.setValue(t.validation_split)
        self.seed.setValue(int(t.shuffle_seed or 0))
        self.early.setValue(int(t.early_stopping or 0))
        self.plateau.setValue(int(t.reduce_lr or 0))
        self.keep_best.setChecked(t.keep_best)
        self.mixed.setChecked(t.mixed_precision)
        self.device.setCurrentIndex(max(0, self.device.findData(t.device)))


def describe_dataset(ds: dict | None) -> str:
    if not ds:
        return "none — choose one in the Dataset tab (File → Choose Dataset…)"
    if ds.get("kind") == "builtin":
        return "MNIST sample: 10,000 digits (8,000 train / 2,000 held out)"
    if ds.get("kind") == "download":
        return f"download: {ds.get('name')}"
    return f"file: {ds.get('path')}"
