"""The Runs tab: two real runs with a parameter changed between them, compared."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsRectItem

from studio.engine import templates
from studio.ui import commands
from studio.ui.runs_panel import COLUMNS, KIND_COLORS

from .helpers import sample_slice, train_in_window as _train


@pytest.fixture(scope="module")
def small():
    return sample_slice(512, 128)




@pytest.fixture
def two_runs(qtbot, window, small, tmp_path):
    """The starter trained twice: conv3 with 128 filters for one epoch, then 96 filters and a
    higher learning rate for two."""
    window.files.save_to(tmp_path / "p.studio")
    _train(qtbot, window, small)
    d = window.document
    conv3 = d.graph.node_by_name("conv3")
    window.undo_stack.push(commands.set_param_command(d.graph, [conv3.id], "filters", 96))
    window.training_panel.lr_spin.setValue(0.002)
    window.flush_updates()
    _train(qtbot, window, small, epochs=2)
    panel = window.runs_panel
    window.bottom_tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=5000)
    return panel


def _cells(panel, row):
    return {COLUMNS[c]: panel.table.item(row, c).text() for c in range(len(COLUMNS))}


def test_the_table_shows_each_runs_settings_and_figures(qtbot, window, two_runs):
    panel = two_runs
    rows = sorted((_cells(panel, r) for r in range(2)), key=lambda c: c["When"])
    assert [r["Epochs"] for r in rows] == ["1", "2"]
    assert [r["LR"] for r in rows] == ["0.001 cos", "0.002 cos"]
    assert all(r["Optimizer"] == "rmsprop" and r["Batch"] == "64" for r in rows)
    assert all(r["Status"] == "finished" and r["Device"] for r in rows)
    for run in window.document.runs:
        row = next(r for r in range(2) if panel.table.item(r, 0).data(Qt.UserRole + 1) == run["path"])
        best_loss = min(e["val_loss"] for e in run["history"])
        assert panel.table.item(row, 5).data(Qt.UserRole) == best_loss
        assert _cells(panel, row)["Val acc"] == f"{max(e['val_accuracy'] for e in run['history']):.4f}"
    panel.table.sortItems(4, Qt.DescendingOrder)          # epochs, as numbers
    assert _cells(panel, 0)["Epochs"] == "2"
    panel.table.sortItems(0, Qt.AscendingOrder)
    assert _cells(panel, 0)["Epochs"] == "1"


def test_selecting_runs_overlays_curves_and_two_runs_show_the_diff_on_the_canvas(qtbot, window, two_runs):
    panel = two_runs
    d = window.document
    older, newer = sorted(d.runs, key=lambda r: r["started"])
    panel.select_runs([newer["path"]])
    assert len(panel.curves) == 2                       # val loss and val accuracy of one run
    assert panel.diff is None and not panel.highlights.items
    xs, ys = panel.curves[0].getData()
    assert list(xs) == [1, 2] and list(ys) == [e["val_loss"] for e in newer["history"]]
    panel.select_runs([older["path"], newer["path"]])
    assert len(panel.curves) == 4
    lines = [panel.diff_list.item(k).text() for k in range(panel.diff_list.count())]
    assert "~ conv3 (Conv2D): filters: 128 → 96" in lines
    assert "training learning_rate: 0.001 → 0.002" in lines and "training epochs: 1 → 2" in lines
    assert not panel.diff.added and not panel.diff.removed
    # drawn on the canvas: a coloured outline on conv3, a child of its item
    conv3 = d.graph.node_by_name("conv3").id
    assert set(panel.highlights.items) == {conv3} and panel.highlights.kind_of(conv3) == "changed"
    outline = panel.highlights.items[conv3]
    assert isinstance(outline, QGraphicsRectItem) and outline.parentItem() is window.scene.node_items[conv3]
    assert outline.pen().color().name() == KIND_COLORS["changed"] and outline.scene() is window.scene
    assert outline.sceneBoundingRect().contains(window.scene.node_items[conv3].body_rect())
    shown = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    assert shown.intersects(outline.sceneBoundingRect())      # scrolled into view when it was not
    # the outline follows the node when it moves
    item = window.scene.node_items[conv3]
    item.setPos(item.pos().x() + 40, item.pos().y())
    assert outline.sceneBoundingRect().contains(item.body_rect())
    # clicking the entry shows the layer; Clear takes the marks away
    row = lines.index("~ conv3 (Conv2D): filters: 128 → 96")
    panel.diff_list.itemClicked.emit(panel.diff_list.item(row))
    assert window.scene.selected_node_ids() == [conv3]
    assert panel.clear_button.isEnabled()
    panel.clear_button.click()
    assert not panel.highlights.items and outline.scene() is None and not panel.clear_button.isEnabled()
    # the same architecture says so
    panel.select_runs([older["path"], newer["path"]])
    panel.select_runs([newer["path"]])
    assert not panel.highlights.items


def test_added_and_removed_layers_and_a_new_project(qtbot, window, two_runs, small):
    panel = two_runs
    d = window.document
    flatten, classes = d.graph.node_by_name("flatten"), d.graph.node_by_name("classes")
    edge = next(e for e in d.graph.edges if e.src == flatten.id and e.dst == classes.id)
    window.undo_stack.push(commands.Disconnect(d.graph, [edge]))
    add = commands.AddNode(d.graph, "Dropout", (flatten.position[0], flatten.position[1] + 60), {"rate": 0.3})
    window.undo_stack.push(add)
    window.undo_stack.push(commands.Connect(d.graph, flatten.id, 0, add.node_id, 0))
    window.undo_stack.push(commands.Connect(d.graph, add.node_id, 0, classes.id, 0))
    window.flush_updates()
    _train(qtbot, window, small)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 3, timeout=5000)
    runs = sorted(d.runs, key=lambda r: r["started"])
    panel.select_runs([runs[1]["path"], runs[2]["path"]])
    dropout = d.graph.nodes[add.node_id]
    lines = [panel.diff_list.item(k).text() for k in range(panel.diff_list.count())]
    assert f"+ {dropout.name} (Dropout) added" in lines
    assert "~ classes (Dense): inputs: [flatten] → [" + dropout.name + "]" in lines
    assert panel.highlights.kind_of(dropout.id) == "added"
    assert panel.highlights.kind_of(classes.id) == "changed"
    # another project: the table empties and the marks go
    window.set_project(templates.build("mnist_dense"))
    qtbot.waitUntil(lambda: panel.table.rowCount() == 0, timeout=5000)
    assert not panel.highlights.items and panel.diff_list.count() == 0
