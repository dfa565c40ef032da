"""Blocks on the canvas: open a block to edit its inside (with a breadcrumb back), make a
block from the selection, dissolve one, freeze and unfreeze, freeze up to here.

Opening a block shows its inside on the same canvas, with the same inspector,
checks and undo stack: the inside is a :class:`BlockDocument` that writes every
edit straight back into the block node, so there is still one document and
one undo history. Opened insides are kept while the project is open, so that
undoing an edit made inside a block still reaches the block after the person
has left it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from studio.engine import blocks
from studio.engine.block_document import BlockDocument
from studio.engine.graph import GraphError
from studio.ui import commands


class Breadcrumb(QWidget):
    """"model › augmentation › …": where the canvas is; each name but the last goes back there."""

    def __init__(self, on_go, parent=None):
        super().__init__(parent)
        self.setObjectName("breadcrumb")
        self.setStyleSheet("#breadcrumb { background: #e8eaf6; border-bottom: 1px solid #9fa8da; }")
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(8, 3, 8, 3)
        self._on_go = on_go
        self.buttons: list[QToolButton] = []
        self.hint = QLabel()
        self.hint.setStyleSheet("color: #3949ab;")
        self.setVisible(False)

    def show_path(self, names: list[str]) -> None:
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget() is not None and item.widget() is not self.hint:
                item.widget().deleteLater()
        self.buttons = []
        for level, name in enumerate(names):
            if level:
                self._layout.addWidget(QLabel("›"))
            button = QToolButton(text=name)
            button.setAutoRaise(True)
            last = level == len(names) - 1
            button.setEnabled(not last)
            if last:
                button.setStyleSheet("font-weight: bold; color: #1a237e;")
            else:
                button.setToolTip(f"Back to '{name}' (Alt+Up goes up one level)")
                button.clicked.connect(lambda _=False, k=level: self._on_go(k))
            self._layout.addWidget(button)
            self.buttons.append(button)
        self._layout.addStretch(1)
        self.hint.setText("Editing the inside of a block: every change is one undo step of the model")
        self._layout.addWidget(self.hint)
        self.setVisible(len(names) > 1)


class BlockActions:
    def __init__(self, window):
        self.window = window
        self.levels: list[tuple[BlockDocument, object]] = []   # opened blocks, outermost first: (inside, scene)
        self._kept: dict[tuple[str, ...], BlockDocument] = {}
        self.breadcrumb = Breadcrumb(self.go_to)
        window.document.project_replaced.connect(self._on_project_replaced)

    # -- where the canvas is ---------------------------------------------------------
    @property
    def current(self):
        """The document on the canvas: the model's, or the innermost opened block's inside."""
        return self.levels[-1][0] if self.levels else self.window.document

    def path_ids(self) -> tuple[str, ...]:
        return tuple(doc.block_id for doc, _ in self.levels)

    def open_block(self, node_id: str) -> None:
        outer = self.current
        node = outer.graph.nodes.get(node_id)
        if node is not None and "shares" in node.config:  # a use of a shared block: open the block it uses
            node_id = node.config["shares"]
            node = outer.graph.nodes.get(node_id)
        if node is None or not blocks.is_block(node.class_name):
            return
        key = self.path_ids() + (node_id,)
        inside = self._kept.get(key)
        if inside is None:
            inside = BlockDocument(outer, node_id, parent=self.levels[-1][0] if self.levels else None)
            inside.closed.connect(lambda k=key: self._on_block_gone(k))
            self._kept[key] = inside
        else:
            inside.refresh()
        from studio.ui.canvas.scene import GraphScene
        scene = GraphScene(inside, self.window.undo_stack, self.window)
        self.window.connect_scene(scene)
        self.levels.append((inside, scene))
        self._show(scene, inside)

    def go_to(self, level: int) -> None:
        """Back to a level of the breadcrumb: 0 is the model itself."""
        while len(self.levels) > level:
            _, scene = self.levels.pop()
            if self.window.view.scene() is scene:
                self.window.view.setScene(self.window.root_scene)
            scene.detach()
            scene.deleteLater()
        if self.levels:
            self._show(self.levels[-1][1], self.levels[-1][0])
        else:
            self._show(self.window.root_scene, self.window.document)

    def go_up(self) -> None:
        if self.levels:
            self.go_to(len(self.levels) - 1)

    def _show(self, scene, document) -> None:
        w = self.window
        w.scene = scene
        w.view.setScene(scene)
        w.inspector.set_document(document)
        names = [w.document.graph.name] + [doc.name for doc, _ in self.levels]
        self.breadcrumb.show_path(names)
        QTimer.singleShot(0, w.view.fit_to_view)

    def _on_block_gone(self, key: tuple[str, ...]) -> None:
        if self.path_ids()[:len(key)] == key:  # deleted (or undone) while open: leave it
            self.go_to(len(key) - 1)
            self.window.statusBar().showMessage("The block you had open was removed; back to the level above", 6000)

    def _on_project_replaced(self) -> None:
        self.go_to(0)
        for inside in self._kept.values():
            inside.close()
        self._kept.clear()

    # -- edits -------------------------------------------------------------------------
    def _push_engine_edit(self, graph, text: str, operation) -> bool:
        try:
            command = commands.EngineEdit(graph, text, operation)
        except (GraphError, blocks.BlockError, ValueError) as exc:
            self.window.statusBar().showMessage(f"{text}: {exc}", 8000)
            return False
        self.window.undo_stack.push(command)
        return True

    def make_block(self) -> None:
        scene = self.window.scene
        chosen = scene.selected_node_ids()
        if not chosen:
            self.window.statusBar().showMessage("Select the layers to put in a block first", 5000)
            return
        made: list[str] = []
        if self._push_engine_edit(scene.graph, "Make block",
                                  lambda g: made.append(blocks.make_block(g, chosen, name="block"))):
            scene.select_nodes(made)
            name = scene.graph.nodes[made[0]].name
            self.window.statusBar().showMessage(
                f"Made block '{name}' from {len(chosen)} layers: double-click it to open it, F2 to rename it", 8000)

    def dissolve(self, node_id: str | None = None) -> None:
        scene = self.window.scene
        ids = [node_id] if node_id else [i for i in scene.selected_node_ids()
                                         if blocks.is_block(scene.graph.nodes[i].class_name)]
        if not ids:
            self.window.statusBar().showMessage("Select a block to dissolve", 5000)
            return
        added: list[str] = []
        if self._push_engine_edit(scene.graph, "Dissolve block",
                                  lambda g: [added.extend(blocks.dissolve_block(g, i)) for i in ids]):
            scene.select_nodes(added)

    def set_frozen(self, node_ids: list[str], frozen: bool) -> None:
        graph = self.window.scene.graph
        ids = [i for i in node_ids if i in graph.nodes and not graph.nodes[i].spec.is_input]
        if ids:
            self.window.undo_stack.push(commands.set_param_command(graph, ids, "trainable", not frozen))

    def freeze_up_to(self, node_id: str) -> None:
        """Inside an opened block: freeze every layer up to this one, train the rest."""
        if not self.levels:
            return
        inside = self.levels[-1][0]
        block_id = inside.block_id
        name = inside.graph.nodes[node_id].name
        self._push_engine_edit(inside.outer.graph, f"Freeze up to '{name}'",
                               lambda g: g.set_config(block_id, blocks.freeze_up_to(g.nodes[block_id].config,
                                                                                   node_id)))

    def use_again(self, node_id: str) -> None:
        """A second use of a layer or block, sharing its weights (a siamese branch)."""
        from studio.engine import sharing
        made: list[str] = []
        scene = self.window.scene
        if self._push_engine_edit(scene.graph, "Use again (shared)",
                                  lambda g: made.append(sharing.add_use(g, node_id))):
            scene.select_nodes(made)
            self.window.statusBar().showMessage("Connect its input: it computes with the same layer and weights",
                                                6000)

    def make_independent(self, node_id: str) -> None:
        from studio.engine import sharing
        self._push_engine_edit(self.window.scene.graph, "Make independent copy",
                               lambda g: sharing.make_independent(g, node_id))

    # -- menus ---------------------------------------------------------------------------
    def build_menu(self, menu: QMenu) -> None:
        w = self.window
        self.act_make = w.action("Make &Block from Selection", self.make_block, "Ctrl+G", view_only=True,
                                 tip="Put the selected layers into one block (a model inside the model)")
        self.act_dissolve = w.action("&Dissolve Block", lambda: self.dissolve(), "Ctrl+Shift+G", view_only=True,
                                     tip="Put the selected block's layers back into the model")
        self.act_up = w.action("Leave Block (Up One Level)", self.go_up, "Alt+Up", view_only=True)
        for a in (self.act_make, self.act_dissolve, self.act_up):
            menu.addAction(a)

    def extend_node_menu(self, menu: QMenu, node_id: str) -> None:
        """Block entries on a node's right-click menu."""
        graph = self.window.scene.graph
        node = graph.nodes.get(node_id)
        if node is None:
            return
        selected = self.window.scene.selected_node_ids() or [node_id]
        first = menu.actions()[0] if menu.actions() else None
        entries = []
        if blocks.is_block(node.class_name):
            entries.append(("open_block", "Open block", lambda: self.open_block(node_id)))
            entries.append(("dissolve_block", "Dissolve block", lambda: self.dissolve(node_id)))
        from studio.engine import sharing
        if sharing.owner_id(node) is not None:
            entries.append(("make_independent", "Make an independent copy (own weights)",
                            lambda: self.make_independent(node_id)))
        elif not node.spec.is_input:
            entries.append(("use_again", "Use again (shared weights)", lambda: self.use_again(node_id)))
        if not node.spec.is_input:
            entries.append(("make_block", f"Make block from {len(selected)} layer{'s' if len(selected) != 1 else ''}",
                            self.make_block))
            frozen = node.config.get("trainable", True) is False
            entries.append(("freeze", "Unfreeze" if frozen else "Freeze",
                            lambda: self.set_frozen(selected, not frozen)))
            if self.levels:
                entries.append(("freeze_up_to", "Freeze up to here (train what follows)",
                                lambda: self.freeze_up_to(node_id)))
        for name, text, callback in entries:
            act = menu.addAction(text, callback) if first is None else None
            if first is not None:
                from PySide6.QtGui import QAction
                act = QAction(text, menu)
                act.triggered.connect(lambda _=False, c=callback: c())
                menu.insertAction(first, act)
            act.setObjectName(name)
        if entries and first is not None:
            menu.insertSeparator(first)
