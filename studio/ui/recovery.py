"""Autosave and crash recovery.

While a document has unsaved changes it is written every minute to
``<app data>/recovery/<pid>.studio`` with a small JSON note beside it (the
original path, the time). A clean exit deletes both. At start-up, recovery
files whose process is no longer running are offered for restoring.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from studio.engine.project import Project, atomic_write_text, load_project


def app_home() -> Path:
    env = os.environ.get("LAYER_STUDIO_HOME")
    if env:
        return Path(env)
    from PySide6.QtCore import QStandardPaths
    base = QStandardPaths.writableLocation(QStandardPaths.AppDataLocation) or str(Path.home() / ".layer-studio")
    return Path(base)


def recovery_dir() -> Path:
    d = app_home() / "recovery"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Recovery:
    def __init__(self, pid: int | None = None):
        self.pid = pid or os.getpid()
        self.path = recovery_dir() / f"{self.pid}.studio"
        self.note = recovery_dir() / f"{self.pid}.json"

    def write(self, project: Project) -> None:
        """Autosave the project with its weights (trained ones too: a crash after a run
        loses nothing), as the same consistent pair a save writes."""
        Project(graph=project.graph, dataset=project.dataset, training=project.training, weights=project.weights,
                trained_weights=project.trained_weights).save(self.path)
        atomic_write_text(self.note, json.dumps({"original": str(project.path) if project.path else None,
                                                 "time": time.time(), "pid": self.pid}))

    def discard(self) -> None:
        for p in (self.path, self.note, *self.path.parent.glob(f"{self.path.name}.weights*.h5")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


def orphaned() -> list[dict]:
    """Recovery files left by processes that are gone (crashed or killed)."""
    out = []
    for note in sorted(recovery_dir().glob("*.json")):
        try:
            meta = json.loads(note.read_text())
            pid = int(meta.get("pid", note.stem))
        except (OSError, ValueError, json.JSONDecodeError):
            continue
        studio = note.with_suffix(".studio")
        if not studio.exists() or _pid_alive(pid):
            continue
        meta["file"] = str(studio)
        meta["pid"] = pid
        out.append(meta)
    return out


def restore(meta: dict) -> Project:
    project = load_project(meta["file"])  # with the weights it autosaved
    original = meta.get("original")
    project.path = Path(original) if original else None
    return project


def forget(meta: dict) -> None:
    Recovery(meta["pid"]).discard()
