"""Canvas speed: pan and zoom frames on a 500-node graph; opening EfficientNetB0.

Targets (issue 3): a 500-node, 500-edge graph pans and zooms with frames
<= 16 ms; the imported EfficientNetB0 (240 layers) opens and is laid out in
<= 2 s. Baselines in the same run: a frame of the empty canvas, and Keras
loading the same .keras file.
"""

import os
import random
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from common import report  # noqa: E402

from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def big_graph(n=500, seed=0):
    from studio.engine.graph import ModelGraph
    rnd = random.Random(seed)
    g = ModelGraph("big")
    prev = [g.add_node("InputLayer", {"shape": [64]})]
    kinds = ["Dense", "Dropout", "Activation", "BatchNormalization"]
    while len(g.nodes) < n:
        if len(prev) >= 2 and rnd.random() < 0.2:
            node = g.add_node("Add", {})
            a, b = rnd.sample(prev[-6:], 2)
            g.connect(a.id, node.id, 0)
            g.connect(b.id, node.id, 1)
        else:
            node = g.add_node(rnd.choice(kinds), {"units": 64} if False else None)
            g.connect(prev[-1].id, node.id, 0)
        prev.append(node)
    # a grid, so that hundreds of nodes and edges are on screen at once
    for k, node_id in enumerate(list(g.nodes)):
        g.move(node_id, ((k % 25) * 240.0, (k // 25) * 110.0))
    return g


def frame_times(view, action, frames=40):
    times = []
    for k in range(frames):
        t = time.perf_counter()
        action(k)
        view.viewport().repaint()
        times.append((time.perf_counter() - t) * 1000)
    return times


def p95(xs):
    xs = sorted(xs)
    return xs[int(0.95 * (len(xs) - 1))]


def main():
    app = QApplication.instance() or QApplication([])
    from PySide6.QtGui import QUndoStack
    from studio.ui.canvas.scene import GraphScene
    from studio.ui.canvas.view import GraphView
    from studio.engine.graph import ModelGraph

    empty_scene = GraphScene(ModelGraph(), QUndoStack())
    empty_view = GraphView(empty_scene)
    empty_view.resize(1400, 900)
    empty_view.show()
    app.processEvents()
    base = frame_times(empty_view, lambda k: empty_view.translate_scene(15, 0))

    g = big_graph()
    scene = GraphScene(g, QUndoStack())
    view = GraphView(scene)
    view.resize(1400, 900)
    view.show()
    app.processEvents()
    view.set_zoom(0.3)
    view.centerOn(scene.itemsBoundingRect().center())
    view.settle()
    app.processEvents()
    visible = sum(1 for i in view.items(view.viewport().rect()) if type(i).__name__ == "NodeItem")
    pan = frame_times(view, lambda k: view.translate_scene(40 if (k // 10) % 2 == 0 else -40, 15))
    zooms = [0.3, 0.45, 0.6, 0.8, 1.0, 1.2, 1.0, 0.8, 0.6, 0.45]
    center = QPointF(700, 450)
    zoom = frame_times(view, lambda k: view.set_zoom(zooms[k % len(zooms)], center))
    # the one full-detail frame after a zoom gesture settles
    settle = []
    for z in (0.3, 0.6, 1.0):
        view.set_zoom(z, center)
        view.viewport().repaint()
        t = time.perf_counter()
        view.settle()
        view.viewport().repaint()
        settle.append((time.perf_counter() - t) * 1000)
    view.set_zoom(0.6)
    view.centerOn(scene.itemsBoundingRect().center())
    view.settle()
    view.viewport().repaint()
    close_up = frame_times(view, lambda k: view.translate_scene(25 if k % 2 else -25, 0), frames=20)

    # EfficientNetB0: import the .keras file, lay it out, show it
    import keras
    from studio.engine.importer import graph_from_keras_file
    from studio.ui.main_window import MainWindow
    from studio.ui.tf_loader import TensorFlowLoader
    from studio.engine.project import Project
    model = keras.applications.EfficientNetB0(weights=None, input_shape=(224, 224, 3))
    path = os.path.join(tempfile.mkdtemp(), "effnet.keras")
    model.save(path)
    keras.saving.load_model(path)  # warm
    t = time.perf_counter()
    keras.saving.load_model(path, compile=False)
    keras_load = time.perf_counter() - t
    loader = TensorFlowLoader()
    loader.ready, loader.version, loader.device = True, "x", "CPU"
    os.environ.setdefault("LAYER_STUDIO_HOME", tempfile.mkdtemp())
    window = MainWindow(loader=loader)
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    t = time.perf_counter()
    graph, weights = graph_from_keras_file(path)
    window.set_project(Project(graph=graph, weights=weights))
    window.view.fit_to_view()
    window.view.viewport().repaint()
    open_s = time.perf_counter() - t
    window.undo_stack.setClean()
    rows = [
        {"what": "baseline: empty canvas frame (pan)", "value": f"{statistics.median(base):.2f} ms", "target": "reference"},
        {"what": f"pan frame, {len(g.nodes)} nodes / {len(g.edges)} edges, 30% zoom, {visible} nodes on screen",
         "value": f"median {statistics.median(pan):.1f} ms, p95 {p95(pan):.1f} ms", "target": "<= 16 ms",
         "ok": p95(pan) <= 16},
        {"what": "zoom frame (30%-120%, around a point)",
         "value": f"median {statistics.median(zoom):.1f} ms, p95 {p95(zoom):.1f} ms", "target": "<= 16 ms",
         "ok": p95(zoom) <= 16},
        {"what": "full-detail frame when a zoom gesture settles (30%, 60%, 100%)",
         "value": ", ".join(f"{x:.1f}" for x in settle) + " ms", "target": "informational"},
        {"what": "pan frame at 60% zoom (labels and shapes drawn)",
         "value": f"median {statistics.median(close_up):.1f} ms, p95 {p95(close_up):.1f} ms", "target": "<= 16 ms",
         "ok": p95(close_up) <= 16},
        {"what": "baseline: keras.saving.load_model(EfficientNetB0 .keras)", "value": f"{keras_load:.2f} s",
         "target": "reference"},
        {"what": f"open EfficientNetB0 .keras ({len(graph.nodes)} layers): import, layout, draw",
         "value": f"{open_s:.2f} s", "target": "<= 2 s", "ok": open_s <= 2.0},
    ]
    return report("canvas", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
