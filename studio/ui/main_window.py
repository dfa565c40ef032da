"""The main window: composes the document, the panels and the actions; nothing else.

palette | canvas | inspector, with Training, Dataset, Code and Problems below.
Every panel subscribes to the one :class:`~studio.engine.document.Document`
and changes it only through undo commands; the window wires them together.
"""

from __future__ import annotations

import logging
import os

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QTabWidget, QVBoxLayout, QWidget

from studio.engine import templates
from studio.engine.document import Document
from studio.engine.project import Project
from studio.ui import gc_guard, help_menu, recovery
from studio.ui.actions.edit_actions import EditActions
from studio.ui.actions.file_actions import FileActions
from studio.ui.actions.block_actions import BlockActions
from studio.ui.pretrained_dialog import PretrainedActions
from studio.ui.canvas.scene import GraphScene
from studio.ui.canvas.view import GraphView
from studio.ui.code_view import CodeView
from studio.ui.dataset_panel import DatasetPanel
from studio.ui.evaluation_panel import EvaluationPanel
from studio.ui.inspect_panel import InspectPanel
from studio.ui.inspector import Inspector
from studio.ui.palette import Palette, QuickAdd
from studio.ui.predict_pad import PredictPad
from studio.ui.problems_panel import ProblemsPanel
from studio.ui.runs_panel import RunsPanel
from studio.ui.summary_panel import SummaryPanel
from studio.ui.tf_loader import TensorFlowLoader
from studio.ui.training_panel import TrainingPanel

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(self, project: Project | None = None, loader: TensorFlowLoader | None = None):
        super().__init__()
        gc_guard.install()  # before any background thread runs Python: see gc_guard
        self.resize(1400, 860)
        self.undo_stack = QUndoStack(self)
        self.document = Document(project or templates.build(templates.STARTER),
                                 runs_fallback=lambda name: recovery.app_home() / "runs" / name)
        self.scene = self.root_scene = GraphScene(self.document, self.undo_stack, self)  # scene: what is shown
        self.view = GraphView(self.scene)
        self.palette = Palette()
        self.inspector = Inspector(self.document, self.undo_stack)
        self.code_view = CodeView(self.document)
        self.problems = ProblemsPanel(self.document)
        self.quick_add = QuickAdd(self)
        self.training_panel = TrainingPanel(self.document, self.undo_stack, self)
        self.dataset_panel = DatasetPanel(self.document, self.undo_stack, self)
        self.edit = EditActions(self)
        self.files = FileActions(self)
        self.blocks = BlockActions(self)
        self.pretrained = PretrainedActions(self)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.blocks.breadcrumb)
        column.addWidget(self.view)
        self.setCentralWidget(central)
        # one coalesced re-check after any burst of edits, run from the event loop
        self._check_timer = QTimer(self, singleShot=True, interval=0, timeout=self.document.refresh)
        for event in (self.document.graph_changed, self.document.project_replaced):
            event.connect(self._check_timer.start)
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self.autosave_timer = QTimer(self, interval=int(os.environ.get("LAYER_STUDIO_AUTOSAVE_MS", "60000")),
                                     timeout=self.files.autosave)
        self.autosave_timer.start()
        self.loader = loader or TensorFlowLoader(self)
        self.loader.loaded.connect(self._on_tf_loaded)
        self.loader.failed.connect(self._on_tf_failed)
        self._pending_until_ready: list = []
        self._update_title()
        QTimer.singleShot(0, self.view.fit_to_view)
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
        self.bottom_tabs.addTab(self.training_panel, "Training")
        self.bottom_tabs.addTab(self.dataset_panel, "Dataset")
        self.bottom_tabs.addTab(self.code_view, "Code")
        self.bottom_tabs.addTab(self.problems, "Problems")
        self.evaluation_panel = EvaluationPanel(self.document, self)
        self.bottom_tabs.addTab(self.evaluation_panel, "Evaluate")
        self.predict_pad = PredictPad(self.document, self)
        self.inspect_panel = InspectPanel(self.document, self, pad=self.predict_pad)
        self.bottom_tabs.addTab(self.predict_pad, "Try it")
        self.bottom_tabs.addTab(self.inspect_panel, "Inside")
        self.evaluation_panel.example_selected.connect(self._look_inside)
        self.summary_panel, self.runs_panel = SummaryPanel(self.document, self), RunsPanel(self.document, self)
        self.bottom_tabs.insertTab(1, self.summary_panel, "Summary")   # next to Training: before a run
        self.bottom_tabs.addTab(self.runs_panel, "Runs")
        self.problems.title_changed.connect(
            lambda text: self.bottom_tabs.setTabText(self.bottom_tabs.indexOf(self.problems), text))
        bottom = QDockWidget("Model", self)
        bottom.setObjectName("bottom")
        bottom.setWidget(self.bottom_tabs)
        self.addDockWidget(Qt.BottomDockWidgetArea, bottom)
        self.docks = (left, right, bottom)
        self._size_docks()

    def _size_docks(self) -> None:
        """Side panels take what they need and the canvas keeps at least half the width."""
        left, right, bottom = self.docks
        width = max(self.width(), 800)
        side = min(230, width // 5), min(310, width // 4)
        self.resizeDocks([left, right], list(side), Qt.Horizontal)
        self.resizeDocks([bottom], [min(270, self.height() * 2 // 5)], Qt.Vertical)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() > 0 and abs(event.size().width() - event.oldSize().width()) > 100:
            self._size_docks()

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.tf_label = QLabel("TensorFlow: loading…")
        self.device_label = QLabel("Device: …")
        self.params_label = QLabel("Total params: –")
        self.weights_label = QLabel("")
        self.zoom_label = QLabel("100%")
        for w in (self.weights_label, self.params_label, self.tf_label, self.device_label, self.zoom_label):
            w.setContentsMargins(8, 0, 8, 0)
            sb.addPermanentWidget(w)
        sb.showMessage("Loading TensorFlow in the background… you can already edit.")

    def action(self, text, slot, shortcut=None, view_only=False, tip=None) -> QAction:
        """A window action (``view_only``: its shortcut works while the canvas has focus)."""
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
            action.setToolTip(tip)
        return action

    def _build_menus(self) -> None:
        mb = self.menuBar()
        self.files.build_menu(mb.addMenu("&File"))
        edit_menu = mb.addMenu("&Edit")
        self.edit.build_menu(edit_menu)
        edit_menu.addSeparator()
        self.blocks.build_menu(edit_menu)
        view_menu = mb.addMenu("&View")
        self.act_fit = self.action("&Fit to View", self.view.fit_to_view, "F", view_only=True)
        self.act_zoom_in = self.action("Zoom &In", lambda: self.view.set_zoom(self.view.zoom() * 1.25),
                                       QKeySequence.ZoomIn)
        self.act_zoom_out = self.action("Zoom &Out", lambda: self.view.set_zoom(self.view.zoom() / 1.25),
                                        QKeySequence.ZoomOut)
        for a in (self.act_fit, self.act_zoom_in, self.act_zoom_out, self.edit.act_layout, self.edit.act_quick_add):
            view_menu.addAction(a)
        model_menu = mb.addMenu("&Model")
        self.act_train = self.action("&Train from Start", self.train, ["F5", "Ctrl+T"],
                                     tip="Start a new run from the starting weights")
        self.act_continue = self.action("&Continue Training", self.continue_training, "Shift+F5",
                                        tip="Train more epochs from the weights the last run reached")
        self.act_reset_weights = self.action("&Reset Trained Weights", self.edit.reset_trained_weights,
                                             tip="Forget the weights training reached (undoable)")
        for a in (self.act_train, self.act_continue, self.act_reset_weights):
            model_menu.addAction(a)
        help_menu.build(self, mb.addMenu("&Help"))

        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        for a in (self.files.act_new, self.files.act_open, self.files.act_save, None, self.edit.act_undo,
                  self.edit.act_redo, None, self.edit.act_layout, self.act_fit, None, self.act_train):
            if a is None:
                tb.addSeparator()
            else:
                tb.addAction(a)

    def _connect(self) -> None:
        self.view.layer_dropped.connect(self.edit.add_layer)
        self.view.files_dropped.connect(self.files.open_files)
        self.view.add_requested.connect(self.edit.quick_add_at)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        if hasattr(self.view, "context_requested"):
            self.view.context_requested.connect(self.edit.show_context_menu)
        self.palette.layer_activated.connect(self.edit.add_layer_at_center)
        if hasattr(self.palette, "context_requested"):
            self.palette.context_requested.connect(self.edit.show_palette_menu)
        self.quick_add.chosen.connect(self.edit.add_chosen_layer)
        self.connect_scene(self.root_scene)
        self.inspector.fix_requested.connect(self.edit.apply_fix)
        self.inspector.block_open_requested.connect(self.blocks.open_block)
        self.inspector.owner_requested.connect(lambda i: self.scene.select_nodes([i]))
        self.inspector.unshare_requested.connect(self.blocks.make_independent)
        self.problems.node_activated.connect(self.show_node)
        self.training_panel.problem_pinned.connect(lambda node_id, _message: self.show_node(node_id))
        self.undo_stack.cleanChanged.connect(self._update_title)
        self.undo_stack.indexChanged.connect(self._update_title)
        d = self.document
        d.states_changed.connect(lambda _ids: self._update_totals())
        d.weights_changed.connect(self._update_weights_label)
        d.weights_changed.connect(self._update_title)
        d.project_replaced.connect(self._on_project_replaced)
        d.path_changed.connect(self._update_title)
        d.notice.connect(lambda message: self.statusBar().showMessage(message, 10000))

    def connect_scene(self, scene) -> None:
        """Wire a canvas scene (the model's, or an opened block's) to the panels."""
        scene.selectionChanged.connect(self._on_selection)
        scene.fix_requested.connect(self.edit.apply_fix)
        scene.output_toggled.connect(self.edit.toggle_output)
        scene.refusal_shown.connect(lambda r: self.statusBar().showMessage(f"Connection refused: {r}", 5000))
        scene.block_open_requested.connect(self.blocks.open_block)

    # -- the document ----------------------------------------------------------------
    def set_project(self, project: Project) -> None:
        """Show another project: every panel resets from the document's event."""
        if self.training_panel.is_running():
            self.training_panel.stop(wait=True)
        self.undo_stack.clear()
        self.document.replace(project)
        self.undo_stack.setClean()
        self._update_title()

    def _on_project_replaced(self) -> None:
        self.files.autosaved_changes = self.files.changes = 0
        self._update_totals()
        self._update_weights_label()
        QTimer.singleShot(0, self.view.fit_to_view)

    def _update_totals(self) -> None:
        states = self.document.checker.states
        used = self.document.graph.model_node_ids()
        total = sum(s.params or 0 for i, s in states.items() if i in used)
        self.params_label.setText(f"Total params: {total:,}" if self.document.checking_enabled else "Total params: –")

    def _update_weights_label(self) -> None:
        self.weights_label.setText(self.document.weight_summary() if self.document.checking_enabled else "")

    def _display_name(self) -> str:
        path = self.document.path
        return path.name if path else f"{self.document.graph.name} (unsaved)"

    def _update_title(self, *_args) -> None:
        # Qt shows the '*' in place of '[*]' while the window is marked modified
        self.setWindowTitle(f"{self._display_name()}[*] — Layer Studio")
        self.setWindowModified(self.is_modified())

    def is_modified(self) -> bool:
        return not self.undo_stack.isClean() or self.document.weights_unsaved

    def flush_updates(self) -> None:
        """Run the pending re-check now (tests, and before training or saving)."""
        if self._check_timer.isActive():
            self._check_timer.stop()
        self.document.refresh()
        self.code_view.flush()

    # -- TensorFlow --------------------------------------------------------------
    def _on_tf_loaded(self, version: str, device: str, seconds: float) -> None:
        self.tf_label.setText(f"TensorFlow {version}")
        gc_guard.install().settle()
        self.device_label.setText(f"Device: {device}")
        self.statusBar().showMessage(f"TensorFlow ready ({seconds:.1f} s); shapes are checked live.", 5000)
        self.inspector.set_keras_ready()
        self.code_view.set_ready()
        self.document.enable_checking()
        self._update_totals()
        self._update_weights_label()
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

    # -- wiring between panels -----------------------------------------------------------
    def _on_selection(self) -> None:
        try:
            self.inspector.show_nodes(self.scene.selected_node_ids())
        except RuntimeError:  # a block's scene being thrown away
            pass

    def show_node(self, node_id: str) -> None:
        if node_id and node_id not in self.scene.node_items and node_id in self.root_scene.node_items:
            self.blocks.go_to(0)  # a node of the model, shown from inside a block
        if node_id and node_id in self.scene.node_items:
            self.scene.select_nodes([node_id])
            self.view.centerOn(self.scene.node_items[node_id])

    def _look_inside(self, index: int) -> None:
        """An example picked in the Evaluate gallery opens in the Inside tab."""
        self.inspect_panel.show_held_out(index)
        self.bottom_tabs.setCurrentWidget(self.inspect_panel)

    def train(self) -> None:
        self.bottom_tabs.setCurrentWidget(self.training_panel)
        self.when_keras_ready(lambda: self.training_panel.start(new=True), "training")

    def continue_training(self) -> None:
        self.bottom_tabs.setCurrentWidget(self.training_panel)
        self.when_keras_ready(lambda: self.training_panel.start(new=False), "training")

    def offer_recovery(self) -> bool:
        return self.files.offer_recovery()

    # -- window --------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.files.open_files(paths)

    def closeEvent(self, event) -> None:
        # a run going on is stopped cleanly first (maybe_save): its folder gets its final
        # weights and history, and the weights it reached are asked about like any change
        if not self.files.maybe_save():
            event.ignore()
            return
        self.files.recovery.discard()
        event.accept()

    def add_layer(self, class_name: str, scene_pos: QPointF) -> None:
        """Add a layer at a scene position (the palette drop and the tests use it)."""
        self.edit.add_layer(class_name, scene_pos)
