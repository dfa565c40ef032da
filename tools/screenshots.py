"""Make the README's screenshots from the real window under Xvfb.

    .venv/bin/python tools/screenshots.py          # needs xvfb and imagemagick (see README)
    .venv/bin/python tools/screenshots.py blocks   # only the block (and fine-tuning) screenshots
    .venv/bin/python tools/screenshots.py fine-tuning

Re-runs itself under xvfb-run when no display is set, drives the window
through the same methods a person's gestures call, and captures the whole
virtual screen with ImageMagick's `import`.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"


def main() -> int:
    if not os.environ.get("DISPLAY"):
        if not shutil.which("xvfb-run"):
            print("xvfb-run not found: apt-get install xvfb imagemagick", file=sys.stderr)
            return 2
        return subprocess.call(["xvfb-run", "-a", "-s", "-screen 0 1440x900x24", sys.executable, __file__,
                                *sys.argv[1:]])
    os.environ.setdefault("LAYER_STUDIO_HOME", tempfile.mkdtemp())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from studio.ui import commands
    from studio.ui.main_window import MainWindow
    from studio.ui.tf_loader import TensorFlowLoader

    app = QApplication([])
    loader = TensorFlowLoader()
    window = MainWindow(loader=loader)
    window.setGeometry(0, 0, 1440, 900)
    window.show()
    OUT.mkdir(parents=True, exist_ok=True)

    def shot(name, size=None):
        app.processEvents()
        crop = ["-crop", f"{size[0]}x{size[1]}+0+0", "+repage"] if size else []
        subprocess.run(["import", "-window", "root", *crop, str(OUT / name)], check=True)
        print("wrote", OUT / name)

    def forget_changes():
        window.undo_stack.setClean()
        window.document.weights_unsaved = False

    def step_main():
        g = window.document.graph  # at the zoom the project opens with
        window.scene.select_nodes([g.node_by_name("conv2").id])
        window.bottom_tabs.setCurrentWidget(window.code_view)
        QTimer.singleShot(400, lambda: (shot("main-window.png"), step_dataset()))

    def step_dataset():
        window.bottom_tabs.setCurrentWidget(window.dataset_panel)
        window.dataset_panel.load_spec({"kind": "builtin", "name": "mnist-sample"})
        QTimer.singleShot(400, lambda: (shot("dataset.png"), step_training()))

    def step_training():
        panel = window.training_panel
        window.bottom_tabs.setCurrentWidget(panel)
        panel.epochs_spin.setValue(3)
        panel.start(new=True)
        wait_for_epochs()

    def wait_for_epochs():
        panel = window.training_panel
        if len(panel.epochs) >= 2:
            panel._update_plots()
            shot("training.png")
            panel.stop(wait=True)
            app.processEvents()
            forget_changes()
            step_small()
        else:
            QTimer.singleShot(200, wait_for_epochs)

    def step_small():
        window.setGeometry(0, 0, 1024, 700)
        window.bottom_tabs.setCurrentWidget(window.training_panel)
        QTimer.singleShot(600, lambda: (shot("small-window.png", (1024, 700)), restore_size()))

    def restore_size():
        window.setGeometry(0, 0, 1440, 900)
        QTimer.singleShot(400, step_error)

    def step_error():
        g = window.document.graph
        flatten = g.node_by_name("flatten")
        window.scene.select_nodes([flatten.id])
        window.edit.delete_selection()
        classes = g.node_by_name("classes")
        conv3 = g.node_by_name("conv3")
        window.undo_stack.push(commands.Connect(g, conv3.id, 0, classes.id, 0))
        merge = commands.AddNode(g, "Add", (conv3.position[0] + 260, conv3.position[1] + 40))
        window.undo_stack.push(merge)
        window.undo_stack.push(commands.Connect(g, g.node_by_name("conv2").id, 0, merge.node_id, 0))
        window.undo_stack.push(commands.Connect(g, conv3.id, 0, merge.node_id, 1))
        window.flush_updates()
        window.scene.select_nodes([merge.node_id])
        window.bottom_tabs.setCurrentWidget(window.problems)
        window.view.fit_to_view()
        QTimer.singleShot(400, lambda: (shot("shape-errors.png"), step_menu()))

    def step_menu():
        g = window.document.graph
        item = window.scene.node_items[g.node_by_name("classes").id]
        window.scene.select_nodes([item.node_id])
        window.view.centerOn(item)
        app.processEvents()
        at = window.view.mapFromScene(item.sceneBoundingRect().center())
        menu = window.edit.show_context_menu("node", item.node_id, item.sceneBoundingRect().center(),
                                             window.view.viewport().mapToGlobal(at))
        QTimer.singleShot(500, lambda: (shot("context-menu.png"), menu.close(), step_import()))

    def step_import():
        import keras
        model = keras.applications.EfficientNetB0(weights=None, input_shape=(224, 224, 3))
        path = Path(tempfile.mkdtemp()) / "efficientnetb0.keras"
        model.save(path)
        forget_changes()
        window.files.open_files([str(path)])
        window.flush_updates()
        window.bottom_tabs.setCurrentWidget(window.code_view)
        QTimer.singleShot(300, zoom_in)

    def zoom_in():
        g = window.document.graph
        window.view.set_zoom(0.6, gesture=False)
        window.view.centerOn(window.scene.node_items[g.node_by_name("block1a_se_squeeze").id])
        window.scene.select_nodes([g.node_by_name("block1a_se_excite").id])
        QTimer.singleShot(600, lambda: (shot("imported-efficientnet.png"), step_evaluation()))

    def step_evaluation():
        """The starter trained for one epoch, evaluated; the gallery shows the largest confusion."""
        forget_changes()
        window.files.new_project("mnist_convnet")
        window.dataset_panel.load_spec({"kind": "builtin", "name": "mnist-sample"})
        window.training_panel.epochs_spin.setValue(1)
        window.training_panel.start(new=True)
        when_trained(evaluate_trained)

    def when_trained(then):
        """Call ``then`` once the run started in the Training tab has ended."""
        if window.training_panel.is_running():
            QTimer.singleShot(200, lambda: when_trained(then))
        else:
            then()

    def evaluate_trained():
        from PySide6.QtCore import Qt
        panel = window.evaluation_panel
        window.bottom_tabs.setCurrentWidget(panel)
        window.resizeDocks([window.docks[2]], [330], Qt.Vertical)
        panel.evaluated.connect(lambda: QTimer.singleShot(600, lambda: (shot("evaluation.png"), step_pad())))
        panel.start()

    def step_pad():
        """The Try it tab: a 2 drawn with real mouse strokes, the bars and what the model sees."""
        import numpy as np
        from PySide6.QtCore import QPoint, Qt
        from PySide6.QtTest import QTest
        pad = window.predict_pad
        window.bottom_tabs.setCurrentWidget(pad)

        def draw():
            if pad.keeper.busy() or not pad.keeper.current():
                QTimer.singleShot(200, draw)
                return
            turns = np.linspace(np.pi * 1.05, np.pi * 2.25, 24)
            arc = [(0.5 + 0.2 * np.cos(t), 0.36 + 0.17 * np.sin(t)) for t in turns]
            x0, y0 = arc[-1]
            points = arc + [(x0 + (0.3 - x0) * t, y0 + (0.8 - y0) * t) for t in np.linspace(0, 1, 12)[1:]] + \
                [(0.3 + 0.42 * t, 0.8) for t in np.linspace(0, 1, 10)[1:]]
            side = pad.pad.image.width()
            path = [QPoint(int(side * x), int(side * y)) for x, y in points]
            QTest.mousePress(pad.pad, Qt.LeftButton, Qt.NoModifier, path[0])
            for p in path[1:]:
                QTest.mouseMove(pad.pad, p)
            QTest.mouseRelease(pad.pad, Qt.LeftButton, Qt.NoModifier, path[-1])
            QTimer.singleShot(500, lambda: (shot("pad.png"), step_inside()))

        QTimer.singleShot(300, draw)

    def step_inside():
        """The Inside tab: held-out example 3, conv1 clicked (its feature maps), Grad-CAM, histograms."""
        inside = window.inspect_panel
        window.bottom_tabs.setCurrentWidget(inside)
        inside.show_held_out(3)
        inside.select_node("conv1")

        def when_drawn():
            if inside.result.get("node") != "conv1" or inside._task is not None:
                QTimer.singleShot(200, when_drawn)
                return
            QTimer.singleShot(400, lambda: (shot("inside.png"), step_runs()))

        when_drawn()

    def step_runs():
        """Two runs compared: conv3 with 96 filters, trained two epochs, against the evaluation's run."""
        g = window.document.graph
        window.undo_stack.push(commands.set_param_command(g, [g.node_by_name("conv3").id], "filters", 96))
        window.flush_updates()
        window.training_panel.epochs_spin.setValue(2)
        window.training_panel.start(new=True)
        when_trained(compare_trained)

    def compare_trained():
        panel = window.runs_panel
        window.bottom_tabs.setCurrentWidget(panel)
        panel.select_runs([r["path"] for r in window.document.runs[:2]])
        window.view.set_zoom(0.62, gesture=False)
        window.view.centerOn(window.scene.node_items[window.document.graph.node_by_name("pool2").id])
        QTimer.singleShot(600, lambda: (shot("runs.png"), step_summary()))

    def step_summary():
        """The Summary tab for the residual separable-convolution template (BatchNormalization's
        moving statistics count as non-trainable)."""
        forget_changes()
        window.files.new_project("residual_separable")
        window.flush_updates()
        window.bottom_tabs.setCurrentWidget(window.summary_panel)
        QTimer.singleShot(600, lambda: (shot("summary.png"), step_blocks()))

    def step_blocks():
        """The book's transfer-learning model: an augmentation block and a frozen VGG16 base
        (random weights here), drawn collapsed; then the base opened, fine-tuned from block5."""
        import keras
        from keras import layers

        from studio.engine.importer import graph_from_model
        from studio.engine.project import Project
        augmentation = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
                                         layers.RandomZoom(0.2)], name="data_augmentation")
        conv_base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(96, 96, 3))
        conv_base.trainable = False
        inputs = keras.Input((96, 96, 3), name="image")
        x = layers.Rescaling(1 / 255.0)(augmentation(inputs))
        x = layers.Flatten()(conv_base(x))
        x = layers.Dropout(0.5)(layers.Dense(256, activation="relu")(x))
        outputs = layers.Dense(1, activation="sigmoid", name="cat_or_dog")(x)
        graph, weights = graph_from_model(keras.Model(inputs, outputs, name="cats_vs_dogs"))
        forget_changes()
        window.set_project(Project(graph=graph, weights=weights))
        window.flush_updates()
        window.bottom_tabs.setCurrentWidget(window.summary_panel)
        window.scene.select_nodes([graph.node_by_name("vgg16").id])
        QTimer.singleShot(800, lambda: (shot("block-collapsed.png"), open_base()))

    def open_base():
        g = window.document.graph
        window.blocks.open_block(g.node_by_name("vgg16").id)
        inside = window.blocks.current
        window.scene.select_nodes([inside.graph.node_by_name("block4_pool").id])
        window.blocks.freeze_up_to(inside.graph.node_by_name("block4_pool").id)
        window.flush_updates()
        QTimer.singleShot(300, lambda: window.view.centerOn(
            window.scene.node_items[inside.graph.node_by_name("block4_pool").id]))
        QTimer.singleShot(900, lambda: (shot("block-opened.png"), window.blocks.go_to(0), step_fine_tuning()))

    def step_shared():
        """A siamese model: one encoder block used at two places, drawn linked."""
        import keras
        from keras import layers

        from studio.engine.importer import graph_from_model
        from studio.engine.project import Project
        i = keras.Input((28, 28, 1), name="digit")
        x = layers.Conv2D(16, 3, activation="relu", name="conv")(i)
        x = layers.GlobalAveragePooling2D(name="pool")(x)
        encoder = keras.Model(i, layers.Dense(32, activation="relu", name="embed")(x), name="encoder")
        left, right = keras.Input((28, 28, 1), name="left"), keras.Input((28, 28, 1), name="right")
        distance = layers.Subtract(name="difference")([encoder(left), encoder(right)])
        same = layers.Dense(1, activation="sigmoid", name="same_digit")(distance)
        graph, weights = graph_from_model(keras.Model([left, right], same, name="siamese"))
        forget_changes()
        window.set_project(Project(graph=graph, weights=weights))
        window.flush_updates()
        window.scene.select_nodes([graph.node_by_name("encoder_call2").id])
        QTimer.singleShot(800, lambda: (shot("shared-layers.png"), finish()))

    def step_fine_tuning():
        """The two-stage fine-tuning template on the sample digits, trained through both stages."""
        from PySide6.QtCore import Qt
        forget_changes()
        window.files.new_project("fine_tuning_digits")
        window.flush_updates()
        window.dataset_panel.load_spec({"kind": "builtin", "name": "mnist-sample"})
        panel = window.training_panel
        window.bottom_tabs.setCurrentWidget(panel)
        window.resizeDocks([window.docks[2]], [380], Qt.Vertical)
        panel.start(new=True)
        def show_stages():
            from PySide6.QtWidgets import QScrollArea
            panel._update_plots()
            scroll = panel.fine_tune.parent()
            while scroll is not None and not isinstance(scroll, QScrollArea):
                scroll = scroll.parent()
            if scroll is not None:  # the settings scrolled to the fine-tuning stage
                scroll.ensureWidgetVisible(panel.fine_tune)
            QTimer.singleShot(500, lambda: (shot("fine-tuning.png"), step_shared()))

        when_trained(lambda: QTimer.singleShot(800, show_stages))

    def finish():
        forget_changes()
        app.quit()

    def start():
        if loader.ready:
            (step_shared if "shared" in sys.argv[1:] else
             step_fine_tuning if "fine-tuning" in sys.argv[1:] else
             step_blocks if "blocks" in sys.argv[1:] else step_main)()
        else:
            QTimer.singleShot(200, start)

    QTimer.singleShot(500, start)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
