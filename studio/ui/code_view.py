"""The Code tab: the engine's generated Python for the current graph, kept live."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit


class CodeView(QPlainTextEdit):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setReadOnly(True)
        font = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        font.setStyleHint(QFont.Monospace)
        self.setFont(font)
        self.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.project = None
        self.ready = False
        self._timer = QTimer(self, singleShot=True, interval=250, timeout=self.regenerate)
        self.setPlainText("# The model's Python code appears here once TensorFlow has loaded.")

    def bind(self, project) -> None:
        self.project = project
        self.schedule()

    def set_ready(self) -> None:
        self.ready = True
        self.schedule()

    def schedule(self) -> None:
        if self.ready:
            self._timer.start()

    def regenerate(self) -> None:
        if self.project is None:
            return
        from studio.engine.codegen import generate
        try:
            code = generate(self.project.graph, self.project.training)
        except Exception as exc:  # a graph with errors cannot always be written out
            code = f"# The code cannot be generated until the model is valid:\n# {exc}\n"
        if code != self.toPlainText():
            bar = self.verticalScrollBar().value()
            self.setPlainText(code)
            self.verticalScrollBar().setValue(bar)
