"""Evaluation: every figure checked against an independent computation on the same predictions."""

import json

import numpy as np
import pytest

from studio.engine import datasets, evaluation, templates
from studio.engine.compiler import compile_graph
from studio.engine.errors import BAD_INPUT, StudioError, exit_code_for
from studio.engine.evaluation import Evaluation, EvaluationError
from studio.engine.graph import ModelGraph
from studio.engine.project import Project

from .helpers import chain


@pytest.fixture(scope="module")
def sample():
    return datasets.bundled_sample()


@pytest.fixture(scope="module")
def small(sample):
    return datasets.Dataset("small", sample.x_train[:2000], sample.y_train[:2000], sample.x_test[:600],
                            sample.y_test[:600], sample.class_names, "slice of the bundled sample")


def linear_project(ds, activation="softmax", regularizer=False, labels="integer", loss=None, sharpness=8.0,
                   head=()):
    """Flatten -> Dense(10) with least-squares weights: a real, imperfect classifier, no training."""
    g = ModelGraph("linear")
    dense_config = {"units": 10, "activation": activation}
    if regularizer:
        dense_config["kernel_regularizer"] = {"class_name": "L2", "config": {"l2": 0.01}}
    inp, flat, dense, *_ = chain(g, ("InputLayer", {"shape": [28, 28, 1]}), ("Flatten", {}), ("Dense", dense_config),
                                 *head)
    x = ds.x_train.reshape(len(ds.x_train), -1).astype("float64") / 255.0
    onehot = np.eye(10)[ds.y_train]
    a = np.hstack([x, np.ones((len(x), 1))])
    w = np.linalg.lstsq(a.T @ a + 1.0 * np.eye(a.shape[1]), a.T @ onehot, rcond=None)[0] * sharpness
    weights = {dense.name: [w[:-1].astype("float32"), w[-1].astype("float32")]}
    training = {"loss": loss or ("categorical_crossentropy" if labels == "onehot" else
                                 "sparse_categorical_crossentropy"),
                "metrics": ["accuracy"], "batch_size": 100}
    return Project(graph=g, weights=weights, training=training,
                   dataset={"kind": "builtin", "name": "mnist-sample",
                            "preprocess": {"scale": True, "layout": "keep", "channel_axis": True, "labels": labels}})


def reference_figures(y_true, probabilities, k):
    """Confusion matrix and per-class figures with loops and plain numpy, nothing shared."""
    pred = probabilities.argmax(axis=1)
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(y_true, pred):
        cm[t, p] += 1
    precision, recall, f1, support = [], [], [], []
    for c in range(k):
        tp = np.sum((pred == c) & (y_true == c))
        fp = np.sum((pred == c) & (y_true != c))
        fn = np.sum((pred != c) & (y_true == c))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        precision.append(p)
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
        support.append(int(np.sum(y_true == c)))
    return cm, np.array(precision), np.array(recall), np.array(f1), np.array(support)


def check_against_reference(result: Evaluation, probabilities):
    k = result.num_classes
    cm, precision, recall, f1, support = reference_figures(result.y_true, probabilities, k)
    assert np.array_equal(result.confusion, cm)
    np.testing.assert_allclose(result.precision, precision, atol=1e-12)
    np.testing.assert_allclose(result.recall, recall, atol=1e-12)
    np.testing.assert_allclose(result.f1, f1, atol=1e-12)
    assert np.array_equal(result.support, support)
    assert result.accuracy == pytest.approx(np.mean(probabilities.argmax(1) == result.y_true))
    pred = probabilities.argmax(axis=1)
    for t in range(k):
        for p in range(k):
            cell = result.cell(t, p)
            expected = np.flatnonzero((result.y_true == t) & (pred == p))
            assert sorted(cell.tolist()) == expected.tolist()
            if len(cell) < 2:
                continue
            if t != p:   # largest mistake first: most confident in the wrong class
                conf = probabilities[cell, p]
            else:        # the closest calls first: the runner-up's probability
                conf = np.sort(probabilities[cell], axis=1)[:, -2]
            assert np.all(np.diff(conf) <= 1e-7), (t, p, conf)


def test_figures_match_numpy_and_keras_on_the_same_predictions(small, monkeypatch):
    import keras
    project = linear_project(small, regularizer=True)
    calls = {"predict": 0, "evaluate": 0}
    predict, evaluate = keras.Model.predict, keras.Model.evaluate

    def counting_predict(self, *a, **kw):
        calls["predict"] += 1
        return predict(self, *a, **kw)

    def counting_evaluate(self, *a, **kw):
        calls["evaluate"] += 1
        return evaluate(self, *a, **kw)

    monkeypatch.setattr(keras.Model, "predict", counting_predict)
    monkeypatch.setattr(keras.Model, "evaluate", counting_evaluate)
    result = evaluation.evaluate(project, small)
    assert calls == {"predict": 1, "evaluate": 0}   # one pass over the data, figures from its predictions
    monkeypatch.undo()

    model = compile_graph(project.graph, project.weights)
    x = small.x_test[..., None].astype("float32") / 255.0
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(result.probabilities, probabilities, atol=1e-6)
    assert 0.6 < result.accuracy < 0.99          # a real classifier with real mistakes
    check_against_reference(result, probabilities)
    # loss and accuracy as Keras reports them (the L2 penalty included)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras_figures = model.evaluate(x, small.y_test, batch_size=100, verbose=0, return_dict=True)
    assert result.loss == pytest.approx(keras_figures["loss"], rel=1e-5)
    assert result.metrics["accuracy"] == pytest.approx(keras_figures["accuracy"], abs=1e-6)
    assert result.metrics["accuracy"] == pytest.approx(result.accuracy, abs=1e-6)
    # every mistake, most confident first
    wrong = result.mistakes()
    assert len(wrong) == int(np.sum(result.y_true != result.y_pred))
    assert np.all(np.diff(result.confidence[wrong]) <= 0)


@pytest.mark.parametrize("activation, head", [
    ("softmax", ()),
    ("linear", (("Softmax", {}),)),
    ("linear", (("Activation", {"activation": "softmax"}),)),
])
def test_loss_of_confident_mistakes_is_the_one_keras_reports(small, activation, head):
    """Keras takes a crossentropy from the scores before the final softmax; probabilities
    that round to 0 would otherwise be clipped and the loss come out lower."""
    project = linear_project(small, activation=activation, head=head, sharpness=300.0)
    result = evaluation.evaluate(project, small)
    assert np.sum(result.probabilities[np.arange(result.samples), result.y_true] < 1e-7) > 10
    model = compile_graph(project.graph, project.weights)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = small.x_test[..., None].astype("float32") / 255.0
    keras_figures = model.evaluate(x, small.y_test, batch_size=64, verbose=0, return_dict=True)
    assert result.loss == pytest.approx(keras_figures["loss"], rel=1e-5)
    assert not result.notes


def test_figures_from_given_predictions_against_numpy():
    """The per-class arithmetic on its own, with classes never predicted and never present."""
    rng = np.random.default_rng(3)
    k, n = 6, 500
    logits = rng.normal(size=(n, k)) * 2
    logits[:, 5] -= 20                     # class 5 is never predicted
    probabilities = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype("float32")
    y_true = rng.integers(0, 5, size=n)    # and never occurs either: precision/recall/F1 are 0, no NaN
    y_true[:200] = probabilities[:200].argmax(1)
    result = Evaluation(source={"kind": "current"}, dataset="synthetic", class_names=list("abcdef"),
                        y_true=y_true, y_pred=probabilities.argmax(1), probabilities=probabilities, loss=None,
                        loss_name="x", metrics={}, seconds=0.0)
    check_against_reference(result, probabilities)
    assert result.support[5] == 0 and result.precision[5] == 0 and result.f1[5] == 0
    avg = result.averages()
    assert avg["macro"]["f1"] == pytest.approx(np.mean(result.f1))
    assert avg["weighted"]["recall"] == pytest.approx(np.sum(result.recall * result.support) / n)
    assert avg["weighted"]["recall"] == pytest.approx(result.accuracy)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["confusion_matrix"] == result.confusion.tolist()


def test_one_hot_labels(small):
    import keras
    project = linear_project(small, labels="onehot")
    result = evaluation.evaluate(project, small)
    model = compile_graph(project.graph, project.weights)
    x = small.x_test[..., None].astype("float32") / 255.0
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    keras_figures = model.evaluate(x, np.eye(10)[small.y_test], verbose=0, return_dict=True)
    assert result.loss == pytest.approx(keras_figures["loss"], rel=1e-5)
    assert result.metrics["accuracy"] == pytest.approx(keras_figures["accuracy"], abs=1e-6)
    check_against_reference(result, model.predict(x, verbose=0))
    # a dataset whose labels are one-hot rows already
    onehot = datasets.Dataset("onehot", small.x_train, np.eye(10)[small.y_train], small.x_test,
                              np.eye(10, dtype="float32")[small.y_test], small.class_names)
    again = evaluation.evaluate(project, onehot)
    assert np.array_equal(again.confusion, result.confusion) and again.loss == pytest.approx(result.loss)


def tabular_dataset(n=900, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0, 0], [3, 0, 1, 0], [0, 3, 0, 1]], dtype="float32")
    y = rng.integers(0, 3, size=n)
    x = (centres[y] + rng.normal(scale=1.2, size=(n, 4))).astype("float32")
    return datasets.Dataset("blobs", x[:600], y[:600], x[600:], y[600:], ["low", "east", "north"], "synthetic")


def test_tabular_classifier(small):
    from studio.engine.train import Trainer
    ds = tabular_dataset()
    g = ModelGraph("tabular")
    chain(g, ("InputLayer", {"shape": [4]}), ("Dense", {"units": 16, "activation": "relu"}),
          ("Dense", {"units": 3, "activation": "softmax"}))
    project = Project(graph=g, training={"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                                         "batch_size": 32, "learning_rate": 0.01},
                      dataset={"kind": "file", "path": "blobs.csv",
                               "preprocess": {"scale": False, "layout": "keep", "labels": "integer"}})
    trainer = Trainer(project, ds)
    trainer.run_training(5)
    project.weights = trainer.weights()
    result = evaluation.evaluate(project, ds)
    assert result.class_names == ["low", "east", "north"] and result.samples == 300
    assert result.accuracy > 0.7
    probabilities = trainer.model.predict(ds.x_test, verbose=0)
    check_against_reference(result, probabilities)
    assert result.metrics["accuracy"] == pytest.approx(trainer.model.evaluate(ds.x_test, ds.y_test, verbose=0,
                                                                              return_dict=True)["accuracy"])


def test_binary_sigmoid_and_logits_outputs():
    ds = tabular_dataset()
    ds = datasets.Dataset("two", ds.x_train, (ds.y_train > 0).astype(int), ds.x_test, (ds.y_test > 0).astype(int),
                          ["no", "yes"])
    g = ModelGraph("binary")
    _, out = chain(g, ("InputLayer", {"shape": [4]}), ("Dense", {"units": 1, "activation": "sigmoid"}))
    w = [np.array([[1.0], [1.0], [0.5], [0.5]], dtype="float32"), np.array([-1.5], dtype="float32")]
    project = Project(graph=g, weights={out.name: w}, training={"loss": "binary_crossentropy",
                                                               "metrics": ["accuracy"]},
                      dataset={"preprocess": {"scale": False}})
    result = evaluation.evaluate(project, ds)
    assert result.num_classes == 2 and result.probabilities.shape == (300, 2)
    p1 = 1 / (1 + np.exp(-(ds.x_test @ w[0][:, 0] + w[1][0])))
    np.testing.assert_allclose(result.probabilities[:, 1], p1, atol=1e-5)
    check_against_reference(result, result.probabilities)
    assert result.metrics["accuracy"] == pytest.approx(result.accuracy, abs=1e-6)
    # the same scores without the sigmoid: confidences are still probabilities, and the person is told
    g.set_param(out.id, "activation", "linear")
    logits = evaluation.evaluate(project, ds)
    np.testing.assert_allclose(logits.probabilities, result.probabilities, atol=1e-5)
    assert any("not probabilities" in n for n in logits.notes)


# -- runs ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, small):
    from studio.engine.train import Trainer
    project = templates.build("mnist_dense")
    project.training.update(batch_size=100, epochs=1)
    runs = tmp_path_factory.mktemp("runs")
    trainer = Trainer(project, small, runs_dir=runs)
    trainer.run_training(1)
    return project, trainer.run.path, trainer


def test_run_weights_and_the_run_graph(trained_run, small):
    project, run, trainer = trained_run
    best = evaluation.evaluate(project, small, run=run, weights="best")
    assert best.source == {"kind": "run", "run": str(run), "weights": "best", "file": "weights_best.h5"}
    assert best.accuracy > 0.5
    # the run's history reports the same validation figures (one epoch: best is final)
    last = json.loads((run / "history_epochs.json").read_text())[-1]
    assert best.loss == pytest.approx(last["val_loss"], rel=1e-4)
    assert best.metrics["accuracy"] == pytest.approx(last["val_accuracy"], abs=1e-6)
    # the project's graph changed since: the run is evaluated with the graph it trained
    edited = templates.build("mnist_dense")
    hidden = edited.graph.node_by_name("hidden")
    edited.graph.set_param(hidden.id, "units", 32)
    again = evaluation.evaluate(edited, small, run=run, weights="final")
    assert again.source["weights"] == "final" and np.array_equal(again.confusion, best.confusion)


def test_run_without_best_weights_uses_final_and_says_so(trained_run, small, tmp_path):
    import shutil
    project, run, _ = trained_run
    copy = tmp_path / "run-copy"
    shutil.copytree(run, copy)
    (copy / "weights_best.h5").unlink()
    result = evaluation.evaluate(project, small, run=copy, weights="best")
    assert result.source["weights"] == "final" and any("no best weights" in n for n in result.notes)


@pytest.mark.parametrize("make, phrase", [
    (lambda d: d / "missing", "does not exist"),
    (lambda d: (d / "file.txt").write_text("x") and d / "file.txt", "not a run folder"),
    (lambda d: d, "holds no weights"),
])
def test_missing_or_wrong_run(tmp_path, small, make, phrase):
    path = make(tmp_path)
    with pytest.raises(EvaluationError) as info:
        evaluation.evaluate(linear_project(small), small, run=path)
    message = str(info.value)
    assert phrase in message and "\n" not in message and exit_code_for(info.value) == BAD_INPUT


def test_run_with_damaged_weights_is_a_clear_error(tmp_path, small):
    (tmp_path / "weights_best.h5").write_bytes(b"not hdf5")
    with pytest.raises(Exception) as info:
        evaluation.evaluate(linear_project(small), small, run=tmp_path)
    assert exit_code_for(info.value) == BAD_INPUT and "weights_best.h5" in str(info.value)


# -- errors ----------------------------------------------------------------------------------

def test_no_dataset(small):
    with pytest.raises(EvaluationError, match="no dataset"):
        evaluation.evaluate(linear_project(small), None)


def test_no_held_out_examples(small):
    empty = datasets.Dataset("empty", small.x_train, small.y_train, small.x_test[:0], small.y_test[:0])
    with pytest.raises(EvaluationError, match="no held-out examples"):
        evaluation.evaluate(linear_project(small), empty)


def test_not_a_classifier(small):
    g = ModelGraph("autoencoder")
    chain(g, ("InputLayer", {"shape": [28, 28, 1]}), ("Conv2D", {"filters": 1, "kernel_size": [3, 3],
                                                                 "padding": "same"}))
    project = Project(graph=g, training={"loss": "mean_squared_error", "metrics": []},
                      dataset={"preprocess": {"scale": True}})
    with pytest.raises(EvaluationError) as info:
        evaluation.evaluate(project, small)
    assert "(None, 28, 28, 1)" in str(info.value) and "classifier" in str(info.value)
    assert isinstance(info.value, StudioError) and info.value.exit_code == BAD_INPUT


def test_too_few_output_units(small):
    g = ModelGraph("narrow")
    chain(g, ("InputLayer", {"shape": [28, 28, 1]}), ("Flatten", {}), ("Dense", {"units": 5}))
    with pytest.raises(EvaluationError, match="has 5 units; give the last layer one unit per class"):
        evaluation.evaluate(Project(graph=g, dataset={"preprocess": {}}), small)


def test_input_shape_that_does_not_fit_the_data(small):
    g = ModelGraph("flat")
    chain(g, ("InputLayer", {"shape": [784]}), ("Dense", {"units": 10, "activation": "softmax"}))
    with pytest.raises(EvaluationError, match=r"expects inputs of shape \(784\)"):
        evaluation.evaluate(Project(graph=g, dataset={"preprocess": {"layout": "keep"}}), small)
    # with the Dataset tab's flatten choice it fits
    ok = evaluation.evaluate(Project(graph=g, dataset={"preprocess": {"layout": "flatten"}}), small)
    assert ok.samples == len(small.x_test)


def test_report_text(small):
    result = evaluation.evaluate(linear_project(small), small)
    text = evaluation.format_report(result)
    assert "precision" in text and "confusion matrix" in text and "macro avg" in text
    assert f"{result.samples:,} held-out examples" in text
    row = [line for line in text.splitlines() if line.startswith("3 ")][-1]   # the matrix row of class 3
    assert [int(v) for v in row.split()[1:]] == result.confusion[3].tolist()


@pytest.mark.parametrize("text, phrase", [
    ("[" * 200_000 + "]" * 200_000, "the JSON is nested too deeply"),
    ('{"graph": {"nodes": [], "edges": []}}', "training is missing"),
    ('{"training": {}}', "graph is missing"),
    ('{"graph": {"nodes": [], "edges": []}, "training": {"batch_size": ' + "9" * 30 + "}}", "is too large"),
])
def test_a_run_config_is_checked_as_a_project_file_is(tmp_path, text, phrase):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(EvaluationError) as info:
        evaluation._run_config(tmp_path)
    message = str(info.value)
    assert phrase in message and message.count("the run's config.json") == 1, message
    assert exit_code_for(info.value) == BAD_INPUT


def test_a_run_without_config_is_evaluated_with_the_projects_model(tmp_path):
    assert evaluation._run_config(tmp_path) == (None, None)


def test_report_shows_names_with_control_characters_escaped(small):
    """A class named by a folder (or a dataset path) with a newline or an ESC stays on its one line."""
    result = evaluation.evaluate(linear_project(small), small)
    lines = len(evaluation.format_report(result).splitlines())
    result.class_names = [f"c{i}\n\x1b[31m" for i in range(len(result.class_names))]
    result.dataset = "data\rset\x1b[2J"
    text = evaluation.format_report(result)
    assert "\x1b" not in text and "\r" not in text and len(text.splitlines()) == lines
    assert "c3\\n\\x1b[31m" in text and "data\\rset\\x1b[2J" in text
