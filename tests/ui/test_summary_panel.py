"""The Summary tab, driven through the real window."""

import time

from PySide6.QtCore import Qt

from studio.engine import summary
from studio.ui import commands
from studio.ui.summary_panel import COLUMNS


def _show(qtbot, window):
    panel = window.summary_panel
    window.bottom_tabs.setCurrentWidget(panel)
    window.flush_updates()
    qtbot.waitUntil(lambda: panel.summary is not None and not panel._dirty, timeout=5000)
    return panel


def _row(panel, name):
    for row in range(panel.table.rowCount()):
        if panel.table.item(row, 1).text() == name:
            return {COLUMNS[c]: panel.table.item(row, c) for c in range(len(COLUMNS))}
    raise AssertionError(f"no row for {name}")


def test_table_lists_every_layer_with_its_figures_and_totals(qtbot, window):
    panel = _show(qtbot, window)
    d = window.document
    assert window.bottom_tabs.tabText(window.bottom_tabs.indexOf(panel)) == "Summary"
    assert panel.table.rowCount() == len(d.graph.model_node_ids())
    conv1 = _row(panel, "conv1")
    assert conv1["Type"].text() == "Conv2D" and conv1["Output shape"].text() == "(None, 26, 26, 32)"
    assert conv1["Trainable"].text() == "320" and conv1["Non-trainable"].text() == "0"
    assert conv1["MACs"].data(Qt.UserRole) == 26 * 26 * 32 * 9
    batch = d.training.batch_size
    assert panel.table.horizontalHeaderItem(7).text() == f"Activations (batch {batch})"
    assert conv1["Activations"].data(Qt.UserRole) == 26 * 26 * 32 * 4 * batch
    totals = panel.totals_label.text()
    assert f"{d.checker.total_params():,}" in totals and "optimizer state" in totals
    assert "batch size" in panel.advice_label.text() and "usable" in panel.advice_label.text()


def test_sorting_by_a_number_column_sorts_by_value(qtbot, window):
    panel = _show(qtbot, window)
    names = [panel.table.item(r, 1).text() for r in range(panel.table.rowCount())]
    assert names == [window.document.graph.nodes[i].name for i in window.document.graph.topological_order()
                     if i in window.document.graph.model_node_ids()]      # the model's order at first
    panel.table.sortItems(4, Qt.DescendingOrder)
    values = [panel.table.item(r, 4).data(Qt.UserRole) for r in range(panel.table.rowCount())]
    assert values == sorted(values, reverse=True) and values[0] == 73856   # conv3: 3*3*64*128 + 128
    panel.table.sortItems(6, Qt.AscendingOrder)
    macs = [panel.table.item(r, 6).data(Qt.UserRole) for r in range(panel.table.rowCount())]
    assert macs == sorted(macs)
    panel.table.sortItems(0, Qt.AscendingOrder)
    assert [panel.table.item(r, 1).text() for r in range(panel.table.rowCount())] == names


def test_edits_and_settings_redraw_it_without_building_keras(qtbot, window, monkeypatch):
    panel = _show(qtbot, window)
    d = window.document
    conv3 = d.graph.node_by_name("conv3")
    window.undo_stack.push(commands.set_param_command(d.graph, [conv3.id], "filters", 96))
    window.flush_updates()
    qtbot.waitUntil(lambda: _row(panel, "conv3")["Trainable"].text() == f"{3 * 3 * 64 * 96 + 96:,}", timeout=3000)
    window.training_panel.batch_spin.setValue(256)
    qtbot.waitUntil(lambda: panel.table.horizontalHeaderItem(7).text() == "Activations (batch 256)", timeout=3000)
    assert "batch size 256" in panel.advice_label.text()
    # a redraw is arithmetic on the checked states: nothing is built in Keras
    from studio.engine import compiler, keras_bridge

    def refuse(*_a, **_k):
        raise AssertionError("the summary built something in Keras")

    monkeypatch.setattr(keras_bridge, "make_layer", refuse)
    monkeypatch.setattr(compiler, "compile_graph", refuse)
    t0 = time.perf_counter()
    panel.refresh()
    assert time.perf_counter() - t0 < 0.25
    assert panel.summary.params == d.checker.total_params()


def test_double_click_shows_the_layer_on_the_canvas(qtbot, window):
    panel = _show(qtbot, window)
    row = next(r for r in range(panel.table.rowCount()) if panel.table.item(r, 1).text() == "pool2")
    panel.table.itemDoubleClicked.emit(panel.table.item(row, 1))
    assert window.scene.selected_node_ids() == [window.document.graph.node_by_name("pool2").id]


def test_batch_norm_statistics_count_as_non_trainable(qtbot, window):
    panel = _show(qtbot, window)
    d = window.document
    pool1 = d.graph.node_by_name("pool1")
    conv2 = d.graph.node_by_name("conv2")
    edge = next(e for e in d.graph.edges if e.src == pool1.id and e.dst == conv2.id)
    window.undo_stack.push(commands.Disconnect(d.graph, [edge]))
    add = commands.AddNode(d.graph, "BatchNormalization", (pool1.position[0], pool1.position[1] + 60))
    window.undo_stack.push(add)
    window.undo_stack.push(commands.Connect(d.graph, pool1.id, 0, add.node_id, 0))
    window.undo_stack.push(commands.Connect(d.graph, add.node_id, 0, conv2.id, 0))
    window.flush_updates()
    name = d.graph.nodes[add.node_id].name
    qtbot.waitUntil(lambda: any(panel.table.item(r, 1).text() == name for r in range(panel.table.rowCount())),
                    timeout=3000)
    bn = _row(panel, name)
    assert bn["Trainable"].text() == "64" and bn["Non-trainable"].text() == "64"
    assert panel.summary.non_trainable == 64
    assert summary.format_count(panel.summary.macs) in panel.totals_label.text()
