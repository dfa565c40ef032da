"""Training: settings (the typed model shared by file, panel and trainer),
the trainer and its Keras callback, and the checks that the data fits."""

from studio.engine.train.fit_checks import check_fit, data_problems
from studio.engine.train.settings import OPTIMIZERS, FineTune, SettingsError, TrainingConfig
from studio.engine.train.trainer import Trainer, TrainingError, describe_failure

__all__ = ["OPTIMIZERS", "FineTune", "SettingsError", "Trainer", "TrainingConfig", "TrainingError", "check_fit",
           "data_problems", "describe_failure"]
