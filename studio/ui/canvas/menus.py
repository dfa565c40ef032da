"""Right-click menus for the canvas: plain functions that build a QMenu from callbacks.

The canvas only reports a right-click; the window decides what each entry
does (usually by pushing the same undo command as its Edit menu), so these
menus hold no state and never touch the graph themselves.

How the window wires them::

    from studio.ui.canvas import menus

    # once, in the window's __init__ / _connect:
    self.view.context_requested.connect(self._on_canvas_context)

    def _on_canvas_context(self, kind: str, target, scene_pos: QPointF, global_pos: QPoint) -> None:
        # kind: 'node' | 'edge' | 'canvas'
        # target: the node id (str) | the Edge | None
        # scene_pos: where the click was on the canvas (for Add layer… and Paste)
        # The view has already selected a clicked node or wire that was not
        # selected, so selection-based actions act on what was clicked.
        if kind == "node":
            state = self.scene.checker.states.get(target)
            fix = state.fix if state is not None and (state.error or state.warning) else None
            menu = menus.node_menu(
                self,
                on_delete=self.delete_selection,
                on_duplicate=self.duplicate,
                on_rename=lambda: self.rename_node(target),
                on_mark_output=lambda checked: self.set_output(target, checked),
                is_output=target in self.project.graph.output_ids,
                fix_label=fix.label if fix else None,
                on_fix=lambda: self.apply_fix(target),
                on_show_code=lambda: self.show_code_for(target),
                count=len(self.scene.selected_node_ids()),
                shortcuts={"delete": self.act_delete.shortcut(), "duplicate": self.act_duplicate.shortcut()},
            )
        elif kind == "edge":
            menu = menus.edge_menu(
                self,
                on_delete=lambda: self.disconnect(target),
                on_insert_layer=lambda: self.insert_layer_on(target, scene_pos),
            )
        else:
            menu = menus.canvas_menu(
                self,
                on_add_layer=lambda: self._quick_add_at(scene_pos),
                on_paste=lambda: self.paste_at(scene_pos),
                on_auto_layout=self.auto_layout,
                on_fit=self.view.fit_to_view,
                can_paste=self.clipboard_has_layers(),
            )
        menu.popup(global_pos)   # non-blocking; the menu deletes itself once closed

(The names on ``self`` above are the window's; only ``menus.*`` and the
signal are defined here.)

Every callback is called with no arguments, except ``on_mark_output``, which
receives the new checked state (bool). Each action has an object name (the
keys of ``shortcuts`` below) so that tests and the window can find it with
:func:`action`. Entries whose callback is ``None`` are left out.
"""

from __future__ import annotations

from typing import Callable, Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

Callback = Callable[[], object]
Shortcuts = Mapping[str, "QKeySequence | str"]

# object names of the actions, per menu
NODE_ACTIONS = ("delete", "duplicate", "rename", "mark_output", "fix", "show_code")
EDGE_ACTIONS = ("delete", "insert_layer")
CANVAS_ACTIONS = ("add_layer", "paste", "auto_layout", "fit")


def _menu(parent: QWidget | None) -> QMenu:
    menu = QMenu(parent)
    menu.setAttribute(Qt.WA_DeleteOnClose)  # popup() menus free themselves once closed
    return menu


def _add(menu: QMenu, name: str, text: str, callback: Callable | None,
         shortcuts: Shortcuts | None, *, checkable: bool = False, checked: bool = False,
         enabled: bool = True) -> QAction | None:
    if callback is None:
        return None
    act = QAction(text, menu)
    act.setObjectName(name)
    if checkable:
        act.setCheckable(True)
        act.setChecked(checked)
        act.triggered.connect(lambda state: callback(bool(state)))
    else:
        act.triggered.connect(lambda _checked=False: callback())
    key = (shortcuts or {}).get(name)
    seq = QKeySequence(key) if key is not None else QKeySequence()
    if not seq.isEmpty():
        # shown beside the entry; live only while the menu itself has the keyboard
        act.setShortcut(seq)
        act.setShortcutContext(Qt.WidgetShortcut)
        act.setShortcutVisibleInContextMenu(True)
    act.setEnabled(enabled)
    menu.addAction(act)
    return act


def action(menu: QMenu, name: str) -> QAction | None:
    """The menu's action with this object name (see NODE_ACTIONS and friends), if present."""
    for act in menu.actions():
        if act.objectName() == name:
            return act
    return None


def node_menu(parent: QWidget | None, *, on_delete: Callback, on_duplicate: Callback,
              on_rename: Callback | None, on_mark_output: Callable[[bool], object] | None,
              is_output: bool = False, fix_label: str | None = None, on_fix: Callback | None = None,
              on_show_code: Callback | None = None, count: int = 1,
              shortcuts: Shortcuts | None = None) -> QMenu:
    """Menu for a right-clicked layer: Fix (when one is suggested), Rename…, Duplicate,
    Mark as output, Show code, Delete. ``count`` > 1 words the entries for a
    selection of several layers and disables the ones that need exactly one."""
    menu = _menu(parent)
    single = count <= 1
    if fix_label and on_fix is not None:
        fix = _add(menu, "fix", f"Fix: {fix_label}", on_fix, shortcuts, enabled=single)
        if fix is not None:
            font = fix.font()
            font.setBold(True)
            fix.setFont(font)
        menu.addSeparator()
    _add(menu, "rename", "Rename…", on_rename, shortcuts, enabled=single)
    _add(menu, "duplicate", "Duplicate" if single else f"Duplicate {count} layers", on_duplicate, shortcuts)
    _add(menu, "mark_output", "Mark as output", on_mark_output, shortcuts,
         checkable=True, checked=is_output, enabled=single)
    _add(menu, "show_code", "Show code", on_show_code, shortcuts, enabled=single)
    menu.addSeparator()
    _add(menu, "delete", "Delete" if single else f"Delete {count} layers", on_delete, shortcuts)
    return menu


def edge_menu(parent: QWidget | None, *, on_delete: Callback, on_insert_layer: Callback | None,
              shortcuts: Shortcuts | None = None) -> QMenu:
    """Menu for a right-clicked wire: Insert layer here…, Delete."""
    menu = _menu(parent)
    _add(menu, "insert_layer", "Insert layer here…", on_insert_layer, shortcuts)
    menu.addSeparator()
    _add(menu, "delete", "Delete", on_delete, shortcuts)
    return menu


def canvas_menu(parent: QWidget | None, *, on_add_layer: Callback, on_paste: Callback | None,
                on_auto_layout: Callback | None, on_fit: Callback | None, can_paste: bool = True,
                shortcuts: Shortcuts | None = None) -> QMenu:
    """Menu for a right-click on the empty canvas: Add layer…, Paste, Automatic layout, Fit to view."""
    menu = _menu(parent)
    _add(menu, "add_layer", "Add layer…", on_add_layer, shortcuts)
    _add(menu, "paste", "Paste", on_paste, shortcuts, enabled=can_paste)
    menu.addSeparator()
    _add(menu, "auto_layout", "Automatic layout", on_auto_layout, shortcuts)
    _add(menu, "fit", "Fit to view", on_fit, shortcuts)
    return menu
