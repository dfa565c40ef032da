"""Fast feature extraction from the Training tab: a checkbox that says what it caches or why
it cannot, undoable like every setting; a run shows the cache and its speed-up."""

import json
from pathlib import Path

from studio.ui import commands
from studio.ui.runs_panel import COLUMNS

from .helpers import sample_slice, train_in_window


def _freeze(window, *names, frozen=True):
    g = window.document.graph
    configs = {}
    for name in names:
        node = g.node_by_name(name)
        configs[node.id] = dict(node.config, trainable=not frozen)
    window.undo_stack.push(commands.SetConfig(g, configs))
    window.flush_updates()


def _settle(qtbot, panel):
    qtbot.waitUntil(lambda: not panel._cut_timer.isActive(), timeout=5_000)


def test_checkbox_says_why_and_is_undoable(qtbot, window):
    panel = window.training_panel
    _settle(qtbot, panel)
    assert not panel.fx_check.isEnabled() and not panel.fx_check.isChecked()
    assert panel.fx_label.text().startswith("Unavailable: nothing is frozen")
    _freeze(window, "conv2")
    _settle(qtbot, panel)
    assert panel.fx_label.text() == "Unavailable: 'conv1' before the frozen 'conv2' is trainable."
    assert "'conv1' before the frozen 'conv2' is trainable" in panel.fx_check.toolTip()
    _freeze(window, "conv1")
    _settle(qtbot, panel)
    assert panel.fx_check.isEnabled() and "'pool2'" in panel.fx_label.text()
    steps = window.undo_stack.count()
    panel.fx_check.setChecked(True)
    assert window.document.training.feature_extraction is True and window.undo_stack.count() == steps + 1
    window.undo_stack.undo()
    assert window.document.training.feature_extraction is False and not panel.fx_check.isChecked()
    window.undo_stack.redo()
    assert panel.fx_check.isChecked()
    # the option on, then the model changes so that it no longer applies: said, and it can be turned off
    _freeze(window, "conv1", frozen=False)
    _settle(qtbot, panel)
    assert panel.fx_check.isEnabled() and panel.fx_label.text().startswith("Unavailable: 'conv1'")
    panel.fx_check.setChecked(False)
    _settle(qtbot, panel)
    assert not panel.fx_check.isEnabled() and window.document.training.feature_extraction is False


def test_training_with_cached_features_from_the_tab(qtbot, window, tmp_path):
    panel = window.training_panel
    window.document.saved_as(tmp_path / "fx.studio")   # runs beside it
    _freeze(window, "conv1", "conv2")
    _settle(qtbot, panel)
    panel.fx_check.setChecked(True)
    texts = []
    panel.progress_label.setText = _recording(panel.progress_label.setText, texts)
    train_in_window(qtbot, window, sample_slice(512, 128), epochs=2)
    assert panel.trainer.status == "finished", texts[-3:]
    assert any(t.startswith("Computing the frozen layers' outputs once") for t in texts)
    assert any(t.startswith("Fast feature extraction: the outputs of 'pool2'") for t in texts)
    final = texts[-1]
    assert "instead of about" in final and "faster" in final
    run = Path(panel.trainer.run.path)
    meta = json.loads((run / "run.json").read_text())
    assert meta["frozen"] == ["conv1", "conv2"] and meta["feature_extraction"]["cut"] == ["pool2"]
    assert "2 frozen" in panel.runs_list.item(0).text() and "features cached" in panel.runs_list.item(0).text()
    assert window.document.has_trained_weights()
    runs = window.runs_panel   # the Runs tab: a column of frozen layers, ⚡ for cached features
    col = COLUMNS.index("Frozen")
    assert runs.table.item(0, col).text() == "2 ⚡"
    assert "conv1, conv2" in runs.table.item(0, col).toolTip() and "faster" in runs.table.item(0, col).toolTip()


def _recording(setter, texts):
    def record(text):
        texts.append(text)
        setter(text)
    return record
