"""Autosave and crash recovery, with a real process killed mid-session."""

import os
import subprocess
import sys
import time

from PySide6.QtWidgets import QMessageBox

from .conftest import make_window

CHILD = r'''
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from studio.ui.main_window import MainWindow
from studio.ui.tf_loader import TensorFlowLoader
from studio.ui import commands
loader = TensorFlowLoader()
loader.start = lambda: None          # the editor works before TensorFlow is there
w = MainWindow(loader=loader)
w.show()
g = w.document.graph
w.undo_stack.push(commands.Rename(g, g.node_by_name("conv1").id, "edited_before_crash"))
def report():
    if w.files.recovery.path.exists():
        print("READY", flush=True)
    else:
        QTimer.singleShot(50, report)
report()
app.exec()
'''


def test_autosave_survives_a_killed_process(qtbot, tmp_path, monkeypatch):
    home = tmp_path / "home"
    env = dict(os.environ, LAYER_STUDIO_HOME=str(home), LAYER_STUDIO_AUTOSAVE_MS="300",
               QT_QPA_PLATFORM="offscreen")
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 90
        line = ""
        while time.time() < deadline and "READY" not in line:
            line = child.stdout.readline()
            if not line and child.poll() is not None:
                break
        assert "READY" in line, "the child never autosaved"
    finally:
        child.kill()  # SIGKILL: no chance to clean up, like a crash
        child.wait()
    monkeypatch.setenv("LAYER_STUDIO_HOME", str(home))
    asked = []

    def answer(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    from studio.ui.tf_loader import TensorFlowLoader  # a loader that has not loaded TensorFlow
    loader = TensorFlowLoader()
    loader.start = lambda: None
    w = make_window(qtbot, loader)
    assert w.offer_recovery()
    assert asked and "did not close properly" in asked[0]
    assert w.document.graph.node_by_name("edited_before_crash") is not None
    assert w.is_modified()  # restored work still needs saving
    # the orphan is consumed: a second start offers nothing
    assert not make_window(qtbot, loader).offer_recovery()


def test_clean_exit_leaves_no_recovery_file(qtbot, window, monkeypatch):
    from studio.ui import commands
    g = window.document.graph
    window.undo_stack.push(commands.Rename(g, g.node_by_name("conv1").id, "c1"))
    window.files.autosave()
    assert window.files.recovery.path.exists()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)
    assert window.close()
    assert not window.files.recovery.path.exists()


def test_tensorflow_loads_in_the_background(qtbot):
    from studio.ui.tf_loader import TensorFlowLoader
    loader = TensorFlowLoader()
    w = make_window(qtbot, loader)
    assert w.tf_label.text() in ("TensorFlow: loading…",) or loader.ready
    qtbot.waitUntil(lambda: loader.ready, timeout=120_000)
    assert w.tf_label.text().startswith("TensorFlow 2.")
    assert w.device_label.text() in ("Device: CPU",) or w.device_label.text().startswith("Device: GPU")
    node = w.document.graph.node_by_name("conv1")
    w.scene.select_nodes([node.id])
    assert "filters" in w.inspector.fields
