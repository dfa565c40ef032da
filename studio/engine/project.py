"""The ``.studio`` project file: one JSON document, schema-versioned.

Layout of the file::

    {"format": "layer-studio-project", "schema_version": 1,
     "graph": {"name", "nodes": [{"id", "class_name", "name", "config", "position"}],
               "edges": [[src_id, src_port, dst_id, dst_port]], "outputs": [ids]},
     "dataset": null | {...}, "training": {...},
     "weights": "x.studio.weights-<hash>.h5" | null, "weights_sha256": "<hex>"}

Weights live beside the project in an HDF5 file: the starting weights
(imported or pretrained) as one group per layer, one dataset per weight, and
the weights the last run reached under the group ``@trained``. The file's
name carries a hash of its content and the project records the full hash, so
a project and its weights are one save: the new weights go to a new name, the
project is renamed into place last, and older weights files are removed only
after that. A crash at any moment leaves the previous pair or the new pair,
and a weights file that does not match its project is reported, not used.
Loading validates every field before anything is built and never executes
anything from the file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import stat
import tempfile
import time
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
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")  # what Keras and TF name scopes accept
MAX_WEIGHTS_BYTES = 8 * 1024**3   # declared size of all arrays in a weights file
TRAINED_GROUP = "@trained"        # '@' cannot occur in a layer name

def default_training() -> dict[str, Any]:
    from studio.engine.train.settings import TrainingConfig
    return TrainingConfig().to_dict()


class ProjectError(Exception):
    """A project file that cannot be loaded or saved; the message says why and where."""


@dataclass
class Project:
    """A project as plain data: what the file holds (see :mod:`studio.engine.document`
    for the project in memory, with events)."""

    graph: ModelGraph = field(default_factory=ModelGraph)
    dataset: dict | None = None
    training: dict[str, Any] = field(default_factory=default_training)
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict)          # starting weights, by layer name
    trained_weights: dict[str, list[np.ndarray]] = field(default_factory=dict)  # reached by the last run
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)   # found while loading, for the person

    def current_weights(self) -> dict[str, list[np.ndarray]]:
        """The weights the model has now: trained ones where a run reached them, else the starting ones."""
        return {**self.weights, **self.trained_weights}

    def to_dict(self, weights_ref: str | None = None, weights_sha256: str | None = None) -> dict[str, Any]:
        doc = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "graph": self.graph.to_dict(),
            "dataset": copy.deepcopy(self.dataset),
            "training": copy.deepcopy(self.training),
            "weights": weights_ref,
        }
        if weights_sha256:
            doc["weights_sha256"] = weights_sha256
        return doc

    # -- saving ---------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the project and its weights as one consistent pair (see the module's notes)."""
        path = Path(path)
        if path.is_dir():
            raise ProjectError(f"'{path}' is a folder; give a file name ending in .studio")
        weights_ref = digest = None
        if self.weights or self.trained_weights:
            weights_path, digest = save_weights_for(path, self.weights, self.trained_weights)
            weights_ref = weights_path.name
        text = json.dumps(self.to_dict(weights_ref, digest), indent=1, allow_nan=False)
        atomic_write_text(path, text + "\n")
        remove_stale_files(path, keep=weights_ref)
        self.path = path
        return path


def weights_prefix(project_path: Path) -> str:
    return project_path.name + ".weights"


def save_weights_for(project_path: Path, weights: dict, trained: dict) -> tuple[Path, str]:
    """Write the weights under a new, content-named file beside the project; returns (path, sha256)."""
    directory = project_path.parent if str(project_path.parent) else Path(".")
    with atomic_path(directory / f"{weights_prefix(project_path)}.pending.h5", rename=False) as tmp:
        save_weights(weights, tmp, trained=trained, atomic=False)
        digest = file_sha256(tmp)
        final = directory / f"{weights_prefix(project_path)}-{digest[:16]}.h5"
        try:
            if final.exists() and file_sha256(final) == digest:
                return final, digest
            os.replace(tmp, final)
            _fsync_dir(directory)
        except OSError as exc:
            raise ProjectError(f"could not save '{final}': {exc.strerror or exc}") from None
    return final, digest


def remove_stale_files(project_path: Path, keep: str | None) -> None:
    """After a save: remove weights files the project no longer names, and temporaries that
    an interrupted save left behind (only this project's own)."""
    directory = project_path.parent if str(project_path.parent) else Path(".")
    prefix = weights_prefix(project_path)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        stale_weights = name != keep and re.fullmatch(re.escape(prefix) + r"(-[0-9a-f]{16})?\.h5", name)
        stale_tmp = name.startswith(f".{project_path.name}.") and name.endswith(".tmp")
        if (stale_weights or stale_tmp) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


@contextmanager
def atomic_path(path: str | Path, rename: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success flush it and rename it into place.

    The one way this project writes a file it must not leave half-written.
    The file gets the person's normal permissions (as ``open`` would give it).
    With ``rename=False`` the caller moves the temporary itself (inside the block).
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ProjectError(f"cannot write in folder '{directory}': {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        yield tmp
        if rename:
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


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()


def _write_groups(parent, weights: dict[str, list[np.ndarray]]) -> None:
    for layer_name, arrays in weights.items():
        group = parent.create_group(layer_name.replace("/", "\\"))
        group.attrs["count"] = len(arrays)
        for k, a in enumerate(arrays):
            group.create_dataset(str(k), data=np.asarray(a))


def save_weights(weights: dict[str, list[np.ndarray]], path: str | Path, trained: dict | None = None,
                 atomic: bool = True) -> None:
    """Write starting weights (and, under ``@trained``, the weights a run reached)."""
    import h5py

    def write(target: Path) -> None:
        with h5py.File(target, "w", track_order=True) as f:
            f.attrs["format"] = "layer-studio-weights"
            f.attrs["version"] = 2
            _write_groups(f, weights)
            if trained:
                _write_groups(f.create_group(TRAINED_GROUP), trained)
        with open(target, "rb+") as fh:
            os.fsync(fh.fileno())

    if not atomic:
        write(Path(path))
        return
    with atomic_path(path) as tmp:
        write(tmp)


def _read_groups(parent, path: Path, budget: list[int], uncompressed_limit: int) -> dict[str, list[np.ndarray]]:
    import h5py

    out: dict[str, list[np.ndarray]] = {}
    for layer_name, group in parent.items():
        if layer_name == TRAINED_GROUP:
            continue
        if not isinstance(group, h5py.Group):
            raise ProjectError(f"{path}: entry '{layer_name}' is not a layer group")
        count = group.attrs.get("count", len(group))
        if not isinstance(count, (int, np.integer)) or not 0 <= int(count) <= 10_000:
            raise ProjectError(f"{path}: layer '{layer_name}' declares an impossible number of weights")
        arrays = []
        for k in range(int(count)):
            ds = group.get(str(k))
            if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "fiub":
                raise ProjectError(f"{path}: weight {k} of layer '{layer_name}' is missing or not numeric")
            declared = int(np.prod(ds.shape, dtype=np.float64)) * ds.dtype.itemsize
            budget[0] -= declared
            if budget[0] < 0 or (ds.compression is None and declared > uncompressed_limit):
                raise ProjectError(f"{path}: weight {k} of layer '{layer_name}' declares shape {tuple(ds.shape)} "
                                   f"({declared / 1e9:.1f} GB), more than the file can hold; the file is damaged")
            arrays.append(np.asarray(ds[()]))
        out[layer_name.replace("\\", "/")] = arrays
    return out


def load_weights_pair(path: str | Path) -> tuple[dict[str, list[np.ndarray]], dict[str, list[np.ndarray]]]:
    """Read a weights file: (starting weights, trained weights); only numeric arrays are accepted,
    and the sizes the file declares are checked before anything is read."""
    import h5py

    path = Path(path)
    try:
        if not path.is_file():
            if path.exists():
                raise ProjectError(f"the weights file '{path}' is not a regular file")
            raise FileNotFoundError(path)
        size = path.stat().st_size
        budget = [MAX_WEIGHTS_BYTES]
        with h5py.File(path, "r") as f:
            start = _read_groups(f, path, budget, size)
            trained_group = f.get(TRAINED_GROUP)
            trained = _read_groups(trained_group, path, budget, size) if isinstance(trained_group, h5py.Group) else {}
            return start, trained
    except ProjectError:
        raise
    except FileNotFoundError:
        raise ProjectError(f"the weights file '{path}' is missing") from None
    except Exception as exc:
        raise ProjectError(f"the weights file '{path}' is damaged: {exc}") from None


def load_weights(path: str | Path) -> dict[str, list[np.ndarray]]:
    """The weights a file holds now: trained ones where present, else the starting ones."""
    start, trained = load_weights_pair(path)
    return {**start, **trained}


# -- loading ----------------------------------------------------------------------

def _fail(where: str, what: str) -> ProjectError:
    return ProjectError(f"{where}: {what}")


_PLAIN_JSON = (bool, str)  # exact types json.loads makes that need no further look
# JSON keeps whole numbers exactly within +/-2**53 (a double's mantissa); a file's numbers are
# held to that range where it is read, so nothing later (a float, a size, a count) can overflow
MAX_WHOLE = 2 ** 53


def _number_problem(value: Any, where: str) -> "ProjectError":
    """The message for a number a project may not hold (too large, or not finite)."""
    if isinstance(value, float):
        return _fail(where, "is not a finite number")
    digits = str(abs(value))
    shown = ("-" if value < 0 else "") + (digits if len(digits) <= 20 else f"{digits[:12]}… ({len(digits)} digits)")
    return _fail(where, f"{shown} is too {'large' if value > 0 else 'small'} (whole numbers in a project lie "
                        f"within ±{MAX_WHOLE:,})")


def _plain_number(v: Any) -> bool:
    t = type(v)
    return (t is int and -MAX_WHOLE <= v <= MAX_WHOLE) or (t is float and math.isfinite(v))


def _check_json_value(value: Any, where: str, depth: int = 0) -> None:
    if depth > 32:
        raise _fail(where, "is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, (int, float)):
        if not _plain_number(value):
            raise _number_problem(value, where)
        return
    # the path to a value is spelled out only on the way down into containers and
    # plain values are looked at in place: a large project has one per setting
    if isinstance(value, list):
        for k, v in enumerate(value):
            t = type(v)
            if not (v is None or t in _PLAIN_JSON or (t is int and -MAX_WHOLE <= v <= MAX_WHOLE)):
                _check_json_value(v, f"{where}[{k}]", depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            t = type(v)
            if not (v is None or t in _PLAIN_JSON or (t is int and -MAX_WHOLE <= v <= MAX_WHOLE)):
                _check_json_value(v, f"{where}.{k}", depth + 1)
        return
    raise _fail(where, f"has an unexpected value of type {type(value).__name__}")


def _expect(value: Any, types: tuple, where: str, what: str) -> Any:
    if isinstance(value, bool) and bool not in types:
        raise _fail(where, f"should be {what}")
    if not isinstance(value, types):
        raise _fail(where, f"should be {what}")
    return value


def _node_fields_problem(node: Any, where: str) -> None:
    """Raise the message for a node object whose fields are missing or of the wrong kind."""
    _expect(node, (dict,), where, "an object")
    _expect(node.get("id"), (str,), f"{where} id", "a string")
    _expect(node.get("class_name"), (str,), f"{where} class_name", "a string")
    _expect(node.get("name"), (str,), f"{where} name", "a string")
    _expect(node.get("config"), (dict,), f"{where} ('{node.get('name')}') config", "an object")
    _expect(node.get("position"), (list,), f"{where} position", "a list [x, y]")
    raise _fail(where, "has a field of the wrong kind")  # subclasses of str, dict or list


def _check_header(doc: Any, source: str) -> dict[str, Any]:
    """The document's format, version and graph name; returns its graph object."""
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
    if not MODEL_NAME_RE.match(name):
        raise _fail(f"{source}: graph.name", f"{name[:40]!r} is not a usable model name: use 1 to 100 letters, "
                                             "digits, '_', '-' or '.'")
    nodes = _expect(graph.get("nodes"), (list,), f"{source}: graph.nodes", "a list")
    if len(nodes) > MAX_NODES:
        raise _fail(source, f"has {len(nodes)} nodes, more than the {MAX_NODES} supported")
    _expect(graph.get("edges"), (list,), f"{source}: graph.edges", "a list")
    return graph


class _EntryChecks:
    """Checks of the graph's entries one by one (for ModelGraph.from_dict, which builds as it
    reads: each node's JSON is checked and turned into a node while it is fresh in memory).
    Whether an id is repeated or names no node is looked up in the graph being built; the
    methods for those make the message."""

    def __init__(self, source: str):
        from studio.engine.blocks import BlockError, check_block_config
        from studio.engine.keras_bridge import UnsafeConfigError, check_config_safe
        self.source = source
        self._block, self._safe = check_block_config, check_config_safe
        self._errors = (UnsafeConfigError, BlockError)

    def node(self, k: int, node: Any) -> None:
        source = self.source
        # the usual case is checked without spelling out where each field sits; the
        # message (which names the node and the field) is made only for a bad one
        if type(node) is not dict or not (type(node.get("id")) is str and type(node.get("class_name")) is str
                                          and type(node.get("name")) is str and type(node.get("config")) is dict
                                          and type(node.get("position")) is list):
            _node_fields_problem(node, f"{source}: node {k + 1}")
        if node["class_name"] not in catalog.SPECS:
            raise _fail(f"{source}: node {k + 1}", str(catalog.UnknownLayerError(node["class_name"])))
        config = node["config"]
        _check_json_value(config, f"{source}: node {k + 1} ('{node['name']}') config")
        try:  # these name the node; the file is named once, here
            if node["class_name"] == "Block":
                self._block(config, f"node {k + 1} (block '{node['name']}')")
            else:
                self._safe(config, f"node {k + 1} ('{node['name']}') config")
        except self._errors as exc:
            raise ProjectError(f"{source}: {exc}") from None
        if catalog.CALL_KWARGS in config or catalog.CALL_PORTS in config:
            try:
                catalog.check_call_fields(node["class_name"], config)
            except ValueError as exc:
                raise _fail(f"{source}: node {k + 1} ('{node['name']}') config", str(exc)) from None
        pos = node["position"]
        if len(pos) != 2 or not (_plain_number(pos[0]) and _plain_number(pos[1])):
            where = f"{source}: node {k + 1} ('{node['name']}') position"
            if len(pos) == 2:
                for v in pos:
                    if type(v) in (int, float) and not _plain_number(v):
                        raise _number_problem(v, where)
            raise _fail(where, "should be two finite numbers [x, y]")

    def repeated_id(self, k: int, node_id: str) -> None:
        raise _fail(f"{self.source}: node {k + 1}", f"repeats the id '{node_id}'")

    def edge(self, k: int, edge: Any) -> None:
        if not (type(edge) is list and len(edge) == 4 and type(edge[0]) is str and type(edge[2]) is str
                and all(type(v) is int and 0 <= v < 10_000 for v in (edge[1], edge[3]))):
            raise _fail(f"{self.source}: edge {k + 1}", "should be [source id, source port, target id, target port]")

    def missing_end(self, k: int, end: str) -> None:
        raise _fail(f"{self.source}: edge {k + 1}", f"refers to a node id '{end}' that does not exist")

    def outputs(self, outputs: Any, ids) -> None:
        _expect(outputs, (list,), f"{self.source}: graph.outputs", "a list of node ids")
        for o in outputs:
            if not isinstance(o, str) or o not in ids:
                raise _fail(f"{self.source}: graph.outputs", f"refers to a node id {o!r} that does not exist")


def _check_rest(doc: dict[str, Any], source: str) -> None:
    """Everything but the graph: dataset, training settings, the weights file's name and hash."""
    dataset = doc.get("dataset")
    if dataset is not None:
        _expect(dataset, (dict,), f"{source}: dataset", "an object or null")
        _check_json_value(dataset, f"{source}: dataset")
        from studio.engine.datasets import DatasetError, Preprocess
        try:   # strict types, said at load (the window applies the preprocessing after every edit)
            Preprocess.from_dict(dataset.get("preprocess"))
        except DatasetError as exc:
            raise ProjectError(f"{source}: {exc}") from None
    training = doc.get("training", {})
    _expect(training, (dict,), f"{source}: training", "an object")
    _check_json_value(training, f"{source}: training")
    from studio.engine.train.settings import SettingsError, TrainingConfig
    try:
        TrainingConfig.from_dict(training)
    except SettingsError as exc:
        raise ProjectError(f"{source}: {exc}") from None
    sha = doc.get("weights_sha256")
    if sha is not None and not (isinstance(sha, str) and len(sha) == 64
                                and all(c in "0123456789abcdef" for c in sha)):
        raise _fail(f"{source}: weights_sha256", "should be 64 hexadecimal digits")
    weights = doc.get("weights")
    if weights is not None:
        _expect(weights, (str,), f"{source}: weights", "a file name")
        if Path(weights).name != weights or weights in ("", ".", ".."):
            raise _fail(f"{source}: weights", "must be a file name beside the project, not a path")


def validate_document(doc: Any, source: str = "project") -> dict[str, Any]:
    """Check a parsed project document field by field; returns it unchanged."""
    graph = _check_header(doc, source)
    checks, ids = _EntryChecks(source), set()
    for k, node in enumerate(graph["nodes"]):
        checks.node(k, node)
        if node["id"] in ids:
            checks.repeated_id(k, node["id"])
        ids.add(node["id"])
    for k, edge in enumerate(graph["edges"]):
        checks.edge(k, edge)
        for end in (edge[0], edge[2]):
            if end not in ids:
                checks.missing_end(k, end)
    checks.outputs(graph.get("outputs", []), ids)
    _check_rest(doc, source)
    return doc


def project_from_document(doc: dict[str, Any], source: str = "project", base_dir: Path | None = None) -> Project:
    """A project from a parsed document, checked field by field as it is built."""
    data = _check_header(doc, source)
    try:
        graph = ModelGraph.from_dict(data, owned=True, checks=_EntryChecks(source))
    except GraphError as exc:
        raise ProjectError(f"{source}: {exc}") from None
    _check_rest(doc, source)
    from studio.engine.train.settings import TrainingConfig
    training = TrainingConfig.from_dict(doc.get("training") or {}).to_dict()
    project = Project(graph=graph, dataset=copy.deepcopy(doc.get("dataset")), training=training)
    unknown = TrainingConfig.unknown_fields(doc.get("training"))
    if unknown:  # a newer Layer Studio's setting, or a typo: read on, but say so (saving drops it)
        shown = ", ".join(f"'{_printable_key(k)}'" for k in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        project.warnings.append(f"training has unknown field{'s' if len(unknown) > 1 else ''} {shown}, ignored "
                                f"(and dropped when saved); the known fields are "
                                f"{', '.join(TrainingConfig.known_fields())}")
    if doc.get("weights") and base_dir is not None:
        weights_file = base_dir / doc["weights"]
        expected = doc.get("weights_sha256")
        if not weights_file.exists():  # e.g. a copy of a project whose weights the original replaced
            project.warnings.append(f"the weights file '{doc['weights']}' is missing; every layer starts fresh")
        elif expected and weights_file.is_file() and file_sha256(weights_file) != expected:
            project.warnings.append(f"the weights file '{doc['weights']}' does not match this project (it was "
                                    "changed or replaced after the project was saved); every layer starts fresh")
        else:
            project.weights, project.trained_weights = load_weights_pair(weights_file)
    return project


def load_project(path: str | Path, with_weights: bool = True) -> Project:
    """Read and validate a ``.studio`` file; raises ProjectError with the reason."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ProjectError(f"'{path}' does not exist") from None
    except OSError as exc:
        raise ProjectError(f"cannot read '{path}': {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):  # a folder, a device (/dev/zero), a FIFO (would block forever)
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise ProjectError(f"'{path}' is {what}; open a .studio project file")
    size = st.st_size
    _refuse_other_kinds(path)
    if size > MAX_FILE_BYTES:
        raise ProjectError(f"'{path}' is {size // 1_000_000} MB, too large to be a project file")
    from studio.engine.runtime_gc import paused_collection
    with paused_collection():  # a large project is one burst of allocation, without garbage cycles
        try:
            raw = [path.read_bytes()]
        except OSError as exc:
            raise ProjectError(f"cannot read '{path}': {exc.strerror or exc}") from None
        # handed over, not kept here: the bytes are freed once decoded
        project = load_project_bytes(raw.pop(), str(path), path.parent if with_weights else None)
    project.path = path
    return project


def _refuse_other_kinds(path: Path) -> None:
    """A model or data file given where a project is expected is named for what it is, by its content."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b""):
        return  # a JSON object (or an empty file): the project checks say the rest
    from studio.engine.filekind import describe
    what = describe(path, head)
    if what:
        raise ProjectError(f"'{path}' is {what}")


def parse_json_bytes(raw: bytes, source: str = "project") -> Any:
    """A document's bytes as JSON (UTF-8, no NaN or Infinity, nesting bounded); ProjectError
    names ``source`` and the fault. For project files and run folders' config.json alike."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{source}: not a text file (invalid UTF-8 at byte {exc.start})") from None
    del raw  # a large file is held once at a time: bytes, then text, then objects
    if not text or text.isspace():
        raise ProjectError(f"{source}: the file is empty")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip()) - 1 or not text.rstrip().endswith("}")
        hint = " (the file looks cut off)" if cut else ""
        raise ProjectError(f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{hint}") from None
    except RecursionError:
        raise ProjectError(f"{source}: the JSON is nested too deeply") from None
    except ValueError as exc:
        raise ProjectError(f"{source}: {exc}") from None


def load_project_bytes(raw: bytes, source: str = "project", base_dir: Path | None = None) -> Project:
    return project_from_document(parse_json_bytes(raw, source), source, base_dir)


def _printable_key(key: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in key[:40])


def _reject_constant(name: str):
    raise ValueError(f"the number {name} is not allowed in a project file")
