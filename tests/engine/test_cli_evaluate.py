"""`layer-studio evaluate`, run as a person or a script would run it."""

import json
import subprocess
import sys

import pytest

from studio.engine import datasets, templates
from studio.engine.runs import runs_dir_for

KEYS = {"source", "dataset", "samples", "loss_name", "loss", "metrics", "accuracy", "classes", "per_class",
        "averages", "confusion_matrix", "mistakes", "seconds", "notes"}


def _run(*args):
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A saved project with trained weights and one run folder beside it."""
    from studio.engine.train import Trainer
    folder = tmp_path_factory.mktemp("evaluate")
    path = folder / "dense.studio"
    project = templates.build("mnist_dense")
    project.training.update(batch_size=128, epochs=1)
    sample = datasets.bundled_sample()
    small = datasets.Dataset("small", sample.x_train[:1000], sample.y_train[:1000], sample.x_test,
                             sample.y_test, sample.class_names)
    trainer = Trainer(project, small, runs_dir=runs_dir_for(path, folder))
    trainer.run_training(1)
    project.trained_weights = trainer.weights()
    project.save(path)
    return path, trainer.run.path


def test_json_with_the_project_weights(trained):
    path, _ = trained
    result = _run("evaluate", str(path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert KEYS <= set(data)
    assert data["source"] == {"kind": "current"} and data["samples"] == 2000
    assert data["classes"] == [str(i) for i in range(10)]
    assert len(data["confusion_matrix"]) == 10 and sum(map(sum, data["confusion_matrix"])) == 2000
    assert {"class", "name", "precision", "recall", "f1", "support"} <= set(data["per_class"][0])
    assert data["accuracy"] > 0.5 and data["metrics"]["accuracy"] == pytest.approx(data["accuracy"], abs=1e-6)
    assert len(data["mistakes"]) == 2000 - sum(data["confusion_matrix"][i][i] for i in range(10))
    assert not data["notes"]


def test_run_weights_as_json_and_as_text(trained):
    path, run = trained
    result = _run("evaluate", str(path), "--run", str(run), "--weights", "final", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["source"]["kind"] == "run" and data["source"]["weights"] == "final"
    last = json.loads((run / "history_epochs.json").read_text())[-1]
    assert data["loss"] == pytest.approx(last["val_loss"], rel=1e-4)
    text = _run("evaluate", str(path), "--run", str(run))
    assert text.returncode == 0, text.stderr
    assert "precision" in text.stdout and "confusion matrix (rows: true class" in text.stdout
    assert "best weights" in text.stdout and "2,000 held-out examples" in text.stdout


@pytest.mark.parametrize("args, phrase", [
    (["--run", "no-such-run"], "does not exist"),
    (["--weights", "best"], "give the run with --run"),
    (["--weights", "middle"], "invalid choice"),
])
def test_bad_run_arguments_are_one_line_without_traceback(trained, args, phrase):
    path, _ = trained
    result = _run("evaluate", str(path), *args)
    assert result.returncode == 2
    assert phrase in result.stderr and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1


def test_project_without_a_dataset(tmp_path):
    path = tmp_path / "empty.studio"
    project = templates.build("mnist_dense")
    project.dataset = None
    project.save(path)
    result = _run("evaluate", str(path))
    assert result.returncode == 2 and "no dataset" in result.stderr and "Traceback" not in result.stderr
    assert "--dataset" in result.stderr


def test_dataset_option(trained, tmp_path):
    path, _ = trained
    sample = datasets.bundled_sample()
    data = tmp_path / "elsewhere.npz"      # outside the project's folder: allowed, the person named it
    import numpy as np
    np.savez(data, x_train=sample.x_train[:50], y_train=sample.y_train[:50], x_test=sample.x_test[:300],
             y_test=sample.y_test[:300])
    result = _run("evaluate", str(path), "--dataset", str(data), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["samples"] == 300
    bad = _run("evaluate", str(path), "--dataset", str(tmp_path / "missing.npz"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
