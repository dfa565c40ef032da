"""Fast feature extraction: the frozen part's outputs are computed once and only the
rest of the model trains on them; the result is the model the person built."""

import json
import subprocess
import sys

import numpy as np
import pytest

from studio.engine import templates
from studio.engine.compiler import compile_graph
from studio.engine.project import Project, ProjectError, load_project
from studio.engine.shapes import ShapeChecker
from studio.engine.train import Trainer, TrainingConfig, TrainingError
from studio.engine.train.feature_cache import counts_from_states, frozen_layer_names, plan_cut

from .helpers import sample_slice


@pytest.fixture(scope="module")
def small():
    return sample_slice(512, 128)


def convnet(freeze=("conv1", "conv2"), insert=None, head_dropout=True) -> Project:
    """The starter convnet (rescaling, conv1, pool1, conv2, pool2, conv3, flatten, classes) with
    some layers frozen, a Dropout before the classifier and optionally a layer inserted after
    ``insert[0]``: (after, class, config, name)."""
    p = templates.build("mnist_convnet")
    g = p.graph
    for name in freeze:
        g.set_param(g.node_by_name(name).id, "trainable", False)
    conv3 = g.node_by_name("conv3")
    g.set_param(conv3.id, "filters", 16)
    if head_dropout:
        _insert(g, "flatten", "Dropout", {"rate": 0.3}, "head_drop")
    if insert is not None:
        _insert(g, *insert)
    p.training.update(batch_size=64, epochs=2, shuffle_seed=7, validation="held_out")
    return p


def _insert(g, after, class_name, config, name):
    src = g.node_by_name(after)
    (edge,) = g.out_edges(src.id)
    node = g.add_node(class_name, config, name=name)
    g.disconnect(edge)
    g.connect(src.id, node.id, 0)
    g.connect(node.id, edge.dst, edge.dst_port)


def _plan(p: Project):
    checker = ShapeChecker(p.graph)
    checker.refresh()
    return plan_cut(p.graph, counts_from_states(p.graph, checker.states))


# -- where the cut falls, and why there is none ------------------------------------------------

def test_the_cut_falls_after_the_last_frozen_or_weightless_layer():
    plan = _plan(convnet())
    assert plan.available and plan.cut_names == ["pool2"] and plan.frozen_layers == 2
    assert plan.frozen_params == 320 + 18_496
    assert "'pool2'" in plan.describe() and not plan.note


def test_refused_when_nothing_is_frozen():
    plan = _plan(convnet(freeze=()))
    assert not plan.available and plan.reason.startswith("nothing is frozen")


def test_refused_when_a_random_layer_comes_before_the_frozen_ones():
    plan = _plan(convnet(insert=("scale", "Dropout", {"rate": 0.2}, "drop")))
    assert not plan.available
    assert plan.reason == "'drop' before the frozen 'conv1' is random in training (rate 0.2)"
    assert plan.node_id is not None
    plan = _plan(convnet(insert=("scale", "RandomFlip", {"mode": "horizontal"}, "flip")))
    assert not plan.available and plan.reason == "'flip' before the frozen 'conv1' is random in training"
    plan = _plan(convnet(insert=("scale", "GaussianNoise", {"stddev": 0.1}, "noise")))
    assert not plan.available and "'noise' before the frozen 'conv1' is random" in plan.reason
    # a dropout of rate 0 changes nothing: the cut is where it was
    assert _plan(convnet(insert=("scale", "Dropout", {"rate": 0.0}, "drop"))).cut_names == ["pool2"]


def test_refused_when_a_trainable_layer_or_live_batchnorm_comes_first():
    plan = _plan(convnet(freeze=("conv2",)))
    assert not plan.available and plan.reason == "'conv1' before the frozen 'conv2' is trainable"
    plan = _plan(convnet(insert=("pool1", "BatchNormalization", {}, "bn")))
    assert plan.available and plan.cut_names == ["pool1"]   # stops before the batch norm that still learns
    assert "'conv2' is frozen but stays in training" in plan.note and "BatchNormalization" in plan.note
    frozen_bn = convnet(insert=("pool1", "BatchNormalization", {"trainable": False}, "bn"))
    assert _plan(frozen_bn).cut_names == ["pool2"]            # a frozen one runs in inference mode


def test_a_frozen_layer_after_a_dropout_stays_in_training():
    plan = _plan(convnet(insert=("pool1", "SpatialDropout2D", {"rate": 0.1}, "sdrop")))
    assert plan.available and plan.cut_names == ["pool1"]
    assert plan.note == "'conv2' is frozen but stays in training: 'sdrop' before it is random in training (rate 0.1)"


def test_refused_when_everything_is_frozen():
    p = convnet(freeze=("conv1", "conv2", "conv3", "classes"))
    plan = _plan(p)
    assert not plan.available and "nothing" in plan.reason


def test_settings_validate_the_option():
    assert TrainingConfig().feature_extraction is False
    assert TrainingConfig.from_dict({"feature_extraction": True}).to_dict()["feature_extraction"] is True
    with pytest.raises(ValueError, match=r"training.feature_extraction must be true or false \(got 'yes'\)"):
        TrainingConfig.from_dict({"feature_extraction": "yes"})


# -- training ------------------------------------------------------------------------------------

def _train(project, data, tmp_path=None, epochs=2):
    t = Trainer(project, data, runs_dir=tmp_path)
    summary = t.run_training(epochs)
    return t, summary


def test_refusal_names_the_reason_and_writes_no_run(tmp_path, small):
    p = convnet(insert=("scale", "Dropout", {"rate": 0.2}, "drop"))
    p.training["feature_extraction"] = True
    t = Trainer(p, small, runs_dir=tmp_path)
    with pytest.raises(TrainingError) as info:
        t.run_training(1)
    assert str(info.value) == ("fast feature extraction is not possible: 'drop' before the frozen 'conv1' is random "
                               "in training (rate 0.2); turn it off in the training settings")
    assert info.value.node_id == p.graph.node_by_name("drop").id
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    from studio.engine.errors import exit_code_for
    from studio.engine.train.trainer import FeatureExtractionRefused
    assert isinstance(info.value, FeatureExtractionRefused) and exit_code_for(info.value) == 2   # bad input
    assert info.value.reason == "'drop' before the frozen 'conv1' is random in training (rate 0.2)"


def test_cached_training_gives_the_plain_fit_and_the_full_model(tmp_path, small):
    """Same seed: the full model trained on cached features has the weights a plain fit
    reaches (dropout in the head included), and full(x) == head(frozen(x))."""
    import keras

    plain_project = convnet()
    fast_project = convnet()
    fast_project.training["feature_extraction"] = True
    plain, _ = _train(plain_project, small)
    fast, summary = _train(fast_project, small, tmp_path)
    a, b = plain.weights(), fast.weights()
    assert sorted(a) == sorted(b)
    for name in a:
        for wa, wb in zip(a[name], b[name]):
            np.testing.assert_allclose(wb, wa, atol=2e-5, err_msg=name)
    np.testing.assert_allclose([e["val_accuracy"] for e in fast.history_epochs],
                               [e["val_accuracy"] for e in plain.history_epochs], atol=1e-6)
    # frozen layers did not move; trained ones did
    keras.utils.set_random_seed(7)
    start = Trainer(convnet(), small).build()
    assert all(np.array_equal(x, y) for x, y in zip(start.get_layer("conv1").get_weights(), b["conv1"]))
    assert not np.allclose(start.get_layer("classes").get_weights()[0], b["classes"][0])
    # the full model, rebuilt from the weights the run kept, is head-on-frozen
    x, _, x_test, _ = fast.arrays()
    full = compile_graph(fast_project.graph, b)
    head, _, f_test = fast._cache
    np.testing.assert_allclose(full.predict(x_test, verbose=0), head.predict(f_test, verbose=0), atol=1e-6)
    info = summary["feature_extraction"]
    assert info["cut"] == ["pool2"] and info["feature_shapes"] == [[5, 5, 64]] and info["samples"] == 640
    assert info["speedup"] > 0 and info["estimated_plain_epoch_seconds"] > info["epoch_seconds"]


def test_same_weights_as_fitting_the_head_on_features_by_hand(small):
    import keras

    p = convnet()
    p.training.update(feature_extraction=True, lr_schedule="constant")
    fast, _ = _train(p, small, epochs=1)
    keras.utils.set_random_seed(7)
    same = convnet()
    same.training["lr_schedule"] = "constant"
    model = Trainer(same, small).build()
    cut = model.get_layer("pool2").output
    frozen, head = keras.Model(model.input, cut), keras.Model(cut, model.output)
    head.compile(optimizer=model.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y, x_test, y_test = fast.arrays()
    head.fit(frozen.predict(x, batch_size=64, verbose=0), y, batch_size=64, epochs=1, shuffle=True, verbose=0,
             validation_data=(frozen.predict(x_test, batch_size=64, verbose=0), y_test))
    for name, arrays in fast.weights().items():
        for got, want in zip(arrays, model.get_layer(name).get_weights()):
            np.testing.assert_allclose(got, want, atol=1e-6, err_msg=name)


def test_continue_reuses_the_cache_and_run_json_lists_frozen_layers(tmp_path, small):
    p = convnet()
    p.training["feature_extraction"] = True
    t, _ = _train(p, small, tmp_path, epochs=1)
    head = t._cache[0]
    summary = t.run_training(1)
    assert t._cache[0] is head and summary["feature_extraction"]["reused"]
    assert [e["epoch"] for e in t.history_epochs] == [0, 1]
    meta = json.loads((t.run.path / "run.json").read_text())
    assert meta["frozen"] == ["conv1", "conv2"] and meta["status"] == "finished"
    assert meta["feature_extraction"]["cut"] == ["pool2"] and meta["feature_extraction"]["frozen_layers"] == 2
    assert json.loads((t.run.path / "config.json").read_text())["training"]["feature_extraction"] is True
    plain, _ = _train(convnet(freeze=("conv1",)), small, tmp_path / "plain", epochs=1)
    meta = json.loads((plain.run.path / "run.json").read_text())
    assert meta["frozen"] == ["conv1"] and meta["feature_extraction"] is None
    assert frozen_layer_names(convnet(freeze=()).graph) == []


def test_validation_split_and_none_work_on_cached_features(small):
    for validation in ("split", "none"):
        p = convnet()
        p.training.update(feature_extraction=True, validation=validation)
        t, summary = _train(p, small, epochs=1)
        assert summary["status"] == "finished"
        assert ("val_loss" in t.history_epochs[-1]) == (validation == "split")


# -- the project file and the command line --------------------------------------------------------

def test_project_file_round_trips_the_option(tmp_path):
    p = convnet()
    p.training["feature_extraction"] = True
    p.save(tmp_path / "fx.studio")
    assert load_project(tmp_path / "fx.studio").training["feature_extraction"] is True
    assert load_project(tmp_path / "fx.studio").graph.node_by_name("conv1").config["trainable"] is False
    doc = json.loads((tmp_path / "fx.studio").read_text())
    doc["training"]["feature_extraction"] = "yes"
    (tmp_path / "bad.studio").write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="training.feature_extraction must be true or false"):
        load_project(tmp_path / "bad.studio")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "studio", "train", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_flag(tmp_path):
    project = tmp_path / "fx.studio"
    convnet().save(project)
    r = _cli(project, "--feature-extraction", "--epochs", "1", "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "fast feature extraction: the outputs of 'pool2' (1,600 values a sample)" in r.stderr
    assert "instead of about" in r.stdout and "faster" in r.stdout
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["feature_extraction"]["cut"] == ["pool2"] and meta["frozen"] == ["conv1", "conv2"]
    unfrozen = tmp_path / "unfrozen.studio"
    convnet(freeze=()).save(unfrozen)
    r = _cli(unfrozen, "--feature-extraction", "--epochs", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr   # the request does not fit the project: bad input
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --feature-extraction: fast feature extraction is not possible: nothing is frozen")
    assert last.endswith("; drop --feature-extraction") and "training settings" not in last
    on = convnet(freeze=())
    on.training["feature_extraction"] = True
    on.save(unfrozen)
    r = _cli(unfrozen, "--no-feature-extraction", "--epochs", "1", "--out", tmp_path / "run2")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "run2" / "run.json").read_text())["feature_extraction"] is None


@pytest.mark.parametrize("extra", [{"device": "mirrored"}, {"mixed_precision": True}])
def test_works_under_mirrored_strategy_and_mixed_precision(small, extra):
    p = convnet()
    p.training.update(feature_extraction=True, **extra)
    t, summary = _train(p, small, epochs=1)
    assert summary["status"] == "finished" and summary["feature_extraction"]["cut"] == ["pool2"]


def test_stop_during_the_caching_pass(tmp_path, small):
    p = convnet()
    p.training["feature_extraction"] = True
    t = Trainer(p, small, runs_dir=tmp_path)
    t.caching_started.connect(lambda what: t.stop())
    summary = t.run_training(2)
    assert summary["status"] == "stopped" and t.epochs_done == 0 and t._cache is None
    assert json.loads((t.run.path / "run.json").read_text())["status"] == "stopped"


def test_train_again_after_a_stopped_caching_pass(small):
    p = convnet()
    p.training["feature_extraction"] = True
    t = Trainer(p, small)

    def stop(_what):
        t.stop()

    t.caching_started.connect(stop)
    assert t.run_training(1)["status"] == "stopped"
    t.caching_started.disconnect(stop)
    summary = t.run_training(1)
    assert summary["status"] == "finished" and t.epochs_done == 1 and not summary["feature_extraction"]["reused"]
