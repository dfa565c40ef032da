"""The bugs of "one document, one truth", each driven through the real window."""

import json
import threading

import numpy as np
import pytest

from studio.ui import commands

from .helpers import node_by_name, sample_slice, train_in_window as _train


@pytest.fixture(scope="module")
def small():
    return sample_slice(512, 128)


def test_training_settings_are_saved_undoable_and_mark_the_window_modified(qtbot, window, tmp_path):
    panel = window.training_panel
    window.files.save_to(tmp_path / "p.studio")
    assert not window.is_modified()
    panel.epochs_spin.setValue(9)
    panel.lr_spin.setValue(0.01)
    assert window.is_modified()
    assert window.document.training.epochs == 9 and window.document.training.learning_rate == 0.01
    assert window.files.save()
    saved = json.loads((tmp_path / "p.studio").read_text())["training"]
    assert saved["epochs"] == 9 and saved["learning_rate"] == 0.01
    window.undo_stack.undo()                      # the learning rate
    assert window.document.training.learning_rate == 0.001 and panel.lr_spin.value() == 0.001
    window.undo_stack.undo()
    assert window.document.training.epochs == 3 and panel.epochs_spin.value() == 3


def test_typing_in_one_field_is_one_undo_step(qtbot, window):
    panel = window.training_panel
    before = window.undo_stack.count()
    for value in (1, 12, 123):               # a number typed digit by digit
        panel.batch_spin.setValue(value)
    assert window.undo_stack.count() == before + 1
    window.undo_stack.undo()
    assert window.document.training.batch_size == 64


def test_weights_follow_the_graph_and_train_starts_fresh(qtbot, window, small):
    panel = _train(qtbot, window, small)
    d = window.document
    conv3, _ = node_by_name(window, "conv3")
    assert d.weight_status()[conv3.id] == "trained"
    assert "trained" in window.weights_label.text()
    window.undo_stack.push(commands.set_param_command(d.graph, [conv3.id], "filters", 96))
    window.flush_updates()
    assert d.weight_status()[conv3.id] == "fresh"
    # Train is not refused by the old weights, and starts a new run from the starting weights
    panel = _train(qtbot, window, small)
    assert panel.trainer.project.weights == {}          # the starter has no imported weights
    assert panel.trainer.history_epochs and panel.trainer.status == "finished"
    window.undo_stack.undo()
    assert d.weight_status()[conv3.id] == "fresh"        # the second run's weights were for 96 filters
    # Continue trains on from the weights the last run reached
    window.undo_stack.redo()
    first = dict(d.weights_by_name("trained"))
    panel.epochs_spin.setValue(1)
    panel.trainer = None                                 # as after reopening: Continue from the document
    panel = _train(qtbot, window, small, new=False)
    assert np.array_equal(panel.trainer.project.weights["conv3"][0], first["conv3"][0])


def test_button_words_say_what_they_do(window):
    panel = window.training_panel
    assert panel.train_button.text() == "Train from start" and "starting weights" in panel.train_button.toolTip()
    assert "last run reached" in panel.continue_button.toolTip()
    assert not panel.continue_button.isEnabled()        # nothing trained yet


def test_runs_use_a_snapshot_and_leave_nothing_behind(qtbot, window, small):
    g = window.document.graph
    names = ("node_added", "node_removed", "node_changed", "edge_added", "edge_removed", "outputs_changed")
    subscribers = {n: len(getattr(g, n)._callbacks) for n in names}
    threads = threading.active_count()
    panel = window.training_panel
    window.document.set_loaded_dataset(small)
    panel.epochs_spin.setValue(2)
    assert panel.start(new=True)
    assert panel.trainer.project.graph is not g
    conv1, _ = node_by_name(window, "conv1")
    window.undo_stack.push(commands.set_param_command(g, [conv1.id], "filters", 16))   # edit mid-run
    assert "changed since this run started" in panel.changed_label.text()
    qtbot.waitUntil(lambda: not panel.is_running() and panel.state == "idle", timeout=120_000)
    assert panel.trainer.project.graph.node_by_name("conv1").config["filters"] == 32   # the run kept its model
    for _ in range(2):
        _train(qtbot, window, small)
    assert {n: len(getattr(g, n)._callbacks) for n in names} == subscribers
    qtbot.waitUntil(lambda: threading.active_count() <= threads + 1, timeout=10_000)


def test_no_stale_state_after_runs_and_project_switches(qtbot, window, small, _no_modal_dialogs):
    panel = _train(qtbot, window, small)
    assert panel.progress.value() == panel.progress.maximum()          # a finished run fills the bar
    assert "Finished after 1 completed epoch" in panel.progress_label.text()
    g = window.document.graph
    dropout = g.add_node("Dropout")                                   # not wired: a warning, not a failure
    window.flush_updates()
    panel = _train(qtbot, window, small)
    assert panel.trainer.status == "finished"
    # the Problems tab counts exactly what it lists
    problems = window.problems
    title = window.bottom_tabs.tabText(window.bottom_tabs.indexOf(problems))
    assert title == f"Problems ({problems.count()})" and problems.count() >= 1
    assert any("dropout" in problems.item(k).text() for k in range(problems.count()))
    # another project: every panel starts over
    window.scene.select_nodes([dropout.id])
    window.undo_stack.setClean()
    window.document.weights_unsaved = False
    window.files.new_project("mnist_dense")
    assert panel.progress_label.text() == "Ready." and panel.progress.value() == 0
    assert panel.changed_label.text() == "" and panel.plotted_points() == (0, 0)
    assert not panel.continue_button.isEnabled()
    assert window.inspector.node_ids == [] and dropout.id not in window.scene.node_items
    assert not any("dropout" in problems.item(k).text() for k in range(problems.count()))


def test_pause_says_paused_and_stops_the_clock(qtbot, window, small):
    panel = window.training_panel
    window.document.set_loaded_dataset(small)
    panel.epochs_spin.setValue(30)
    panel.batch_spin.setValue(16)
    assert panel.start(new=True)
    qtbot.waitUntil(lambda: panel.plotted_points()[0] > 3, timeout=120_000)
    panel.toggle_pause()
    assert panel.progress_label.text().startswith("Paused")
    elapsed = panel._clock.elapsed()
    qtbot.wait(400)
    assert panel._clock.elapsed() == pytest.approx(elapsed, abs=1e-6)
    assert "epochs done" in panel.progress_label.text()
    panel.toggle_pause()
    panel.stop()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=120_000)
    # stopped mid-epoch: that epoch ended but did not complete, and is not counted as done
    t = panel.trainer
    assert t.epochs_done == t.completed_epochs + 1
    assert panel.progress_label.text().startswith(f"Stopped after {t.completed_epochs} completed epoch")


def test_tabular_data_gets_no_image_options_and_flags_rescaling(qtbot, window, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 6)).astype("float32")
    y = rng.integers(0, 3, 60)
    path = tmp_path / "rows.npz"
    np.savez(path, x_train=x[:50], y_train=y[:50], x_test=x[50:], y_test=y[50:])
    panel = window.dataset_panel
    assert panel.load_spec({"kind": "file", "path": str(path)})
    assert not panel.channel.isVisibleTo(panel) and not panel.layout_combo.isVisibleTo(panel)
    assert panel.table.isVisibleTo(panel) and not panel.grid_box.isVisibleTo(panel)
    scale = window.document.graph.node_by_name("scale")
    window.flush_updates()
    assert "rows of numbers" in (window.document.checker.states[scale.id].warning or "")
    ticks = panel.counts_plot.getAxis("bottom")._tickLevels[0]
    assert all(float(v).is_integer() for v, _ in ticks)


def test_dataset_menu_item_exists(window):
    from studio.ui.training_panel import describe_dataset
    assert "File → Choose Dataset…" in describe_dataset(None)
    assert window.files.act_dataset.text().replace("&", "") == "Choose Dataset…"
    window.files.act_dataset.trigger()
    assert window.bottom_tabs.currentWidget() is window.dataset_panel


def test_help_menu(qtbot, window):
    from studio.ui import help_menu
    conv1, _ = node_by_name(window, "conv1")
    window.scene.select_nodes([conv1.id])
    dialog = help_menu.show_selected_layer_help(window)
    assert "Conv2D" in dialog.findChild(help_menu.QTextBrowser).toPlainText()
    assert "2D convolution layer" in dialog.findChild(help_menu.QTextBrowser).toPlainText()
    dialog.close()
    names = dict(help_menu.versions())
    assert names["tensorflow"] != "not installed" and names["keras"] != "not installed"
    menu_texts = [a.text() for a in window.menuBar().actions()]
    assert "&Help" in menu_texts


def test_context_menus_act_through_commands(qtbot, window):
    from PySide6.QtCore import QPoint, QPointF
    from studio.ui.canvas import menus
    g = window.document.graph
    conv3, _ = node_by_name(window, "conv3")
    window.scene.select_nodes([conv3.id])
    menu = window.edit.show_context_menu("node", conv3.id, QPointF(0, 0), QPoint(0, 0))
    menus.action(menu, "mark_output").trigger()
    assert g.model_outputs()[-1] == conv3.id
    window.undo_stack.undo()
    assert conv3.id not in g.model_outputs()
    menu.close()
    edge = next(e for e in g.edges if e.dst == conv3.id)
    menu = window.edit.show_context_menu("edge", edge, QPointF(0, 0), QPoint(0, 0))
    menus.action(menu, "delete").trigger()
    assert edge not in g.edges
    menu.close()
    window.quick_add.hide()


def test_output_tag_on_the_node_marks_outputs(qtbot, window):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from .helpers import view_point
    g = window.document.graph
    flatten, _ = node_by_name(window, "flatten")
    classes, classes_item = node_by_name(window, "classes")
    assert classes_item.is_output                     # the one open end, shown as the output
    dropout = g.add_node("Dropout", position=(flatten.position[0] + 260, flatten.position[1] + 110))
    g.connect(flatten.id, dropout.id)
    window.flush_updates()
    assert not classes_item.is_output and any("not clear" in p for p in window.document.checker.problems)
    window.view.set_zoom(1.0)
    window.view.centerOn(classes_item)
    tag = view_point(window, classes_item.mapToScene(classes_item.output_toggle_rect().center()))
    QTest.mouseClick(window.view.viewport(), Qt.LeftButton, Qt.NoModifier, tag)
    window.flush_updates()
    assert g.model_outputs() == [classes.id] and classes_item.is_output
    assert "leads to no model output" in window.document.checker.states[dropout.id].warning
    window.undo_stack.undo()
    assert g.model_outputs() == [] and not classes_item.is_output


def test_weight_resets_and_runs_undo_in_the_order_they_happened(qtbot, window, small):
    d = window.document
    _train(qtbot, window, small)
    first = d.weights_by_name("trained")
    window.edit.reset_trained_weights()
    assert not d.has_trained_weights() and not window.training_panel.continue_button.isEnabled()
    panel = _train(qtbot, window, small)
    second = d.weights_by_name("trained")
    window.undo_stack.undo()            # the second run's weights go first
    assert not d.has_trained_weights()
    window.undo_stack.undo()            # then the reset: the first run's weights come back
    assert np.array_equal(d.weights_by_name("trained")["conv1"][0], first["conv1"][0])
    window.undo_stack.redo()
    window.undo_stack.redo()
    assert np.array_equal(d.weights_by_name("trained")["conv1"][0], second["conv1"][0])
    assert panel.continue_button.isEnabled()


def test_closing_mid_run_asks_about_the_weights_it_reached(qtbot, ready_loader, small, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    from .conftest import make_window
    w = make_window(qtbot, ready_loader)
    w.show()
    w.files.save_to(tmp_path / "p.studio")
    w.document.set_loaded_dataset(small)
    w.training_panel.epochs_spin.setValue(50)
    w.files.save_to(tmp_path / "p.studio")
    assert w.training_panel.start(new=True)
    qtbot.waitUntil(lambda: w.training_panel.plotted_points()[1] >= 1, timeout=120_000)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.Discard)
    assert w.close()
    assert asked and "Save the changes" in asked[0]          # the run's weights are a change
    assert not w.training_panel.is_running()
