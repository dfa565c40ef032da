"""The headless command line: check and import, run as a person would run them."""

import json
import subprocess
import sys

import keras

from studio.engine.project import Project

from .helpers import chain, mnist_convnet
from studio.engine.graph import ModelGraph


def _run(*args):
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=300)


def test_check_good_project(tmp_path):
    path = tmp_path / "convnet.studio"
    Project(graph=mnist_convnet()).save(path)
    result = _run("check", str(path))
    assert result.returncode == 0, result.stderr
    assert "(None, 26, 26, 32)" in result.stdout and "320" in result.stdout
    assert "total parameters: 104,202" in result.stdout
    assert "no errors" in result.stdout


def test_check_reports_errors_with_their_node_and_exits_1(tmp_path):
    g = ModelGraph()
    chain(g, ("InputLayer", {"shape": [3, 3, 1]}), ("Conv2D", {"filters": 4, "kernel_size": [5, 5]}))
    g.add_node("Dense", name="stray")
    path = tmp_path / "bad.studio"
    Project(graph=g).save(path)
    result = _run("check", str(path))
    assert result.returncode == 1
    assert "larger than its input" in result.stdout and "conv2d" in result.stdout
    assert "'stray' has no input connected" in result.stdout


def test_check_malformed_file(tmp_path):
    path = tmp_path / "broken.studio"
    path.write_text('{"format": "layer-studio-project", "schema_version": 1, "graph": ')
    result = _run("check", str(path))
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr and "Traceback" not in result.stderr


def test_import_then_check(tmp_path):
    inp = keras.Input((28, 28, 1), name="digits")
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c1")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax", name="out")(x))
    src = tmp_path / "model.keras"
    model.save(src)
    out = tmp_path / "imported.studio"
    result = _run("import", str(src), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "imported.studio.weights.h5").exists()
    assert json.loads(out.read_text())["weights"] == "imported.studio.weights.h5"
    result = _run("check", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"total parameters: {model.count_params():,}" in result.stdout


def test_import_refusal_is_a_message(tmp_path):
    path = tmp_path / "x.keras"
    path.write_text("nope")
    result = _run("import", str(path), "-o", str(tmp_path / "x.studio"))
    assert result.returncode == 2 and "not a valid .keras file" in result.stderr
    assert not (tmp_path / "x.studio").exists()
