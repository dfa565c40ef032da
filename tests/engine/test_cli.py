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
    assert "warning: 'stray' is not connected to an Input" in result.stdout  # left out, not an error


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
    weights = json.loads(out.read_text())["weights"]
    assert weights.startswith("imported.studio.weights-") and (tmp_path / weights).exists()
    result = _run("check", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"total parameters: {model.count_params():,}" in result.stdout


def test_import_refusal_is_a_message(tmp_path):
    path = tmp_path / "x.keras"
    path.write_text("nope")
    result = _run("import", str(path), "-o", str(tmp_path / "x.studio"))
    assert result.returncode == 2 and "not a valid .keras file" in result.stderr
    assert not (tmp_path / "x.studio").exists()


# -- hostile and careless use ------------------------------------------------------------

import os  # noqa: E402

import pytest  # noqa: E402


def _run_env(*args, env=None, timeout=120):
    full = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True,
                          timeout=timeout, env=full)


def _one_line_error(result, code, phrase):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == 1 and phrase in errors[0], result.stderr


def _project(tmp_path, name="p.studio"):
    path = tmp_path / name
    Project(graph=mnist_convnet()).save(path)
    return path


def test_unknown_subcommand_is_an_error_and_opens_no_window(tmp_path):
    result = _run_env("chek", "P.studio", env={"QT_QPA_PLATFORM": "offscreen"}, timeout=30)
    _one_line_error(result, 2, "unknown command 'chek'; did you mean 'check'?")


def test_without_a_display_the_window_command_fails_with_one_line():
    result = _run_env(timeout=60)
    _one_line_error(result, 1, "no display: neither DISPLAY nor WAYLAND_DISPLAY is set")
    result = _run_env(env={"QT_QPA_PLATFORM": "nosuchplugin"}, timeout=60)
    _one_line_error(result, 1, "QT_QPA_PLATFORM names 'nosuchplugin'")


def test_a_missing_xcb_library_is_named_with_its_package():
    from studio.ui.app import display_problem
    ldd = "\tlibxcb-cursor.so.0 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n"
    problem = display_problem({"DISPLAY": ":0"}, ldd_output=ldd)
    assert "libxcb-cursor.so.0 is missing" in problem and "apt install libxcb-cursor0" in problem
    assert "xcb-util-cursor" in problem and "\n" not in problem
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None


@pytest.mark.parametrize("args, phrase", [
    (["train", "p.studio", "--epochs", "0"], "argument --epochs: must be at least 1 (got 0)"),
    (["train", "p.studio", "--epochs", "-3"], "argument --epochs: must be at least 1"),
    (["train", "p.studio", "--batch-size", "-5"], "argument --batch-size: must be at least 1 (got -5)"),
    (["train", "p.studio", "--dataset", ""], "argument --dataset: is empty"),
    (["export", "p.studio", "--format", "gif", "-o", "x"], "argument --format: invalid choice"),
    (["check"], "the following arguments are required: project"),
])
def test_bad_arguments_are_one_line(tmp_path, args, phrase):
    _one_line_error(_run_env(*args, timeout=30), 2, phrase)


def test_no_command_writes_over_its_input(tmp_path):
    project = _project(tmp_path)
    before = project.read_bytes()
    _one_line_error(_run("codegen", str(project), "-o", str(project)), 2, "is the input file itself")
    _one_line_error(_run("export", str(project), "--format", "svg", "-o", str(project)), 2,
                    "is the project itself")
    _one_line_error(_run("export", str(project), "--format", "svg", "-o", str(project), "--force"), 2,
                    "is the project itself")
    assert project.read_bytes() == before
    model = tmp_path / "m.keras"
    inp = keras.Input((3,), name="x")
    keras.Model(inp, keras.layers.Dense(2, name="d")(inp)).save(model)
    kept = model.read_bytes()
    _one_line_error(_run("import", str(model), "-o", str(model)), 2, "is the input file itself")
    assert model.read_bytes() == kept


def test_writing_over_a_different_kind_of_file_needs_force(tmp_path):
    project = _project(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    _one_line_error(_run("codegen", str(project), "-o", str(notes)), 2,
                    "exists and is not Python code generated by Layer Studio; choose another name or pass --force")
    assert notes.read_text() == "my notes"
    assert _run("codegen", str(project), "-o", str(notes), "--force").returncode == 0
    assert "generated by Layer Studio" in notes.read_text()
    assert _run("codegen", str(project), "-o", str(notes)).returncode == 0   # same kind now: no --force needed
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    _one_line_error(_run("export", str(project), "--format", "python", "-o", str(folder)), 2,
                    "is an existing folder that is not a python export")
    assert (folder / "thesis.tex").read_text() == "years of work"


def test_folders_and_files_in_the_wrong_places(tmp_path):
    project = _project(tmp_path)
    _one_line_error(_run("codegen", str(project), "-o", str(tmp_path)), 2, "is a folder; give a file name")
    _one_line_error(_run("import", str(tmp_path)), 2, "is a folder; give a .keras model file")
    _one_line_error(_run("train", str(project), "--out", str(project), "--epochs", "1"), 2,
                    "is an existing file; --out names a folder")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    _one_line_error(_run("train", str(project), "--out", str(blocker / "run"), "--epochs", "1"), 2,
                    f"'{blocker}' is not a folder")   # a bad path, said as every command says it
    for argv in (["codegen", str(project), "-o", str(tmp_path / "nowhere" / "m.py")],
                 ["export", str(project), "--format", "svg", "-o", str(tmp_path / "nowhere" / "d.svg")]):
        _one_line_error(_run(*argv), 2, f"the folder '{tmp_path / 'nowhere'}' does not exist")
    assert not (tmp_path / "nowhere").exists()


def test_export_of_a_project_with_a_config_error_is_one_line(tmp_path):
    doc = json.loads(_project(tmp_path).read_text())
    doc["graph"]["nodes"][1]["config"]["filters"] = -4
    bad = tmp_path / "bad.studio"
    bad.write_text(json.dumps(doc))
    result = _run("export", str(bad), "--format", "keras", "-o", str(tmp_path / "out.keras"))
    _one_line_error(result, 2, "so nothing was exported; the first: 'conv2d'")
    assert not (tmp_path / "out.keras").exists()


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "x.studio"
    bad.write_text("{")
    assert "Traceback" not in _run("check", str(bad)).stderr
    result = _run("--debug", "check", str(bad))
    assert result.returncode == 2 and "Traceback" in result.stderr


@pytest.mark.parametrize("config", [{"shares": "n2"}, {"filters": -4, "kernel_size": 3}])
def test_codegen_of_a_project_with_errors_writes_nothing(tmp_path, config):
    doc = json.loads(_project(tmp_path).read_text())
    node = doc["graph"]["nodes"][1]
    node["config"] = config
    bad = tmp_path / "bad.studio"
    bad.write_text(json.dumps(doc))
    out = tmp_path / "model.py"
    result = _run("codegen", str(bad), "-o", str(out))
    _one_line_error(result, 2, f"so no code was written; the first: '{node['name']}'")
    assert not out.exists()
    result = _run("codegen", str(bad))
    _one_line_error(result, 2, "so no code was written")
    assert result.stdout == ""


# -- check says what train, evaluate and export would say of the same project ---------------

def _base_doc(**training):
    from tests.robustness.corpus import _graph_doc
    doc = _graph_doc()
    doc["training"].update(training)
    return doc


def test_check_warns_of_saved_weights_that_no_longer_fit_naming_layer_and_shapes(tmp_path, capsys):
    import numpy as np

    from studio import cli
    from studio.engine.project import project_from_document
    project = project_from_document(_base_doc())
    project.weights = {"hidden": [np.zeros((3, 3), "float32"), np.zeros(7, "float32")]}
    path = project.save(tmp_path / "p.studio")
    assert cli.main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert ("warning: the saved weights of 'hidden' do not fit the layer any more (shapes [(3, 3), (7,)], "
            "the layer needs [(8, 4), (4,)])") in out and "no errors" in out


def test_check_says_when_the_model_with_its_weights_cannot_be_built(tmp_path, capsys, monkeypatch):
    import numpy as np

    from studio import cli
    from studio.engine import compiler
    from studio.engine.project import project_from_document
    project = project_from_document(_base_doc())
    project.weights = {"hidden": [np.zeros((8, 4), "float32"), np.zeros(4, "float32")]}
    path = project.save(tmp_path / "p.studio")

    def refuse(*args, **kwargs):
        raise compiler.CompileError([("n3", "'hidden' (Dense): Keras refused it")])
    monkeypatch.setattr(compiler, "compile_graph", refuse)
    assert cli.main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "error: the model cannot be built: 'hidden' (Dense): Keras refused it" in out and "no errors" not in out


def test_check_lists_the_loaders_warnings_as_train_does(tmp_path, capsys):
    from studio import cli
    path = tmp_path / "p.studio"
    path.write_text(json.dumps(_base_doc(evil="x")))
    assert cli.main(["check", str(path)]) == 0
    assert "warning: training has unknown field 'evil', ignored" in capsys.readouterr().out
