"""File actions: new, open, import, export, save, recent files, autosave and recovery."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from studio.engine import templates
from studio.engine.project import Project, ProjectError, load_project
from studio.ui import recovery

log = logging.getLogger(__name__)
FILE_FILTER = "Layer Studio projects (*.studio);;Keras models (*.keras);;All files (*)"


class FileActions:
    def __init__(self, window):
        self.window = window
        self.recovery = recovery.Recovery()
        self.changes = 0            # every edit, undo, redo and weights change counts one
        self.autosaved_changes = 0
        window.undo_stack.indexChanged.connect(self._count_change)
        window.document.weights_changed.connect(self._count_change)
        window.document.trusted_data.update(self._list_setting("trusted_data"))

    def trust_data(self, path: str) -> None:
        """A data file the person chose in a dialog: projects on this machine may name it."""
        real = str(Path(path).resolve())
        self.document.trusted_data.add(real)
        s = self._settings()
        s.setValue("trusted_data", sorted(set(self._list_setting("trusted_data")) | {real})[-200:])
        s.sync()

    def _list_setting(self, key: str) -> list[str]:
        value = self._settings().value(key, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    @property
    def document(self):
        return self.window.document

    def build_menu(self, menu) -> None:
        w = self.window
        self.act_new = w.action("&New", lambda: self.new_project(None), QKeySequence.New)
        menu.addAction(self.act_new)
        tmpl_menu = menu.addMenu("New from &Template")
        for key, (title, _) in templates.TEMPLATES.items():
            tmpl_menu.addAction(w.action(title, lambda checked=False, k=key: self.new_project(k)))
        self.act_open = w.action("&Open…", self.open_dialog, QKeySequence.Open)
        menu.addAction(self.act_open)
        self.recent_menu = menu.addMenu("Open &Recent")
        self.act_import = w.action("&Import Keras Model…", self.import_dialog, "Ctrl+I")
        menu.addAction(self.act_import)
        self.act_dataset = w.action("Choose &Dataset…", self.choose_dataset,
                                    tip="Pick the data to train on in the Dataset tab")
        menu.addAction(self.act_dataset)
        self.act_export = w.action("&Export…", self.export_dialog, "Ctrl+E")
        menu.addAction(self.act_export)
        menu.addSeparator()
        self.act_save = w.action("&Save", self.save, QKeySequence.Save)
        self.act_save_as = w.action("Save &As…", self.save_as, "Ctrl+Shift+S")
        menu.addAction(self.act_save)
        menu.addAction(self.act_save_as)
        menu.addSeparator()
        menu.addAction(w.action("&Quit", w.close, QKeySequence.Quit))
        self.refresh_recent_menu()

    # -- opening ---------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False when the person cancels. A run going on is
        stopped first, so the weights it reached are among the changes asked about."""
        if self.window.training_panel.is_running():
            self.window.statusBar().showMessage("Stopping training…")
            self.window.training_panel.stop(wait=True)
        if not self.window.is_modified():
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved changes", f"Save the changes to {self.window._display_name()}?",
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
        self.window.set_project(project)

    def choose_dataset(self) -> None:
        w = self.window
        w.bottom_tabs.setCurrentWidget(w.dataset_panel)
        w.dataset_panel.source.setFocus()

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open project or model", str(self.last_dir()),
                                              FILE_FILTER)
        if path:
            self.open_files([path])

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import Keras model", str(self.last_dir()),
                                              "Keras models (*.keras)")
        if path:
            self.open_files([path])

    def open_files(self, paths: list[str]) -> None:
        path = Path(paths[0])
        if not self.maybe_save():
            return
        if path.suffix == ".keras":
            self.window.when_keras_ready(lambda: self._import_keras(path), f"importing {path.name}")
            return
        try:
            project = load_project(path)
        except ProjectError as exc:
            QMessageBox.warning(self.window, "Cannot open project", str(exc))
            return
        self.window.set_project(project)
        self.add_recent(path)
        self.window.statusBar().showMessage(f"Opened {path}", 4000)

    def _import_keras(self, path: Path) -> None:
        from studio.engine.importer import ImportRefused, graph_from_keras_file
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            graph, weights = graph_from_keras_file(path)
        except ImportRefused as exc:
            QApplication.restoreOverrideCursor()
            QMessageBox.warning(self.window, "Cannot import model", str(exc))
            return
        except Exception as exc:
            QApplication.restoreOverrideCursor()
            log.exception("import failed")
            QMessageBox.warning(self.window, "Cannot import model", f"{path}: {exc}")
            return
        QApplication.restoreOverrideCursor()
        self.window.set_project(Project(graph=graph, weights=weights))
        self.window.undo_stack.resetClean()  # imported, not yet saved as a project
        self.window._update_title()
        self.window.statusBar().showMessage(
            f"Imported {len(graph.nodes)} layers from {path.name}; save to keep it", 6000)

    def export_dialog(self) -> None:
        from studio.ui.export_dialog import export_interactively
        export_interactively(self.window)

    # -- saving ----------------------------------------------------------------------
    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self.save_to(self.document.path)

    def save_as(self) -> bool:
        d = self.document
        suggested = d.path or (self.last_dir() / f"{d.graph.name}.studio")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save project", str(suggested),
                                              "Layer Studio projects (*.studio)")
        if not path:
            return False
        if not path.endswith(".studio"):
            path += ".studio"
        return self.save_to(Path(path))

    def save_to(self, path: Path) -> bool:
        w = self.window
        w.flush_updates()
        try:
            self.document.to_project().save(path)
        except ProjectError as exc:
            QMessageBox.warning(w, "Cannot save", str(exc))
            return False
        self.document.saved_as(path)
        w.undo_stack.setClean()
        self.recovery.discard()
        self.add_recent(path)
        w._update_title()
        w.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def _count_change(self, *_args) -> None:
        self.changes += 1

    def autosave(self) -> None:
        if not self.window.is_modified() or self.changes == self.autosaved_changes:
            return
        try:
            self.recovery.write(self.document.to_project())
            self.autosaved_changes = self.changes
        except Exception as exc:  # never let autosave interrupt work
            log.warning("autosave failed: %s", exc)

    def offer_recovery(self) -> bool:
        """Offer to restore work left by a crashed session; True if restored."""
        w = self.window
        for meta in recovery.orphaned():
            original = meta.get("original") or "an unsaved project"
            answer = QMessageBox.question(
                w, "Recover unsaved work",
                f"Layer Studio did not close properly last time. Restore the changes to {original} "
                "from the automatic backup?", QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
            if answer == QMessageBox.Yes:
                try:
                    project = recovery.restore(meta)
                except ProjectError as exc:
                    QMessageBox.warning(w, "Cannot recover", str(exc))
                    recovery.forget(meta)
                    continue
                recovery.forget(meta)
                w.set_project(project)
                w.undo_stack.resetClean()
                w._update_title()
                self.autosave()
                return True
            recovery.forget(meta)
        return False

    # -- recent files ------------------------------------------------------------------
    def _settings(self) -> QSettings:
        return QSettings(str(recovery.app_home() / "settings.ini"), QSettings.IniFormat)

    def last_dir(self) -> Path:
        recent = self.recent_files()
        return Path(recent[0]).parent if recent else Path.home()

    def recent_files(self) -> list[str]:
        return [p for p in self._list_setting("recent") if Path(p).exists()]

    def add_recent(self, path: Path) -> None:
        items = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        s = self._settings()
        s.setValue("recent", items[:10])
        s.sync()
        self.refresh_recent_menu()

    def refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            self.recent_menu.addAction(p, lambda p=p: self.open_files([p]))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))
