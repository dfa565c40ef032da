"""The Runs tab: compare training runs.

A sortable table of the project's runs (when, settings, best validation figures,
duration, device, status). Selecting runs overlays their validation loss and
accuracy per epoch; selecting exactly two lists what changed between them
(:mod:`studio.engine.run_diff`: layers added, removed, changed; settings) and
marks those layers on the canvas with coloured outlines until Clear is pressed
or the selection changes. Everything is read from the run folders
(``document.runs``, each run's ``config.json``); the panel holds no project state.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPen
from PySide6.QtWidgets import (QAbstractItemView, QGraphicsItem, QGraphicsRectItem, QGraphicsSimpleTextItem, QHBoxLayout,
                               QHeaderView, QLabel, QListWidget, QListWidgetItem, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from studio.engine import run_diff
from studio.ui.guard import guarded
from studio.ui.plots import whole_number_axis

COLUMNS = ("When", "Optimizer", "LR", "Batch", "Epochs", "Val loss", "Val acc", "Time", "Frozen", "Device", "Status")
TIPS = {"LR": "learning rate (cos: a cosine decay over the run)", "Time": "duration of the run",
        "Val loss": "the best (lowest) validation loss of any epoch",
        "Val acc": "the best (highest) validation accuracy of any epoch",
        "Frozen": "layers whose trainable switch was off (⚡: their outputs were computed once, fast feature "
                  "extraction)"}
RUN_COLORS = ["#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457", "#5d4037", "#455a64"]
KIND_COLORS = {"added": "#2e7d32", "changed": "#ef6c00", "removed": "#c62828"}
_NUMERIC = {2, 3, 4, 5, 6, 7, 8}
_SELECT_ROW = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows


class _Item(QTableWidgetItem):
    """A cell that sorts by its value (UserRole), unknown values last."""

    def __lt__(self, other) -> bool:
        a, b = self.data(Qt.UserRole), other.data(Qt.UserRole)
        if a is None or b is None:
            return (a is None) < (b is None)
        return a < b


def best(history: list[dict], key: str, lowest: bool) -> float | None:
    values = [e[key] for e in history if isinstance(e.get(key), (int, float))]
    if not values:
        return None
    return min(values) if lowest else max(values)


def _duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _frozen_cell(run: dict) -> tuple[str, int | None]:
    frozen = run.get("frozen")
    if not isinstance(frozen, list):   # a run from before frozen layers were recorded
        return "–", None
    return f"{len(frozen)}" + (" ⚡" if isinstance(run.get("feature_extraction"), dict) else ""), len(frozen)


def _frozen_tip(run: dict) -> str:
    text = "Frozen: " + ", ".join(str(n) for n in run.get("frozen") or [])
    info = run.get("feature_extraction")
    if isinstance(info, dict):
        from studio.engine.train.feature_cache import describe_speedup
        try:
            text += "\n" + describe_speedup(info)
        except (TypeError, ValueError, KeyError):
            pass
    return text


class CanvasHighlights:
    """Coloured outlines (and a short tag) on canvas nodes, as child items of the
    node items so they move with them and go when a node goes."""

    def __init__(self, scene):
        self.scene = scene
        self.items: dict[str, QGraphicsRectItem] = {}

    def show(self, marks: dict[str, tuple[str, str]]) -> None:
        """``marks``: node id -> (kind: added | changed | removed, tag text)."""
        self.clear()
        for node_id, (kind, text) in marks.items():
            node_item = self.scene.node_items.get(node_id)
            if node_item is None:
                continue
            color = QColor(KIND_COLORS.get(kind, "#ef6c00"))
            body = node_item.body_rect().translated(-node_item.pos())
            outline = QGraphicsRectItem(body.adjusted(-5, -5, 5, 5), node_item)
            pen = QPen(color, 3.5)
            pen.setCosmetic(True)
            outline.setPen(pen)
            outline.setBrush(Qt.NoBrush)
            outline.setAcceptedMouseButtons(Qt.NoButton)
            outline.setAcceptHoverEvents(False)
            outline.setZValue(-1)
            tag_bg = QGraphicsRectItem(outline)
            tag_bg.setFlag(QGraphicsItem.ItemIgnoresTransformations)   # readable at any zoom
            tag = QGraphicsSimpleTextItem(text if len(text) <= 48 else text[:47] + "…", tag_bg)
            font = QFont()
            font.setPixelSize(11)
            font.setBold(True)
            tag.setFont(font)
            tag.setBrush(QBrush(Qt.white))
            size = tag.boundingRect()
            # anchored at the outline's top-left corner, drawn upwards from it in screen pixels
            tag_bg.setRect(QRectF(0, -size.height() - 3, size.width() + 8, size.height() + 3))
            tag_bg.setPos(body.left() - 5, body.top() - 5)
            tag.setPos(4, -size.height() - 2)
            tag_bg.setBrush(QBrush(color))
            tag_bg.setPen(QPen(Qt.NoPen))
            tag_bg.setAcceptedMouseButtons(Qt.NoButton)
            self.items[node_id] = outline

    def kind_of(self, node_id: str) -> str | None:
        from shiboken6 import isValid
        item = self.items.get(node_id)
        if item is None or not isValid(item):
            return None
        color = item.pen().color().name()
        return next((k for k, c in KIND_COLORS.items() if c == color), None)

    def clear(self) -> None:
        from shiboken6 import isValid
        for item in self.items.values():
            # a node removed from the canvas took its outline with it
            if isValid(item) and item.scene() is not None:
                item.scene().removeItem(item)
        self.items = {}


class RunsPanel(QWidget):
    def __init__(self, document, window=None, parent=None):
        super().__init__(parent)
        import pyqtgraph as pg
        self.document = document
        self.window = window
        self.runs: list[dict] = []
        self._configs: dict[str, tuple[float, dict | None]] = {}   # path -> (mtime, config.json)
        self.diff: run_diff.RunDiff | None = None
        self.highlights = CanvasHighlights(window.scene) if window is not None else None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for col, name in enumerate(COLUMNS):
            if name in TIPS:
                self.table.horizontalHeaderItem(col).setToolTip(TIPS[name])
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.hint = QLabel("Select runs to overlay their curves; select two to see what changed between them.")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #546e7a;")
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.setSpacing(2)
        lv.addWidget(self.table, 1)
        lv.addWidget(self.hint)
        self.loss_plot = pg.PlotWidget(title="Validation loss", axisItems={"bottom": whole_number_axis()})
        self.acc_plot = pg.PlotWidget(title="Validation accuracy", axisItems={"bottom": whole_number_axis()})
        for plot, corner in ((self.loss_plot, (-8, 8)), (self.acc_plot, (8, 8))):
            plot.setLabel("bottom", "epoch")
            plot.setMinimumWidth(180)
            plot.addLegend(offset=corner, labelTextSize="8pt")   # loss falls, accuracy rises: top right, top left
        self.curves: list = []
        self.diff_list = QListWidget()
        self.diff_list.setWordWrap(True)
        self.diff_list.itemActivated.connect(self._on_diff_activated)
        self.diff_list.itemClicked.connect(self._on_diff_activated)
        self.diff_title = QLabel("Architecture diff")
        self.diff_title.setWordWrap(True)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove the marks from the canvas")
        self.clear_button.clicked.connect(self.clear_highlights)
        self.clear_button.setEnabled(False)
        head = QHBoxLayout()
        head.addWidget(self.diff_title, 1)
        head.addWidget(self.clear_button)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.setSpacing(2)
        rv.addLayout(head)
        rv.addWidget(self.diff_list, 1)
        right.setMinimumWidth(220)
        splitter = QSplitter()
        for w in (left, self.loss_plot, self.acc_plot, right):
            splitter.addWidget(w)
        splitter.setSizes([800, 210, 210, 220])
        for k in range(4):
            splitter.setCollapsible(k, False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)
        document.runs_changed.connect(self.refresh)
        document.project_replaced.connect(self._on_project_replaced)
        self.refresh()

    # -- the table ------------------------------------------------------------------------
    def _config(self, path: str) -> dict | None:
        """The run's config.json (read once per change of the file)."""
        try:
            mtime = (Path(path) / "config.json").stat().st_mtime
        except OSError:
            return None
        cached = self._configs.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            config = run_diff.read_run_config(path)
        except run_diff.RunDiffError:
            config = None
        self._configs[path] = (mtime, config)
        return config

    def _on_project_replaced(self) -> None:
        self._configs = {}
        self.clear_highlights()
        self.refresh()

    @guarded
    def refresh(self) -> None:
        """Redraw the table from ``document.runs``, keeping the selected runs selected."""
        selected = set(self.selected_paths())
        self.runs = list(self.document.runs)
        table = self.table
        table.blockSignals(True)
        table.setSortingEnabled(False)
        table.clearSelection()
        table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            training = (self._config(run["path"]) or {}).get("training") or {}
            history = run.get("history") or []
            started = run.get("started")
            when = time.strftime("%d %b %H:%M:%S", time.localtime(started)) \
                if isinstance(started, (int, float)) else Path(run["path"]).name
            loss, acc = best(history, "val_loss", True), best(history, "val_accuracy", False)
            epochs = run.get("epochs") if isinstance(run.get("epochs"), int) else len(history)
            rate = training.get("learning_rate")
            cells = [
                (when, started if isinstance(started, (int, float)) else 0.0),
                (str(training.get("optimizer", "–")), str(training.get("optimizer", ""))),
                ((f"{rate:g}" if isinstance(rate, (int, float)) else "–")
                 + (" cos" if training.get("lr_schedule") == "cosine" else ""), rate),
                (str(training.get("batch_size", "–")), training.get("batch_size")),
                (str(epochs), epochs),
                (f"{loss:.4f}" if loss is not None else "–", loss),
                (f"{acc:.4f}" if acc is not None else "–", acc),
                (_duration(run.get("seconds")), run.get("seconds")),
                _frozen_cell(run),
                (str(run.get("device", "–")), str(run.get("device", ""))),
                (str(run.get("status", "–")), str(run.get("status", ""))),
            ]
            for col, (text, value) in enumerate(cells):
                item = _Item(text)
                item.setData(Qt.UserRole, value)
                item.setData(Qt.UserRole + 1, run["path"])
                if col in _NUMERIC:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if COLUMNS[col] == "Frozen" and run.get("frozen"):
                    item.setToolTip(_frozen_tip(run))
                if col == 0:
                    item.setToolTip(time.strftime("%Y-%m-%d %H:%M:%S  ", time.localtime(started))
                                    if isinstance(started, (int, float)) else "")
                    item.setToolTip(item.toolTip() + run["path"]
                                    + (f"\n{run['message']}" if run.get("message") else ""))
                table.setItem(row, col, item)
        table.setSortingEnabled(True)
        self._fit_columns()
        model = table.selectionModel()
        for row in range(table.rowCount()):
            if table.item(row, 0).data(Qt.UserRole + 1) in selected:
                model.select(table.model().index(row, 0), _SELECT_ROW)
        table.blockSignals(False)
        self._on_selection()

    def _fit_columns(self) -> None:
        """Columns as wide as their contents once there is something to show (and it is shown:
        a hidden table measures nothing); after that, widths are the person's."""
        if self.runs and not getattr(self, "_sized", False) and self.table.isVisible():
            self.table.resizeColumnsToContents()
            self._sized = True

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._fit_columns()

    def selected_paths(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.table.item(r, 0).data(Qt.UserRole + 1) for r in rows if self.table.item(r, 0)]

    def select_runs(self, paths) -> None:
        """Select the runs at these folders (what a person's ctrl-click does)."""
        wanted = {str(p) for p in paths}
        model = self.table.selectionModel()
        self.table.blockSignals(True)
        self.table.clearSelection()
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.UserRole + 1) in wanted:
                model.select(self.table.model().index(row, 0), _SELECT_ROW)
        self.table.blockSignals(False)
        self._on_selection()

    def _run(self, path: str) -> dict | None:
        return next((r for r in self.runs if r["path"] == path), None)

    # -- curves and diff -------------------------------------------------------------------
    @guarded
    def _on_selection(self) -> None:
        paths = self.selected_paths()
        self._draw_curves(paths)
        self._show_diff(paths)

    def _label(self, run: dict) -> str:
        started = run.get("started")
        return time.strftime("%H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) \
            else Path(run["path"]).name[-12:]

    def _draw_curves(self, paths: list[str]) -> None:
        import pyqtgraph as pg
        for plot in (self.loss_plot, self.acc_plot):
            plot.clear()
            if plot.plotItem.legend is not None:
                plot.plotItem.legend.clear()
        self.curves = []
        for k, path in enumerate(paths):
            run = self._run(path)
            if run is None:
                continue
            color = RUN_COLORS[k % len(RUN_COLORS)]
            self._color_row(path, color)
            history = run.get("history") or []
            for plot, key, fallback in ((self.loss_plot, "val_loss", "loss"),
                                        (self.acc_plot, "val_accuracy", "accuracy")):
                used = key if any(key in e for e in history) else fallback
                pts = [(e["epoch"] + 1, e[used]) for e in history
                       if isinstance(e.get(used), (int, float)) and isinstance(e.get("epoch"), int)]
                if not pts:
                    continue
                style = Qt.SolidLine if used == key else Qt.DashLine
                curve = plot.plot([p[0] for p in pts], [p[1] for p in pts],
                                  pen=pg.mkPen(color, width=2, style=style), symbol="o", symbolSize=5,
                                  symbolBrush=color, symbolPen=color,
                                  name=self._label(run) + ("" if used == key else " (train)"))
                self.curves.append(curve)
        for row in range(self.table.rowCount()):
            path = self.table.item(row, 0).data(Qt.UserRole + 1)
            if path not in paths:
                self.table.item(row, 0).setData(Qt.DecorationRole, None)
        if paths and getattr(self, "_sized", False):
            self.table.resizeColumnToContents(0)   # room for the colour swatch

    def _color_row(self, path: str, color: str) -> None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item.data(Qt.UserRole + 1) == path:
                item.setData(Qt.DecorationRole, QColor(color))

    def _show_diff(self, paths: list[str]) -> None:
        self.diff_list.clear()
        self.diff = None
        if len(paths) != 2:
            self.clear_highlights()
            self.diff_title.setText("Architecture diff: select two runs")
            return
        runs = sorted((self._run(p) for p in paths), key=lambda r: (r.get("started") or 0, r["path"]))
        older, newer = runs
        self.diff_title.setText(f"From {self._label(older)} to {self._label(newer)}")
        try:
            self.diff = run_diff.diff_runs(older["path"], newer["path"])
        except run_diff.RunDiffError as exc:
            self.clear_highlights()
            self._add_line(str(exc), None, "#c62828")
            return
        for change in self.diff.nodes:
            self._add_line(change.text(), change, KIND_COLORS[change.kind])
        if self.diff.outputs is not None:
            self._add_line("outputs: " + self.diff.outputs.text().split(": ", 1)[1], None, "#ef6c00")
        if not self.diff.nodes and self.diff.outputs is None:
            self._add_line("same architecture", None, "#546e7a")
        for change in self.diff.training:
            self._add_line("training " + change.text(), None, "#37474f")
        self.show_highlights()

    def _add_line(self, text: str, change, color: str) -> None:
        item = QListWidgetItem(text)
        item.setForeground(QColor(color))
        item.setToolTip(text)
        item.setData(Qt.UserRole, self._current_node(change) if change is not None else None)
        self.diff_list.addItem(item)

    def _current_node(self, change) -> str | None:
        """The node on the canvas a diff entry refers to (same id, else same name and type)."""
        graph = self.document.graph
        for node_id in (change.new_id, change.old_id):
            if node_id and node_id in graph.nodes and graph.nodes[node_id].class_name == change.class_name:
                return node_id
        node = graph.node_by_name(change.name)
        return node.id if node is not None and node.class_name == change.class_name else None

    def show_highlights(self) -> None:
        """Mark the diff's layers on the canvas (those the current graph still has)."""
        if self.highlights is None or self.diff is None:
            return
        marks = {}
        for change in self.diff.nodes:
            node_id = self._current_node(change)
            if node_id is None:
                continue
            if change.kind == "changed":
                text = "changed: " + ", ".join(
                    c.text() if len(self.diff.nodes) < 8 else c.key for c in change.changes)
            else:
                text = change.kind
            marks[node_id] = (change.kind, text)
        self.highlights.show(marks)
        self.clear_button.setEnabled(bool(self.highlights.items))
        view = getattr(self.window, "view", None)
        if view is not None and self.highlights.items:  # bring a mark into view if none is in it
            shown = view.mapToScene(view.viewport().rect()).boundingRect()
            rects = [item.sceneBoundingRect() for item in self.highlights.items.values()]
            if not any(shown.intersects(r) for r in rects):
                view.ensureVisible(rects[0], 40, 40)

    def clear_highlights(self) -> None:
        if self.highlights is not None:
            self.highlights.clear()
        self.clear_button.setEnabled(False)

    def _on_diff_activated(self, item) -> None:
        node_id = item.data(Qt.UserRole)
        if node_id and self.window is not None and hasattr(self.window, "show_node"):
            self.window.show_node(node_id)
