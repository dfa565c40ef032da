"""The "Try it" tab: draw a digit (or drop a picture) and watch the class probabilities.

The drawing is turned into a sample the way MNIST's digits were made
(``studio.engine.digits``), for whatever image classifier the project holds,
at its input size and channels. The model is compiled off the GUI thread once
per change of the graph or weights (:class:`ModelKeeper`, shared in shape
with the Inside tab); each stroke then costs one ``model(x, training=False)``
on a batch of one, coalesced to at most one per pass of the event loop.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from studio.ui.guard import guarded

log = logging.getLogger(__name__)


# -- background work -------------------------------------------------------------------------

class Task(QThread):
    """Runs ``fn()`` off the GUI thread. ``succeeded``/``failed``/``progressed`` arrive on the
    GUI thread. With ``stream=True`` ``fn()`` returns an iterator whose items are emitted as
    ``progressed`` until it ends or :meth:`stop` is called.

    Running tasks are kept alive here (not by a widget), so closing a window while one runs
    does not destroy a running thread; the last reference is dropped on the GUI thread.
    """

    succeeded = Signal(object)
    failed = Signal(str)
    progressed = Signal(object)
    running: set = set()
    _hooked = False

    def __init__(self, fn, stream: bool = False):
        super().__init__()
        self.fn = fn
        self.stream = stream
        self._stop = False
        self.finished.connect(self._forget)

    def start(self) -> None:
        if not Task.running and not Task._hooked:
            # a thread still running when Python shuts down would abort the process
            import atexit
            from PySide6.QtCore import QCoreApplication
            atexit.register(Task.wait_all)
            app = QCoreApplication.instance()
            if app is not None:
                app.aboutToQuit.connect(Task.wait_all)
            Task._hooked = True
        Task.running.add(self)
        super().start()

    def stop(self) -> None:
        self._stop = True

    def run(self) -> None:
        try:
            if not self.stream:
                self.succeeded.emit(self.fn())
                return
            items = self.fn()
            try:
                for item in items:
                    if self._stop:
                        break
                    self.progressed.emit(item)
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()
            self.succeeded.emit(None)
        except Exception as exc:  # noqa: BLE001 - shown to the person, traceback to the log
            log.exception("background task failed")
            self.failed.emit(_one_line(exc))

    def _forget(self) -> None:
        Task.running.discard(self)

    @staticmethod
    def wait_all(ms: int = 30_000) -> None:
        """Stop and wait for every running task (tests, and before the application quits)."""
        for task in list(Task.running):
            task.stop()
            task.wait(ms)


def percent(p: float) -> str:
    """A probability for people: one decimal, and never a rounded-up 100 %."""
    return "over 99.9%" if p > 0.999 else f"{p:.1%}"


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class Built:
    """What a compile produced: the inspector, the raw image shape, class names, the preprocessing."""

    def __init__(self, inspector, image_shape, class_names, preprocess, trained: bool):
        self.inspector = inspector
        self.model = inspector.model
        self.image_shape = image_shape
        self.class_names = class_names
        self.preprocess = preprocess
        self.trained = trained

    def model_input(self, raw: np.ndarray) -> np.ndarray:
        from studio.engine.inspect_model import model_input
        return model_input(self.model, self.preprocess, raw)


class ModelKeeper(QObject):
    """The document's model with its current (trained, else starting) weights, compiled in the
    background after a change of the graph, weights or data, but only while a view that shows
    it is visible (:meth:`watch`) or when a view asks (:meth:`request`). Views redraw on ``changed``."""

    changed = Signal()

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.built: Built | None = None
        self.message = "Waiting for TensorFlow to load…"
        self._version = 0
        self._built_version = -1
        self._task: Task | None = None
        self._task_version = -1
        self._watchers: list[QWidget] = []
        # edits come in bursts (typing, dragging): compile once they settle
        self._timer = QTimer(self, singleShot=True, interval=150, timeout=self._request_if_watched)
        for event in (document.weights_changed, document.graph_changed, document.project_replaced,
                      document.dataset_changed):
            event.connect(self._invalidate)

    def watch(self, widget: QWidget) -> None:
        """Keep the model up to date while ``widget`` is visible."""
        self._watchers.append(widget)

    def _invalidate(self, *_args) -> None:
        self._version += 1
        self._timer.start()

    def _request_if_watched(self) -> None:
        import shiboken6
        self._watchers = [w for w in self._watchers if shiboken6.isValid(w)]   # a view may have gone
        if any(w.isVisible() for w in self._watchers):
            self.request()

    def current(self) -> bool:
        return self._built_version == self._version

    def busy(self) -> bool:
        return self._task is not None

    def request(self) -> None:
        """Compile if the graph or weights changed since the last compile (at most one at a time)."""
        if self.current() or self._task is not None:
            return
        d = self.document
        if not d.checking_enabled:
            if self.message != "Waiting for TensorFlow to load…":
                self.message = "Waiting for TensorFlow to load…"
                self.changed.emit()
            return
        from studio.engine.document import STARTING, TRAINED
        trained = d.has_trained_weights() or bool(d.weights_by_name(STARTING))
        project = d.snapshot(TRAINED)
        preprocess = d.preprocess()
        sample_shape = d.dataset.sample_shape if d.dataset is not None else None
        names = list(d.dataset.class_names) if d.dataset is not None else []

        def compile_model():
            from studio.engine import inspect_model
            model = inspect_model.build_model(project)
            shape = inspect_model.image_shape(model, sample_shape)
            classes = int(model.outputs[0].shape[-1]) if len(model.outputs) == 1 else 0
            class_names = names if len(names) == classes else [str(k) for k in range(classes)]
            return Built(inspect_model.ModelInspector(model), shape, class_names, preprocess, trained)

        self.message = "Compiling the model…"
        self._task_version = self._version
        self._task = Task(compile_model)
        self._task.succeeded.connect(self._on_compiled)
        self._task.failed.connect(self._on_failed)
        self._task.start()
        self.changed.emit()

    def _on_compiled(self, built: Built) -> None:
        self._finish(built, "")

    def _on_failed(self, message: str) -> None:
        self._finish(None, f"The model cannot be built: {message}. Fix it on the canvas (see Problems).")

    def _finish(self, built: Built | None, message: str) -> None:
        self._task = None
        self._built_version = self._task_version
        self.built = built
        self.message = message
        self.changed.emit()
        if not self.current():
            self.request()


# -- the pad -----------------------------------------------------------------------------

class DrawingPad(QWidget):
    """A square sheet of paper: dark ink, round antialiased pen. ``stroked`` fires on every change."""

    stroked = Signal(float)          # time.perf_counter() of the mouse event
    finished = Signal()              # the pen was lifted
    dropped = Signal(object)         # an image as a numpy array (H, W, 4) uint8
    drop_failed = Signal(str)

    SIDE = 280

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(150, 150)
        self.setMaximumSize(420, 420)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setAcceptDrops(True)
        self.setCursor(Qt.CrossCursor)
        self.setToolTip("Draw with the mouse; drop an image file here to classify it")
        self.image = QImage(self.SIDE, self.SIDE, QImage.Format_Grayscale8)
        self._last: QPointF | None = None
        self.clear()

    def sizeHint(self):
        from PySide6.QtCore import QSize
        return QSize(self.SIDE, self.SIDE)

    @property
    def pen_width(self) -> float:
        return self.image.width() * 0.075   # MNIST strokes are about an eighth of a digit's height

    def clear(self) -> None:
        self.image.fill(QColor(255, 255, 255))
        self.update()

    def is_empty(self) -> bool:
        return bool(self.pixels().min() == 255)

    def pixels(self) -> np.ndarray:
        """The sheet as an (H, W) uint8 array: 255 paper, 0 ink."""
        view = np.frombuffer(self.image.constBits(), dtype=np.uint8)
        return view.reshape(self.image.height(), self.image.bytesPerLine())[:, :self.image.width()].copy()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        side = max(64, min(self.width(), self.height()))
        if side != self.image.width():   # keep the drawing, at the new size
            image = QImage(side, side, QImage.Format_Grayscale8)
            image.fill(QColor(255, 255, 255))
            p = QPainter(image)
            p.setRenderHint(QPainter.SmoothPixmapTransform)
            p.drawImage(QRectF(0, 0, side, side), self.image)
            p.end()
            self.image = image

    def _painter(self) -> QPainter:
        p = QPainter(self.image)
        p.setRenderHint(QPainter.Antialiasing)
        p.setPen(QPen(QColor(0, 0, 0), self.pen_width, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin))
        return p

    def stroke_to(self, pos: QPointF) -> None:
        p = self._painter()
        if self._last is None:
            p.drawPoint(pos)
        else:
            p.drawLine(self._last, pos)
        p.end()
        self._last = pos
        self.update()

    @guarded
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            self._last = None
            self.stroke_to(event.position())
            self.stroked.emit(time.perf_counter())

    @guarded
    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.LeftButton and self._last is not None:
            self.stroke_to(event.position())
            self.stroked.emit(time.perf_counter())

    @guarded
    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.LeftButton and self._last is not None:
            self._last = None
            self.finished.emit()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.drawImage(0, 0, self.image)
        p.setPen(QPen(QColor("#90a4ae"), 1))
        p.drawRect(QRectF(0.5, 0.5, self.image.width() - 1, self.image.height() - 1))
        p.end()

    def show_picture(self, array: np.ndarray) -> None:
        """Show a dropped picture on the sheet (grey, fitted), so the pad shows what is classified."""
        from studio.engine import digits
        grey = digits.to_grey(array)
        side = self.image.width()
        scale = min(side / grey.shape[0], side / grey.shape[1])
        h, w = max(1, round(grey.shape[0] * scale)), max(1, round(grey.shape[1] * scale))
        fitted = np.round(np.clip(digits.resize(grey, h, w), 0, 1) * 255).astype(np.uint8)
        border = np.concatenate([fitted[0], fitted[-1], fitted[:, 0], fitted[:, -1]])
        sheet = np.full((side, side), 255 if np.median(border) > 127 else 0, np.uint8)
        top, left = (side - h) // 2, (side - w) // 2
        sheet[top:top + h, left:left + w] = fitted
        self.image = _qimage(sheet)
        self.update()

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    @guarded
    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        try:
            array = read_image(paths[0])
        except ValueError as exc:
            self.drop_failed.emit(str(exc))
            return
        self.dropped.emit(array)


def read_image(path: str) -> np.ndarray:
    """An image file as (H, W, 4) uint8 RGBA; ValueError says why it cannot be read."""
    from pathlib import Path
    image = QImage(str(path))
    if image.isNull():
        raise ValueError(f"{Path(path).name} is not an image Qt can read (PNG, JPEG, BMP, GIF…)")
    if image.width() * image.height() > 50_000_000:
        raise ValueError(f"{Path(path).name} is too large to classify ({image.width()}x{image.height()} pixels)")
    image = image.convertToFormat(QImage.Format_RGBA8888)
    view = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
    return view[:, :image.width() * 4].reshape(image.height(), image.width(), 4).copy()


def _qimage(array: np.ndarray) -> QImage:
    """An (H, W) or (H, W, 3) uint8 array as a QImage (copied)."""
    a = np.ascontiguousarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = np.ascontiguousarray(a[..., 0])
    if a.ndim == 2:
        return QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format_Grayscale8).copy()
    a = np.ascontiguousarray(a[..., :3])
    return QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format_RGB888).copy()


def pixmap(array: np.ndarray, side: int) -> QPixmap:
    """A small image enlarged with sharp pixels to fit ``side``."""
    image = _qimage(array)
    return QPixmap.fromImage(image.scaled(side, side, Qt.KeepAspectRatio, Qt.FastTransformation))


class PredictPad(QWidget):
    """The "Try it" tab: the pad, what the model sees, and the class probabilities."""

    example_chosen = Signal(object, str)     # (raw sample, description): "Look inside" on this drawing

    LIVE_BUDGET_S = 0.04   # a model slower than this predicts when the pen lifts, not while drawing

    def __init__(self, document, window=None, parent=None):
        super().__init__(parent)
        import pyqtgraph as pg
        self.document = document
        self.window = window
        self.keeper = ModelKeeper(document, self)
        self.keeper.watch(self)
        self.keeper.changed.connect(self._on_model_changed)
        self.latencies: list[float] = []       # seconds from a stroke to the bars redrawn
        self.last_sample: np.ndarray | None = None
        self.probabilities: np.ndarray | None = None
        self._picture: np.ndarray | None = None   # a dropped picture (classified whole for colour models)
        self._stroke_time: float | None = None
        self._predict_seconds = 0.0
        self._update_timer = QTimer(self, singleShot=True, interval=0, timeout=self.update_prediction)
        self._build(pg)
        document.project_replaced.connect(self.clear)

    def _build(self, pg) -> None:
        self.pad = DrawingPad()
        self.pad.stroked.connect(self._on_stroke)
        self.pad.finished.connect(self._on_pen_lifted)
        self.pad.dropped.connect(self._on_dropped)
        self.pad.drop_failed.connect(lambda message: self.status.setText(message))
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        self.inside_button = QPushButton("Look inside")
        self.inside_button.setToolTip("Show this drawing in the Inside tab (layer outputs, Grad-CAM)")
        self.inside_button.clicked.connect(self._look_inside)
        self.inside_button.setEnabled(False)
        self._buttons_box = QWidget()
        buttons = QHBoxLayout(self._buttons_box)
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.inside_button)
        left = QVBoxLayout()
        left.addWidget(self.pad)
        left.addWidget(self._buttons_box)
        left.addStretch(1)

        self.seen = QLabel()
        self.seen.setFixedSize(112, 112)
        self.seen.setAlignment(Qt.AlignCenter)
        self.seen.setStyleSheet("background: black; border: 1px solid #90a4ae;")
        self.seen.setToolTip("The drawing as the model receives it: cropped, fitted to a 20/28 box, "
                             "centred by its centre of mass (MNIST's own recipe)")
        seen_title = QLabel("The model sees")
        seen_title.setStyleSheet("color: #546e7a;")
        self.answer = QLabel("–")
        self.answer.setStyleSheet("font-size: 28px; font-weight: 600; color: #1565c0;")
        self.answer.setAlignment(Qt.AlignCenter)
        self.confidence = QLabel("")
        self.confidence.setAlignment(Qt.AlignCenter)
        middle = QVBoxLayout()
        middle.addWidget(seen_title)
        middle.addWidget(self.seen)
        middle.addSpacing(12)
        middle.addWidget(self.answer)
        middle.addWidget(self.confidence)
        middle.addStretch(1)

        self.plot = pg.PlotWidget(title="Class probabilities")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.setLabel("left", "probability")
        self.plot.showGrid(y=True, alpha=0.25)
        self.bars = pg.BarGraphItem(x=np.arange(10), height=np.zeros(10), width=0.7, brush="#90caf9",
                                    pen=pg.mkPen("#1565c0"))
        self.plot.addItem(self.bars)
        self.plot.setMinimumWidth(260)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #8d6e00;")
        self.status.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Minimum)
        right = QVBoxLayout()
        right.addWidget(self.status)
        right.addWidget(self.plot, 1)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(left)
        layout.addSpacing(8)
        layout.addLayout(middle)
        layout.addSpacing(8)
        layout.addLayout(right, 1)
        self._class_names: list[str] = []
        self._set_classes([str(k) for k in range(10)])

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # the sheet stays square and as tall as the tab allows, the buttons as wide as the sheet
        side = max(150, min(420, self.height() - self.clear_button.sizeHint().height() - 22))
        if self.pad.width() != side:
            self.pad.setFixedSize(side, side)
            self._buttons_box.setFixedWidth(side)

    # -- model -------------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.keeper.request()
        self._show_status()

    def _on_model_changed(self) -> None:
        self._show_status()
        built = self.keeper.built
        if built is not None and not self.keeper.busy():
            self._set_classes(built.class_names)
            if not self.pad.is_empty():
                self.update_prediction()

    def usable(self) -> tuple[bool, str]:
        """Whether the pad can classify now, and what to tell the person otherwise."""
        built = self.keeper.built
        if built is None:
            return False, self.keeper.message or "Compiling the model…"
        if built.image_shape is None:
            shape = tuple(built.model.inputs[0].shape[1:]) if len(built.model.inputs) == 1 else "several inputs"
            return False, (f"The model is not an image classifier (input {shape}); the pad needs one image in "
                           "and class scores out.")
        if not built.trained:
            return False, "The model is not trained yet: train it (F5), then draw here to try it."
        return True, "Updating the model…" if self.keeper.busy() else ""

    def _show_status(self) -> None:
        ok, message = self.usable()
        if ok and not message:
            built = self.keeper.built
            message = f"Draw a digit. The model takes {'x'.join(map(str, built.image_shape))} images."
            self.status.setStyleSheet("color: #546e7a;")
        else:
            self.status.setStyleSheet("color: #8d6e00;")
        self.status.setText(message)

    def _set_classes(self, names: list[str]) -> None:
        if names == self._class_names:
            return
        self._class_names = list(names)
        n = len(names)
        step = max(1, int(np.ceil(n / 20)))
        self.plot.getAxis("bottom").setTicks([[(k, names[k]) for k in range(0, n, step)]])
        self.plot.setXRange(-0.6, n - 0.4, padding=0)
        self.bars.setOpts(x=np.arange(n), height=np.zeros(n))

    # -- drawing -----------------------------------------------------------------------------
    def _on_stroke(self, when: float) -> None:
        self._picture = None
        if self._stroke_time is None:
            self._stroke_time = when
        if self._predict_seconds <= self.LIVE_BUDGET_S and not self._update_timer.isActive():
            self._update_timer.start()

    def _on_pen_lifted(self) -> None:
        self._update_timer.start()

    def _on_dropped(self, array: np.ndarray) -> None:
        self._picture = array
        self.pad.show_picture(array)
        self._stroke_time = time.perf_counter()
        self.update_prediction()

    def clear(self) -> None:
        self.pad.clear()
        self._picture = None
        self.last_sample = None
        self.probabilities = None
        self.bars.setOpts(height=np.zeros(len(self._class_names)))
        self.answer.setText("–")
        self.confidence.setText("")
        self.seen.clear()
        self.inside_button.setEnabled(False)

    def sample(self) -> np.ndarray | None:
        """The drawing (or dropped picture) prepared for the model's input shape."""
        from studio.engine import digits
        built = self.keeper.built
        if built is None or built.image_shape is None:
            return None
        shape = built.image_shape
        drawing = len(shape) == 2 or shape[2] == 1 or self._picture is None
        source = self._picture if self._picture is not None else self.pad.pixels()
        return digits.prepare(source, shape, drawing=drawing)

    def update_prediction(self) -> None:
        """Classify what is on the pad now and redraw the bars."""
        self.keeper.request()
        ok, _ = self.usable()
        if not ok or self.pad.is_empty():
            self._stroke_time = None
            return
        t0 = time.perf_counter()
        built = self.keeper.built
        raw = self.sample()
        probabilities = built.inspector.predict(built.model_input(raw))[0]
        self._predict_seconds = time.perf_counter() - t0
        self.last_sample = raw
        self.probabilities = probabilities
        self._show_probabilities(probabilities)
        self.seen.setPixmap(pixmap(raw, 112))
        self.inside_button.setEnabled(True)
        if self._stroke_time is not None:
            self.latencies.append(time.perf_counter() - self._stroke_time)
            self._stroke_time = None

    def _show_probabilities(self, probabilities: np.ndarray) -> None:
        p = np.asarray(probabilities, dtype=float).ravel()
        top = int(p.argmax())
        brushes = ["#1565c0" if k == top else "#90caf9" for k in range(len(p))]
        self.bars.setOpts(x=np.arange(len(p)), height=p, brushes=brushes)
        name = self._class_names[top] if top < len(self._class_names) else str(top)
        self.answer.setText(name)
        self.confidence.setText(f"{percent(p[top])} sure")

    def _look_inside(self) -> None:
        if self.last_sample is not None:
            name = self.answer.text()
            self.example_chosen.emit(self.last_sample.copy(), f"the drawing (predicted {name})")
