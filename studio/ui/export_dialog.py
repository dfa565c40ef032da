"""File → Export…: choose a format and weights; the export is verified before it is reported."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QLabel, QMessageBox)

FORMATS = [("Keras (.keras)", "keras", ".keras"), ("TensorFlow SavedModel (folder)", "savedmodel", ""),
           ("TFLite (.tflite)", "tflite", ".tflite"), ("ONNX (.onnx)", "onnx", ".onnx"),
           ("Standalone Python project (folder)", "python", ""), ("Diagram (.png)", "png", ".png"),
           ("Diagram (.svg)", "svg", ".svg")]


class ExportDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.setWindowTitle("Export model")
        self.window = window
        self.format = QComboBox()
        for label, key, _ in FORMATS:
            self.format.addItem(label, key)
        self.weights = QComboBox()
        run = self._last_run()
        if run is not None:
            self.weights.addItem(f"best weights of run {run.name}", ("best", run))
            self.weights.addItem(f"final weights of run {run.name}", ("final", run))
        self.weights.addItem("the project's current weights", ("current", None))
        self.quantize = QCheckBox("dynamic-range quantization (TFLite)")
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("Weights", self.weights)
        form.addRow("", self.quantize)
        form.addRow(QLabel("Every export is reloaded in its own runtime and compared with the model."))
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _last_run(self) -> Path | None:
        runs = self.window.document.runs  # newest first
        return Path(runs[0]["path"]) if runs else None

    def choose_path(self) -> str | None:
        label, key, suffix = FORMATS[self.format.currentIndex()]
        d = self.window.document
        start = str((d.path.parent if d.path else Path.home()) / (d.graph.name + suffix))
        if suffix:
            path, _ = QFileDialog.getSaveFileName(self, "Export to", start, f"{label} (*{suffix})")
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export to folder", start)
        return path or None


def run_export(window, fmt: str, path: str, weights: tuple, quantize: bool = False):
    """Export (used by the dialog and the tests); returns the result or None after a message."""
    from studio.engine.export import ExportError, export
    from studio.engine.project import ProjectError, load_weights
    from studio.engine.document import TRAINED
    window.flush_updates()
    project = window.document.snapshot(TRAINED)
    which, run = weights
    try:
        if which in ("best", "final") and run is not None:
            file = Path(run) / f"weights_{which}.h5"
            project.weights = load_weights(file if file.exists() else Path(run) / "weights_final.h5")
        sample = None
        ds = window.document.dataset
        if ds is not None:
            pre = window.document.preprocess()
            sample = pre.x(ds.x_test[:200] if quantize else ds.x_test[:16], pre.scales(ds.x_train))
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            if fmt == "png":
                from studio.ui.diagram_png import export_png
                result = export_png(project, path)
            else:
                result = export(project, fmt, path, sample=sample, quantize=quantize)
        finally:
            QApplication.restoreOverrideCursor()
    except (ExportError, ProjectError) as exc:
        QMessageBox.warning(window, "Export failed", str(exc))
        return None
    QMessageBox.information(window, "Export verified", result.summary())
    window.statusBar().showMessage(result.summary(), 10000)
    return result


def export_interactively(window) -> None:
    dialog = ExportDialog(window)
    if dialog.exec() != QDialog.Accepted:
        return
    path = dialog.choose_path()
    if path:
        window.when_keras_ready(lambda: run_export(window, dialog.format.currentData(), path,
                                                   dialog.weights.currentData(), dialog.quantize.isChecked()),
                                "exporting")
