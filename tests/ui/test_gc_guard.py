"""Cyclic garbage holding Qt objects is collected on the GUI thread, never on a worker."""

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from studio.ui import gc_guard


class _Cycle:
    def __init__(self):
        self.me = self
        self.qt = QObject()


def test_background_threads_never_collect_qt_garbage(qtbot):
    collector = gc_guard.install()
    assert gc_guard.install() is collector  # once per application
    assert not gc.isenabled()
    gc.collect()
    freed_in = []
    cycle = _Cycle()
    weakref.finalize(cycle, lambda: freed_in.append(threading.current_thread().name))
    del cycle

    def churn():  # far past every generation's threshold: Python would collect here
        for _ in range(20):
            junk = [[] for _ in range(50_000)]
            for a, b in zip(junk, junk[1:]):
                a.append(b)
                b.append(a)

    worker = threading.Thread(target=churn, name="worker")
    worker.start()
    worker.join()
    assert freed_in == []  # the worker allocated plenty, but collected nothing
    qtbot.waitUntil(lambda: bool(freed_in), timeout=10_000)
    assert freed_in == [threading.main_thread().name]
    assert collector.collections > 0


def test_the_window_installs_the_guard_and_settles_once_tensorflow_is_loaded(window):
    assert not gc.isenabled()
    collector = gc_guard.install()
    assert collector.settled and gc.get_freeze_count() > 0  # later full collections skip TF's objects
