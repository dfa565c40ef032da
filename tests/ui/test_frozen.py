"""Freezing a layer from the inspector: one undo step, drawn frozen on the canvas."""

from PySide6.QtWidgets import QCheckBox

from tests.ui.helpers import node_by_name


def test_trainable_switch_freezes_in_one_undo_step(qtbot, window):
    g = window.document.graph
    conv1, item = node_by_name(window, "conv1")
    window.scene.select_nodes([conv1.id])
    field = window.inspector.fields["trainable"]
    assert isinstance(field.editor, QCheckBox) and field.editor.isChecked()
    assert not item.frozen
    steps = window.undo_stack.count()
    field.editor.setChecked(False)
    window.flush_updates()
    assert g.nodes[conv1.id].config["trainable"] is False
    assert window.undo_stack.count() == steps + 1
    _, item = node_by_name(window, "conv1")
    assert item.frozen
    state = window.scene.checker.states[conv1.id]
    assert state.params > 0 and state.trainable_params == 0
    window.view.centerOn(item)
    assert not window.view.viewport().grab().isNull()  # paints the frozen node (hatched, tagged)
    window.undo_stack.undo()
    window.flush_updates()
    _, item = node_by_name(window, "conv1")
    assert g.nodes[conv1.id].config.get("trainable", True) is True and not item.frozen
    assert window.scene.checker.states[conv1.id].trainable_params == window.scene.checker.states[conv1.id].params
