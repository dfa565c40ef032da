"""Exports are verified in their own runtime and never leave half-written files."""

import os
import subprocess
import sys

import numpy as np
import pytest

from studio.engine import datasets, templates
from studio.engine.export import ExportError, export
from studio.engine.train import Trainer


@pytest.fixture(scope="module")
def trained():
    ds = datasets.bundled_sample()
    small = datasets.Dataset("s", ds.x_train[:1024], ds.y_train[:1024], ds.x_test[:256], ds.y_test[:256])
    p = templates.build("mnist_convnet")
    t = Trainer(p, small)
    t.run_training(1)
    p.weights = t.weights()
    sample = datasets.Preprocess.from_dict(p.dataset["preprocess"]).x(small.x_test[:200])
    return p, sample


@pytest.mark.parametrize("fmt, name", [("keras", "m.keras"), ("savedmodel", "saved"), ("tflite", "m.tflite"),
                                       ("onnx", "m.onnx")])
def test_formats_reload_and_match(tmp_path, trained, fmt, name):
    project, sample = trained
    (tmp_path / "out dir é").mkdir()   # no export makes the folder it writes in (studio.engine.outputs)
    result = export(project, fmt, tmp_path / "out dir é" / name, sample=sample[:16])
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    assert result.path.exists() and result.bytes > 0
    leftovers = [p.name for p in result.path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_quantized_tflite_keeps_the_top1_class(tmp_path, trained):
    project, sample = trained
    result = export(project, "tflite", tmp_path / "q.tflite", sample=sample, quantize=True)
    assert result.top1_agreement >= 0.99
    full = export(project, "tflite", tmp_path / "f.tflite", sample=sample[:4])
    assert result.bytes < full.bytes / 2


def test_python_project_trains_without_layer_studio(tmp_path, trained):
    project, _ = trained
    folder = tmp_path / "standalone"
    result = export(project, "python", folder)
    assert result.max_abs_diff <= 1e-4
    assert {"model.py", "train.py", "README.md", "requirements.txt", "data"} <= {p.name for p in folder.iterdir()}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import sys; sys.modules['studio'] = None\n"  # Layer Studio must not be needed
            "import runpy; sys.argv = ['train.py', '--epochs', '1', '--save', 'out.keras']\n"
            "runpy.run_path('train.py', run_name='__main__')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "held-out" in r.stdout and (folder / "out.keras").exists()


def test_svg_diagram(tmp_path, trained):
    project, _ = trained
    result = export(project, "svg", tmp_path / "model.svg")
    text = result.path.read_text()
    assert text.startswith("<svg") and "conv1" in text and "(None, 26, 26, 32)" in text


def test_read_only_destination_is_a_clear_message(tmp_path, trained, monkeypatch):
    project, _ = trained
    import studio.engine.export as ex

    def read_only(*args, **kwargs):  # root may write anywhere; simulate the refusal a user gets
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ex.tempfile, "mkdtemp", read_only)
    (tmp_path / "ro").mkdir()
    with pytest.raises(ExportError, match="cannot write in .*Permission denied"):
        export(project, "keras", tmp_path / "ro" / "m.keras")
    assert not (tmp_path / "ro" / "m.keras").exists()


def test_failed_write_leaves_nothing(tmp_path, trained, monkeypatch):
    project, _ = trained
    import studio.engine.export as ex

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ex.os, "replace", full_disk)
    with pytest.raises(ExportError, match="No space left"):
        export(project, "keras", tmp_path / "m.keras")
    assert list(tmp_path.iterdir()) == []


def test_cli_export(tmp_path, trained):
    project, _ = trained
    path = tmp_path / "p.studio"
    project.save(path)
    r = subprocess.run([sys.executable, "-m", "studio", "export", str(path), "--format", "keras", "-o",
                        str(tmp_path / "m.keras")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "verified: max |difference|" in r.stdout
    assert np.isfinite(float(r.stdout.split("difference| ")[1].split()[0].rstrip(",")))
