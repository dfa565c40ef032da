"""The Dataset tab: choose the data, see samples and class counts, set preprocessing.

Choosing a dataset or changing preprocessing is one undoable step on the
document (see ``commands.SetDataset``); when the model has a single Input whose
shape differs from the prepared samples, the same step sets the Input's shape,
so the model follows the data. Tabular data (rows of numbers) shows a table of
rows instead of a sample image grid, and no image-only options.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QFileDialog, QFormLayout, QGridLayout,
                               QLabel, QMessageBox, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from studio.engine import datasets
from studio.ui import commands
from studio.ui.training_panel import describe_dataset

SOURCES = [("MNIST sample (bundled, offline)", {"kind": "builtin", "name": "mnist-sample"}),
           ("MNIST — download 70,000 digits", {"kind": "download", "name": "mnist"}),
           ("Fashion-MNIST — download 70,000 images", {"kind": "download", "name": "fashion_mnist"}),
           ("Local file or folder…", None)]


def is_tabular(ds: datasets.Dataset) -> bool:
    """Rows of numbers rather than images."""
    return ds.x_train.ndim == 2


class DatasetPanel(QWidget):
    def __init__(self, document, undo_stack, window, parent=None):
        super().__init__(parent)
        self.document = document
        self.undo_stack = undo_stack
        self.window = window
        self.source = QComboBox()
        for label, _ in SOURCES:
            self.source.addItem(label)
        self.load_button = QPushButton("Load")
        self.scale = QCheckBox("Scale values to 0–1")
        self.layout_combo = QComboBox()
        self.layout_combo.addItem("keep 2-D images", "keep")
        self.layout_combo.addItem("flatten to vectors", "flatten")
        self.channel = QCheckBox("Add a channel axis (28×28 → 28×28×1)")
        self.labels = QComboBox()
        self.labels.addItem("integer labels", "integer")
        self.labels.addItem("one-hot labels", "onehot")
        self.summary = QLabel("No dataset loaded.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        form_box = QWidget()
        form = QFormLayout(form_box)
        form.addRow("Source", self.source)
        form.addRow(self.load_button)
        form.addRow("Preprocessing", self.scale)
        form.addRow("", self.layout_combo)
        form.addRow("", self.channel)
        form.addRow("", self.labels)
        form.addRow(self.summary)
        self.grid_box = QWidget()
        self.grid = QGridLayout(self.grid_box)
        self.grid.setSpacing(2)
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.hide()
        samples = QWidget()
        sl = QVBoxLayout(samples)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.grid_box)
        sl.addWidget(self.table)
        import pyqtgraph as pg
        self.counts_plot = pg.PlotWidget(title="Training samples per class")
        self.counts_plot.setMouseEnabled(False, False)
        splitter = QSplitter()
        splitter.addWidget(form_box)
        splitter.addWidget(samples)
        splitter.addWidget(self.counts_plot)
        splitter.setSizes([360, 420, 420])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.addWidget(splitter)
        self.load_button.clicked.connect(self.load_selected)
        for w in (self.scale, self.channel):
            w.toggled.connect(self._preprocess_changed)
        for w in (self.layout_combo, self.labels):
            w.currentIndexChanged.connect(self._preprocess_changed)
        self._updating = False
        document.dataset_changed.connect(self.show_spec)
        document.project_replaced.connect(self.show_spec)
        self.show_spec()

    @property
    def dataset(self) -> datasets.Dataset | None:
        return self.document.dataset

    # -- reading the document -----------------------------------------------------------
    def show_spec(self) -> None:
        spec = self.document.dataset_spec or {}
        pre = self.document.preprocess()
        self._updating = True
        self.scale.setChecked(pre.scale)
        self.layout_combo.setCurrentIndex(self.layout_combo.findData(pre.layout))
        self.channel.setChecked(pre.channel_axis)
        self.labels.setCurrentIndex(self.labels.findData(pre.labels))
        for k, (_, s) in enumerate(SOURCES):
            if s is not None and s["kind"] == spec.get("kind") and s["name"] == spec.get("name"):
                self.source.setCurrentIndex(k)
        if spec.get("kind") == "file":
            self.source.setCurrentIndex(len(SOURCES) - 1)
        self._updating = False
        tabular = self.dataset is not None and is_tabular(self.dataset)
        for w in (self.layout_combo, self.channel):
            w.setVisible(not tabular)
        if self.dataset is None:
            self._clear_view()
        else:
            self._show_dataset()

    describe = staticmethod(describe_dataset)

    def preprocess(self) -> datasets.Preprocess:
        return datasets.Preprocess(scale=self.scale.isChecked(), layout=self.layout_combo.currentData(),
                                   channel_axis=self.channel.isChecked(), labels=self.labels.currentData())

    # -- loading -----------------------------------------------------------------------
    def load_selected(self) -> bool:
        label, spec = SOURCES[self.source.currentIndex()]
        if spec is None:
            path, _ = QFileDialog.getOpenFileName(self, "Dataset file", "",
                                                  "Datasets (*.npz *.csv *.gz *.idx);;All files (*)")
            if not path:
                return False
            spec = {"kind": "file", "path": path}
            self.window.files.trust_data(path)  # the person chose it: projects may name it from now on
        elif spec["kind"] == "download":
            answer = QMessageBox.question(self, "Download dataset",
                                          f"Download {datasets.DOWNLOADS[spec['name']]} from the internet?")
            if answer != QMessageBox.Yes:
                return False
        return self.load_spec(dict(spec))

    def load_spec(self, spec: dict) -> bool:
        spec["preprocess"] = self.preprocess().to_dict()
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            base = self.document.path.parent if self.document.path else None
            dataset = datasets.load(spec, base, trusted=self.document.trusted_data)
        except datasets.DatasetError as exc:
            QApplication.restoreOverrideCursor()
            QMessageBox.warning(self, "Cannot load dataset", str(exc))
            return False
        QApplication.restoreOverrideCursor()
        if is_tabular(dataset):  # no image layout choices for rows of numbers
            spec["preprocess"].update(layout="keep", channel_axis=False)
        pre = datasets.Preprocess.from_dict(spec["preprocess"])
        self.undo_stack.push(commands.SetDataset(self.document, spec, pre.input_shape(dataset), loaded=dataset))
        self.window.flush_updates()
        return True

    def _preprocess_changed(self, *_args) -> None:
        if self._updating or self.document.dataset_spec is None:
            return
        spec = dict(self.document.dataset_spec)
        spec["preprocess"] = self.preprocess().to_dict()
        shape = self.preprocess().input_shape(self.dataset) if self.dataset is not None else None
        self.undo_stack.push(commands.SetDataset(self.document, spec, shape, loaded=self.dataset,
                                                 text="Change preprocessing"))

    # -- showing -----------------------------------------------------------------------
    def _clear_view(self) -> None:
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.table.clear()
        self.table.hide()
        self.grid_box.show()
        self.counts_plot.clear()
        self.summary.setText("Press Load to read the dataset and see samples.")

    def _show_dataset(self) -> None:
        import pyqtgraph as pg
        ds = self.dataset
        self._clear_view()
        pre = self.document.preprocess()
        x, y, _, _ = pre.apply(datasets.Dataset(ds.name, ds.x_train[:1], ds.y_train[:1], ds.x_test[:1],
                                                ds.y_test[:1], ds.class_names))
        kind = "rows of numbers" if is_tabular(ds) else "images"
        self.summary.setText(
            f"<b>{ds.name}</b> ({kind}): {len(ds.x_train):,} train / {len(ds.x_test):,} held out, "
            f"{ds.num_classes} classes<br>"
            f"{tuple(ds.x_train.shape[1:])} {ds.x_train.dtype} → model {tuple(x.shape[1:])} {x.dtype}; "
            f"labels {y.dtype}{' one-hot' if y.ndim == 2 else ''}")
        self.summary.setToolTip(ds.source)
        if is_tabular(ds):
            self._show_rows(ds)
        else:
            self._show_images(ds)
        counts = ds.class_counts()
        xs = np.array(sorted(counts))
        self.counts_plot.addItem(pg.BarGraphItem(x=xs, height=[counts[i] for i in xs], width=0.7, brush="#5c6bc0"))
        axis = self.counts_plot.getAxis("bottom")
        names = ds.class_names or [str(i) for i in range(ds.num_classes)]
        step = max(1, len(xs) // 12)  # whole classes only, and never crowded
        axis.setTicks([[(int(i), names[int(i)] if int(i) < len(names) else str(int(i))) for i in xs[::step]]])

    def _caption(self, ds, k: int) -> str:
        return ds.class_names[int(ds.y_train[k])] if ds.class_names and ds.y_train.ndim == 1 else str(ds.y_train[k])

    def _show_images(self, ds) -> None:
        for k in range(min(24, len(ds.x_train))):
            label = QLabel()
            label.setPixmap(_pixmap(ds.x_train[k]).scaled(48, 48, Qt.KeepAspectRatio, Qt.FastTransformation))
            label.setToolTip(f"sample {k}")
            caption = QLabel(self._caption(ds, k))
            caption.setAlignment(Qt.AlignCenter)
            cell = QWidget()
            v = QVBoxLayout(cell)
            v.setContentsMargins(0, 0, 0, 0)
            v.setSpacing(0)
            v.addWidget(label, alignment=Qt.AlignCenter)
            v.addWidget(caption)
            self.grid.addWidget(cell, k // 8, k % 8)

    def _show_rows(self, ds) -> None:
        self.grid_box.hide()
        rows, cols = min(20, len(ds.x_train)), min(12, ds.x_train.shape[1])
        self.table.setRowCount(rows)
        self.table.setColumnCount(cols + 1)
        self.table.setHorizontalHeaderLabels(["label"] + [f"x{j}" for j in range(cols)])
        for r in range(rows):
            self.table.setItem(r, 0, QTableWidgetItem(self._caption(ds, r)))
            for j in range(cols):
                self.table.setItem(r, j + 1, QTableWidgetItem(f"{float(ds.x_train[r, j]):.4g}"))
        self.table.resizeColumnsToContents()
        self.table.show()


def _pixmap(img: np.ndarray) -> QPixmap:
    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = np.clip(a * (255 if a.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
    a = np.ascontiguousarray(a)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
        a = a.reshape(a.shape[0], a.shape[1])
        qimg = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format_Grayscale8)
    elif a.ndim == 3 and a.shape[2] == 3:
        qimg = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format_RGB888)
    else:
        qimg = QImage(8, 8, QImage.Format_Grayscale8)
        qimg.fill(128)
    return QPixmap.fromImage(qimg.copy())
