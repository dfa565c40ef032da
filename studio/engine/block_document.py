"""The inside of a block, opened for editing: a small document over the block's inner graph.

The canvas, the inspector and the undo commands work on it exactly as on the
model itself (it has the ``graph``, ``checker`` and events they read). It holds
no state of its own: every edit of the inside is written straight back into
the block node's config in the outer graph, and every change of that config
from outside (an undo, a freeze from the outer canvas) is replayed inside.
So the project file, the checks and the undo history all stay those of the
one document. Qt-free.
"""

from __future__ import annotations

from studio.engine import blocks
from studio.engine.events import Event
from studio.engine.shapes import ShapeChecker


class BlockDocument:
    def __init__(self, outer, block_id: str, parent: "BlockDocument | None" = None):
        self.outer = outer            # a Document, or the BlockDocument of the block around this one
        self.block_id = block_id
        self.parent = parent
        self.project_replaced = Event("project_replaced")
        self.graph_changed = Event("graph_changed")
        self.states_changed = Event("states_changed")
        self.weights_changed = Event("weights_changed")
        self.closed = Event("closed")  # the block went away (deleted, undone): the view should leave it
        node = outer.graph.nodes[block_id]
        self.graph = blocks.inner_graph(node.config, node.name)
        self.checker = ShapeChecker(self.graph)
        self.checker.states_changed.connect(self._on_states)
        self._syncing = False
        self._inner_handlers = {name: self._on_inner for name in
                                ("node_added", "node_removed", "node_changed", "edge_added", "edge_removed",
                                 "outputs_changed")}
        self._outer_handlers = {"node_changed": self._on_outer_changed, "node_removed": self._on_outer_removed}
        self.graph.subscribe(self._inner_handlers)
        outer.graph.subscribe(self._outer_handlers)
        self.checking_enabled = getattr(outer, "checking_enabled", True)
        self.refresh()

    # -- what the panels read -----------------------------------------------------------
    @property
    def name(self) -> str:
        node = self.outer.graph.nodes.get(self.block_id)
        return node.name if node is not None else self.graph.name

    def path(self) -> list[str]:
        """The breadcrumb: the model's name, then each block opened on the way here."""
        if self.parent is not None:
            return self.parent.path() + [self.name]
        return [self.outer.graph.name, self.name]

    def weight_status(self) -> dict:
        return {}

    def errors(self):
        return self.checker.errors()

    def refresh(self) -> None:
        self.checker.refresh()

    def close(self) -> None:
        self.graph.unsubscribe(self._inner_handlers)
        self.outer.graph.unsubscribe(self._outer_handlers)
        self.checker.detach()

    # -- keeping the two in step ------------------------------------------------------------
    def _on_states(self, ids) -> None:
        self.states_changed.emit(set(ids))

    def _config(self) -> dict:
        node = self.outer.graph.nodes[self.block_id]
        kind = node.config.get("kind", "functional")
        if kind == "sequential":
            try:
                blocks.sequential_order(self.graph)
            except blocks.BlockError:
                kind = "functional"  # no longer one chain: Keras's functional form holds it exactly
        return blocks.block_config(self.graph, kind, node.config.get("trainable", True))

    def _on_inner(self, *args) -> None:
        if self._syncing or self.block_id not in self.outer.graph.nodes:
            return
        if args and args[-1] == "position":  # the outer file keeps positions too: write them, quietly
            pass
        self._syncing = True
        try:
            config = self._config()
            if config != self.outer.graph.nodes[self.block_id].config:
                self.outer.graph.set_config(self.block_id, config)
        finally:
            self._syncing = False
        if not (args and args[-1] == "position"):
            self.graph_changed.emit()
            self.refresh()

    def _on_outer_changed(self, node, what) -> None:
        if self._syncing or node.id != self.block_id or what != "config":
            return
        target = node.config.get("graph")
        current = self._config()["graph"]
        if target == current:
            return
        self._syncing = True
        try:
            state = dict(target)
            state["name"] = self.graph.name
            self.graph.apply_state(state)
        finally:
            self._syncing = False
        self.graph_changed.emit()
        self.refresh()

    def _on_outer_removed(self, node) -> None:
        if node.id == self.block_id:
            self.closed.emit()
