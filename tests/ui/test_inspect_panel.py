"""The Inside tab in the real window: feature maps of a clicked node, Grad-CAM, filter patterns, histograms."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest


from .helpers import node_by_name, sample_slice, view_point


@pytest.fixture(scope="module")
def small():
    return sample_slice(1024, 128)


def trained_inside(qtbot, window, small):
    panel = window.training_panel
    window.document.set_loaded_dataset(small)
    panel.epochs_spin.setValue(1)
    assert panel.start(new=True)
    qtbot.waitUntil(lambda: not panel.is_running() and panel.state == "idle", timeout=120_000)
    inside = window.inspect_panel
    window.bottom_tabs.setCurrentWidget(inside)
    qtbot.waitUntil(lambda: inside.keeper.built is not None and inside.keeper.current()
                    and not inside.keeper.busy(), timeout=60_000)
    return inside


def click_node(qtbot, window, name):
    """A real click on the node's title on the canvas."""
    node, item = node_by_name(window, name)
    window.view.centerOn(item)
    at = view_point(window, item.sceneBoundingRect().center())
    QTest.mouseClick(window.view.viewport(), Qt.LeftButton, Qt.NoModifier, at)
    return node


def wait_result(qtbot, inside, node_name):
    qtbot.waitUntil(lambda: inside.result.get("node") == node_name and inside._task is None, timeout=20_000)
    return inside.result


def test_clicking_conv1_shows_its_32_feature_maps_and_grad_cam(qtbot, window, small):
    inside = trained_inside(qtbot, window, small)
    inside.show_held_out(3)
    assert "held-out #3" in inside.example_label.text()
    node = click_node(qtbot, window, "conv1")
    assert window.scene.selected_node_ids() == [node.id]          # the node is highlighted on the canvas
    result = wait_result(qtbot, inside, "conv1")
    assert result["output"].shape == (26, 26, 32)
    assert len(inside._map_items) == 32
    assert all(item.image is not None and item.image.shape == (26, 26) for item in inside._map_items)
    assert "32 of 32 feature maps" in inside.output_title.text()
    cam = result["cam"]
    assert cam.layer == "conv3" and cam.heatmap.shape == (28, 28)
    assert inside.cam_image.image is not None and inside.cam_image.image.shape == (28, 28, 3)
    assert "predicted class" in inside.cam_caption.text() and "conv3" in inside.cam_caption.text()
    assert inside.prediction_label.text().startswith("predicted ")
    # weights of the clicked layer
    hists = result["histograms"]
    assert [h.name for h in hists] == ["kernel", "bias"]
    assert int(hists[0].counts.sum()) == 3 * 3 * 1 * 32
    # ... and as the run recorded them at the end of its epoch
    assert inside.hist_epoch.isEnabled() and inside.hist_epoch.maximum() == 1
    inside.hist_epoch.setValue(1)
    assert "end of epoch 1 of run" in inside.hist_title.text()
    recorded = inside.result["histograms"]
    assert int(recorded[0].counts.sum()) == 3 * 3 * 1 * 32 and int(recorded[1].counts.sum()) == 32
    inside.hist_epoch.setValue(0)
    assert "weights now" in inside.hist_title.text()

    # another class and another layer for Grad-CAM
    inside.cam_class.setCurrentIndex(inside.cam_class.findData(2))
    inside.cam_layer.setCurrentIndex(inside.cam_layer.findData("conv2"))
    qtbot.waitUntil(lambda: inside.result.get("cam") is not None and inside.result["cam"].layer == "conv2"
                    and inside.result["cam"].class_index == 2 and inside._task is None, timeout=20_000)
    assert inside.result["cam"].heatmap.shape == (28, 28)
    assert "a chosen class" in inside.cam_caption.text() or inside.result["cam"].predicted == 2

    # a dense layer is drawn as bars; a layer without weights says so
    click_node(qtbot, window, "classes")
    result = wait_result(qtbot, inside, "classes")
    assert result["output"].shape == (10,)
    assert np.allclose(result["output"], result["probabilities"], atol=1e-6)
    assert "10 values" in inside.output_title.text()
    click_node(qtbot, window, "pool1")
    wait_result(qtbot, inside, "pool1")
    assert "no weights" in inside.hist_title.text()


def test_filter_patterns_for_two_filters_finish(qtbot, window, small):
    inside = trained_inside(qtbot, window, small)
    inside.side_tabs.setCurrentIndex(1)
    inside.pattern_layer.setCurrentIndex(inside.pattern_layer.findData("conv1"))
    inside.pattern_count.setValue(2)
    qtbot.mouseClick(inside.pattern_button, Qt.LeftButton)
    assert inside.patterns_running() and inside.pattern_stop.isEnabled()
    qtbot.waitUntil(lambda: not inside.patterns_running(), timeout=60_000)
    assert sorted(inside.patterns) == [0, 1]
    assert all(p.shape == (28, 28, 1) for p in inside.patterns.values())
    assert inside.pattern_progress.value() == inside.pattern_progress.maximum() == 60
    assert "2 filter patterns of conv1" in inside.pattern_caption.text()
    assert inside.pattern_button.isEnabled() and not inside.pattern_stop.isEnabled()

    # Stop ends a longer run early
    inside.pattern_count.setValue(32)
    assert inside.start_patterns()
    qtbot.waitUntil(lambda: inside.pattern_progress.value() > 0, timeout=20_000)
    qtbot.mouseClick(inside.pattern_stop, Qt.LeftButton)
    qtbot.waitUntil(lambda: not inside.patterns_running(), timeout=20_000)
    assert len(inside.patterns) < 32 and "(stopped)" in inside.pattern_caption.text()


def test_closing_with_patterns_running_stops_them(qtbot, window, small):
    from studio.ui.predict_pad import Task
    inside = trained_inside(qtbot, window, small)
    inside.pattern_count.setValue(64)
    assert inside.start_patterns()
    task = inside._pattern_task
    inside.deleteLater()                                   # as when the window goes
    qtbot.waitUntil(lambda: task._stop, timeout=2_000)     # told to stop, not left to run 1,920 steps
    qtbot.waitUntil(lambda: task not in Task.running, timeout=5_000)
    assert task.isFinished()


def test_without_data_or_training_it_says_what_to_do(qtbot, window):
    inside = window.inspect_panel
    window.bottom_tabs.setCurrentWidget(inside)
    qtbot.waitUntil(lambda: inside.keeper.built is not None and not inside.keeper.busy(), timeout=60_000)
    assert inside.load_button.isVisible()                         # the project names the sample; not loaded yet
    assert "load the data" in inside.example_label.text().lower()
    assert "fresh" in inside.status.text() or "Pick an example" in inside.status.text()
    qtbot.mouseClick(inside.load_button, Qt.LeftButton)
    assert window.document.dataset is not None and not inside.load_button.isVisible()
    assert "held-out #0" in inside.example_label.text()
