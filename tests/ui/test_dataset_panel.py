"""The Dataset tab: loading, preprocessing, and the Input following the data."""

import numpy as np

from studio.engine.train import TrainingConfig, check_fit
from studio.ui import commands


def test_load_sample_shows_grid_counts_and_shapes(qtbot, window):
    panel = window.dataset_panel
    assert panel.load_spec({"kind": "builtin", "name": "mnist-sample"})
    assert panel.grid.count() == 24
    assert "8,000 train / 2,000 held out" in panel.summary.text()
    assert "model (28, 28, 1) float32" in panel.summary.text()
    assert window.document.dataset is panel.dataset


def test_input_follows_preprocessing_and_undo(qtbot, window):
    g = window.document.graph
    digits = g.node_by_name("digits")
    panel = window.dataset_panel
    panel.load_spec({"kind": "builtin", "name": "mnist-sample"})
    assert g.nodes[digits.id].config["shape"] == [28, 28, 1]
    panel.layout_combo.setCurrentIndex(panel.layout_combo.findData("flatten"))
    assert window.document.dataset_spec["preprocess"]["layout"] == "flatten"
    assert g.nodes[digits.id].config["shape"] == [784]  # the Input followed the data
    window.flush_updates()
    conv1 = g.node_by_name("conv1")
    assert window.scene.checker.states[conv1.id].error  # and the convnet now says why it cannot take it
    window.undo_stack.undo()
    assert g.nodes[digits.id].config["shape"] == [28, 28, 1]
    assert window.document.dataset_spec["preprocess"]["layout"] == "keep"


def test_broken_dataset_file_is_a_message(qtbot, window, tmp_path, _no_modal_dialogs):
    bad = tmp_path / "broken.csv"
    bad.write_text("label,a\n1,2\n0,x\n")
    before = window.document.dataset_spec
    assert not window.dataset_panel.load_spec({"kind": "file", "path": str(bad)})
    assert any("row 3, column 'a'" in m for m in _no_modal_dialogs)
    assert window.document.dataset_spec == before


def test_npz_dataset_drives_training_shapes(qtbot, window, tmp_path):
    p = tmp_path / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(p, x_train=rng.integers(0, 255, (64, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 64),
             x_test=rng.integers(0, 255, (16, 28, 28), dtype=np.uint8), y_test=rng.integers(0, 10, 16))
    assert window.dataset_panel.load_spec({"kind": "file", "path": str(p)})
    assert window.document.dataset_spec["path"] == str(p)
    problems = check_fit(window.document.graph, window.dataset_panel.dataset, window.dataset_panel.preprocess(),
                         TrainingConfig())
    assert problems == []


def test_class_count_mismatch_is_flagged_on_the_node_with_a_fix(qtbot, window):
    g = window.document.graph
    window.dataset_panel.load_spec({"kind": "builtin", "name": "mnist-sample"})
    classes = g.node_by_name("classes")
    window.undo_stack.push(commands.set_param_command(g, [classes.id], "units", 4))
    window.flush_updates()
    state = window.scene.checker.states[classes.id]
    assert state.warning and "10 classes" in state.warning and state.fix.value == 10
    assert window.scene.node_items[classes.id].has_fix
    window.edit.apply_fix(classes.id)
    window.flush_updates()
    assert g.nodes[classes.id].config["units"] == 10
    assert window.scene.checker.states[classes.id].warning is None
