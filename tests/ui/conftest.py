import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _release_clipboard_at_exit():
    """The clipboard owns the QMimeData our copy created; Qt would delete it
    after Python has shut down (a crash at exit) unless it is released first."""
    yield
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance()
    if app is not None:
        app.clipboard().clear()
        app.processEvents()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Settings, recent files and recovery files go to a fresh folder per test."""
    monkeypatch.setenv("LAYER_STUDIO_HOME", str(tmp_path / "home"))


@pytest.fixture(autouse=True)
def _no_modal_dialogs(monkeypatch):
    """A modal dialog would hang an offscreen test: record messages, refuse questions."""
    from PySide6.QtWidgets import QMessageBox

    shown = []

    def record(*args, **kwargs):
        shown.append(args[2] if len(args) > 2 else "")
        return QMessageBox.Ok

    def unexpected_question(*args, **kwargs):
        raise AssertionError(f"unexpected question dialog: {args[2] if len(args) > 2 else args}")

    for name in ("warning", "critical", "information", "about"):
        monkeypatch.setattr(QMessageBox, name, record)
    monkeypatch.setattr(QMessageBox, "question", unexpected_question)
    return shown


@pytest.fixture(autouse=True)
def _handler_errors_fail_the_test():
    """The canvas guard keeps a handler's exception from crashing the app; in a test it
    must not hide the bug: anything the guard caught fails the test."""
    from studio.ui import guard
    guard.errors.clear()
    yield
    caught, guard.errors[:] = list(guard.errors), []
    assert not caught, f"an event handler raised (caught by the guard): {caught}"


@pytest.fixture(scope="session")
def ready_loader():
    """A TensorFlow loader that has already finished (TF imported once per session)."""
    import keras  # noqa: F401
    import tensorflow as tf

    from studio.ui.tf_loader import TensorFlowLoader, describe_devices

    loader = TensorFlowLoader()
    loader.ready, loader.version, loader.device = True, tf.__version__, describe_devices()
    return loader


@pytest.fixture
def window(qtbot, ready_loader):
    w = make_window(qtbot, ready_loader)
    w.show()
    qtbot.waitExposed(w)
    w.flush_updates()
    return w


def make_window(qtbot, loader):
    from studio.ui.main_window import MainWindow

    w = MainWindow(loader=loader)
    # the test is over: nothing left to ask about when pytest-qt closes it
    qtbot.addWidget(w, before_close_func=_forget_changes)
    return w


def _forget_changes(win):
    win.undo_stack.setClean()
    win.document.weights_unsaved = False
