"""The Code tab: the engine's generated Python for the current model, kept live."""

from __future__ import annotations

import logging

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont, QFontDatabase, QTextCursor, QTextDocument
from PySide6.QtWidgets import QPlainTextEdit

log = logging.getLogger(__name__)


class CodeView(QPlainTextEdit):
    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.setReadOnly(True)
        font = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        font.setStyleHint(QFont.Monospace)
        self.setFont(font)
        self.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.document_ = document
        self.ready = False
        self._timer = QTimer(self, singleShot=True, interval=250, timeout=self.regenerate)
        self.setPlainText("# The model's Python code appears here once TensorFlow has loaded.")
        for event in (document.graph_changed, document.training_changed, document.project_replaced):
            event.connect(self.schedule)

    def set_ready(self) -> None:
        self.ready = True
        self.schedule()

    def schedule(self, *_args) -> None:
        if self.ready:
            self._timer.start()

    def flush(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.regenerate()

    def regenerate(self) -> None:
        from studio.engine.codegen import generate
        d = self.document_
        errors = d.errors()
        if errors:
            where = d.graph.nodes[errors[0][0]].name if errors[0][0] in d.graph.nodes else None
            reason = f"'{where}': {errors[0][1]}" if where else errors[0][1]
            code = ("# The code appears once the model is valid. First problem:\n"
                    f"#   {reason}\n# (the Problems tab lists all of them)\n")
        else:
            try:
                code = generate(d.graph, d.training.to_dict())
            except Exception:  # never show an internal exception text
                log.exception("code generation failed")
                code = ("# The code for this model cannot be written out yet; check the Problems tab.\n")
        if code != self.toPlainText():
            bar = self.verticalScrollBar().value()
            self.setPlainText(code)
            self.verticalScrollBar().setValue(bar)

    def show_node(self, name: str) -> None:
        """Scroll to where a layer is made, and select that line."""
        self.flush()
        found = self.document().find(f'name="{name}"', 0, QTextDocument.FindCaseSensitively)
        if found.isNull():
            found = self.document().find(f"name='{name}'", 0, QTextDocument.FindCaseSensitively)
        if not found.isNull():
            found.movePosition(QTextCursor.StartOfBlock)
            found.movePosition(QTextCursor.EndOfBlock, QTextCursor.KeepAnchor)
            self.setTextCursor(found)
            self.centerCursor()
