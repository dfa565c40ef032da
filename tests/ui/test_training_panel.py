"""Training from the window: live curves, pause, resume, stop, continue, close mid-run."""

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from .conftest import make_window
from .helpers import sample_slice


@pytest.fixture(scope="module")
def small():
    return sample_slice(2048, 256)


def _start(qtbot, window, small, epochs=40, batch=32):
    panel = window.training_panel
    window.document.set_loaded_dataset(small)
    panel.epochs_spin.setValue(epochs)
    panel.batch_spin.setValue(batch)
    assert panel.start(new=True)
    qtbot.waitUntil(lambda: panel.plotted_points()[0] > 3, timeout=120_000)
    return panel


def test_train_pause_resume_stop_continue(qtbot, window, small):
    panel = _start(qtbot, window, small)
    assert panel.state == "running" and not panel.train_button.isEnabled()
    qtbot.waitUntil(lambda: panel.plotted_points()[1] >= 1, timeout=120_000)  # an epoch point
    assert "samples/s" in panel.progress_label.text() and "left" in panel.progress_label.text()
    panel.toggle_pause()
    assert panel.state == "paused" and panel.pause_button.text() == "Resume"
    qtbot.wait(300)
    frozen = len(panel.trainer.batch_losses)
    qtbot.wait(500)
    assert len(panel.trainer.batch_losses) == frozen
    panel.lr_spin.setValue(0.0005)  # while paused
    panel.toggle_pause()
    qtbot.waitUntil(lambda: len(panel.trainer.batch_losses) > frozen + 3, timeout=60_000)
    panel.stop()
    qtbot.waitUntil(lambda: not panel.is_running() and panel.state == "idle", timeout=120_000)
    assert panel.trainer.status == "stopped"
    # the starter decays its rate along a cosine: the new rate applies from the resume on
    assert panel.trainer.config.learning_rate == pytest.approx(0.0005)
    assert 0 < float(panel.trainer.model.optimizer.learning_rate.numpy()) <= 0.0005
    run = panel.trainer.run.path
    assert json.loads((run / "run.json").read_text())["status"] == "stopped"
    assert panel.runs_list.count() == 1 and window.document.has_trained_weights()  # weights reached are kept
    epochs_before = panel.trainer.epochs_done
    assert panel.continue_button.isEnabled()
    panel.epochs_spin.setValue(1)
    panel.start(new=False)
    qtbot.waitUntil(lambda: not panel.is_running() and panel.state == "idle", timeout=120_000)
    history = [e["epoch"] for e in panel.trainer.history_epochs]
    assert history[-1] == epochs_before and history == sorted(history)
    assert panel.plotted_points()[1] == len(history)


def test_mismatch_is_pinned_before_training(qtbot, window, small, _no_modal_dialogs):
    g = window.document.graph
    classes = g.node_by_name("classes")
    g.set_param(classes.id, "units", 7)
    window.flush_updates()
    panel = window.training_panel
    window.document.set_loaded_dataset(small)
    assert not panel.start(new=True)
    assert not panel.is_running()
    assert any("10 classes" in m for m in _no_modal_dialogs)
    assert window.scene.selected_node_ids() == [classes.id]


def test_closing_the_window_mid_run_stops_cleanly(qtbot, ready_loader, small, monkeypatch):
    w = make_window(qtbot, ready_loader)
    w.show()
    panel = _start(qtbot, w, small, epochs=200)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)
    assert w.close()
    assert not panel.is_running()
    run = Path(panel.trainer.run.path)
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "stopped" and (run / "weights_final.h5").exists()
    assert (run / "history_batches.csv").exists()


def test_advanced_settings_reach_the_project(qtbot, window, small):
    panel = window.training_panel
    panel.more.toggle.setChecked(True)
    panel.more.early.setValue(2)
    panel.more.device.setCurrentIndex(panel.more.device.findData("cpu"))
    panel.more.validation.setCurrentIndex(panel.more.validation.findData("split"))
    window.document.set_loaded_dataset(small)
    panel.epochs_spin.setValue(1)
    assert panel.start(new=True)
    qtbot.waitUntil(lambda: not panel.is_running() and panel.state == "idle", timeout=120_000)
    t = window.document.training
    assert t.early_stopping == 2 and t.device == "cpu" and t.validation == "split"
    assert panel.trainer.config.early_stopping == 2
