"""Training a project's model: fit with events, pause/resume/stop, run folders.

:class:`Trainer` runs ``model.fit`` on whatever thread calls :meth:`run_training`
(the window uses a worker thread, the command line the main one) and reports
through plain callbacks (no Qt). It trains a snapshot of the project taken when
it was made, never the live, editable graph. Pause waits between batches and
keeps the model and its optimizer state; stop ends after the current batch
keeping the weights reached; :meth:`run_training` again continues from the
last epoch.

With ``feature_extraction`` on, the outputs of the model's frozen part are
computed once (:mod:`studio.engine.train.feature_cache`) and ``fit`` trains
only the rest of the model, made of the same layer objects, so the weights it
learns are the full model's.

With ``fine_tune`` set, a run has two stages (:mod:`studio.engine.train.fine_tune`):
stage 1 as configured, then the layers from ``unfreeze_from`` onwards are made
trainable (frozen BatchNormalization layers excepted), the model is recompiled
with the lower learning rate and ``fit`` goes on from the next epoch, so the
curves, checkpoints and run folder continue. Fast feature extraction applies to
stage 1 only: in stage 2 the unfrozen layers change every batch.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from pathlib import Path

from studio.engine import datasets as ds_mod
from studio.engine.compiler import CompileError, compile_graph, model_weights
from studio.engine.errors import StudioError
from studio.engine.events import Event
from studio.engine.runs import RunFolder
from studio.engine.train import feature_cache
from studio.engine.train import fine_tune as fine_tune_mod
from studio.engine.train.fit_checks import check_fit
from studio.engine.train.settings import TrainingConfig

log = logging.getLogger(__name__)


class TrainingError(Exception):
    """Training cannot start or could not go on; ``node_id`` pins it to a node when it can."""

    def __init__(self, message: str, node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id


class DataMismatch(TrainingError):
    """The data does not fit the model or the settings (shapes, labels, loss, validation split): bad
    input, said before anything trains."""


class FineTuneRefused(TrainingError):
    """The fine-tuning stage cannot run as set (an unknown layer, nothing to unfreeze): said before training."""


class FeatureExtractionRefused(TrainingError):
    """Fast feature extraction was asked for but the model has no usable frozen part (``reason``
    says why): bad input, said before anything trains."""

    def __init__(self, reason: str, node_id: str | None = None):
        super().__init__(f"fast feature extraction is not possible: {reason}; turn it off in the training "
                         "settings", node_id)
        self.reason = reason


class _Control:
    """Pause/stop flags shared with the Keras callback."""

    def __init__(self):
        self.running = threading.Event()
        self.running.set()
        self.stop = False
        self.lock = threading.Lock()
        self.in_fit = False        # the training thread owns the model's variables
        self.pending_lr: float | None = None


class Trainer:
    """Owns one model being trained; events fire on the training thread."""

    def __init__(self, project, dataset: ds_mod.Dataset, config: TrainingConfig | None = None,
                 runs_dir: Path | None = None, run_name: str | None = None, batch_event_interval: float = 0.05,
                 run_folder: Path | None = None):
        self.project = project
        self.dataset = dataset
        self.config = config or TrainingConfig.from_dict(project.training)
        self.runs_dir = runs_dir
        self.run_name = run_name
        self.batch_event_interval = batch_event_interval
        self.control = _Control()
        self._planned_end = 0
        self.model = None
        self.run: RunFolder | None = RunFolder.at(run_folder) if run_folder is not None else None
        self._config_written = False
        self.epochs_done = 0          # epochs begun and ended (a stopped epoch counts: Continue starts after it)
        self.completed_epochs = 0     # epochs that ran every batch
        self.history_epochs: list[dict] = []
        self.batch_losses: list[float] = []
        self.batch_ended = Event("batch_ended")     # (global batch index, logs) throttled
        self.epoch_ended = Event("epoch_ended")     # (epoch index, logs)
        self.finished = Event("finished")           # (summary dict)
        self.failed = Event("failed")               # (message)
        self.status = "ready"
        self.preprocess = ds_mod.Preprocess.from_dict((project.dataset or {}).get("preprocess"))
        # layers whose given weights no longer fit and so start fresh: [(node id, message)]
        self.skipped_weights: list[tuple[str, str]] = []
        self.notes: list[str] = []   # settings adjusted to the data, said to the person
        self.failure_traceback: str | None = None   # of an unexpected failure inside Keras: kept in run.json
        self.histogram_seconds = 0.0  # time spent recording weight histograms (kept under 2 % of training)
        # fast feature extraction: where the frozen part ends, the cached outputs, the figures
        self.caching_started = Event("caching_started")   # (what is cached: one sentence)
        self.features_cached = Event("features_cached")   # (feature_info dict)
        self.cut_plan: feature_cache.CutPlan | None = None
        self.feature_info: dict | None = None
        self._parts = None   # (frozen part, head, cut tensors): models over the full model's layers, made once
        self._cache = None   # (head model, training features, validation features)
        # two-stage fine-tuning: the stage the model is in, stage 2's plan, and each stage's record
        self.stage = 1
        self.stage_plan: fine_tune_mod.StagePlan | None = None
        self.stages: list[dict] = []                       # for run.json: one entry per stage begun
        self.stage_started = Event("stage_started")        # (stage info dict: stage, of, text, ...)
        self._stage_lr: float | None = None                # the learning rate set for stage 2

    # -- control (any thread) ------------------------------------------------------
    def pause(self) -> None:
        self.control.running.clear()
        self.status = "paused"

    def resume(self) -> None:
        self.status = "running"
        self.control.running.set()

    def stop(self) -> None:
        self.control.stop = True
        self.control.running.set()

    def set_learning_rate(self, value: float) -> None:
        """Change the learning rate (while paused or running); the optimizer keeps its state.

        With the cosine schedule the new rate applies from now and decays to 0
        by the end of the current run. During a run the change is handed to the
        training thread, which applies it before its next batch: the optimizer's
        variables are only ever touched by the thread that trains with them.
        """
        if self.stage == 2:
            self._stage_lr = float(value)
        else:
            self.config = self.config.with_changes(learning_rate=float(value))
        with self.control.lock:
            if self.control.in_fit:
                self.control.pending_lr = float(value)
                return
        if self.model is not None:
            self._apply_learning_rate(float(value))

    def _apply_pending_learning_rate(self) -> None:
        """On the training thread: apply a rate set from another thread."""
        if self.control.pending_lr is None:  # every batch: no lock unless a rate waits
            return
        with self.control.lock:
            value, self.control.pending_lr = self.control.pending_lr, None
        if value is not None:
            self._apply_learning_rate(value)

    def _apply_learning_rate(self, value: float) -> None:
        schedule = self._schedule()
        if schedule is not None:
            step = int(self.model.optimizer.iterations.numpy())
            schedule.restart(value, step, self._planned_end - step)
        else:
            self.model.optimizer.learning_rate.assign(value)

    def _schedule(self):
        lr = getattr(self.model.optimizer, "_learning_rate", None)
        return lr if hasattr(lr, "restart") else None

    # -- checks before training ------------------------------------------------------
    def plan(self) -> tuple[int, int]:
        """(samples trained on per epoch, batch size used): after the validation split and with
        the batch clamped to the data, as run_training does."""
        n = len(self.dataset.x_train)
        n_train = n if self.config.validation != "split" else int(n * (1 - self.config.validation_split))
        return n_train, min(int(self.config.batch_size), max(n_train, 1))

    def arrays(self):
        return self.preprocess.apply(self.dataset)

    def check(self) -> list[tuple[str | None, str]]:
        """Data/model mismatches (and a fine-tuning stage that cannot run) found before any
        training, pinned to nodes."""
        problems = check_fit(self.project.graph, self.dataset, self.preprocess, self.config)
        if self.config.fine_tune is not None and self.stage == 1:
            try:
                fine_tune_mod.plan(self.project.graph, self.config.fine_tune)
            except fine_tune_mod.FineTuneProblem as exc:
                problems.append((exc.node_id, str(exc)))
        return problems

    def learning_rate(self) -> float:
        """The learning rate the current stage trains with."""
        return self._stage_lr if self.stage == 2 and self._stage_lr is not None else float(self.config.learning_rate)

    def fine_tune_due(self) -> bool:
        """Whether the next run_training ends with the fine-tuning stage."""
        return self.config.fine_tune is not None and self.stage == 1

    def planned_epochs(self, epochs: int | None = None) -> int:
        """Epochs run_training(epochs) will run: the stage-2 epochs included when it is due."""
        epochs = int(epochs or self.config.epochs)
        return epochs + (self.config.fine_tune.epochs if self.fine_tune_due() else 0)

    # -- the run -------------------------------------------------------------------
    def build(self):
        import keras
        problems = check_fit(self.project.graph, self.dataset, self.preprocess, self.config)
        if problems:
            node_id, message = problems[0]
            raise DataMismatch(message, node_id)
        if self.config.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_float16")
        try:
            with _strategy_scope(self.config.device), _device_scope(self.config.device):
                model = compile_graph(self.project.graph, self.project.weights or None,
                                      skipped=self.skipped_weights)
                model.compile(optimizer=self.config.make_optimizer(), loss=self.config.loss,
                              metrics=list(self.config.metrics))
        except CompileError as exc:
            node_id = exc.errors[0][0] if exc.errors else None
            raise TrainingError(str(exc), node_id) from None
        finally:
            if self.config.mixed_precision:
                keras.mixed_precision.set_global_policy("float32")
        if self.config.fine_tune is not None:
            self._plan_stage_two(model)
        return model

    # -- two-stage fine-tuning ------------------------------------------------------------
    def _plan_stage_two(self, model) -> None:
        """Stage 2's plan, checked against the built model before anything trains."""
        try:
            plan = fine_tune_mod.plan(self.project.graph, self.config.fine_tune)
        except fine_tune_mod.FineTuneProblem as exc:
            raise FineTuneRefused(str(exc), exc.node_id) from None
        if not fine_tune_mod.unfrozen_with_weights(model, plan):
            raise FineTuneRefused(fine_tune_mod.nothing_with_weights(plan.target, plan.unfrozen, plan.kept_frozen),
                                  plan.node_id)
        self.stage_plan = plan

    def _stage_record(self, stage: int, first_epoch: int, epochs: int) -> dict:
        lr = self.learning_rate()
        record = {"stage": stage, "first_epoch": first_epoch, "planned_epochs": epochs, "learning_rate": lr,
                  "feature_extraction": bool(self.config.feature_extraction and stage == 1)}
        if stage == 1:
            record["frozen"] = fine_tune_mod.frozen_in(self.project.graph)
            record["text"] = (f"stage 1 of 2: training with {len(record['frozen'])} frozen layers at lr {lr:g}")
        else:
            plan = self.stage_plan
            record.update(frozen=fine_tune_mod.frozen_in(plan.graph), unfreeze_from=plan.target,
                          unfrozen=list(plan.unfrozen), kept_frozen=list(plan.kept_frozen),
                          text=f"stage 2 of 2: {plan.describe(lr)}")
        return record

    def _begin_stage(self, stage: int, epochs: int, notes: list[str] | None = None) -> None:
        record = self._stage_record(stage, self.epochs_done, epochs)
        if notes:
            record["notes"] = list(notes)
        self.stages.append(record)
        log.info(record["text"])
        self.stage_started.emit(dict(record))

    def _start_stage_two(self) -> list[str]:
        """Unfreeze the top of the base, recompile with stage 2's learning rate (Keras needs a
        compile after trainable changes; the optimizer starts afresh, as in the book); returns
        what to tell the person about it."""
        import contextlib
        plan = self.stage_plan
        fine_tune_mod.apply(self.model, plan)
        self.stage = 2
        self._stage_lr = float(self.config.fine_tune.learning_rate)
        strategy = getattr(self.model, "_distribute_strategy", None)
        scope = strategy.scope if strategy is not None else contextlib.nullcontext
        with scope():
            self.model.compile(optimizer=self.config.make_optimizer(self._stage_lr), loss=self.config.loss,
                               metrics=list(self.config.metrics))
        notes = [plan.batchnorm_note()] if plan.kept_frozen else []
        if self.config.feature_extraction:
            notes.append("fast feature extraction applies to stage 1 only: in stage 2 the unfrozen layers change, "
                         "so every layer runs every epoch")
        for note in notes:
            log.info(note)
        return notes

    def run_training(self, epochs: int | None = None) -> dict:
        """Train (or continue) for ``epochs`` more epochs; returns the summary."""
        import keras
        self.status = "running"
        self.control.stop = False
        self.control.running.set()
        epochs = int(epochs or self.config.epochs)
        try:
            if self.model is None:
                if self.config.shuffle_seed is not None:
                    keras.utils.set_random_seed(int(self.config.shuffle_seed))
                self.device_note()
                self.model = self.build()
            if self.config.feature_extraction and self.cut_plan is None:
                self._plan_cut()
            x, y, x_test, y_test = self.arrays()
            n_train = self.plan()[0]
            if self.config.batch_size > n_train >= 1:
                self.notes.append(f"the batch size {self.config.batch_size:,} is larger than the {n_train:,} "
                                  f"training samples; each step uses all {n_train:,}")
                self.config = self.config.with_changes(batch_size=n_train)
            steps_per_epoch = -(-n_train // int(self.config.batch_size))
            self._restart_schedule(epochs * steps_per_epoch)
            stage_two = self.fine_tune_due()
            if self.run is None and self.runs_dir is not None:
                self.run = RunFolder.create(self.runs_dir, self.run_name or self.project.graph.name)
            if self.run is not None and not self._config_written:
                self.run.write_config(self.project, self.config, self.dataset, self.preprocess)
                self._config_written = True
            if self.run is not None:
                self.run.start(self)
            callback = _StudioCallback(self)   # one for both stages: the best weights are the run's best
            if self.config.fine_tune is not None and not self.stages:
                self._begin_stage(1, epochs)
            fit_model, fx, fx_test = self.model, x, x_test
            if self.config.feature_extraction and self.stage == 1:
                cached = self._cached_features(x, x_test)
                fit_model = None   # stopped while caching: nothing to fit
                if cached is not None:
                    fit_model, fx, fx_test = cached
            duration = self._fit(fit_model, fx, y, fx_test, y_test, epochs, callback)
            if stage_two and not self.control.stop and callback.nan_at is None and fit_model is not None:
                notes = self._start_stage_two()
                more = int(self.config.fine_tune.epochs)
                self._restart_schedule(more * steps_per_epoch)
                self._begin_stage(2, more, notes)
                duration += self._fit(self.model, x, y, x_test, y_test, more, callback)
        except TrainingError as exc:
            self.status = "failed"
            self.failed.emit(str(exc))
            raise
        except Exception as exc:
            if isinstance(exc, StudioError):  # e.g. the run folder cannot be written: already one sentence
                message = str(exc)
            else:
                message = describe_failure(exc)
                # the traceback is for --debug and the run folder, never the person's terminal
                self.failure_traceback = "".join(traceback.format_exception(exc))
                log.debug("training failed", exc_info=exc)
            self._fail("failed", message, exc)
        if callback.nan_at is not None:
            epoch, batch = callback.nan_at
            self._fail("diverged", f"training stopped: the loss became NaN or infinite at epoch {epoch + 1}, "
                                   f"batch {batch + 1}; lower the learning rate or check the data for invalid values")
        self.status = "stopped" if self.control.stop else "finished"
        summary = {"status": self.status, "epochs": self.epochs_done, "seconds": duration,
                   "samples_per_second": callback.samples / max(callback.train_seconds, 1e-9),
                   "last": self.history_epochs[-1] if self.history_epochs else {}}
        if self.stages:
            summary["stages"] = self.stage_summary()
        if self.feature_info is not None:
            self._measure_speedup()
            summary["feature_extraction"] = dict(self.feature_info)
        if self.run is not None:
            problem = self.run.finish(self, self.status)
            if problem is not None:  # trained, but the results could not all be kept
                self.status = "failed"
                self.failed.emit(problem)
                raise TrainingError(problem)
            summary["run"] = str(self.run.path)
        self.finished.emit(summary)
        return summary

    def _restart_schedule(self, steps: int) -> None:
        """The steps this fit will take, from the optimizer's count (a new optimizer in stage 2
        counts from 0); a cosine schedule decays over them."""
        start = int(self.model.optimizer.iterations.numpy())
        self._planned_end = start + steps
        schedule = self._schedule()
        if schedule is not None:
            schedule.restart(self.learning_rate(), start, steps)

    def _fit(self, fit_model, x, y, x_test, y_test, epochs: int, callback) -> float:
        """One ``fit`` of ``epochs`` more epochs, continuing the epoch count; returns its seconds."""
        import keras
        callbacks = [callback]
        monitor = self._monitor()
        if self.config.early_stopping:
            callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=int(self.config.early_stopping),
                                                           restore_best_weights=False))
        if self.config.reduce_lr:
            callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, patience=int(self.config.reduce_lr)))
        fit_kwargs = dict(batch_size=int(self.config.batch_size), epochs=self.epochs_done + epochs,
                          initial_epoch=self.epochs_done, verbose=0, callbacks=callbacks,
                          shuffle=True)
        if self.config.validation == "split":
            fit_kwargs["validation_split"] = float(self.config.validation_split)
        elif self.config.validation == "held_out":
            fit_kwargs["validation_data"] = (x_test, y_test)
        t0 = time.perf_counter()
        with self.control.lock:
            self.control.in_fit = True
        try:
            if fit_model is not None:
                with _device_scope(self.config.device):
                    fit_model.fit(x, y, **fit_kwargs)
        finally:
            with self.control.lock:
                self.control.in_fit = False
            self._apply_pending_learning_rate()  # set after the last batch began
        return time.perf_counter() - t0

    def _monitor(self) -> str:
        """What early stopping and reduce_lr watch: the validation loss, or without validation data
        the training loss (said once in the notes; Keras would only warn, and never act)."""
        if self.config.validation != "none":
            return "val_loss"
        watching = [name for name, on in (("early_stopping", self.config.early_stopping),
                                          ("reduce_lr", self.config.reduce_lr)) if on]
        note = (f"training.{' and training.'.join(watching)} watch{'es' if len(watching) == 1 else ''} the training "
                "loss: there is no validation data (training.validation is none)")
        if watching and note not in self.notes:
            self.notes.append(note)
        return "loss"

    def device_note(self) -> str | None:
        """A GPU asked for that this machine does not have: training runs on the CPU, and says so
        (in the notes, and so in run.json); None when the device is there."""
        device = self.config.device or "auto"
        if not device.startswith("gpu:"):
            return None
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        index = int(device.split(":")[1])
        if index >= len(gpus):
            have = f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''}" if gpus else "no GPU"
            note = f"training.device is {device} but this machine has {have}; training runs on the CPU"
            if note not in self.notes:
                self.notes.append(note)
                log.info(note)
            return note
        return None

    def _fail(self, run_status: str, message: str, cause: BaseException | None = None):
        """End a run that failed: the run folder says so (as far as the disk allows), then raise."""
        self.status = "failed"
        if self.run is not None:
            problem = self.run.finish(self, run_status, message)
            if problem is not None:
                message = f"{message}; {problem}"
        self.failed.emit(message)
        raise TrainingError(message) from cause

    def stage_summary(self) -> list[dict]:
        """Each stage begun, with the epochs it ran (the next stage's first epoch ends it)."""
        out = []
        for k, record in enumerate(self.stages):
            end = self.stages[k + 1]["first_epoch"] if k + 1 < len(self.stages) else self.epochs_done
            out.append({**record, "epochs": end - record["first_epoch"]})
        return out

    def weights(self) -> dict:
        return model_weights(self.model) if self.model is not None else {}

    # -- fast feature extraction -------------------------------------------------------
    def _plan_cut(self) -> None:
        """Where the frozen part ends, from the built model's own weight counts; refused
        with the reason (pinned to its node) when there is no usable frozen part."""
        graph = self.project.graph
        plan = feature_cache.plan_cut(graph, feature_cache.counts_from_model(graph, self.model))
        if not plan.available:
            raise FeatureExtractionRefused(plan.reason, plan.node_id)
        self.cut_plan = plan

    def _cached_features(self, x, x_test):
        """(head model, training features, validation features): computed on the first run,
        reused by Continue (the frozen part cannot change in between). Pause and Stop work
        during the caching pass too; None when it was stopped."""
        if self._cache is not None:
            head, f_train, f_test = self._cache
            self.feature_info.update(cache_seconds_this_run=0.0, reused=True)
            return head, f_train, f_test
        import contextlib

        import keras
        import numpy as np
        plan, graph = self.cut_plan, self.project.graph
        strategy = getattr(self.model, "_distribute_strategy", None)   # the one the model was built under
        scope = strategy.scope if strategy is not None else contextlib.nullcontext
        if self._parts is None:   # made once: each head adds a use to the layers it shares
            tensors = [keras.tree.flatten(self.model.get_layer(graph.nodes[i].name).output)[port]
                       for i, port in plan.cut]
            cut = tensors[0] if len(tensors) == 1 else tensors
            with scope():
                frozen = keras.Model(self.model.input, cut, name="frozen_part")
                # the same layer objects as the full model: what the head learns is the full model's
                head = keras.Model(cut, self.model.output, name="head")
                head.compile(optimizer=self.model.optimizer, loss=self.config.loss,
                             metrics=list(self.config.metrics))
            self._parts = (frozen, head, tensors)
        frozen, head, tensors = self._parts
        held_out = self.config.validation == "held_out"
        n = len(x) if not isinstance(x, (list, tuple, dict)) else len(keras.tree.flatten(x)[0])
        n_test = (len(x_test) if not isinstance(x_test, (list, tuple, dict))
                  else len(keras.tree.flatten(x_test)[0])) if held_out else 0
        values = [int(np.prod([d for d in t.shape[1:]])) for t in tensors]
        size = 4 * sum(values) * (n + n_test)
        from studio.engine.summary import cpu_memory, format_bytes
        free = cpu_memory().bytes
        if free is not None and size > free // 2:
            raise TrainingError(
                f"fast feature extraction: the outputs of {', '.join(repr(c) for c in plan.cut_names)} for "
                f"{n + n_test:,} samples would take {format_bytes(size)}, more than half the free memory "
                f"({format_bytes(free)}); cut after a pooling layer or turn the option off", plan.cut[0][0])
        self.caching_started.emit(plan.describe())
        t0 = time.perf_counter()
        with scope(), _device_scope(self.config.device):
            batch = int(self.config.batch_size)
            clock = _BatchClock(self.control)
            f_train = frozen.predict(x, batch_size=batch, verbose=0, callbacks=[clock])
            f_test = frozen.predict(x_test, batch_size=batch, verbose=0, callbacks=[clock]) \
                if held_out and not self.control.stop else None
        if self.control.stop:
            return None
        seconds = time.perf_counter() - t0 - clock.paused
        self._cache = (head, f_train, f_test)
        self.feature_info = {
            "cut": list(plan.cut_names), "frozen_layers": plan.frozen_layers, "frozen_params": plan.frozen_params,
            "feature_shapes": [[int(d) for d in t.shape[1:]] for t in tensors], "samples": n + n_test,
            "bytes": size, "cache_seconds": seconds, "cache_seconds_this_run": seconds, "reused": False,
            "pass_seconds": clock.steady_seconds(n + n_test, batch, seconds), "note": plan.note}
        self.features_cached.emit(dict(self.feature_info))
        return head, f_train, f_test

    def _measure_speedup(self) -> None:
        """The head's epoch time against an estimate of a plain epoch: the frozen part's pass
        over the same data (the caching pass at its steady pace, without the one-time
        tracing of the model) plus the head's epoch."""
        end = self.stages[1]["first_epoch"] if len(self.stages) > 1 else None   # stage 1's epochs only
        seconds = sorted(e["seconds"] for e in self.history_epochs if isinstance(e.get("seconds"), float)
                         and (end is None or e.get("epoch", 0) < end))
        if not seconds:
            return
        epoch = seconds[len(seconds) // 2]
        plain = self.feature_info.get("pass_seconds", self.feature_info["cache_seconds"]) + epoch
        self.feature_info.update(epoch_seconds=epoch, estimated_plain_epoch_seconds=plain,
                                 speedup=plain / max(epoch, 1e-9))


class _StudioCallback:
    """The Keras callback: batch/epoch events, pause, stop, NaN detection."""

    def __new__(cls, trainer):
        import keras

        class StudioCallback(keras.callbacks.Callback):
            # Batch ends are dispatched by Keras on a thread pool (no wait for
            # the loss on the training loop, as in a plain fit); pausing and
            # stopping happen at batch begin, on the training loop itself.
            async_safe = True

            def __init__(self, trainer):
                super().__init__()
                self.trainer = trainer
                self.nan_at = None
                self.samples = 0
                self.train_seconds = 0.0
                self._last_emit = 0.0
                self._epoch = 0
                self._epoch_t0 = 0.0
                self._best = math.inf
                self._lock = threading.Lock()
                self._avg: dict[int, tuple[int, float]] = {}  # index -> (batch in epoch, running mean)
                self._latest = None   # (index, logs) of the newest finished batch
                self._emitted = -1
                self._offset = len(trainer.batch_losses)
                self._steps = 0
                self.batch_size = int(trainer.config.batch_size)

            def on_train_begin(self, logs=None):
                self._steps = int(self.params.get("steps") or 0)

            def on_epoch_begin(self, epoch, logs=None):
                self._epoch = epoch
                self._epoch_t0 = time.perf_counter()
                self._last_begun = -1

            def on_train_batch_begin(self, batch, logs=None):
                # Events are emitted here, on the training thread itself: batch
                # ends run on Keras's thread pool, and signals are not sent
                # from threads the GUI toolkit does not know.
                self._emit_due()
                self._last_begun = batch  # a batch that begins runs to its end, even when stopping
                control = self.trainer.control
                if not control.running.is_set():
                    paused_at = time.perf_counter()
                    control.running.wait()
                    self._epoch_t0 += time.perf_counter() - paused_at
                self.trainer._apply_pending_learning_rate()
                if control.stop or self.nan_at is not None:
                    self.model.stop_training = True

            def _batch_loss(self, index: int) -> float:
                """Keras reports the epoch's running mean; this batch's own loss follows from it."""
                batch, mean = self._avg[index]
                if batch == 0:
                    return mean
                previous = self._avg.get(index - 1)
                return float("nan") if previous is None else (batch + 1) * mean - batch * previous[1]

            def on_train_batch_end(self, batch, logs=None):
                t = self.trainer
                loss = float(logs.get("loss", float("nan"))) if logs else float("nan")
                epoch = self._epoch
                index = self._offset + (epoch - t.epochs_done) * self._steps + batch
                with self._lock:
                    losses = t.batch_losses
                    if index >= len(losses):
                        losses.extend([float("nan")] * (index + 1 - len(losses)))
                    self._avg[index] = (batch, loss)
                    losses[index] = self._batch_loss(index)
                    if index + 1 in self._avg:  # a later batch finished first
                        losses[index + 1] = self._batch_loss(index + 1)
                    self.samples += self.batch_size
                    if not math.isfinite(loss) and (self.nan_at is None or (epoch, batch) < self.nan_at):
                        self.nan_at = (epoch, batch)
                        self.model.stop_training = True
                        return
                    if self._latest is None or index > self._latest[0]:
                        self._latest = (index, dict(logs or {}, epoch=epoch, batch=batch))

            def _emit_due(self, force: bool = False) -> None:
                t = self.trainer
                with self._lock:
                    latest = self._latest
                    now = time.perf_counter()
                    due = latest is not None and latest[0] != self._emitted and (
                        force or now - self._last_emit >= t.batch_event_interval)
                    if due:
                        self._last_emit = now
                        self._emitted = latest[0]
                if due:
                    t.batch_ended.emit(latest[0], latest[1])

            def on_epoch_end(self, epoch, logs=None):
                t = self.trainer
                self._emit_due(force=True)
                logs = {k: float(v) for k, v in (logs or {}).items()}
                seconds = time.perf_counter() - self._epoch_t0
                self.train_seconds += seconds
                logs["epoch"] = epoch
                logs["seconds"] = seconds
                t.history_epochs.append(logs)
                t.epochs_done = epoch + 1
                if self._last_begun + 1 >= self._steps:
                    t.completed_epochs += 1
                first, self._offset = self._offset, len(t.batch_losses)
                if t.run is not None:
                    weights = model_weights(t.model)  # read once (the full model's, also when fitting the head)
                    monitor = logs.get("val_loss", logs.get("loss", math.inf))
                    if t.config.keep_best and monitor < self._best:
                        self._best = monitor
                        t.run.save_weights("best", weights)
                    h0 = time.perf_counter()
                    t.run.save_histograms(epoch, weights)
                    t.histogram_seconds += time.perf_counter() - h0
                    t.run.append_history(t)
                    try:  # the rate the next batch uses (a schedule's too), read here on the training thread
                        rate = float(self.model.optimizer.learning_rate)
                    except Exception:
                        rate = None
                    t.run.write_tensorboard(epoch, logs, t.batch_losses[first:self._offset], first, rate)
                t.epoch_ended.emit(epoch, logs)

        return StudioCallback(trainer)


class _BatchClock:
    """A predict callback for the caching pass: pause and stop between batches, and the
    pace once it is running (the first batch of each pass also traces the model)."""

    def __new__(cls, control: _Control):
        import keras

        class BatchClock(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.passes = []   # per predict call: [end time of each batch]
                self.paused = 0.0  # seconds spent paused

            def on_predict_begin(self, logs=None):
                self.passes.append([])

            def on_predict_batch_end(self, batch, logs=None):
                if not control.running.is_set():
                    paused_at = time.perf_counter()
                    control.running.wait()
                    pause = time.perf_counter() - paused_at
                    self.paused += pause
                    for k, t in enumerate(self.passes[-1]):   # the pace leaves the pause out
                        self.passes[-1][k] = t + pause
                if control.stop:
                    self.model.stop_predicting = True
                self.passes[-1].append(time.perf_counter())

            def steady_seconds(self, samples: int, batch_size: int, fallback: float) -> float:
                """Seconds the pass over ``samples`` takes at the pace after each call's first batch."""
                batches = sum(len(p) - 1 for p in self.passes if len(p) > 1)
                if batches < 1:
                    return fallback
                spent = sum(p[-1] - p[0] for p in self.passes if len(p) > 1)
                return spent / batches * -(-samples // max(1, batch_size))

        return BatchClock()


def _strategy_scope(device: str):
    """``mirrored``: synchronous data-parallel training over every visible GPU
    (or, with none, every logical CPU device) with tf.distribute.MirroredStrategy."""
    import contextlib
    if device != "mirrored":
        return contextlib.nullcontext()
    import tensorflow as tf
    gpus = tf.config.list_logical_devices("GPU")
    names = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=names).scope()


class _device_scope:
    """Place training on the chosen device (or several GPUs with MirroredStrategy)."""

    def __init__(self, device: str):
        self.device = device or "auto"
        self._ctx = None

    def __enter__(self):
        import tensorflow as tf
        if self.device == "cpu":
            self._ctx = tf.device("/CPU:0")
        elif self.device.startswith("gpu:"):
            self._ctx = tf.device(f"/GPU:{int(self.device.split(':')[1])}")
        if self._ctx is not None:
            self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            return self._ctx.__exit__(*exc)
        return False


def describe_failure(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    name = type(exc).__name__
    if "ResourceExhausted" in name or "OOM" in text or isinstance(exc, MemoryError):
        return ("out of memory while training: use a smaller batch size or a smaller model "
                f"({text[:200]})")
    return f"training failed: {name}: {text[:300]}"
