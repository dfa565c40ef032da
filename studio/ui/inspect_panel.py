"""The "Inside" tab: what each layer makes of one example, where the evidence lies, what filters look for.

Pick an example (a held-out sample by number, or a drawing from the Try it
pad through :meth:`InspectPanel.set_example`), then click a node on the
canvas: its output is drawn (feature maps as a grid, a dense layer as bars or
a heat map), next to a Grad-CAM heat map over the example, the layer's weight
and bias histograms, and, on request, its filter patterns. Keras work runs in
background tasks (``predict_pad.Task``); the GUI thread only draws.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox,
                               QSplitter, QTabWidget, QVBoxLayout, QWidget)

from studio.ui.predict_pad import ModelKeeper, Task, percent, pixmap

log = logging.getLogger(__name__)

MAX_MAPS = 32


class InspectPanel(QWidget):
    """``pad``: the Try it pad, whose model this panel shares and whose "Look inside" shows its
    drawing here."""

    def __init__(self, document, window=None, pad=None, parent=None):
        super().__init__(parent)
        import pyqtgraph as pg
        self.pg = pg
        self.document = document
        self.window = window
        self.keeper = pad.keeper if pad is not None else ModelKeeper(document, self)
        self.keeper.watch(self)
        self.keeper.changed.connect(self._on_model_changed)
        self.node_id: str | None = None
        self.example_raw: np.ndarray | None = None
        self.example_text = ""
        self.example_index: int | None = None     # held-out index, None for an outside example
        self.result: dict = {}                     # the last computed views (tests read it)
        self.patterns: dict[int, np.ndarray] = {}
        self._task: Task | None = None
        self._pending = False
        self._pattern_task: Task | None = None
        self._pattern_layer_name, self._pattern_n = "", 0
        self._map_items: list = []
        self._map_shape = None
        self._refresh_timer = QTimer(self, singleShot=True, interval=30, timeout=self.refresh)
        self._build()
        document.dataset_changed.connect(self._on_dataset_changed)
        document.project_replaced.connect(self._reset)
        if window is not None and getattr(window, "scene", None) is not None:
            window.scene.selectionChanged.connect(self._on_selection)
        if pad is not None:
            pad.example_chosen.connect(self.look_at)
        self._reset()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        pg = self.pg
        # example
        self.index_spin = QSpinBox(minimum=0, maximum=0)
        self.index_spin.setToolTip("Which held-out example to look at")
        self.index_spin.valueChanged.connect(self._on_index)
        self.load_button = QPushButton("Load the data")
        self.load_button.setToolTip("Read the project's dataset to pick held-out examples")
        self.load_button.clicked.connect(self._load_data)
        self.thumb = QLabel()
        self.thumb.setFixedSize(96, 96)
        self.thumb.setAlignment(Qt.AlignCenter)
        self.thumb.setStyleSheet("background: black; border: 1px solid #90a4ae;")
        self.example_label = QLabel("")
        self.example_label.setWordWrap(True)
        self.prediction_label = QLabel("")
        self.prediction_label.setWordWrap(True)
        self.prediction_label.setStyleSheet("font-weight: 600; color: #1565c0;")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #8d6e00;")
        left = QWidget()
        left.setMinimumWidth(170)
        lc = QVBoxLayout(left)
        lc.setContentsMargins(4, 2, 4, 2)
        form = QFormLayout()
        form.addRow("Held-out #", self.index_spin)
        lc.addLayout(form)
        lc.addWidget(self.load_button)
        lc.addWidget(self.thumb)
        lc.addWidget(self.example_label)
        lc.addWidget(self.prediction_label)
        lc.addWidget(self.status)
        lc.addStretch(1)

        # the selected node's output
        self.output_title = QLabel("Click a node on the canvas to see its output.")
        self.output_title.setWordWrap(True)
        self.output_view = pg.GraphicsLayoutWidget()
        self.output_view.ci.setSpacing(2)
        self.output_view.setMinimumWidth(260)
        out_box = QWidget()
        ob = QVBoxLayout(out_box)
        ob.setContentsMargins(0, 0, 0, 0)
        ob.addWidget(self.output_title)
        ob.addWidget(self.output_view, 1)

        # Grad-CAM
        self.cam_class = QComboBox()
        self.cam_class.setToolTip("The class whose evidence is shown")
        self.cam_layer = QComboBox()
        self.cam_layer.setToolTip("The convolution layer whose feature maps are weighed (the last one by default)")
        self.cam_class.currentIndexChanged.connect(lambda _i: self._schedule())
        self.cam_layer.currentIndexChanged.connect(lambda _i: self._schedule())
        self.cam_view = pg.GraphicsLayoutWidget()
        self.cam_box = self.cam_view.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.cam_image = pg.ImageItem(axisOrder="row-major")
        self.cam_box.addItem(self.cam_image)
        self.cam_caption = QLabel("")
        self.cam_caption.setWordWrap(True)
        cam_controls = QHBoxLayout()
        cam_controls.addWidget(self.cam_class, 1)
        cam_controls.addWidget(self.cam_layer, 1)
        cam = QWidget()
        cl = QVBoxLayout(cam)
        cl.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Grad-CAM: where the evidence for a class lies")
        title.setWordWrap(True)
        cl.addWidget(title)
        cl.addLayout(cam_controls)
        cl.addWidget(self.cam_view, 1)
        cl.addWidget(self.cam_caption)
        cam.setMinimumWidth(200)

        # weights and filter patterns
        self.hist_title = QLabel("")
        self.hist_title.setWordWrap(True)
        self.hist_view = pg.GraphicsLayoutWidget()
        # which weights: now, or as the newest run recorded them at the end of an epoch
        self.hist_epoch = QSpinBox(minimum=0, maximum=0, specialValueText="now")
        self.hist_epoch.setPrefix("epoch ")
        self.hist_epoch.setToolTip("The weights now, or at the end of an epoch of the newest run")
        self.hist_epoch.valueChanged.connect(lambda _v: self._show_histograms(self._hist_node))
        self._hist_node = None
        weights = QWidget()
        wl = QVBoxLayout(weights)
        wl.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.hist_title, 1)
        top.addWidget(self.hist_epoch)
        wl.addLayout(top)
        wl.addWidget(self.hist_view, 1)
        self.pattern_layer = QComboBox()
        self.pattern_count = QSpinBox(minimum=1, maximum=64, value=8)
        self.pattern_count.setToolTip("How many filters, from the first")
        self.pattern_button = QPushButton("Filter patterns")
        self.pattern_button.setToolTip("Find, by gradient ascent on the input, the pattern each filter "
                                       "responds to most (in the background)")
        self.pattern_button.clicked.connect(self.start_patterns)
        self.pattern_stop = QPushButton("Stop")
        self.pattern_stop.setEnabled(False)
        self.pattern_stop.clicked.connect(self.stop_patterns)
        self.pattern_progress = QProgressBar()
        self.pattern_progress.setFormat("%v / %m steps")
        self.pattern_view = pg.GraphicsLayoutWidget()
        self.pattern_caption = QLabel("")
        self.pattern_caption.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(self.pattern_layer, 1)
        controls.addWidget(self.pattern_count)
        controls.addWidget(self.pattern_button)
        controls.addWidget(self.pattern_stop)
        patterns = QWidget()
        pl = QVBoxLayout(patterns)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addLayout(controls)
        pl.addWidget(self.pattern_progress)
        pl.addWidget(self.pattern_view, 1)
        pl.addWidget(self.pattern_caption)
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(weights, "Weights")
        self.side_tabs.addTab(patterns, "Filter patterns")
        self.side_tabs.setMinimumWidth(240)

        splitter = QSplitter()
        for w in (left, out_box, cam, self.side_tabs):
            splitter.addWidget(w)
        splitter.setSizes([190, 560, 260, 380])
        for k in range(4):
            splitter.setCollapsible(k, False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)

    # -- inputs ----------------------------------------------------------------------------
    def _reset(self) -> None:
        self.stop_patterns()
        self.node_id = None
        self.example_raw, self.example_text, self.example_index = None, "", None
        self.result = {}
        self._clear_output("Click a node on the canvas to see its output.")
        self._clear_patterns()
        self.cam_image.clear()
        self.cam_caption.setText("")
        self.hist_view.clear()
        self.hist_title.setText("")
        self._on_dataset_changed()
        if self.example_raw is None:
            self._show_example()

    def _on_dataset_changed(self) -> None:
        ds = self.document.dataset
        self.load_button.setVisible(ds is None and bool(self.document.dataset_spec))
        self.index_spin.setEnabled(ds is not None and len(ds.x_test) > 0)
        if ds is not None and len(ds.x_test):
            self.index_spin.setMaximum(len(ds.x_test) - 1)
            if self.example_index is not None or self.example_raw is None:
                self._take_held_out(min(self.index_spin.value(), len(ds.x_test) - 1))
        elif self.example_index is not None:
            self.example_raw, self.example_text, self.example_index = None, "", None
            self._show_example()

    def _load_data(self) -> None:
        from studio.engine.datasets import DatasetError
        try:
            self.document.load_dataset()
        except DatasetError as exc:
            self.status.setText(str(exc))

    def _on_index(self, index: int) -> None:
        if self.document.dataset is not None:
            self._take_held_out(index)

    def _take_held_out(self, index: int) -> None:
        ds = self.document.dataset
        label = ds.y_test[index]
        true = int(np.argmax(label)) if np.ndim(label) else int(label)
        name = ds.class_names[true] if true < len(ds.class_names) else str(true)
        self.example_index = index
        self.example_raw = np.asarray(ds.x_test[index])
        self.example_text = f"held-out #{index}, true class {name}"
        self._show_example()

    def set_example(self, array: np.ndarray, label_text: str) -> None:
        """Look at an example from elsewhere (the pad, the evaluation gallery): a raw sample
        as the dataset stores it (or as the pad makes it)."""
        self.example_index = None
        self.example_raw = np.asarray(array)
        self.example_text = label_text
        self._show_example()

    def look_at(self, array: np.ndarray, label_text: str) -> None:
        """Show an example and bring this tab to the front."""
        self.set_example(array, label_text)
        tabs = getattr(self.window, "bottom_tabs", None)
        if tabs is not None:
            tabs.setCurrentWidget(self)

    def show_held_out(self, index: int) -> None:
        """Look at held-out example ``index`` of the loaded dataset."""
        self.index_spin.setValue(int(index))
        self._take_held_out(int(index))

    def _show_example(self) -> None:
        self.example_label.setText(self.example_text or "No example: load the data or draw on the Try it pad.")
        raw = self.example_raw
        if raw is not None and raw.ndim in (2, 3) and (raw.ndim == 2 or raw.shape[2] in (1, 3)):
            self.thumb.setPixmap(pixmap(_to_uint8(raw), 96))
        else:
            self.thumb.clear()
        self._schedule()

    def _on_selection(self) -> None:
        import shiboken6
        scene = self.window.scene
        if not shiboken6.isValid(scene):   # the window is closing: its scene emits as it empties
            return
        ids = scene.selected_node_ids()
        if ids and ids[0] != self.node_id:
            self.node_id = ids[0]
            self._schedule()

    def select_node(self, name: str) -> None:
        """Look at the node called ``name`` (selects it on the canvas too)."""
        node = self.document.graph.node_by_name(name)
        if self.window is not None:
            self.window.scene.select_nodes([node.id])
        self.node_id = node.id
        self._schedule()

    def _node_name(self) -> str | None:
        node = self.document.graph.nodes.get(self.node_id) if self.node_id else None
        return node.name if node is not None else None

    # -- the model -------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.keeper.request()
        self._schedule()

    def _on_model_changed(self) -> None:
        built = self.keeper.built
        if built is None:
            self.status.setText(self.keeper.message)
            return
        if self.keeper.busy():
            self.status.setText("Updating the model…")
            return
        self.status.setText("" if built.trained else "The weights are fresh (not trained): train the model "
                                                     "to see what it learned.")
        self._fill_combos(built)
        self._schedule()

    def _fill_combos(self, built) -> None:
        convs = built.inspector.conv_layers() or built.inspector.feature_layers()
        for combo in (self.cam_layer, self.pattern_layer):
            old = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            if combo is self.cam_layer:
                combo.addItem("last convolution", None)
            for name in convs:
                combo.addItem(name, name)
            k = combo.findData(old)
            combo.setCurrentIndex(k if k >= 0 else 0)
            combo.blockSignals(False)
        old = self.cam_class.currentData()
        self.cam_class.blockSignals(True)
        self.cam_class.clear()
        self.cam_class.addItem("predicted class", None)
        for k, name in enumerate(built.class_names):
            self.cam_class.addItem(f"class {name}", k)
        k = self.cam_class.findData(old)
        self.cam_class.setCurrentIndex(k if k >= 0 else 0)
        self.cam_class.blockSignals(False)

    # -- computing -------------------------------------------------------------------------
    def _schedule(self) -> None:
        if self.isVisible():
            self._refresh_timer.start()

    def refresh(self) -> None:
        """Compute the views for the current example and node in the background."""
        self.keeper.request()
        built = self.keeper.built
        if built is None or self.keeper.busy():
            if built is None:
                self.status.setText(self.keeper.message)
            return
        if self.example_raw is None:
            self.status.setText("Pick an example: load the data (held-out examples) or draw on the Try it pad."
                                if self.document.dataset is None else "")
            return
        if self._task is not None:
            self._pending = True
            return
        if self.cam_layer.count() == 0 and self.cam_class.count() == 0:
            self._fill_combos(built)
        try:
            x = built.model_input(self.example_raw)
        except Exception as exc:  # noqa: BLE001 - the example does not fit the model
            self.status.setText(f"The example does not fit the model's input: {exc}")
            return
        inspector = built.inspector
        node = self._node_name()
        cam_class, cam_layer = self.cam_class.currentData(), self.cam_layer.currentData()
        has_maps = bool(inspector.feature_layers())

        def work():
            from studio.engine.inspect_model import InspectError
            out = {"probabilities": inspector.predict(x)[0], "node": node, "x": x}
            if node is not None:
                try:
                    inspector.layer(node)
                    out["output"] = inspector.output_of(node, x)[0]
                except InspectError as exc:
                    out["output_error"] = str(exc)
            if has_maps:
                try:
                    out["cam"] = inspector.grad_cam(x, cam_class, cam_layer)
                except InspectError as exc:
                    out["cam_error"] = str(exc)
            return out

        self._task = Task(work)
        self._task.succeeded.connect(self._on_computed)
        self._task.failed.connect(self._on_failed)
        self._task.start()

    def _on_failed(self, message: str) -> None:
        self._task = None
        self.status.setText(f"Could not compute the views: {message}")
        self._rerun_if_pending()

    def _on_computed(self, out: dict) -> None:
        self._task = None
        self.result = out
        built = self.keeper.built
        names = built.class_names if built is not None else []
        p = out["probabilities"]
        if p.ndim == 1 and p.size:
            top = int(np.argmax(p))
            self.prediction_label.setText(f"predicted {names[top] if top < len(names) else top} ({percent(p[top])})")
        self._show_output(out)
        self._show_cam(out, names)
        self._show_histograms(out.get("node"))
        self._rerun_if_pending()

    def _rerun_if_pending(self) -> None:
        if self._pending:
            self._pending = False
            self._schedule()

    # -- drawing ---------------------------------------------------------------------------
    def _clear_output(self, title: str) -> None:
        self.output_view.clear()
        self._map_items, self._map_shape = [], None
        self.output_title.setText(title)

    def _show_output(self, out: dict) -> None:
        node = out.get("node")
        if node is None:
            self._clear_output("Click a node on the canvas to see its output.")
            return
        if "output_error" in out:
            self._clear_output(f"'{node}': {out['output_error']}")
            return
        a = np.asarray(out["output"], dtype=np.float64)
        shape = "×".join(str(d) for d in a.shape)
        if a.ndim == 3:
            self._show_maps(a)
            shown = min(a.shape[2], MAX_MAPS)
            self.output_title.setText(f"{node}: {shown} of {a.shape[2]} feature maps, {a.shape[0]}×{a.shape[1]} "
                                      "(bright = strong activation)")
        elif a.ndim == 1 and a.size <= 128:
            self._show_bars(a)
            self.output_title.setText(f"{node}: {a.size} values")
        else:
            flat = a.reshape(a.shape[0], -1) if a.ndim >= 2 else _square(a)
            self._show_heat(flat)
            self.output_title.setText(f"{node}: output {shape} shown as a heat map")

    def _show_maps(self, a: np.ndarray) -> None:
        pg = self.pg
        n = min(a.shape[2], MAX_MAPS)
        if self._map_shape != (n, a.shape[0], a.shape[1]):
            self.output_view.clear()
            cols = grid_columns(n, self.output_view.width(), self.output_view.height())
            lut = pg.colormap.get("viridis").getLookupTable(nPts=256)
            self._map_items = []
            for k in range(n):
                box = self.output_view.addViewBox(row=k // cols, col=k % cols, lockAspect=True, invertY=True,
                                                  enableMouse=False)
                box.setMenuEnabled(False)
                item = pg.ImageItem(axisOrder="row-major")
                item.setLookupTable(lut)
                box.addItem(item)
                self._map_items.append(item)
            self._map_shape = (n, a.shape[0], a.shape[1])
        for k, item in enumerate(self._map_items):
            m = a[..., k]
            hi = float(m.max())
            item.setImage(m, levels=(float(m.min()), hi if hi > m.min() else float(m.min()) + 1.0))

    def _show_bars(self, values: np.ndarray) -> None:
        pg = self.pg
        self.output_view.clear()
        self._map_items, self._map_shape = [], None
        plot = self.output_view.addPlot()
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        brushes = ["#1565c0" if v >= 0 else "#c62828" for v in values]
        plot.addItem(pg.BarGraphItem(x=np.arange(values.size), height=values, width=0.8, brushes=brushes))
        plot.showGrid(y=True, alpha=0.25)

    def _show_heat(self, values: np.ndarray) -> None:
        pg = self.pg
        self.output_view.clear()
        self._map_items, self._map_shape = [], None
        box = self.output_view.addViewBox(invertY=True, enableMouse=False)
        item = pg.ImageItem(axisOrder="row-major")
        item.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        item.setImage(values, autoLevels=True)
        box.addItem(item)

    def _show_cam(self, out: dict, names: list[str]) -> None:
        if "cam" not in out:
            self.cam_image.clear()
            self.cam_caption.setText(out.get("cam_error", "Grad-CAM needs a convolution layer."))
            return
        cam = out["cam"]
        base = _base_image(out["x"][0], self.example_raw)
        self.cam_image.setImage(overlay(base, cam.heatmap, self.pg), levels=(0, 255))
        self.cam_box.autoRange(padding=0)
        name = names[cam.class_index] if cam.class_index < len(names) else str(cam.class_index)
        which = "the predicted class" if cam.class_index == cam.predicted else "a chosen class"
        maps = "×".join(str(d) for d in cam.cam.shape)
        text = (f"class {name} ({which}, p = {cam.probabilities[cam.class_index]:.2f}) "
                f"from {cam.layer} ({maps} maps, enlarged)")
        if not cam.cam.any():
            text += (f". Nothing at {cam.layer} argues for this class here (every weighted sum is negative); "
                     "try an earlier layer")
        self.cam_caption.setText(text)

    def _recorded(self, node: str) -> tuple[str, dict]:
        """The newest run's histograms of a layer, by epoch (see RunFolder.save_histograms)."""
        from studio.engine.runs import load_histograms
        runs = self.document.runs
        if not runs:
            return "", {}
        return runs[0]["path"], load_histograms(runs[0]["path"], node)

    def _show_histograms(self, node: str | None) -> None:
        from pathlib import Path

        from studio.engine.inspect_model import Histogram, histograms
        pg = self.pg
        self.hist_view.clear()
        built = self.keeper.built
        self._hist_node = node
        if node is None or built is None:
            self.hist_title.setText("Click a node to see its weight histograms.")
            return
        try:
            layer = built.inspector.layer(node)
        except Exception:  # noqa: BLE001 - not part of the model
            self.hist_title.setText(f"'{node}' is not part of the model.")
            return
        run, recorded = self._recorded(node)
        self.hist_epoch.blockSignals(True)
        self.hist_epoch.setMaximum(max(recorded) + 1 if recorded else 0)
        self.hist_epoch.blockSignals(False)
        self.hist_epoch.setEnabled(bool(recorded))
        epoch = self.hist_epoch.value()
        hists = histograms(layer)
        if epoch and epoch - 1 in recorded:
            names = [h.name for h in hists]
            hists = [Histogram(names[k] if k < len(names) else f"weights {k}", (int(counts.sum()),), counts, edges,
                               _binned_stats(counts, edges)) for k, (counts, edges) in enumerate(recorded[epoch - 1])]
            source = f"end of epoch {epoch} of run {Path(run).name}"
        else:
            source = f"{'trained' if built.trained else 'fresh'} weights now"
        if not hists:
            self.hist_title.setText(f"{node} has no weights.")
            return
        self.hist_title.setText(f"{node}: weight histograms ({source})")
        for k, h in enumerate(hists):
            plot = self.hist_view.addPlot(row=k, col=0)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.hideAxis("left")       # the shape matters, not the counts
            stats = h.stats
            plot.setTitle(f"{h.name} {h.shape}: mean {stats.get('mean', 0):.3g}, std {stats.get('std', 0):.3g}",
                          size="8pt")
            plot.plot(h.edges, h.counts, stepMode="center", fillLevel=0, brush="#90caf9", pen="#1565c0")
        self.result["histograms"] = hists

    # -- filter patterns -------------------------------------------------------------------
    def _clear_patterns(self) -> None:
        self.pattern_view.clear()
        self.patterns = {}
        self.pattern_progress.setValue(0)
        self.pattern_caption.setText("")

    def start_patterns(self) -> bool:
        """Compute the filter patterns of the chosen layer in the background."""
        from studio.engine.inspect_model import value_range
        built = self.keeper.built
        layer = self.pattern_layer.currentData()
        if built is None or layer is None or self._pattern_task is not None:
            if layer is None:
                self.pattern_caption.setText("The model has no convolution layer.")
            return False
        self._clear_patterns()
        count = min(self.pattern_count.value(), int(built.inspector.output_shape(layer)[-1]))
        steps = 30
        self.pattern_progress.setRange(0, count * steps)
        inspector, lo_hi = built.inspector, value_range(built.preprocess)
        self._pattern_layer_name, self._pattern_n = layer, count
        self._pattern_task = Task(lambda: inspector.filter_patterns(layer, count, steps, lo_hi), stream=True)
        self._pattern_task.progressed.connect(self._on_pattern_progress)
        self._pattern_task.succeeded.connect(self._on_patterns_done)
        self._pattern_task.failed.connect(self._on_patterns_failed)
        self.destroyed.connect(self._pattern_task.stop)     # the window closed: stop the work
        self._pattern_task.start()
        self.pattern_button.setEnabled(False)
        self.pattern_stop.setEnabled(True)
        self.pattern_caption.setText(f"Gradient ascent on the input for {count} filters of {layer}…")
        return True

    def stop_patterns(self) -> None:
        if self._pattern_task is not None:
            self._pattern_task.stop()

    def patterns_running(self) -> bool:
        return self._pattern_task is not None

    def _on_pattern_progress(self, progress) -> None:
        from studio.engine.inspect_model import pattern_image
        self.pattern_progress.setValue(progress.done)
        if progress.pattern is None:
            return
        pg = self.pg
        k = progress.filter_index
        self.patterns[k] = progress.pattern
        cols = grid_columns(self._pattern_n, self.pattern_view.width(), self.pattern_view.height())
        box = self.pattern_view.addViewBox(row=k // cols, col=k % cols, lockAspect=True, invertY=True,
                                           enableMouse=False)
        box.setMenuEnabled(False)
        image = pattern_image(progress.pattern)
        item = pg.ImageItem(axisOrder="row-major")
        item.setImage(image[..., 0] if image.shape[-1] == 1 else image[..., :3], levels=(0, 255))
        box.addItem(item)

    def _on_patterns_done(self, _none) -> None:
        done = len(self.patterns)
        self._pattern_task = None
        self.pattern_button.setEnabled(True)
        self.pattern_stop.setEnabled(False)
        stopped = done < self._pattern_n
        self.pattern_caption.setText(f"{done} filter pattern{'s' if done != 1 else ''} of "
                                     f"{self._pattern_layer_name}{' (stopped)' if stopped else ''}: "
                                     "the input each filter responds to most")

    def _on_patterns_failed(self, message: str) -> None:
        self._pattern_task = None
        self.pattern_button.setEnabled(True)
        self.pattern_stop.setEnabled(False)
        self.pattern_caption.setText(f"Filter patterns failed: {message}")


def grid_columns(n: int, width: int, height: int) -> int:
    """The number of columns that gives ``n`` square cells the largest size in width x height."""
    best, best_cols = -1.0, 1
    for cols in range(1, max(1, n) + 1):
        rows = -(-n // cols)
        cell = min(width / cols, height / rows)
        if cell > best + 1e-9:
            best, best_cols = cell, cols
    return best_cols


def _to_uint8(raw: np.ndarray) -> np.ndarray:
    a = np.asarray(raw)
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    return np.round((a - lo) / (hi - lo if hi > lo else 1.0) * 255).astype(np.uint8)


def _square(a: np.ndarray) -> np.ndarray:
    """A vector laid out as a near-square grid for a heat map (padded with NaN)."""
    flat = np.asarray(a, dtype=np.float64).ravel()
    side = int(np.ceil(np.sqrt(flat.size)))
    out = np.full(side * side, np.nan)
    out[:flat.size] = flat
    return out.reshape(side, side)


def _base_image(x: np.ndarray, raw: np.ndarray | None) -> np.ndarray:
    """The example as an (H, W, 3) uint8 image at the model's input resolution."""
    a = np.asarray(x)
    if a.ndim == 1 and raw is not None:
        a = np.asarray(raw)
    img = _to_uint8(a)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return img[..., :3]


def overlay(base: np.ndarray, heatmap: np.ndarray, pg) -> np.ndarray:
    """The heat map (0..1, inferno colours) over the example, more opaque where it is hot."""
    colours = pg.colormap.get("inferno").map(np.clip(heatmap, 0, 1).ravel(), mode="byte")
    colours = colours[:, :3].reshape(heatmap.shape + (3,)).astype(np.float64)
    grey = base.astype(np.float64).mean(axis=2, keepdims=True) * 0.6
    alpha = (0.35 + 0.5 * np.clip(heatmap, 0, 1))[..., None]
    return np.round(grey * (1 - alpha) + colours * alpha).astype(np.uint8)


def _binned_stats(counts: np.ndarray, edges: np.ndarray) -> dict:
    """Mean and standard deviation of a recorded histogram (from its bin centres)."""
    n = max(int(counts.sum()), 1)
    centres = (edges[:-1] + edges[1:]) / 2
    mean = float((centres * counts).sum() / n)
    return {"mean": mean, "std": float(np.sqrt((counts * (centres - mean) ** 2).sum() / n))}
