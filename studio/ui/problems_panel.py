"""The Problems tab: every error and warning of the document, pinned to its node.

Redrawn from the document's check results; the tab title counts exactly the
entries listed (errors and warnings).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem


class ProblemsPanel(QListWidget):
    node_activated = Signal(str)    # node id of the entry the person opened
    title_changed = Signal(str)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.counts = (0, 0)  # errors, warnings
        self.itemActivated.connect(self._on_activated)
        self.itemClicked.connect(self._on_activated)
        document.states_changed.connect(lambda _ids: self.refresh())
        document.project_replaced.connect(self.refresh)

    def refresh(self) -> None:
        d = self.document
        checker = d.checker
        self.clear()
        if not d.checking_enabled:
            self._set_title(0, 0)
            return
        errors = warnings = 0
        for message in checker.problems:
            self._add(f"⚠ {message}", checker.graph_fix.node_id if checker.graph_fix else None, error=True)
            errors += 1
        for problem in d.resource_problems:
            self._add(f"{'⚠' if problem.error else '△'} {problem.message}", None, error=problem.error)
            errors += problem.error
            warnings += not problem.error
        for node_id, node in d.graph.nodes.items():
            state = checker.states.get(node_id)
            if state is not None and state.error:
                self._add(f"⚠ {node.name}: {state.error}", node_id, error=True)
                errors += 1
        for node_id, node in d.graph.nodes.items():
            state = checker.states.get(node_id)
            if state is not None and not state.error and state.warning:
                self._add(f"△ {node.name}: {state.warning}", node_id, error=False)
                warnings += 1
        self._set_title(errors, warnings)

    def _add(self, text: str, node_id: str | None, error: bool) -> None:
        item = QListWidgetItem(text)
        item.setData(Qt.UserRole, node_id)
        item.setForeground(QColor("#c62828" if error else "#8d6e00"))
        item.setToolTip(text)
        self.addItem(item)

    def _set_title(self, errors: int, warnings: int) -> None:
        self.counts = (errors, warnings)
        n = errors + warnings
        self.title_changed.emit(f"Problems ({n})" if n else "Problems")

    def _on_activated(self, item) -> None:
        node_id = item.data(Qt.UserRole)
        if node_id:
            self.node_activated.emit(node_id)
