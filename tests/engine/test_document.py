"""The document: one Qt-free place for a project's state, with events."""

import json

import numpy as np
import pytest

from studio.engine import templates
from studio.engine.compiler import compile_graph, model_weights
from studio.engine.document import STARTING, TRAINED, Document
from studio.engine.project import Project, ProjectError, load_project
from studio.engine.train import SettingsError, TrainingConfig

from .helpers import mnist_convnet


class Recorder:
    def __init__(self, document):
        self.events = []
        for name in ("project_replaced", "graph_changed", "states_changed", "dataset_changed", "training_changed",
                     "weights_changed", "runs_changed", "notice"):
            getattr(document, name).connect(lambda *a, n=name: self.events.append(n))

    def saw(self, name):
        return name in self.events


def _document_with_weights():
    g = mnist_convnet()
    weights = model_weights(compile_graph(g))
    doc = Document(Project(graph=g, weights=weights))
    doc.enable_checking()
    return doc, weights


def test_every_change_is_announced():
    doc = Document(templates.build("mnist_convnet"))
    rec = Recorder(doc)
    node = next(iter(doc.graph.nodes.values()))
    doc.graph.move(node.id, (5, 5))            # a move changes nothing the model computes
    assert not rec.saw("graph_changed") and doc.revision == 0
    doc.graph.rename(node.id, "renamed")
    doc.set_training(doc.training.with_changes(epochs=9))
    doc.set_dataset({"kind": "builtin", "name": "mnist-sample"})
    doc.replace(templates.build("mnist_dense"))
    for name in ("graph_changed", "training_changed", "dataset_changed", "project_replaced"):
        assert rec.saw(name), name


def test_weights_follow_the_graph_and_come_back_with_undo():
    doc, weights = _document_with_weights()
    dense = doc.graph.node_by_name("dense")
    assert doc.weight_status()[dense.id] == STARTING
    doc.graph.set_param(dense.id, "trainable", False)   # freezing keeps the weights
    assert doc.weight_status()[dense.id] == STARTING
    doc.graph.set_param(dense.id, "trainable", True)
    old = dict(dense.config)
    doc.graph.set_param(dense.id, "units", 12)          # the layer changed: its weights no longer apply
    assert doc.weight_status()[dense.id] == "fresh"
    assert "dense" not in doc.weights_by_name(STARTING)
    doc.graph.set_config(dense.id, old)                 # what an undo does
    assert doc.weight_status()[dense.id] == STARTING
    doc.graph.rename(dense.id, "classes")               # a renamed layer is another layer
    assert doc.weight_status()[dense.id] == "fresh"
    doc.graph.rename(dense.id, "dense")
    removed, edges = doc.graph.remove_node(dense.id)
    assert "dense" not in doc.weights_by_name(STARTING)
    doc.graph.add_node(removed.class_name, removed.config, removed.name, removed.position, node_id=removed.id)
    assert np.array_equal(doc.weights_by_name(STARTING)["dense"][0], weights["dense"][0])


def test_train_starts_from_starting_weights_continue_from_trained():
    doc, weights = _document_with_weights()
    trained = {k: [a + 1 for a in v] for k, v in weights.items()}
    doc.set_trained_weights(trained, doc.graph.copy())
    assert doc.has_trained_weights() and doc.weights_unsaved
    start = doc.snapshot(STARTING)
    cont = doc.snapshot(TRAINED)
    assert np.array_equal(start.weights["dense"][0], weights["dense"][0])
    assert np.array_equal(cont.weights["dense"][0], weights["dense"][0] + 1)
    # a snapshot is a copy: editing the document does not touch it
    dense = doc.graph.node_by_name("dense")
    doc.graph.set_param(dense.id, "units", 3)
    assert start.graph.node_by_name("dense").config["units"] == 10
    # weights reached for a node that has changed since the run started do not apply
    assert doc.weight_status()[dense.id] == "fresh"


def test_saved_weights_that_no_longer_fit_open_fresh_with_a_warning(tmp_path):
    g = mnist_convnet()
    weights = model_weights(compile_graph(g))
    weights["dense"] = [np.zeros((5, 10), "float32"), np.zeros((10,), "float32")]  # edited elsewhere
    path = tmp_path / "p.studio"
    Project(graph=g, weights=weights).save(path)
    doc = Document()
    notices = []
    doc.notice.connect(notices.append)
    doc.replace(load_project(path))
    doc.enable_checking()
    assert "dense" not in doc.weights_by_name(STARTING)
    assert doc.weight_status()[doc.graph.node_by_name("dense").id] == "fresh"
    assert any("'dense'" in n and "start fresh" in n for n in notices)
    # and the model still builds with every other layer's weights
    model = compile_graph(doc.graph, doc.weights_by_name(STARTING))
    assert model.count_params() > 0


def test_to_project_saves_exactly_what_is_shown(tmp_path):
    doc = Document(templates.build("mnist_convnet"))
    doc.set_training(doc.training.with_changes(epochs=7, learning_rate=0.01))
    path = tmp_path / "p.studio"
    doc.to_project().save(path)
    saved = json.loads(path.read_text())["training"]
    assert saved["epochs"] == 7 and saved["learning_rate"] == 0.01


@pytest.mark.parametrize("field, value, phrase", [
    ("batch_size", 0, "training.batch_size must be a whole number"),
    ("optimizer", "adamm", "training.optimizer must be one of"),
    ("learning_rate", -1.0, "training.learning_rate must be in"),
    ("validation_split", 1.0, "training.validation_split must be in"),
    ("device", "gpu:abc", "training.device must be"),
    ("epochs", True, "training.epochs must be a whole number"),
    ("loss", "lambda x: x", "training.loss must be one of"),
])
def test_settings_are_checked_and_name_the_field(field, value, phrase):
    with pytest.raises(SettingsError, match=phrase.replace(".", r"\.")):
        TrainingConfig().with_changes(**{field: value})
    doc = templates.build("mnist_convnet").to_dict()
    doc["training"][field] = value
    from studio.engine.project import project_from_document
    with pytest.raises(ProjectError, match=f"training.{field}"):
        project_from_document(doc, "bad.studio")


def test_a_stray_layer_is_a_warning_and_never_an_output():
    doc = Document(templates.build("mnist_convnet"))
    doc.enable_checking()
    g = doc.graph
    flatten = g.node_by_name("flatten")
    dropout = g.add_node("Dropout", {"rate": 0.5})
    g.connect(flatten.id, dropout.id)
    doc.refresh()
    # two ends and no marked output: the document asks instead of guessing
    assert any("output is not clear" in p for p in doc.checker.problems)
    assert doc.checker.states[dropout.id].fix.action == "mark_output"
    g.remove_node(flatten.id)           # the README's step 4: dropout is left with no input
    classes = g.node_by_name("classes")
    g.connect(g.node_by_name("conv3").id, classes.id)
    doc.refresh()
    assert g.model_outputs() == [classes.id]
    state = doc.checker.states[dropout.id]
    assert state.error is None and "not part of the model" in state.warning
    assert [n for n, _ in doc.errors() if n == dropout.id] == []
    model = compile_graph(g)
    assert len(model.outputs) == 1 and "dropout" not in [layer.name for layer in model.layers]


def test_no_checker_or_listener_is_left_behind_by_replacing_or_checking():
    from studio.engine.train.fit_checks import check_fit
    from studio.engine import datasets
    doc = Document(templates.build("mnist_convnet"))
    g = doc.graph
    before = {name: len(getattr(g, name)._callbacks) for name in ("node_added", "edge_added", "node_changed")}
    ds = datasets.bundled_sample()
    for _ in range(3):
        check_fit(g, ds, doc.preprocess(), doc.training)
    assert {name: len(getattr(g, name)._callbacks) for name in before} == before
    doc.replace(templates.build("mnist_dense"))
    assert all(len(getattr(g, name)._callbacks) == 0 for name in before)  # the old graph is let go


def test_an_upstream_edit_that_resizes_a_layer_makes_its_weights_fresh_until_undone():
    doc, weights = _document_with_weights()
    g = doc.graph
    dense = g.node_by_name("dense")
    conv = [n for n in g.nodes.values() if n.class_name == "Conv2D"][-1]
    old = dict(conv.config)
    g.set_param(conv.id, "filters", 96)          # dense's input, and so its kernel, changes size
    doc.refresh()
    assert doc.weight_status()[dense.id] == "fresh" and "dense" not in doc.weights_by_name(STARTING)
    compile_graph(g, doc.weights_by_name(STARTING))   # builds: nothing stale is handed to Keras
    g.set_config(conv.id, old)
    doc.refresh()
    assert doc.weight_status()[dense.id] == STARTING
