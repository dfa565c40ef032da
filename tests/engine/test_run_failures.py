"""Run folders on a full or unwritable disk, and runs whose process was killed."""

import errno
import json
import os
import subprocess
import sys

import pytest

from studio.engine import datasets, project as project_mod, runs, templates
from studio.engine.runs import RunFolder, RunFolderError, list_runs
from studio.engine.train import Trainer, TrainingError

from .helpers import sample_slice


@pytest.fixture(scope="module")
def small():
    return sample_slice(256, 64)


def _project():
    p = templates.build("mnist_dense")
    p.training.update(batch_size=64, epochs=1)
    return p


def test_a_full_disk_ends_the_run_with_one_clear_message_and_run_json_says_so(tmp_path, small, monkeypatch):
    real = project_mod.save_weights

    def full_disk(*args, **kwargs):
        raise project_mod.ProjectError("could not save 'weights_final.h5': No space left on device")

    t = Trainer(_project(), small, runs_dir=tmp_path)
    monkeypatch.setattr(runs, "save_weights", full_disk)
    with pytest.raises(TrainingError, match="No space left on device") as info:
        t.run_training(1)
    assert "Traceback" not in str(info.value) and "\n" not in str(info.value)
    meta = json.loads((t.run.path / "run.json").read_text())
    assert meta["status"] == "failed" and "No space left on device" in meta["message"]
    monkeypatch.setattr(runs, "save_weights", real)


def test_run_json_unwritable_too_is_still_one_message(tmp_path, small, monkeypatch):
    t = Trainer(_project(), small, runs_dir=tmp_path)
    calls = {"n": 0}
    real = runs.atomic_write_text

    def failing(path, text):
        calls["n"] += 1
        if calls["n"] > 3:  # the config and the first run.json get written, then the disk fills
            raise project_mod.ProjectError(f"could not save '{path}': {os.strerror(errno.ENOSPC)}")
        return real(path, text)

    monkeypatch.setattr(runs, "atomic_write_text", failing)
    with pytest.raises(TrainingError, match="No space left on device"):
        t.run_training(1)


def test_an_unwritable_run_folder_is_a_clear_error(tmp_path, small):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(RunFolderError, match="cannot write the run folder"):
        RunFolder.at(blocker / "run")
    t = Trainer(_project(), small, runs_dir=blocker / "runs")
    with pytest.raises(TrainingError, match="cannot write the run folder"):
        t.run_training(1)


def test_a_killed_run_is_listed_as_interrupted(tmp_path, small):
    folder = RunFolder.create(tmp_path, "m")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()

    class Started:
        history_epochs = [{"epoch": 0, "loss": 1.0}]
        epochs_done = 1

    folder.start(Started())
    meta = json.loads((folder.path / "run.json").read_text())
    assert meta["status"] == "running" and meta["pid"] == os.getpid()
    assert list_runs(tmp_path)[0]["status"] == "running"  # this process is alive
    meta["pid"] = dead.pid
    (folder.path / "run.json").write_text(json.dumps(meta))
    listed = list_runs(tmp_path)
    assert listed[0]["status"] == "interrupted" and listed[0]["history"] == [{"epoch": 0, "loss": 1.0}]


def test_a_run_killed_mid_training_is_listed_as_interrupted(tmp_path):
    """A real training process killed with SIGKILL after its first epoch."""
    code = f"""
import os, signal
from studio.engine import datasets, templates
from studio.engine.train import Trainer
ds = datasets.bundled_sample()
small = datasets.Dataset("s", ds.x_train[:256], ds.y_train[:256], ds.x_test[:64], ds.y_test[:64], ds.class_names)
p = templates.build("mnist_dense")
p.training.update(batch_size=64)
t = Trainer(p, small, runs_dir={str(tmp_path)!r})
t.epoch_ended.connect(lambda e, logs: os.kill(os.getpid(), signal.SIGKILL))
t.run_training(5)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=240)
    assert proc.returncode == -9
    listed = list_runs(tmp_path)
    assert len(listed) == 1 and listed[0]["status"] == "interrupted"


def test_cli_train_starts_layers_fresh_when_saved_weights_no_longer_fit(tmp_path):
    import numpy as np
    from studio.engine.compiler import compile_graph, model_weights
    p = _project()
    weights = model_weights(compile_graph(p.graph))
    name = next(n for n, arrays in weights.items() if arrays[0].ndim == 2)
    weights[name] = [np.zeros((3, 3), "float32"), np.zeros((3,), "float32")]   # edited elsewhere
    p.weights = weights
    p.training.update(epochs=1)
    path = tmp_path / "p.studio"
    p.save(path)
    np.savez(tmp_path / "d.npz", **{k: v for k, v in zip(
        ("x_train", "y_train", "x_test", "y_test"),
        (datasets.bundled_sample().x_train[:128], datasets.bundled_sample().y_train[:128],
         datasets.bundled_sample().x_test[:32], datasets.bundled_sample().y_test[:32]))})
    r = subprocess.run([sys.executable, "-m", "studio", "train", str(path), "--dataset", str(tmp_path / "d.npz"),
                        "--epochs", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"warning: the saved weights of '{name}' do not fit the layer any more" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_batch_larger_than_the_data_is_clamped_and_said(tmp_path, small):
    p = _project()
    p.training.update(batch_size=10_000)
    t = Trainer(p, small)
    summary = t.run_training(1)
    assert summary["status"] == "finished" and t.config.batch_size == 256
    assert "larger than the 256 training samples" in t.notes[0]


def test_a_one_unit_softmax_is_flagged():
    from studio.engine.graph import ModelGraph
    from studio.engine.shapes import ShapeChecker
    g = ModelGraph("m")
    i = g.add_node("InputLayer", {"shape": [4]})
    d = g.add_node("Dense", {"units": 1, "activation": "softmax"})
    g.connect(i.id, d.id)
    checker = ShapeChecker(g)
    checker.refresh()
    state = checker.states[d.id]
    assert "cannot learn" in state.warning and state.fix.value == "sigmoid"


def test_weight_histograms_are_recorded_each_epoch_cheaply(tmp_path, small):
    from studio.engine.runs import load_histograms
    p = _project()
    t = Trainer(p, small, runs_dir=tmp_path)
    t.run_training(2)
    dense = next(n.name for n in p.graph.nodes.values() if n.class_name == "Dense")
    hists = load_histograms(t.run.path, dense)
    assert sorted(hists) == [0, 1]
    kernel, bias = t.weights()[dense]
    counts, edges = hists[1][0]
    assert counts.sum() == kernel.size and len(edges) == len(counts) + 1
    assert edges[0] <= kernel.min() and edges[-1] >= kernel.max()  # the last epoch's are the final weights
    assert hists[1][1][0].sum() == bias.size
    epoch_seconds = sum(e["seconds"] for e in t.history_epochs)
    print(f"histograms: {t.histogram_seconds * 1000:.1f} ms for {epoch_seconds:.2f} s of epochs")
