"""Import TensorFlow/Keras in a background thread so the window appears first."""

from __future__ import annotations

import logging
import os
import threading
import time

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


def describe_devices() -> str:
    """'GPU: <name>' for the first GPU TensorFlow sees, else 'CPU'."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name") or gpus[0].name
    except Exception:
        name = gpus[0].name
    more = f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else ""
    return f"GPU: {name}{more}"


class TensorFlowLoader(QObject):
    loaded = Signal(str, str, float)   # version, device description, seconds
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.ready = False
        self.version = ""
        self.device = ""
        self._thread: threading.Thread | None = None
        self.loaded.connect(self._mark_ready)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tf-import", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            import keras  # noqa: F401  (imports TensorFlow, the backend)
            import tensorflow as tf
            from studio.engine import catalog
            catalog.params("Dense")  # warm the catalog's Keras side
            device = describe_devices()
            self.loaded.emit(tf.__version__, device, time.perf_counter() - t0)
        except Exception as exc:  # pragma: no cover - broken installation
            log.exception("TensorFlow failed to load")
            self.failed.emit(f"TensorFlow could not be loaded: {exc}")

    def _mark_ready(self, version: str, device: str, _seconds: float) -> None:
        self.ready = True
        self.version = version
        self.device = device

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is not None and not self._thread.is_alive()
