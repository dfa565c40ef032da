"""Models that cannot fit the device's memory are said so at check time."""

import subprocess
import sys

from studio.engine.document import Document
from studio.engine.graph import ModelGraph
from studio.engine.project import Project
from studio.engine.resources import resource_problems
from studio.engine.shapes import ShapeChecker
from studio.engine.summary import DeviceMemory
from studio.engine.train import TrainingConfig

GB = 1024 ** 3


def _dense(units, inputs=784):
    g = ModelGraph("big")
    i = g.add_node("InputLayer", {"shape": [inputs]})
    d = g.add_node("Dense", {"units": units})
    g.connect(i.id, d.id)
    return g


def _problems(graph, device_bytes, **training):
    checker = ShapeChecker(graph)
    checker.refresh()
    device = DeviceMemory("CPU", "a test device", device_bytes, "stated by the test")
    return resource_problems(graph, checker.states, TrainingConfig(**training), device=device)


def test_a_trillion_units_is_an_error_before_anything_is_allocated():
    found = _problems(_dense(10 ** 12), 16 * GB)
    assert len(found) == 1 and found[0].error
    assert "785,000,000,000,000 parameters" in found[0].message and "a test device" in found[0].message


def test_a_batch_too_large_is_a_warning_with_the_size_that_fits():
    found = _problems(_dense(4096, 4096), 2 * GB, batch_size=1_000_000)
    assert len(found) == 1 and not found[0].error
    assert "use a batch size of at most" in found[0].message
    assert _problems(_dense(10), 2 * GB, batch_size=32) == []


def test_the_document_and_training_refuse_it_and_check_says_it(tmp_path):
    doc = Document(Project(graph=_dense(10 ** 12)))
    doc.enable_checking()
    assert any("parameters" in m for _, m in doc.errors())
    from studio.engine import datasets
    from studio.engine.train.fit_checks import check_fit
    ds = datasets.bundled_sample()
    assert "parameters" in check_fit(doc.graph, ds, doc.preprocess(), doc.training)[0][1]
    path = tmp_path / "big.studio"
    Project(graph=_dense(10 ** 12)).save(path)
    r = subprocess.run([sys.executable, "-m", "studio", "check", str(path)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "error: the model has 785,000,000,000,000 parameters" in r.stdout
