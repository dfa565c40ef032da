import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.engine import project as project_mod
from studio.engine.compiler import compile_graph, model_weights
from studio.engine.project import (SCHEMA_VERSION, Project, ProjectError, load_project,
                                   load_project_bytes)

from .helpers import mnist_convnet


def _saved(tmp_path, with_weights=False):
    g = mnist_convnet()
    p = Project(graph=g, dataset={"kind": "builtin", "name": "mnist-sample"})
    if with_weights:
        p.weights = model_weights(compile_graph(g))
    path = tmp_path / "convnet.studio"
    p.save(path)
    return p, path


def _weights_file(path):
    return path.parent / json.loads(path.read_text())["weights"]


def test_save_and_load_round_trip_with_weights(tmp_path):
    p, path = _saved(tmp_path, with_weights=True)
    doc = json.loads(path.read_text())
    weights_file = _weights_file(path)
    assert weights_file.exists() and weights_file.name.startswith("convnet.studio.weights-")
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["weights_sha256"] == project_mod.file_sha256(weights_file)
    assert doc["weights_sha256"].startswith(weights_file.name.split("-")[-1].removesuffix(".h5"))
    q = load_project(path)
    assert q.graph.to_dict() == p.graph.to_dict()
    assert q.dataset == p.dataset and q.training == p.training
    assert sorted(q.weights) == sorted(p.weights)
    for name in p.weights:
        for a, b in zip(p.weights[name], q.weights[name]):
            assert np.array_equal(a, b)
    x = np.random.RandomState(0).rand(2, 28, 28, 1).astype("float32")
    m1 = compile_graph(p.graph, p.weights)
    m2 = compile_graph(q.graph, q.weights)
    assert np.abs(m1.predict(x, verbose=0) - m2.predict(x, verbose=0)).max() == 0


def test_save_is_atomic(tmp_path, monkeypatch):
    p, path = _saved(tmp_path)
    before = path.read_bytes()
    p.graph.set_param(next(iter(p.graph.nodes)), "shape", [32, 32, 3])

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(project_mod.os, "replace", broken_replace)
    with pytest.raises(ProjectError, match="No space left"):
        p.save(path)
    assert path.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["convnet.studio"]  # no temporary left behind


def test_save_into_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ProjectError, match="cannot write in folder"):
        Project(graph=mnist_convnet()).save(tmp_path / "nope" / "x.studio")


def _doc(tmp_path):
    _, path = _saved(tmp_path)
    return json.loads(path.read_text())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), "newer Layer Studio"),
    (lambda d: d.pop("format"), "not a Layer Studio project"),
    (lambda d: d["graph"]["nodes"][1].update(class_name="Lambda"), "'Lambda' is not in the Layer Studio catalog"),
    (lambda d: d["graph"]["nodes"][1]["config"].update(
        kernel_initializer={"module": "os", "class_name": "system", "config": {"command": "rm -rf /"}}),
     "module 'os'"),
    (lambda d: d["graph"]["nodes"][1]["config"].update(
        activation={"module": "keras.layers", "class_name": "__lambda__", "config": {"code": "x"}}), "would run code"),
    (lambda d: d["graph"]["edges"].append(["n8", 0, "n2", 0]), "already connected"),
    (lambda d: d["graph"]["edges"].append(["n8", 0, "n99", 0]), "does not exist"),
    (lambda d: d["graph"]["nodes"][2].update(name=d["graph"]["nodes"][1]["name"]), "already used"),
    (lambda d: d["graph"]["nodes"][2].update(id=d["graph"]["nodes"][1]["id"]), "repeats the id"),
    (lambda d: d["graph"]["nodes"][0].update(position=[0]), "position"),
    (lambda d: d.update(weights="../../etc/passwd"), "file name beside the project"),
    (lambda d: d["training"].update(epochs="many"), "training.epochs"),
])
def test_bad_documents_are_refused_with_reason(tmp_path, mutate, message):
    doc = _doc(tmp_path)
    mutate(doc)
    with pytest.raises(ProjectError, match=message):
        load_project_bytes(json.dumps(doc).encode(), "x.studio")


def test_cycle_in_file_is_refused(tmp_path):
    doc = _doc(tmp_path)
    doc["graph"]["edges"] = [e for e in doc["graph"]["edges"] if e[2] != "n2"] + [["n8", 0, "n2", 0]]
    with pytest.raises(ProjectError, match="cycle"):
        load_project_bytes(json.dumps(doc).encode(), "x.studio")


def test_cycle_message_names_a_layer_on_the_cycle(tmp_path):
    doc = _doc(tmp_path)
    doc["graph"]["edges"] = [e for e in doc["graph"]["edges"] if e[2] != "n2"] + [["n8", 0, "n2", 0]]
    names = {n["id"]: n["name"] for n in doc["graph"]["nodes"]}
    with pytest.raises(ProjectError) as info:
        load_project_bytes(json.dumps(doc).encode(), "x.studio")
    on_cycle = [names[i] for i in ("n2", "n3", "n4", "n5", "n6", "n7", "n8") if i in names]
    assert any(f"cycle through '{name}'" in str(info.value) for name in on_cycle), info.value


def test_a_chain_listed_back_to_front_loads_without_walking_the_graph_per_edge(monkeypatch):
    """Edges in any order cost one cycle check over the whole graph, not one walk
    downstream per edge (20,000 edges back to front took 17.6 s that way)."""
    from studio.engine.graph import ModelGraph
    g = ModelGraph("chain")
    prev = g.add_node("InputLayer", {"shape": [4]})
    for _ in range(3000):
        node = g.add_node("Dense", {"units": 4})
        g.connect(prev.id, node.id)
        prev = node
    doc = {"format": project_mod.FORMAT, "schema_version": SCHEMA_VERSION, "graph": g.to_dict()}
    doc["graph"]["edges"].sort(key=lambda e: -int(e[0][1:]))  # the chain from its end back to its Input
    walks = []
    monkeypatch.setattr(ModelGraph, "downstream", lambda self, ids: walks.append(1) or set(ids))
    loaded = load_project_bytes(json.dumps(doc).encode(), "chain.studio")
    assert walks == [] and len(loaded.graph.edges) == 3000
    assert loaded.graph.topological_order()[0] == "n1"


def test_truncated_empty_and_binary_files(tmp_path):
    _, path = _saved(tmp_path)
    raw = path.read_bytes()
    with pytest.raises(ProjectError, match="cut off"):
        load_project_bytes(raw[: len(raw) // 2], "half.studio")
    with pytest.raises(ProjectError, match="empty"):
        load_project_bytes(b"", "e.studio")
    with pytest.raises(ProjectError, match="UTF-8"):
        load_project_bytes(b"\xff\xfe\x00garbage", "b.studio")
    with pytest.raises(ProjectError, match="NaN"):
        load_project_bytes(raw.replace(b'"learning_rate": 0.001', b'"learning_rate": NaN'), "n.studio")
    with pytest.raises(ProjectError, match="does not exist"):
        load_project(tmp_path / "missing.studio")


def test_missing_or_damaged_weights_file(tmp_path):
    _, path = _saved(tmp_path, with_weights=True)
    weights = _weights_file(path)
    weights.write_bytes(b"garbage")
    # the project records its weights' hash: a replaced file is reported and not used
    q = load_project(path)
    assert q.weights == {} and "does not match this project" in q.warnings[0]
    doc = json.loads(path.read_text())
    del doc["weights_sha256"]  # as a file from before hashes
    path.write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="damaged"):
        load_project(path)
    os.remove(weights)
    q = load_project(path)  # opens, every layer fresh, and says why
    assert q.weights == {} and "is missing" in q.warnings[0]


def test_cleanup_removes_only_this_projects_own_weights_files(tmp_path):
    p, path = _saved(tmp_path, with_weights=True)
    mine_old = tmp_path / "convnet.studio.weights-0123456789abcdef.h5"
    others = [tmp_path / "convnet.studio.weights.backup.h5", tmp_path / "convnet.studio2.weights.h5",
              tmp_path / "model.weights.h5"]
    for f in [mine_old, *others]:
        f.write_bytes(b"x")
    p.save(path)
    assert not mine_old.exists() and all(f.exists() for f in others)


def test_legacy_weights_file_opens_and_next_save_replaces_it(tmp_path):
    p, path = _saved(tmp_path, with_weights=True)
    legacy = tmp_path / "convnet.studio.weights.h5"
    project_mod.save_weights(p.weights, legacy)
    doc = json.loads(path.read_text())
    doc["weights"] = legacy.name
    del doc["weights_sha256"]
    path.write_text(json.dumps(doc))
    _weights_file(path)  # still names the legacy file
    q = load_project(path)
    assert sorted(q.weights) == sorted(p.weights) and q.trained_weights == {}
    q.save(path)
    names = sorted(f.name for f in tmp_path.iterdir())
    assert len(names) == 2 and legacy.name not in names  # the old weights file went after the new save


def test_starting_and_trained_weights_are_kept_apart(tmp_path):
    p, path = _saved(tmp_path, with_weights=True)
    name = next(iter(p.weights))
    p.trained_weights = {name: [a + 1 for a in p.weights[name]]}
    p.save(path)
    q = load_project(path)
    assert np.array_equal(q.weights[name][0], p.weights[name][0])
    assert np.array_equal(q.trained_weights[name][0], p.weights[name][0] + 1)
    assert np.array_equal(q.current_weights()[name][0], p.weights[name][0] + 1)


def test_saved_files_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        _, path = _saved(tmp_path, with_weights=True)
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~project_mod._UMASK)
    assert oct(_weights_file(path).stat().st_mode & 0o777) == oct(0o666 & ~project_mod._UMASK)


def test_weights_declaring_a_huge_array_are_refused_from_the_header(tmp_path):
    import h5py
    bad = tmp_path / "huge.h5"
    with h5py.File(bad, "w") as f:
        g = f.create_group("dense")
        g.attrs["count"] = 1
        g.create_dataset("0", shape=(1 << 17, 1 << 15), dtype="float32")  # 16 GiB declared, nothing written
    assert bad.stat().st_size < 100_000
    with pytest.raises(ProjectError, match="declares shape"):
        project_mod.load_weights(bad)


# -- property-based: nothing a file holds makes the loader crash ---------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for k, v in enumerate(value):
            yield from _paths(v, prefix + (k,))


def _set(doc, path, value):
    if not path:
        return value
    target = doc
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return doc


def _try_load(raw: bytes):
    try:
        project = load_project_bytes(raw, "fuzz.studio")
    except ProjectError as exc:
        assert str(exc)
        return None
    # whatever loads must also check (and compile or fail cleanly) without crashing
    from studio.engine.shapes import ShapeChecker
    ShapeChecker(project.graph).errors()
    return project


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory):
    _, path = _saved(tmp_path_factory.mktemp("fuzz"))
    return path.read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_documents(valid_bytes, data):
    doc = json.loads(valid_bytes)
    paths = list(_paths(doc))
    path = data.draw(st.sampled_from(paths))
    doc = _set(doc, path, data.draw(json_values))
    _try_load(json.dumps(doc).encode())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_truncated_and_corrupted_bytes(valid_bytes, data):
    raw = bytearray(valid_bytes[: data.draw(st.integers(0, len(valid_bytes)))])
    for _ in range(data.draw(st.integers(0, 4))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _try_load(bytes(raw))


def test_only_regular_files_are_opened(tmp_path):
    fifo = tmp_path / "pipe.studio"
    os.mkfifo(fifo)
    with pytest.raises(ProjectError, match="not a regular file"):
        load_project(fifo)                      # would block forever if it were read
    with pytest.raises(ProjectError, match="not a regular file"):
        load_project("/dev/zero")               # would eat memory if it were read
    with pytest.raises(ProjectError, match="is a folder"):
        load_project(tmp_path)


@pytest.mark.parametrize("name", ['x"""\nimport os', "a b", "", "-lead", "x" * 101, "é"])
def test_model_names_that_keras_cannot_use_are_refused(tmp_path, name):
    _, path = _saved(tmp_path)
    doc = json.loads(path.read_text())
    doc["graph"]["name"] = name
    with pytest.raises(ProjectError, match="graph.name"):
        load_project_bytes(json.dumps(doc).encode(), "p.studio")


def test_imported_model_names_are_made_usable():
    from studio.engine.importer import model_name
    assert model_name('m"""\nimport os') == "m____import_os"
    assert model_name(None) == "model" and model_name("-x") == "m-x"


# -- numbers are bounded where the file is read ----------------------------------------

_BIG = 10 ** 400


@pytest.mark.parametrize("place", [
    lambda d, v: d["graph"]["nodes"][0].update(position=[v, 0]),
    lambda d, v: d["graph"]["nodes"][1]["config"].update(filters=v),
    lambda d, v: d["graph"]["nodes"][1]["config"].update(kernel_size=[3, v]),
    lambda d, v: d["training"].update(fine_tune={"unfreeze_from": "x", "epochs": 1, "learning_rate": v}),
    lambda d, v: d["training"].update(evil={"deep": [[v]]}),
    lambda d, v: d.update(dataset={"kind": "builtin", "name": "mnist-sample", "limit": v}),
])
@pytest.mark.parametrize("value, word", [(_BIG, "too large"), (-_BIG, "too small"), (2 ** 53 + 1, "too large")])
def test_whole_numbers_beyond_what_json_keeps_are_refused_naming_the_field(tmp_path, place, value, word):
    doc = _doc(tmp_path)
    place(doc, value)
    with pytest.raises(ProjectError, match=f"is {word} \\(whole numbers in a project lie within"):
        load_project_bytes(json.dumps(doc).encode(), "x.studio")


def test_the_largest_exact_whole_number_is_read_and_the_message_names_the_node_once(tmp_path):
    doc = _doc(tmp_path)
    doc["graph"]["nodes"][0]["position"] = [2 ** 53, -2 ** 53]
    load_project_bytes(json.dumps(doc).encode(), "x.studio")
    doc["graph"]["nodes"][1]["config"]["filters"] = _BIG
    name = doc["graph"]["nodes"][1]["name"]
    with pytest.raises(ProjectError) as info:
        load_project_bytes(json.dumps(doc).encode(), "x.studio")
    assert str(info.value).startswith(f"x.studio: node 2 ('{name}') config.filters: 100000000000… (401 digits)")


def test_a_block_position_is_bounded_by_the_block_check_too():
    from studio.engine.blocks import BlockError, check_block_config
    inner = {"kind": "functional", "graph": {"nodes": [
        {"id": "i", "class_name": "InputLayer", "name": "i", "config": {"shape": [4]}, "position": [_BIG, 0]}],
        "edges": [], "outputs": ["i"]}}
    with pytest.raises(BlockError, match="position should be two finite numbers"):
        check_block_config(inner, "node 1")


def test_a_config_check_message_names_the_file_once(tmp_path):
    doc = _doc(tmp_path)
    doc["graph"]["nodes"][1]["config"]["activation"] = {"module": "keras.config", "class_name": "set_epsilon"}
    with pytest.raises(ProjectError) as info:
        load_project_bytes(json.dumps(doc).encode(), "x.studio")
    assert str(info.value).count("x.studio") == 1


def test_unknown_training_fields_are_read_with_a_warning_naming_them(tmp_path):
    doc = _doc(tmp_path)
    doc["training"]["evil"] = "x"
    project = load_project_bytes(json.dumps(doc).encode(), "x.studio")
    assert any("unknown field 'evil'" in w and "batch_size" in w for w in project.warnings)
    assert "evil" not in project.training
    del doc["training"]["evil"]
    assert load_project_bytes(json.dumps(doc).encode(), "x.studio").warnings == []


def test_parse_json_bytes_guards_depth_and_constants():
    from studio.engine.project import parse_json_bytes
    with pytest.raises(ProjectError, match="^c.json: the JSON is nested too deeply$"):
        parse_json_bytes(b"[" * 200_000 + b"]" * 200_000, "c.json")
    with pytest.raises(ProjectError, match="NaN is not allowed"):
        parse_json_bytes(b'{"a": NaN}', "c.json")
