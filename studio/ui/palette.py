"""The layer palette (searchable, by category) and the quick-add search box."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QLineEdit, QListWidget, QListWidgetItem,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from studio.engine import catalog
from studio.ui.canvas.view import LAYER_MIME


class _LayerTree(QTreeWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragOnly)
        self.setRootIsDecorated(True)
        self.setIndentation(14)
        self.setUniformRowHeights(True)

    def mimeTypes(self):
        return [LAYER_MIME]

    def mimeData(self, items):
        md = QMimeData()
        names = [i.data(0, Qt.UserRole) for i in items if i.data(0, Qt.UserRole)]
        if names:
            md.setData(LAYER_MIME, names[0].encode())
            md.setText(names[0])
        return md


class Palette(QWidget):
    """Every catalog layer, grouped by category; drag one onto the canvas or double-click it."""

    layer_activated = Signal(str)
    context_requested = Signal(str, QPoint)   # class name, global position (right-click on an entry)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search layers…  (e.g. conv, lstm, pool)")
        self.search.setClearButtonEnabled(True)
        self.tree = _LayerTree()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.categories: dict[str, QTreeWidgetItem] = {}
        for category in catalog.CATEGORIES:
            if category in catalog.NOT_IN_PALETTE:
                continue
            top = QTreeWidgetItem([category])
            top.setFlags(Qt.ItemIsEnabled)
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            self.tree.addTopLevelItem(top)
            self.categories[category] = top
            for name in catalog.names(category):
                spec = catalog.spec(name)
                label = "Input" if name == "InputLayer" else name
                item = QTreeWidgetItem([label])
                item.setData(0, Qt.UserRole, name)
                item.setToolTip(0, f"<b>{name}</b><br>{spec.description}")
                item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled)
                top.addChild(item)
                self.items[name] = item
        from studio.engine import pretrained
        from studio.ui.pretrained_dialog import PREFIX
        top = QTreeWidgetItem(["Pretrained"])
        top.setFlags(Qt.ItemIsEnabled)
        font = top.font(0)
        font.setBold(True)
        top.setFont(0, font)
        self.tree.addTopLevelItem(top)
        self.categories["Pretrained"] = top
        for name, spec in pretrained.BACKBONES.items():
            item = QTreeWidgetItem([name])
            item.setData(0, Qt.UserRole, PREFIX + name)
            item.setToolTip(0, f"<b>{name}</b> (keras.applications, without its top)<br>{spec.about}<br>"
                               "Drop it on the canvas to choose its input size, pooling and weights")
            item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled)
            top.addChild(item)
            self.items[PREFIX + name] = item
        self.tree.expandAll()
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._activate_first)
        self.tree.itemDoubleClicked.connect(self._on_double_click)
        self.tree.setContextMenuPolicy(Qt.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_context)

    def _on_context(self, pos) -> None:
        item = self.tree.itemAt(pos)
        name = item.data(0, Qt.UserRole) if item is not None else None
        if name:
            self.context_requested.emit(name, self.tree.viewport().mapToGlobal(pos))

    def filter(self, text: str) -> None:
        visible = {s.class_name for s in catalog.search(text)} if text.strip() else set(self.items)
        words = text.lower().split()
        visible |= {n for n in self.items if ":" in n and all(w in n.lower() or w == "pretrained" for w in words)}
        for name, item in self.items.items():
            item.setHidden(name not in visible)
        for top in self.categories.values():
            top.setHidden(all(top.child(k).isHidden() for k in range(top.childCount())))

    def visible_names(self) -> list[str]:
        return [n for n, i in self.items.items() if not i.isHidden()]

    def _activate_first(self) -> None:
        hits = catalog.search(self.search.text())
        if hits:
            self.layer_activated.emit(hits[0].class_name)

    def _on_double_click(self, item, _column) -> None:
        name = item.data(0, Qt.UserRole)
        if name:
            self.layer_activated.emit(name)


class QuickAdd(QFrame):
    """A small type-to-search box that pops up at the cursor to add a layer there."""

    chosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent, Qt.Popup)
        self.setFrameShape(QFrame.StyledPanel)
        self.edit = QLineEdit(placeholderText="Add layer…")
        self.list = QListWidget()
        self.list.setMinimumHeight(220)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        self.resize(280, 280)
        self.edit.textChanged.connect(self._fill)
        self.edit.returnPressed.connect(self._choose_current)
        self.list.itemActivated.connect(lambda item: self._choose(item.data(Qt.UserRole)))
        self._fill("")

    def _fill(self, text: str) -> None:
        self.list.clear()
        specs = catalog.search(text) if text.strip() else [catalog.spec(n) for n in catalog.SPECS]
        for s in specs:
            item = QListWidgetItem(f"{s.class_name}  —  {s.category}")
            item.setData(Qt.UserRole, s.class_name)
            item.setToolTip(s.description)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Down, Qt.Key_Up):
            row = self.list.currentRow() + (1 if event.key() == Qt.Key_Down else -1)
            self.list.setCurrentRow(max(0, min(self.list.count() - 1, row)))
            return
        super().keyPressEvent(event)

    def _choose_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._choose(item.data(Qt.UserRole))

    def _choose(self, name: str) -> None:
        self.hide()
        self.chosen.emit(name)

    def popup_at(self, global_pos: QPoint) -> None:
        self.edit.clear()
        self.move(global_pos)
        self.show()
        self.edit.setFocus()
