"""GraphView: zoom around the cursor, pan, rubber-band selection, drops,
and right-clicks reported as ``context_requested`` (menus: :mod:`.menus`)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QTransform
from PySide6.QtWidgets import QGraphicsView

from studio.ui.canvas import items as canvas_items
from studio.ui.guard import guarded

LAYER_MIME = "application/x-layer-studio-layer"

READABLE_TITLE_PX = 11.0  # node titles are at least this tall on screen after fit_to_view
FIT_MARGIN = 40.0         # scene units kept around the graph by fit_to_view


class GraphView(QGraphicsView):
    layer_dropped = Signal(str, QPointF)          # class name, scene position
    files_dropped = Signal(list)                  # local paths
    add_requested = Signal(QPointF)               # double-click or shortcut on empty canvas
    zoom_changed = Signal(float)
    # A right-click: kind ('node' | 'edge' | 'canvas'), target (node id, Edge,
    # or None), scene position, global screen position. See menus.py.
    context_requested = Signal(str, object, QPointF, QPoint)

    MIN_ZOOM, MAX_ZOOM = 0.05, 4.0
    MAX_FIT_ZOOM = 1.25

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
        """The wheel zooms around the cursor; with Shift it scrolls up and down."""
        delta = event.angleDelta()
        if event.modifiers() & Qt.ShiftModifier:
            steps = (delta.y() or delta.x()) / 120.0  # some systems turn Shift+wheel sideways
            if steps:
                self.translate_scene(0.0, -steps * 120.0 / self.zoom())
                event.accept()
            return
        steps = delta.y() / 120.0
        if steps == 0:
            return
        self.set_zoom(self.zoom() * (1.15 ** steps), event.position())
        event.accept()

    @staticmethod
    def min_readable_zoom() -> float:
        """The smallest zoom at which node titles are READABLE_TITLE_PX on screen."""
        return READABLE_TITLE_PX / canvas_items.TITLE_PX

    def _graph_rect(self) -> QRectF:
        """The boxes of every node (or of every item, for a scene without nodes)."""
        scene = self.scene()
        node_items = getattr(scene, "node_items", None)
        if not node_items:
            return scene.itemsBoundingRect() if node_items is None else QRectF()
        rect = QRectF()
        for item in node_items.values():
            rect = rect.united(item.body_rect())
        return rect

    def _anchor_rect(self) -> QRectF:
        """Where a person starts reading a graph too tall to fit: its inputs, else its top node."""
        node_items = getattr(self.scene(), "node_items", None) or {}
        rect = QRectF()
        for item in node_items.values():
            if item.is_input:
                rect = rect.united(item.body_rect())
        if rect.isNull() and node_items:
            top = min(node_items.values(), key=lambda i: (i.pos().y(), i.pos().x()))
            rect = top.body_rect()
        return rect

    def fit_to_view(self, *, readable: bool = True) -> None:
        """Show the whole graph, but never smaller than readable: with
        ``readable`` the zoom stops at :meth:`min_readable_zoom` and a graph
        that is then too big is shown from its inputs (its top), centred,
        for the person to scroll or pan from there."""
        rect = self._graph_rect()
        if rect.isNull() or rect.isEmpty():
            self.set_zoom(1.0, gesture=False)
            self.centerOn(0, 0)
            return
        rect = rect.adjusted(-FIT_MARGIN, -FIT_MARGIN, FIT_MARGIN, FIT_MARGIN)
        vp = self.viewport().rect()
        fit = min(vp.width() / rect.width(), vp.height() / rect.height())
        zoom = min(self.MAX_FIT_ZOOM, fit)
        if readable:
            zoom = max(zoom, self.min_readable_zoom())
        self.set_zoom(zoom, gesture=False)
        zoom = self.zoom()
        seen_w, seen_h = vp.width() / zoom, vp.height() / zoom
        anchor = self._anchor_rect()
        if anchor.isNull():
            anchor = rect
        if rect.width() <= seen_w:
            cx = rect.center().x()
        else:
            cx = min(max(anchor.center().x(), rect.left() + seen_w / 2), rect.right() - seen_w / 2)
        if rect.height() <= seen_h:
            cy = rect.center().y()
        else:
            top = min(max(anchor.top() - FIT_MARGIN, rect.top()), rect.bottom() - seen_h)
            cy = top + seen_h / 2
        self.centerOn(cx, cy)
        self.zoom_changed.emit(zoom)

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

    # -- context menus -----------------------------------------------------------
    def target_at(self, view_pos: QPoint) -> tuple[str, object]:
        """('node', node id) | ('edge', Edge) | ('canvas', None) under a viewport position."""
        for item in self.items(view_pos):
            if isinstance(item, canvas_items.NodeItem):
                return "node", item.node_id
            if isinstance(item, canvas_items.EdgeItem):
                return "edge", item.edge
        return "canvas", None

    @guarded
    def contextMenuEvent(self, event) -> None:
        """Report a right-click as ``context_requested``; the window pops the menu.

        A right-click on a node or wire that is not selected selects it alone
        (as in most editors), so that menu actions on the selection act on
        what was clicked; one on a selected node keeps the multi-selection."""
        kind, target = self.target_at(event.pos())
        scene = self.scene()
        if kind != "canvas":
            item = (scene.node_items.get(target) if kind == "node" else scene.edge_items.get(target))
            if item is not None and not item.isSelected():
                scene.clearSelection()
                item.setSelected(True)
        self.context_requested.emit(kind, target, self.mapToScene(event.pos()), event.globalPos())
        event.accept()

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
