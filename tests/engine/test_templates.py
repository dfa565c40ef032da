import pytest

from studio.engine import templates
from studio.engine.compiler import compile_graph
from studio.engine.project import load_project
from studio.engine.shapes import ShapeChecker


@pytest.mark.parametrize("name", sorted(templates.TEMPLATES))
def test_committed_template_matches_builder_and_is_clean(name):
    path = templates.template_path(name)
    assert path.exists(), f"run `python -m studio.engine.templates` to write {path.name}"
    loaded = load_project(path)
    assert loaded.graph.to_dict() == templates.build(name).graph.to_dict()
    checker = ShapeChecker(loaded.graph)
    assert checker.errors() == []
    model = compile_graph(loaded.graph)
    assert model.count_params() == checker.total_params()


def test_starter_is_the_book_convnet_on_the_digit_sample():
    p = load_project(templates.template_path(templates.STARTER))
    assert p.dataset["kind"] == "builtin" and p.dataset["name"] == "mnist-sample"
    assert ShapeChecker(p.graph).total_params() == 104202
    assert (templates.ASSETS / "mnist-sample" / "t10k-images-idx3-ubyte.gz").exists()
