import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from studio.engine import datasets, templates
from studio.engine.train import Trainer, TrainingError

from .helpers import sample_slice


@pytest.fixture(scope="module")
def small():
    return sample_slice(1024, 256)


def dense_project():
    p = templates.build("mnist_dense")
    p.training.update(batch_size=64, epochs=2)
    return p


def test_run_folder_contents(tmp_path, small):
    t = Trainer(dense_project(), small, runs_dir=tmp_path)
    epochs = []
    t.epoch_ended.connect(lambda e, logs: epochs.append((e, logs)))
    summary = t.run_training(2)
    assert summary["status"] == "finished" and [e for e, _ in epochs] == [0, 1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(epochs[-1][1])
    run = t.run.path
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "history_epochs.csv", "history_epochs.json", "history_batches.csv",
            "history_batches.json", "weights_final.h5", "weights_best.h5", "run.json", "tensorboard"} <= names
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "finished" and meta["epochs"] == 2 and meta["device"]
    assert len(json.loads((run / "history_batches.json").read_text())) == 2 * 16
    assert (run / "history_epochs.csv").read_text().splitlines()[0].startswith("epoch,")
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tensorboard").rglob("*"))
    assert json.loads((run / "config.json").read_text())["training"]["batch_size"] == 64


def test_continue_keeps_counting_epochs(small):
    t = Trainer(dense_project(), small)
    t.run_training(1)
    first = list(t.batch_losses)
    t.run_training(2)
    assert [e["epoch"] for e in t.history_epochs] == [0, 1, 2]
    assert t.batch_losses[:len(first)] == first and len(t.batch_losses) == 3 * 16
    assert t.history_epochs[-1]["loss"] < t.history_epochs[0]["loss"]


def test_nan_loss_stops_with_epoch_and_batch(tmp_path, small):
    p = dense_project()
    p.training.update(optimizer="sgd", learning_rate=1e9)
    t = Trainer(p, small, runs_dir=tmp_path)
    failures = []
    t.failed.connect(failures.append)
    with pytest.raises(TrainingError, match=r"NaN or infinite at epoch 1, batch \d+"):
        t.run_training(2)
    assert failures and json.loads((t.run.path / "run.json").read_text())["status"] == "diverged"


def test_data_model_mismatch_is_reported_before_training(small):
    p = dense_project()
    classes = p.graph.node_by_name("classes")
    p.graph.set_param(classes.id, "units", 5)
    with pytest.raises(TrainingError, match="outputs \\(None, 5\\) but the dataset has 10 classes") as info:
        Trainer(p, small).run_training(1)
    assert info.value.node_id == classes.id
    p = dense_project()
    digits = p.graph.node_by_name("digits")
    p.graph.set_param(digits.id, "shape", [32, 32, 1])
    with pytest.raises(TrainingError, match="expects samples of shape") as info:
        Trainer(p, small).run_training(1)
    assert info.value.node_id == digits.id


def test_pause_resume_change_lr_and_stop_from_another_thread(tmp_path, small):
    p = dense_project()
    t = Trainer(p, small, runs_dir=tmp_path, batch_event_interval=0.0)
    seen = threading.Event()
    t.batch_ended.connect(lambda i, logs: seen.set())
    worker = threading.Thread(target=lambda: t.run_training(50))
    worker.start()
    assert seen.wait(60)
    t.pause()
    time.sleep(0.3)
    count = len(t.batch_losses)
    time.sleep(0.5)
    assert len(t.batch_losses) == count  # nothing moves while paused
    t.set_learning_rate(0.0005)
    t.resume()
    time.sleep(0.3)
    assert len(t.batch_losses) > count
    t.stop()
    worker.join(60)
    assert not worker.is_alive() and t.status == "stopped"
    assert float(t.model.optimizer.learning_rate.numpy()) == pytest.approx(0.0005)
    assert json.loads((t.run.path / "run.json").read_text())["status"] == "stopped"
    assert (t.run.path / "weights_final.h5").exists()


def test_cli_train_writes_a_run_folder(tmp_path):
    project = tmp_path / "dense.studio"
    p = dense_project()
    p.save(project)
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "studio", "train", str(project), "--epochs", "1", "--batch-size", "256",
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "finished 1 epochs" in r.stdout and "val_accuracy=" in r.stdout
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_cli_train_fails_clearly(tmp_path):
    p = dense_project()
    p.graph.set_param(p.graph.node_by_name("classes").id, "units", 3)
    project = tmp_path / "bad.studio"
    p.save(project)
    r = subprocess.run([sys.executable, "-m", "studio", "train", str(project), "--epochs", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2   # data that does not fit the model is bad input, as in evaluate
    assert "dataset has 10 classes" in r.stderr and "[node 'classes']" in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("error:"), r.stderr   # no TensorFlow start-up lines before our message
    r = subprocess.run([sys.executable, "-m", "studio", "train", str(project), "--dataset", str(tmp_path / "x.npz")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "no such file" in r.stderr


def test_weights_from_a_run_reload(tmp_path, small):
    from studio.engine.compiler import compile_graph
    from studio.engine.project import load_weights
    p = dense_project()
    t = Trainer(p, small, runs_dir=tmp_path)
    t.run_training(1)
    model = compile_graph(p.graph, load_weights(t.run.path / "weights_final.h5"))
    x = small.x_test[:8][..., None].astype("float32")
    assert np.abs(model.predict(x, verbose=0) - t.model.predict(x, verbose=0)).max() < 1e-6


MIRRORED = r'''
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from studio.engine import datasets, templates
from studio.engine.train import Trainer
ds = datasets.bundled_sample()
small = datasets.Dataset("s", ds.x_train[:1024], ds.y_train[:1024], ds.x_test[:256], ds.y_test[:256])
out = {}
for device in ("mirrored", "cpu"):
    p = templates.build("mnist_dense")
    p.training.update(batch_size=64, device=device, optimizer="sgd", learning_rate=0.01, shuffle_seed=3)
    t = Trainer(p, small)
    t.run_training(2)
    out[device] = [e["loss"] for e in t.history_epochs]
    if device == "mirrored":
        out["replicas"] = t.model.distribute_strategy.num_replicas_in_sync
print(json.dumps(out))
'''


def test_mirrored_strategy_on_two_logical_cpus():
    r = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    # same data, seed and batch size: the losses agree closely (summation order differs)
    assert out["mirrored"] == pytest.approx(out["cpu"], rel=0.05)


def test_failures_are_described_plainly():
    import tensorflow as tf
    from studio.engine.train import describe_failure
    oom = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape [4096,4096]")
    assert describe_failure(oom).startswith("out of memory while training: use a smaller batch size")
    assert describe_failure(MemoryError()).startswith("out of memory")
    assert describe_failure(ValueError("bad thing")) == "training failed: ValueError: bad thing"


def test_an_exception_inside_training_is_reported(small, monkeypatch):
    t = Trainer(dense_project(), small)
    failures = []
    t.failed.connect(failures.append)
    t.model = t.build()
    monkeypatch.setattr(t.model, "fit", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("device lost")))
    with pytest.raises(TrainingError, match="training failed: RuntimeError: device lost"):
        t.run_training(1)
    assert failures == ["training failed: RuntimeError: device lost"] and t.status == "failed"


def test_cosine_schedule_decays_per_run_and_restarts_on_continue(small):
    p = dense_project()
    p.training.update(lr_schedule="cosine", learning_rate=0.01)
    t = Trainer(p, small)
    t.run_training(1)
    assert float(t.model.optimizer.learning_rate.numpy()) < 1e-4  # decayed to ~0 by the end of the run
    t.set_learning_rate(0.004)  # e.g. while paused: applies now, decays by the planned end
    assert float(t.model.optimizer.learning_rate.numpy()) == pytest.approx(0.004, rel=1e-3)
    t.config = t.config.with_changes(learning_rate=0.01)  # settings are immutable values
    t.run_training(2)
    assert [e["epoch"] for e in t.history_epochs] == [0, 1, 2]
    assert float(t.model.optimizer.learning_rate.numpy()) < 1e-4
