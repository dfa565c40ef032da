"""The architecture diff between two runs' snapshots."""

import json

import pytest

from studio.engine import templates
from studio.engine.run_diff import RunDiffError, config_changes, diff_graphs, diff_runs


def _edited():
    a = templates.build("mnist_convnet").graph
    b = a.copy()
    conv3 = b.node_by_name("conv3")
    b.set_param(conv3.id, "filters", 96)
    flatten, classes = b.node_by_name("flatten"), b.node_by_name("classes")
    edge = next(e for e in b.edges if e.src == flatten.id and e.dst == classes.id)
    b.disconnect(edge)
    drop = b.add_node("Dropout", {"rate": 0.5}, name="drop")
    b.connect(flatten.id, drop.id, 0)
    b.connect(drop.id, classes.id, 0)
    pool2 = b.node_by_name("pool2")
    b.remove_node(b.node_by_name("scale").id)
    b.connect(b.node_by_name("digits").id, b.node_by_name("conv1").id, 0)
    return a, b, pool2


def test_added_removed_and_changed_layers():
    a, b, _ = _edited()
    diff = diff_graphs(a.to_dict(), b.to_dict())
    assert [n.name for n in diff.added] == ["drop"]
    assert [n.name for n in diff.removed] == ["scale"]
    changed = {n.name: n for n in diff.changed}
    assert set(changed) == {"conv3", "classes", "conv1"}
    assert [(c.key, c.old, c.new) for c in changed["conv3"].changes] == [("filters", 128, 96)]
    assert [(c.key, c.old, c.new) for c in changed["classes"].changes] == [("inputs", ["flatten"], ["drop"])]
    assert [(c.key, c.old, c.new) for c in changed["conv1"].changes] == [("inputs", ["scale"], ["digits"])]
    assert changed["conv3"].old_id == changed["conv3"].new_id == b.node_by_name("conv3").id
    text = "\n".join(diff.lines())
    assert "~ conv3 (Conv2D): filters: 128 → 96" in text and "+ drop (Dropout) added" in text
    assert "− scale (Rescaling) removed" in text
    assert diff_graphs(a.to_dict(), a.to_dict()).same_architecture
    assert diff_graphs(a.to_dict(), a.to_dict()).lines() == ["same architecture"]


def test_layers_match_by_name_when_ids_differ_and_a_new_type_is_a_new_layer():
    a = templates.build("mnist_convnet").graph
    b = templates.build("mnist_convnet").graph
    data = b.to_dict()
    renamed = {n["id"]: "x" + n["id"] for n in data["nodes"]}
    for n in data["nodes"]:
        n["id"] = renamed[n["id"]]
    data["edges"] = [[renamed[s], sp, renamed[d], dp] for s, sp, d, dp in data["edges"]]
    assert diff_graphs(a.to_dict(), data).same_architecture
    for n in data["nodes"]:
        if n["name"] == "pool1":
            n["class_name"] = "AveragePooling2D"
    diff = diff_graphs(a.to_dict(), data)
    assert [n.name for n in diff.added] == ["pool1"] and [n.name for n in diff.removed] == ["pool1"]


def test_left_out_parameters_count_as_their_defaults():
    import keras  # noqa: F401  (defaults come from Keras once it is loaded)
    assert config_changes("Conv2D", {"filters": 8, "kernel_size": [3, 3]},
                          {"filters": 8, "kernel_size": (3, 3), "padding": "valid", "use_bias": True}) == []
    assert [c.key for c in config_changes("Conv2D", {"filters": 8}, {"filters": 8, "padding": "same"})] == ["padding"]


def test_runs_are_read_from_their_config_json(tmp_path):
    a, b, _ = _edited()
    for name, graph, lr in (("r1", a, 0.001), ("r2", b, 0.01)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(
            {"graph": graph.to_dict(), "training": {"learning_rate": lr, "batch_size": 64}}))
    diff = diff_runs(tmp_path / "r1", tmp_path / "r2")
    assert [n.name for n in diff.added] == ["drop"]
    assert [(c.key, c.old, c.new) for c in diff.training] == [("learning_rate", 0.001, 0.01)]
    assert "training learning_rate: 0.001 → 0.01" in diff.lines()
    (tmp_path / "r3").mkdir()
    with pytest.raises(RunDiffError, match="run 'r3' has no config.json"):
        diff_runs(tmp_path / "r1", tmp_path / "r3")
    (tmp_path / "r3" / "config.json").write_text("{not json")
    with pytest.raises(RunDiffError, match="not valid JSON"):
        diff_runs(tmp_path / "r3", tmp_path / "r1")
    (tmp_path / "r3" / "config.json").write_text(json.dumps({"graph": {"nodes": [{"id": 1}]}}))
    with pytest.raises(RunDiffError, match="no id, name or type"):
        diff_runs(tmp_path / "r3", tmp_path / "r1")


def test_a_run_config_nested_too_deeply_is_a_run_diff_error(tmp_path):
    from studio.engine.run_diff import read_run_config
    (tmp_path / "config.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(RunDiffError, match="config.json: the JSON is nested too deeply"):
        read_run_config(tmp_path)
