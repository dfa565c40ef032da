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


def sample_slice(n_train: int, n_test: int):
    """The first digits of the bundled sample: a small dataset that trains in seconds."""
    from studio.engine import datasets
    ds = datasets.bundled_sample()
    return datasets.Dataset("small", ds.x_train[:n_train], ds.y_train[:n_train], ds.x_test[:n_test],
                            ds.y_test[:n_test], ds.class_names, "slice")


def train_in_window(qtbot, window, data, epochs=1, new=True):
    """Train from the Training tab, as a person would, and wait until the run has ended."""
    panel = window.training_panel
    window.document.set_loaded_dataset(data)
    panel.epochs_spin.setValue(epochs)
    assert panel.start(new=new)
    qtbot.waitUntil(lambda: not panel.is_running() and panel.state == "idle", timeout=120_000)
    return panel
