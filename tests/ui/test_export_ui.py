"""Export from the window and PNG diagrams."""

from PySide6.QtGui import QImage

from studio.ui.diagram_png import export_png
from studio.ui.export_dialog import ExportDialog, run_export


def test_png_diagram(tmp_path, window):
    result = export_png(window.document.to_project(), tmp_path / "model.png")
    image = QImage(str(result.path))
    assert not image.isNull() and image.width() > 300 and image.height() > 800


def test_export_from_the_window_with_run_weights(qtbot, window, tmp_path, _no_modal_dialogs):
    from studio.engine import datasets
    ds = datasets.bundled_sample()
    panel = window.training_panel
    window.document.set_loaded_dataset(datasets.Dataset("s", ds.x_train[:512], ds.y_train[:512], ds.x_test[:64],
                                                        ds.y_test[:64]))
    panel.epochs_spin.setValue(1)
    assert panel.start(new=True)
    qtbot.waitUntil(lambda: not panel.is_running() and panel.state == "idle", timeout=120_000)
    dialog = ExportDialog(window)
    assert dialog.weights.count() == 3 and dialog.weights.itemData(0)[0] == "best"
    result = run_export(window, "keras", str(tmp_path / "m.keras"), dialog.weights.itemData(0))
    assert result is not None and result.max_abs_diff <= 1e-4
    assert any("Export verified" in m or "verified" in m for m in _no_modal_dialogs)
    (tmp_path / "ro" / "x").mkdir(parents=True)   # an export never makes the folder it writes in
    assert run_export(window, "onnx", str(tmp_path / "ro" / "x" / "m.onnx"), ("current", None)) is not None
