"""What changed between two runs: the layers added, removed or changed (which
parameters, which inputs), and the training settings, from each run folder's
``config.json`` snapshot. Plain data in, plain data out; nothing is built.

Layers are matched by node id (a project keeps its ids across edits), then by
name and type for what is left (the same model rebuilt or imported again). A
layer whose type changed counts as removed and added. A parameter one config
leaves out counts as its Keras default, so a sparse config and a full one that
mean the same thing show no change.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.engine.errors import BAD_INPUT, StudioError

MAX_CONFIG_BYTES = 16 * 1024 * 1024
_MISSING = object()


class RunDiffError(StudioError, ValueError):
    """A run whose snapshot cannot be read: which run, and why."""

    exit_code = BAD_INPUT


@dataclass(frozen=True)
class Change:
    """One value that differs: a layer parameter, its inputs, or a training setting."""

    key: str
    old: Any
    new: Any

    def text(self) -> str:
        return f"{self.key}: {_show(self.old)} → {_show(self.new)}"


@dataclass(frozen=True)
class NodeChange:
    kind: str                 # "added" | "removed" | "changed"
    name: str                 # the layer's name (in the newer run; in the older one when removed)
    class_name: str
    old_id: str | None        # the node in the older run's graph (None when added)
    new_id: str | None        # the node in the newer run's graph (None when removed)
    changes: tuple[Change, ...] = ()

    def text(self) -> str:
        head = {"added": "+", "removed": "−", "changed": "~"}[self.kind] + f" {self.name} ({self.class_name})"
        if self.kind == "changed":
            return head + ": " + "; ".join(c.text() for c in self.changes)
        return head + (" added" if self.kind == "added" else " removed")


@dataclass
class RunDiff:
    """From the older run (``a``) to the newer one (``b``)."""

    nodes: list[NodeChange] = field(default_factory=list)
    training: list[Change] = field(default_factory=list)
    outputs: Change | None = None

    def of_kind(self, kind: str) -> list[NodeChange]:
        return [n for n in self.nodes if n.kind == kind]

    @property
    def added(self) -> list[NodeChange]:
        return self.of_kind("added")

    @property
    def removed(self) -> list[NodeChange]:
        return self.of_kind("removed")

    @property
    def changed(self) -> list[NodeChange]:
        return self.of_kind("changed")

    @property
    def same_architecture(self) -> bool:
        return not self.nodes and self.outputs is None

    def lines(self) -> list[str]:
        """The difference in words, one line per layer or setting."""
        out = [n.text() for n in self.nodes]
        if self.outputs is not None:
            out.append("outputs: " + f"{_show(self.outputs.old)} → {_show(self.outputs.new)}")
        if not out:
            out.append("same architecture")
        out.extend("training " + c.text() for c in self.training)
        return out


def _show(value: Any) -> str:
    if value is _MISSING:
        return "–"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        if "class_name" in value:
            return str(value.get("class_name"))
        text = json.dumps(value, sort_keys=True, default=str)
        return text if len(text) <= 60 else text[:57] + "…"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _plain(value: Any) -> Any:
    """Lists and tuples compare equal; registered names and module paths are left out."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in ("registered_name", "module")}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _defaults(class_name: str) -> dict[str, Any]:
    """The catalog's (Keras's) defaults, when Keras is already loaded (nothing is imported for this)."""
    if "keras" not in sys.modules:
        return {}
    try:
        from studio.engine import catalog
        return {p.name: p.default for p in catalog.params(class_name)}
    except Exception:
        return {}


_IGNORED = {"name"}   # compared on its own


def config_changes(class_name: str, old: dict, new: dict) -> list[Change]:
    """Parameters that differ between two configs of the same layer type."""
    defaults = _defaults(class_name)
    out = []
    for key in sorted(set(old) | set(new)):
        if key in _IGNORED:
            continue
        a = old.get(key, defaults.get(key, _MISSING))
        b = new.get(key, defaults.get(key, _MISSING))
        if _plain(a) != _plain(b):
            out.append(Change(key, a, b))
    return out


def _nodes(graph: dict, where: str) -> dict[str, dict]:
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if not isinstance(nodes, list):
        raise RunDiffError(f"{where}: the snapshot has no list of layers")
    out = {}
    for n in nodes:
        if not isinstance(n, dict) or not isinstance(n.get("id"), str) or not isinstance(n.get("name"), str) \
                or not isinstance(n.get("class_name"), str):
            raise RunDiffError(f"{where}: a layer in the snapshot has no id, name or type")
        out[n["id"]] = n
    return out


def _inputs(graph: dict, nodes: dict[str, dict]) -> dict[str, list[str]]:
    """Node id -> the names of what feeds each of its inputs, in port order."""
    ports: dict[str, dict[int, str]] = {}
    for e in graph.get("edges") or []:
        try:
            src, src_port, dst, dst_port = e
            name = nodes[src]["name"] + (f":{src_port}" if src_port else "")
            ports.setdefault(dst, {})[int(dst_port)] = name
        except (ValueError, TypeError, KeyError):
            continue
    return {i: [p[k] for k in sorted(p)] for i, p in ports.items()}


def diff_graphs(a: dict, b: dict, where: tuple[str, str] = ("the older run", "the newer run")) -> RunDiff:
    """The layers added, removed and changed from graph ``a`` to graph ``b`` (``to_dict`` form)."""
    old, new = _nodes(a, where[0]), _nodes(b, where[1])
    pairs: dict[str, str] = {}   # old id -> new id
    for i, n in old.items():
        m = new.get(i)
        if m is not None and m["class_name"] == n["class_name"]:
            pairs[i] = i
    taken = set(pairs.values())
    by_name = {(m["name"], m["class_name"]): j for j, m in new.items() if j not in taken}
    for i, n in old.items():
        if i not in pairs:
            j = by_name.pop((n["name"], n["class_name"]), None)
            if j is not None:
                pairs[i] = j
    matched_new = set(pairs.values())
    inputs_a, inputs_b = _inputs(a, old), _inputs(b, new)
    diff = RunDiff()
    for j, m in new.items():   # in the newer run's order
        i = next((k for k, v in pairs.items() if v == j), None)
        if j not in matched_new:
            diff.nodes.append(NodeChange("added", m["name"], m["class_name"], None, j))
            continue
        n = old[i]
        changes = config_changes(m["class_name"], n.get("config") or {}, m.get("config") or {})
        if n["name"] != m["name"]:
            changes.insert(0, Change("name", n["name"], m["name"]))
        if inputs_a.get(i, []) != inputs_b.get(j, []):
            changes.append(Change("inputs", inputs_a.get(i, []), inputs_b.get(j, [])))
        if changes:
            diff.nodes.append(NodeChange("changed", m["name"], m["class_name"], i, j, tuple(changes)))
    for i, n in old.items():
        if i not in pairs:
            diff.nodes.append(NodeChange("removed", n["name"], n["class_name"], i, None))
    outs_a = [old[i]["name"] for i in a.get("outputs") or [] if i in old]
    outs_b = [new[i]["name"] for i in b.get("outputs") or [] if i in new]
    if outs_a != outs_b:
        diff.outputs = Change("outputs", outs_a, outs_b)
    return diff


def diff_settings(a: dict | None, b: dict | None) -> list[Change]:
    a, b = a or {}, b or {}
    return [Change(k, a.get(k, _MISSING), b.get(k, _MISSING)) for k in sorted(set(a) | set(b))
            if _plain(a.get(k, _MISSING)) != _plain(b.get(k, _MISSING))]


def read_run_config(run_path: str | Path) -> dict:
    """A run folder's config.json (bounded read); RunDiffError names the run and the fault."""
    path = Path(run_path) / "config.json"
    run = Path(run_path).name
    try:
        found = path.is_file()
        size = path.stat().st_size if found else 0
    except OSError:
        found, size = False, 0
    if not found:
        raise RunDiffError(f"run '{run}' has no config.json, so its model is not known")
    if size > MAX_CONFIG_BYTES:
        raise RunDiffError(f"run '{run}': config.json is larger than {MAX_CONFIG_BYTES // 2 ** 20} MB")
    from studio.engine.project import ProjectError, parse_json_bytes
    try:  # parsed as project files are: nesting bounded, no NaN
        data = parse_json_bytes(path.read_bytes(), f"run '{run}': config.json")
    except OSError as exc:
        raise RunDiffError(f"run '{run}': config.json could not be read ({exc.strerror})") from None
    except ProjectError as exc:
        raise RunDiffError(str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("graph"), dict):
        raise RunDiffError(f"run '{run}': config.json holds no model graph")
    return data


def diff_runs(older: str | Path, newer: str | Path) -> RunDiff:
    """What changed from the run folder ``older`` to ``newer`` (architecture and settings)."""
    a, b = read_run_config(older), read_run_config(newer)
    diff = diff_graphs(a["graph"], b["graph"], (f"run '{Path(older).name}'", f"run '{Path(newer).name}'"))
    diff.training = diff_settings(a.get("training"), b.get("training"))
    return diff
