"""Mouse helpers that drive the real canvas through its viewport."""

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest


def view_point(window, scene_pos: QPointF) -> QPoint:
    return window.view.mapFromScene(scene_pos)


def drag_wire(qtbot, window, src_item, src_port, dst_item, dst_port):
    """Press on an output port, move across the canvas, release on an input port."""
    vp = window.view.viewport()
    start = view_point(window, src_item.output_port_pos(src_port))
    end = view_point(window, dst_item.input_port_pos(dst_port))
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, start)
    mid = QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2)
    QTest.mouseMove(vp, mid)
    QTest.mouseMove(vp, end)
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, end)


def node_by_name(window, name):
    node = window.document.graph.node_by_name(name)
    return node, window.scene.node_items[node.id]
