"""The Evaluate tab, driven through the real window: evaluate, click a confusion cell, see those examples."""

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from studio.engine import datasets
from studio.engine.graph import ModelGraph
from studio.engine.project import Project
from studio.ui import commands

from .helpers import sample_slice, train_in_window as _train


@pytest.fixture(scope="module")
def small():
    return sample_slice(512, 160)




def _evaluate(qtbot, panel):
    t = time.perf_counter()
    with qtbot.waitSignal(panel.evaluated, timeout=120_000):
        assert panel.start()
        assert time.perf_counter() - t < 1.0 and panel.is_running()   # the work runs on the worker
        assert not panel.evaluate_button.isEnabled()
    qtbot.waitUntil(lambda: not panel.is_running() and panel.evaluate_button.isEnabled(), timeout=10_000)
    return panel.result


def _click_cell(panel, row, column):
    rect = panel.matrix.visualItemRect(panel.matrix.item(row, column))
    QTest.mouseClick(panel.matrix.viewport(), Qt.LeftButton, Qt.NoModifier, rect.center())


def test_evaluate_click_a_cell_and_see_exactly_those_examples(qtbot, window, small):
    _train(qtbot, window, small)
    panel = window.evaluation_panel
    window.bottom_tabs.setCurrentWidget(panel)
    keys = [panel.source_combo.itemData(k) for k in range(panel.source_combo.count())]
    assert keys[0] == ("current", "", "") and "(trained)" in panel.source_combo.itemText(0)
    assert {k[2] for k in keys[1:]} == {"best", "final"}       # the run just made, both weights files
    result = _evaluate(qtbot, panel)
    assert result.source == {"kind": "current"} and result.samples == 160
    assert "160 held-out examples" in panel.summary.text() and "loss" in panel.summary.text()
    # per-class table and matrix show the result's figures, class names on both axes
    assert panel.per_class.rowCount() == 10
    row3 = [panel.per_class.item(3, c).text() for c in range(5)]
    assert row3 == ["3", f"{result.precision[3]:.3f}", f"{result.recall[3]:.3f}", f"{result.f1[3]:.3f}",
                    str(result.support[3])]
    m = panel.matrix
    assert (m.rowCount(), m.columnCount()) == (10, 10)
    assert [m.horizontalHeaderItem(k).text() for k in range(10)] == result.class_names
    assert [m.verticalHeaderItem(k).text() for k in range(10)] == result.class_names
    assert [[int(m.item(t, p).text()) for p in range(10)] for t in range(10)] == result.confusion.tolist()
    assert m.item(0, 0).background().color() != m.item(0, 1).background().color() or result.confusion[0, 1] == 0
    # the largest cell of mistakes opens by itself; click another one with mistakes
    off = result.confusion * (1 - np.eye(10, dtype=int))
    assert off.sum() > 0, "one epoch on 512 digits should leave mistakes"
    cells = sorted(zip(*np.nonzero(off)), key=lambda tp: -off[tp])
    t, p = next((tp for tp in cells if tuple(tp) != panel.cell), cells[0])
    _click_cell(panel, int(t), int(p))
    assert panel.cell == (t, p)
    shown = panel.gallery_indices()
    assert shown == result.cell(t, p).tolist() and len(shown) == result.confusion[t, p]
    assert all(result.y_true[i] == t and result.y_pred[i] == p for i in shown)
    assert list(result.confidence[shown]) == sorted(result.confidence[shown], reverse=True)  # largest first
    first = panel.gallery.item(0)
    assert first.text().startswith(f"{result.class_names[t]} → {result.class_names[p]}")
    assert f"{result.confidence[shown[0]]:.0%}" in first.text() and not first.icon().isNull()
    assert f"held-out example #{shown[0]}" in first.toolTip()
    assert f"True {result.class_names[t]}, predicted {result.class_names[p]}" in panel.gallery_title.text()
    # the diagonal: the right answers, closest calls first
    _click_cell(panel, int(t), int(t))
    assert panel.gallery_indices() == result.cell(t, t).tolist()
    # clicking an example says which one, for the other views
    _click_cell(panel, int(t), int(p))
    with qtbot.waitSignal(panel.example_selected, timeout=2000) as signal:
        rect = panel.gallery.visualItemRect(panel.gallery.item(0))
        QTest.mouseClick(panel.gallery.viewport(), Qt.LeftButton, Qt.NoModifier, rect.center())
    assert signal.args == [shown[0]]
    # a class's row in the per-class table opens that class's most frequent mistake
    panel.per_class.cellClicked.emit(0, 0)
    row_class = int(panel.per_class.item(0, 0).value)
    assert panel.cell[0] == row_class


def test_run_weights_and_results_that_go_stale(qtbot, window, small):
    _train(qtbot, window, small)
    panel = window.evaluation_panel
    run = window.document.runs[0]["path"]
    assert panel.select_source(("run", run, "best"))
    result = _evaluate(qtbot, panel)
    assert result.source["kind"] == "run" and result.source["run"] == run and result.source["weights"] == "best"
    assert "best weights" in panel.summary.text()
    # the current weights, then the weights change: that result is no longer shown as current
    assert panel.select_source(("current", "", ""))
    _evaluate(qtbot, panel)
    window.undo_stack.push(commands.ResetWeights(window.document))
    assert panel.result is None and panel.matrix.rowCount() == 0 and panel.gallery.count() == 0
    assert "weights changed" in panel.summary.text()
    assert "(untrained)" in panel.source_combo.itemText(0)
    # nor when the preprocessing changes
    _evaluate(qtbot, panel)
    spec = dict(window.document.dataset_spec)
    spec["preprocess"] = {**spec.get("preprocess", {}), "labels": "onehot"}
    window.document.set_dataset(spec)
    assert panel.result is None and "data changed" in panel.summary.text()
    # a run's result outlives weight changes, not another project
    assert panel.select_source(("run", run, "final"))
    _evaluate(qtbot, panel)
    window.undo_stack.undo()
    assert panel.result is not None
    window.undo_stack.setClean()
    window.document.weights_unsaved = False
    window.files.new_project("mnist_dense")
    assert panel.result is None and panel.matrix.rowCount() == 0
    assert panel.source_combo.count() == 1 + 2 * len(window.document.runs)


def test_tabular_examples_show_their_values(qtbot, window):
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0, 0, 0], [2.5, 0, 1, 0], [0, 2.5, 0, 1]], dtype="float32")
    y = rng.integers(0, 3, 400)
    x = (centres[y] + rng.normal(scale=1.3, size=(400, 4))).astype("float32")
    data = datasets.Dataset("blobs", x[:300], y[:300], x[300:], y[300:], ["low", "east", "north"], "synthetic")
    g = ModelGraph("rows")
    inp = g.add_node("InputLayer", {"shape": [4]})
    out = g.add_node("Dense", {"units": 3, "activation": "softmax"})
    g.connect(inp.id, out.id, 0)
    window.undo_stack.setClean()
    window.document.weights_unsaved = False
    window.document.replace(Project(graph=g, dataset={"kind": "file", "path": "blobs.npz",
                                                      "preprocess": {"scale": False, "labels": "integer"}},
                                    training={"batch_size": 32, "epochs": 2, "learning_rate": 0.01}))
    _train(qtbot, window, data, epochs=2)
    panel = window.evaluation_panel
    result = _evaluate(qtbot, panel)
    assert result.class_names == ["low", "east", "north"] and result.samples == 100
    off = result.confusion * (1 - np.eye(3, dtype=int))
    t, p = (int(v) for v in np.unravel_index(off.argmax(), off.shape)) if off.sum() else (0, 0)
    _click_cell(panel, t, p)
    assert panel.gallery_stack.currentWidget() is panel.rows
    shown = panel.gallery_indices()
    assert shown == result.cell(t, p).tolist()
    headers = [panel.rows.horizontalHeaderItem(c).text() for c in range(panel.rows.columnCount())]
    assert headers == ["#", "true", "predicted", "confidence", "x0", "x1", "x2", "x3"]
    first = [panel.rows.item(0, c).text() for c in range(8)]
    i = shown[0]
    assert first[:3] == [str(i), result.class_names[t], result.class_names[p]]
    assert first[4:] == [f"{float(v):.4g}" for v in data.x_test[i]]
    with qtbot.waitSignal(panel.example_selected, timeout=2000) as signal:
        rect = panel.rows.visualItemRect(panel.rows.item(0, 1))
        QTest.mouseClick(panel.rows.viewport(), Qt.LeftButton, Qt.NoModifier, rect.center())
    assert signal.args == [i]


def test_no_dataset_is_said_in_the_tab(qtbot, window):
    window.undo_stack.setClean()
    window.document.replace(Project(graph=window.document.graph.copy()))
    panel = window.evaluation_panel
    assert not panel.start()
    assert "no dataset" in panel.summary.text() and panel.evaluate_button.isEnabled()


def test_closing_the_window_while_evaluating(qtbot, window, small):
    from studio.ui.evaluation_panel import EvaluationWorker
    window.document.set_loaded_dataset(small)
    panel = window.evaluation_panel
    assert panel.start()
    worker = panel.worker
    window.close()                                    # the running thread outlives the tab's interest in it
    assert worker in EvaluationWorker.running or worker.isFinished()
    qtbot.waitUntil(worker.isFinished, timeout=120_000)
    qtbot.waitUntil(lambda: worker not in EvaluationWorker.running, timeout=5_000)
