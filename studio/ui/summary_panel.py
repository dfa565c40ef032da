"""The Summary tab: the model before training, layer by layer and in total.

A sortable table (layer, type, output shape, trainable and non-trainable
parameters, MACs, activation memory at the chosen batch size) beside the totals,
the memory one training step needs and advice on the batch size that fits the
chosen device. Everything comes from :mod:`studio.engine.summary`, which is
arithmetic on the shape checker's results: redrawing builds nothing in Keras.
Redraws are coalesced and wait until the tab is shown.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QScrollArea, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from studio.engine import summary as summary_mod
from studio.engine.shapes import format_shape
from studio.ui.guard import guarded

COLUMNS = ("#", "Layer", "Type", "Output shape", "Trainable", "Non-trainable", "MACs", "Activations")
_NUMERIC = {0, 4, 5, 6, 7}
ACTIVATIONS = COLUMNS.index("Activations")
MACS = COLUMNS.index("MACs")


class _Item(QTableWidgetItem):
    """A cell that sorts by its number (UserRole), not by its text."""

    def __lt__(self, other) -> bool:
        a, b = self.data(Qt.UserRole), other.data(Qt.UserRole)
        if a is None or b is None:
            return (a is None, self.text()) < (b is None, other.text())
        return a < b


class SummaryPanel(QWidget):
    node_activated = Signal(str)   # the layer the person double-clicked

    def __init__(self, document, window=None, parent=None):
        super().__init__(parent)
        self.document = document
        self.summary: summary_mod.ModelSummary | None = None
        self._dirty = True
        self._timer = QTimer(self, singleShot=True, interval=50, timeout=self.refresh_if_shown)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setStretchLastSection(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(0, Qt.AscendingOrder)   # the model's order until a header is clicked
        self.table.itemDoubleClicked.connect(self._on_double_click)
        self.totals_label = QLabel()
        self.totals_label.setTextFormat(Qt.RichText)
        self.totals_label.setWordWrap(True)
        self.totals_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.totals_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.advice_label = QLabel()
        self.advice_label.setWordWrap(True)
        self.advice_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.advice_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(8, 4, 8, 4)
        column.addWidget(self.totals_label)
        column.addWidget(self.advice_label)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(side)
        scroll.setMinimumWidth(280)
        splitter = QSplitter()
        splitter.addWidget(self.table)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([760, 440])
        splitter.setCollapsible(0, False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)
        document.states_changed.connect(self._on_changed)
        document.training_changed.connect(self._on_changed)
        document.dataset_changed.connect(self._on_changed)
        document.project_replaced.connect(self._on_changed)
        if window is not None and hasattr(window, "show_node"):
            self.node_activated.connect(window.show_node)

    # -- refreshing -------------------------------------------------------------------
    def _on_changed(self, *_args) -> None:
        self._dirty = True
        self._timer.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._dirty:
            self._timer.start()

    @guarded
    def refresh_if_shown(self) -> None:
        if self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        """Redraw from the document's current check results (arithmetic only)."""
        self._dirty = False
        d = self.document
        if not d.checking_enabled or not d.checker.states:
            self.summary = None
            self.table.setRowCount(0)
            self.totals_label.setText("<i>The summary appears once TensorFlow has loaded and the shapes are "
                                      "checked.</i>")
            self.advice_label.setText("")
            return
        s = self.summary = summary_mod.summarize_document(d)
        self._fill_table(s)
        self.totals_label.setText(_totals_html(s))
        self.advice_label.setText(s.advice + ("\n\n" + "\n".join("Note: " + n[0].upper() + n[1:] + "."
                                                                 for n in s.notes) if s.notes else ""))

    def _fill_table(self, s: summary_mod.ModelSummary) -> None:
        table = self.table
        sorting = table.isSortingEnabled()
        table.setSortingEnabled(False)
        table.setRowCount(len(s.layers))
        batch = s.memory.batch_size
        table.horizontalHeaderItem(ACTIVATIONS).setText(f"Activations (batch {batch:,})")
        error_brush = QBrush(QColor("#c62828"))
        for row, layer in enumerate(s.layers):
            shape = ", ".join(format_shape(o) for o in layer.outputs) if layer.outputs else "–"
            act = None if layer.activation_bytes is None else layer.activation_bytes * batch
            cells = [
                (str(row + 1), row + 1), (layer.name, layer.name), (layer.class_name, layer.class_name), (shape, shape),
                (_count(layer.trainable), layer.trainable), (_count(layer.non_trainable), layer.non_trainable),
                (summary_mod.format_count(layer.macs) if layer.macs is not None else "?", layer.macs),
                (summary_mod.format_bytes(act) if act is not None else "?", act),
            ]
            if layer.error:
                cells[3] = ("error", None)
            for col, (text, value) in enumerate(cells):
                item = _Item(text)
                item.setData(Qt.UserRole, value if col in _NUMERIC else text.lower())
                item.setData(Qt.UserRole + 1, layer.node_id)
                if col in _NUMERIC:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if col == MACS and layer.macs is not None:
                    item.setToolTip(f"{layer.macs:,} multiply-accumulates per sample")
                if layer.error:
                    item.setForeground(error_brush)
                    item.setToolTip(layer.error)
                table.setItem(row, col, item)
        table.setSortingEnabled(sorting)
        if not getattr(self, "_sized", False) and s.layers:
            table.resizeColumnsToContents()
            for col in range(len(COLUMNS) - 1):
                table.setColumnWidth(col, min(table.columnWidth(col) + 12, 220))
            self._sized = True

    def row_of(self, node_id: str) -> int:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 1).data(Qt.UserRole + 1) == node_id:
                return row
        return -1

    def _on_double_click(self, item) -> None:
        node_id = item.data(Qt.UserRole + 1)
        if node_id:
            self.node_activated.emit(node_id)


def _count(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def _totals_html(s: summary_mod.ModelSummary) -> str:
    fmt = summary_mod.format_bytes
    m = s.memory
    rows = [
        ("Parameters", f"{s.params:,}"),
        ("&nbsp;&nbsp;trainable", f"{s.trainable:,}"),
        ("&nbsp;&nbsp;non-trainable", f"{s.non_trainable:,}"),
        ("MACs per sample", f"{summary_mod.format_count(s.macs)} (training step ≈ "
                            f"{summary_mod.format_count(s.training_macs * m.batch_size)} per batch)"),
        (f"<b>One training step, batch {m.batch_size:,}</b>", f"<b>{fmt(m.total)}</b>"),
        ("&nbsp;&nbsp;weights", fmt(m.weights)),
        ("&nbsp;&nbsp;gradients", fmt(m.gradients)),
        ("&nbsp;&nbsp;optimizer state", fmt(m.optimizer_state)),
        ("&nbsp;&nbsp;activations", fmt(m.activations)),
    ]
    if s.largest_batch is not None:
        rows.append(("Largest batch that fits", f"{s.largest_batch:,}"))
    body = "".join(f"<tr><td>{k}</td><td align='right'>&nbsp;&nbsp;{escape(v) if '<' not in v else v}</td></tr>"
                   for k, v in rows)
    mark = "" if s.complete else " <span style='color:#8d6e00'>(incomplete)</span>"
    return f"<b>Totals</b>{mark}<table cellspacing='0' cellpadding='1'>{body}</table>"
