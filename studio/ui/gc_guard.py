"""Run Python's cyclic garbage collector on the GUI thread only.

Python collects reference cycles in whichever thread happens to allocate when
a generation's threshold is crossed. If that is the training thread (or the
TensorFlow import thread) and the cycle holds a Qt wrapper left over from a
closed window or dialog, the Qt object is destroyed there: ``~QObject`` takes
Qt's connection mutex and then waits for the GIL, while the GUI thread, holding
the GIL, waits for the same mutex. Both stop for good (seen in CI as a test
that never finished).

So automatic collection is switched off and a timer on the GUI thread does
the same work with the same thresholds. Plain reference counting still frees
everything that is not in a cycle at once, in any thread.

A full collection walks every live object; with TensorFlow and Keras loaded
that is about 150 ms with the GIL held, a visible stall and a pause in
training. Once TensorFlow has loaded, ``settle()`` collects once and freezes
what is alive then (modules, classes, registries: they live as long as the
process) so that later full collections only walk what was made since. The
settling itself is the engine's (``studio.engine.runtime_gc``), shared with
``layer-studio train``.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

from studio.engine import runtime_gc

_INSTALLED_NAME = "layer-studio-gc-guard"


class MainThreadGarbageCollector(QObject):
    def __init__(self, parent: QObject, interval_ms: int = 500):
        super().__init__(parent)
        self.setObjectName(_INSTALLED_NAME)
        self.thresholds = gc.get_threshold()
        self.collections = 0
        self.settled = False
        gc.disable()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds, as Python would."""
        counts = gc.get_count()
        generation = -1
        for g in range(3):
            if counts[g] > self.thresholds[g]:
                generation = g
            else:
                break
        if generation >= 0:
            gc.collect(generation)
            self.collections += 1

    def settle(self) -> None:
        """Once per process, after the heavy imports: collect, then freeze the survivors."""
        if self.settled:
            return
        self.settled = True
        runtime_gc.settle()  # on the GUI thread: the only one that collects


def install() -> MainThreadGarbageCollector:
    """Install once per application (idempotent); returns the collector."""
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("the garbage-collector guard needs a running QApplication")
    existing = app.findChild(MainThreadGarbageCollector, _INSTALLED_NAME)
    return existing if existing is not None else MainThreadGarbageCollector(app)
