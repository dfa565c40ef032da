"""The project in memory: one Qt-free object that owns everything a project is.

The graph, the shape-check results, the dataset reference and the loaded
arrays, the training settings, the starting and trained weights, the runs and
the file it came from all live here, and each changes only through a method
that emits an event. Views subscribe to the events and change the document
only through undo commands (``studio/ui/commands.py``), so no view holds
project state of its own and no view updates another.

Weights follow the graph: each layer's weights are kept with a fingerprint of
the node they were made for (class, name, config). When the node changes or
goes away the weights no longer apply and the layer counts as fresh; undoing
the change brings the node, and so its weights, back. Nothing is deleted for
that, so undo needs no bookkeeping of its own.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from studio.engine import datasets as ds_mod
from studio.engine.events import Event
from studio.engine.graph import ModelGraph, Node
from studio.engine.project import Project
from studio.engine.shapes import ShapeChecker
from studio.engine.train.settings import TrainingConfig

STARTING, TRAINED = "imported", "trained"


def _weight_relevant(class_name: str, config: dict) -> dict:
    """A config without what weights do not depend on: ``trainable`` (freezing a layer or
    a block changes no weight) and, inside a block, where its layers sit on the canvas."""
    config = {k: v for k, v in config.items() if k != "trainable"}
    if class_name == "Block" and isinstance(config.get("graph"), dict):
        inner = dict(config["graph"])
        inner["nodes"] = [{"class_name": n.get("class_name"), "name": n.get("name"), "id": n.get("id"),
                           "config": _weight_relevant(n.get("class_name"), n.get("config") or {})}
                          for n in inner.get("nodes") or []]
        config["graph"] = inner
    return config


def fingerprint(node: Node) -> str:
    """What a layer's weights were made for: its class, name and settings (freezing a
    layer changes nothing its weights depend on, so ``trainable`` is left out)."""
    config = _weight_relevant(node.class_name, node.config)
    return json.dumps([node.class_name, node.name, config], sort_keys=True, default=str)


@dataclass(frozen=True)
class _Weights:
    arrays: tuple
    fingerprint: str

    @property
    def size(self) -> int:
        return int(sum(np.size(a) for a in self.arrays))


class Document:
    """A project being edited. Every change is announced; see the module's notes."""

    def __init__(self, project: Project | None = None,
                 runs_fallback: Callable[[str], Path] | None = None):
        self.project_replaced = Event("project_replaced")  # () everything changed: re-read all
        self.graph_changed = Event("graph_changed")        # () any node, edge or output edit
        self.states_changed = Event("states_changed")      # (node ids) shape/data check results
        self.dataset_changed = Event("dataset_changed")    # () reference, preprocessing or loaded arrays
        self.training_changed = Event("training_changed")  # () training settings
        self.weights_changed = Event("weights_changed")    # () which layers hold which weights
        self.runs_changed = Event("runs_changed")          # () the runs beside the project
        self.path_changed = Event("path_changed")          # () saved under a (new) name
        self.notice = Event("notice")                      # (message) something the person should read
        self.runs_fallback = runs_fallback
        self.trusted_data: set[str] = set()  # data files the person chose (a project alone may not point outside)
        self.checking_enabled = False
        self.graph: ModelGraph | None = None
        self.checker: ShapeChecker | None = None
        self.runs: list[dict] = []
        self._handlers = {name: self._on_graph_event for name in
                          ("node_added", "node_removed", "node_changed", "edge_added", "edge_removed",
                           "outputs_changed")}
        self._load(project or Project())

    # -- whole project ----------------------------------------------------------------
    def _load(self, project: Project) -> None:
        if self.graph is not None:
            self.graph.unsubscribe(self._handlers)
            self.checker.detach()
            self.checker.states_changed.disconnect(self._on_states_changed)
        self.graph = project.graph
        self.path = project.path
        self.dataset_spec: dict | None = copy.deepcopy(project.dataset)
        self.dataset: ds_mod.Dataset | None = None
        self.training = TrainingConfig.from_dict(project.training)
        self.revision = 0
        self.weights_unsaved = False
        self.warnings: list[str] = list(project.warnings)
        self._start = self._entries(project.weights)
        self._trained = self._entries(project.trained_weights)
        # weights read from a file, not yet compared with the layers' sizes (once, at the first check)
        self._unchecked = {(k, i) for k, store in (("start", self._start), ("trained", self._trained))
                           for i in store}
        self._weight_summary = None
        self.checker = ShapeChecker(self.graph)
        self.checker.states_changed.connect(self._on_states_changed)
        self.resource_problems: list = []  # what will not fit the device's memory (resources.py)
        self.graph.subscribe(self._handlers)
        self.runs = self._list_runs()

    def replace(self, project: Project) -> None:
        """Show another project (new, opened, imported, recovered)."""
        self._load(project)
        self.project_replaced.emit()
        for message in self.warnings:
            self.notice.emit(message)
        self.refresh()

    def to_project(self) -> Project:
        """The project as plain data, for saving: exactly what the window shows."""
        return Project(graph=self.graph, dataset=copy.deepcopy(self.dataset_spec), training=self.training.to_dict(),
                       weights=self.weights_by_name(STARTING), trained_weights=self.weights_by_name(TRAINED),
                       path=self.path)

    def snapshot(self, weights: str = STARTING) -> Project:
        """A frozen copy to train or export while the person keeps editing.

        ``weights``: STARTING (imported or pretrained weights, fresh elsewhere:
        what Train starts from) or TRAINED (the weights the last run reached,
        starting ones elsewhere: what Continue and exports use).
        """
        chosen = self.weights_by_name(STARTING)
        if weights == TRAINED:
            chosen.update(self.weights_by_name(TRAINED))
        return Project(graph=self.graph.copy(), dataset=copy.deepcopy(self.dataset_spec),
                       training=self.training.to_dict(), weights=chosen, path=self.path)

    def saved_as(self, path: Path) -> None:
        changed = path != self.path
        self.path = path
        self.weights_unsaved = False
        if changed:
            self.path_changed.emit()
            self.refresh_runs()

    # -- graph and checks -------------------------------------------------------------------
    def _on_graph_event(self, *args) -> None:
        if args and args[-1] == "position":  # moving a node changes nothing the model computes
            return
        self.revision += 1
        self.graph_changed.emit()

    def _on_states_changed(self, node_ids) -> None:
        self.states_changed.emit(set(node_ids))

    def enable_checking(self) -> None:
        """Shape checks need Keras; the window calls this once it has loaded."""
        self.checking_enabled = True
        self.refresh()

    def refresh(self) -> None:
        """Bring check results up to date (after edits; the window coalesces calls)."""
        if not self.checking_enabled:
            return
        self.checker.refresh()
        self._drop_weights_that_do_not_fit()
        self._check_data_fit()
        self._check_resources()
        summary = self.weight_status()
        if summary != self._weight_summary:
            self._weight_summary = summary
            self.weights_changed.emit()

    def _check_data_fit(self) -> None:
        from studio.engine.train.fit_checks import data_problems
        if self.dataset is None:
            self.checker.set_external({})
            return
        self.checker.set_external(data_problems(self.graph, self.checker.states, self.dataset, self.preprocess(),
                                                self.training))

    def _check_resources(self) -> None:
        from studio.engine.resources import resource_problems
        found = [] if self.checker.errors() else resource_problems(self.graph, self.checker.states, self.training)
        if found != self.resource_problems:
            self.resource_problems = found
            self.states_changed.emit(set())

    def errors(self) -> list[tuple[str | None, str]]:
        """Every error that stops the model from being built or trained, (node id or None, message)."""
        if not self.checking_enabled:
            return []
        return self.checker.errors() + [(None, p.message) for p in self.resource_problems if p.error]

    # -- dataset and training settings -----------------------------------------------------
    def preprocess(self) -> ds_mod.Preprocess:
        return ds_mod.Preprocess.from_dict((self.dataset_spec or {}).get("preprocess"))

    def set_dataset(self, spec: dict | None, loaded: ds_mod.Dataset | None = None) -> None:
        """Choose the data (and its preprocessing). The loaded arrays stay when only the
        preprocessing changed; ``loaded`` gives arrays already read for ``spec``."""
        old = self.dataset_spec or {}
        same_source = {k: v for k, v in old.items() if k != "preprocess"} == \
            {k: v for k, v in (spec or {}).items() if k != "preprocess"}
        self.dataset_spec = copy.deepcopy(spec)
        if loaded is not None:
            self.dataset = loaded
        elif not same_source:
            self.dataset = None
        self.dataset_changed.emit()
        self.refresh()

    def set_loaded_dataset(self, dataset: ds_mod.Dataset | None) -> None:
        """Arrays read for the current reference (not an edit: nothing to undo)."""
        self.dataset = dataset
        self.dataset_changed.emit()
        self.refresh()

    def load_dataset(self) -> ds_mod.Dataset:
        """Read the referenced data if it is not loaded yet; raises DatasetError."""
        if self.dataset is None:
            if not self.dataset_spec:
                raise ds_mod.DatasetError("the project has no dataset: choose one in the Dataset tab")
            self.set_loaded_dataset(ds_mod.load(self.dataset_spec, self.path.parent if self.path else None,
                                                trusted=self.trusted_data))
        return self.dataset

    def set_training(self, config: TrainingConfig) -> None:
        if config != self.training:
            self.training = config
            self.training_changed.emit()
            self.refresh()

    # -- weights ----------------------------------------------------------------------------
    def _entries(self, by_name: dict) -> dict[str, _Weights]:
        out = {}
        for node in self.graph.nodes.values():
            arrays = by_name.get(node.name)
            if arrays is not None:
                out[node.id] = _Weights(tuple(np.asarray(a) for a in arrays), fingerprint(node))
        return out

    def _valid(self, store: dict[str, _Weights]) -> dict[str, _Weights]:
        """The weights that apply now: made for the node as it is, and (once checked) of the
        size the layer has now; an upstream edit can change a layer's size without touching it."""
        states = self.checker.states
        return {i: w for i, w in self._matching(store).items()
                if states.get(i) is None or states[i].params is None or states[i].params == w.size}

    def _matching(self, store: dict[str, _Weights]) -> dict[str, _Weights]:
        """The weights made for the node as it is now (by fingerprint)."""
        nodes = self.graph.nodes
        return {i: w for i, w in store.items() if i in nodes and fingerprint(nodes[i]) == w.fingerprint}

    def weights_by_name(self, which: str) -> dict[str, list[np.ndarray]]:
        store = self._start if which == STARTING else self._trained
        return {self.graph.nodes[i].name: list(w.arrays) for i, w in self._valid(store).items()}

    def weight_status(self) -> dict[str, str]:
        """Where each layer's weights come from now: {node id: 'trained' | 'imported' | 'fresh'}
        for the layers of the model that have weights (or all with entries before checking)."""
        trained, start = self._valid(self._trained), self._valid(self._start)
        out = {}
        for node_id in self.graph.model_node_ids():
            state = self.checker.states.get(node_id)
            if node_id in trained:
                out[node_id] = TRAINED
            elif node_id in start:
                out[node_id] = STARTING
            elif state is not None and state.params:
                out[node_id] = "fresh"
        return out

    def weight_summary(self) -> str:
        counts = {TRAINED: 0, STARTING: 0, "fresh": 0}
        for origin in self.weight_status().values():
            counts[origin] += 1
        if not counts[TRAINED] and not counts[STARTING]:
            return "Weights: all fresh (initialised when training starts)"
        parts = [f"{counts[k]} {k}" for k in (TRAINED, STARTING, "fresh") if counts[k]]
        return "Weights: " + ", ".join(parts) + " layer" + ("s" if sum(counts.values()) != 1 else "")

    def has_trained_weights(self) -> bool:
        return bool(self._valid(self._trained))

    def set_trained_weights(self, by_name: dict[str, list[np.ndarray]], trained_graph: ModelGraph) -> None:
        """Keep the weights a run reached, for the nodes as they were when the run started."""
        store = {}
        for node in trained_graph.nodes.values():
            arrays = by_name.get(node.name)
            if arrays is not None:
                store[node.id] = _Weights(tuple(np.asarray(a) for a in arrays), fingerprint(node))
        self._trained = store
        self.weights_unsaved = True
        self._weight_summary = None
        self.weights_changed.emit()
        self.refresh()

    def with_starting_weights(self, by_node_id: dict[str, list]) -> tuple:
        """The weights state with these nodes' starting weights added (pretrained ones, for
        nodes as they are now); for an undo command to set."""
        start, trained = self.weights_state()
        for node_id, arrays in by_node_id.items():
            node = self.graph.nodes[node_id]
            start[node_id] = _Weights(tuple(np.asarray(a) for a in arrays), fingerprint(node))
        return start, trained

    def weights_state(self) -> tuple:
        """An opaque value for undo commands (no arrays are copied)."""
        return dict(self._start), dict(self._trained)

    def set_weights_state(self, state: tuple) -> None:
        self._start, self._trained = dict(state[0]), dict(state[1])
        self.weights_unsaved = True
        self._weight_summary = None
        self.weights_changed.emit()
        self.refresh()

    def _drop_weights_that_do_not_fit(self) -> None:
        """Weights read from a file whose size does not match the layer (the file was edited
        elsewhere): checked once, at the first check after loading; that layer starts fresh,
        and the person is told which. (Later edits never delete weights: see _valid.)"""
        if not self._unchecked:
            return
        if self.revision:  # edited before the first check (TensorFlow was loading): hide, never delete
            self._unchecked.clear()
            return
        dropped = []
        for key, store in (("start", self._start), ("trained", self._trained)):
            for node_id, w in list(self._matching(store).items()):
                state = self.checker.states.get(node_id)
                if (key, node_id) not in self._unchecked or state is None or state.params is None:
                    continue
                self._unchecked.discard((key, node_id))
                if w.size != state.params:
                    del store[node_id]
                    dropped.append(self.graph.nodes[node_id].name)
        if dropped:
            names = ", ".join(f"'{n}'" for n in sorted(set(dropped)))
            message = f"the saved weights of {names} do not fit the layer{'s' if len(dropped) > 1 else ''}; " \
                      "they start fresh"
            self.warnings.append(message)
            self.notice.emit(message)

    # -- runs ----------------------------------------------------------------------------------
    def runs_dir(self) -> Path | None:
        from studio.engine.runs import runs_dir_for
        fallback = self.runs_fallback(self.graph.name) if self.runs_fallback else None
        if self.path is None and fallback is None:
            return None
        return runs_dir_for(self.path, fallback)

    def _list_runs(self) -> list[dict]:
        from studio.engine.runs import list_runs
        folder = self.runs_dir()
        return list_runs(folder) if folder is not None else []

    def refresh_runs(self) -> None:
        self.runs = self._list_runs()
        self.runs_changed.emit()
