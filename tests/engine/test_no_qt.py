"""studio.engine must never import Qt: it is used headless and in worker threads."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import studio.engine

BLOCKER = r'''
import sys, importlib.abc, pkgutil
class BlockQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "qtpy"):
            raise ImportError(f"engine imported {name}")
        return None
sys.meta_path.insert(0, BlockQt())
import studio.engine
for mod in pkgutil.iter_modules(studio.engine.__path__):
    __import__("studio.engine." + mod.name)
# exercise the Keras-facing parts too, which import lazily
from studio.engine import catalog, shapes, compiler, graph
catalog.params("Conv2D")
print("ok", len(sys.modules))
'''


def test_engine_imports_without_qt():
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")


def test_engine_sources_do_not_mention_qt_imports():
    root = Path(studio.engine.__file__).parent
    modules = [m.name for m in pkgutil.iter_modules([str(root)])]
    assert modules, "engine package is empty"
    for path in root.glob("*.py"):
        text = path.read_text()
        for banned in ("import PySide6", "from PySide6", "import pyqtgraph", "from pyqtgraph"):
            assert banned not in text, f"{path.name} contains {banned!r}"
