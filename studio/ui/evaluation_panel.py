"""The Evaluate tab: how good the model is on the held-out data, and where it fails.

Pick what to evaluate (the current weights, or a run's best or final weights),
press Evaluate: a worker thread runs the engine's :func:`evaluate` (the only
place Keras is called) and hands back an :class:`Evaluation`. The tab shows
the loss and metrics, a per-class table, the confusion matrix as a heat map
with the class names on both axes, and, for the cell clicked, a gallery of
exactly those examples, largest mistakes first. Clicking an example emits
:attr:`EvaluationPanel.example_selected` with its held-out index.

The tab holds no project state: the sources are re-read from the document's
runs and weights, and a result the document has moved away from (other
weights, another dataset or project) is cleared rather than shown as current.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QThread, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QImage, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QListView, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSizePolicy,
                               QSplitter, QStackedWidget, QStyle, QStyledItemDelegate, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from studio.ui.guard import guarded

log = logging.getLogger(__name__)

GALLERY_LIMIT = 300      # examples shown for one cell (the header says how many there are)
TABLE_FEATURES = 24      # feature columns shown for a tabular example
THUMB = 56               # thumbnail size in pixels
CURRENT = ("current", "", "")


class EvaluationWorker(QThread):
    """Runs ``evaluation.evaluate`` off the GUI thread; results arrive as signals.

    Running workers are kept here, not by the tab, so closing the window while
    one runs never destroys a running thread.
    """

    progressed = Signal(int, int)     # batches done, batches
    done = Signal(object)             # Evaluation
    failed = Signal(str)
    running: set = set()

    def __init__(self, project, dataset, run: str | None, weights: str):
        super().__init__()
        self.project, self.dataset, self.run_path, self.weights = project, dataset, run, weights
        self.finished.connect(lambda: EvaluationWorker.running.discard(self))

    def start(self) -> None:
        EvaluationWorker.running.add(self)
        super().start()

    def run(self) -> None:
        from studio.engine import evaluation
        from studio.engine.errors import exit_code_for, message_of
        try:
            result = evaluation.evaluate(self.project, self.dataset, run=self.run_path, weights=self.weights,
                                         progress=lambda b, n: self.progressed.emit(b, n))
        except Exception as exc:  # noqa: BLE001 - told to the person; the traceback goes to the log
            if exit_code_for(exc) is None:
                log.exception("evaluation failed")
                self.failed.emit(f"evaluation failed: {message_of(exc)}")
            else:
                self.failed.emit(message_of(exc))
            return
        self.done.emit(result)


def _wait_for_workers() -> None:
    for worker in list(EvaluationWorker.running):
        worker.wait(60_000)


# -- small helpers -----------------------------------------------------------------------------

def _mix(base: tuple[int, int, int], t: float) -> QColor:
    """White blended towards ``base`` by ``t`` (0..1)."""
    t = float(min(1.0, max(0.0, t)))
    return QColor(*(round(255 + (c - 255) * t) for c in base))


def cell_colours(count: int, row_total: int, diagonal: bool, largest_mistake: int = 0) -> tuple[QColor, QColor]:
    """(background, text) of a confusion cell. Right answers are blue, by their share of the
    true class; mistakes are red, by their size against the largest cell of mistakes, so the
    worst confusions stand out and a single mistake still shows."""
    if count == 0:
        return QColor("#ffffff"), QColor("#b0bec5")
    if diagonal:
        t = 0.1 + 0.9 * count / max(1, row_total)
    else:
        t = 0.12 + 0.83 * (count / max(1, largest_mistake, count)) ** 0.75
    background = _mix((21, 101, 192) if diagonal else (198, 40, 40), t)
    return background, QColor("#ffffff") if t > 0.55 else QColor("#263238")


def thumbnail(img: np.ndarray, size: int = THUMB) -> QPixmap:
    """A raw example (H×W, H×W×1 or H×W×3, any dtype) as a pixmap ``size`` pixels across."""
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] not in (1, 3):
        a = a[..., 0]
    if a.dtype != np.uint8:
        a = a.astype(np.float32)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        a = np.clip((a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    a = np.ascontiguousarray(a)
    if a.ndim == 2:
        image = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format_Grayscale8)
    elif a.ndim == 3:
        image = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format_RGB888)
    else:
        image = QImage(8, 8, QImage.Format_Grayscale8)
        image.fill(128)
    return QPixmap.fromImage(image.copy()).scaled(size, size, Qt.KeepAspectRatio,
                                                   Qt.SmoothTransformation if max(a.shape[:2]) > size
                                                   else Qt.FastTransformation)


class _Number(QTableWidgetItem):
    """A table cell that shows a formatted number and sorts by its value."""

    def __init__(self, value: float, text: str):
        super().__init__(text)
        self.value = value
        self.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def __lt__(self, other):
        return self.value < getattr(other, "value", 0)


class _HeatCell(QStyledItemDelegate):
    """Draws a confusion cell in its own colour even when selected; the selection is a frame,
    so the chosen cell still reads as a mistake (red) or a right answer (blue)."""

    def paint(self, painter, option, index):
        selected = bool(option.state & QStyle.State_Selected)
        option.state &= ~QStyle.State_Selected
        option.state &= ~QStyle.State_HasFocus
        super().paint(painter, option, index)
        if selected:
            painter.save()
            painter.setPen(QPen(QColor("#212121"), 2))
            painter.drawRect(option.rect.adjusted(1, 1, -1, -1))
            painter.restore()


def _run_label(run: dict) -> str:
    name = Path(run["path"]).name
    last = run["history"][-1] if run.get("history") else {}
    acc = last.get("val_accuracy")
    return f"{name}" + (f" (val acc {acc:.3f})" if isinstance(acc, (int, float)) else "")


# -- the tab -----------------------------------------------------------------------------------

class EvaluationPanel(QWidget):
    """Evaluate the current weights or a run's; see the module's notes."""

    example_selected = Signal(int)     # index into the held-out set
    evaluated = Signal()               # a result is on screen

    def __init__(self, document, window=None, parent=None):
        super().__init__(parent)
        self.document = document
        self.window = window
        self.worker: EvaluationWorker | None = None
        self.result = None               # the Evaluation on screen
        self.result_key: tuple | None = None
        self.dataset = None              # the data it was computed on (its raw examples feed the gallery)
        self.cell: tuple[int, int] | None = None
        self._generation = 0             # bumped whenever a running evaluation would be stale
        self._started_generation = -1
        self._running_key: tuple | None = None
        self._preprocess = None          # the preprocessing the result was computed with
        self._build()
        document.runs_changed.connect(self._on_runs_changed)
        document.weights_changed.connect(self._on_weights_changed)
        document.dataset_changed.connect(self._on_dataset_changed)
        document.project_replaced.connect(self._on_project_replaced)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(_wait_for_workers)
        self.refresh_sources()
        self._clear("Pick the weights to evaluate and press Evaluate.")

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("What to evaluate: the weights the model has now, or a run's best or final "
                                     "weights (with the graph and settings that run trained)")
        self.source_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.source_combo.setMinimumContentsLength(18)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Run the model over the held-out examples and compute every figure")
        self.evaluate_button.clicked.connect(self.start)
        row = QHBoxLayout()
        row.addWidget(self.source_combo, 1)
        row.addWidget(self.evaluate_button)
        lv.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(False)
        self.progress.hide()
        lv.addWidget(self.progress)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lv.addWidget(self.summary)
        self.per_class = QTableWidget(0, 5)
        self.per_class.setHorizontalHeaderLabels(["class", "precision", "recall", "F1", "support"])
        self.per_class.verticalHeader().hide()
        self.per_class.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.per_class.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.per_class.horizontalHeader().setSortIndicator(0, Qt.AscendingOrder)
        self.per_class.setSortingEnabled(True)
        self.per_class.verticalHeader().setDefaultSectionSize(20)
        header = self.per_class.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        self.per_class.setToolTip("Per class: precision (of the examples predicted as it, how many are it), "
                                  "recall (of its examples, how many were found), F1, and how many there are. "
                                  "Click a header to sort; click a row to see the class's mistakes.")
        self.per_class.cellClicked.connect(self._on_class_clicked)
        lv.addWidget(self.per_class, 1)

        middle = QWidget()
        mv = QVBoxLayout(middle)
        mv.setContentsMargins(0, 0, 0, 0)
        self.matrix_title = QLabel("Confusion matrix (rows: true class, columns: predicted)")
        self.matrix_title.setWordWrap(True)
        mv.addWidget(self.matrix_title)
        self.matrix = QTableWidget(0, 0)
        self.matrix.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.matrix.setSelectionMode(QAbstractItemView.SingleSelection)
        self._heat_delegate = _HeatCell(self.matrix)
        self.matrix.setItemDelegate(self._heat_delegate)
        self.matrix.setToolTip("Click a cell to see exactly those examples, largest mistakes first")
        small = QFont(self.matrix.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.9))
        self.matrix.setFont(small)
        for h in (self.matrix.horizontalHeader(), self.matrix.verticalHeader()):
            h.setMinimumSectionSize(14)
            h.setSectionResizeMode(QHeaderView.Fixed)
            h.setFont(small)
        self.matrix.horizontalHeader().setDefaultAlignment(Qt.AlignCenter)
        self.matrix.currentCellChanged.connect(lambda r, c, *_: self._on_cell(r, c))
        self.matrix.cellClicked.connect(self._on_cell)
        mv.addWidget(self.matrix, 1)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        self.gallery_title = QLabel()
        self.gallery_title.setWordWrap(True)
        rv.addWidget(self.gallery_title)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.IconMode)
        self.gallery.setIconSize(QSize(THUMB, THUMB))
        self.gallery.setGridSize(QSize(THUMB + 34, THUMB + 36))
        self.gallery.setResizeMode(QListView.Adjust)
        self.gallery.setMovement(QListView.Static)
        self.gallery.setUniformItemSizes(True)
        self.gallery.setWordWrap(True)
        self.gallery.setSpacing(2)
        self.gallery.itemClicked.connect(self._on_example)
        self.gallery.itemActivated.connect(self._on_example)
        self.rows = QTableWidget(0, 0)   # tabular examples: one row of values each
        self.rows.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.rows.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.rows.verticalHeader().hide()
        self.rows.verticalHeader().setDefaultSectionSize(20)
        self.rows.cellClicked.connect(lambda r, _c: self._on_row(r))
        self.gallery_stack = QStackedWidget()
        self.gallery_stack.addWidget(self.gallery)
        self.gallery_stack.addWidget(self.rows)
        rv.addWidget(self.gallery_stack, 1)

        self.splitter = QSplitter(Qt.Horizontal)
        for w in (left, middle, right):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setSizes([330, 360, 600])
        self.splitter.setChildrenCollapsible(False)
        left.setMinimumWidth(250)
        middle.setMinimumWidth(180)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    # -- sources -------------------------------------------------------------------------
    def sources(self) -> list[tuple[tuple, str]]:
        """[(key, label)]: the current weights, then each run's best and final weights on disk."""
        d = self.document
        trained = d.has_trained_weights()
        out = [(CURRENT, "Current weights" + (" (trained)" if trained else " (untrained)"))]
        for run in d.runs:
            for which in ("best", "final"):
                if (Path(run["path"]) / f"weights_{which}.h5").is_file():
                    out.append((("run", run["path"], which), f"Run {_run_label(run)}: {which} weights"))
        return out

    def refresh_sources(self) -> None:
        keep = self.source_combo.currentData()
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        for key, label in self.sources():
            self.source_combo.addItem(label, key)
            self.source_combo.setItemData(self.source_combo.count() - 1, label, Qt.ToolTipRole)
        index = self._index_of(keep) if keep is not None else 0
        self.source_combo.setCurrentIndex(max(0, index))
        self.source_combo.blockSignals(False)

    def _index_of(self, key) -> int:
        """The combo row holding ``key`` (QComboBox.findData cannot compare Python tuples)."""
        combo = self.source_combo
        return next((k for k in range(combo.count()) if tuple(combo.itemData(k) or ()) == tuple(key or ())), -1)

    def select_source(self, key: tuple) -> bool:
        index = self._index_of(key)
        if index >= 0:
            self.source_combo.setCurrentIndex(index)
        return index >= 0

    # -- document events ---------------------------------------------------------------------
    @guarded
    def _on_runs_changed(self) -> None:
        self.refresh_sources()
        if self.result_key and self.result_key[0] == "run" and self._index_of(self.result_key) < 0:
            self._clear("The run evaluated here is gone.")

    @guarded
    def _on_weights_changed(self) -> None:
        self.refresh_sources()
        if self.is_running() and self._running_key == CURRENT:
            self._generation += 1
        if self.result_key == CURRENT:
            self._clear("The weights changed since the last evaluation: press Evaluate to see the new figures.")

    @guarded
    def _on_dataset_changed(self) -> None:
        if self.is_running():
            self._generation += 1
        if self.result is not None and (self.document.dataset is not self.dataset
                                        or self.document.preprocess() != self._preprocess):
            self._clear("The data changed since the last evaluation: press Evaluate to see the new figures.")

    @guarded
    def _on_project_replaced(self) -> None:
        self._generation += 1
        self.refresh_sources()
        self._clear("Pick the weights to evaluate and press Evaluate.")

    # -- evaluating -------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    @guarded
    def start(self, *_args) -> bool:
        """Evaluate the chosen source in the background; False if it cannot start."""
        from studio.engine import datasets
        from studio.engine.document import TRAINED
        if self.is_running():
            return False
        d = self.document
        if self.window is not None and hasattr(self.window, "flush_updates"):
            self.window.flush_updates()
        key = self.source_combo.currentData() or CURRENT
        try:
            dataset = d.load_dataset()
        except datasets.DatasetError as exc:
            self._fail(str(exc))
            return False
        self._generation += 1
        self._started_generation = self._generation
        self._running_key = key
        self._preprocess = d.preprocess()
        project = d.snapshot(TRAINED)
        self.worker = EvaluationWorker(project, dataset, key[1] or None, key[2] or "best")
        self.worker.progressed.connect(self._on_progress)
        self.worker.done.connect(lambda result, ds=dataset, k=key: self._on_done(result, ds, k))
        self.worker.failed.connect(self._fail)
        self.worker.finished.connect(self._on_finished)
        self.evaluate_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.summary.setText(f"Evaluating on {len(dataset.x_test):,} held-out examples…")
        self.worker.start()
        return True

    @guarded
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    @guarded
    def _on_done(self, result, dataset, key) -> None:
        if self._generation != self._started_generation:
            self._clear("The project changed while evaluating: press Evaluate again.")
            return
        self.show_result(result, dataset, key)

    @guarded
    def _fail(self, message: str) -> None:
        self.summary.setText(f"⚠ {message}")
        self.summary.setStyleSheet("color: #b71c1c;")
        if self.window is not None and hasattr(self.window, "statusBar"):
            self.window.statusBar().showMessage(message, 10000)

    @guarded
    def _on_finished(self) -> None:
        self.progress.hide()
        self.evaluate_button.setEnabled(True)

    # -- showing ---------------------------------------------------------------------------
    def _clear(self, message: str) -> None:
        self.result, self.result_key, self.dataset, self.cell = None, None, None, None
        self.summary.setStyleSheet("")
        self.summary.setText(message)
        self.per_class.setRowCount(0)
        self.matrix.setRowCount(0)
        self.matrix.setColumnCount(0)
        self.gallery.clear()
        self.rows.setRowCount(0)
        self.gallery_title.setText("")

    def show_result(self, result, dataset, key=CURRENT) -> None:
        self.result, self.result_key, self.dataset, self.cell = result, key, dataset, None
        self.summary.setStyleSheet("")
        self.summary.setText(self._summary_text(result))
        self._fill_per_class(result)
        self._fill_matrix(result)
        wrong = np.argwhere(result.confusion * (1 - np.eye(result.num_classes, dtype=int)))
        if len(wrong):   # open the largest cell of mistakes
            t, p = max(wrong.tolist(), key=lambda tp: result.confusion[tp[0], tp[1]])
            self.show_cell(t, p)
        else:
            self.gallery.clear()
            self.rows.setRowCount(0)
            self.gallery_title.setText("No mistakes. Click a cell to see its examples.")
        self.evaluated.emit()

    def _summary_text(self, r) -> str:
        figures = [f"loss <b>{r.loss:.4f}</b>" if r.loss is not None else "loss –"]
        figures += [f"{k} <b>{v:.4f}</b>" for k, v in r.metrics.items()]
        if not any(k in ("accuracy", "acc") for k in r.metrics):
            figures.append(f"accuracy <b>{r.accuracy:.4f}</b>")
        macro = r.averages()["macro"]
        wrong = int(r.samples - np.trace(r.confusion))
        source = ("Current weights" if r.source.get("kind") == "current"
                  else f"Run {Path(r.source['run']).name}, {r.source['weights']} weights")
        self.summary.setToolTip(f"{source}\ndataset: {r.dataset}\n{r.samples:,} held-out examples")
        text = (f"<b>{source}</b>, {r.samples:,} held-out examples<br>" + " · ".join(figures)
                + f" · macro F1 <b>{macro['f1']:.4f}</b><br>{wrong:,} mistake{'s' if wrong != 1 else ''} "
                f"({r.seconds:.1f} s)")
        for note in r.notes:
            text += f"<br><span style='color:#e65100'>Note: {note}</span>"
        return text

    def _fill_per_class(self, r) -> None:
        table = self.per_class
        table.setSortingEnabled(False)
        table.setRowCount(r.num_classes)
        for i, name in enumerate(r.class_names):
            item = _Number(i, name)
            item.setTextAlignment(Qt.AlignLeft | Qt.AlignVCenter)
            table.setItem(i, 0, item)
            for col, value in enumerate((r.precision[i], r.recall[i], r.f1[i]), start=1):
                cell = _Number(float(value), f"{value:.3f}")
                if r.support[i] and value < 0.9:
                    cell.setForeground(QBrush(QColor("#b71c1c" if value < 0.7 else "#e65100")))
                table.setItem(i, col, cell)
            table.setItem(i, 4, _Number(int(r.support[i]), f"{int(r.support[i]):,}"))
        table.setSortingEnabled(True)

    def _fill_matrix(self, r) -> None:
        k = r.num_classes
        m = self.matrix
        m.blockSignals(True)
        m.clear()
        m.setRowCount(k)
        m.setColumnCount(k)
        m.setHorizontalHeaderLabels(r.class_names)
        m.setVerticalHeaderLabels(r.class_names)
        rows = r.confusion.sum(axis=1)
        largest_mistake = int((r.confusion * (1 - np.eye(k, dtype=int))).max()) if k else 0
        for t in range(k):
            m.verticalHeaderItem(t).setToolTip(f"true class {r.class_names[t]}: {int(rows[t]):,} examples")
            for p in range(k):
                count = int(r.confusion[t, p])
                item = QTableWidgetItem(f"{count:,}")
                item.setTextAlignment(Qt.AlignCenter)
                background, foreground = cell_colours(count, int(rows[t]), t == p, largest_mistake)
                item.setBackground(QBrush(background))
                item.setForeground(QBrush(foreground))
                share = count / max(1, int(rows[t]))
                item.setToolTip(f"true {r.class_names[t]}, predicted {r.class_names[p]}: {count:,} "
                                f"({share:.1%} of class {r.class_names[t]})")
                m.setItem(t, p, item)
        for p in range(k):
            m.horizontalHeaderItem(p).setToolTip(f"predicted class {r.class_names[p]}")
        m.blockSignals(False)
        self._fit_matrix()

    def _fit_matrix(self) -> None:
        """Cells as large as the space allows (a heat map, not a spreadsheet), within limits."""
        k = self.matrix.rowCount()
        if not k:
            return
        vh, hh = self.matrix.verticalHeader(), self.matrix.horizontalHeader()
        avail_h = self.matrix.height() - hh.height() - 2 * self.matrix.frameWidth() - 2
        avail_w = self.matrix.width() - vh.width() - 2 * self.matrix.frameWidth() - 2
        digits = self.matrix.fontMetrics().horizontalAdvance(f"{int(self.result.confusion.max()):,}") + 8 \
            if self.result is not None else 24
        height = int(min(36, max(16, avail_h // k)))
        width = int(min(64, max(digits, 22, avail_w // k)))
        vh.setDefaultSectionSize(height)
        hh.setDefaultSectionSize(width)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_matrix()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._fit_matrix()

    # -- cells and examples ---------------------------------------------------------------------
    @guarded
    def _on_cell(self, row: int, column: int) -> None:
        if self.result is not None and row >= 0 and column >= 0 and (row, column) != self.cell:
            self.show_cell(row, column)

    @guarded
    def _on_class_clicked(self, row: int, _column: int) -> None:
        """A class's row: its most frequent mistake (or its own cell when it has none)."""
        if self.result is None:
            return
        item = self.per_class.item(row, 0)
        t = int(item.value) if item is not None else row
        counts = self.result.confusion[t].copy()
        counts[t] = -1
        p = int(counts.argmax()) if counts.max() > 0 else t
        self.show_cell(t, p)

    def show_cell(self, true: int, predicted: int) -> None:
        """Show the examples of class ``true`` predicted as ``predicted``, largest mistakes first."""
        r = self.result
        self.cell = (true, predicted)
        self.matrix.blockSignals(True)
        self.matrix.setCurrentCell(true, predicted)
        self.matrix.blockSignals(False)
        indices = r.cell(true, predicted)
        shown = indices[:GALLERY_LIMIT]
        names = r.class_names
        what = "most confident mistakes first" if true != predicted else "closest calls first"
        more = f"; the first {len(shown):,} are shown" if len(shown) < len(indices) else ""
        hint = " Click one to look inside." if self._examples_open_elsewhere() else ""
        self.gallery_title.setText(f"<b>True {names[true]}, predicted {names[predicted]}</b>: "
                                   f"{len(indices):,} example{'s' if len(indices) != 1 else ''}"
                                   + (f", {what}{more}.{hint}" if len(indices) else "."))
        raw = self.dataset.x_test if self.dataset is not None else None
        if raw is not None and raw.ndim >= 3:
            self._fill_gallery(shown, raw)
        else:
            self._fill_rows(shown, raw)

    def _examples_open_elsewhere(self) -> bool:
        from PySide6.QtCore import QMetaMethod
        return self.isSignalConnected(QMetaMethod.fromSignal(self.example_selected))

    def _example_tooltip(self, i: int) -> str:
        r = self.result
        probs = r.probabilities[i]
        top = np.argsort(-probs)[:3]
        lines = [f"held-out example #{i}", f"true: {r.class_names[r.y_true[i]]}",
                 f"predicted: {r.class_names[r.y_pred[i]]} ({probs[r.y_pred[i]]:.1%})"]
        lines += [f"  {r.class_names[c]}: {probs[c]:.1%}" for c in top]
        return "\n".join(lines)

    def _fill_gallery(self, indices: np.ndarray, raw: np.ndarray) -> None:
        r = self.result
        self.gallery_stack.setCurrentWidget(self.gallery)
        self.gallery.setUpdatesEnabled(False)
        self.gallery.clear()
        for i in indices.tolist():
            text = (f"{r.class_names[r.y_true[i]]} → {r.class_names[r.y_pred[i]]}\n"
                    f"{r.confidence[i]:.0%}")
            item = QListWidgetItem(QIcon(thumbnail(raw[i])), text)
            item.setData(Qt.UserRole, int(i))
            item.setToolTip(self._example_tooltip(i))
            item.setTextAlignment(Qt.AlignHCenter | Qt.AlignTop)
            self.gallery.addItem(item)
        self.gallery.setUpdatesEnabled(True)

    def _fill_rows(self, indices: np.ndarray, raw: np.ndarray | None) -> None:
        r = self.result
        self.gallery_stack.setCurrentWidget(self.rows)
        features = 0 if raw is None else min(TABLE_FEATURES, int(np.prod(raw.shape[1:])))
        table = self.rows
        table.clear()
        table.setRowCount(len(indices))
        table.setColumnCount(4 + features)
        table.setHorizontalHeaderLabels(["#", "true", "predicted", "confidence"] + [f"x{j}" for j in range(features)])
        for row, i in enumerate(indices.tolist()):
            cells = [_Number(i, str(i)), QTableWidgetItem(r.class_names[r.y_true[i]]),
                     QTableWidgetItem(r.class_names[r.y_pred[i]]),
                     _Number(float(r.confidence[i]), f"{r.confidence[i]:.1%}")]
            values = np.asarray(raw[i]).reshape(-1)[:features] if features else []
            cells += [_Number(float(v), f"{float(v):.4g}") for v in values]
            for col, cell in enumerate(cells):
                cell.setToolTip(self._example_tooltip(i))
                cell.setData(Qt.UserRole, int(i))
                table.setItem(row, col, cell)
        table.resizeColumnsToContents()

    @guarded
    def _on_example(self, item) -> None:
        index = item.data(Qt.UserRole)
        if index is not None:
            self.example_selected.emit(int(index))

    @guarded
    def _on_row(self, row: int) -> None:
        item = self.rows.item(row, 0)
        if item is not None:
            self.example_selected.emit(int(item.data(Qt.UserRole)))

    def gallery_indices(self) -> list[int]:
        """The held-out indices the gallery shows, in order (for tests and other views)."""
        if self.gallery_stack.currentWidget() is self.rows:
            return [int(self.rows.item(k, 0).data(Qt.UserRole)) for k in range(self.rows.rowCount())]
        return [int(self.gallery.item(k).data(Qt.UserRole)) for k in range(self.gallery.count())]
