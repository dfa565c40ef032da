"""Data, labels, loss and settings checked against each other before training; the CLI's caps."""

import argparse
import json
import logging

import numpy as np
import pytest

from studio.engine import datasets
from studio.engine.datasets import Dataset, DatasetError, Preprocess, check_labels
from studio.engine.train import Trainer, TrainingError, TrainingConfig
from studio.engine.train.fit_checks import loss_problems
from studio.engine.train.trainer import DataMismatch


def _data(y_train, y_test=None, x_train=None, x_test=None):
    y_test = y_train[:4] if y_test is None else y_test
    x_train = np.zeros((len(y_train), 8), "float32") if x_train is None else x_train
    x_test = np.zeros((len(y_test), 8), "float32") if x_test is None else x_test
    return Dataset("d", x_train, np.asarray(y_train), x_test, np.asarray(y_test))


INTS = _data(np.arange(12) % 3)
ONEHOT = _data(np.eye(3, dtype="float32")[np.arange(12) % 3])


@pytest.mark.parametrize("loss, data, pre, units, phrase", [
    ("sparse_categorical_crossentropy", INTS, "integer", 3, None),
    ("categorical_crossentropy", ONEHOT, "integer", 3, None),
    ("categorical_crossentropy", INTS, "onehot", 3, None),
    ("binary_crossentropy", _data(np.arange(12) % 2), "integer", 1, None),
    ("mean_squared_error", INTS, "integer", 1, None),
    ("sparse_categorical_crossentropy", ONEHOT, "integer", 3, "wants class numbers: choose categorical_crossentropy"),
    ("sparse_categorical_crossentropy", INTS, "onehot", 3, "one-hot rows (3 columns)"),
    ("categorical_crossentropy", INTS, "integer", 3, "wants one-hot rows: choose sparse_categorical_crossentropy"),
    ("binary_crossentropy", INTS, "integer", 3, "give the last layer 1 unit or choose sparse_categorical"),
    ("binary_crossentropy", INTS, "integer", 1, "takes labels 0 and 1 but the dataset has 3 classes"),
    ("mean_squared_error", ONEHOT, "integer", 1, "rows of 3 columns"),
    ("sparse_categorical_crossentropy", INTS, "integer", 5, "the last layer needs 3 units"),
])
def test_the_loss_must_fit_the_labels_and_the_output(loss, data, pre, units, phrase):
    problems = loss_problems("out", (None, units), data, Preprocess(labels=pre), loss)
    if phrase is None:
        assert problems == []
    else:
        assert len(problems) == 1 and phrase in problems[0], problems


def _project(training=None, units=3):
    from studio.engine.graph import ModelGraph
    from studio.engine.project import Project

    from .helpers import chain
    g = ModelGraph("m")
    chain(g, ("InputLayer", {"shape": [8]}), ("Dense", {"units": 4, "activation": "relu"}),
          ("Dense", {"units": units, "activation": "softmax"}))
    return Project(graph=g, training={"batch_size": 4, "epochs": 1, **(training or {})})


@pytest.mark.parametrize("split, phrase", [(0.99, "leaves none of the 12 training samples to train on"),
                                           (1e-20, "leaves none of the 12 training samples for validation")])
def test_a_validation_split_that_leaves_one_side_empty_is_refused_before_training(split, phrase):
    t = Trainer(_project({"validation": "split", "validation_split": split}), INTS)
    with pytest.raises(DataMismatch, match=phrase):
        t.run_training(1)
    assert t.model is None


def test_data_mismatches_are_bad_input_and_failures_are_not():
    from studio.engine.errors import BAD_INPUT, FAILURE, exit_code_for
    assert exit_code_for(DataMismatch("x")) == BAD_INPUT
    assert exit_code_for(TrainingError("x")) == FAILURE


def test_an_unexpected_failure_keeps_its_traceback_in_run_json_not_on_the_terminal(tmp_path, monkeypatch, caplog):
    t = Trainer(_project(), INTS, runs_dir=tmp_path)
    t.model = t.build()
    monkeypatch.setattr(t.model, "fit", lambda *a, **k: (_ for _ in ()).throw(ValueError("raw keras text")))
    with caplog.at_level(logging.WARNING), pytest.raises(TrainingError, match="ValueError: raw keras text"):
        t.run_training(1)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    meta = json.loads((t.run.path / "run.json").read_text())
    assert meta["status"] == "failed" and "Traceback" in meta["traceback"] and "raw keras text" in meta["traceback"]


@pytest.mark.parametrize("y, phrase", [
    ([[5, -1, 0.5]] * 3, "holds 5 in column 0"),
    ([[1, 1, 0]] * 3, "sums to 2"),
    ([[0.2, 0.3, 0.4]] * 3, "sums to 0.9"),
])
def test_label_rows_must_be_one_hot_or_probabilities(y, phrase):
    with pytest.raises(DatasetError, match=phrase):
        check_labels(np.array(y, "float32"), "y")
    ok = check_labels(np.array([[0.2, 0.3, 0.5], [0, 0, 1]], "float32"), "y")
    assert ok.dtype == np.float32


@pytest.mark.parametrize("settings, phrase", [
    ({"scale": "false"}, "scale should be true or false"), ({"channel_axis": 1}, "channel_axis should be true"),
    ({"layout": None}, "layout should be 'keep' or 'flatten'"), ({"labels": 0}, "labels should be 'integer'"),
])
def test_preprocess_settings_are_strictly_typed(settings, phrase):
    with pytest.raises(DatasetError, match=phrase):
        Preprocess.from_dict(settings)
    assert Preprocess.from_dict({"scale": False}).scale is False


def test_one_scaling_decision_from_the_training_data_for_every_split():
    x_train = np.full((4, 8), 255, "uint8")
    x_test = np.full((2, 8), 255, "float32")
    ds = Dataset("d", x_train, np.arange(4) % 2, x_test, np.arange(2))
    x, _, xt, _ = Preprocess().apply(ds)
    assert x.max() == 1.0 and xt.max() == 1.0


def test_npz_splits_of_different_pixel_types_are_refused(tmp_path):
    path = tmp_path / "mixed.npz"
    np.savez(path, x_train=np.zeros((6, 8), "uint8"), y_train=np.arange(6) % 2,
             x_test=np.zeros((3, 8), "float32"), y_test=np.arange(3) % 2)
    with pytest.raises(DatasetError, match="x_train holds uint8 values but x_test holds float32"):
        datasets.load_npz(path)


def test_csv_cells_are_plain_numbers_and_a_bom_is_not_a_name(tmp_path):
    rows = "".join(f"{k % 2},{k},{k + 1}\n" for k in range(6))
    (tmp_path / "u.csv").write_text("label,a,b\n" + rows + "1,1_000,2\n")
    with pytest.raises(DatasetError, match="row 8, column 'a': '1_000' is not a plain number"):
        datasets.load_csv(tmp_path / "u.csv")
    (tmp_path / "bom.csv").write_bytes(("\ufefflabel,a,b\n" + rows).encode())
    assert datasets.load_csv(tmp_path / "bom.csv").x_train.shape[1] == 2


def test_command_line_numbers_have_the_project_files_caps():
    from studio.cli import _batch_size, _cluster, _epochs
    assert _epochs("100000") == 100_000
    for parse, text in ((_epochs, "100001"), (_epochs, "99999999999999999999"), (_batch_size, "1000001"),
                        (_epochs, "0")):
        with pytest.raises(argparse.ArgumentTypeError, match="must be at (most|least)"):
            parse(text)
    assert _cluster("a:1,b.example:65535") == "a:1,b.example:65535"
    for text in ("a:b:c", ":80", "h:0", "h:65536", "h", "h:１２"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not HOST:PORT"):
            _cluster(text)


def test_settings_caps_match_the_command_line():
    with pytest.raises(Exception, match="epochs"):
        TrainingConfig.from_dict({"epochs": 100_001})


def test_csv_parsing_memory_is_bounded_by_the_file(tmp_path):
    import tracemalloc
    width = 5000
    path = tmp_path / "wide.csv"
    path.write_text("label," + ",".join(f"f{k}" for k in range(width)) + "\n"
                    + "".join(f"{r % 2}," + ",".join("1" for _ in range(width)) + "\n" for r in range(200)))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        ds = datasets.load_csv(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ds.x_train.dtype == np.float32 and len(ds.x_train) + len(ds.x_test) == 200
    # one float32 array (at most twice the file) and its train/held-out copy; not a Python float per cell (30x)
    assert peak < 5 * size, (peak, size)


def test_a_csv_header_too_wide_is_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_CSV_COLUMNS", 100)
    path = tmp_path / "w.csv"
    path.write_text("label," + ",".join("a" * 101) + "\n" + "0," + ",".join("1" * 101) + "\n")
    with pytest.raises(DatasetError, match="more than 100 columns"):
        datasets.load_csv(path)


def test_csv_features_beyond_float32_are_refused():
    import io as _io  # noqa: F401
    from studio.engine.datasets import _csv_number
    with pytest.raises(DatasetError, match="not a finite number in 32-bit floats"):
        _csv_number("f.csv", 2, ["label", "a"], 1, "1e300", float32=True)


def test_tensorflow_start_up_lines_stay_off_stderr(tmp_path):
    import subprocess
    import sys

    from studio.cli import _TF_NOISE
    project = _project()
    project.save(tmp_path / "p.studio")
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    r = subprocess.run([sys.executable, "-m", "studio", "check", str(tmp_path / "p.studio")], capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert not [line for line in r.stderr.splitlines() if any(n in line for n in _TF_NOISE)], r.stderr


def test_a_bad_file_is_refused_before_tensorflow_is_loaded(tmp_path):
    """The start-up notes are kept off stderr when TensorFlow is first needed, not by loading it
    up front: a refusal of a bad file takes a fraction of a second, not TensorFlow's start-up."""
    import subprocess
    import sys

    bad = tmp_path / "bad.studio"
    bad.write_text('{"format": "something else"}')
    probe = ("import sys; from studio import cli; code = cli.main(['check', sys.argv[1]]); "
             "print('LOADED' if 'tensorflow' in sys.modules else 'NOT LOADED', code)")
    r = subprocess.run([sys.executable, "-c", probe, str(bad)], capture_output=True, text=True, timeout=300)
    assert r.stdout.split() == ["NOT", "LOADED", "2"], (r.stdout, r.stderr)
    assert r.stderr.startswith("error:") and "not a Layer Studio project" in r.stderr
