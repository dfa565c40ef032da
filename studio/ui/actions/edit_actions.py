"""Edit actions: add, delete, clipboard, layout, fixes, outputs, and the right-click menus.

Each one turns a gesture into an undo command on the document's graph.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QMimeData, QPoint, QPointF
from PySide6.QtGui import QCursor, QKeySequence
from PySide6.QtWidgets import QApplication, QInputDialog, QMenu

from studio.engine.graph import GraphError
from studio.ui import commands, help_menu
from studio.ui.canvas import menus

NODES_MIME = "application/x-layer-studio-nodes"


class EditActions:
    def __init__(self, window):
        self.window = window
        self._quick_add_pos = QPointF()
        self._insert_on = None   # the wire a quick-add will split, if any

    @property
    def graph(self):
        """The graph on the canvas: the model's, or an opened block's inside."""
        return self.window.scene.graph

    @property
    def scene(self):
        return self.window.scene

    def push(self, command) -> None:
        self.window.undo_stack.push(command)

    def build_menu(self, menu) -> None:
        w = self.window
        self.act_undo = w.undo_stack.createUndoAction(w, "&Undo")
        self.act_undo.setShortcuts([QKeySequence(QKeySequence.Undo)])
        self.act_redo = w.undo_stack.createRedoAction(w, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        w.addAction(self.act_undo)
        w.addAction(self.act_redo)
        menu.addAction(self.act_undo)
        menu.addAction(self.act_redo)
        menu.addSeparator()
        self.act_copy = w.action("&Copy", self.copy_selection, QKeySequence.Copy, view_only=True)
        self.act_cut = w.action("Cu&t", self.cut_selection, QKeySequence.Cut, view_only=True)
        self.act_paste = w.action("&Paste", self.paste, QKeySequence.Paste, view_only=True)
        self.act_duplicate = w.action("&Duplicate", self.duplicate, "Ctrl+D", view_only=True)
        self.act_delete = w.action("&Delete", self.delete_selection, [QKeySequence.Delete, "Backspace"],
                                   view_only=True)
        self.act_select_all = w.action("Select &All", self.select_all, QKeySequence.SelectAll, view_only=True)
        self.act_rename = w.action("Re&name…", self.rename_selected, "F2", view_only=True)
        self.act_output = w.action("Mark as &Output", self.toggle_output_selected, "Ctrl+M", view_only=True,
                                   tip="Make the selected layer one of the model's outputs (or stop it being one)")
        for a in (self.act_cut, self.act_copy, self.act_paste, self.act_duplicate, self.act_delete,
                  self.act_select_all, self.act_rename, self.act_output):
            menu.addAction(a)
        self.act_layout = w.action("Automatic &Layout", self.auto_layout, "Ctrl+L")
        self.act_quick_add = w.action("&Add Layer at Cursor…", self.quick_add_at_cursor, ["Tab", "Shift+A"],
                                      view_only=True)

    # -- adding ----------------------------------------------------------------------
    def add_layer(self, class_name: str, scene_pos: QPointF) -> None:
        from studio.ui.canvas.items import NODE_H, NODE_W
        from studio.ui.pretrained_dialog import PREFIX
        if class_name.startswith(PREFIX):  # a pretrained network: its settings first
            self.window.pretrained.ask(class_name[len(PREFIX):], scene_pos)
            return
        cmd = commands.AddNode(self.graph, class_name, (scene_pos.x() - NODE_W / 2, scene_pos.y() - NODE_H / 2))
        self.push(cmd)
        self.scene.select_nodes([cmd.node_id])

    def add_layer_at_center(self, class_name: str) -> None:
        from studio.ui.pretrained_dialog import PREFIX
        if class_name.startswith(PREFIX):
            self.window.pretrained.ask(class_name[len(PREFIX):])
            return
        view = self.window.view
        center = view.mapToScene(view.viewport().rect().center())
        selected = self.scene.selected_node_ids()
        if len(selected) == 1:  # add below the selected layer and wire it
            node = self.graph.nodes[selected[0]]
            x, y = node.position
            cmd = commands.AddNode(self.graph, class_name, (x, y + 110), connect_from=(node.id, 0))
            self.push(cmd)
            self.scene.select_nodes([cmd.node_id])
            return
        self.add_layer(class_name, center)

    def quick_add_at(self, scene_pos: QPointF, insert_on=None) -> None:
        view = self.window.view
        self._quick_add_pos = scene_pos
        self._insert_on = insert_on
        self.window.quick_add.popup_at(view.mapToGlobal(view.mapFromScene(scene_pos)))

    def add_chosen_layer(self, class_name: str) -> None:
        edge, self._insert_on = self._insert_on, None
        if edge is not None and edge in self.graph.edges:
            cmd = commands.InsertBetween(self.graph, edge, class_name, {})
            self.push(cmd)
            self.scene.select_nodes([cmd.node_id])
        else:
            self.add_layer(class_name, self._quick_add_pos)

    def quick_add_at_cursor(self) -> None:
        view = self.window.view
        pos = view.mapFromGlobal(QCursor.pos())
        if not view.viewport().rect().contains(pos):
            pos = view.viewport().rect().center()
        self.quick_add_at(view.mapToScene(pos))

    # -- deleting and selecting ----------------------------------------------------------
    def delete_selection(self) -> None:
        nodes = self.scene.selected_node_ids()
        edges = [e for e in self.scene.selected_edges() if e.src not in nodes and e.dst not in nodes]
        parts = []
        if edges:
            parts.append(commands.Disconnect(self.graph, edges))
        if nodes:
            parts.append(commands.RemoveNodes(self.graph, nodes))
        if len(parts) == 1:
            self.push(parts[0])
        elif parts:
            self.push(commands.Compound("Delete", parts))

    def select_all(self) -> None:
        for item in self.scene.node_items.values():
            item.setSelected(True)

    # -- clipboard ---------------------------------------------------------------------
    def copy_selection(self) -> bool:
        ids = self.scene.selected_node_ids()
        if not ids:
            return False
        data = commands.subgraph_data(self.graph, ids)
        md = QMimeData()
        text = json.dumps(data)
        md.setData(NODES_MIME, text.encode())
        md.setText(text)
        QApplication.clipboard().setMimeData(md)
        self.window.statusBar().showMessage(f"Copied {len(ids)} layer{'s' if len(ids) != 1 else ''}", 3000)
        return True

    def cut_selection(self) -> None:
        if self.copy_selection():
            self.push(commands.RemoveNodes(self.graph, self.scene.selected_node_ids()))

    def clipboard_layers(self) -> dict | None:
        md = QApplication.clipboard().mimeData()
        if md is None:
            return None
        raw = bytes(md.data(NODES_MIME)).decode() if md.hasFormat(NODES_MIME) else md.text()
        try:
            data = json.loads(raw)
            if data.get("format") != "layer-studio-nodes":
                return None
            from studio.engine.project import validate_document
            validate_document({"format": "layer-studio-project", "schema_version": 1,
                               "graph": {"nodes": data["nodes"], "edges": data["edges"]}}, "clipboard")
        except Exception:
            return None
        return data

    def paste(self, offset=(40.0, 40.0)) -> None:
        data = self.clipboard_layers()
        if data is None:
            self.window.statusBar().showMessage("The clipboard holds no layers to paste", 3000)
            return
        self._add_subgraph(data, "Paste", offset)

    def paste_at(self, scene_pos: QPointF) -> None:
        data = self.clipboard_layers()
        if data is None or not data["nodes"]:
            return self.paste()
        x0 = min(n["position"][0] for n in data["nodes"])
        y0 = min(n["position"][1] for n in data["nodes"])
        self._add_subgraph(data, "Paste", (scene_pos.x() - x0, scene_pos.y() - y0))

    def duplicate(self) -> None:
        ids = self.scene.selected_node_ids()
        if ids:
            self._add_subgraph(commands.subgraph_data(self.graph, ids), "Duplicate")

    def _add_subgraph(self, data: dict, text: str, offset=(40.0, 40.0)) -> None:
        cmd = commands.AddSubgraph(self.graph, data["nodes"], data["edges"], offset, text)
        self.push(cmd)
        self.scene.select_nodes(cmd.new_ids)

    # -- model edits ---------------------------------------------------------------------
    def auto_layout(self) -> None:
        try:
            self.push(commands.layout_command(self.graph))
        except Exception as exc:
            self.window.statusBar().showMessage(f"Cannot lay out: {exc}", 4000)
            return
        from PySide6.QtCore import QTimer
        QTimer.singleShot(0, self.window.view.fit_to_view)

    def apply_fix(self, node_id: str) -> None:
        state = self.scene.checker.states.get(node_id)
        if node_id is None or state is None or state.fix is None:
            fix = self.scene.checker.graph_fix
            if fix is None:
                return
        else:
            fix = state.fix
        try:
            command = commands.fix_command(self.graph, fix)
        except (GraphError, ValueError) as exc:  # the graph is as it was
            self.window.statusBar().showMessage(f"Could not apply '{fix.label}': {exc}", 6000)
            return
        self.push(command)
        self.window.statusBar().showMessage(f"Applied: {fix.label}", 3000)

    def toggle_output(self, node_id: str) -> None:
        if node_id in self.graph.nodes and not self.graph.nodes[node_id].spec.is_input:
            command = commands.toggle_output_command(self.graph, node_id)
            if command is None:
                self.window.statusBar().showMessage(
                    f"'{self.graph.nodes[node_id].name}' is the model's output as the graph's only end; "
                    "mark other layers to have several outputs", 5000)
            else:
                self.push(command)

    def toggle_output_selected(self) -> None:
        ids = self.scene.selected_node_ids()
        if len(ids) == 1:
            self.toggle_output(ids[0])

    def rename(self, node_id: str) -> None:
        node = self.graph.nodes.get(node_id)
        if node is None:
            return
        name, ok = QInputDialog.getText(self.window, "Rename layer", "New name:", text=node.name)
        if not ok or not name.strip() or name.strip() == node.name:
            return
        from studio.engine.graph import GraphError
        try:
            self.graph._check_name(name.strip(), node_id)
        except GraphError as exc:
            self.window.statusBar().showMessage(str(exc), 5000)
            return
        self.push(commands.Rename(self.graph, node_id, name.strip()))

    def rename_selected(self) -> None:
        ids = self.scene.selected_node_ids()
        if len(ids) == 1:
            self.rename(ids[0])

    def show_code(self, node_id: str) -> None:
        w = self.window
        w.bottom_tabs.setCurrentWidget(w.code_view)
        w.code_view.show_node(self.graph.nodes[node_id].name)

    def reset_trained_weights(self) -> None:
        if self.window.document.has_trained_weights():
            self.push(commands.ResetWeights(self.window.document))

    # -- right-click menus -------------------------------------------------------------------
    def show_context_menu(self, kind: str, target, scene_pos: QPointF, global_pos: QPoint) -> QMenu:
        w = self.window
        shortcuts = {"delete": self.act_delete.shortcut(), "duplicate": self.act_duplicate.shortcut(),
                     "rename": self.act_rename.shortcut(), "mark_output": self.act_output.shortcut(),
                     "paste": self.act_paste.shortcut(), "auto_layout": self.act_layout.shortcut(),
                     "fit": w.act_fit.shortcut()}
        if kind == "node":
            state = self.scene.checker.states.get(target)
            fix = state.fix if state is not None and (state.error or state.warning) else None
            is_input = self.graph.nodes[target].spec.is_input
            menu = menus.node_menu(
                w, on_delete=self.delete_selection, on_duplicate=self.duplicate,
                on_rename=lambda: self.rename(target),
                on_mark_output=None if is_input else (lambda _checked: self.toggle_output(target)),
                is_output=target in self.graph.model_outputs(),
                fix_label=fix.label if fix else None, on_fix=lambda: self.apply_fix(target),
                on_show_code=lambda: self.show_code(target),
                count=len(self.scene.selected_node_ids()), shortcuts=shortcuts)
            w.blocks.extend_node_menu(menu, target)
        elif kind == "edge":
            menu = menus.edge_menu(
                w, on_delete=lambda: self.push(commands.Disconnect(self.graph, [target])),
                on_insert_layer=lambda: self.quick_add_at(scene_pos, insert_on=target), shortcuts=shortcuts)
        else:
            menu = menus.canvas_menu(
                w, on_add_layer=lambda: self.quick_add_at(scene_pos), on_paste=lambda: self.paste_at(scene_pos),
                on_auto_layout=self.auto_layout, on_fit=w.view.fit_to_view,
                can_paste=self.clipboard_layers() is not None, shortcuts=shortcuts)
        menu.popup(global_pos)
        return menu

    def show_palette_menu(self, class_name: str, global_pos: QPoint) -> QMenu:
        w = self.window
        menu = QMenu(w)
        menu.addAction("Add at centre", lambda: self.add_layer_at_center(class_name))
        if ":" not in class_name:  # a catalog layer (not a pretrained network)
            menu.addAction("Help on this layer", lambda: help_menu.show_layer_help(w, class_name))
        menu.popup(global_pos)
        return menu
