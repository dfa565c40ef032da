"""Live shape checking: every node gets its output shapes and parameter count,
or one plain-language error pinned to it, with a one-step fix where we know one.

Keras is the source of truth: each node's layer is instantiated from its config
and called on symbolic ``KerasTensor`` inputs. Layers are built with shape-only
weights (see :mod:`keras_bridge`), so checking a graph creates no TensorFlow
variables. Results are cached by (layer type, config, input shapes), and after
an edit only the edited nodes and those downstream whose inputs really changed
are checked again.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from studio.engine import catalog
from studio.engine.events import Event
from studio.engine.graph import Edge, GraphError, ModelGraph

log = logging.getLogger(__name__)

Shape = tuple  # (None, 28, 28, 1)


@dataclass(frozen=True)
class Fix:
    """A suggested repair the UI can apply in one step (see :func:`apply_fix`).

    action: ``insert_before`` (put a new layer on input ``port`` of the node),
    ``set_param`` (set ``param`` to ``value``), ``add_input`` (add an Input
    feeding the node), ``bypass`` (remove the node, joining its input to its
    consumers), ``mark_output`` (make the node one of the model's outputs).
    """

    label: str
    action: str
    node_id: str | None = None
    port: int = 0
    class_name: str | None = None
    config: dict | None = None
    param: str | None = None
    value: Any = None


@dataclass(slots=True)
class NodeState:
    outputs: list[Shape] | None = None
    dtypes: list[str] | None = None
    params: int | None = None
    error: str | None = None
    warning: str | None = None
    fix: Fix | None = None
    trainable_params: int | None = None  # of ``params``; frozen layers and BatchNorm's moving stats are not

    @property
    def ok(self) -> bool:
        return self.error is None and self.outputs is not None

    @property
    def output(self) -> Shape | None:
        return self.outputs[0] if self.outputs else None


@dataclass
class _Result:
    outputs: list[Shape] | None = None
    dtypes: list[str] | None = None
    params: int | None = None
    error: str | None = None
    fix_kind: str | None = None
    fix_data: dict = field(default_factory=dict)
    trainable_params: int | None = None


def format_shape(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _first_sentence(message: str) -> str:
    message = " ".join(str(message).split())
    message = re.sub(r"\s*Full (object )?config:.*$", "", message)
    return message if len(message) <= 300 else message[:297] + "..."


def _key(class_name: str, config: dict, inputs: list) -> str | None:
    """The check cache's key: equal keys mean equal class, settings and inputs. ``repr``
    of plain JSON data is exact and cheap; configs written in another key order only
    miss the cache, which keeps a full check of a large graph cheap."""
    try:
        return repr((class_name, config, inputs))
    except Exception:
        return None


def _real_build(class_name: str, config: dict, call) -> tuple:
    """(output, parameters, trainable parameters) of the layer built for real and ``call``ed:
    the slow path, for a layer that shape-only weights cannot build."""
    from math import prod

    from studio.engine import keras_bridge
    layer = keras_bridge.make_layer(class_name, "probe", config)
    out = call(layer)
    return out, int(layer.count_params()), sum(int(prod(w.shape)) for w in layer.trainable_weights)


def _outcome(class_name: str, config: dict, shapes: list, out, params: int, trainable: int) -> "_Result":
    """The check's result from what a symbolic call returned (an empty dimension is an error)."""
    import keras
    flat = keras.tree.flatten(out)
    outputs = [tuple(t.shape) for t in flat]
    for shape in outputs:
        if any(d is not None and d <= 0 for d in shape):
            return _explain(class_name, config, shapes, ValueError(
                f"the output shape {format_shape(shape)} has an empty dimension"))
    return _Result(outputs=outputs, dtypes=[str(t.dtype) for t in flat], params=params, trainable_params=trainable)


class _AsOwner:
    """A use of a shared layer, seen with its owner's settings (for checking it)."""

    def __init__(self, node, config):
        self.id, self.name, self.class_name, self.config = node.id, node.name, node.class_name, config


class ShapeChecker:
    """Keeps a :class:`NodeState` for every node of a graph, up to date."""

    def __init__(self, graph: ModelGraph, cache_size: int = 4096):
        self.graph = graph
        self.states: dict[str, NodeState] = {}
        self.problems: list[str] = []  # graph-level messages (no Input, no output)
        self.graph_fix: Fix | None = None
        self._dirty: set[str] = set(graph.nodes)
        self._outputs: set[str] = set()
        self._stray: dict[str, str] = {}
        self._ends: set[str] = set()
        self._order: list[str] | None = None
        self._cache: OrderedDict[str, _Result] = OrderedDict()
        self._cache_size = cache_size
        self.checked_count = 0  # nodes actually inferred (not cached) since creation
        # warnings from outside shape checking (e.g. the data does not fit), by node
        self.external: dict[str, tuple[str, Fix | None]] = {}
        self.states_changed = Event("states_changed")  # (set of node ids)
        self._handlers = {"node_added": self._on_node_added, "node_removed": self._on_node_removed,
                          "node_changed": self._on_node_changed, "edge_added": self._on_edge,
                          "edge_removed": self._on_edge, "outputs_changed": self._on_outputs_changed}
        graph.subscribe(self._handlers)

    def detach(self) -> None:
        self.graph.unsubscribe(self._handlers)

    # -- change tracking --------------------------------------------------------
    def _on_node_added(self, node) -> None:
        self._dirty.add(node.id)
        self._order = None

    def _on_node_removed(self, node) -> None:
        self.states.pop(node.id, None)
        self._dirty.discard(node.id)
        self._order = None

    def _on_node_changed(self, node, what) -> None:
        if what == "config":
            self._dirty.add(node.id)

    def _on_edge(self, edge: Edge) -> None:
        self._dirty.add(edge.dst)
        self._dirty.add(edge.src)  # its output-ness (a warning) may change
        self._order = None

    def _on_outputs_changed(self) -> None:
        self._dirty.update(self.graph.nodes)

    # -- queries -------------------------------------------------------------
    def state(self, node_id: str) -> NodeState:
        self.refresh()
        return self.states[node_id]

    def errors(self) -> list[tuple[str | None, str]]:
        """(node id or None, message) for every error, in graph order."""
        self.refresh()
        out: list[tuple[str | None, str]] = [(None, p) for p in self.problems]
        for node_id in self.graph.nodes:
            s = self.states.get(node_id)
            if s is not None and s.error:
                out.append((node_id, s.error))
        return out

    def total_params(self) -> int:
        self.refresh()
        return sum(s.params or 0 for s in self.states.values())

    def total_trainable_params(self) -> int:
        """The trainable share of :meth:`total_params`, as Keras's summary counts it."""
        self.refresh()
        return sum(s.trainable_params or 0 for s in self.states.values())

    def check_all(self) -> set[str]:
        """Forget every result (but not the cache) and check the whole graph."""
        self._dirty = set(self.graph.nodes)
        self._order = None
        return self.refresh()

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- checking -------------------------------------------------------------
    def refresh(self) -> set[str]:
        """Re-check what changed; returns the ids whose state changed."""
        if not self._dirty:
            return set()
        if len(self._dirty) > 1000:  # a large graph checked from scratch: see paused_collection
            from studio.engine.runtime_gc import paused_collection
            with paused_collection():
                return self._refresh()
        return self._refresh()

    def _refresh(self) -> set[str]:
        graph = self.graph
        if self._order is None:
            try:
                self._order = graph.topological_order()
            except GraphError:
                self._order = list(graph.nodes)
        from studio.engine.sharing import uses_index
        shared = uses_index(graph)
        if shared:  # a shared layer's settings changed: every use computes with them
            for owner in [i for i in shared if i in self._dirty or i not in graph.nodes]:
                self._dirty.update(shared[owner])
        outputs = set(graph.model_outputs())
        stray = graph.stray_nodes()
        # a node whose part in the model changed is checked again (an output has
        # its own warnings; a stray node's problems are warnings, not errors)
        self._dirty.update(outputs ^ self._outputs)
        self._dirty.update(k for k in set(stray) | set(self._stray) if stray.get(k) != self._stray.get(k))
        ends = set(graph.open_ends()) if not outputs and graph.input_nodes() else set()
        self._dirty.update(ends ^ self._ends)
        if not self._dirty <= graph.nodes.keys():  # (without a copy of every id when nothing is gone)
            self._dirty &= graph.nodes.keys()
        self._outputs, self._stray, self._ends = outputs, stray, ends
        changed: set[str] = set()
        dirty = self._dirty
        for node_id in self._order:
            if node_id not in dirty:
                continue
            dirty.discard(node_id)
            old = self.states.get(node_id)
            new = self._check_node(node_id, graph.inputs_of(node_id), node_id in outputs)
            if node_id in ends and new.error is None and new.warning is None:  # a shape warning comes first
                name = graph.nodes[node_id].name
                new.warning = (f"'{name}' is one of {len(ends)} ends of the graph; the model's outputs "
                               "are not clear: mark this layer as an output, or delete it")
                new.fix = Fix(f"Mark '{name}' as an output", "mark_output", node_id)
            if node_id in stray:
                new = NodeState(new.outputs, new.dtypes, new.params, trainable_params=new.trainable_params,
                                warning=stray[node_id] + (f" ({new.error})" if new.error and new.outputs is None
                                                          and "no input" not in new.error
                                                          and "waiting for" not in new.error else ""))
            if old is None or (old.outputs, old.dtypes, old.error, old.params, old.trainable_params, old.warning) != (
                    new.outputs, new.dtypes, new.error, new.params, new.trainable_params, new.warning):
                changed.add(node_id)
                if old is None or (old.outputs, old.dtypes, old.error is None) != (
                        new.outputs, new.dtypes, new.error is None):
                    dirty.update(graph.successors(node_id))
            self._apply_external(node_id, new)
            self.states[node_id] = new
        self._dirty = set()
        self._graph_problems()
        if changed:
            self.states_changed.emit(changed)
        return changed

    def set_external(self, problems: dict[str, tuple[str, "Fix | None"]]) -> set[str]:
        """Show other checks' findings (message, fix) as warnings on their nodes."""
        touched = (set(self.external) | set(problems)) & set(self.states)
        self.external = dict(problems)
        changed = set()
        for node_id in touched:
            state = self.states[node_id]
            before = (state.warning, state.fix)
            if state.error is None:
                state.warning, state.fix = None, None
                self._warnings(self.graph.nodes[node_id], self._input_shapes(node_id), state,
                               node_id in set(self.graph.model_outputs()))
            self._apply_external(node_id, state)
            if (state.warning, state.fix) != before:
                changed.add(node_id)
        if changed:
            self.states_changed.emit(changed)
        return changed

    def _input_shapes(self, node_id: str) -> list[Shape]:
        ports = self.graph.inputs_of(node_id)
        out = []
        for k in sorted(ports):
            src, port = ports[k]
            up = self.states.get(src)
            if up is None or not up.outputs or port >= len(up.outputs):
                return []
            out.append(up.outputs[port])
        return out

    def _apply_external(self, node_id: str, state: NodeState) -> None:
        found = self.external.get(node_id)
        if found is not None and state.error is None:
            message, fix = found
            state.warning = message if state.warning is None else f"{state.warning} {message}"
            state.fix = state.fix or fix

    def _graph_problems(self) -> None:
        self.problems = []
        self.graph_fix = None
        g = self.graph
        if not g.nodes:
            return
        if not g.input_nodes():
            self.problems.append("the model has no Input node: add one and connect it to the first layer")
            first = next((n for n in g.nodes.values() if not g.inputs_of(n.id)), None)
            if first is not None:
                self.graph_fix = Fix("Add an Input before '%s'" % first.name, "add_input", first.id)
        elif not g.model_outputs():
            ends = g.open_ends()
            if ends:
                names = ", ".join(f"'{g.nodes[i].name}'" for i in ends)
                self.problems.append(f"the model's output is not clear: {names} all end the graph; mark the "
                                     "outputs (right-click a layer → Mark as output) or delete what is not needed")
            else:
                self.problems.append("the model has no output: connect a layer after an Input")

    def _check_node(self, node_id: str, ports: dict[int, tuple[str, int]], is_output: bool) -> NodeState:
        node = self.graph.nodes[node_id]
        s = catalog.SPECS.get(node.class_name)
        if s is None:
            return NodeState(error=str(catalog.UnknownLayerError(node.class_name)))
        if s.is_input:
            return self._infer(node, [], [])
        # structural problems first
        if not ports:
            return NodeState(error=f"'{node.name}' has no input connected: connect a layer's output to it")
        found = catalog.check_ports(node.class_name, node.config, ports, required=s.is_op)
        if found.missing:
            names = ", ".join(f"'{catalog.port_label(node.class_name, node.config, k)}'" for k in found.missing)
            hint = "; connect a tensor to it, or give it a constant in the inspector" if s.is_op else ""
            return NodeState(error=f"'{node.name}' has nothing connected to input {names}{hint}")
        if found.extra:
            return NodeState(error=f"'{node.name}': {found.extra[0][1]}")
        if found.positional < s.min_inputs and not s.is_op:
            n = found.positional
            fix = Fix(f"Remove '{node.name}'", "bypass", node_id) if n == 1 else None
            return NodeState(error=f"{s.class_name} needs at least {s.min_inputs} inputs but '{node.name}' has {n}; "
                                   "connect another tensor or remove the layer", fix=fix)
        shapes, dtypes = [], []
        order = sorted(ports)
        for k in order:
            src, src_port = ports[k]
            up = self.states.get(src)
            src_name = self.graph.nodes[src].name
            if up is None or up.error is not None or up.outputs is None:
                return NodeState(error=f"waiting for '{src_name}', which has an error")
            if src_port >= len(up.outputs):
                return NodeState(error=f"'{src_name}' has no output {src_port + 1}")
            shapes.append(up.outputs[src_port])
            dtypes.append(up.dtypes[src_port])
        from studio.engine import sharing
        if sharing.owner_id(node) is not None:  # a layer used again: its owner's settings, no weights of its own
            reason = sharing.problem(self.graph, node)
            if reason is not None:
                return NodeState(error=reason, fix=Fix(f"Make '{node.name}' its own layer", "unshare", node_id)
                                 if node.config.get(sharing.SHARES) in self.graph.nodes else None)
            node = _AsOwner(node, sharing.effective_config(self.graph, node))
            state = self._infer(node, shapes, dtypes, order)
            state.params, state.trainable_params = 0, 0 if state.error is None else None
        else:
            state = self._infer(node, shapes, dtypes, order)
        if state.error is None:
            self._warnings(node, shapes, state, is_output)
        return state

    def _infer(self, node, shapes: list[Shape], dtypes: list[str], ports: list[int] | None = None) -> NodeState:
        ports = list(range(len(shapes))) if ports is None else ports
        config = node.config
        if node.class_name == "Block":
            from studio.engine.blocks import without_positions
            config = without_positions(config)
        key = _key(node.class_name, config, (tuple(shapes), tuple(dtypes), tuple(ports)))
        result = self._cache.get(key) if key is not None else None
        if result is None:
            result = self._infer_uncached(node.class_name, node.config, shapes, dtypes, ports)
            self.checked_count += 1
            if key is not None:
                self._cache[key] = result
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        state = NodeState(outputs=result.outputs, dtypes=result.dtypes, params=result.params,
                          error=result.error, trainable_params=result.trainable_params)
        if result.error is not None:
            state.error = result.error.replace("{name}", node.name)
            state.fix = _make_fix(result.fix_kind, result.fix_data, node.id)
        return state

    def _infer_uncached(self, class_name: str, config: dict, shapes: list[Shape], dtypes: list[str],
                        ports: list[int] | None = None) -> _Result:
        """Check one node: ``shapes``/``dtypes`` are what its input ports carry, in the order
        of ``ports`` (by default 0, 1, ...)."""
        from studio.engine import keras_bridge
        try:
            import keras
        except Exception as exc:  # pragma: no cover - environment problem
            return _Result(error=f"Keras could not be loaded: {exc}")
        try:
            keras_bridge.layer_config(class_name, "x", config)
        except Exception as exc:
            return _Result(error=f"'{{name}}': {_first_sentence(exc)}")
        wrong = catalog.param_type_problem(class_name, config)
        if wrong is not None:
            return _Result(error=f"'{{name}}': {wrong}")
        if class_name == "InputLayer":
            cfg = keras_bridge.input_layer_config(dict(config))
            dtype = str(cfg.get("dtype") or "float32")
            return _Result(outputs=[tuple(cfg["batch_shape"])], dtypes=[dtype], params=0, trainable_params=0)
        pre = _precheck(class_name, config, shapes)
        if pre is not None:
            return pre
        tensors = [keras.KerasTensor(shape, dtype=dtype) for shape, dtype in zip(shapes, dtypes)]
        if keras_bridge.has_call_fields(class_name, config):
            return self._infer_call(class_name, config, shapes, dict(zip(ports or range(len(tensors)), tensors)))
        # Fast paths first: shape-only weights, then the layer's own output
        # spec (or a symbolic call); finally a real build, which is slower
        # but handles any layer.
        out = None
        failures = []
        for attempt in (keras_bridge.output_spec, keras_bridge.call_layer):
            try:
                with keras_bridge.shape_only_weights() as weights:
                    layer = keras_bridge.make_layer(class_name, "probe", config)
                    out = attempt(layer, class_name, tensors)
                params = keras_bridge.count_shape_only_params(layer, weights)
                trainable = keras_bridge.count_shape_only_trainable(layer, weights)
                break
            except Exception as exc:
                failures.append(exc)
        if out is None:
            try:
                out, params, trainable = _real_build(
                    class_name, config, lambda layer: keras_bridge.call_layer(layer, class_name, tensors))
            except Exception as exc:
                log.debug("shape check of %s failed (fast paths: %r)", class_name, failures, exc_info=True)
                return _explain(class_name, config, shapes, exc)
        return _outcome(class_name, config, shapes, out, params, trainable)

    def _infer_call(self, class_name: str, config: dict, shapes: list[Shape], values: dict) -> _Result:
        """Check an operation, or a layer called with keyword arguments: the call itself,
        on symbolic tensors (an operation has no weights to build)."""
        from studio.engine import keras_bridge
        try:
            with keras_bridge.shape_only_weights() as weights:
                layer = keras_bridge.make_layer(class_name, "probe", config)
                if catalog.is_op(class_name):
                    args, kwargs = catalog.call_arguments(
                        class_name, config, values, lambda p, v: keras_bridge.op_constant(class_name, p, v))
                    out = layer.compute_output_spec(*args, **kwargs)
                else:
                    out = keras_bridge.call_node(layer, class_name, config, values)
            if catalog.is_op(class_name):
                params = trainable = 0
            else:
                params = keras_bridge.count_shape_only_params(layer, weights)
                trainable = keras_bridge.count_shape_only_trainable(layer, weights)
        except Exception as exc:
            if catalog.is_op(class_name):
                log.debug("shape check of %s failed", class_name, exc_info=True)
                return _explain(class_name, config, shapes, exc)
            try:  # a layer that cannot be built with shape-only weights: a real build
                out, params, trainable = _real_build(
                    class_name, config, lambda layer: keras_bridge.call_node(layer, class_name, config, values))
            except Exception as exc2:
                log.debug("shape check of %s failed (%r)", class_name, exc, exc_info=True)
                return _explain(class_name, config, shapes, exc2)
        return _outcome(class_name, config, shapes, out, params, trainable)

    def _warnings(self, node, shapes: list[Shape], state: NodeState, is_output: bool) -> None:
        activation = node.config.get("activation")
        if activation == "softmax" and state.outputs and state.outputs[0] and state.outputs[0][-1] == 1:
            state.warning = (f"'{node.name}' is a softmax over one unit: it always outputs 1.0, so it cannot "
                             "learn; use a sigmoid for two classes, or one unit per class")
            state.fix = Fix("Use a sigmoid", "set_param", node.id, param="activation", value="sigmoid")
            return
        if node.class_name == "Dense" and shapes:
            rank = len(shapes[0])
            if rank >= 4 or (rank == 3 and is_output):
                pool = "GlobalAveragePooling2D" if rank == 4 else ("GlobalAveragePooling1D" if rank == 3 else None)
                state.warning = (f"'{node.name}' gets a {rank}-D tensor {format_shape(shapes[0])}; Dense only acts on the last "
                                 f"axis, so its output stays {rank}-D. Insert Flatten"
                                 + (f" or {pool}" if pool else "") + " before it.")
                state.fix = Fix("Insert Flatten before it", "insert_before", node.id, 0, "Flatten", {})


_MERGE_ELEMENTWISE = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"}
_KERNEL_LAYERS = re.compile(r"^(Conv|SeparableConv|DepthwiseConv|MaxPooling|AveragePooling)(\d)D")


def _tuple(value: Any, n: int) -> tuple | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value,) * n
    if isinstance(value, (list, tuple)) and len(value) == n and all(isinstance(v, int) for v in value):
        return tuple(value)
    return None


def _precheck(class_name: str, config: dict, shapes: list[Shape]) -> _Result | None:
    """Recognize common mistakes before Keras does, to explain them plainly."""
    if class_name in _MERGE_ELEMENTWISE and len(shapes) >= 2:
        first = shapes[0]
        for k, other in enumerate(shapes[1:], start=1):
            if len(other) != len(first) or any(
                    a is not None and b is not None and a != b and a != 1 and b != 1
                    for a, b in zip(first[1:], other[1:])):
                data = {"shapes": [list(s) for s in shapes], "port": k}
                fix_kind = None
                if len(first) == len(other) and first[1:-1] == other[1:-1] and first[-1] != other[-1]:
                    fix_kind = "match_channels"
                    data.update(rank=len(first), channels=first[-1])
                return _Result(
                    error=(f"{class_name} '{{name}}' needs inputs of the same shape, but input 1 is "
                           f"{format_shape(first)} and input {k + 1} is {format_shape(other)}"
                           + ("; project input %d to %s channels first" % (k + 1, first[-1]) if fix_kind else
                              "; make them match (strides, pooling or a reshape)")),
                    fix_kind=fix_kind, fix_data=data)
    m = _KERNEL_LAYERS.match(class_name)
    if m and shapes:
        n = int(m.group(2))
        pooling = "Pooling" in class_name
        size = _tuple(config.get("pool_size" if pooling else "kernel_size", 2 if pooling else None), n)
        padding = config.get("padding", "valid")
        shape = shapes[0]
        if len(shape) != n + 2:
            return _Result(error=(f"{class_name} '{{name}}' expects a {n + 2}-D input (batch, "
                                  f"{'steps' if n == 1 else 'spatial axes'}, channels) but gets "
                                  f"{format_shape(shape)}" + ("; add a Reshape before it" if len(shape) < n + 2 else "")),
                           fix_kind="reshape_channels" if len(shape) == n + 1 else None,
                           fix_data={"shape": list(shape)})
        fmt = config.get("data_format") or "channels_last"
        spatial = shape[1:-1] if fmt == "channels_last" else shape[2:]
        if size and padding == "valid" and any(d is not None and k > d for k, d in zip(size, spatial)):
            what = "pool window" if pooling else "kernel"
            return _Result(error=(f"the {what} of '{{name}}' ({'×'.join(map(str, size))}) is larger than its "
                                  f"input ({'×'.join(map(str, spatial))}); use padding 'same', a smaller {what}, "
                                  "or less downsampling before it"),
                           fix_kind="padding_same")
    return None


_DESERIALIZING = re.compile(r"^Error when deserializing class '[^']*' using config=.*?\. Exception encountered: (.*)$")


def _explain(class_name: str, config: dict, shapes: list[Shape], exc: Exception) -> _Result:
    text = _first_sentence(exc)
    refused = _DESERIALIZING.match(" ".join(str(exc).split()))
    if refused:  # Keras refused the settings, before any input: say that, without its dump of them
        return _Result(error=f"'{{name}}' has a setting Keras refuses: {_first_sentence(refused.group(1))}")
    if class_name == "Dense" and shapes and len(shapes[0]) < 2:
        return _Result(error=f"Dense '{{name}}' needs an input with a feature axis, got {format_shape(shapes[0])}")
    got = ", ".join(format_shape(s) for s in shapes)
    return _Result(error=f"'{{name}}' cannot take input {got}: {text}")


def _make_fix(kind: str | None, data: dict, node_id: str) -> Fix | None:
    if kind == "padding_same":
        return Fix("Use padding 'same'", "set_param", node_id, param="padding", value="same")
    if kind == "match_channels":
        rank, channels = data["rank"], data["channels"]
        if rank == 2:
            cls, cfg = "Dense", {"units": channels}
        else:
            n = rank - 2
            cls, cfg = f"Conv{n}D", {"filters": channels, "kernel_size": [1] * n, "padding": "same"}
        return Fix(f"Insert a {cls} with {channels} channels on input {data['port'] + 1}", "insert_before",
                   node_id, data["port"], cls, cfg)
    if kind == "reshape_channels":
        target = [d if d is not None else -1 for d in data["shape"][1:]] + [1]
        return Fix("Insert Reshape adding a channel axis", "insert_before", node_id, 0, "Reshape",
                   {"target_shape": target})
    return None


def apply_fix(graph: ModelGraph, fix: Fix) -> list[str]:
    """Apply a fix to the graph directly; returns the ids of nodes it added.

    The UI wraps the same steps in undoable commands; this is the engine's
    reference behaviour and what the command line uses.
    """
    added: list[str] = []
    node = graph.node(fix.node_id) if fix.node_id else None
    if fix.action == "set_param":
        graph.set_param(node.id, fix.param, fix.value)
    elif fix.action == "insert_before":
        edge = next(e for e in graph.in_edges(node.id) if e.dst_port == fix.port)
        x, y = node.position
        new = graph.add_node(fix.class_name, dict(fix.config or {}), position=(x, y - 60))
        added.append(new.id)
        graph.disconnect(edge)
        graph.connect(edge.src, new.id, 0, edge.src_port)
        graph.connect(new.id, node.id, fix.port, 0)
    elif fix.action == "bypass":
        ins = graph.in_edges(node.id)
        outs = graph.out_edges(node.id)
        graph.remove_node(node.id)
        if ins:
            for e in outs:
                graph.connect(ins[0].src, e.dst, e.dst_port, ins[0].src_port)
    elif fix.action == "add_input":
        if node.spec.is_input or graph.inputs_of(node.id):
            raise GraphError(f"'{node.name}' already has its input")
        x, y = node.position
        new = graph.add_node("InputLayer", position=(x, y - 80))
        added.append(new.id)
        graph.connect(new.id, node.id, 0)
    elif fix.action == "unshare":
        from studio.engine.sharing import make_independent
        make_independent(graph, node.id)
    elif fix.action == "mark_output":
        outputs = graph.model_outputs()
        graph.set_outputs(outputs if node.id in outputs else outputs + [node.id])
    else:
        raise ValueError(f"unknown fix action {fix.action!r}")
    return added
