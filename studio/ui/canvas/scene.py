"""GraphScene: draws a ModelGraph and turns mouse gestures into undo commands.

Items are created and removed only in response to the document's graph
events, and redrawn from its check results; a gesture never edits an item
directly, it pushes a command that edits the graph. Wiring is its own small interaction: press on a port, drag, release on
a port; an invalid wire is refused with the reason shown at the mouse.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPen, QUndoStack
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsRectItem

from studio.engine.shapes import format_shape
from studio.ui import commands
from studio.ui.guard import guarded
from studio.ui.canvas.items import DraftLayer, EdgeItem, EdgeLayer, NodeItem, ShareLinks, bezier, detail_for


def items_detail(scene) -> str:
    views = scene.views()
    return detail_for(views[0].transform().m11() if views else 1.0)


class GraphScene(QGraphicsScene):
    fix_requested = Signal(str)        # node id whose suggested fix was clicked
    output_toggled = Signal(str)       # node id whose 'output' tag was clicked
    refusal_shown = Signal(str)        # reason a wire was refused
    block_open_requested = Signal(str)  # node id of a block that was double-clicked

    def __init__(self, document, undo_stack: QUndoStack, parent=None):
        super().__init__(parent)
        self.setItemIndexMethod(QGraphicsScene.BspTreeIndex)
        self.setBackgroundBrush(QColor("#f5f7fa"))
        self.undo_stack = undo_stack
        self.document = document
        self.graph = None
        self._binding = False
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict = {}
        self._wire: dict | None = None
        self._drag_start: dict[str, tuple] | None = None
        self.last_refusal = ""
        self._refusal_item = QGraphicsSimpleTextItem()
        self._refusal_box = QGraphicsRectItem()
        self._refusal_box.setBrush(QColor("#fff3e0"))
        self._refusal_box.setPen(QPen(QColor("#e65100"), 1))
        self._refusal_box.setZValue(100)
        self._refusal_item.setZValue(101)
        self._refusal_item.setBrush(QColor("#bf360c"))
        self.edge_layer = EdgeLayer(self.edge_items)
        self.addItem(self.edge_layer)
        self.draft_layer = DraftLayer(self.node_items)
        self.addItem(self.draft_layer)
        self.share_links = ShareLinks(self.node_items)  # a shared layer drawn linked to its uses
        self.addItem(self.share_links)
        self.selectionChanged.connect(self._on_selection_changed)
        self._wire_item = QGraphicsPathItem()  # reused: never deleted while a gesture is live
        self._wire_item.setPen(QPen(QColor("#1e88e5"), 2, Qt.DashLine))
        self._wire_item.setZValue(50)
        self._wire_item.setAcceptedMouseButtons(Qt.NoButton)
        self._wire_item.setVisible(False)
        self.addItem(self._wire_item)
        self._refusal_timer = QTimer(self, singleShot=True, interval=3000, timeout=self._hide_refusal)
        document.project_replaced.connect(self._bind)
        document.states_changed.connect(self._on_states_changed)
        self._bind()

    @property
    def checker(self):
        return self.document.checker

    def detach(self) -> None:
        """Stop listening to the document (before this scene is thrown away while the
        document lives on: an opened block's scene when the person leaves the block)."""
        self.document.project_replaced.disconnect(self._bind)
        self.document.states_changed.disconnect(self._on_states_changed)
        if self.graph is not None:
            self.graph.unsubscribe(self._handlers)

    def _on_selection_changed(self) -> None:
        try:
            self.edge_layer.invalidate()
        except RuntimeError:  # the scene is being torn down
            pass

    # -- model binding --------------------------------------------------------
    def _bind(self) -> None:
        """Draw the document's graph (again, after the project was replaced)."""
        if self.graph is not None:
            self.graph.unsubscribe(self._handlers)
        self.clear_items()
        graph = self.graph = self.document.graph
        self._handlers = {"node_added": self._on_node_added, "node_removed": self._on_node_removed,
                          "node_changed": self._on_node_changed, "edge_added": self._on_edge_added,
                          "edge_removed": self._on_edge_removed, "outputs_changed": self._on_outputs_changed}
        graph.subscribe(self._handlers)
        self._binding = True  # output tags once at the end, not once per edge
        for node in graph.nodes.values():
            self._on_node_added(node)
        for edge in graph.edges:
            self._on_edge_added(edge)
        self._binding = False
        self._on_outputs_changed()
        self._relink()

    def clear_items(self) -> None:
        for item in list(self.edge_items.values()) + list(self.node_items.values()):
            self.removeItem(item)
        self.node_items.clear()
        self.edge_items.clear()
        if hasattr(self, "edge_layer"):
            self.edge_layer.invalidate()

    def _on_outputs_changed(self) -> None:
        if self._binding:
            return
        outputs = set(self.graph.model_outputs())
        for node_id, item in self.node_items.items():
            item.set_output(node_id in outputs)

    # -- graph events ------------------------------------------------------------
    def _connected_inputs(self, node_id: str) -> int:
        ports = self.graph.inputs_of(node_id)
        return max(ports) + 1 if ports else 0

    def _owner(self, node):
        """The layer a shared use calls again (None for an ordinary node)."""
        from studio.engine.sharing import owner_id
        shared = owner_id(node)
        return self.graph.nodes.get(shared) if shared is not None else None

    def _on_node_added(self, node) -> None:
        item = NodeItem(node, self.checker.states.get(node.id))
        self.node_items[node.id] = item
        self.addItem(item)
        if self._owner(node) is not None:
            self._refresh_item(node.id)
            self._relink()

    def _on_node_removed(self, node) -> None:
        item = self.node_items.pop(node.id, None)
        if item is not None:
            self.removeItem(item)
        if any(node.id in pair for pair in self.share_links.pairs):
            self._relink()

    def _on_node_changed(self, node, what) -> None:
        item = self.node_items.get(node.id)
        if item is None:
            return
        if what == "position":
            if (item.pos().x(), item.pos().y()) != node.position:
                item.setPos(*node.position)
        else:
            self._refresh_item(node.id)
            from studio.engine.sharing import uses_index
            for use in uses_index(self.graph).get(node.id, ()):  # its uses show its settings
                self._refresh_item(use)
            if what == "config":
                self._relink()

    def _refresh_item(self, node_id: str) -> None:
        item = self.node_items.get(node_id)
        node = self.graph.nodes.get(node_id)
        if item is None or node is None:
            return
        before = (item.n_inputs, item.n_outputs)
        item.update_from(node, self.checker.states.get(node_id), self._connected_inputs(node_id),
                         owner=self._owner(node))
        if (item.n_inputs, item.n_outputs) != before:
            self.node_item_moved(item)

    def _on_edge_added(self, edge) -> None:
        src, dst = self.node_items.get(edge.src), self.node_items.get(edge.dst)
        if src is None or dst is None:
            return
        self._refresh_item(edge.dst)
        item = EdgeItem(edge, src, dst, self.edge_layer)
        self.edge_items[edge] = item
        self.addItem(item)
        self._label_edge(item)
        self._on_outputs_changed()

    def _on_edge_removed(self, edge) -> None:
        item = self.edge_items.pop(edge, None)
        if item is not None:
            self.removeItem(item)
            self.edge_layer.invalidate()
        self._refresh_item(edge.dst)
        self._on_outputs_changed()

    def _on_states_changed(self, node_ids) -> None:
        for node_id in node_ids:
            self._refresh_item(node_id)
        for edge, item in self.edge_items.items():
            if edge.src in node_ids:
                self._label_edge(item)

    def _label_edge(self, item: EdgeItem) -> None:
        state = self.checker.states.get(item.edge.src)
        if state is not None and state.outputs and item.edge.src_port < len(state.outputs):
            item.set_label(format_shape(state.outputs[item.edge.src_port]))
        else:
            item.set_label("")

    def node_item_moved(self, item: NodeItem) -> None:
        for edge, e_item in self.edge_items.items():
            if edge.src == item.node_id or edge.dst == item.node_id:
                e_item.update_path()
        if any(item.node_id in pair for pair in self.share_links.pairs):
            self.share_links.refresh()

    def _relink(self) -> None:
        """Which nodes share a layer (after nodes come, go or change their settings)."""
        from studio.engine.sharing import uses_index
        if self.graph is None:
            return
        pairs = [(owner, use) for owner, uses in uses_index(self.graph).items() for use in uses]
        if pairs != self.share_links.pairs:
            self.share_links.set_pairs(pairs)

    # -- selection helpers ---------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select_nodes(self, node_ids) -> None:
        self.clearSelection()
        for i in node_ids:
            if i in self.node_items:
                self.node_items[i].setSelected(True)

    def node_item_at(self, pos: QPointF) -> NodeItem | None:
        for item in self.items(QRectF(pos.x() - 8, pos.y() - 8, 16, 16)):
            if isinstance(item, NodeItem):
                return item
        return None

    # -- wiring and moving gestures ----------------------------------------------
    @guarded
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            item = self.node_item_at(event.scenePos())
            if item is not None:
                local = item.mapFromScene(event.scenePos())
                if item.has_fix and item.fix_button_rect().contains(local):
                    self.fix_requested.emit(item.node_id)
                    event.accept()
                    return
                if not item.is_input and item.output_toggle_rect().contains(local) and \
                        items_detail(self) == "full":
                    self.output_toggled.emit(item.node_id)
                    event.accept()
                    return
                port = item.port_at(event.scenePos())
                if port is not None and port[0] == "out":
                    self._start_wire(item, port[1], event.scenePos())
                    event.accept()
                    return
        super().mousePressEvent(event)
        if event.button() == Qt.LeftButton:
            ids = self.selected_node_ids()
            self._drag_start = {i: self.graph.nodes[i].position for i in ids}

    @guarded
    def mouseDoubleClickEvent(self, event) -> None:
        item = self.node_item_at(event.scenePos()) if event.button() == Qt.LeftButton else None
        if item is not None and item.class_name == "Block":
            self.block_open_requested.emit(item.node_id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    @guarded
    def mouseMoveEvent(self, event) -> None:
        if self._wire is not None:
            self._update_wire(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)

    @guarded
    def mouseReleaseEvent(self, event) -> None:
        if self._wire is not None and event.button() == Qt.LeftButton:
            self._finish_wire(event.scenePos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if self._drag_start:
            new = {i: (self.node_items[i].pos().x(), self.node_items[i].pos().y())
                   for i in self._drag_start if i in self.node_items}
            moved = {i: p for i, p in new.items() if p != self._drag_start[i]}
            if moved:
                self.undo_stack.push(commands.MoveNodes(
                    self.graph, {i: self._drag_start[i] for i in moved}, moved,
                    "Move" if len(moved) > 1 else f"Move {self.graph.nodes[next(iter(moved))].name}"))
        self._drag_start = None

    def _start_wire(self, item: NodeItem, port: int, pos: QPointF) -> None:
        path = self._wire_item
        path.setVisible(True)
        self._wire = {"src": item.node_id, "port": port, "start": item.output_port_pos(port), "path": path}
        self._update_wire(pos)

    def _target_port(self, pos: QPointF, src: str):
        item = self.node_item_at(pos)
        if item is None or item.node_id == src:
            return item, None
        port = item.port_at(pos)
        if port is not None and port[0] == "in":
            return item, port[1]
        if item.shape().contains(item.mapFromScene(pos)):
            return item, self.graph.free_port(item.node_id)  # dropped on the body: first free input
        return item, None

    def _update_wire(self, pos: QPointF) -> None:
        w = self._wire
        item, port = self._target_port(pos, w["src"])
        end = item.input_port_pos(port) if item is not None and port is not None and port < item.n_inputs else pos
        w["path"].setPath(bezier(w["start"], end))
        reason = None
        if item is not None and port is not None:
            reason = self.graph.can_connect(w["src"], w["port"], item.node_id, port)
        if reason:
            self._show_refusal(reason, pos, timeout=False)
        else:
            self._hide_refusal()

    def _finish_wire(self, pos: QPointF) -> None:
        w = self._wire
        self._wire = None
        w["path"].setVisible(False)
        item, port = self._target_port(pos, w["src"])
        if item is None or port is None:
            self._hide_refusal()
            return
        reason = self.graph.can_connect(w["src"], w["port"], item.node_id, port)
        if reason:
            self._show_refusal(reason, pos)
            return
        self._hide_refusal()
        self.undo_stack.push(commands.Connect(self.graph, w["src"], w["port"], item.node_id, port))

    def _show_refusal(self, reason: str, pos: QPointF, timeout: bool = True) -> None:
        self.last_refusal = reason
        text = f"✕ {reason}"
        self._refusal_item.setText(text)
        if self._refusal_item.scene() is None:
            self.addItem(self._refusal_box)
            self.addItem(self._refusal_item)
        self._refusal_item.setPos(pos + QPointF(14, 14))
        r = self._refusal_item.sceneBoundingRect().adjusted(-6, -4, 6, 4)
        self._refusal_box.setRect(r)
        self.refusal_shown.emit(reason)
        if timeout:
            self._refusal_timer.start()

    def _hide_refusal(self) -> None:
        if self._refusal_item.scene() is not None:
            self.removeItem(self._refusal_item)
            self.removeItem(self._refusal_box)
