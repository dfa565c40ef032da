"""The main window: palette | canvas | inspector, code and problems below."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCursor, QKeySequence, QUndoStack
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QLabel, QListWidget,
                               QListWidgetItem, QMainWindow, QMessageBox, QTabWidget)

from studio.engine import templates
from studio.engine.project import Project, ProjectError, load_project
from studio.ui import commands, gc_guard, recovery
from studio.ui.canvas.scene import GraphScene
from studio.ui.canvas.view import GraphView
from studio.ui.code_view import CodeView
from studio.ui.inspector import Inspector
from studio.ui.palette import Palette, QuickAdd
from studio.ui.tf_loader import TensorFlowLoader
from studio.ui.training_panel import TrainingPanel
from studio.ui.dataset_panel import DatasetPanel

log = logging.getLogger(__name__)
NODES_MIME = "application/x-layer-studio-nodes"
FILE_FILTER = "Layer Studio projects (*.studio);;Keras models (*.keras);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(self, project: Project | None = None, loader: TensorFlowLoader | None = None):
        super().__init__()
        gc_guard.install()  # before any background thread runs Python: see gc_guard
        self.resize(1400, 860)
        self.undo_stack = QUndoStack(self)
        self.project = project or templates.build(templates.STARTER)
        self.scene = GraphScene(self.project.graph, self.undo_stack, self)
        self.view = GraphView(self.scene)
        self.setCentralWidget(self.view)
        self.palette = Palette()
        self.inspector = Inspector()
        self.code_view = CodeView()
        self.problems = QListWidget()
        self.quick_add = QuickAdd(self)
        self._quick_add_pos = QPointF()
        self._pending_until_ready: list = []
        self._edit_timer = QTimer(self, singleShot=True, interval=0, timeout=self._after_edit)
        self._build_docks()
        self._build_status_bar()
        self._build_actions()
        self._connect()
        self.recovery = recovery.Recovery()
        self.autosave_timer = QTimer(self, interval=int(os.environ.get("LAYER_STUDIO_AUTOSAVE_MS", "60000")),
                                     timeout=self.autosave)
        self.autosave_timer.start()
        self._autosaved_index = 0
        self.loader = loader or TensorFlowLoader(self)
        self.loader.loaded.connect(self._on_tf_loaded)
        self.loader.failed.connect(self._on_tf_failed)
        self._bind_project()
        if self.loader.ready:
            self._on_tf_loaded(self.loader.version, self.loader.device, 0.0)
        else:
            # after the first paint: the import holds the GIL for long stretches
            QTimer.singleShot(50, self.loader.start)
        self.setAcceptDrops(True)

    # -- construction --------------------------------------------------------------
    def _build_docks(self) -> None:
        self.setDockOptions(QMainWindow.AnimatedDocks | QMainWindow.AllowTabbedDocks)
        left = QDockWidget("Layers", self)
        left.setObjectName("palette")
        left.setWidget(self.palette)
        self.addDockWidget(Qt.LeftDockWidgetArea, left)
        right = QDockWidget("Inspector", self)
        right.setObjectName("inspector")
        right.setWidget(self.inspector)
        self.addDockWidget(Qt.RightDockWidgetArea, right)
        self.bottom_tabs = QTabWidget()
        self.training_panel = TrainingPanel(self)
        self.dataset_panel = DatasetPanel(self)
        self.bottom_tabs.addTab(self.training_panel, "Training")
        self.bottom_tabs.addTab(self.dataset_panel, "Dataset")
        self.bottom_tabs.addTab(self.code_view, "Code")
        self.bottom_tabs.addTab(self.problems, "Problems")
        bottom = QDockWidget("Model", self)
        bottom.setObjectName("bottom")
        bottom.setWidget(self.bottom_tabs)
        self.addDockWidget(Qt.BottomDockWidgetArea, bottom)
        self.resizeDocks([left, right], [230, 310], Qt.Horizontal)
        self.resizeDocks([bottom], [250], Qt.Vertical)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.tf_label = QLabel("TensorFlow: loading…")
        self.device_label = QLabel("Device: …")
        self.params_label = QLabel("Total params: –")
        self.zoom_label = QLabel("100%")
        for w in (self.params_label, self.tf_label, self.device_label, self.zoom_label):
            w.setContentsMargins(8, 0, 8, 0)
            sb.addPermanentWidget(w)
        sb.showMessage("Loading TensorFlow in the background… you can already edit.")

    def _action(self, text, slot, shortcut=None, view_only=False, tip=None) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(k) for k in keys])
        if view_only:
            action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
            self.view.addAction(action)
        else:
            self.addAction(action)
        if tip:
            action.setStatusTip(tip)
        return action

    def _build_actions(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.act_new = self._action("&New", lambda: self.new_project(None), QKeySequence.New)
        file_menu.addAction(self.act_new)
        tmpl_menu = file_menu.addMenu("New from &Template")
        for key, (title, _) in templates.TEMPLATES.items():
            tmpl_menu.addAction(self._action(title, lambda checked=False, k=key: self.new_project(k)))
        self.act_open = self._action("&Open…", self.open_dialog, QKeySequence.Open)
        file_menu.addAction(self.act_open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.act_import = self._action("&Import Keras Model…", self.import_dialog, "Ctrl+I")
        file_menu.addAction(self.act_import)
        self.act_export = self._action("&Export…", self.export_dialog, "Ctrl+E")
        file_menu.addAction(self.act_export)
        file_menu.addSeparator()
        self.act_save = self._action("&Save", self.save, QKeySequence.Save)
        self.act_save_as = self._action("Save &As…", self.save_as, "Ctrl+Shift+S")
        file_menu.addAction(self.act_save)
        file_menu.addAction(self.act_save_as)
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, QKeySequence.Quit))

        edit = mb.addMenu("&Edit")
        self.act_undo = self.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcuts([QKeySequence(QKeySequence.Undo)])
        self.act_redo = self.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence(QKeySequence.Redo), QKeySequence("Ctrl+Y")])
        self.addAction(self.act_undo)
        self.addAction(self.act_redo)
        edit.addAction(self.act_undo)
        edit.addAction(self.act_redo)
        edit.addSeparator()
        self.act_copy = self._action("&Copy", self.copy_selection, QKeySequence.Copy, view_only=True)
        self.act_cut = self._action("Cu&t", self.cut_selection, QKeySequence.Cut, view_only=True)
        self.act_paste = self._action("&Paste", self.paste, QKeySequence.Paste, view_only=True)
        self.act_duplicate = self._action("&Duplicate", self.duplicate, "Ctrl+D", view_only=True)
        self.act_delete = self._action("&Delete", self.delete_selection,
                                       [QKeySequence.Delete, "Backspace"], view_only=True)
        self.act_select_all = self._action("Select &All", self.select_all, QKeySequence.SelectAll, view_only=True)
        for a in (self.act_cut, self.act_copy, self.act_paste, self.act_duplicate, self.act_delete,
                  self.act_select_all):
            edit.addAction(a)
        view_menu = mb.addMenu("&View")
        self.act_fit = self._action("&Fit to View", self.view.fit_to_view, "F", view_only=True)
        self.act_zoom_in = self._action("Zoom &In", lambda: self.view.set_zoom(self.view.zoom() * 1.25), QKeySequence.ZoomIn)
        self.act_zoom_out = self._action("Zoom &Out", lambda: self.view.set_zoom(self.view.zoom() / 1.25), QKeySequence.ZoomOut)
        self.act_layout = self._action("Automatic &Layout", self.auto_layout, "Ctrl+L")
        self.act_quick_add = self._action("&Add Layer at Cursor…", self.quick_add_at_cursor,
                                          ["Tab", "Shift+A"], view_only=True)
        for a in (self.act_fit, self.act_zoom_in, self.act_zoom_out, self.act_layout, self.act_quick_add):
            view_menu.addAction(a)
        model_menu = mb.addMenu("&Model")
        self.act_train = self._action("&Train", self.train, ["F5", "Ctrl+T"])
        model_menu.addAction(self.act_train)
        help_menu = mb.addMenu("&Help")
        help_menu.addAction(self._action("&About Layer Studio", self.about))

        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        for a in (self.act_new, self.act_open, self.act_save):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_undo)
        tb.addAction(self.act_redo)
        tb.addSeparator()
        for a in (self.act_layout, self.act_fit):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_train)
        self._refresh_recent_menu()

    def _connect(self) -> None:
        self.view.layer_dropped.connect(self.add_layer)
        self.view.files_dropped.connect(self.open_files)
        self.view.add_requested.connect(self._quick_add_at)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.palette.layer_activated.connect(self.add_layer_at_center)
        self.quick_add.chosen.connect(lambda name: self.add_layer(name, self._quick_add_pos))
        self.scene.selectionChanged.connect(self._on_selection)
        self.scene.fix_requested.connect(self.apply_fix)
        self.scene.shapes_updated.connect(self._on_shapes_updated)
        self.scene.refusal_shown.connect(lambda r: self.statusBar().showMessage(f"Connection refused: {r}", 5000))
        self.inspector.fix_requested.connect(self.apply_fix)
        self.undo_stack.indexChanged.connect(self._on_edit)
        self.undo_stack.cleanChanged.connect(lambda _clean: self._update_title())
        self.problems.itemActivated.connect(self._on_problem_activated)
        self.training_panel.problem_pinned.connect(self._show_node_problem)

    # -- project binding -------------------------------------------------------
    def _bind_project(self) -> None:
        self.scene.set_graph(self.project.graph)
        if self.loader is not None and self.loader.ready:
            self.scene.enable_checking()
        self.inspector.bind(self.project.graph, self.scene.checker, self.undo_stack)
        self.code_view.bind(self.project)
        self.training_panel.bind(self.project)
        self.dataset_panel.bind(self.project)
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._autosaved_index = 0
        self._update_title()
        QTimer.singleShot(0, self.view.fit_to_view)

    def set_project(self, project: Project) -> None:
        self.project = project
        self._bind_project()
        self._on_shapes_updated()

    def _display_name(self) -> str:
        return self.project.path.name if self.project.path else f"{self.project.graph.name} (unsaved)"

    def _update_title(self) -> None:
        # Qt shows the '*' in place of '[*]' while the window is marked modified
        self.setWindowTitle(f"{self._display_name()}[*] — Layer Studio")
        self.setWindowModified(self.is_modified())

    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    # -- TensorFlow --------------------------------------------------------------
    def _on_tf_loaded(self, version: str, device: str, seconds: float) -> None:
        self.tf_label.setText(f"TensorFlow {version}")
        gc_guard.install().settle()
        self.device_label.setText(f"Device: {device}")
        self.statusBar().showMessage(f"TensorFlow ready ({seconds:.1f} s); shapes are checked live.", 5000)
        self.scene.enable_checking()
        self.scene.refresh_shapes()
        self.inspector.set_keras_ready()
        self.code_view.set_ready()
        pending, self._pending_until_ready = self._pending_until_ready, []
        for callback in pending:
            callback()

    def _on_tf_failed(self, message: str) -> None:
        self.tf_label.setText("TensorFlow: failed")
        QMessageBox.critical(self, "Layer Studio", message)

    def when_keras_ready(self, callback, what: str) -> None:
        if self.loader.ready:
            callback()
        else:
            self.statusBar().showMessage(f"Waiting for TensorFlow to finish loading before {what}…")
            self._pending_until_ready.append(callback)

    # -- edits -----------------------------------------------------------------------
    def _on_edit(self, _index: int) -> None:
        # Coalesced and run from the event loop, never inside the gesture or
        # command that caused it (rebuilding widgets from within a mouse
        # handler that is still running is unsafe in Qt).
        self._update_title()
        self._edit_timer.start()

    def _after_edit(self) -> None:
        self.scene.refresh_shapes()
        self.check_data_fit()
        self.inspector.refresh()
        self.code_view.schedule()

    def check_data_fit(self) -> None:
        """Flag, on their nodes, the places where the loaded dataset does not fit the model."""
        dataset = self.training_panel.dataset
        checker = self.scene.checker
        if dataset is None or not self.scene.checking_enabled:
            checker.set_external({})
            return
        from studio.engine import datasets
        from studio.engine.train import TrainingConfig, data_problems
        pre = datasets.Preprocess.from_dict((self.project.dataset or {}).get("preprocess"))
        checker.set_external(data_problems(self.project.graph, checker.states, dataset, pre,
                                           TrainingConfig.from_dict(self.project.training)))
        self._on_shapes_updated()

    def flush_updates(self) -> None:
        """Run pending post-edit updates now (used by tests and before saving)."""
        if self._edit_timer.isActive():
            self._edit_timer.stop()
            self._after_edit()

    def _on_shapes_updated(self) -> None:
        checker = self.scene.checker
        total = sum(s.params or 0 for s in checker.states.values())
        errors = [(i, s.error) for i, s in checker.states.items() if s.error]
        self.params_label.setText(f"Total params: {total:,}")
        self.problems.clear()
        for message in checker.problems:
            item = QListWidgetItem(f"⚠ {message}")
            self.problems.addItem(item)
        for node_id, message in errors:
            item = QListWidgetItem(f"⚠ {self.project.graph.nodes[node_id].name}: {message}")
            item.setData(Qt.UserRole, node_id)
            self.problems.addItem(item)
        for node_id, s in checker.states.items():
            if s.warning:
                item = QListWidgetItem(f"△ {self.project.graph.nodes[node_id].name}: {s.warning}")
                item.setData(Qt.UserRole, node_id)
                self.problems.addItem(item)
        n = len(errors) + len(checker.problems)
        index = self.bottom_tabs.indexOf(self.problems)
        self.bottom_tabs.setTabText(index, f"Problems ({n})" if n else "Problems")
        if self.inspector.node_ids:
            self.inspector.refresh()

    def _on_problem_activated(self, item) -> None:
        node_id = item.data(Qt.UserRole)
        if node_id and node_id in self.scene.node_items:
            self.scene.select_nodes([node_id])
            self.view.centerOn(self.scene.node_items[node_id])

    def _show_node_problem(self, node_id: str, message: str) -> None:
        if node_id in self.scene.node_items:
            self.scene.select_nodes([node_id])
            self.view.centerOn(self.scene.node_items[node_id])

    def train(self) -> None:
        self.bottom_tabs.setCurrentWidget(self.training_panel)
        self.when_keras_ready(lambda: self.training_panel.start(new=True), "training")

    def _on_selection(self) -> None:
        self.inspector.show_nodes(self.scene.selected_node_ids())

    def add_layer(self, class_name: str, scene_pos: QPointF) -> None:
        from studio.ui.canvas.items import NODE_H, NODE_W
        cmd = commands.AddNode(self.project.graph, class_name,
                               (scene_pos.x() - NODE_W / 2, scene_pos.y() - NODE_H / 2))
        self.undo_stack.push(cmd)
        self.scene.select_nodes([cmd.node_id])

    def add_layer_at_center(self, class_name: str) -> None:
        center = self.view.mapToScene(self.view.viewport().rect().center())
        selected = self.scene.selected_node_ids()
        if len(selected) == 1:  # add below the selected layer and wire it
            node = self.project.graph.nodes[selected[0]]
            x, y = node.position
            cmd = commands.AddNode(self.project.graph, class_name, (x, y + 110), connect_from=(node.id, 0))
            self.undo_stack.push(cmd)
            self.scene.select_nodes([cmd.node_id])
            return
        self.add_layer(class_name, center)

    def _quick_add_at(self, scene_pos: QPointF) -> None:
        self._quick_add_pos = scene_pos
        self.quick_add.popup_at(self.view.mapToGlobal(self.view.mapFromScene(scene_pos)))

    def quick_add_at_cursor(self) -> None:
        pos = self.view.mapFromGlobal(QCursor.pos())
        if not self.view.viewport().rect().contains(pos):
            pos = self.view.viewport().rect().center()
        self._quick_add_at(self.view.mapToScene(pos))

    def delete_selection(self) -> None:
        nodes = self.scene.selected_node_ids()
        edges = [e for e in self.scene.selected_edges() if e.src not in nodes and e.dst not in nodes]
        parts = []
        if edges:
            parts.append(commands.Disconnect(self.project.graph, edges))
        if nodes:
            parts.append(commands.RemoveNodes(self.project.graph, nodes))
        if len(parts) == 1:
            self.undo_stack.push(parts[0])
        elif parts:
            self.undo_stack.push(commands.Compound("Delete", parts))

    def select_all(self) -> None:
        for item in self.scene.node_items.values():
            item.setSelected(True)

    def copy_selection(self) -> bool:
        ids = self.scene.selected_node_ids()
        if not ids:
            return False
        data = commands.subgraph_data(self.project.graph, ids)
        md = QMimeData()
        text = json.dumps(data)
        md.setData(NODES_MIME, text.encode())
        md.setText(text)
        QApplication.clipboard().setMimeData(md)
        self.statusBar().showMessage(f"Copied {len(ids)} layer{'s' if len(ids) != 1 else ''}", 3000)
        return True

    def cut_selection(self) -> None:
        if self.copy_selection():
            self.undo_stack.push(commands.RemoveNodes(self.project.graph, self.scene.selected_node_ids()))

    def paste(self) -> None:
        md = QApplication.clipboard().mimeData()
        raw = bytes(md.data(NODES_MIME)).decode() if md.hasFormat(NODES_MIME) else md.text()
        try:
            data = json.loads(raw)
            if data.get("format") != "layer-studio-nodes":
                raise ValueError
            from studio.engine.project import validate_document
            validate_document({"format": "layer-studio-project", "schema_version": 1,
                               "graph": {"nodes": data["nodes"], "edges": data["edges"]}}, "clipboard")
        except Exception:
            self.statusBar().showMessage("The clipboard holds no layers to paste", 3000)
            return
        self._add_subgraph(data, "Paste")

    def duplicate(self) -> None:
        ids = self.scene.selected_node_ids()
        if ids:
            self._add_subgraph(commands.subgraph_data(self.project.graph, ids), "Duplicate")

    def _add_subgraph(self, data: dict, text: str) -> None:
        cmd = commands.AddSubgraph(self.project.graph, data["nodes"], data["edges"], (40.0, 40.0), text)
        self.undo_stack.push(cmd)
        self.scene.select_nodes(cmd.new_ids)

    def auto_layout(self) -> None:
        try:
            self.undo_stack.push(commands.layout_command(self.project.graph))
        except Exception as exc:
            self.statusBar().showMessage(f"Cannot lay out: {exc}", 4000)
            return
        QTimer.singleShot(0, self.view.fit_to_view)

    def apply_fix(self, node_id: str) -> None:
        state = self.scene.checker.states.get(node_id)
        if state is None or state.fix is None:
            return
        self.undo_stack.push(commands.fix_command(self.project.graph, state.fix))
        self.statusBar().showMessage(f"Applied: {state.fix.label}", 3000)

    # -- files ---------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False when the person cancels."""
        if not self.is_modified():
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self._display_name()}?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if answer == QMessageBox.Cancel:
            return False
        if answer == QMessageBox.Save:
            return self.save()
        return True

    def new_project(self, template: str | None) -> None:
        if not self.maybe_save():
            return
        if template:
            project = templates.build(template)
        else:
            project = Project()
            project.graph.name = "untitled"
        self.set_project(project)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project or model", str(self._last_dir()), FILE_FILTER)
        if path:
            self.open_files([path])

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import Keras model", str(self._last_dir()),
                                              "Keras models (*.keras)")
        if path:
            self.open_files([path])

    def open_files(self, paths: list[str]) -> None:
        path = Path(paths[0])
        if not self.maybe_save():
            return
        if path.suffix == ".keras":
            self.when_keras_ready(lambda: self._import_keras(path), f"importing {path.name}")
            return
        try:
            project = load_project(path)
        except ProjectError as exc:
            QMessageBox.warning(self, "Cannot open project", str(exc))
            return
        self.set_project(project)
        self._add_recent(path)
        self.statusBar().showMessage(f"Opened {path}", 4000)

    def _import_keras(self, path: Path) -> None:
        from studio.engine.importer import ImportRefused, graph_from_keras_file
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            graph, weights = graph_from_keras_file(path)
        except ImportRefused as exc:
            QApplication.restoreOverrideCursor()
            QMessageBox.warning(self, "Cannot import model", str(exc))
            return
        except Exception as exc:
            QApplication.restoreOverrideCursor()
            log.exception("import failed")
            QMessageBox.warning(self, "Cannot import model", f"{path}: {exc}")
            return
        QApplication.restoreOverrideCursor()
        self.set_project(Project(graph=graph, weights=weights))
        self.statusBar().showMessage(f"Imported {len(graph.nodes)} layers from {path.name}; save to keep it", 6000)

    def export_dialog(self) -> None:
        from studio.ui.export_dialog import export_interactively
        export_interactively(self)

    def save(self) -> bool:
        if self.project.path is None:
            return self.save_as()
        return self._save_to(self.project.path)

    def save_as(self) -> bool:
        suggested = self.project.path or (self._last_dir() / f"{self.project.graph.name}.studio")
        path, _ = QFileDialog.getSaveFileName(self, "Save project", str(suggested), "Layer Studio projects (*.studio)")
        if not path:
            return False
        if not path.endswith(".studio"):
            path += ".studio"
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        try:
            self.project.save(path)
        except ProjectError as exc:
            QMessageBox.warning(self, "Cannot save", str(exc))
            return False
        self.undo_stack.setClean()
        self.recovery.discard()
        self._add_recent(path)
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def autosave(self) -> None:
        index = self.undo_stack.index()
        if not self.is_modified() or index == self._autosaved_index:
            return
        try:
            self.recovery.write(self.project)
            self._autosaved_index = index
        except Exception as exc:  # never let autosave interrupt work
            log.warning("autosave failed: %s", exc)

    def _settings(self) -> QSettings:
        return QSettings(str(recovery.app_home() / "settings.ini"), QSettings.IniFormat)

    def _last_dir(self) -> Path:
        recent = self.recent_files()
        return Path(recent[0]).parent if recent else Path.home()

    def recent_files(self) -> list[str]:
        value = self._settings().value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [p for p in (value or []) if Path(p).exists()]

    def _add_recent(self, path: Path) -> None:
        items = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        s = self._settings()
        s.setValue("recent", items[:10])
        s.sync()
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            self.recent_menu.addAction(p, lambda p=p: self.open_files([p]))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    def offer_recovery(self) -> bool:
        """Offer to restore work left by a crashed session; True if restored."""
        for meta in recovery.orphaned():
            original = meta.get("original") or "an unsaved project"
            answer = QMessageBox.question(
                self, "Recover unsaved work",
                f"Layer Studio did not close properly last time. Restore the changes to {original} "
                "from the automatic backup?", QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
            if answer == QMessageBox.Yes:
                try:
                    project = recovery.restore(meta)
                except ProjectError as exc:
                    QMessageBox.warning(self, "Cannot recover", str(exc))
                    recovery.forget(meta)
                    continue
                recovery.forget(meta)
                self.set_project(project)
                self.undo_stack.resetClean()
                self._update_title()
                self.autosave()
                return True
            recovery.forget(meta)
        return False

    # -- window --------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_files(paths)

    def closeEvent(self, event) -> None:
        if self.training_panel.is_running():
            # stop cleanly: the run folder gets its final weights and history
            self.statusBar().showMessage("Stopping training…")
            self.training_panel.stop(wait=True)
        if not self.maybe_save():
            event.ignore()
            return
        self.recovery.discard()
        event.accept()

    def about(self) -> None:
        QMessageBox.about(self, "About Layer Studio",
                          "<b>Layer Studio</b><br>Build, check and train Keras models visually.")
