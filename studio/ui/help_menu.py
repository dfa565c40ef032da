"""The Help menu: keyboard shortcuts, the first-five-minutes guide, layer help, About."""

from __future__ import annotations

import html
import inspect
import platform

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout

SHORTCUTS = [
    ("Ctrl+Z / Ctrl+Shift+Z, Ctrl+Y", "undo / redo"),
    ("Ctrl+N, Ctrl+O, Ctrl+S, Ctrl+Shift+S", "new, open, save, save as"),
    ("Ctrl+I, Ctrl+E", "import a Keras model, export"),
    ("Delete / Backspace", "delete the selected layers or wires"),
    ("Ctrl+C, Ctrl+X, Ctrl+V, Ctrl+D", "copy, cut, paste (also between projects), duplicate"),
    ("Ctrl+A", "select all"),
    ("F2", "rename the selected layer"),
    ("Ctrl+M", "mark the selected layer as a model output (or unmark it)"),
    ("F", "fit the model to the view"),
    ("Tab or Shift+A", "add a layer at the cursor (type to search)"),
    ("Ctrl+L", "automatic layout"),
    ("F5 / Ctrl+T", "train from start (a new run from the starting weights)"),
    ("Shift+F5", "continue training from the weights the last run reached"),
    ("wheel / middle-drag or Alt+drag", "zoom around the cursor / pan"),
    ("right-click", "menus for layers, wires, the canvas and palette entries"),
]

GUIDE = """
<h3>The first five minutes</h3>
<ol>
<li>The window opens on the starter project, the book's small MNIST convnet. Every node shows its
layer, name, output shape and parameter count; the total is in the status bar; the <b>Code</b> tab
shows the Python that builds it.</li>
<li>Click <code>conv2</code>. The inspector on the right edits its parameters: change <i>filters</i> to 32
and watch every shape downstream, the parameter counts and the code update at once. Ctrl+Z undoes it.</li>
<li>Drag <b>Dropout</b> from the <i>Layers</i> palette onto the canvas (or press Tab and type "drop").
Drag from the round output port at the bottom of <code>flatten</code> to the input port on top of the
new layer to wire it. A wire that cannot be made is refused with the reason shown at the mouse.</li>
<li>Make a mistake on purpose: delete <code>flatten</code> and wire <code>conv3</code> straight into
<code>classes</code>. The Dense node turns orange: it gets a 4-D tensor. Click its <b>fix</b> button
(or <i>Fix</i> in the inspector, or right-click it) and a Flatten is inserted. The <b>Problems</b> tab lists
every problem; a layer wired to nothing is a warning and is left out of the model.</li>
<li>Press <b>Train from start</b> (F5). The curves grow as it trains in the background. Pause, change the
learning rate, resume; Stop keeps the weights reached; <b>Continue</b> trains on from them.</li>
<li>Ctrl+S saves a <code>.studio</code> file. Drop a <code>.keras</code> file on the window to import it;
File → New from Template offers the book's other models.</li>
</ol>
"""


def build(window, menu) -> None:
    menu.addAction(window.action("&Keyboard Shortcuts", lambda: show_shortcuts(window), "Ctrl+/"))
    menu.addAction(window.action("The &First Five Minutes", lambda: show_text(window, "The first five minutes",
                                                                               GUIDE)))
    menu.addAction(window.action("&Layer Help", lambda: show_selected_layer_help(window), "F1",
                                 tip="The Keras documentation of the selected layer"))
    menu.addSeparator()
    menu.addAction(window.action("&About Layer Studio", lambda: show_about(window)))


def show_text(window, title: str, text: str) -> QDialog:
    dialog = QDialog(window)
    dialog.setWindowTitle(title)
    dialog.setAttribute(Qt.WA_DeleteOnClose)
    browser = QTextBrowser()
    browser.setOpenExternalLinks(False)
    browser.setHtml(text)
    buttons = QDialogButtonBox(QDialogButtonBox.Close)
    buttons.rejected.connect(dialog.close)
    layout = QVBoxLayout(dialog)
    layout.addWidget(browser)
    layout.addWidget(buttons)
    dialog.resize(640, 520)
    dialog.show()
    return dialog


def show_shortcuts(window) -> QDialog:
    rows = "".join(f"<tr><td style='padding:3px 14px 3px 0'><b>{html.escape(k)}</b></td>"
                   f"<td>{html.escape(v)}</td></tr>" for k, v in SHORTCUTS)
    return show_text(window, "Keyboard shortcuts", f"<h3>Keyboard shortcuts</h3><table>{rows}</table>")


def layer_help_html(class_name: str) -> str:
    """The Keras docstring of a layer, as the person would read it in the Keras docs."""
    from studio.engine import catalog
    spec = catalog.spec(class_name)
    doc = ""
    try:
        import sys
        if "keras" in sys.modules:  # never import TensorFlow on the GUI thread just for help
            if spec.op is not None:   # an operation: the keras.ops function a person writes documents it
                import keras
                doc = inspect.getdoc(getattr(keras.ops, spec.op.function)) or ""
            else:
                doc = inspect.getdoc(catalog.keras_class(class_name)) or ""
    except Exception:  # Keras not loaded or no such class: the catalog's line still helps
        doc = ""
    body = html.escape(doc) if doc else "(The full Keras documentation appears once TensorFlow has loaded.)"
    return (f"<h3>{html.escape(class_name)}</h3><p>{html.escape(spec.description)}</p>"
            f"<pre style='white-space: pre-wrap'>{body}</pre>")


def show_layer_help(window, class_name: str) -> QDialog:
    return show_text(window, f"{class_name} — layer help", layer_help_html(class_name))


def show_selected_layer_help(window):
    ids = window.scene.selected_node_ids()
    if len(ids) != 1:
        window.statusBar().showMessage("Select one layer on the canvas to see its help", 4000)
        return None
    return show_layer_help(window, window.document.graph.nodes[ids[0]].class_name)


def versions() -> list[tuple[str, str]]:
    from importlib import metadata
    out = [("Layer Studio", _version("layer-studio")), ("Python", platform.python_version())]
    for dist in ("tensorflow", "keras", "numpy", "PySide6-Essentials", "pyqtgraph", "h5py", "tf2onnx",
                 "onnxruntime"):
        out.append((dist, _version(dist, metadata)))
    return out


def _version(dist: str, metadata=None) -> str:
    if metadata is None:
        from importlib import metadata
    try:
        return metadata.version(dist)
    except Exception:
        return "not installed"


def show_about(window) -> None:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td style='padding-left:12px'>{html.escape(v)}</td></tr>"
                   for k, v in versions())
    QMessageBox.about(window, "About Layer Studio",
                      "<b>Layer Studio</b><br>Build, check and train Keras models visually."
                      f"<br><br><table>{rows}</table>")
