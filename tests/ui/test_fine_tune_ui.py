"""Two-stage fine-tuning from the Training tab: the "Fine-tune afterwards" group edits the
settings through undoable commands, and a run shows which stage it is in."""

import json
from pathlib import Path

from studio.engine import templates
from studio.engine.document import STARTING, TRAINED
from studio.engine.train import FineTune

from .helpers import sample_slice, train_in_window


def _settle(qtbot, panel):
    qtbot.waitUntil(lambda: not panel._cut_timer.isActive(), timeout=5_000)


def _open_template(qtbot, window):
    window.set_project(templates.build("fine_tuning_digits"))
    window.flush_updates()
    panel = window.training_panel
    _settle(qtbot, panel)
    return panel, panel.fine_tune


def test_group_lists_the_blocks_layers_and_edits_with_undo(qtbot, window):
    panel, group = _open_template(qtbot, window)
    d = window.document
    assert d.training.fine_tune == FineTune("conv_base › conv3", 2, 0.0001)
    assert group.check.isChecked()
    items = [group.layer.itemData(k) for k in range(group.layer.count())]
    assert items == [f"conv_base › {n}" for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "bn3", "relu3")]
    assert group.layer.currentData() == "conv_base › conv3"
    assert "unfreezes conv_base › conv3" in group.label.text() and "conv_base › bn3" in group.label.text()
    steps = window.undo_stack.count()
    group.layer.setCurrentIndex(items.index("conv_base › conv2"))
    assert d.training.fine_tune.unfreeze_from == "conv_base › conv2"
    assert window.undo_stack.count() == steps + 1
    group.epochs.setValue(4)
    assert d.training.fine_tune.epochs == 4
    window.undo_stack.undo()
    assert d.training.fine_tune.epochs == 2 and group.epochs.value() == 2
    window.undo_stack.undo()
    assert d.training.fine_tune.unfreeze_from == "conv_base › conv3" and group.layer.currentData() == "conv_base › conv3"
    # off: one stage; its own undo step, and undo brings the stage back as it was
    steps = window.undo_stack.index()
    group.check.setChecked(False)
    assert d.training.fine_tune is None and not group.layer.isEnabled()
    assert window.undo_stack.index() == steps + 1
    window.undo_stack.undo()
    assert d.training.fine_tune == FineTune("conv_base › conv3", 2, 0.0001) and group.check.isChecked()
    # a layer with nothing to unfreeze after it is said in the group
    group.layer.setCurrentIndex(items.index("conv_base › bn3"))
    _settle(qtbot, panel)
    assert d.training.fine_tune.unfreeze_from == "conv_base › bn3"
    assert group.label.text().startswith("Unavailable: training.fine_tune.unfreeze_from is 'conv_base › bn3', "
                                         "but nothing with weights would train")


def test_turning_it_on_suggests_the_last_conv_layer_of_the_frozen_base(qtbot, window):
    _panel, group = _open_template(qtbot, window)
    group.check.setChecked(False)
    group.lr.setValue(0.00002)
    assert window.document.training.fine_tune is None
    group.check.setChecked(True)
    ft = window.document.training.fine_tune
    assert ft.unfreeze_from == "conv_base › conv3" and abs(ft.learning_rate - 2e-5) < 1e-12


def test_two_stages_train_from_the_tab(qtbot, window, tmp_path):
    panel, group = _open_template(qtbot, window)
    window.document.saved_as(tmp_path / "ft.studio")   # runs beside it
    group.epochs.setValue(1)
    texts = []
    setter = panel.progress_label.setText

    def record(text):
        texts.append(text)
        setter(text)
    panel.progress_label.setText = record
    before = [a.copy() for a in window.document.weights_by_name(STARTING)["conv_base"]]
    train_in_window(qtbot, window, sample_slice(512, 128), epochs=1)
    assert panel.trainer.status == "finished", texts[-3:]
    assert any(t.startswith("Stage 1 of 2") for t in texts)
    assert any(t.startswith("Stage 2 of 2: fine-tuning from conv_base › conv3 at lr 0.0001") for t in texts)
    assert panel._planned_epochs == 2 and panel.plotted_points()[1] == 2
    meta = json.loads((Path(panel.trainer.run.path) / "run.json").read_text())
    assert [s["stage"] for s in meta["stages"]] == [1, 2]
    assert [s["first_epoch"] for s in meta["stages"]] == [0, 1]
    assert "2 stages" in panel.runs_list.item(0).text()
    # the block's weights in the document are the ones both stages reached: conv3 (index 4) moved
    after = window.document.weights_by_name(TRAINED)["conv_base"]
    assert (after[0] == before[0]).all() and not (after[4] == before[4]).all()
