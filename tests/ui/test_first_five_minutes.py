"""The README's "first five minutes", walked as written, in the real window."""

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from .helpers import drag_wire, node_by_name, view_point
from .test_window import _drop_layer


def _click(window, item, scene_pos=None):
    window.view.centerOn(item)
    pos = view_point(window, scene_pos if scene_pos is not None else item.sceneBoundingRect().center())
    QTest.mouseClick(window.view.viewport(), Qt.LeftButton, Qt.NoModifier, pos)


def test_the_first_five_minutes(qtbot, window, tmp_path):
    g = window.document.graph
    # 1. the starter convnet, checked: shapes, parameter counts, total, code
    assert window.params_label.text() == "Total params: 104,202"
    qtbot.waitUntil(lambda: "def build_model" in window.code_view.toPlainText(), timeout=5000)

    # 2. click conv2, set filters to 32 in the inspector: shapes, counts and code follow; undo, redo
    conv2, conv2_item = node_by_name(window, "conv2")
    _click(window, conv2_item)
    assert window.inspector.node_ids == [conv2.id]
    window.inspector.fields["filters"].editor.setValue(32)
    window.flush_updates()
    assert "(None, 11, 11, 32)" in conv2_item.status and window.params_label.text() != "Total params: 104,202"
    qtbot.waitUntil(lambda: "Conv2D(filters=32" in window.code_view.toPlainText().split("conv2")[0][-80:]
                    or "filters=32, kernel_size" in window.code_view.toPlainText(), timeout=5000)
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key_Z, Qt.ControlModifier)
    window.flush_updates()
    assert g.nodes[conv2.id].config["filters"] == 64 and window.params_label.text() == "Total params: 104,202"
    QTest.keyClick(window.view, Qt.Key_Y, Qt.ControlModifier)
    assert g.nodes[conv2.id].config["filters"] == 32

    # 3. drag Dropout from the palette; wire flatten's output port to it
    vp = window.view.viewport()
    _drop_layer(qtbot, window, "Dropout", QPoint(vp.width() * 3 // 4, vp.height() // 2))
    dropout, dropout_item = node_by_name(window, "dropout")
    flatten, flatten_item = node_by_name(window, "flatten")
    window.view.centerOn(flatten_item)
    drag_wire(qtbot, window, flatten_item, 0, dropout_item, 0)
    assert g.inputs_of(dropout.id) == {0: (flatten.id, 0)}

    # 4. delete flatten, wire conv3 straight into classes: the Dense is flagged; its fix inserts a Flatten
    flatten_item.setSelected(True)
    window.scene.select_nodes([flatten.id])
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key_Delete)
    assert flatten.id not in g.nodes
    conv3, conv3_item = node_by_name(window, "conv3")
    classes, classes_item = node_by_name(window, "classes")
    window.view.centerOn(conv3_item)
    drag_wire(qtbot, window, conv3_item, 0, classes_item, 0)
    window.flush_updates()
    state = window.document.checker.states[classes.id]
    assert state.warning and state.fix.class_name == "Flatten" and classes_item.has_fix
    # the dropout left without an input is a warning and no part of the model, not an error
    assert window.document.checker.states[dropout.id].error is None
    _click(window, classes_item, classes_item.mapToScene(classes_item.fix_button_rect().center()))
    window.flush_updates()
    assert g.nodes[g.inputs_of(classes.id)[0][0]].class_name == "Flatten"
    assert window.document.errors() == []

    # 5. press Train (F5): it trains on the bundled digits in the background
    panel = window.training_panel
    panel.epochs_spin.setValue(1)
    QTest.keyClick(window, Qt.Key_F5)
    qtbot.waitUntil(lambda: panel.state == "running", timeout=30_000)
    qtbot.waitUntil(lambda: not panel.is_running() and panel.state == "idle", timeout=300_000)
    assert panel.trainer.status == "finished"
    assert panel.trainer.history_epochs[-1]["val_accuracy"] > 0.9
    assert len(panel.trainer.model.outputs) == 1          # the stray Dropout did not become an output
    assert window.document.has_trained_weights()

    # 6. Ctrl+S saves the .studio file (named once, as the Save dialog would)
    window.files.save_to(tmp_path / "first.studio")
    assert not window.is_modified() and (tmp_path / "first.studio").exists()
