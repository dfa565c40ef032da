"""Start the desktop application: the window first, TensorFlow behind it."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

_T0 = time.perf_counter()


def run(path: str | None = None, argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from studio.engine.project import ProjectError, load_project
    from studio.ui.main_window import MainWindow
    from studio.ui.tf_loader import TensorFlowLoader

    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("Layer Studio")
    app.setOrganizationName("LayerStudio")
    # Copied layers live in a QMimeData the clipboard owns; release it while
    # Python still runs, or Qt deletes it during interpreter shutdown.
    app.aboutToQuit.connect(lambda: app.clipboard().clear())
    loader = TensorFlowLoader()
    project = None
    error = None
    if path:
        if Path(path).suffix == ".keras":
            pass  # imported once TensorFlow is ready, below
        else:
            try:
                project = load_project(path)
            except ProjectError as exc:
                error = str(exc)
    window = MainWindow(project, loader)  # starts the TensorFlow import once shown
    window.show()

    def report_shown():
        shown = time.perf_counter() - _T0
        logging.getLogger(__name__).info("window shown after %.2f s", shown)
        if os.environ.get("LAYER_STUDIO_REPORT_STARTUP"):
            print(f"window-shown {shown:.3f}", flush=True)

    QTimer.singleShot(0, report_shown)
    if error:
        QTimer.singleShot(0, lambda: QMessageBox.warning(window, "Cannot open project", error))
    elif path and Path(path).suffix == ".keras":
        window.open_files([path])
    if not path:
        QTimer.singleShot(0, window.offer_recovery)
    if os.environ.get("LAYER_STUDIO_QUIT_AFTER_MS"):
        QTimer.singleShot(int(os.environ["LAYER_STUDIO_QUIT_AFTER_MS"]), app.quit)
    return app.exec()
