"""ModelGraph: layers as nodes, tensors as edges, with plain change events.

A node stores what Keras stores for a layer: its class name and its config
(as ``get_config()`` gives it, or the sparse subset a person set), plus a
unique name and a canvas position. Edges join an output port of one node to an
input port of another. The graph refuses edits that can never make sense (a
cycle, a port fed twice, an edge into a model input) and reports the rest
(dangling inputs, unconnected nodes) through :meth:`ModelGraph.problems`.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections import deque
from collections.abc import Set
from dataclasses import dataclass, field
from typing import Any, Iterable

from studio.engine import catalog
from studio.engine.events import Event


class GraphError(ValueError):
    """An edit the graph refuses; ``node_id`` names the node it concerns."""

    def __init__(self, message: str, node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id


@dataclass(slots=True)
class Node:
    id: str
    class_name: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)

    @property
    def spec(self) -> catalog.LayerSpec:
        return catalog.spec(self.class_name)

    def copy(self) -> "Node":
        return Node(self.id, self.class_name, self.name, copy.deepcopy(self.config), tuple(self.position))


@dataclass(frozen=True, order=True, slots=True)
class Edge:
    src: str
    src_port: int
    dst: str
    dst_port: int


class EdgeSet(Set):
    """A graph's edges as a read-only set, read from its index of the edges into each node:
    a large graph keeps each edge once, and adding one needs no hashing."""

    __slots__ = ("_graph",)

    def __init__(self, graph: "ModelGraph"):
        self._graph = graph

    def __contains__(self, edge: object) -> bool:
        return isinstance(edge, Edge) and edge in self._graph._in.get(edge.dst, ())

    def __iter__(self):
        for into in list(self._graph._in.values()):
            yield from list(into)

    def __len__(self) -> int:
        return self._graph._edge_count

    @classmethod
    def _from_iterable(cls, iterable) -> set:  # what -, | and & give: a plain set
        return set(iterable)

    def __repr__(self) -> str:
        return f"EdgeSet({sorted(self)!r})"


@dataclass(frozen=True)
class Problem:
    """Something wrong with the graph's structure, pinned to a node when it can be."""

    node_id: str | None
    message: str
    fix: str | None = None


def _by_port(edge: Edge) -> int:
    return edge.dst_port


_NAME_RE = re.compile(r"^(?=.*[A-Za-z0-9_])[A-Za-z0-9_.\-]{1,200}$")  # not only dots and dashes


def snake_case(class_name: str) -> str:
    s = re.sub(r"(?<=[a-z])([A-Z])", r"_\1", class_name)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s)
    return s.lower().replace("input_layer", "input")


class ModelGraph:
    """Nodes and edges of one model; every change is announced by an event."""

    def __init__(self, name: str = "model"):
        self.name = name
        self.nodes: dict[str, Node] = {}
        self.edges = EdgeSet(self)   # every edge, read from the index below (kept once, not twice)
        self._edge_count = 0
        # indexes kept with every edit, so that loading and checking stay linear
        self._in: dict[str, list[Edge]] = {}          # node id -> edges into it (a short list: one per port)
        self._out: dict[str, list[Edge]] = {}         # node id -> edges leaving it (a short list: most have one)
        self._by_name: dict[str, str] = {}            # layer name -> node id
        self._version = 0        # bumped by every structural edit (nodes, edges, outputs, order)
        self._roles: tuple[int, dict] | None = None   # (version, what _compute_roles found)
        self._topo: tuple[int, list[str]] | None = None  # (version, topological order)
        self.output_ids: list[str] = []  # explicit model outputs, in order; empty: the sinks
        self._ids = itertools.count(1)
        self.node_added = Event("node_added")        # (node)
        self.node_removed = Event("node_removed")    # (node)
        self.node_changed = Event("node_changed")    # (node, what) what: config|name|position
        self.edge_added = Event("edge_added")        # (edge)
        self.edge_removed = Event("edge_removed")    # (edge)
        self.outputs_changed = Event("outputs_changed")  # ()

    def subscribe(self, handlers: dict) -> None:
        """Connect {event name: callback} for a view or checker of this graph."""
        for name, callback in handlers.items():
            getattr(self, name).connect(callback)

    def unsubscribe(self, handlers: dict) -> None:
        for name, callback in handlers.items():
            getattr(self, name).disconnect(callback)

    # -- queries -------------------------------------------------------------
    def node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise GraphError(f"there is no node with id '{node_id}'") from None

    def node_by_name(self, name: str) -> Node | None:
        node_id = self._by_name.get(name)
        return self.nodes[node_id] if node_id is not None else None

    def in_edges(self, node_id: str) -> list[Edge]:
        return sorted(self._in.get(node_id, ()), key=_by_port)

    def out_edges(self, node_id: str) -> list[Edge]:
        return sorted(self._out.get(node_id, ()), key=lambda e: (e.src_port, e.dst, e.dst_port))

    def inputs_of(self, node_id: str) -> dict[int, tuple[str, int]]:
        """Input port index -> (source node id, source output port)."""
        return {e.dst_port: (e.src, e.src_port) for e in self._in.get(node_id, ())}

    def successors(self, node_id: str) -> set[str]:
        return {e.dst for e in self._out.get(node_id, ())}

    def _changed(self) -> None:
        self._version += 1

    def _role(self, key: str):
        """Inputs, open ends, outputs, reachable and model nodes: computed once per structure."""
        if self._roles is None or self._roles[0] != self._version:
            self._roles = (self._version, self._compute_roles())
        return self._roles[1][key]

    def _compute_roles(self) -> dict:
        inputs = [n for n in self.nodes.values() if n.spec.is_input]
        reachable = self.downstream(n.id for n in inputs)
        ends = [i for i, n in self.nodes.items() if not self._out.get(i) and i in reachable and not n.spec.is_input]
        if self.output_ids:
            outputs = [i for i in self.output_ids if i in self.nodes]
        else:
            outputs = ends if len(ends) == 1 else []
        used = self.upstream(outputs or ends) | {n.id for n in inputs}
        return {"inputs": inputs, "reachable": reachable, "ends": ends, "outputs": outputs, "used": used}

    def input_nodes(self) -> list[Node]:
        return list(self._role("inputs"))

    def model_outputs(self) -> list[str]:
        """The node ids whose outputs are the model's outputs, in order.

        Outputs are the nodes the person marked. Unmarked, the one open end of
        the graph (a layer fed from an Input that feeds nothing) is the output;
        with several open ends the output is not obvious and this returns []:
        the checker asks the person to mark them instead of guessing.
        """
        return list(self._role("outputs"))

    def open_ends(self) -> list[str]:
        """Layers fed (directly or not) from an Input whose output nothing consumes."""
        return list(self._role("ends"))

    def reachable(self) -> set[str]:
        """Every node fed, directly or not, from an Input (the Inputs included)."""
        return set(self._role("reachable"))

    def model_node_ids(self) -> set[str]:
        """The nodes that make up the model: the outputs, what they depend on, and every Input.
        While the outputs are not clear, every open end counts."""
        return set(self._role("used"))

    def upstream(self, node_ids: Iterable[str]) -> set[str]:
        """The given nodes and every node they depend on."""
        seen = set(node_ids)
        queue = deque(seen)
        while queue:
            for e in self._in.get(queue.popleft(), ()):
                if e.src not in seen:
                    seen.add(e.src)
                    queue.append(e.src)
        return seen

    def downstream(self, node_ids: Iterable[str]) -> set[str]:
        """The given nodes and every node that depends on them."""
        seen = set(node_ids)
        queue = deque(seen)
        while queue:
            for e in self._out.get(queue.popleft(), ()):
                if e.dst not in seen:
                    seen.add(e.dst)
                    queue.append(e.dst)
        return seen

    def topological_order(self) -> list[str]:
        """Node ids so that every node comes after its inputs (stable by insertion);
        computed once per structure. Raises GraphError naming a layer on a cycle."""
        if self._topo is None or self._topo[0] != self._version:
            self._topo = (self._version, self._compute_topological_order())
        return list(self._topo[1])

    def _compute_topological_order(self) -> list[str]:
        if self._in_order():
            return list(self.nodes)
        import heapq
        order_index = {i: k for k, i in enumerate(self.nodes)}
        indegree = {i: len(self._in.get(i, ())) for i in self.nodes}
        heap = [(order_index[i], i) for i, d in indegree.items() if d == 0]
        heapq.heapify(heap)
        result: list[str] = []
        while heap:
            _, i = heapq.heappop(heap)
            result.append(i)
            for e in self._out.get(i, ()):
                indegree[e.dst] -= 1
                if indegree[e.dst] == 0:
                    heapq.heappush(heap, (order_index[e.dst], e.dst))
        if len(result) != len(self.nodes):
            # every node left over is on a cycle or after one: walk back through
            # left-over nodes until one repeats, and name that one (it is on a cycle)
            left = set(self.nodes) - set(result)
            node_id, seen = next(iter(left)), set()
            while node_id not in seen:
                seen.add(node_id)
                node_id = next(e.src for e in self._in.get(node_id, ()) if e.src in left)
            raise GraphError(f"the graph has a cycle through '{self.nodes[node_id].name}'", node_id)
        return result

    def _in_order(self) -> bool:
        """Whether every node comes after its inputs in the order the nodes were added (a file
        we saved, a chain built front to back): then that order is the topological one, as
        the general walk below, which takes the earliest node that is ready, would find."""
        seen: set[str] = set()
        into = self._in
        for node_id in self.nodes:
            edges = into.get(node_id)
            if edges is not None:
                for e in edges:
                    if e.src not in seen:
                        return False
            seen.add(node_id)
        return True

    # -- naming --------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        taken = self._by_name
        if base not in taken:
            return base
        stem = re.sub(r"_\d+$", "", base)
        for k in itertools.count(1):
            candidate = f"{stem}_{k}"
            if candidate not in taken:
                return candidate
        raise AssertionError("unreachable")

    def _new_id(self) -> str:
        while True:
            candidate = f"n{next(self._ids)}"
            if candidate not in self.nodes:
                return candidate

    # -- edits ---------------------------------------------------------------
    def add_node(self, class_name: str, config: dict[str, Any] | None = None,
                 name: str | None = None, position: tuple[float, float] = (0.0, 0.0),
                 node_id: str | None = None, _owned: bool = False) -> Node:
        s = catalog.spec(class_name)
        if config is None:
            config = s.default_config()
        name = name or self.unique_name(snake_case(s.keras_name))
        self._check_name(name, None)
        if node_id is None:
            node_id = self._new_id()
        elif node_id in self.nodes:
            raise GraphError(f"a node with id '{node_id}' already exists", node_id)
        node = Node(node_id, s.class_name, name, config if _owned else copy.deepcopy(dict(config)),
                    (float(position[0]), float(position[1])))
        self.nodes[node_id] = node
        self._by_name[name] = node_id
        self._changed()
        self.node_added.emit(node)
        return node

    def remove_node(self, node_id: str) -> tuple[Node, list[Edge]]:
        """Remove a node and its edges; returns both so an undo can restore them."""
        node = self.node(node_id)
        removed = list(self._in.get(node_id, ())) + list(self._out.get(node_id, ()))
        for e in sorted(set(removed)):
            self.disconnect(e)
        if node_id in self.output_ids:
            self.output_ids.remove(node_id)
            self._changed()
            self.outputs_changed.emit()
        del self.nodes[node_id]
        self._changed()
        self._in.pop(node_id, None)
        self._out.pop(node_id, None)
        if self._by_name.get(node.name) == node_id:
            del self._by_name[node.name]
        self.node_removed.emit(node)
        return node, sorted(set(removed))

    def _check_name(self, name: str, node_id: str | None) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise GraphError(f"'{name}' is not a valid layer name: use letters, digits, '_', '-' or '.'", node_id)
        other = self.node_by_name(name)
        if other is not None and other.id != node_id:
            raise GraphError(f"the name '{name}' is already used by another node", node_id)

    def rename(self, node_id: str, name: str) -> None:
        node = self.node(node_id)
        if node.name == name:
            return
        self._check_name(name, node_id)
        self._set_name(node, name)
        self.node_changed.emit(node, "name")

    def _set_name(self, node: Node, name: str) -> None:
        if self._by_name.get(node.name) == node.id:
            del self._by_name[node.name]
        node.name = name
        self._by_name[name] = node.id

    def set_config(self, node_id: str, config: dict[str, Any]) -> None:
        node = self.node(node_id)
        node.config = copy.deepcopy(dict(config))
        self.node_changed.emit(node, "config")

    def set_param(self, node_id: str, key: str, value: Any) -> None:
        node = self.node(node_id)
        config = dict(node.config)
        config[key] = copy.deepcopy(value)
        self.set_config(node_id, config)

    def move(self, node_id: str, position: tuple[float, float]) -> None:
        node = self.node(node_id)
        node.position = (float(position[0]), float(position[1]))
        self.node_changed.emit(node, "position")

    def reorder(self, node_ids: list[str]) -> None:
        """Put the nodes in this order (the order of Inputs is the model's input order);
        nodes not named keep their order after the named ones."""
        order = [i for i in node_ids if i in self.nodes]
        named = set(order)
        order += [i for i in self.nodes if i not in named]
        self.nodes = {i: self.nodes[i] for i in order}
        self._changed()

    def set_outputs(self, node_ids: list[str]) -> None:
        for i in node_ids:
            self.node(i)
        self.output_ids = list(dict.fromkeys(node_ids))  # each node once, in order
        self._changed()
        self.outputs_changed.emit()

    def can_connect(self, src: str, src_port: int, dst: str, dst_port: int,
                    check_cycle: bool = True) -> str | None:
        """Why this edge would be refused, or None if it may be added. ``check_cycle=False``
        leaves out the walk downstream (a bulk load checks the whole graph once instead)."""
        dst_node = self.nodes.get(dst)
        if dst_node is None or src not in self.nodes:
            return "both ends of a connection must be nodes of this model"
        return self._edge_problem(src, src_port, dst_node, dst_port, check_cycle)

    def _edge_problem(self, src: str, src_port: int, dst_node: Node, dst_port: int,
                      check_cycle: bool) -> str | None:
        dst = dst_node.id
        if src == dst:
            return "a layer cannot feed itself"
        dst_spec = dst_node.spec
        if dst_spec.is_input:
            return f"'{dst_node.name}' is a model input and takes no incoming connection"
        if src_port < 0 or dst_port < 0:
            return "port numbers start at 0"
        limit = catalog.port_limit(dst_node.class_name, dst_node.config)
        if limit is not None and dst_port >= limit:
            return f"{dst_spec.class_name} takes {limit} input{'s' if limit != 1 else ''}; it has no port {dst_port + 1}"
        into = self._in.get(dst)
        if into is not None and any(e.dst_port == dst_port for e in into):
            return (f"input '{catalog.port_label(dst_node.class_name, dst_node.config, dst_port)}' of "
                    f"'{dst_node.name}' is already connected; remove that connection first")
        if check_cycle and self._out.get(dst) and src in self.downstream([dst]):
            return (f"connecting '{self.nodes[src].name}' to '{dst_node.name}' "
                    "would make a cycle")
        return None

    def connect(self, src: str, dst: str, dst_port: int | None = None, src_port: int = 0) -> Edge:
        if dst_port is None:
            dst_port = self.free_port(dst)
        reason = self.can_connect(src, src_port, dst, dst_port)
        if reason is not None:
            raise GraphError(reason, dst if dst in self.nodes else None)
        return self._add_edge(Edge(src, src_port, dst, dst_port))

    def _add_edge(self, edge: Edge) -> Edge:
        """Record an edge that has been checked."""
        self._edge_count += 1
        into = self._in.get(edge.dst)
        if into is None:
            self._in[edge.dst] = [edge]
        else:
            into.append(edge)
        out = self._out.get(edge.src)  # connect refuses a repeat
        if out is None:
            self._out[edge.src] = [edge]
        else:
            out.append(edge)
        self._changed()
        self.edge_added.emit(edge)
        return edge

    def free_port(self, node_id: str) -> int:
        """The first input port that is neither connected nor given a constant (``x + 3.0``)."""
        used = {e.dst_port for e in self._in.get(node_id, ())}
        node = self.nodes.get(node_id)
        filled = catalog.filled_ports(node.class_name, node.config) if node is not None else {}
        k = 0
        while k in used or k in filled:
            k += 1
        return k

    def disconnect(self, edge: Edge) -> None:
        if edge not in self.edges:
            raise GraphError("that connection does not exist")
        self._edge_count -= 1
        self._in[edge.dst].remove(edge)
        self._out[edge.src].remove(edge)
        self._changed()
        self.edge_removed.emit(edge)

    def clear(self) -> None:
        for node_id in list(self.nodes):
            self.remove_node(node_id)
        self.output_ids = []

    # -- structural checks -------------------------------------------------------
    def problems(self) -> list[Problem]:
        """Structural problems of the model: missing inputs or outputs, dangling ports.

        Only the nodes that make up the model count (see :meth:`model_node_ids`);
        a layer left unconnected, or one that leads to no output, is not part
        of the model, and :meth:`stray_nodes` names it for a warning.
        """
        out: list[Problem] = []
        inputs = self.input_nodes()
        if not inputs:
            out.append(Problem(None, "the model has no Input node", "add an Input node and connect it to the first layer"))
            return out
        outputs = self.model_outputs()
        if not outputs:
            ends = self.open_ends()
            if ends:
                names = ", ".join(f"'{self.nodes[i].name}'" for i in ends)
                out.append(Problem(None, f"the model's output is not clear: {names} all end the graph; mark the "
                                         "outputs (right-click a layer → Mark as output) or remove what is not needed"))
            else:
                out.append(Problem(None, "the model has no output: no layer is connected after an Input"))
            return out
        used = self._role("used")
        reachable = self._role("reachable")
        for node_id in self.nodes:
            if node_id not in used:
                continue
            node = self.nodes[node_id]
            s = node.spec
            ports = self.inputs_of(node.id)
            if s.is_input:
                if not self.successors(node.id):
                    out.append(Problem(node.id, f"input '{node.name}' is not connected to any layer"))
                continue
            if not ports:
                out.append(Problem(node.id, f"'{node.name}' has no input connected",
                                   "connect a layer's output to it, or delete it"))
                continue
            found = catalog.check_ports(node.class_name, node.config, ports)
            if found.missing:
                names = ", ".join(f"'{catalog.port_label(node.class_name, node.config, k)}'" for k in found.missing)
                out.append(Problem(node.id, f"'{node.name}' is missing input {names}",
                                   "connect a tensor to each input port"))
            elif found.extra:
                out.append(Problem(node.id, f"'{node.name}': {found.extra[0][1]}"))
            elif found.positional < s.min_inputs and not s.is_op:
                out.append(Problem(node.id, f"{s.class_name} '{node.name}' needs at least {s.min_inputs} inputs but has {len(ports)}"))
            if node.id not in reachable:
                out.append(Problem(node.id, f"'{node.name}' is not connected to any Input"))
        return out

    def stray_nodes(self) -> dict[str, str]:
        """Layers that are not part of the model, with the reason: {node id: warning}."""
        outputs = self.model_outputs()
        if not outputs:
            return {}
        used = self._role("used")
        reachable = self._role("reachable")
        out = {}
        for node_id, node in self.nodes.items():
            if node_id in used:
                continue
            if node_id not in reachable:
                out[node_id] = (f"'{node.name}' is not connected to an Input, so it is not part of the model "
                                "and is left out; wire it in or delete it")
            else:
                out[node_id] = (f"'{node.name}' leads to no model output, so it is left out of the model; "
                                "mark it as an output or delete it")
        return out

    # -- serialization -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodes": [
                {"id": n.id, "class_name": n.class_name, "name": n.name,
                 "config": copy.deepcopy(n.config), "position": list(n.position)}
                for n in self.nodes.values()
            ],
            # in the nodes' order (each node's inputs by port): a stable order for diffs,
            # and a large file is read back walking its nodes from first to last
            "edges": [[e.src, e.src_port, e.dst, e.dst_port]
                      for node_id in self.nodes for e in sorted(self._in.get(node_id, ()), key=_by_port)],
            "outputs": list(self.output_ids),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], owned: bool = False, checks=None) -> "ModelGraph":
        """Build a graph from :meth:`to_dict` output.
        ``owned``: the data is the caller's to give away (freshly parsed): configs are not copied,
        and each entry is let go once it is used.
        ``checks``: an object whose ``node(k, data)``, ``edge(k, data)`` and ``outputs(data, ids)``
        check each entry just before it is used (a file being loaded), and whose ``repeated_id(k, id)``
        and ``missing_end(k, id)`` raise the message for an id used twice or naming no node;
        otherwise the caller has checked."""
        g = cls(data.get("name", "model"))
        nodes, edges = data["nodes"], data["edges"]
        by_id = g.nodes
        for k, n in enumerate(nodes):
            if checks is not None:
                checks.node(k, n)
                if n["id"] in by_id:
                    checks.repeated_id(k, n["id"])
            g.add_node(n["class_name"], n["config"], n["name"], tuple(n["position"]), node_id=n["id"],
                       _owned=owned and isinstance(n["config"], dict))
            if owned:  # what was read is let go as it is used: the graph's objects take its memory
                nodes[k] = None
        # each edge's own checks, then one look for a cycle over the whole graph: checking
        # every edge against what is downstream of it is quadratic when a file lists a
        # long chain back to front. The edges hold the nodes' own id strings (less memory).
        for k, edge in enumerate(edges):
            if checks is not None:
                checks.edge(k, edge)
            src, src_port, dst, dst_port = edge
            src_node, dst_node = by_id.get(src), by_id.get(dst)
            if src_node is None or dst_node is None:
                if checks is not None:
                    checks.missing_end(k, src if src_node is None else dst)
                raise GraphError("both ends of a connection must be nodes of this model")
            reason = g._edge_problem(src_node.id, src_port, dst_node, dst_port, check_cycle=False)
            if reason is not None:
                raise GraphError(reason, dst_node.id)
            g._add_edge(Edge(src_node.id, src_port, dst_node.id, dst_port))
            if owned:
                edges[k] = None
        if checks is not None:
            checks.outputs(data.get("outputs", []), by_id)
        if data.get("outputs"):
            g.set_outputs(list(data["outputs"]))
        g.topological_order()  # raises GraphError on a cycle (and is kept for the checker)
        return g

    def apply_state(self, data: dict[str, Any]) -> None:
        """Make the graph equal to a :meth:`to_dict` state with the fewest edits, each
        announced as usual. Undo commands that replay an engine operation use it."""
        target = {n["id"]: n for n in data["nodes"]}
        edges = {Edge(s, sp, d, dp) for s, sp, d, dp in data["edges"]}
        for e in sorted(self.edges - edges):
            self.disconnect(e)
        for node_id in [i for i, n in self.nodes.items()
                        if i not in target or target[i]["class_name"] != n.class_name]:
            self.remove_node(node_id)
        for n in data["nodes"]:
            node = self.nodes.get(n["id"])
            if node is None:
                self.add_node(n["class_name"], n["config"], n["name"], tuple(n["position"]), node_id=n["id"])
                continue
            if node.name != n["name"]:
                self._set_name(node, n["name"])
                self.node_changed.emit(node, "name")
            if node.config != n["config"]:
                self.set_config(node.id, n["config"])
            if tuple(node.position) != tuple(n["position"]):
                self.move(node.id, tuple(n["position"]))
        self.reorder([n["id"] for n in data["nodes"]])  # keeps the model's input order
        for e in sorted(edges - self.edges):
            self.connect(e.src, e.dst, e.dst_port, e.src_port)
        if self.output_ids != list(data.get("outputs", [])):
            self.set_outputs(list(data.get("outputs", [])))
        self.name = data.get("name", self.name)

    def copy(self) -> "ModelGraph":
        return ModelGraph.from_dict(self.to_dict())
