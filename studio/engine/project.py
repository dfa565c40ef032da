"""The ``.studio`` project file: one JSON document, schema-versioned.

Layout of the file::

    {"format": "layer-studio-project", "schema_version": 1,
     "graph": {"name", "nodes": [{"id", "class_name", "name", "config", "position"}],
               "edges": [[src_id, src_port, dst_id, dst_port]], "outputs": [ids]},
     "dataset": null | {...}, "training": {...}, "weights": "x.studio.weights.h5" | null}

Weights live beside the project in an HDF5 file (one group per layer, one
dataset per weight), referenced by a path relative to the project. Saving
writes to a temporary file, flushes it to disk and renames it over the old
one, so a crash never leaves a half-written project. Loading validates every
field before anything is built and never executes anything from the file.
"""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from studio.engine import catalog
from studio.engine.graph import GraphError, ModelGraph

FORMAT = "layer-studio-project"
SCHEMA_VERSION = 1
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_NODES = 20000

DEFAULT_TRAINING: dict[str, Any] = {
    "optimizer": "adam",
    "learning_rate": 0.001,
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["accuracy"],
    "batch_size": 128,
    "epochs": 5,
    "validation_split": 0.1,
    "shuffle_seed": 42,
}

_TRAINING_TYPES: dict[str, tuple] = {
    "optimizer": (str,), "learning_rate": (int, float), "loss": (str,), "metrics": (list,),
    "batch_size": (int,), "epochs": (int,), "validation_split": (int, float),
    "shuffle_seed": (int, type(None)), "validation": (str,), "early_stopping": (int, type(None)),
    "reduce_lr": (int, type(None)), "keep_best": (bool,), "mixed_precision": (bool,), "device": (str,),
    "momentum": (int, float), "lr_schedule": (str,),
}


class ProjectError(Exception):
    """A project file that cannot be loaded or saved; the message says why and where."""


@dataclass
class Project:
    graph: ModelGraph = field(default_factory=ModelGraph)
    dataset: dict | None = None
    training: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_TRAINING))
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict)
    path: Path | None = None

    def to_dict(self, weights_ref: str | None = None) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "graph": self.graph.to_dict(),
            "dataset": copy.deepcopy(self.dataset),
            "training": copy.deepcopy(self.training),
            "weights": weights_ref,
        }

    # -- saving ---------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the project (and its weights, if any) atomically."""
        path = Path(path)
        weights_ref = None
        if self.weights:
            weights_path = path.with_name(path.name + ".weights.h5")
            save_weights(self.weights, weights_path)
            weights_ref = weights_path.name
        text = json.dumps(self.to_dict(weights_ref), indent=1, allow_nan=False)
        atomic_write_text(path, text + "\n")
        self.path = path
        return path


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it into place."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ProjectError(f"cannot write in folder '{directory}': {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(directory)
    except OSError as exc:
        raise ProjectError(f"could not save '{path}': {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()


def save_weights(weights: dict[str, list[np.ndarray]], path: str | Path) -> None:
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "layer-studio-weights"
            for layer_name, arrays in weights.items():
                group = f.create_group(layer_name.replace("/", "\\"))
                group.attrs["count"] = len(arrays)
                for k, a in enumerate(arrays):
                    group.create_dataset(str(k), data=np.asarray(a))


def load_weights(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Read a weights file; only numeric arrays are accepted."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            out: dict[str, list[np.ndarray]] = {}
            for layer_name, group in f.items():
                if not isinstance(group, h5py.Group):
                    raise ProjectError(f"{path}: entry '{layer_name}' is not a layer group")
                count = int(group.attrs.get("count", len(group)))
                arrays = []
                for k in range(count):
                    ds = group.get(str(k))
                    if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "fiub":
                        raise ProjectError(f"{path}: weight {k} of layer '{layer_name}' is missing or not numeric")
                    arrays.append(np.asarray(ds[()]))
                out[layer_name.replace("\\", "/")] = arrays
            return out
    except ProjectError:
        raise
    except FileNotFoundError:
        raise ProjectError(f"the weights file '{path}' is missing") from None
    except Exception as exc:
        raise ProjectError(f"the weights file '{path}' is damaged: {exc}") from None


# -- loading ----------------------------------------------------------------------

def _fail(where: str, what: str) -> ProjectError:
    return ProjectError(f"{where}: {what}")


def _check_json_value(value: Any, where: str, depth: int = 0) -> None:
    if depth > 32:
        raise _fail(where, "is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(where, "is not a finite number")
        return
    if isinstance(value, list):
        for k, v in enumerate(value):
            _check_json_value(v, f"{where}[{k}]", depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_json_value(v, f"{where}.{k}", depth + 1)
        return
    raise _fail(where, f"has an unexpected value of type {type(value).__name__}")


def _expect(value: Any, types: tuple, where: str, what: str) -> Any:
    if isinstance(value, bool) and bool not in types:
        raise _fail(where, f"should be {what}")
    if not isinstance(value, types):
        raise _fail(where, f"should be {what}")
    return value


def validate_document(doc: Any, source: str = "project") -> dict[str, Any]:
    """Check a parsed project document field by field; returns it unchanged."""
    from studio.engine.keras_bridge import UnsafeConfigError, check_config_safe

    _expect(doc, (dict,), source, "a JSON object")
    if doc.get("format") != FORMAT:
        raise _fail(source, "is not a Layer Studio project (its 'format' field is missing or wrong)")
    version = doc.get("schema_version")
    _expect(version, (int,), f"{source}: schema_version", "a whole number")
    if version > SCHEMA_VERSION:
        raise _fail(source, f"was written by a newer Layer Studio (schema version {version}; this version reads "
                            f"up to {SCHEMA_VERSION}); update Layer Studio to open it")
    if version < 1:
        raise _fail(source, f"has an invalid schema version {version}")
    graph = _expect(doc.get("graph"), (dict,), f"{source}: graph", "an object")
    name = graph.get("name", "model")
    _expect(name, (str,), f"{source}: graph.name", "a string")
    nodes = _expect(graph.get("nodes"), (list,), f"{source}: graph.nodes", "a list")
    if len(nodes) > MAX_NODES:
        raise _fail(source, f"has {len(nodes)} nodes, more than the {MAX_NODES} supported")
    ids: set[str] = set()
    for k, node in enumerate(nodes):
        where = f"{source}: node {k + 1}"
        _expect(node, (dict,), where, "an object")
        node_id = _expect(node.get("id"), (str,), f"{where} id", "a string")
        if node_id in ids:
            raise _fail(where, f"repeats the id '{node_id}'")
        ids.add(node_id)
        cname = _expect(node.get("class_name"), (str,), f"{where} class_name", "a string")
        if cname not in catalog.SPECS:
            raise _fail(where, str(catalog.UnknownLayerError(cname)))
        _expect(node.get("name"), (str,), f"{where} name", "a string")
        config = _expect(node.get("config"), (dict,), f"{where} ('{node.get('name')}') config", "an object")
        _check_json_value(config, f"{where} config")
        try:
            check_config_safe(config, f"{where} ('{node['name']}') config")
        except UnsafeConfigError as exc:
            raise ProjectError(f"{source}: {exc}") from None
        pos = _expect(node.get("position"), (list,), f"{where} position", "a list [x, y]")
        if len(pos) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                    and math.isfinite(v) for v in pos):
            raise _fail(f"{where} position", "should be two finite numbers [x, y]")
    edges = _expect(graph.get("edges"), (list,), f"{source}: graph.edges", "a list")
    for k, edge in enumerate(edges):
        where = f"{source}: edge {k + 1}"
        if not (isinstance(edge, list) and len(edge) == 4 and isinstance(edge[0], str) and isinstance(edge[2], str)
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10_000 for v in (edge[1], edge[3]))):
            raise _fail(where, "should be [source id, source port, target id, target port]")
        for end in (edge[0], edge[2]):
            if end not in ids:
                raise _fail(where, f"refers to a node id '{end}' that does not exist")
    outputs = graph.get("outputs", [])
    _expect(outputs, (list,), f"{source}: graph.outputs", "a list of node ids")
    for o in outputs:
        if not isinstance(o, str) or o not in ids:
            raise _fail(f"{source}: graph.outputs", f"refers to a node id {o!r} that does not exist")
    dataset = doc.get("dataset")
    if dataset is not None:
        _expect(dataset, (dict,), f"{source}: dataset", "an object or null")
        _check_json_value(dataset, f"{source}: dataset")
    training = doc.get("training", {})
    _expect(training, (dict,), f"{source}: training", "an object")
    _check_json_value(training, f"{source}: training")
    for key, types in _TRAINING_TYPES.items():
        if key in training:
            _expect(training[key], types, f"{source}: training.{key}", f"of type {'/'.join(t.__name__ for t in types)}")
    weights = doc.get("weights")
    if weights is not None:
        _expect(weights, (str,), f"{source}: weights", "a file name")
        if Path(weights).name != weights or weights in ("", ".", ".."):
            raise _fail(f"{source}: weights", "must be a file name beside the project, not a path")
    return doc


def project_from_document(doc: dict[str, Any], source: str = "project", base_dir: Path | None = None) -> Project:
    validate_document(doc, source)
    try:
        graph = ModelGraph.from_dict(doc["graph"])
    except GraphError as exc:
        raise ProjectError(f"{source}: {exc}") from None
    training = copy.deepcopy(DEFAULT_TRAINING)
    training.update(doc.get("training") or {})
    project = Project(graph=graph, dataset=copy.deepcopy(doc.get("dataset")), training=training)
    if doc.get("weights") and base_dir is not None:
        project.weights = load_weights(base_dir / doc["weights"])
    return project


def load_project(path: str | Path, with_weights: bool = True) -> Project:
    """Read and validate a ``.studio`` file; raises ProjectError with the reason."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ProjectError(f"'{path}' does not exist") from None
    except OSError as exc:
        raise ProjectError(f"cannot read '{path}': {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise ProjectError(f"'{path}' is {size // 1_000_000} MB, too large to be a project file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProjectError(f"cannot read '{path}': {exc.strerror or exc}") from None
    project = load_project_bytes(raw, str(path), path.parent if with_weights else None)
    project.path = path
    return project


def load_project_bytes(raw: bytes, source: str = "project", base_dir: Path | None = None) -> Project:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{source}: not a text file (invalid UTF-8 at byte {exc.start})") from None
    if not text.strip():
        raise ProjectError(f"{source}: the file is empty")
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        hint = " (the file looks cut off)" if exc.pos >= len(text.rstrip()) - 1 else ""
        raise ProjectError(f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{hint}") from None
    except RecursionError:
        raise ProjectError(f"{source}: the JSON is nested too deeply") from None
    except ValueError as exc:
        raise ProjectError(f"{source}: {exc}") from None
    return project_from_document(doc, source, base_dir)


def _reject_constant(name: str):
    raise ValueError(f"the number {name} is not allowed in a project file")
