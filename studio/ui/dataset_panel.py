"""The Dataset tab: choose the data, see samples and class counts, set preprocessing.

Choosing a dataset or changing preprocessing is one undoable step; when the
model has a single Input whose shape differs from the prepared samples, the
same step sets the Input's shape, so the model follows the data.
"""

from __future__ import annotations

import copy

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap, QUndoCommand
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QFileDialog, QFormLayout, QGridLayout,
                               QLabel, QMessageBox, QPushButton, QSplitter, QVBoxLayout, QWidget)

from studio.engine import datasets

SOURCES = [("MNIST sample (bundled, offline)", {"kind": "builtin", "name": "mnist-sample"}),
           ("MNIST — download 70,000 digits", {"kind": "download", "name": "mnist"}),
           ("Fashion-MNIST — download 70,000 images", {"kind": "download", "name": "fashion_mnist"}),
           ("Local file or folder…", None)]


class SetDataset(QUndoCommand):
    """Set the project's dataset reference (and the Input's shape to match)."""

    def __init__(self, window, spec: dict, input_shape: list | None):
        super().__init__("Choose dataset")
        self.window = window
        self.old = copy.deepcopy(window.project.dataset)
        self.new = copy.deepcopy(spec)
        self.input_change = None
        graph = window.project.graph
        inputs = graph.input_nodes()
        if input_shape is not None and len(inputs) == 1:
            node = inputs[0]
            cfg = dict(node.config)
            current = cfg.get("shape") or (cfg.get("batch_shape") or [None])[1:]
            if list(current) != list(input_shape):
                new_cfg = {k: v for k, v in cfg.items() if k != "batch_shape"}
                new_cfg["shape"] = list(input_shape)
                self.input_change = (node.id, cfg, new_cfg)

    def _apply(self, spec, which: int) -> None:
        self.window.project.dataset = copy.deepcopy(spec)
        if self.input_change is not None:
            node_id = self.input_change[0]
            self.window.project.graph.set_config(node_id, self.input_change[which])
        self.window.dataset_panel.show_spec()

    def redo(self) -> None:
        self._apply(self.new, 2)

    def undo(self) -> None:
        self._apply(self.old, 1)


class DatasetPanel(QWidget):
    def __init__(self, window, parent=None):
        super().__init__(parent)
        self.window = window
        self.dataset: datasets.Dataset | None = None
        self.source = QComboBox()
        for label, _ in SOURCES:
            self.source.addItem(label)
        self.load_button = QPushButton("Load")
        self.scale = QCheckBox("Scale pixel values to 0–1")
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
        import pyqtgraph as pg
        self.counts_plot = pg.PlotWidget(title="Training samples per class")
        self.counts_plot.setMouseEnabled(False, False)
        splitter = QSplitter()
        splitter.addWidget(form_box)
        splitter.addWidget(self.grid_box)
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

    # -- reading the project -----------------------------------------------------------
    def bind(self, project) -> None:
        self.dataset = None
        self.show_spec()
        self._clear_view()

    def show_spec(self) -> None:
        spec = self.window.project.dataset or {}
        pre = datasets.Preprocess.from_dict(spec.get("preprocess"))
        self._updating = True
        self.scale.setChecked(pre.scale)
        self.layout_combo.setCurrentIndex(self.layout_combo.findData(pre.layout))
        self.channel.setChecked(pre.channel_axis)
        self.labels.setCurrentIndex(self.labels.findData(pre.labels))
        for k, (_, s) in enumerate(SOURCES):
            if s is not None and s["kind"] == spec.get("kind") and s["name"] == spec.get("name"):
                self.source.setCurrentIndex(k)
        self._updating = False
        self.window.training_panel.dataset_label.setText(self.describe(spec))
        if self.dataset is not None:
            self._show_dataset()

    @staticmethod
    def describe(spec: dict | None) -> str:
        from studio.ui.training_panel import _describe
        return _describe(spec)

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
            base = self.window.project.path.parent if self.window.project.path else None
            dataset = datasets.load(spec, base)
        except datasets.DatasetError as exc:
            QApplication.restoreOverrideCursor()
            QMessageBox.warning(self, "Cannot load dataset", str(exc))
            return False
        QApplication.restoreOverrideCursor()
        self.dataset = dataset
        self.window.training_panel.dataset = dataset
        self.window.undo_stack.push(SetDataset(self.window, spec, self.preprocess().input_shape(dataset)))
        self._show_dataset()
        self.window.flush_updates()
        return True

    def _preprocess_changed(self, *_args) -> None:
        if self._updating or self.window.project.dataset is None:
            return
        spec = dict(self.window.project.dataset)
        spec["preprocess"] = self.preprocess().to_dict()
        shape = self.preprocess().input_shape(self.dataset) if self.dataset is not None else None
        self.window.undo_stack.push(SetDataset(self.window, spec, shape))

    # -- showing -----------------------------------------------------------------------
    def _clear_view(self) -> None:
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.counts_plot.clear()
        self.summary.setText("Press Load to read the dataset and see samples.")

    def _show_dataset(self) -> None:
        import pyqtgraph as pg
        ds = self.dataset
        self._clear_view()
        pre = self.preprocess()
        x, y, _, _ = pre.apply(datasets.Dataset(ds.name, ds.x_train[:1], ds.y_train[:1], ds.x_test[:1],
                                                ds.y_test[:1], ds.class_names))
        self.summary.setText(
            f"<b>{ds.name}</b>: {len(ds.x_train):,} train / {len(ds.x_test):,} held out, {ds.num_classes} classes<br>"
            f"{tuple(ds.x_train.shape[1:])} {ds.x_train.dtype} → model {tuple(x.shape[1:])} {x.dtype}; "
            f"labels {y.dtype}{' one-hot' if y.ndim == 2 else ''}")
        self.summary.setToolTip(ds.source)
        for k in range(min(24, len(ds.x_train))):
            img = ds.x_train[k]
            label = QLabel()
            label.setPixmap(_pixmap(img).scaled(48, 48, Qt.KeepAspectRatio, Qt.FastTransformation))
            label.setToolTip(f"sample {k}")
            caption = QLabel(ds.class_names[int(ds.y_train[k])] if ds.class_names and ds.y_train.ndim == 1
                             else str(ds.y_train[k]))
            caption.setAlignment(Qt.AlignCenter)
            cell = QWidget()
            v = QVBoxLayout(cell)
            v.setContentsMargins(0, 0, 0, 0)
            v.setSpacing(0)
            v.addWidget(label, alignment=Qt.AlignCenter)
            v.addWidget(caption)
            self.grid.addWidget(cell, k // 8, k % 8)
        counts = ds.class_counts()
        xs = np.array(sorted(counts))
        self.counts_plot.addItem(pg.BarGraphItem(x=xs, height=[counts[i] for i in xs], width=0.7, brush="#5c6bc0"))


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
