"""Adding a pretrained backbone: choose its input size, pooling and weights, then it is
built (and its ImageNet weights downloaded, if asked for) in the background, with
progress and a Cancel button, and added as one undoable step."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressDialog, QPushButton,
                               QRadioButton, QSpinBox, QVBoxLayout, QWidget)

from studio.engine import pretrained
from studio.ui import commands

PREFIX = "pretrained:"  # palette entries of the Pretrained section carry this before the network's name


class PretrainedDialog(QDialog):
    def __init__(self, backbone: str, parent=None):
        super().__init__(parent)
        spec = pretrained.BACKBONES[backbone]
        self.backbone = backbone
        self.setWindowTitle(f"Add {backbone}")
        layout = QVBoxLayout(self)
        about = QLabel(f"<b>{backbone}</b> without its classifier (include_top off): {spec.about}.")
        about.setWordWrap(True)
        layout.addWidget(about)
        form = QFormLayout()
        self.size = QSpinBox(minimum=spec.min_size, maximum=1024, value=spec.default_size, suffix=" px")
        self.size.setToolTip("Images are square, with 3 channels (RGB)")
        form.addRow("Input size", self.size)
        self.pooling = QComboBox()
        for label, value in (("average (one vector per image)", "avg"), ("maximum", "max"),
                             ("none (keep the feature maps)", None)):
            self.pooling.addItem(label, value)
        form.addRow("Pooling", self.pooling)
        layout.addLayout(form)
        self.weights = QButtonGroup(self)
        self.random = QRadioButton("Random weights (train it from scratch)")
        self.imagenet = QRadioButton("ImageNet weights (downloaded by Keras now, once)")
        self.from_file = QRadioButton("Weights from a file…")
        for k, b in enumerate((self.random, self.imagenet, self.from_file)):
            self.weights.addButton(b, k)
            layout.addWidget(b)
        self.imagenet.setChecked(True)
        row = QWidget()
        file_row = QHBoxLayout(row)
        file_row.setContentsMargins(24, 0, 0, 0)
        self.path = QLineEdit(placeholderText=".h5, .weights.h5 or .keras")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose)
        file_row.addWidget(self.path)
        file_row.addWidget(browse)
        layout.addWidget(row)
        self.preprocess = QCheckBox("Put its preprocessing in front (what preprocess_input does)")
        self.preprocess.setChecked(True)
        if spec.preprocess == "none":
            self.preprocess.setChecked(False)
            self.preprocess.setEnabled(False)
            self.preprocess.setText("Preprocessing: built into the network (it takes pixels 0–255)")
        layout.addWidget(self.preprocess)
        self.frozen = QCheckBox("Frozen (feature extraction: only what follows it trains)")
        self.frozen.setChecked(True)
        layout.addWidget(self.frozen)
        self.weights.idToggled.connect(lambda _id, _on: self._sync())
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._sync()

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", "", "Weights (*.h5 *.keras);;All files (*)")
        if path:
            self.path.setText(path)
            self.from_file.setChecked(True)

    def _sync(self) -> None:
        self.path.setEnabled(self.from_file.isChecked())
        if self.random.isChecked():
            self.frozen.setChecked(False)

    def choice(self) -> dict:
        source = "random" if self.random.isChecked() else "imagenet" if self.imagenet.isChecked() else "file"
        return {"name": self.backbone, "size": self.size.value(), "pooling": self.pooling.currentData(),
                "source": source, "path": self.path.text().strip() or None,
                "preprocess": self.preprocess.isChecked(), "trainable": not self.frozen.isChecked()}


class PretrainedActions:
    """Palette entries of the Pretrained section -> the dialog -> a background build -> one undo step."""

    def __init__(self, window):
        self.window = window
        self.task = None

    def ask(self, backbone: str, scene_pos: QPointF | None = None) -> None:
        dialog = PretrainedDialog(backbone, self.window)
        if dialog.exec() == QDialog.Accepted:
            self.add(dialog.choice(), scene_pos)

    def add(self, choice: dict, scene_pos: QPointF | None = None, wait: bool = False) -> None:
        """Build the backbone in the background and add it where asked (``wait``: tests)."""
        from studio.ui.predict_pad import Task
        w = self.window
        w.blocks.go_to(0)  # a backbone goes into the model itself
        if scene_pos is None:
            scene_pos = w.view.mapToScene(w.view.viewport().rect().center())
        progress = QProgressDialog(f"Preparing {choice['name']}…", "Cancel", 0, 0, w)
        progress.setWindowTitle("Pretrained network")
        progress.setWindowModality(Qt.WindowModal)
        progress.setMinimumDuration(300)
        cancelled = []
        progress.canceled.connect(lambda: cancelled.append(True))

        def report(done: int, total: int | None) -> bool:
            task.progressed.emit((done, total))
            return not cancelled

        def build():
            return pretrained.make_backbone(choice["name"], choice["size"], choice["pooling"], choice["source"],
                                            choice.get("path"), choice.get("trainable"), report)

        def on_progress(value) -> None:
            done, total = value
            if total:
                progress.setMaximum(total // 1024)
                progress.setValue(done // 1024)
            progress.setLabelText(f"Downloading {choice['name']}'s ImageNet weights: {done / 1e6:.1f}"
                                  + (f" of {total / 1e6:.1f} MB" if total else " MB"))

        def on_done(result) -> None:
            progress.close()
            config, name, weights = result
            graph = w.document.graph
            try:
                command = commands.AddWithWeights(
                    w.document, graph, f"Add {choice['name']}",
                    lambda g: pretrained.add_to_graph(g, choice["name"], config, name, weights,
                                                      (scene_pos.x(), scene_pos.y()), choice["preprocess"]))
            except Exception as exc:  # noqa: BLE001 - one line for the person
                w.statusBar().showMessage(f"Could not add {choice['name']}: {exc}", 10000)
                return
            w.undo_stack.push(command)
            w.scene.select_nodes(command.added)
            source = {"random": "random weights", "imagenet": "ImageNet weights",
                      "file": "the weights from the file"}[choice["source"]]
            w.statusBar().showMessage(f"Added {choice['name']} with {source}: connect an Input "
                                      f"({choice['size']}×{choice['size']}×3) to it and a head after it", 10000)

        def on_failed(message: str) -> None:
            progress.close()
            from PySide6.QtWidgets import QMessageBox
            QMessageBox.warning(w, "Pretrained network", message)

        task = self.task = Task(build)
        task.progressed.connect(on_progress)
        task.succeeded.connect(on_done)
        task.failed.connect(on_failed)
        task.start()
        if wait:
            task.wait()
            from PySide6.QtWidgets import QApplication
            QApplication.processEvents()
