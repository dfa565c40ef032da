"""Training settings: one typed model shared by the project file, the Training
tab and the trainer. Every value is checked when it is set from outside (a
file, the command line, the panel), and a bad value names its field."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any

OPTIMIZERS = {"sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW",
              "adagrad": "Adagrad", "nadam": "Nadam"}
LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
          "mean_squared_error", "mean_absolute_error", "huber", "mse", "mae")
METRICS = ("accuracy", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy",
           "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "mean_absolute_error",
           "mean_squared_error", "mae", "mse")
VALIDATION = ("held_out", "split", "none")
SCHEDULES = ("constant", "cosine")
_DEVICE = re.compile(r"^(auto|cpu|mirrored|gpu:\d{1,3})$")


class SettingsError(ValueError):
    """A training setting with a value that cannot be used; ``field`` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"training.{field_name} {message}")
        self.field = field_name


def _whole(name: str, value: Any, low: int, high: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(name, f"must be a whole number from {low:,} to {high:,} (got {value!r})")
    return value


def _number(name: str, value: Any, low: float, high: float, low_open: bool = False, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SettingsError(name, f"must be a number (got {value!r})")
    if value < low or value > high or (low_open and value == low) or (high_open and value == high):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise SettingsError(name, f"must be in {lo}{low:g}, {high:g}{hi} (got {value!r})")
    return float(value)


def _choice(name: str, value: Any, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SettingsError(name, f"must be one of {', '.join(choices)} (got {value!r})")
    return value


FINE_TUNE_SEPARATOR = " › "   # 'block › layer' names a layer inside a block
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class FineTune:
    """The book's second stage: after the first one, unfreeze the layers from
    ``unfreeze_from`` onwards (inside its block, 'block › layer'; or in the model
    itself, a layer's name) and continue with a lower learning rate.
    BatchNormalization layers among them stay frozen."""

    unfreeze_from: str = ""
    epochs: int = 3
    learning_rate: float = 1e-5

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        name = self.unfreeze_from
        if not isinstance(name, str) or not name.strip() or len(name) > 300 or _CONTROL.search(name):
            raise SettingsError("fine_tune.unfreeze_from", "must name the layer to unfreeze from, as 'block › layer' "
                                f"or a layer's name (got {name!r:.60})")
        _whole("fine_tune.epochs", self.epochs, 1, 100_000)
        _number("fine_tune.learning_rate", self.learning_rate, 0.0, 1e9, low_open=True)

    @classmethod
    def from_dict(cls, d: Any) -> "FineTune":
        if isinstance(d, FineTune):
            return d
        if not isinstance(d, dict):
            raise SettingsError("fine_tune", "must be an object with unfreeze_from, epochs and learning_rate, "
                                f"or null for one stage (got {d!r:.60})")
        extra = set(d) - {f.name for f in fields(cls)}
        if extra:
            raise SettingsError("fine_tune", f"has unknown fields {', '.join(sorted(map(str, extra)))}; "
                                "it takes unfreeze_from, epochs and learning_rate")
        values = dict(d)
        if isinstance(values.get("learning_rate"), int) and not isinstance(values["learning_rate"], bool):
            values["learning_rate"] = float(values["learning_rate"])
        if "unfreeze_from" not in values:
            raise SettingsError("fine_tune.unfreeze_from", "is missing: name the layer to unfreeze from")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {"unfreeze_from": self.unfreeze_from, "epochs": self.epochs, "learning_rate": self.learning_rate}

    def path(self) -> list[str]:
        """The name's parts: ['block', 'layer'] or ['layer'] ('>' works as well as '›')."""
        return [part.strip() for part in self.unfreeze_from.replace(">", "›").split("›")]


@dataclass(frozen=True)
class TrainingConfig:
    optimizer: str = "adam"
    learning_rate: float = 0.001
    momentum: float = 0.9
    lr_schedule: str = "constant"       # constant | cosine (decays to 0 over each run)
    loss: str = "sparse_categorical_crossentropy"
    metrics: tuple = ("accuracy",)
    batch_size: int = 128
    epochs: int = 5
    validation: str = "held_out"        # held_out | split | none
    validation_split: float = 0.1
    shuffle_seed: int | None = 42
    early_stopping: int | None = None   # patience in epochs
    reduce_lr: int | None = None        # patience in epochs
    keep_best: bool = True
    mixed_precision: bool = False
    device: str = "auto"                # auto | cpu | gpu:N | mirrored (MirroredStrategy)
    feature_extraction: bool = False    # compute the frozen part's outputs once, train only the rest
    fine_tune: FineTune | None = None   # a second stage: unfreeze the top of a base, lower learning rate

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise SettingsError naming the first field whose value cannot be used."""
        _choice("optimizer", self.optimizer, tuple(OPTIMIZERS))
        _number("learning_rate", self.learning_rate, 0.0, 1e9, low_open=True)
        _number("momentum", self.momentum, 0.0, 1.0, high_open=True)
        _choice("lr_schedule", self.lr_schedule, SCHEDULES)
        _choice("loss", self.loss, LOSSES)
        if not isinstance(self.metrics, (list, tuple)):
            raise SettingsError("metrics", f"must be a list of metric names (got {self.metrics!r})")
        for m in self.metrics:
            _choice("metrics", m, METRICS)
        _whole("batch_size", self.batch_size, 1, 1_000_000)
        _whole("epochs", self.epochs, 1, 100_000)
        _choice("validation", self.validation, VALIDATION)
        _number("validation_split", self.validation_split, 0.0, 1.0, low_open=True, high_open=True)
        _whole("shuffle_seed", self.shuffle_seed, 0, 2**32 - 1, allow_none=True)
        _whole("early_stopping", self.early_stopping, 1, 100_000, allow_none=True)
        _whole("reduce_lr", self.reduce_lr, 1, 100_000, allow_none=True)
        for name in ("keep_best", "mixed_precision", "feature_extraction"):
            if not isinstance(getattr(self, name), bool):
                raise SettingsError(name, f"must be true or false (got {getattr(self, name)!r})")
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise SettingsError("device", f"must be auto, cpu, gpu:N or mirrored (got {self.device!r})")
        if self.fine_tune is not None and not isinstance(self.fine_tune, FineTune):
            raise SettingsError("fine_tune", f"must be a fine-tuning stage or null (got {self.fine_tune!r:.60})")

    @classmethod
    def unknown_fields(cls, d: Any) -> list[str]:
        """The keys of a settings object this version does not know (written by a newer
        Layer Studio, or mistyped), sorted; from_dict ignores them."""
        if not isinstance(d, dict):
            return []
        known = {f.name for f in fields(cls)}
        return sorted(str(k) for k in d if k not in known)

    @classmethod
    def known_fields(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TrainingConfig":
        """Settings from a file or the command line; unknown keys are ignored, bad values refused."""
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise SettingsError("", "must be an object")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        if isinstance(values.get("metrics"), list):
            values["metrics"] = tuple(values["metrics"])
        for key in ("early_stopping", "reduce_lr"):  # 0 is how older files said "off"
            if values.get(key) == 0 and not isinstance(values.get(key), bool):
                values[key] = None
        if isinstance(values.get("learning_rate"), int) and not isinstance(values["learning_rate"], bool):
            values["learning_rate"] = float(values["learning_rate"])
        if values.get("fine_tune") is not None:
            values["fine_tune"] = FineTune.from_dict(values["fine_tune"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["metrics"] = list(self.metrics)
        if self.fine_tune is None:   # one stage: files stay as they were before fine-tuning existed
            del out["fine_tune"]
        else:
            out["fine_tune"] = self.fine_tune.to_dict()
        return out

    def with_changes(self, **changes) -> "TrainingConfig":
        """A copy with some fields changed (validated)."""
        if "metrics" in changes:
            changes["metrics"] = tuple(changes["metrics"])
        if changes.get("fine_tune") is not None:
            changes["fine_tune"] = FineTune.from_dict(changes["fine_tune"])
        return replace(self, **changes)

    def stage_learning_rate(self, stage: int) -> float:
        return self.fine_tune.learning_rate if stage == 2 and self.fine_tune is not None else self.learning_rate

    def make_optimizer(self, learning_rate: float | None = None):
        import keras
        name = OPTIMIZERS[self.optimizer]
        rate = float(self.learning_rate if learning_rate is None else learning_rate)
        if self.lr_schedule == "cosine":
            rate = CosineCycle(rate)
        kwargs = {"learning_rate": rate}
        if name in ("SGD", "RMSprop"):
            kwargs["momentum"] = float(self.momentum)
        return getattr(keras.optimizers, name)(**kwargs)


def CosineCycle(base: float):
    """A cosine learning-rate decay from ``base`` to 0 over one run; each run
    (and each Continue) starts a new cycle, and the rate can be reset while
    paused. Built lazily so Keras is imported only when training."""
    import math as _math

    import keras
    from keras import ops

    class _CosineCycle(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, base):
            self.base = keras.Variable(float(base), trainable=False, dtype="float32", name="lr_base")
            self.start = keras.Variable(0.0, trainable=False, dtype="float32", name="lr_start")
            self.length = keras.Variable(1.0, trainable=False, dtype="float32", name="lr_length")

        def __call__(self, step):
            t = ops.clip((ops.cast(step, "float32") - self.start) / ops.maximum(self.length, 1.0), 0.0, 1.0)
            return self.base * 0.5 * (1.0 + ops.cos(_math.pi * t))

        def restart(self, base: float, start_step: int, steps: int) -> None:
            self.base.assign(float(base))
            self.start.assign(float(start_step))
            self.length.assign(float(max(1, steps)))

        def get_config(self):
            return {"base": float(self.base.numpy())}

    return _CosineCycle(base)
