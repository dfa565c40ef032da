"""Operation nodes in the window: an Operations palette section, constants edited in the
inspector (one undo step each), and the constant's port named on the canvas."""

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from studio.engine import catalog
from tests.ui.helpers import node_by_name
from tests.ui.test_window import _drop_layer


def test_palette_has_an_operations_section(window):
    top = window.palette.categories["Operations"]
    names = [top.child(k).data(0, Qt.UserRole) for k in range(top.childCount())]
    assert names == catalog.names("Operations") and "ops.NotEqual" in names
    window.palette.search.setText("not_equal")
    assert "ops.NotEqual" in window.palette.visible_names()


def test_an_operation_dropped_wired_and_its_constant_edited(qtbot, window):
    g = window.document.graph
    target = QPoint(window.view.viewport().width() // 4, window.view.viewport().height() // 2)
    _drop_layer(qtbot, window, "ops.Add", target)
    add = list(g.nodes.values())[-1]
    assert add.class_name == "ops.Add" and add.name == "add"
    dense, _ = node_by_name(window, "classes")
    g.connect(dense.id, add.id, 0)         # the engine edit the wire gesture makes (tested in test_window)
    window.scene.select_nodes([add.id])
    field = window.inspector.fields["x2"]
    steps = window.undo_stack.count()
    field.editor.setFocus()
    field.editor.selectAll()
    QTest.keyClicks(field.editor, "3.0")
    QTest.keyClick(field.editor, Qt.Key_Return)
    window.flush_updates()
    assert g.nodes[add.id].config["x2"] == 3.0
    assert window.undo_stack.count() == steps + 1
    item = window.scene.node_items[add.id]
    assert item.port_names == ["x1", "x2 = 3.0"] and item.filled == {1}
    window.view.centerOn(item)
    assert not window.view.viewport().grab().isNull()    # paints the constant's port
    state = window.scene.checker.states[add.id]
    assert state.error is None and state.outputs == [(None, 10)]
    window.code_view.regenerate()
    assert "add = keras.src.ops.numpy.Add(name='add')(classes, 3.0)" in window.code_view.toPlainText()
    window.undo_stack.undo()
    window.flush_updates()
    assert "x2" not in g.nodes[add.id].config


def test_an_index_is_edited_in_python_syntax(qtbot, window):
    g = window.document.graph
    dense, _ = node_by_name(window, "classes")
    item = g.add_node("ops.GetItem")
    g.connect(dense.id, item.id)
    window.flush_updates()
    window.scene.select_nodes([item.id])
    field = window.inspector.fields["key"]
    assert field.editor.text() == "[:, 0]"
    field.editor.selectAll()
    QTest.keyClicks(field.editor, "[:, 2:]")
    QTest.keyClick(field.editor, Qt.Key_Return)
    window.flush_updates()
    assert g.nodes[item.id].config["key"][1] == {"class_name": "__slice__",
                                                  "config": {"start": 2, "stop": None, "step": None}}
    assert window.scene.checker.states[item.id].outputs == [(None, 8)]
    field = window.inspector.fields["key"]
    field.editor.selectAll()
    QTest.keyClicks(field.editor, "[:, x]")
    assert "'x' is not an index" in field.error.text()


def test_help_on_an_operation_is_its_keras_ops_function():
    import keras  # noqa: F401 - help shows Keras's text once Keras is loaded

    from studio.ui.help_menu import layer_help_html

    text = layer_help_html("ops.NotEqual")
    assert "ops.NotEqual" in text and "Args:" in text and "x1" in text
