"""The real window, driven with mouse events and its own actions."""

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QSpinBox

from studio.engine.project import load_project
from studio.ui import commands
from studio.ui.canvas.view import LAYER_MIME

from .conftest import make_window
from .helpers import drag_wire, node_by_name, view_point


def test_starter_project_is_shown_checked(window):
    assert len(window.scene.node_items) == 9
    assert window.params_label.text() == "Total params: 104,202"
    assert window.device_label.text().startswith("Device: ")
    conv1, item = node_by_name(window, "conv1")
    assert "Conv2D  32 3×3 relu" == item.title
    assert "(None, 26, 26, 32)" in item.status and "320 params" in item.status
    labels = {e.label for e in window.scene.edge_items.values()}
    assert "(None, 1152)" in labels
    assert "def build_model" in window.code_view.toPlainText() or window.code_view.regenerate() is None


def _drop_layer(qtbot, window, class_name, view_pos: QPoint):
    """Drop a palette item on the canvas exactly as a drag-and-drop delivers it."""
    item = window.palette.items[class_name]
    md = window.palette.tree.mimeData([item])
    assert md.hasFormat(LAYER_MIME)
    vp = window.view.viewport()
    enter = QDragEnterEvent(view_pos, Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(view_pos, Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(vp, move)
    drop = QDropEvent(QPointF(view_pos), Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(vp, drop)


def test_drag_from_palette_to_canvas(qtbot, window):
    before = len(window.document.graph.nodes)
    target = QPoint(window.view.viewport().width() // 4, window.view.viewport().height() // 2)
    _drop_layer(qtbot, window, "Dropout", target)
    assert len(window.document.graph.nodes) == before + 1
    node = list(window.document.graph.nodes.values())[-1]
    assert node.class_name == "Dropout"
    centre = window.scene.node_items[node.id].sceneBoundingRect().center()
    assert (window.view.mapFromScene(centre) - target).manhattanLength() < 20
    window.undo_stack.undo()
    assert len(window.document.graph.nodes) == before


def test_palette_search_filters(window):
    window.palette.search.setText("lstm")
    assert set(window.palette.visible_names()) >= {"LSTM", "ConvLSTM2D"}
    assert "Dense" not in window.palette.visible_names()


def test_wire_two_ports_with_the_mouse(qtbot, window):
    g = window.document.graph
    flatten, f_item = node_by_name(window, "flatten")
    x, y = flatten.position
    window.add_layer("Dense", QPointF(x + 400, y + 200))
    dense = list(g.nodes.values())[-1]
    window.scene.clearSelection()
    window.view.centerOn(QPointF(x + 200, y + 100))
    d_item = window.scene.node_items[dense.id]
    drag_wire(qtbot, window, f_item, 0, d_item, 0)
    assert g.inputs_of(dense.id) == {0: (flatten.id, 0)}
    window.flush_updates()
    assert window.scene.checker.states[dense.id].output == (None, 32)
    window.undo_stack.undo()
    assert g.inputs_of(dense.id) == {}


def test_bad_wire_is_refused_with_the_reason(qtbot, window):
    g = window.document.graph
    edges = set(g.edges)
    conv1, c1 = node_by_name(window, "conv1")
    conv2, c2 = node_by_name(window, "conv2")
    window.view.centerOn(c2)
    drag_wire(qtbot, window, c1, 0, c2, 0)  # conv2's input is already fed by pool1
    assert g.edges == edges
    assert "already connected" in window.scene.last_refusal
    assert window.scene._refusal_item.scene() is window.scene  # shown on the canvas
    assert "already connected" in window.scene._refusal_item.text()
    # a cycle: the classifier back into a free Add port fed by conv1
    window.add_layer("Add", QPointF(conv1.position[0] + 300, conv1.position[1] + 60))
    add = list(g.nodes.values())[-1]
    g.connect(conv1.id, add.id, 0)
    classes, cl = node_by_name(window, "classes")
    window.view.centerOn(window.scene.node_items[add.id])
    drag_wire(qtbot, window, cl, 0, window.scene.node_items[add.id], 1)
    assert g.inputs_of(add.id).get(1) == (classes.id, 0)  # no cycle there: allowed
    pool1, p1 = node_by_name(window, "pool1")
    window.view.centerOn(c1)
    edges = set(g.edges)
    drag_wire(qtbot, window, window.scene.node_items[add.id], 0, c1, 0)
    assert g.edges == edges and window.scene.last_refusal


def test_edit_parameter_in_inspector_rechecks_and_undoes(qtbot, window):
    g = window.document.graph
    conv1, item = node_by_name(window, "conv1")
    window.scene.select_nodes([conv1.id])
    field = window.inspector.fields["filters"]
    assert isinstance(field.editor, QSpinBox) and field.editor.minimum() == 1
    field.editor.setValue(16)
    window.flush_updates()
    assert g.nodes[conv1.id].config["filters"] == 16
    assert window.scene.checker.states[conv1.id].params == 160
    assert "(None, 26, 26, 16)" in item.status
    assert window.params_label.text() != "Total params: 104,202"
    window.undo_stack.undo()
    window.flush_updates()
    assert g.nodes[conv1.id].config["filters"] == 32
    assert window.params_label.text() == "Total params: 104,202"
    window.undo_stack.redo()
    assert g.nodes[conv1.id].config["filters"] == 16


def test_text_field_validates_as_typed(qtbot, window):
    conv1, _ = node_by_name(window, "conv1")
    window.scene.select_nodes([conv1.id])
    field = window.inspector.fields["kernel_size"]
    editor = field.editor
    editor.setFocus()
    editor.selectAll()
    QTest.keyClicks(editor, "5, x")
    assert field.error.isVisibleTo(window.inspector) and "'x' is not a number" in field.error.text()
    editor.selectAll()
    QTest.keyClicks(editor, "5, 5")
    QTest.keyClick(editor, Qt.Key_Return)
    assert window.document.graph.nodes[conv1.id].config["kernel_size"] == [5, 5]


def test_rename_and_multi_selection_edit(qtbot, window):
    g = window.document.graph
    conv1, _ = node_by_name(window, "conv1")
    conv2, _ = node_by_name(window, "conv2")
    window.scene.select_nodes([conv1.id])
    window.inspector.name_edit.setText("first_conv")
    window.inspector.name_edit.editingFinished.emit()
    assert g.nodes[conv1.id].name == "first_conv"
    window.scene.select_nodes([conv1.id, conv2.id])
    combo = window.inspector.fields["activation"].editor
    combo.setCurrentIndex(combo.findData("tanh"))
    assert g.nodes[conv1.id].config["activation"] == g.nodes[conv2.id].config["activation"] == "tanh"
    window.undo_stack.undo()
    assert g.nodes[conv1.id].config["activation"] == g.nodes[conv2.id].config["activation"] == "relu"


def test_delete_with_edges_is_one_undo_step(qtbot, window):
    g = window.document.graph
    before = g.to_dict()
    pool1, _ = node_by_name(window, "pool1")
    window.scene.select_nodes([pool1.id])
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key_Delete)
    assert pool1.id not in g.nodes and len(g.edges) == len(before["edges"]) - 2
    window.undo_stack.undo()
    assert g.to_dict() == before


def test_move_is_one_step_per_drag(qtbot, window):
    g = window.document.graph
    flatten, item = node_by_name(window, "flatten")
    window.view.centerOn(item)
    vp = window.view.viewport()
    start = view_point(window, item.sceneBoundingRect().center() + QPointF(0, 8))
    original = g.nodes[flatten.id].position
    steps_before = window.undo_stack.count()
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, start)
    for k in range(1, 6):
        QTest.mouseMove(vp, start + QPoint(20 * k, 5 * k))
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, start + QPoint(100, 25))
    moved = g.nodes[flatten.id].position
    assert moved != original
    # the whole drag is exactly one undo step, recorded on release
    assert window.undo_stack.count() == steps_before + 1
    assert window.undo_stack.text(steps_before).startswith("Move")
    window.undo_stack.undo()
    assert g.nodes[flatten.id].position == original
    assert tuple(map(float, item.pos().toTuple())) == original


def test_copy_paste_duplicate_and_select_all(qtbot, window):
    g = window.document.graph
    conv2, _ = node_by_name(window, "conv2")
    pool2, _ = node_by_name(window, "pool2")
    window.scene.select_nodes([conv2.id, pool2.id])
    window.edit.copy_selection()
    window.edit.paste()
    assert len(g.nodes) == 11
    new = window.scene.selected_node_ids()
    assert len(new) == 2 and {g.nodes[i].name for i in new} == {"conv2_1", "pool2_1"}
    assert any(e.src in new and e.dst in new for e in g.edges)  # the inner edge came along
    window.edit.duplicate()
    assert len(g.nodes) == 13
    window.edit.select_all()
    assert len(window.scene.selected_node_ids()) == 13


def test_paste_between_projects(qtbot, window, ready_loader):
    conv1, _ = node_by_name(window, "conv1")
    window.scene.select_nodes([conv1.id])
    window.edit.copy_selection()
    other = make_window(qtbot, ready_loader)
    other.files.new_project(None)
    other.edit.paste()
    nodes = list(other.document.graph.nodes.values())
    assert [n.class_name for n in nodes] == ["Conv2D"] and nodes[0].config["filters"] == 32
    other.undo_stack.setClean()


def test_fix_is_one_click(qtbot, window):
    g = window.document.graph
    flatten, _ = node_by_name(window, "flatten")
    window.scene.select_nodes([flatten.id])
    window.edit.delete_selection()
    window.flush_updates()
    classes, item = node_by_name(window, "classes")
    assert g.inputs_of(classes.id) == {}
    conv3, c3 = node_by_name(window, "conv3")
    window.undo_stack.push(commands.Connect(g, conv3.id, 0, classes.id, 0))
    window.flush_updates()
    state = window.scene.checker.states[classes.id]
    assert state.warning and state.fix.class_name == "Flatten"
    assert item.has_fix
    window.view.centerOn(item)
    vp = window.view.viewport()
    button = view_point(window, item.mapToScene(item.fix_button_rect().center()))
    QTest.mouseClick(vp, Qt.LeftButton, Qt.NoModifier, button)
    window.flush_updates()
    assert window.scene.checker.states[classes.id].output == (None, 10)
    inserted = g.nodes[g.inputs_of(classes.id)[0][0]]
    assert inserted.class_name == "Flatten"
    window.undo_stack.undo()
    assert g.inputs_of(classes.id) == {0: (conv3.id, 0)}


def test_save_and_reopen(qtbot, window, tmp_path, ready_loader):
    conv1, _ = node_by_name(window, "conv1")
    window.undo_stack.push(commands.set_param_command(
        window.document.graph, [conv1.id], "filters", 48))
    path = tmp_path / "my model.studio"
    assert window.files.save_to(path)
    assert not window.is_modified() and "my model.studio" in window.windowTitle()
    reopened = make_window(qtbot, ready_loader)
    reopened.files.open_files([str(path)])
    assert reopened.document.graph.to_dict() == window.document.graph.to_dict()
    assert reopened.document.graph.node_by_name("conv1").config["filters"] == 48
    assert str(path) in reopened.files.recent_files()
    assert load_project(path).graph.to_dict() == window.document.graph.to_dict()


def test_open_broken_file_shows_message_and_keeps_project(qtbot, window, tmp_path, monkeypatch):
    bad = tmp_path / "bad.studio"
    bad.write_text("{ not json")
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    before = window.document.graph.to_dict()
    window.files.open_files([str(bad)])
    assert shown and "not valid JSON" in shown[0]
    assert window.document.graph.to_dict() == before


def test_close_with_unsaved_changes_asks(qtbot, window, monkeypatch):
    conv1, _ = node_by_name(window, "conv1")
    window.scene.select_nodes([conv1.id])
    window.edit.delete_selection()
    answers = [QMessageBox.Cancel]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers[0])
    assert not window.close()
    answers[0] = QMessageBox.Discard
    assert window.close()


def test_templates_open_from_menu(qtbot, window):
    window.files.new_project("ticket_router")
    assert len(window.document.graph.input_nodes()) == 3
    window.flush_updates()
    assert window.scene.checker.errors() == []


def test_keyboard_shortcuts_follow_conventions(window):
    def keys(action):
        return {s.toString() for s in action.shortcuts()}
    assert "Ctrl+Z" in keys(window.edit.act_undo)
    assert {"Ctrl+Shift+Z", "Ctrl+Y"} & keys(window.edit.act_redo)
    assert "Ctrl+S" in keys(window.files.act_save)
    assert "Del" in keys(window.edit.act_delete)
    assert {"Ctrl+C"} <= keys(window.edit.act_copy) and "Ctrl+V" in keys(window.edit.act_paste)
    assert "Ctrl+D" in keys(window.edit.act_duplicate) and "Ctrl+A" in keys(window.edit.act_select_all)
    assert "F" in keys(window.act_fit)


def test_dropping_a_project_file_opens_it(qtbot, window, tmp_path, ready_loader):
    from PySide6.QtCore import QUrl
    from studio.engine import templates
    path = tmp_path / "dropped.studio"
    templates.build("bilstm_text").save(path)
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(path))])
    vp = window.view.viewport()
    pos = QPoint(100, 100)
    QApplication.sendEvent(vp, QDragEnterEvent(pos, Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier))
    QApplication.sendEvent(vp, QDragMoveEvent(pos, Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier))
    QApplication.sendEvent(vp, QDropEvent(QPointF(pos), Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier))
    assert window.document.path == path
    assert window.document.graph.node_by_name("bilstm") is not None


def test_code_tab_follows_edits(qtbot, window):
    conv1, _ = node_by_name(window, "conv1")
    qtbot.waitUntil(lambda: "keras.Model" in window.code_view.toPlainText(), timeout=5000)
    window.undo_stack.push(commands.set_param_command(window.document.graph, [conv1.id], "filters", 24))
    # no explicit regeneration: the Code tab follows the document by itself
    qtbot.waitUntil(lambda: "Conv2D(filters=24" in window.code_view.toPlainText(), timeout=5000)
    window.undo_stack.undo()
    qtbot.waitUntil(lambda: "Conv2D(filters=24" not in window.code_view.toPlainText(), timeout=5000)
    # a model that cannot be built gets a plain reason, not an exception text
    g = window.document.graph
    window.undo_stack.push(commands.set_param_command(g, [conv1.id], "filters", -3))
    qtbot.waitUntil(lambda: "appears once the model is valid" in window.code_view.toPlainText(), timeout=5000)
    assert "conv1" in window.code_view.toPlainText() and "Traceback" not in window.code_view.toPlainText()
