"""Undoable edits. Every command changes only the engine's document (its graph,
settings, dataset or weights); every view redraws from the document's events,
so views and project cannot drift.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable

from PySide6.QtGui import QUndoCommand

from studio.engine.graph import Edge, ModelGraph
from studio.engine.layout import layered_positions
from studio.engine.shapes import Fix, apply_fix


class AddNode(QUndoCommand):
    def __init__(self, graph: ModelGraph, class_name: str, position, config: dict | None = None,
                 name: str | None = None, connect_from: tuple[str, int] | None = None):
        super().__init__(f"Add {class_name}")
        self.graph = graph
        self.class_name = class_name
        self.config = config
        self.position = position
        self.node_id: str | None = None
        self.name = name
        self.connect_from = connect_from

    def redo(self):
        node = self.graph.add_node(self.class_name, self.config, self.name, self.position, node_id=self.node_id)
        self.node_id, self.name, self.config = node.id, node.name, copy.deepcopy(node.config)
        if self.connect_from is not None:
            src, port = self.connect_from
            if self.graph.can_connect(src, port, node.id, 0) is None:
                self.graph.connect(src, node.id, 0, port)

    def undo(self):
        self.graph.remove_node(self.node_id)


class RemoveNodes(QUndoCommand):
    """Delete nodes with all their edges, as one step."""

    def __init__(self, graph: ModelGraph, node_ids: list[str]):
        super().__init__("Delete" if len(node_ids) != 1 else f"Delete {graph.nodes[node_ids[0]].name}")
        self.graph = graph
        self.node_ids = [i for i in graph.nodes if i in set(node_ids)]  # keep graph order
        self.saved: list = []
        self.edges: set[Edge] = set()
        self.outputs: list[str] = []

    def redo(self):
        self.outputs = list(self.graph.output_ids)
        self.saved = [self.graph.nodes[i].copy() for i in self.node_ids]
        self.order = list(self.graph.nodes)
        self.edges = set()
        for i in self.node_ids:
            _, removed = self.graph.remove_node(i)
            self.edges.update(removed)

    def undo(self):
        for node in self.saved:
            self.graph.add_node(node.class_name, node.config, node.name, node.position, node_id=node.id)
        self.graph.reorder(self.order)  # the model's input order is unchanged
        for e in sorted(self.edges):
            self.graph.connect(e.src, e.dst, e.dst_port, e.src_port)
        if self.outputs != self.graph.output_ids:
            self.graph.set_outputs(self.outputs)


class Compound(QUndoCommand):
    """Several commands as one undo step (kept as Python objects, not Qt children)."""

    def __init__(self, text: str, parts: list[QUndoCommand]):
        super().__init__(text)
        self.parts = list(parts)

    def redo(self):
        for part in self.parts:
            part.redo()

    def undo(self):
        for part in reversed(self.parts):
            part.undo()


class Connect(QUndoCommand):
    def __init__(self, graph: ModelGraph, src: str, src_port: int, dst: str, dst_port: int):
        super().__init__("Connect")
        self.graph = graph
        self.edge = Edge(src, src_port, dst, dst_port)

    def redo(self):
        e = self.edge
        self.graph.connect(e.src, e.dst, e.dst_port, e.src_port)

    def undo(self):
        self.graph.disconnect(self.edge)


class Disconnect(QUndoCommand):
    def __init__(self, graph: ModelGraph, edges: list[Edge]):
        super().__init__("Disconnect")
        self.graph = graph
        self.edges = sorted(edges)

    def redo(self):
        for e in self.edges:
            self.graph.disconnect(e)

    def undo(self):
        for e in self.edges:
            self.graph.connect(e.src, e.dst, e.dst_port, e.src_port)


class MoveNodes(QUndoCommand):
    """One drag: old and new positions of every moved node."""

    def __init__(self, graph: ModelGraph, old: dict[str, tuple], new: dict[str, tuple], text: str = "Move"):
        super().__init__(text)
        self.graph = graph
        self.old = dict(old)
        self.new = dict(new)

    def _apply(self, positions):
        for node_id, pos in positions.items():
            if node_id in self.graph.nodes:
                self.graph.move(node_id, pos)

    def redo(self):
        self._apply(self.new)

    def undo(self):
        self._apply(self.old)


def layout_command(graph: ModelGraph) -> MoveNodes:
    old = {i: n.position for i, n in graph.nodes.items()}
    return MoveNodes(graph, old, layered_positions(graph), "Automatic layout")


class SetConfig(QUndoCommand):
    """Replace node configs (one parameter edit, possibly across several nodes)."""

    def __init__(self, graph: ModelGraph, configs: dict[str, dict[str, Any]], text: str = "Change parameter"):
        super().__init__(text)
        self.graph = graph
        self.new = {i: copy.deepcopy(c) for i, c in configs.items()}
        self.old = {i: copy.deepcopy(graph.nodes[i].config) for i in configs}

    def redo(self):
        for i, c in self.new.items():
            self.graph.set_config(i, c)

    def undo(self):
        for i, c in self.old.items():
            self.graph.set_config(i, c)


def set_param_command(graph: ModelGraph, node_ids: list[str], key: str, value: Any) -> SetConfig:
    from studio.engine.blocks import is_block, with_trainable
    configs = {}
    for i in node_ids:
        node = graph.nodes[i]
        if key == "trainable" and is_block(node.class_name):  # as model.trainable: the whole inside
            configs[i] = with_trainable(node.config, bool(value))
            continue
        cfg = dict(node.config)
        cfg[key] = copy.deepcopy(value)
        configs[i] = cfg
    text = f"{'Unfreeze' if value else 'Freeze'}" if key == "trainable" else f"Set {key}"
    return SetConfig(graph, configs, text)


class Rename(QUndoCommand):
    def __init__(self, graph: ModelGraph, node_id: str, name: str):
        super().__init__(f"Rename to {name}")
        self.graph = graph
        self.node_id = node_id
        self.old = graph.nodes[node_id].name
        self.new = name

    def redo(self):
        self.graph.rename(self.node_id, self.new)

    def undo(self):
        self.graph.rename(self.node_id, self.old)


class AddSubgraph(QUndoCommand):
    """Paste or duplicate: several nodes and the edges among them, as one step."""

    def __init__(self, graph: ModelGraph, nodes: list[dict], edges: list[list], offset=(40.0, 40.0), text="Paste"):
        super().__init__(text)
        self.graph = graph
        self.nodes = nodes
        self.edges = edges
        self.offset = offset
        self.ids: dict[str, str] = {}
        self.names: dict[str, str] = {}

    def redo(self):
        first = not self.ids
        for n in self.nodes:
            x, y = n["position"]
            name = self.names.get(n["id"]) or self.graph.unique_name(n["name"])
            node = self.graph.add_node(n["class_name"], n["config"], name,
                                       (x + self.offset[0], y + self.offset[1]),
                                       node_id=self.ids.get(n["id"]))
            if first:
                self.ids[n["id"]] = node.id
                self.names[n["id"]] = node.name
        for src, sp, dst, dp in self.edges:
            if src in self.ids and dst in self.ids:
                self.graph.connect(self.ids[src], self.ids[dst], dp, sp)

    def undo(self):
        for old_id in reversed(list(self.ids)):
            new_id = self.ids[old_id]
            if new_id in self.graph.nodes:
                self.graph.remove_node(new_id)

    @property
    def new_ids(self) -> list[str]:
        return list(self.ids.values())


def subgraph_data(graph: ModelGraph, node_ids) -> dict:
    """Selected nodes and the edges among them, as plain data (clipboard format)."""
    chosen = [i for i in graph.nodes if i in set(node_ids)]
    nodes = [{"id": i, "class_name": graph.nodes[i].class_name, "name": graph.nodes[i].name,
              "config": copy.deepcopy(graph.nodes[i].config), "position": list(graph.nodes[i].position)}
             for i in chosen]
    edges = [[e.src, e.src_port, e.dst, e.dst_port] for e in sorted(graph.edges)
             if e.src in chosen and e.dst in chosen]
    return {"format": "layer-studio-nodes", "nodes": nodes, "edges": edges}


class EngineEdit(QUndoCommand):
    """Run an engine operation on the graph once; undo and redo replay the states
    before and after it, so the UI never re-implements what the engine does.

    The operation runs when the command is made: one that fails raises there
    (with the graph as it was), so a failed edit never reaches the undo stack;
    the stack's first redo then finds the graph already in the state after."""

    def __init__(self, graph: ModelGraph, text: str, operation: Callable[[ModelGraph], Any]):
        super().__init__(text)
        self.graph = graph
        self.before = graph.to_dict()
        try:
            operation(graph)
        except Exception:
            graph.apply_state(self.before)  # all or nothing
            raise
        self.after = graph.to_dict()
        self._done = True

    def redo(self):
        if self._done:  # made just now: the operation has run
            self._done = False
            return
        self.graph.apply_state(self.after)

    def undo(self):
        self.graph.apply_state(self.before)


def fix_command(graph: ModelGraph, fix: Fix) -> QUndoCommand:
    """An undoable command that applies a shape checker's suggested fix (the engine's own)."""
    return EngineEdit(graph, fix.label, lambda g: apply_fix(g, fix))


class SetOutputs(QUndoCommand):
    """Choose which nodes are the model's outputs."""

    def __init__(self, graph: ModelGraph, node_ids: list[str], text: str = "Set outputs"):
        super().__init__(text)
        self.graph = graph
        self.old = list(graph.output_ids)
        self.new = list(node_ids)

    def redo(self):
        self.graph.set_outputs(self.new)

    def undo(self):
        self.graph.set_outputs([i for i in self.old if i in self.graph.nodes])


def toggle_output_command(graph: ModelGraph, node_id: str) -> SetOutputs | None:
    """Mark a node as a model output, or unmark it; None when there is nothing to change
    (the graph's only end is its output until another layer is marked)."""
    name = graph.nodes[node_id].name
    if node_id in graph.output_ids:
        return SetOutputs(graph, [i for i in graph.output_ids if i != node_id], f"Unmark {name} as output")
    current = graph.model_outputs()
    if node_id in current:
        return None
    return SetOutputs(graph, current + [node_id], f"Mark {name} as output")


class SetTraining(QUndoCommand):
    """One training-setting edit. Edits of the same field in quick succession
    (typing a number digit by digit, spinning a box) merge into one step."""

    MERGE_SECONDS = 2.0

    def __init__(self, document, field: str, value: Any):
        super().__init__(f"Set {field.replace('_', ' ')}")
        self.document = document
        self.field = field
        self.old = document.training
        self.new = document.training.with_changes(**{field: value})  # SettingsError if invalid
        self.when = time.monotonic()

    def id(self) -> int:
        return 7301

    def mergeWith(self, other) -> bool:
        if not isinstance(other, SetTraining) or other.field != self.field or \
                other.when - self.when > self.MERGE_SECONDS:
            return False
        if self.field == "fine_tune" and None in (self.old.fine_tune, other.old.fine_tune, other.new.fine_tune):
            return False   # turning the second stage on or off is a step of its own
        self.new, self.when = other.new, other.when
        return True

    def redo(self):
        self.document.set_training(self.new)

    def undo(self):
        self.document.set_training(self.old)


class SetDataset(QUndoCommand):
    """Choose the dataset or its preprocessing; when the model has one Input whose
    shape differs from the prepared samples, the same step makes the Input follow."""

    def __init__(self, document, spec: dict | None, input_shape: list | None, loaded=None,
                 text: str = "Choose dataset"):
        super().__init__(text)
        self.document = document
        self.old, self.new = copy.deepcopy(document.dataset_spec), copy.deepcopy(spec)
        self.old_loaded, self.new_loaded = document.dataset, loaded
        self.input_change = None
        inputs = document.graph.input_nodes()
        if input_shape is not None and len(inputs) == 1:
            node = inputs[0]
            cfg = dict(node.config)
            current = cfg.get("shape") or (cfg.get("batch_shape") or [None])[1:]
            if list(current) != list(input_shape):
                new_cfg = {k: v for k, v in cfg.items() if k != "batch_shape"}
                new_cfg["shape"] = list(input_shape)
                self.input_change = (node.id, cfg, new_cfg)

    def _apply(self, spec, loaded, which: int) -> None:
        if self.input_change is not None:
            self.document.graph.set_config(self.input_change[0], self.input_change[which])
        self.document.set_dataset(spec, loaded)

    def redo(self):
        self._apply(self.new, self.new_loaded, 2)

    def undo(self):
        self._apply(self.old, self.old_loaded, 1)


class KeepRunWeights(QUndoCommand):
    """The weights a run reached become the project's trained weights (undo: the ones before),
    so undo and redo of weight resets always follow the order things happened in."""

    def __init__(self, document, by_name: dict, trained_graph):
        super().__init__("Keep the weights training reached")
        self.document, self.by_name, self.graph = document, by_name, trained_graph
        self.before = document.weights_state()
        self.after = None

    def redo(self):
        if self.after is None:
            self.document.set_trained_weights(self.by_name, self.graph)
            self.after = self.document.weights_state()
            self.by_name = self.graph = None  # the arrays live on in the document's state
        else:
            self.document.set_weights_state(self.after)

    def undo(self):
        self.document.set_weights_state(self.before)


class ResetWeights(QUndoCommand):
    """Forget the trained weights (and, with ``everything``, the imported ones too)."""

    def __init__(self, document, everything: bool = False):
        super().__init__("Reset all weights" if everything else "Reset trained weights")
        self.document = document
        self.before = document.weights_state()
        self.after = ({}, {}) if everything else (self.before[0], {})

    def redo(self):
        self.document.set_weights_state(self.after)

    def undo(self):
        self.document.set_weights_state(self.before)


# Single commands rather than macros of child commands: a Python child
# command owned only by its C++ parent can be garbage-collected under it.

class InsertBetween(QUndoCommand):
    """Put a new layer on an existing connection."""

    def __init__(self, graph, edge: Edge, class_name, config):
        super().__init__(f"Insert {class_name}")
        self.graph, self.edge, self.class_name, self.config = graph, edge, class_name, config
        self.node_id = None

    def redo(self):
        g, e = self.graph, self.edge
        sx, sy = g.nodes[e.src].position
        dx, dy = g.nodes[e.dst].position
        node = g.add_node(self.class_name, self.config, position=((sx + dx) / 2 + 30, (sy + dy) / 2),
                          node_id=self.node_id)
        self.node_id = node.id
        g.disconnect(e)
        g.connect(e.src, node.id, 0, e.src_port)
        g.connect(node.id, e.dst, e.dst_port, 0)

    def undo(self):
        self.graph.remove_node(self.node_id)
        e = self.edge
        self.graph.connect(e.src, e.dst, e.dst_port, e.src_port)


class AddWithWeights(QUndoCommand):
    """Add nodes made by an engine operation together with their starting weights (a
    pretrained backbone): one step, undone as one. ``operation(graph)`` returns
    {node id: weight arrays}; it runs when the command is made (see EngineEdit)."""

    def __init__(self, document, graph, text: str, operation):
        super().__init__(text)
        self.document, self.graph = document, graph
        self.before_graph = graph.to_dict()
        self.before_weights = document.weights_state()
        try:
            weights = operation(graph)
        except Exception:
            graph.apply_state(self.before_graph)
            raise
        self.added = list(weights)
        self.after_graph = graph.to_dict()
        self.after_weights = document.with_starting_weights(weights)
        document.set_weights_state(self.after_weights)
        self._done = True

    def redo(self):
        if self._done:
            self._done = False
            return
        self.graph.apply_state(self.after_graph)
        self.document.set_weights_state(self.after_weights)

    def undo(self):
        self.graph.apply_state(self.before_graph)
        self.document.set_weights_state(self.before_weights)
