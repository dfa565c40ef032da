"""The inspector: edits the selected node's (or nodes') parameters.

Each parameter gets a widget that fits its kind (spin box with range, choice
list, check box, tuple field); text is validated as it is typed, with the
reason shown under the field, and every accepted change is one undoable
command, after which shapes are re-checked at once.
"""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QFrame, QLabel, QLineEdit,
                               QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from studio.engine import catalog
from studio.engine.shapes import format_shape
from studio.ui import commands

NONE_TEXT = "None"
ORIGIN_TEXT = {"trained": "trained (the last run's)", "imported": "imported (starting weights)",
               "fresh": "fresh (initialised when training starts)"}


def value_text(value: Any) -> str:
    if value is None:
        return NONE_TEXT
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (int, float)) or v is None for v in value):
            return ", ".join(NONE_TEXT if v is None else str(v) for v in value)
        return json.dumps(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def parse_value(p: catalog.ParamSpec, text: str) -> tuple[Any, str | None]:
    """Text typed for a parameter -> (value, None) or (None, reason)."""
    t = text.strip()
    if t in ("", NONE_TEXT, "none", "null") and (p.allow_none or p.default is None):
        return None, None
    if p.kind in ("tuple", "int_or_tuple"):
        parts = [x.strip() for x in t.strip("()[]").split(",") if x.strip()]
        if not parts:
            return None, "enter one or more whole numbers, e.g. 3, 3"
        values = []
        for x in parts:
            if x in (NONE_TEXT, "none") and p.allow_none:
                values.append(None)
                continue
            try:
                values.append(int(x))
            except ValueError:
                try:
                    values.append(float(x))
                except ValueError:
                    return None, f"'{x}' is not a number"
        if p.kind == "int_or_tuple" and len(values) == 1 and "," not in t:
            return values[0], None
        return values, None
    if p.kind == "float":
        try:
            v = float(t)
        except ValueError:
            return None, f"'{t}' is not a number"
        if p.min is not None and v < p.min or p.max is not None and v > p.max:
            return None, f"must be between {p.min:g} and {p.max:g}"
        return v, None
    if p.kind == "int":
        try:
            v = int(t)
        except ValueError:
            return None, f"'{t}' is not a whole number"
        return v, None
    if p.kind == "index":
        try:
            return catalog.parse_index(t), None
        except ValueError as exc:
            return None, str(exc)
    if p.kind in ("json", "layer", "operand"):
        try:
            return json.loads(t), None
        except json.JSONDecodeError as exc:
            try:
                return float(t), None
            except ValueError:
                return None, f"not valid (JSON): {exc.msg}"
    return t, None


class _Field(QWidget):
    """One parameter's editor with its error line."""

    committed = Signal(str, object)  # parameter name, new value

    def __init__(self, p: catalog.ParamSpec, value: Any, mixed: bool, parent=None):
        super().__init__(parent)
        self.p = p
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828; font-size: 11px;")
        self.error.setWordWrap(True)
        self.error.hide()
        self.editor = self._make_editor(value, mixed)
        layout.addWidget(self.editor)
        layout.addWidget(self.error)

    def _make_editor(self, value, mixed):
        p = self.p
        if p.kind == "bool":
            w = QCheckBox()
            if mixed:
                w.setTristate(True)
                w.setCheckState(Qt.PartiallyChecked)
            else:
                w.setChecked(bool(value))
            w.toggled.connect(lambda on: self.committed.emit(p.name, bool(on)))
            return w
        if p.kind == "choice" and p.choices is not None and not isinstance(value, dict):
            w = QComboBox()
            w.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            w.setMinimumContentsLength(8)  # long choices never widen the inspector past its dock
            for c in p.choices:
                w.addItem(NONE_TEXT if c is None else str(c), c)
            if mixed:
                w.insertItem(0, "(several values)", "__mixed__")
                w.setCurrentIndex(0)
            else:
                idx = w.findData(value)
                if idx < 0:
                    w.addItem(str(value), value)
                    idx = w.count() - 1
                w.setCurrentIndex(idx)
            w.currentIndexChanged.connect(lambda _i: self._combo_changed(w))
            return w
        if p.kind == "int" and isinstance(value, int) and not isinstance(value, bool) and not p.allow_none:
            w = QSpinBox()
            w.setRange(int(p.min) if p.min is not None else -1_000_000_000,
                       int(p.max) if p.max is not None else 1_000_000_000)
            w.setValue(value)
            w.setKeyboardTracking(False)
            if mixed:
                w.setSpecialValueText("(several values)")
            w.valueChanged.connect(lambda v: self.committed.emit(p.name, int(v)))
            return w
        w = QLineEdit("" if mixed else (catalog.index_text(value) if p.kind == "index" else value_text(value)))
        if mixed:
            w.setPlaceholderText("(several values)")
        hints = {"tuple": "e.g. 3, 3", "int_or_tuple": "e.g. -1 or 1, 2", "json": "JSON value",
                 "operand": "a constant (e.g. 3.0 for x + 3.0), or None to take a tensor on this input",
                 "index": "Python indexing, e.g. [:, 0] or [..., 1:] or [:, None]"}
        if p.kind in hints and not mixed:
            w.setToolTip(hints[p.kind])
        w.textEdited.connect(self._validate)
        w.editingFinished.connect(self._commit_text)
        return w

    def _combo_changed(self, w: QComboBox) -> None:
        data = w.currentData()
        if data != "__mixed__":
            self.committed.emit(self.p.name, data)

    def _validate(self, text: str) -> bool:
        _, reason = parse_value(self.p, text)
        self.error.setText(reason or "")
        self.error.setVisible(bool(reason))
        self.editor.setStyleSheet("border: 1px solid #c62828;" if reason else "")
        return reason is None

    def _commit_text(self) -> None:
        text = self.editor.text()
        if not text.strip() and self.editor.placeholderText() == "(several values)":
            return
        value, reason = parse_value(self.p, text)
        if reason is None:
            self.committed.emit(self.p.name, value)


class Inspector(QScrollArea):
    """Shows and edits the selected nodes. Reads from the document, writes through commands."""

    fix_requested = Signal(str)
    block_open_requested = Signal(str)
    owner_requested = Signal(str)      # a shared layer's use: select the layer it uses
    unshare_requested = Signal(str)    # a shared layer's use: make it an independent copy

    def __init__(self, document, undo_stack, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setMinimumWidth(240)
        self.undo_stack = undo_stack
        self.node_ids: list[str] = []
        self.keras_ready = False
        self.fields: dict[str, _Field] = {}
        self.name_edit: QLineEdit | None = None
        self.output_check: QCheckBox | None = None
        self._shown = None
        self._timer = QTimer(self, singleShot=True, interval=0, timeout=self.refresh)
        self._handlers = {"graph_changed": self._timer.start, "states_changed": lambda _ids: self._timer.start(),
                          "weights_changed": self._timer.start, "project_replaced": lambda: self.show_nodes([])}
        self.document = None
        self.set_document(document)
        self._build_empty("Select a layer on the canvas to edit it.")

    def set_document(self, document) -> None:
        """Show the nodes of another document: the model, or an opened block's inside."""
        if self.document is not None:
            for name, handler in self._handlers.items():
                getattr(self.document, name).disconnect(handler)
        self.document = document
        for name, handler in self._handlers.items():
            getattr(document, name).connect(handler)
        self.show_nodes([])

    @property
    def graph(self):
        return self.document.graph

    @property
    def checker(self):
        return self.document.checker

    def set_keras_ready(self) -> None:
        self.keras_ready = True
        self.show_nodes(self.node_ids)

    def _build_empty(self, text: str) -> None:
        w = QLabel(text)
        w.setAlignment(Qt.AlignCenter)
        w.setWordWrap(True)
        w.setStyleSheet("color: #757575; padding: 20px;")
        self.fields = {}
        self.name_edit = None
        self.setWidget(w)

    def refresh(self) -> None:
        """Re-read the selection from the document (after an edit or an undo);
        nothing is rebuilt when what the inspector shows did not change."""
        ids = [i for i in self.node_ids if i in self.graph.nodes]
        if self._signature(ids) != self._shown:
            self.show_nodes(ids)

    def _signature(self, ids) -> tuple:
        nodes = self.graph.nodes
        states = self.checker.states
        status = self.document.weight_status()
        return (tuple(ids), self.keras_ready, tuple(self.graph.model_outputs()),
                tuple((nodes[i].name, repr(nodes[i].config), repr(states.get(i)), status.get(i)) for i in ids))

    def show_nodes(self, node_ids: list[str]) -> None:
        self.node_ids = list(node_ids)
        self._shown = self._signature(self.node_ids)
        self.output_check = None
        if not node_ids:
            self._build_empty("Select a layer on the canvas to edit it.")
            return
        nodes = [self.graph.nodes[i] for i in node_ids]
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(8, 8, 8, 8)
        classes = {n.class_name for n in nodes}
        if len(nodes) == 1:
            node = nodes[0]
            spec = catalog.spec(node.class_name)
            title = QLabel(f"<b style='font-size:14px'>{node.class_name}</b><br>"
                           f"<span style='color:#616161'>{spec.description}</span>")
            title.setWordWrap(True)
            outer.addWidget(title)
            form = QFormLayout()
            self.name_edit = QLineEdit(node.name)
            self.name_edit.editingFinished.connect(self._rename)
            form.addRow("Name", self.name_edit)
            if not spec.is_input:
                self.output_check = QCheckBox("model output")
                self.output_check.setChecked(node.id in self.graph.model_outputs())
                implicit = commands.toggle_output_command(self.graph, node.id) is None
                self.output_check.setEnabled(not implicit)
                self.output_check.setToolTip(
                    "The only end of the graph is its output; mark other layers to have several" if implicit else
                    "The model's outputs are the layers marked here (or on the canvas); unmarked, the one layer "
                    "that ends the graph is the output")
                self.output_check.toggled.connect(lambda _on, i=node.id: self._toggle_output(i))
                form.addRow("Output", self.output_check)
            outer.addLayout(form)
            outer.addWidget(self._status_box(node.id))
        else:
            self.name_edit = None
            kinds = ", ".join(sorted(classes))
            label = QLabel(f"<b>{len(nodes)} layers selected</b><br><span style='color:#616161'>{kinds}</span>"
                           "<br>Changes apply to every selected layer that has the parameter.")
            label.setWordWrap(True)
            outer.addWidget(label)
        outer.addWidget(self._separator())
        self.fields = {}
        if not self.keras_ready:
            wait = QLabel("Loading TensorFlow… the parameters appear as soon as it is ready.")
            wait.setWordWrap(True)
            wait.setStyleSheet("color: #757575;")
            outer.addWidget(wait)
        else:
            form = QFormLayout()
            form.setLabelAlignment(Qt.AlignRight)
            form.setRowWrapPolicy(QFormLayout.WrapLongRows)  # a narrow inspector puts fields under labels
            common = None
            from studio.engine.sharing import owner_id
            uses = [n for n in nodes if owner_id(n) is not None]
            if uses:  # a shared layer's uses have no settings of their own
                owner = self.graph.nodes.get(owner_id(uses[0]))
                note = QLabel(f"Uses the layer <b>{html.escape(owner.name if owner else '?')}</b> again: the same "
                              "weights, trained together. Its settings are edited on that layer."
                              if len(nodes) == 1 else "Some of these layers share another layer's weights: "
                              "select one layer to edit its settings.")
                note.setWordWrap(True)
                outer.addWidget(note)
                if len(nodes) == 1 and owner is not None:
                    show = QPushButton(f"Edit '{owner.name}'")
                    show.clicked.connect(lambda _=False, i=owner.id: self.owner_requested.emit(i))
                    copy_button = QPushButton("Make it an independent copy")
                    copy_button.setToolTip("Give this layer its own copy of the settings and its own weights")
                    copy_button.clicked.connect(lambda _=False, i=nodes[0].id: self.unshare_requested.emit(i))
                    outer.addWidget(show)
                    outer.addWidget(copy_button)
                outer.addStretch(1)
                self.setWidget(page)
                return
            for n in nodes:
                names = [p.name for p in catalog.params(n.class_name)]
                common = names if common is None else [x for x in common if x in names]
            specs = {p.name: p for p in catalog.params(nodes[0].class_name)}
            for name in common or []:
                p = specs[name]
                values = [n.config.get(name, p.default) for n in nodes]
                mixed = any(v != values[0] for v in values[1:])
                field = _Field(p, values[0], mixed)
                field.committed.connect(self._commit)
                self.fields[name] = field
                label = QLabel(name.replace("_", " "))
                if name in catalog.spec(nodes[0].class_name).primary:
                    label.setStyleSheet("font-weight: bold;")
                form.addRow(label, field)
            outer.addLayout(form)
        outer.addStretch(1)
        self.setWidget(page)

    def _separator(self) -> QFrame:
        line = QFrame()
        line.setFrameShape(QFrame.HLine)
        line.setStyleSheet("color: #e0e0e0;")
        return line

    def _status_box(self, node_id: str) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 4, 0, 4)
        state = self.checker.states.get(node_id) if self.checker else None
        if state is None:
            text = "<span style='color:#757575'>Shape: not checked yet</span>"
        elif state.error:
            text = f"<span style='color:#c62828'><b>Error:</b> {html.escape(state.error)}</span>"
        elif state.outputs is None:
            text = f"<span style='color:#b26a00'><b>Warning:</b> {html.escape(state.warning or '')}</span>"
        else:
            shapes = ", ".join(format_shape(s) for s in state.outputs or [])
            text = f"Output: <b>{shapes}</b><br>Parameters: <b>{state.params:,}</b>"
            if state.trainable_params is not None and state.trainable_params != state.params:
                text += (f" (trainable {state.trainable_params:,}, "
                         f"non-trainable {state.params - state.trainable_params:,})")
            origin = self.document.weight_status().get(node_id)
            if origin is not None:
                text += f"<br>Weights: <b>{ORIGIN_TEXT[origin]}</b>"
            if state.warning:
                text += f"<br><span style='color:#b26a00'><b>Warning:</b> {html.escape(state.warning)}</span>"
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(label)
        node = self.graph.nodes.get(node_id)
        if node is not None and node.class_name == "Block" and "shares" not in node.config:
            from studio.engine import blocks
            count, frozen = blocks.layer_count(node.config), len(blocks.frozen_layers(node.config))
            about = QLabel(f"{node.config.get('kind', 'functional').capitalize()} block of {count} layers"
                           + (f", {frozen} of them frozen" if frozen else ""))
            about.setWordWrap(True)
            layout.addWidget(about)
            button = QPushButton("Open block")
            button.setToolTip("Show and edit its layers on the canvas (or double-click the block)")
            button.clicked.connect(lambda: self.block_open_requested.emit(node_id))
            layout.addWidget(button)
        if state is not None and state.fix is not None and (state.error or state.warning):
            button = QPushButton(f"Fix: {state.fix.label}")
            button.clicked.connect(lambda: self.fix_requested.emit(node_id))
            layout.addWidget(button)
            self.fix_button = button
        return box

    def _toggle_output(self, node_id: str) -> None:
        command = commands.toggle_output_command(self.graph, node_id)
        if command is not None:
            self.undo_stack.push(command)

    def _rename(self) -> None:
        if self.name_edit is None or len(self.node_ids) != 1:
            return
        new = self.name_edit.text().strip()
        node = self.graph.nodes[self.node_ids[0]]
        if new == node.name:
            return
        from studio.engine.graph import GraphError
        try:
            self.graph._check_name(new, node.id)
        except GraphError as exc:
            self.name_edit.setStyleSheet("border: 1px solid #c62828;")
            self.name_edit.setToolTip(str(exc))
            self.name_edit.setText(node.name)
            return
        self.name_edit.setStyleSheet("")
        self.undo_stack.push(commands.Rename(self.graph, node.id, new))

    def _commit(self, name: str, value: Any) -> None:
        targets = [i for i in self.node_ids
                   if i in self.graph.nodes and self.graph.nodes[i].config.get(name, object()) != value]
        if not targets:
            return
        self.undo_stack.push(commands.set_param_command(self.graph, targets, name, value))
