"""GraphView: zoom around the cursor, pan, rubber-band selection, drops."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QTransform
from PySide6.QtWidgets import QGraphicsView

from studio.ui.guard import guarded

LAYER_MIME = "application/x-layer-studio-layer"


class GraphView(QGraphicsView):
    layer_dropped = Signal(str, QPointF)          # class name, scene position
    files_dropped = Signal(list)                  # local paths
    add_requested = Signal(QPointF)               # double-click or shortcut on empty canvas
    zoom_changed = Signal(float)

    MIN_ZOOM, MAX_ZOOM = 0.05, 4.0

    def __init__(self, scene, parent=None):
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        self.setDragMode(QGraphicsView.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.SmartViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.DontSavePainterState | QGraphicsView.DontAdjustForAntialiasing)
        self.setAcceptDrops(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setSceneRect(QRectF(-50000, -50000, 100000, 100000))
        self._pan_from = None
        self._zooming = False
        self._settle = QTimer(self, singleShot=True, interval=200, timeout=self._end_zoom_gesture)

    # -- zoom and pan ----------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def _begin_zoom_gesture(self) -> None:
        """Zooming re-renders every cached node; while it runs, the scene's draft
        layer draws all nodes as plain blocks in one pass. Full detail returns
        once the gesture settles."""
        scene = self.scene()
        if not self._zooming and len(scene.node_items) > 150:
            self._zooming = True
            scene.draft_layer.refresh()
            scene.draft_layer.setVisible(True)
            scene.edge_layer.draft = True
            for item in scene.node_items.values():
                item.setVisible(False)
        self._settle.start()

    def _end_zoom_gesture(self) -> None:
        scene = self.scene()
        if scene is None or not self._zooming:
            return
        self._zooming = False
        for item in scene.node_items.values():
            item.setVisible(True)
        scene.draft_layer.setVisible(False)
        scene.edge_layer.draft = False
        scene.edge_layer.update()
        self.viewport().update()

    def settle(self) -> None:
        """Finish a zoom gesture now (tests and benchmarks)."""
        if self._settle.isActive():
            self._settle.stop()
            self._end_zoom_gesture()

    def set_zoom(self, factor: float, anchor: QPointF | None = None, gesture: bool = True) -> None:
        factor = max(self.MIN_ZOOM, min(self.MAX_ZOOM, factor))
        if gesture and hasattr(self.scene(), "node_items"):
            self._begin_zoom_gesture()
        if anchor is not None:
            before = self.mapToScene(anchor.toPoint())
        self.setTransform(QTransform.fromScale(factor, factor))
        if anchor is not None:
            after = self.mapToScene(anchor.toPoint())
            delta = after - before
            self.translate_scene(-delta.x(), -delta.y())
        self.zoom_changed.emit(factor)

    def translate_scene(self, dx: float, dy: float) -> None:
        center = self.mapToScene(self.viewport().rect().center())
        self.centerOn(center + QPointF(dx, dy))

    @guarded
    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            return
        self.set_zoom(self.zoom() * (1.15 ** steps), event.position())
        event.accept()

    def fit_to_view(self) -> None:
        rect = self.scene().itemsBoundingRect()
        if rect.isNull():
            self.set_zoom(1.0, gesture=False)
            self.centerOn(0, 0)
            return
        rect = rect.adjusted(-40, -40, 40, 40)
        self.fitInView(rect, Qt.KeepAspectRatio)
        if self.zoom() > 1.25:
            self.set_zoom(1.25, gesture=False)
            self.centerOn(rect.center())
        self.zoom_changed.emit(self.zoom())

    @guarded
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton
                                                  and event.modifiers() & Qt.AltModifier):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    @guarded
    def mouseMoveEvent(self, event) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            z = self.zoom()
            self.translate_scene(-delta.x() / z, -delta.y() / z)
            event.accept()
            return
        super().mouseMoveEvent(event)

    @guarded
    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    @guarded
    def mouseDoubleClickEvent(self, event) -> None:
        if self.itemAt(event.position().toPoint()) is None:
            self.add_requested.emit(self.mapToScene(event.position().toPoint()))
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    # -- drops -------------------------------------------------------------------
    @staticmethod
    def _wanted(event) -> bool:
        """Layers from the palette and files (projects, .keras models) may be dropped here."""
        md = event.mimeData()
        return md.hasFormat(LAYER_MIME) or md.hasUrls()

    def dragEnterEvent(self, event) -> None:
        if self._wanted(event):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if self._wanted(event):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    @guarded
    def dropEvent(self, event) -> None:
        md = event.mimeData()
        if md.hasFormat(LAYER_MIME):
            class_name = bytes(md.data(LAYER_MIME)).decode()
            self.layer_dropped.emit(class_name, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
        elif md.hasUrls():
            paths = [u.toLocalFile() for u in md.urls() if u.isLocalFile()]
            if paths:
                self.files_dropped.emit(paths)
                event.acceptProposedAction()
        else:
            super().dropEvent(event)
