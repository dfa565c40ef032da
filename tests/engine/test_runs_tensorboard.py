"""TensorBoard logs of a run: per-epoch figures, the learning rate and every batch's
loss, read back from the event files; and what writing them costs per epoch."""

import math
import time
from pathlib import Path

import pytest

from studio.engine import datasets, templates
from studio.engine.runs import RunFolder
from studio.engine.train import Trainer


def _events(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] from every event file in ``folder``."""
    import tensorflow as tf
    out: dict[str, list] = {}
    for path in sorted(folder.glob("events.out.tfevents*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = value.simple_value if value.HasField("simple_value") else \
                    float(tf.make_ndarray(value.tensor))
                out.setdefault(value.tag, []).append((event.step, number))
    return out


@pytest.fixture(scope="module")
def sample():
    ds = datasets.bundled_sample()
    return ds


def _slice(ds, n_train, n_test):
    return datasets.Dataset("slice", ds.x_train[:n_train], ds.y_train[:n_train], ds.x_test[:n_test],
                            ds.y_test[:n_test], ds.class_names, "slice of the bundled sample")


def test_learning_rate_and_batch_losses_are_logged(tmp_path, sample):
    project = templates.build("mnist_convnet")   # RMSprop with a cosine decay over the run
    project.training.update(batch_size=64, epochs=2)
    t = Trainer(project, _slice(sample, 512, 128), runs_dir=tmp_path)
    t.run_training(2)
    board = t.run.path / "tensorboard"
    train, validation, batches = (_events(board / part) for part in ("train", "validation", "batches"))
    assert [s for s, _ in train["epoch_loss"]] == [0, 1]
    assert [round(v, 5) for _, v in train["epoch_loss"]] == [round(e["loss"], 5) for e in t.history_epochs]
    assert [s for s, _ in validation["epoch_accuracy"]] == [0, 1]
    rates = [v for _, v in train["epoch_learning_rate"]]
    # read after each epoch: the cosine decay is half way after one of two epochs, at 0 after both
    assert rates == [pytest.approx(0.0005, rel=1e-4), pytest.approx(0.0, abs=1e-9)]
    expected = [(k, v) for k, v in enumerate(t.batch_losses) if math.isfinite(v)]
    assert [s for s, _ in batches["batch_loss"]] == [k for k, _ in expected] == list(range(2 * 8))
    assert [v for _, v in batches["batch_loss"]] == pytest.approx([v for _, v in expected], rel=1e-6)

    # Continue: the steps go on from where the run was, in the same files
    t.run_training(1)
    batches = _events(board / "batches")["batch_loss"]
    assert [s for s, _ in batches] == list(range(3 * 8))
    assert [s for s, _ in _events(board / "train")["epoch_learning_rate"]] == [0, 1, 2]


def test_constant_rate_is_logged_as_set(tmp_path, sample):
    project = templates.build("mnist_dense")
    project.training.update(batch_size=128, epochs=1, learning_rate=0.0025, optimizer="adam")
    t = Trainer(project, _slice(sample, 256, 64), runs_dir=tmp_path)
    t.run_training(1)
    rates = _events(t.run.path / "tensorboard" / "train")["epoch_learning_rate"]
    assert rates == [(0, pytest.approx(0.0025))]


def test_writing_an_epoch_costs_at_most_two_percent_of_it(tmp_path, sample, capsys):
    """The whole write (epoch figures, learning rate, every batch's loss) against the
    epoch's own time, for an epoch of 4,096 samples in batches of 32 (128 batches);
    the first write, which opens the files, is not counted."""
    project = templates.build("mnist_convnet")
    project.training.update(batch_size=32, epochs=2)
    t = Trainer(project, _slice(sample, 4096, 256), runs_dir=tmp_path)
    spent = []
    t.run = RunFolder.create(tmp_path, "timed")
    write = t.run.write_tensorboard

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        write(*args, **kwargs)
        spent.append(time.perf_counter() - t0)

    t.run.write_tensorboard = timed
    t.run_training(2)
    epoch_seconds = t.history_epochs[1]["seconds"]
    with capsys.disabled():
        print(f"\nTensorBoard write: first {spent[0] * 1000:.1f} ms, then {spent[1] * 1000:.1f} ms for an epoch "
              f"of {epoch_seconds:.2f} s ({spent[1] / epoch_seconds:.2%})")
    assert len(spent) == 2 and spent[1] <= 0.02 * epoch_seconds
