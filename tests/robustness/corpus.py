"""A generated corpus of hostile and broken inputs, each with its expected outcome.

``build(folder)`` writes every input file under ``folder`` and returns the
cases: the command line to run, the exit code and a phrase the one-line
message must hold, and post-conditions (an input left unchanged, a marker
file never created, Keras's process-wide settings untouched, generated code
that holds only the expected statements).

Run it by hand::

    python -m tests.robustness.corpus /tmp/corpus        # writes /tmp/corpus/cases.json
    python -m tests.robustness.runner /tmp/corpus/cases.json
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import sys
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FAMILIES = ("project", "keras", "dataset", "cli")


@dataclass
class Case:
    id: str
    family: str
    argv: list[str]
    code: int                       # expected exit code
    phrase: str                     # the output must hold this (alternatives separated by '|')
    env: dict = field(default_factory=dict)        # set for the case; None values unset a variable
    checks: list = field(default_factory=list)     # post-conditions, see runner.post_check
    timeout: float = 60.0
    cost: float = 1.0               # rough seconds, for balancing batches
    known_issue: str = ""           # an open bug elsewhere: reported as an expected failure until fixed


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- builders -----------------------------------------------------------------------

def _graph_doc(name="model", input_shape=(8,), units=3, nodes_extra=None):
    """A small valid project document: Input -> Dense(relu) -> Dense(softmax)."""
    nodes = [
        {"id": "n1", "class_name": "InputLayer", "name": "input", "config": {"shape": list(input_shape)},
         "position": [0, 0]},
        {"id": "n2", "class_name": "Flatten", "name": "flatten", "config": {}, "position": [0, 100]},
        {"id": "n3", "class_name": "Dense", "name": "hidden", "config": {"units": 4, "activation": "relu"},
         "position": [0, 200]},
        {"id": "n4", "class_name": "Dense", "name": "out", "config": {"units": units, "activation": "softmax"},
         "position": [0, 300]},
    ]
    return {"format": "layer-studio-project", "schema_version": 1,
            "graph": {"name": name, "nodes": nodes,
                      "edges": [["n1", 0, "n2", 0], ["n2", 0, "n3", 0], ["n3", 0, "n4", 0]],
                      "outputs": ["n4"]},
            "dataset": None, "training": {"batch_size": 4, "epochs": 1}, "weights": None}


def _write_json(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


def _mutated(base: dict, fn) -> dict:
    doc = json.loads(json.dumps(base))
    fn(doc)
    return doc


def _npz(path: Path, **arrays) -> Path:
    base = dict(x_train=np.random.RandomState(0).rand(12, 8).astype("float32"), y_train=np.arange(12) % 3,
                x_test=np.random.RandomState(1).rand(6, 8).astype("float32"), y_test=np.arange(6) % 3)
    base.update(arrays)
    with open(path, "wb") as f:
        np.savez(f, **base)
    return path


def _npy_bytes(shape, dtype="<f8", data=b"") -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": tuple(shape)}).encode("latin1")
    header += b" " * (64 - (10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def _idx_bytes(data: np.ndarray) -> bytes:
    return bytes([0, 0, 8, data.ndim]) + struct.pack(f">{data.ndim}I", *data.shape) + data.astype("uint8").tobytes()


def _png(h=6, w=6, value=100) -> bytes:
    import zlib
    raw = b"".join(b"\x00" + bytes([value]) * (w * 3) for _ in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _keras_model(path: Path) -> Path:
    import keras
    inp = keras.Input((8,), name="x")
    out = keras.layers.Dense(3, activation="softmax", name="dense")(inp)
    keras.Model(inp, out, name="small").save(path)
    return path


def _rewrite_keras(src: Path, dst: Path, config=None, files=None, compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if config is not None:
        members["config.json"] = config if isinstance(config, bytes) else json.dumps(config).encode()
    for name, data in (files or {}).items():
        if data is None:
            members.pop(name, None)
        else:
            members[name] = data
    with zipfile.ZipFile(dst, "w", compression) as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return dst


def encrypted_zip(data: bytes) -> bytes:
    """The same zip with the "encrypted" flag set in every local and central header."""
    data = bytearray(data)
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        while at >= 0:
            data[at + flag_at] |= 0x01
            at = data.find(sig, at + 4)
    return bytes(data)


def _h5_bytes(folder: Path, build) -> bytes:
    import h5py
    tmp = folder / "_tmp.h5"
    with h5py.File(tmp, "w") as f:
        build(f)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


# -- the corpus ------------------------------------------------------------------------

def build(folder: str | Path) -> list[Case]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    cases += _project_cases(folder / "project")
    cases += _keras_cases(folder / "keras")
    cases += _dataset_cases(folder / "dataset")
    cases += _cli_cases(folder / "cli")
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


def _project_cases(d: Path) -> list[Case]:
    d.mkdir(parents=True, exist_ok=True)
    base = _graph_doc()
    cases = []

    def case(name, doc_or_bytes, code, phrase, cmd="check", extra=(), checks=(), cost=1.0):
        path = d / f"{name}.studio"
        if isinstance(doc_or_bytes, (bytes, bytearray)):
            path.write_bytes(doc_or_bytes)
        elif isinstance(doc_or_bytes, str):
            path.write_text(doc_or_bytes)
        else:
            _write_json(path, doc_or_bytes)
        cases.append(Case(f"project/{name}", "project", [cmd, str(path), *extra], code, phrase,
                          checks=list(checks), cost=cost))
        return path

    def node_config(**changes):
        return _mutated(base, lambda doc: doc["graph"]["nodes"][2]["config"].update(changes))

    case("valid", base, 0, "no errors")
    case("truncated", json.dumps(base)[:200], 2, "not valid JSON")
    case("empty", b"", 2, "the file is empty")
    case("binary", bytes(range(256)) * 4, 2, "not a text file")
    case("json-array", "[1, 2, 3]", 2, "a JSON object")
    case("json-string", '"layer-studio-project"', 2, "a JSON object")
    case("wrong-format", _mutated(base, lambda doc: doc.update(format="other")), 2, "not a Layer Studio project")
    case("newer-schema", _mutated(base, lambda doc: doc.update(schema_version=99)), 2, "newer Layer Studio")
    case("schema-string", _mutated(base, lambda doc: doc.update(schema_version="1")), 2, "schema_version")
    case("deep-nesting", "[" * 100_000 + "]" * 100_000, 2, "nested too deeply")
    case("nan-constant", json.dumps(base).replace('"units": 4', '"units": NaN'), 2, "NaN is not allowed")
    case("graph-not-object", _mutated(base, lambda doc: doc.update(graph=[1])), 2, "graph")
    case("nodes-not-list", _mutated(base, lambda doc: doc["graph"].update(nodes="n1")), 2, "graph.nodes")
    case("node-not-object", _mutated(base, lambda doc: doc["graph"]["nodes"].append("x")), 2, "node 5")
    case("unknown-layer", _mutated(base, lambda doc: doc["graph"]["nodes"][2].update(class_name="Lambda")), 2,
         "'Lambda' is not in the Layer Studio catalog")
    case("layer-name-bad", _mutated(base, lambda doc: doc["graph"]["nodes"][2].update(name="a b\nc")), 2,
         "not a valid layer name")
    case("duplicate-id", _mutated(base, lambda doc: doc["graph"]["nodes"][1].update(id="n1")), 2, "repeats the id")
    case("edge-to-nowhere", _mutated(base, lambda doc: doc["graph"]["edges"].append(["n4", 0, "n99", 0])), 2,
         "does not exist")
    case("edge-malformed", _mutated(base, lambda doc: doc["graph"]["edges"].append(["n4", -1])), 2, "edge 4")

    def as_block(inside: dict) -> dict:  # node 3 becomes a block holding ``inside``
        return _mutated(base, lambda doc: doc["graph"]["nodes"][2].update(class_name="Block", config=inside))

    inner = {"nodes": [{"id": "i1", "class_name": "InputLayer", "name": "bi", "config": {"shape": [4]},
                        "position": [0, 0]},
                       {"id": "i2", "class_name": "Dense", "name": "bd", "config": {"units": 4},
                        "position": [0, 1]}], "edges": [["i1", 0, "i2", 0]], "outputs": ["i2"]}
    case("block-lambda-inside", as_block({"kind": "functional", "graph": {**inner, "nodes": inner["nodes"] + [
        {"id": "i3", "class_name": "Lambda", "name": "evil", "config": {}, "position": [0, 2]}]}}), 2, "Lambda")
    case("block-eval-activation", as_block({"kind": "sequential", "graph": {**inner, "nodes": [inner["nodes"][0], {
        **inner["nodes"][1], "config": {"units": 4, "activation": {"module": "builtins", "class_name": "eval"}}}]}}),
         2, "builtins")
    case("block-bad-kind", as_block({"kind": "subclassed", "graph": inner}), 2, "kind should be")
    deep = {"kind": "functional", "graph": inner}
    for _ in range(12):
        deep = {"kind": "functional", "graph": {"nodes": [inner["nodes"][0], {"id": "b", "class_name": "Block",
                "name": "b", "config": deep, "position": [0, 1]}], "edges": [["i1", 0, "b", 0]], "outputs": ["b"]}}
    case("block-nested-too-deep", as_block(deep), 2, "nested too deeply")
    case("shares-missing-layer", _mutated(
        base, lambda doc: doc["graph"]["nodes"][2].update(config={"shares": "n99"})), 1, "no longer in the model")
    case("op-unknown-setting", _mutated(base, lambda doc: doc["graph"]["nodes"][2].update(
        class_name="ops.Add", config={"x2": 3.0, "code": "print(1)"})), 1, "errors found")
    case("fine-tune-bad-epochs", _mutated(base, lambda doc: doc.setdefault("training", {}).update(
        fine_tune={"unfreeze_from": "d1", "epochs": -3})), 2, "fine_tune")

    case("weights-traversal", _mutated(base, lambda doc: doc.update(weights="../../etc/passwd")), 2,
         "file name beside the project")
    case("activation-set-epsilon", node_config(activation={"module": "keras.config", "class_name": "set_epsilon"}),
         2, "keras.config.set_epsilon", checks=["keras_settings"])
    case("activation-unknown-name", node_config(activation="set_epsilon"), 2, "not an activation Keras knows")
    case("initializer-os-system", node_config(kernel_initializer={
        "module": "os", "class_name": "system", "config": {"command": "touch PWNED"}}), 2, "module 'os'")
    case("initializer-set-floatx", node_config(kernel_initializer={
        "module": "keras.config", "class_name": "set_floatx", "config": {"value": "float16"}}), 2,
         "keras.config.set_floatx", checks=["keras_settings"])
    case("registered-builtins-eval", node_config(kernel_initializer={
        "module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": "builtins>eval"}),
         2, "'builtins>eval'")
    case("registered-bare", node_config(bias_initializer={"registered_name": "builtins>exec"}), 2,
         "'builtins>exec'")
    case("lambda-activation", node_config(activation={"module": "keras.layers", "class_name": "__lambda__",
                                                      "config": {"code": "open('PWNED','w')"}}),
         2, "would run code")
    case("regularizer-nested-call", node_config(kernel_regularizer={
        "module": "keras.regularizers", "class_name": "L2", "config": {"l2": {"module": "keras.ops",
                                                                            "class_name": "exp"}}}),
         2, "not allowed here")
    case("dtype-quantized", node_config(dtype={"module": "keras", "class_name": "QuantizedDTypePolicy",
                                               "config": {"name": "int8_from_float32"}}), 2, "dtype policy")
    case("config-key-injection", node_config(**{"x=__import__('os').system('id'),y": 1}), 2,
         "is not a valid Python name", cmd="codegen")
    case("training-batch-zero", _mutated(base, lambda doc: doc["training"].update(batch_size=0)), 2,
         "training.batch_size")
    case("training-device", _mutated(base, lambda doc: doc["training"].update(device="gpu:abc")), 2,
         "training.device")
    case("training-loss-eval", _mutated(base, lambda doc: doc["training"].update(loss="builtins>eval")), 2,
         "training.loss")
    case("training-metric-object", _mutated(base, lambda doc: doc["training"].update(
        metrics=[{"module": "keras.config", "class_name": "set_epsilon"}])), 2, "training.metrics")
    case("training-split", _mutated(base, lambda doc: doc["training"].update(validation_split=1.5)), 2,
         "training.validation_split")
    big = d / "too-large.studio"
    with open(big, "wb") as f:
        f.truncate(70 * 1024 * 1024)  # sparse: no disk used
    cases.append(Case("project/too-large", "project", ["check", str(big)], 2, "too large"))
    (d / "a-folder.studio").mkdir(exist_ok=True)
    cases.append(Case("project/is-a-folder", "project", ["check", str(d / "a-folder.studio")], 2, "is a folder"))
    cases.append(Case("project/dev-zero", "project", ["check", "/dev/zero"], 2, "not a regular file"))
    fifo = d / "fifo.studio"
    if not fifo.exists():
        os.mkfifo(fifo)
    cases.append(Case("project/fifo", "project", ["check", str(fifo)], 2, "not a regular file", timeout=20))
    cases.append(Case("project/missing", "project", ["check", str(d / "nope.studio")], 2, "does not exist"))

    # numbers beyond what JSON keeps exactly are refused where the file is read, naming the field,
    # so nothing later (a float conversion, a size, a parameter count) overflows
    huge = "1" + "0" * 400
    plain = json.dumps(base)
    case("huge-position", plain.replace('"position": [0, 100]', f'"position": [{huge}, 0]'), 2,
         "node 2 ('flatten') position: 100000000000… (401 digits) is too large")
    case("huge-units", plain.replace('"units": 4', f'"units": {huge}'), 2,
         "node 3 ('hidden') config.units: 100000000000… (401 digits) is too large")
    case("huge-negative-units", plain.replace('"units": 4', f'"units": -{huge}'), 2,
         "config.units: -100000000000… (401 digits) is too small")
    case("huge-fine-tune-rate", plain.replace('"epochs": 1}', '"epochs": 1, "fine_tune": {"unfreeze_from": '
                                              f'"hidden", "epochs": 1, "learning_rate": {huge}}}}}'), 2,
         "training.fine_tune.learning_rate: 100000000000… (401 digits) is too large")
    case("huge-op-constant", json.dumps(_mutated(base, lambda doc: doc["graph"]["nodes"][2].update(
        class_name="ops.Add", config={"x2": 7}))).replace('"x2": 7', f'"x2": {huge}'), 2,
         "node 3 ('hidden') config.x2: 100000000000… (401 digits) is too large")
    case("huge-block-position", json.dumps(as_block({"kind": "functional", "graph": {**inner, "nodes": [
        inner["nodes"][0], {**inner["nodes"][1], "position": [7777, 1]}]}})).replace("7777", huge), 2,
         "config.graph.nodes[1].position[0]: 100000000000… (401 digits) is too large")
    case("units-true", node_config(units=True), 1, "setting 'units' should be a whole number, not true")
    case("training-unknown-field", _mutated(base, lambda doc: doc["training"].update(evil="x")), 0,
         "training has unknown field 'evil', ignored")
    # saved weights that no longer fit their layer: check warns, naming the layer and both shapes
    # (train starts it fresh; evaluate and export refuse)

    def unfit(f):
        g = f.create_group("hidden")
        g.attrs["count"] = 2
        g.create_dataset("0", data=np.ones((3, 3), "float32"))
        g.create_dataset("1", data=np.ones(7, "float32"))
    unfit_file = "unfit-weights.studio.weights-0000000000000000.h5"
    (d / unfit_file).write_bytes(_h5_bytes(d, unfit))
    case("unfit-weights", _mutated(base, lambda doc: doc.update(weights=unfit_file)), 0,
         "warning: the saved weights of 'hidden' do not fit the layer any more (shapes [(3, 3), (7,)], "
         "the layer needs [(8, 4), (4,)])")
    # check says what train would refuse: a fine-tuning stage that names an Input, or no layer at all
    case("fine-tune-from-input", _mutated(base, lambda doc: doc["training"].update(
        fine_tune={"unfreeze_from": "input", "epochs": 1})), 1,
         "error: training.fine_tune.unfreeze_from names 'input', which is an Input")
    case("fine-tune-from-deep-path", _mutated(base, lambda doc: doc["training"].update(
        fine_tune={"unfreeze_from": "a › b › c › d", "epochs": 1})), 1,
         "error: training.fine_tune.unfreeze_from is 'a › b › c › d'; name a block's layer")
    # code and exports are made only from a project that checks clean
    for name, config in (("shares-itself", {"shares": "n3"}), ("negative-units", {"units": -4})):
        broken = case(f"codegen-{name}", _mutated(base, lambda doc: doc["graph"]["nodes"][2].update(
            config=config)), 2, "so no code was written; the first: 'hidden'", cmd="codegen",
            extra=["-o", str(d / f"codegen-{name}.py")], checks=[f"absent:{d / f'codegen-{name}.py'}"])
    cases.append(Case("project/export-negative-units", "project",
                      ["export", str(broken), "--format", "keras", "-o", str(d / "negative-units.keras")], 2,
                      "so nothing was exported", checks=[f"absent:{d / 'negative-units.keras'}"]))
    # each message names the file once
    epsilon = {"module": "keras.config", "class_name": "set_epsilon"}
    once = d / "op-set-epsilon.studio"
    case("op-set-epsilon", _mutated(base, lambda doc: doc["graph"]["nodes"][2].update(
        class_name="ops.Add", config={"x2": epsilon})), 2, f"error: {once}: node 3 ('hidden') config.x2 holds",
         checks=["keras_settings"])
    # a run folder's config.json is read as a project file is
    import h5py

    def run_case(name, text, phrase):
        run = d / f"run-{name}"
        run.mkdir(exist_ok=True)
        (run / "config.json").write_text(text)
        h5py.File(run / "weights_best.h5", "w").close()
        cases.append(Case(f"project/run-{name}", "project", ["evaluate", str(d / "valid.studio"), "--run", str(run),
                                                              "--dataset", "sample"], 2,
                          phrase.replace("CONFIG", str(run / "config.json")), checks=["keras_settings"]))
    run_case("config-deep", "[" * 200_000 + "]" * 200_000, "config.json ('CONFIG'): the JSON is nested too deeply")
    run_case("config-no-training", json.dumps({"graph": base["graph"]}), "training is missing")
    run_case("config-set-epsilon", json.dumps({"graph": _mutated(base, lambda doc: doc["graph"]["nodes"][2].update(
        class_name="ops.Add", config={"x2": epsilon}))["graph"], "training": {}}),
        "error: the run's config.json ('CONFIG'): node 3 ('hidden') config.x2 holds")
    run_case("config-huge-units", json.dumps({"graph": base["graph"], "training": {}}).replace(
        '"units": 4', f'"units": {huge}'), "config.units: 100000000000… (401 digits) is too large")

    # the reported attack: a model name that closes the docstring. Such a name is refused when
    # the file is read (Keras and TensorFlow's name scopes cannot use it either), so nothing is written.
    attack = 'x"""\nopen(__file__ + ".PWNED", "w").write("ran")\n"""'
    name_attack = case("name-docstring-attack", _graph_doc(name=attack), 2, "is not a usable model name")
    out = d / "attack_model.py"
    cases.append(Case("project/name-attack-codegen", "project", ["codegen", str(name_attack), "-o", str(out)], 2,
                      "is not a usable model name", checks=[f"absent:{out}", f"absent:{out}.PWNED"]))
    export_dir = d / "attack_export"
    cases.append(Case("project/name-attack-export-python", "project",
                      ["export", str(name_attack), "--format", "python", "-o", str(export_dir)], 2,
                      "is not a usable model name", checks=[f"absent:{export_dir}"]))
    node_attack = _mutated(base, lambda doc: doc["graph"]["nodes"][3]["config"].update(
        {"name": "x'); open('PWNED', 'w'); ('"}))
    node_path = case("node-config-name-attack", node_attack, 0, "no errors")
    out2 = d / "attack_model2.py"
    cases.append(Case("project/node-config-attack-codegen", "project", ["codegen", str(node_path), "-o", str(out2)],
                      0, "wrote", checks=[f"code_inert:{out2}"]))
    return cases


def _keras_cases(d: Path) -> list[Case]:
    d.mkdir(parents=True, exist_ok=True)
    good = _keras_model(d / "good.keras")
    with zipfile.ZipFile(good) as zf:
        config = json.loads(zf.read("config.json"))
    cases = []

    def case(name, path, code, phrase, checks=(), out=None):
        out = out or d / f"{name}.out.studio"
        cases.append(Case(f"keras/{name}", "keras", ["import", str(path), "-o", str(out)], code, phrase,
                          checks=list(checks) + ([f"absent:{out}"] if code else [])))

    def with_config(name, fn):
        return _rewrite_keras(good, d / f"{name}.keras", config=_mutated(config, fn))

    def dense(doc):
        return [layer for layer in doc["config"]["layers"] if layer["class_name"] == "Dense"][0]["config"]

    case("valid", good, 0, "imported 2 layers")
    (d / "not-a-zip.keras").write_bytes(b"PK\x03\x04 but not really a zip file")
    case("not-a-zip", d / "not-a-zip.keras", 2, "not a valid .keras file")
    (d / "truncated.keras").write_bytes(good.read_bytes()[:300])
    case("truncated", d / "truncated.keras", 2, "not a valid .keras file")
    case("no-config", _rewrite_keras(good, d / "no-config.keras", files={"config.json": None}), 2, "no config.json")
    case("config-bomb", _rewrite_keras(good, d / "config-bomb.keras", config=b"[" + b" " * (100 * 2**20) + b"]",
                                       compression=zipfile.ZIP_DEFLATED), 2, "config.json inflates to")
    case("asset-bomb", _rewrite_keras(good, d / "asset-bomb.keras", files={"assets/big.bin": bytes(100 * 2**20)},
                                      compression=zipfile.ZIP_DEFLATED), 2, "decompression bomb")
    case("config-list", _rewrite_keras(good, d / "config-list.keras", config=[config]), 2, "holds a list")
    case("config-not-json", _rewrite_keras(good, d / "config-not-json.keras", config=b"{'a': 1"), 2,
         "not a valid .keras file")
    case("config-deep", _rewrite_keras(good, d / "config-deep.keras", config=b"[" * 100_000 + b"]" * 100_000), 2,
         "nested too deeply")
    case("layers-strings", with_config("layers-strings", lambda c: c["config"].update(layers=["a", "b"])), 2,
         "is not a layer description")
    case("config-inner-string", with_config("config-inner-string", lambda c: c.update(config="x")), 2,
         "config is not an object")
    case("class-lambda-model", with_config("class-lambda-model", lambda c: c.update(class_name="Lambda")), 2,
         "not a Functional or Sequential model")
    marker = d / "LAMBDA_RAN"

    def make_lambda(c):
        layer = c["config"]["layers"][1]
        layer["class_name"] = "Lambda"
        layer["config"]["function"] = {"class_name": "__lambda__", "config": {
            "code": f"open({str(marker)!r}, 'w').write('ran')", "defaults": None, "closure": None}}
    case("lambda-layer", with_config("lambda-layer", make_lambda), 2, "is of type 'Lambda'",
         checks=[f"absent:{marker}"])
    case("custom-layer", with_config("custom-layer", lambda c: c["config"]["layers"][1].update(
        class_name="Twice", module="evil", registered_name="evil>Twice")), 2, "is of type 'Twice'")
    case("nested-model", with_config("nested-model", lambda c: c["config"]["layers"][1].update(
        class_name="Functional")), 2, "nested")
    case("activation-set-epsilon", with_config("activation-set-epsilon", lambda c: dense(c).update(
        activation={"module": "keras.config", "class_name": "set_epsilon"})), 2, "keras.config.set_epsilon",
        checks=["keras_settings"])
    case("initializer-registered-eval", with_config("initializer-registered-eval", lambda c: dense(c).update(
        kernel_initializer={"module": "keras.initializers", "class_name": "GlorotUniform", "config": {},
                            "registered_name": "builtins>eval"})), 2, "'builtins>eval'")
    case("dtype-policy-bogus", with_config("dtype-policy-bogus", lambda c: dense(c).update(
        dtype={"module": "keras", "class_name": "DTypePolicy", "config": {"name": "int4"}})), 2, "dtype policy")
    def billions(c):
        for layer in c["config"]["layers"]:
            if layer["class_name"] == "InputLayer":
                layer["config"]["batch_shape"] = [None, 50_000]
            if layer["class_name"] == "Dense":
                layer["config"]["units"] = 50_000
                layer["build_config"] = {"input_shape": [None, 50_000]}
    case("declares-10gb-of-parameters", with_config("declares-10gb", billions), 2,
         "declares 2,500,050,000 parameters")
    huge = _h5_bytes(d, lambda f: f.create_dataset("layers/dense/vars/0", shape=(2**32, 1), dtype="float32",
                                                   chunks=(1024, 1), compression="gzip"))
    case("weights-16gib", _rewrite_keras(good, d / "weights-16gib.keras", files={"model.weights.h5": huge}), 2,
         "declares shape (4294967296, 1)")
    import h5py
    ext = _h5_bytes(d, lambda f: f.__setitem__("layers", h5py.ExternalLink("/etc/passwd", "/x")))
    case("weights-external-link", _rewrite_keras(good, d / "weights-external.keras",
                                                 files={"model.weights.h5": ext}), 2, "links to another file")
    ext2 = _h5_bytes(d, lambda f: f.create_dataset("layers/dense/vars/0", shape=(8, 3), dtype="float32",
                                                   external=[("/dev/zero", 0, 96)]))
    case("weights-external-storage", _rewrite_keras(good, d / "weights-external2.keras",
                                                    files={"model.weights.h5": ext2}), 2, "from other files")
    case("weights-garbage", _rewrite_keras(good, d / "weights-garbage.keras",
                                           files={"model.weights.h5": b"not hdf5" * 10}), 2, "not a readable HDF5")
    case("a-folder", d, 2, "is a folder")
    case("dev-zero", "/dev/zero", 2, "not a regular file")
    fifo = d / "fifo.keras"
    if not fifo.exists():
        os.mkfifo(fifo)
    cases.append(Case("keras/fifo", "keras", ["import", str(fifo), "-o", str(d / "fifo.out.studio")], 2,
                      "not a regular file", timeout=20))
    own = _keras_model(d / "own.keras")
    cases.append(Case("keras/over-its-input", "keras", ["import", str(own), "-o", str(own)], 2,
                      "is the input file itself", checks=[f"unchanged:{own}:{_sha(own)}"]))
    # the format is told from the content, and only what Keras will load is checked and loaded
    def h5_model(path: Path, model_config, weights: bool = False) -> Path:
        import h5py
        with h5py.File(path, "w") as f:
            if model_config is not None:
                f.attrs["model_config"] = json.dumps(model_config)
                f.attrs["keras_version"] = "3.15.1"
                f.attrs["backend"] = "tensorflow"
            if weights:
                f.create_dataset("model_weights/dense/dense/kernel", data=np.zeros((8, 3), "float32"))
        return path

    big_config = _mutated(config, billions)
    for layer in big_config["config"]["layers"]:   # 20,000 x 20,000: 1.6 GB, under the absolute limit
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_shape"] = [None, 20_000]
        if layer["class_name"] == "Dense":
            layer["config"]["units"] = 20_000
            layer["build_config"] = {"input_shape": [None, 20_000]}
    polyglot = h5_model(d / "polyglot.h5", big_config)
    with open(polyglot, "ab") as f:
        f.write(good.read_bytes())
    case("hdf5-and-zip-at-once", polyglot, 2, "is both an HDF5 file and a zip archive")
    case("h5-declares-1.6gb-in-6kb", h5_model(d / "declares-big.h5", big_config), 2,
         "declares 400,020,000 parameters")
    case("h5-weights-only", h5_model(d / "weights-only.h5", None, weights=True), 2, "holds no model")
    lambda_h5 = h5_model(d / "lambda.h5", _mutated(config, make_lambda))
    case("h5-lambda-layer", lambda_h5, 2, "is of type 'Lambda'", checks=[f"absent:{marker}"])
    import keras
    legacy = d / "legacy.h5"
    keras.saving.load_model(good, compile=False).save(legacy)   # Keras's own legacy HDF5 model file
    case("h5-valid", legacy, 0, "imported 2 layers", checks=["quiet"])
    named_as_weights = d / "named.studio.weights-0123456789abcdef.h5"   # saving named.studio would remove it
    named_as_weights.write_bytes(legacy.read_bytes())
    case("h5-named-as-the-outputs-weights", named_as_weights, 2, "would replace the input file",
         out=d / "named.studio", checks=[f"unchanged:{named_as_weights}:{_sha(named_as_weights)}"])
    legacy_as_keras = d / "legacy-as.keras"
    legacy_as_keras.write_bytes((d / "legacy.h5").read_bytes())
    case("h5-named-keras", legacy_as_keras, 2, "is an HDF5 (.h5) model file but its name ends in '.keras'")
    zip_as_h5 = d / "zip-as.h5"
    zip_as_h5.write_bytes(good.read_bytes())
    case("zip-named-h5", zip_as_h5, 2, "is a .keras archive (a zip) but its name ends in '.h5'")
    (d / "text.h5").write_text("not hdf5")
    case("h5-not-hdf5", d / "text.h5", 2, "not a valid .h5 model file")
    # every zip header says "encrypted": refused in one sentence, never an internal error
    (d / "encrypted.keras").write_bytes(encrypted_zip(good.read_bytes()))
    case("encrypted", d / "encrypted.keras", 2, "is encrypted")
    # a member that climbs out of the archive: nothing written outside, and no library warning shown
    slip_marker = d / "ZIPSLIP"
    slip = _rewrite_keras(good, d / "zip-slip.keras",
                          files={"assets/" + "../" * 24 + str(slip_marker).lstrip("/"): b"escaped"})
    case("zip-slip", slip, 0, "imported 2 layers", checks=[f"absent:{slip_marker}", "quiet"])
    cases.append(Case("keras/output-empty", "keras", ["import", str(good), "-o", ""], 2, "-o is empty",
                      checks=[f"absent:{good.with_suffix('.studio')}"]))
    other = d / "notes.studio"
    other.write_text("my notes, not a project")
    cases.append(Case("keras/over-another-file", "keras", ["import", str(good), "-o", str(other)], 2,
                      "exists and is not a Layer Studio project", checks=[f"unchanged:{other}:{_sha(other)}"]))
    # two members of one name (the one with a Lambda first): which one a reader takes is not certain
    twice = d / "two-configs.keras"
    import warnings
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(twice, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")   # zipfile's own "Duplicate name" warning
        zf.writestr("config.json", json.dumps(_mutated(config, make_lambda)))
        for name in src.namelist():
            zf.writestr(name, src.read(name))
    case("duplicate-config-json", twice, 2, "holds two files named 'config.json'", checks=[f"absent:{marker}"])
    twice_weights = d / "two-weights.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(twice_weights, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in src.namelist():
            zf.writestr(name, src.read(name))
        zf.writestr("model.weights.h5", ext)   # a second weights file, linking to /etc/passwd
    case("duplicate-weights", twice_weights, 2, "holds two files named 'model.weights.h5'")
    # the folder an output goes in must exist: refused, never made on the way
    missing = d / "nonexistent" / "dir"
    case("output-folder-missing", good, 2, f"the folder '{missing}' does not exist", out=missing / "x.studio",
         checks=[f"absent:{d / 'nonexistent'}"])
    case("output-folder-is-a-file", good, 2, "is not a folder", out=d / "not-a-zip.keras" / "x.studio")
    # the summary line shows a name's control characters escaped, on one line
    case("output-name-control-characters", good, 0, "imported 2 layers", out=d / "a\nb\x1b[31m.studio",
         checks=["quiet", "printable"])
    return cases


def _dataset_cases(d: Path) -> list[Case]:
    d.mkdir(parents=True, exist_ok=True)
    project = _write_json(d / "p.studio", _graph_doc())
    images_project = _write_json(d / "images.studio", _graph_doc(input_shape=(64, 64, 3), units=2))
    cases = []

    def train(name, dataset, code, phrase, project_path=project, checks=(), timeout=60, cost=1.0):
        cases.append(Case(f"dataset/{name}", "dataset",
                          ["train", str(project_path), "--dataset", str(dataset), "--epochs", "1",
                           "--out", str(d / "runs" / name)], code, phrase, checks=list(checks), timeout=timeout,
                          cost=cost))

    def with_spec(name, spec, code, phrase, input_shape=(8,), cost=1.0):
        doc = _graph_doc(input_shape=input_shape)
        doc["dataset"] = spec
        path = _write_json(d / f"{name}.studio", doc)
        cases.append(Case(f"dataset/{name}", "dataset", ["train", str(path), "--epochs", "1",
                                                         "--out", str(d / "runs" / name)], code, phrase,
                          cost=cost, timeout=120 if code == 0 else 60))

    # npz
    train("npz-valid", _npz(d / "valid.npz"), 0, "finished 1 epochs", cost=5, timeout=120)
    train("npz-0d-x", _npz(d / "0d.npz", x_train=np.float32(1)), 2, "x_train is a single number (a 0-d array)")
    train("npz-0d-y", _npz(d / "0d-y.npz", y_test=np.int64(1)), 2, "y_test is a single number")
    train("npz-complex", _npz(d / "complex.npz", x_train=np.zeros((12, 8), "complex64")), 2,
          "x_train holds complex numbers")
    train("npz-negative-label", _npz(d / "neg.npz", y_train=np.array([0, 1, 2, 0, -3, 1] * 2)), 2,
          "label -3 at y_train[4] is outside 0…2")
    train("npz-fraction-label", _npz(d / "frac.npz", y_train=np.array([0, 1, 2, 0, 1.5, 1] * 2)), 2,
          "label 1.5 at y_train[4] is not a whole number")
    train("npz-huge-label", _npz(d / "hugelabel.npz", y_train=np.array([0, 1, 2, 0, 10**12, 1] * 2)), 2,
          "is too large")
    train("npz-nan", _npz(d / "nan.npz", x_train=np.full((12, 8), np.nan, "float32")), 2, "NaN or infinity")
    train("npz-empty", _npz(d / "empty.npz", x_train=np.zeros((0, 8), "float32"), y_train=np.zeros(0, "int64")),
          2, "x_train holds no samples")
    train("npz-1d-x", _npz(d / "1d.npz", x_train=np.zeros(12, "float32")), 2, "reshape it to (12, 1)")
    train("npz-length-mismatch", _npz(d / "len.npz", y_train=np.arange(5) % 3), 2, "x_train has 12 samples but")
    train("npz-strings", _npz(d / "str.npz", x_train=np.array([["a"] * 8] * 12)), 2, "must hold numbers")
    with open(d / "missing.npz", "wb") as f:
        np.savez(f, x_train=np.zeros((2, 2)))
    train("npz-missing-arrays", d / "missing.npz", 2, "missing arrays y_train, x_test, y_test")
    with open(d / "objects.npz", "wb") as f:
        np.savez(f, x_train=np.array([{"a": 1}] * 12, dtype=object), y_train=np.zeros(12), x_test=np.zeros((6, 8)),
                 y_test=np.zeros(6))
    train("npz-pickled-objects", d / "objects.npz", 2, "holds Python objects")
    with zipfile.ZipFile(d / "liar.npz", "w") as zf:
        zf.writestr("x_train.npy", _npy_bytes((100_000, 100_000)))
        for k in ("y_train", "x_test", "y_test"):
            zf.writestr(f"{k}.npy", _npy_bytes((1,)))
    train("npz-header-80gb", d / "liar.npz", 2, "declares shape (100000, 100000) (80.0 GB)")
    with zipfile.ZipFile(d / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x_train.npy", "w") as m:
            m.write(_npy_bytes((10 * 2**20, 1)))
            for _ in range(80):
                m.write(bytes(2**20))
        for k in ("y_train", "x_test", "y_test"):
            zf.writestr(f"{k}.npy", _npy_bytes((1,), data=bytes(8)))
    train("npz-decompression-bomb", d / "bomb.npz", 2, "decompression bomb")
    (d / "notzip.npz").write_bytes(b"\x93NUMPY this is not a zip")
    train("npz-not-a-zip", d / "notzip.npz", 2, "not a readable .npz file")

    # IDX (project dataset references: images + labels)
    images = np.random.RandomState(0).randint(0, 255, (12, 4, 2))
    (d / "img-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images)))
    (d / "lab-idx1-ubyte").write_bytes(_idx_bytes(np.arange(12) % 3))
    (d / "lab-short-idx1-ubyte").write_bytes(_idx_bytes(np.arange(9) % 3))
    (d / "liar-idx3-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 1000, 1000)
                                                         + bytes(100)))
    with gzip.open(d / "bomb-idx3-ubyte.gz", "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 100, 1024, 1024))
        for _ in range(100):
            f.write(bytes(2**20))
    (d / "magic-idx3-ubyte").write_bytes(b"\x12\x34\x56\x78" + bytes(20))
    (d / "rawlie-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 2**31) + bytes(10))
    (d / "damaged-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images))[:40])
    idx = {"kind": "file", "labels_path": "lab-idx1-ubyte"}
    with_spec("idx-valid", {**idx, "path": "img-idx3-ubyte.gz"}, 0, "finished 1 epochs", input_shape=(4, 2, 1),
              cost=5)
    with_spec("idx-header-60gb", {**idx, "path": "liar-idx3-ubyte.gz"}, 2, "declares 60.0 GB of data")
    with_spec("idx-gzip-bomb", {**idx, "path": "bomb-idx3-ubyte.gz"}, 2, "decompression bomb")
    with_spec("idx-wrong-magic", {**idx, "path": "magic-idx3-ubyte"}, 2, "wrong magic number 0x12345678")
    with_spec("idx-raw-header-lies", {**idx, "path": "img-idx3-ubyte.gz", "labels_path": "rawlie-idx1-ubyte"}, 2,
              "promises 2147483648 values")
    with_spec("idx-count-mismatch", {**idx, "path": "img-idx3-ubyte.gz", "labels_path": "lab-short-idx1-ubyte"}, 2,
              "has 12 samples but")
    with_spec("idx-damaged-gzip", {**idx, "path": "damaged-idx3-ubyte.gz"}, 2, "the gzip data is damaged")
    with_spec("idx-no-labels", {"kind": "file", "path": "img-idx3-ubyte.gz"}, 2, "needs its labels file too")
    with_spec("idx-labels-dev-zero", {**idx, "path": "img-idx3-ubyte.gz", "labels_path": "/dev/zero"}, 2,
              "outside its own folder")
    with_spec("path-outside-the-project", {"kind": "file", "path": "../../../../etc/passwd"}, 2,
              "outside its own folder")

    # CSV
    def csv(name, text):
        path = d / f"{name}.csv"
        path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
        return path
    rows = "".join(f"{k % 3},{','.join(str(k + j) for j in range(8))}\n" for k in range(15))
    header = "label," + ",".join(f"f{j}" for j in range(8)) + "\n"
    train("csv-no-label-column", csv("nolabel", "a,b\n1,2\n3,4\n"), 2, "no column named 'label'")
    train("csv-fraction-label", csv("frac", header + rows.replace("0,0,1", "1.5,0,1", 1)), 2,
          "label 1.5 in row 2 is not a whole number")
    train("csv-negative-label", csv("neg", header + rows + "-3," + ",".join("0" * 8) + "\n"), 2,
          "label -3 in row 17 is outside 0…2")
    train("csv-empty", csv("empty", ""), 2, "the file is empty")
    train("csv-header-only", csv("header", header), 2, "holds no data rows")
    train("csv-one-row", csv("one", header + "1," + ",".join("0" * 8) + "\n"), 2, "holds only 1 sample")
    train("csv-nul-byte", csv("nul", header + "1,0,0\x00,0,0,0,0,0,0\n"), 2, "row 2")
    train("csv-not-utf8", csv("latin", b"label,f\xe9\n1,2\n0,3\n"), 2, "not a UTF-8 text file")
    train("csv-ragged", csv("ragged", header + "1,2\n"), 2, "2 fields but the header has 9")
    train("csv-text-cell", csv("text", header + "1,seven," + ",".join("0" * 7) + "\n0," + ",".join("0" * 8) + "\n"),
          2, "'seven' is not a number")
    train("csv-inf", csv("inf", header + "1,inf," + ",".join("0" * 7) + "\n0," + ",".join("0" * 8) + "\n"), 2,
          "is not a finite number")
    train("csv-label-column-twice", csv("twolabels", header.replace("f1", "label") + rows), 2,
          "the header names the column 'label' twice (columns 0 and 2, counting from 0)")
    (d / "cols.csv").write_text(header + rows)
    with_spec("csv-label-column-out-of-range", {"kind": "file", "path": "cols.csv", "label_column": 12}, 2,
              "label_column 12 is out of range; the CSV has 9 columns")
    with_spec("csv-label-column-list", {"kind": "file", "path": "cols.csv", "label_column": [0]}, 2,
              "label_column should be a column name or number")
    with_spec("csv-image-shape-not-dividing", {"kind": "file", "path": "cols.csv", "image_shape": [3, 3]}, 2,
              "image_shape [3, 3] holds 9 values but each row has 8 features")
    with_spec("csv-image-shape-negative", {"kind": "file", "path": "cols.csv", "image_shape": [-2, -4]}, 2,
              "image_shape should be a list of positive whole numbers")

    # image folders
    nested = d / "nested"
    for cls, value in (("cats", 40), ("dogs", 200)):
        (nested / cls / "more" / "deeper").mkdir(parents=True, exist_ok=True)
        (nested / cls / "1.png").write_bytes(_png(value=value))
        (nested / cls / "more" / "2.png").write_bytes(_png(value=value + 5))
        (nested / cls / "more" / "deeper" / "3.png").write_bytes(_png(value=value + 9))
    train("images-nested-used-and-counted", nested, 0, "4 of the 6 images are in sub-folders",
          project_path=images_project, cost=5, timeout=120)
    (d / "noclasses").mkdir(exist_ok=True)
    (d / "noclasses" / "x.png").write_bytes(_png())
    train("images-no-class-folders", d / "noclasses", 2, "no class sub-folders", project_path=images_project)
    (d / "emptyclasses" / "a").mkdir(parents=True, exist_ok=True)
    train("images-empty-classes", d / "emptyclasses", 2, "hold no images", project_path=images_project)
    (d / "broken" / "a").mkdir(parents=True, exist_ok=True)
    (d / "broken" / "a" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    train("images-broken", d / "broken", 2, "not a readable image", project_path=images_project)
    (d / "hugeimg" / "a").mkdir(parents=True, exist_ok=True)
    (d / "hugeimg" / "a" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
                                                + struct.pack(">II", 100_000, 100_000) + b"\x08\x02\0\0\0" + bytes(64))
    train("images-huge-header", d / "hugeimg", 2, "declares 100,000 × 100,000 pixels", project_path=images_project)
    (d / "linkimg" / "a").mkdir(parents=True, exist_ok=True)
    if not (d / "linkimg" / "a" / "zero.png").is_symlink():
        os.symlink("/dev/zero", d / "linkimg" / "a" / "zero.png")
    # a link inside the folder that leads elsewhere (here /dev/zero) is skipped, never read
    train("images-link-to-device", d / "linkimg", 2, "the class folders hold no images",
          project_path=images_project)
    with_spec("images-bad-size", {"kind": "file", "path": "nested", "image_size": [0, 99999]}, 2,
              "image_size should be two whole numbers")

    # special files and odd references
    train("dev-zero", "/dev/zero", 2, "is a device")
    train("dev-stdin", "/dev/stdin", 2, "is a")
    fifo = d / "fifo.npz"
    if not fifo.exists():
        os.mkfifo(fifo)
    train("fifo", fifo, 2, "FIFO", timeout=20)
    train("missing", d / "nope.npz", 2, "no such file")
    (d / "weird.xyz").write_text("x")
    train("unknown-suffix", d / "weird.xyz", 2, "unsupported file type '.xyz'")
    with_spec("spec-path-empty", {"kind": "file", "path": ""}, 2, "empty or not a path")
    with_spec("spec-path-number", {"kind": "file", "path": 5}, 2, "empty or not a path")
    with_spec("spec-kind-unknown", {"kind": "url", "path": "http://x"}, 2, "is not understood")
    with_spec("spec-download-unknown", {"kind": "download", "name": "imagenet"}, 2, "unknown download")
    with_spec("spec-preprocess-list", {"kind": "builtin", "name": "mnist-sample", "preprocess": [1]}, 2,
              "preprocess should be an object")

    # data that does not fit the model or its settings: bad input (2) before any training, one sentence
    def with_training(name, dataset, training, code, phrase, units=3, spec=None, argv=()):
        doc = _graph_doc(units=units)
        doc["training"].update(training)
        if spec is not None:
            doc["dataset"] = spec
        path = _write_json(d / f"{name}.studio", doc)
        cases.append(Case(f"dataset/{name}", "dataset", ["train", str(path), *(["--dataset", str(dataset)]
                                                                               if dataset else []),
                                                         "--epochs", "1", "--out", str(d / "runs" / name), *argv],
                          code, phrase, timeout=120 if code == 0 else 60, cost=5 if code == 0 else 1))
    valid = d / "valid.npz"
    with_training("split-leaves-no-training-sample", valid, {"validation": "split", "validation_split": 0.99}, 2,
                  "validation_split 0.99 leaves none of the 12 training samples to train on")
    with_training("binary-loss-softmax-3", valid, {"loss": "binary_crossentropy"}, 2,
                  "the loss binary_crossentropy compares each output")
    with_training("mse-loss-class-numbers", valid, {"loss": "mean_squared_error"}, 2,
                  "the labels are one class number per sample; give the last layer 1 unit")
    onehot = np.eye(3, dtype="float32")
    _npz(d / "onehot.npz", y_train=onehot[np.arange(12) % 3], y_test=onehot[np.arange(6) % 3])
    with_training("onehot-labels-sparse-loss", d / "onehot.npz", {}, 2,
                  "the labels are one-hot rows (3 columns) but the loss sparse_categorical_crossentropy wants "
                  "class numbers: choose categorical_crossentropy")
    with_training("onehot-labels-categorical-loss", d / "onehot.npz", {"loss": "categorical_crossentropy"}, 0,
                  "finished 1 epochs")
    _npz(d / "garbage-rows.npz", y_train=np.array([[5, -1, 0.5]] * 12, "float32"),
         y_test=np.array([[7, 7, 7]] * 6, "float32"))
    with_training("label-rows-not-one-hot", None, {"loss": "categorical_crossentropy"}, 2,
                  "label rows are one-hot (0s and a single 1) or class probabilities",
                  spec={"kind": "file", "path": "garbage-rows.npz", "preprocess": {"labels": "onehot"}})
    _npz(d / "rows-sum-2.npz", y_train=np.array([[1, 1, 0]] * 12, "float32"))
    train("label-rows-sum-not-1", d / "rows-sum-2.npz", 2, "sums to 2; each label row must sum to 1")
    train("labels-beyond-the-output", _npz(d / "labels-0-9.npz", y_train=np.arange(12) % 10), 2,
          "the dataset has 10 classes; the last layer needs 10 units")
    train("held-out-label-beyond-the-output", _npz(d / "test-label-7.npz", y_test=np.array([0, 1, 2, 7, 1, 0])), 2,
          "the last layer needs 8 units")
    train("no-features", _npz(d / "x-no-features.npz", x_train=np.zeros((12, 0), "float32"),
                              x_test=np.zeros((6, 0), "float32")), 2, "the dataset has no features")
    rs = np.random.RandomState(0)
    train("uint8-train-float-test", _npz(d / "mixed-scale.npz", x_train=rs.randint(0, 255, (12, 8)).astype("uint8"),
                                         x_test=rs.randint(0, 255, (6, 8)).astype("float32")), 2,
          "x_train holds uint8 values but x_test holds float32")
    # strict types in dataset specs and preprocessing: bool("false") is True
    (d / "imgs" / "a").mkdir(parents=True, exist_ok=True)
    (d / "imgs" / "b").mkdir(parents=True, exist_ok=True)
    for k in range(3):
        (d / "imgs" / "a" / f"{k}.png").write_bytes(_png(value=20 + k))
        (d / "imgs" / "b" / f"{k}.png").write_bytes(_png(value=200 + k))
    with_spec("spec-grayscale-string", {"kind": "file", "path": "imgs", "grayscale": "false"}, 2,
              "grayscale should be true or false, not 'false'", input_shape=(64, 64, 3))
    with_spec("preprocess-scale-string", {"kind": "file", "path": "valid.npz", "preprocess": {"scale": "false"}}, 2,
              "dataset.preprocess.scale should be true or false, not 'false'")
    with_spec("preprocess-channel-axis-number", {"kind": "file", "path": "valid.npz",
                                                 "preprocess": {"channel_axis": 0}}, 2,
              "dataset.preprocess.channel_axis should be true or false, not 0")
    with_spec("preprocess-labels-number", {"kind": "file", "path": "valid.npz", "preprocess": {"labels": 1}}, 2,
              "dataset.preprocess.labels should be 'integer' or 'onehot', not 1")
    # CSV: only plain numbers; a BOM (Excel) is not part of the first column's name
    bom_rows = "".join(f"{k % 3},{','.join(str(k + j) for j in range(8))}\n" for k in range(15))
    train("csv-underscore-number", csv("underscore", header + bom_rows + "1,1_000," + ",".join("0" * 7) + "\n"), 2,
          "row 17, column 'f0': '1_000' is not a plain number")
    train("csv-arabic-digits", csv("arabic", header + bom_rows + "1,\u0661," + ",".join("0" * 7) + "\n"), 2,
          "is not a plain number")
    wide = 1_000_001   # over MAX_CSV_COLUMNS: refused from the header's bytes, before a string per column is made
    train("csv-too-many-columns", csv("wide", "label," + "f," * (wide - 2) + "f\n" + "0," * (wide - 1) + "0\n"), 2,
          "the header has more than 1,000,000 columns")
    train("csv-utf8-bom", csv("bom", ("\ufeff" + header + bom_rows).encode("utf-8")), 0, "finished 1 epochs",
          cost=5, timeout=120)
    # command-line arguments: the project file's caps, addresses checked before anything starts
    with_training("cli-epochs-beyond-the-cap", valid, {}, 2, "--epochs: must be at most 100,000",
                  argv=("--epochs", "99999999999999999999"))
    with_training("cli-batch-size-beyond-the-cap", valid, {}, 2,
                  "--batch-size: must be at most 1,000,000", argv=("--batch-size", "10000000"))
    with_training("cli-cluster-bad-port", valid, {}, 2, "'a:b:c' is not HOST:PORT",
                  argv=("--cluster", "a:b:c,:99999", "--worker-index", "0"))
    with_training("cli-cluster-port-too-big", valid, {}, 2, "'h:99999' is not HOST:PORT with a port from 1 to 65535",
                  argv=("--cluster", "h:1234,h:99999", "--worker-index", "0"))
    # settings that cannot act as written are said, not silently ignored
    with_training("callbacks-without-validation", valid, {"validation": "none", "early_stopping": 1, "reduce_lr": 1},
                  0, "training.early_stopping and training.reduce_lr watch the training loss")
    with_training("gpu-that-is-not-there", valid, {"device": "gpu:3"}, 0,
                  "training.device is gpu:3 but this machine has")   # the runner hides every GPU
    # saved weights that no longer fit their layer: train starts them fresh and says so, check says so,
    # evaluate and export refuse as bad input (2), never silently different
    (d / "unfit").mkdir(exist_ok=True)

    def unfit(f):
        g = f.create_group("hidden")
        g.attrs["count"] = 2
        g.create_dataset("0", data=np.ones((3, 3), "float32"))
        g.create_dataset("1", data=np.ones(7, "float32"))
    (d / "unfit" / "w.studio.weights-0000000000000000.h5").write_bytes(_h5_bytes(d / "unfit", unfit))
    doc = _graph_doc()
    doc["weights"] = "w.studio.weights-0000000000000000.h5"
    unfit_project = str(_write_json(d / "unfit" / "w.studio", doc))
    for name, argv, code, phrase in (
            ("unfit-weights-check", ["check", unfit_project], 0, "warning: the saved weights of 'hidden' do not fit"),
            ("unfit-weights-train", ["train", unfit_project, "--dataset", str(valid), "--epochs", "1", "--out",
                                     str(d / "runs" / "unfit")], 0, "the saved weights of 'hidden' do not fit"),
            ("unfit-weights-evaluate", ["evaluate", unfit_project, "--dataset", str(valid)], 2,
             "the saved weights of 'hidden' have shapes"),
            ("unfit-weights-export", ["export", unfit_project, "--format", "keras", "-o", str(d / "unfit.keras")], 2,
             "the saved weights of 'hidden' have shapes")):
        cases.append(Case(f"dataset/{name}", "dataset", argv, code, phrase, cost=5 if code == 0 else 1,
                          timeout=120))
    return cases


def _cli_cases(d: Path) -> list[Case]:
    d.mkdir(parents=True, exist_ok=True)
    project = _write_json(d / "p.studio", _graph_doc())
    sha = _sha(project)
    no_display = {"DISPLAY": None, "WAYLAND_DISPLAY": None, "QT_QPA_PLATFORM": None}
    notes = d / "notes.txt"
    notes.write_text("my notes")
    precious = d / "precious"
    precious.mkdir(exist_ok=True)
    (precious / "thesis.tex").write_text("years of work")
    afile = d / "afile"
    afile.write_text("x")
    bad_config = _mutated(_graph_doc(), lambda doc: doc["graph"]["nodes"][2]["config"].update(units=-4))
    bad = _write_json(d / "bad-config.studio", bad_config)
    P = str(project)
    cases = [
        Case("cli/unknown-subcommand", "cli", ["chek", P], 2, "unknown command 'chek'; did you mean 'check'?",
             env=dict(no_display)),
        Case("cli/unknown-subcommand-with-display-var", "cli", ["trian", P], 2, "did you mean 'train'?",
             env={"QT_QPA_PLATFORM": "offscreen"}),
        Case("cli/window-without-display", "cli", [], 1, "no display: neither DISPLAY nor WAYLAND_DISPLAY",
             env=dict(no_display)),
        Case("cli/window-file-without-display", "cli", [P], 1, "no display", env=dict(no_display)),
        Case("cli/window-bogus-platform", "cli", [], 1, "QT_QPA_PLATFORM names 'bogus'",
             env={**no_display, "QT_QPA_PLATFORM": "bogus"}),
        Case("cli/window-dead-x-display", "cli", [], 1,
             "cannot connect to the X display ':93'|xcb platform plugin cannot load",
             env={**no_display, "DISPLAY": ":93"}),
        Case("cli/help", "cli", ["--help"], 0, "usage: layer-studio"),
        Case("cli/unknown-option", "cli", ["check", P, "--frobnicate"], 2, "unrecognized arguments: --frobnicate"),
        Case("cli/missing-argument", "cli", ["check"], 2, "the following arguments are required: project"),
        Case("cli/epochs-zero", "cli", ["train", P, "--epochs", "0"], 2, "--epochs: must be at least 1 (got 0)"),
        Case("cli/epochs-negative", "cli", ["train", P, "--epochs", "-2"], 2, "--epochs: must be at least 1"),
        Case("cli/epochs-text", "cli", ["train", P, "--epochs", "many"], 2, "'many' is not a whole number"),
        Case("cli/batch-size-negative", "cli", ["train", P, "--batch-size", "-5"], 2,
             "--batch-size: must be at least 1 (got -5)"),
        Case("cli/dataset-empty", "cli", ["train", P, "--dataset", ""], 2, "--dataset: is empty"),
        Case("cli/timeout-nan", "cli", ["train", P, "--timeout", "nan"], 2, "--timeout"),
        Case("cli/worker-index-negative", "cli", ["train", P, "--worker-index", "-1"], 2, "--worker-index"),
        Case("cli/format-unknown", "cli", ["export", P, "--format", "gif", "-o", str(d / "x.gif")], 2,
             "invalid choice: 'gif'"),
        Case("cli/import-a-folder", "cli", ["import", str(d)], 2, "is a folder; give a .keras model file"),
        Case("cli/codegen-to-a-folder", "cli", ["codegen", P, "-o", str(d)], 2, "is a folder; give a file name"),
        Case("cli/codegen-over-its-input", "cli", ["codegen", P, "-o", P], 2, "is the input file itself",
             checks=[f"unchanged:{project}:{sha}"]),
        Case("cli/codegen-over-other-file", "cli", ["codegen", P, "-o", str(notes)], 2,
             "exists and is not Python code generated by Layer Studio", checks=[f"unchanged:{notes}:{_sha(notes)}"]),
        Case("cli/codegen-empty-output", "cli", ["codegen", P, "-o", ""], 2, "-o is empty"),
        Case("cli/export-svg-over-its-input", "cli", ["export", P, "--format", "svg", "-o", P], 2,
             "is the project itself", checks=[f"unchanged:{project}:{sha}"]),
        Case("cli/export-svg-over-its-input-forced", "cli", ["export", P, "--format", "svg", "-o", P, "--force"], 2,
             "is the project itself", checks=[f"unchanged:{project}:{sha}"]),
        Case("cli/export-python-over-a-folder", "cli", ["export", P, "--format", "python", "-o", str(precious)], 2,
             "is an existing folder that is not a python export",
             checks=[f"unchanged:{precious / 'thesis.tex'}:{_sha(precious / 'thesis.tex')}"]),
        Case("cli/export-config-error", "cli", ["export", str(bad), "--format", "keras", "-o",
                                                str(d / "bad.keras")], 2, "cannot be built",
             checks=[f"absent:{d / 'bad.keras'}"]),
        Case("cli/export-run-not-a-folder", "cli", ["export", P, "--format", "svg", "-o", str(d / "x.svg"),
                                                    "--run", str(afile)], 2, "is not a run folder"),
        Case("cli/train-out-existing-file", "cli", ["train", P, "--out", str(afile), "--epochs", "1"], 2,
             "is an existing file; --out names a folder"),
        Case("cli/train-out-under-a-file", "cli", ["train", P, "--out", str(afile / "run"), "--epochs", "1"], 2,
             f"'{afile}' is not a folder"),
        Case("cli/train-out-unrelated-folder", "cli", ["train", P, "--out", str(precious), "--epochs", "1"], 2,
             "already holds other files"),
        Case("cli/check-name-too-long", "cli", ["check", "x" * 5000 + ".studio"], 2, "File name too long"),
        Case("cli/check-empty-path", "cli", ["check", ""], 2, "path is empty"),
        Case("cli/open-a-non-document", "cli", ["README.md"], 2, "unknown command 'README.md'"),
    ]
    # an output path never replaces the input, a folder holding it, or a file the project needs (even forced)
    work = d / "mywork"
    work.mkdir(exist_ok=True)
    wp = _write_json(work / "p.studio", _graph_doc())
    (work / "notes.txt").write_text("my notes")
    kept = [f"unchanged:{wp}:{_sha(wp)}", f"unchanged:{work / 'notes.txt'}:{_sha(work / 'notes.txt')}"]
    for fmt in ("python", "savedmodel"):
        cases.append(Case(f"cli/export-{fmt}-over-the-project-folder-forced", "cli",
                          ["export", str(wp), "--format", fmt, "-o", str(work), "--force"], 2,
                          "is a folder that holds the project", checks=kept))
    cases.append(Case("cli/export-python-over-a-parent-folder-forced", "cli",
                      ["export", str(wp), "--format", "python", "-o", str(d), "--force"], 2,
                      "is a folder that holds the project", checks=kept))
    cases.append(Case("cli/export-python-over-a-folder-forced", "cli",
                      ["export", P, "--format", "python", "-o", str(precious), "--force"], 2,
                      "holds other files, which writing there would delete (even with --force)",
                      checks=[f"unchanged:{precious / 'thesis.tex'}:{_sha(precious / 'thesis.tex')}"]))
    cases.append(Case("cli/train-out-the-project-folder-forced", "cli",
                      ["train", str(wp), "--out", str(work), "--force", "--epochs", "1"], 2,
                      "is a folder that holds the project file", checks=kept))
    weighted = d / "weighted"
    weighted.mkdir(exist_ok=True)
    wdoc = _graph_doc()
    wdoc["weights"], wdoc["weights_sha256"] = "w.studio.weights-0123456789abcdef.h5", "0" * 64
    wproj = _write_json(weighted / "w.studio", wdoc)
    wfile = weighted / "w.studio.weights-0123456789abcdef.h5"
    wfile.write_bytes(b"the imported weights")
    wkept = [f"unchanged:{wfile}:{_sha(wfile)}", f"unchanged:{wproj}:{_sha(wproj)}"]
    for fmt in ("tflite", "keras", "svg"):
        cases.append(Case(f"cli/export-{fmt}-over-the-weights-forced", "cli",
                          ["export", str(wproj), "--format", fmt, "-o", str(wfile), "--force"], 2,
                          "a file the project depends on", checks=wkept))
    cases.append(Case("cli/codegen-over-the-weights-forced", "cli",
                      ["codegen", str(wproj), "-o", str(wfile), "--force"], 2, "a file the project depends on",
                      checks=wkept))
    data = _npz(d / "data.npz")
    ddoc = _graph_doc()
    ddoc["dataset"] = {"kind": "file", "path": "data.npz"}
    dproj = _write_json(d / "with-data.studio", ddoc)
    cases.append(Case("cli/export-over-the-dataset-forced", "cli",
                      ["export", str(dproj), "--format", "svg", "-o", str(data), "--force"], 2,
                      "a file the project depends on", checks=[f"unchanged:{data}:{_sha(data)}"]))
    # a model or data file where a project is expected is named for what it is, by its content
    keras_file = _keras_model(d / "model.keras")
    (d / "model.onnx").write_bytes(b"\x08\x07\x12\x07keras2onnx")
    for name, path, phrase in (("keras", keras_file, "is a Keras model file (.keras), not a Layer Studio project; "
                                                     "turn it into one with 'layer-studio import'"),
                               ("npz", data, "is a NumPy data file (.npz)"),
                               ("onnx", d / "model.onnx", "is an ONNX model")):
        cases.append(Case(f"cli/check-a-{name}-file", "cli", ["check", str(path)], 2, phrase))
        cases.append(Case(f"cli/train-a-{name}-file", "cli", ["train", str(path), "--epochs", "1"], 2, phrase))
    # what TensorFlow prints while exporting stays off the terminal (--debug shows it)
    cases.append(Case("cli/export-tflite-quiet", "cli", ["export", P, "--format", "tflite", "-o",
                                                         str(d / "quiet.tflite")], 0, "verified",
                      checks=["quiet"], cost=5.0))
    # each format's file name is checked before any work
    for fmt, name, suffix in (("keras", "model.txt", ".keras"), ("tflite", "model.h5", ".tflite"),
                              ("onnx", "model.keras", ".onnx"), ("svg", "diagram.png", ".svg")):
        out = d / "suffix" / name
        cases.append(Case(f"cli/export-{fmt}-wrong-suffix", "cli", ["export", P, "--format", fmt, "-o", str(out)],
                          2, f"does not end in {suffix}", checks=[f"absent:{out}", f"absent:{d / 'suffix'}"]))
    # the folder an output goes in must exist: refused (exit 2), never made on the way (train --out excepted)
    gone = d / "nonexistent"
    for name, argv, shown in (
            ("codegen", ["codegen", P, "-o", str(gone / "x.py")], gone),
            ("export-keras", ["export", P, "--format", "keras", "-o", str(gone / "a" / "b.keras")], gone / "a"),
            ("export-savedmodel", ["export", P, "--format", "savedmodel", "-o", str(gone / "a" / "sm")], gone / "a"),
            ("export-svg", ["export", P, "--format", "svg", "-o", str(gone / "d.svg")], gone)):
        cases.append(Case(f"cli/{name}-output-folder-missing", "cli", argv, 2, f"the folder '{shown}' does not exist",
                          checks=[f"absent:{gone}"]))
    # train --out makes its run folder and the folders above it, but never over a file
    cases.append(Case("cli/train-out-below-a-file", "cli", ["train", P, "--out", str(afile / "a" / "run"),
                                                            "--epochs", "1"], 2, f"'{afile}' is not a folder",
                      checks=[f"unchanged:{afile}:{_sha(afile)}"]))
    cases.append(Case("cli/codegen-output-folder-is-a-file", "cli", ["codegen", P, "-o", str(afile / "x.py")], 2,
                      f"'{afile}' is not a folder", checks=[f"unchanged:{afile}:{_sha(afile)}"]))
    # a summary line that names a path shows its control characters escaped, on one line
    cases.append(Case("cli/export-svg-name-control-characters", "cli",
                      ["export", P, "--format", "svg", "-o", str(d / "a\nb\x1b[31m.svg")], 0, "svg: ",
                      checks=["quiet", "printable"], cost=3.0))
    cases.append(Case("cli/codegen-name-control-characters", "cli", ["codegen", P, "-o", str(d / "a\rb\x1b[2J.py")],
                      0, "wrote ", checks=["printable"]))
    # a bad --cluster / --worker-index is a bad argument (exit 2), said before any data loads
    cl = _write_json(d / "cluster.studio", _graph_doc())
    cl_runs = f"absent:{d / 'cluster.studio.runs'}"
    cases.append(Case("cli/worker-index-outside-the-cluster", "cli",
                      ["train", str(cl), "--dataset", str(data), "--cluster", "127.0.0.1:1,127.0.0.1:2",
                       "--worker-index", "5"], 2, "--worker-index 5 is outside the cluster of 2 workers",
                      checks=[cl_runs]))
    cases.append(Case("cli/cluster-without-worker-index", "cli",
                      ["train", str(cl), "--dataset", str(data), "--cluster", "127.0.0.1:1,127.0.0.1:2"], 2,
                      "--cluster needs --worker-index", checks=[cl_runs]))
    cases.append(Case("cli/worker-index-without-cluster", "cli", ["train", str(cl), "--worker-index", "0"], 2,
                      "no cluster: give --cluster and --worker-index", env={"TF_CONFIG": None}, checks=[cl_runs]))
    # fast feature extraction on a model with nothing frozen: bad input; the flag is named when it asked
    fx = _write_json(d / "fx.studio", _graph_doc())
    fx_doc = _graph_doc()
    fx_doc["training"]["feature_extraction"] = True
    fx_set = _write_json(d / "fx-set.studio", fx_doc)
    cases.append(Case("cli/feature-extraction-flag-says-drop-the-flag", "cli",
                      ["train", str(fx), "--dataset", str(data), "--feature-extraction", "--epochs", "1"], 2,
                      "drop --feature-extraction", checks=[f"absent:{d / 'fx.studio.runs'}"], cost=4.0))
    cases.append(Case("cli/feature-extraction-setting-nothing-frozen", "cli",
                      ["train", str(fx_set), "--dataset", str(data), "--epochs", "1"], 2,
                      "turn it off in the training settings", checks=[f"absent:{d / 'fx-set.studio.runs'}"], cost=4.0))
    # data with no features: refused at load, not as an input shape of 0 to set
    no_features = _npz(d / "no-features.npz", x_train=np.zeros((12, 0), "float32"), x_test=np.zeros((6, 0), "float32"))
    cases.append(Case("cli/dataset-no-features", "cli", ["train", P, "--dataset", str(no_features), "--epochs", "1"],
                      2, "the dataset has no features (x_train has shape (12, 0))"))
    cases.append(Case("cli/evaluate-dataset-no-features", "cli", ["evaluate", P, "--dataset", str(no_features)],
                      2, "the dataset has no features (x_train has shape (12, 0))"))
    (d / "flat-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((12, 5, 0), "uint8")))
    (d / "flat-lab-idx1-ubyte").write_bytes(_idx_bytes(np.arange(12) % 3))
    idx_doc = _graph_doc()
    idx_doc["dataset"] = {"kind": "file", "path": "flat-idx3-ubyte", "labels_path": "flat-lab-idx1-ubyte"}
    idx_proj = _write_json(d / "idx-no-features.studio", idx_doc)
    cases.append(Case("cli/dataset-idx-zero-dimension", "cli", ["train", str(idx_proj), "--epochs", "1"], 2,
                      "the dataset has no features (flat-idx3-ubyte has shape (12, 5, 0))"))
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        ro = d / "readonly"
        ro.mkdir(exist_ok=True)
        os.chmod(ro, 0o555)
        cases.append(Case("cli/train-out-read-only", "cli", ["train", P, "--out", str(ro / "run"), "--epochs", "1"],
                          1, "cannot write the run folder"))
        cases.append(Case("cli/codegen-read-only", "cli", ["codegen", P, "-o", str(ro / "m.py")], 1,
                          "cannot write in folder"))
    return cases


def write_cases(folder: str | Path) -> Path:
    cases = build(folder)
    path = Path(folder) / "cases.json"
    path.write_text(json.dumps([asdict(c) for c in cases], indent=1))
    return path


if __name__ == "__main__":
    out = write_cases(sys.argv[1] if len(sys.argv) > 1 else "robustness-corpus")
    print(f"{len(json.loads(out.read_text()))} cases written to {out}")
