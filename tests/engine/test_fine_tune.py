"""Two-stage fine-tuning ("Deep Learning with Python"): stage 1 trains with the base frozen,
stage 2 unfreezes the layers from ``unfreeze_from`` onwards (frozen BatchNormalization
stays frozen) and goes on at a lower learning rate, continuing the epochs."""

import json

import numpy as np
import pytest

from studio import cli
from studio.engine import templates
from studio.engine.compiler import compile_graph
from studio.engine.project import load_project
from studio.engine.shapes import ShapeChecker
from studio.engine.train import FineTune, SettingsError, Trainer, TrainingConfig
from studio.engine.train import fine_tune as ft_mod
from studio.engine.train.trainer import FineTuneRefused

from .helpers import sample_slice

FT = {"unfreeze_from": "conv_base › conv3", "epochs": 2, "learning_rate": 0.0001}


@pytest.fixture(scope="module")
def small():
    return sample_slice(512, 128)


# -- settings --------------------------------------------------------------------------

def test_settings_validate_each_field_by_name():
    c = TrainingConfig.from_dict({"fine_tune": FT})
    assert c.fine_tune == FineTune("conv_base › conv3", 2, 0.0001)
    assert TrainingConfig.from_dict({"fine_tune": None}).fine_tune is None
    assert TrainingConfig.from_dict({}).fine_tune is None and "fine_tune" not in TrainingConfig().to_dict()
    cases = {"epochs": (0, "training.fine_tune.epochs must be a whole number"),
             "learning_rate": (-1, "training.fine_tune.learning_rate must be in (0"),
             "unfreeze_from": ("", "training.fine_tune.unfreeze_from must name the layer")}
    for key, (value, message) in cases.items():
        with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
            TrainingConfig.from_dict({"fine_tune": {**FT, key: value}})
    with pytest.raises(SettingsError, match="training.fine_tune has unknown fields lr"):
        TrainingConfig.from_dict({"fine_tune": {**FT, "lr": 1}})
    with pytest.raises(SettingsError, match="training.fine_tune must be an object"):
        TrainingConfig.from_dict({"fine_tune": 3})
    with pytest.raises(SettingsError, match="training.fine_tune.epochs"):
        TrainingConfig().with_changes(fine_tune={**FT, "epochs": True})
    assert FineTune("conv_base > conv3").path() == ["conv_base", "conv3"]


def test_the_stage_is_saved_in_the_project_file(tmp_path):
    p = templates.build("fine_tuning_digits")
    p.training["fine_tune"] = {**FT, "epochs": 7}
    p.save(tmp_path / "ft.studio")
    text = (tmp_path / "ft.studio").read_text()
    assert '"unfreeze_from": "conv_base \\u203a conv3"' in text
    loaded = load_project(tmp_path / "ft.studio")
    assert TrainingConfig.from_dict(loaded.training).fine_tune == FineTune("conv_base › conv3", 7, 0.0001)
    assert (loaded.weights["conv_base"][0] == p.weights["conv_base"][0]).all()


# -- planning stage 2 ------------------------------------------------------------------------

def test_plan_unfreezes_from_the_layer_and_keeps_batchnorm_frozen():
    g = templates.build("fine_tuning_digits").graph
    plan = ft_mod.plan(g, FineTune("conv_base › conv3"))
    assert plan.unfrozen == ["conv_base › conv3", "conv_base › relu3"]
    assert plan.kept_frozen == ["conv_base › bn3"]
    assert ft_mod.frozen_in(plan.graph) == [f"conv_base › {n}" for n in ("conv1", "pool1", "conv2", "pool2", "bn3")]
    assert "stays frozen" in plan.batchnorm_note()
    assert ft_mod.choices(g)[0] == "conv_base › conv1" and ft_mod.suggestion(g) == "conv_base › conv3"


@pytest.mark.parametrize("name, message", [
    ("nope", "names 'nope', which is not a layer of the model; name a layer inside 'conv_base'"),
    ("conv_base › nope", "'nope' is not a layer of block 'conv_base'; its layers are conv1, pool1"),
    ("conv_base › base_input", "'base_input' is the block's input"),
    ("hidden › x", "'hidden' is a Dense, not a block"),
    ("a › b › c", "one level deep"),
    ("digits", "which is an Input"),
    ("hidden", "nothing from there on is frozen in stage 1"),
    ("conv_base › bn3", "nothing with weights would train in stage 2 ('conv_base › relu3' has no weights; "
                        "the BatchNormalization 'conv_base › bn3' stays frozen)"),
])
def test_refusals_are_one_sentence_naming_the_field(name, message):
    g = templates.build("fine_tuning_digits").graph
    with pytest.raises(ft_mod.FineTuneProblem) as info:
        ft_mod.plan(g, FineTune(name))
    text = str(info.value)
    assert text.startswith("training.fine_tune.unfreeze_from") and message in text and "\n" not in text


# -- the trainer ------------------------------------------------------------------------------

def _base(weights, k):
    return np.asarray(weights["conv_base"][k])


def test_two_stages_train_what_they_should(small, tmp_path):
    """conv_base's weights: conv1 kernel/bias (0, 1), conv2 (2, 3), conv3 kernel (4), bn3 gamma, beta,
    moving mean and variance (5-8)."""
    p = templates.build("fine_tuning_digits")
    p.training.update(epochs=2, fine_tune={**FT, "epochs": 2})
    start = {k: [a.copy() for a in v] for k, v in p.weights.items()}
    trainer = Trainer(p, small, runs_dir=tmp_path)
    seen = {}

    def on_stage(info):   # stage 2 begins after the recompile, before its first batch
        seen[info["stage"]] = ([a.copy() for a in trainer.model.get_layer("conv_base").get_weights()],
                               [lay.get_weights() for lay in (trainer.model.get_layer("hidden"),)],
                               float(trainer.model.optimizer.learning_rate))
    trainer.stage_started.connect(on_stage)
    summary = trainer.run_training()
    assert summary["status"] == "finished" and summary["epochs"] == 4
    after_one, head_one, lr_two = seen[2]
    # stage 1: the base is frozen (its BatchNormalization in inference mode), the head trains
    for k in range(9):
        assert np.array_equal(after_one[k], start["conv_base"][k]), k
    assert not np.array_equal(head_one[0][0], seen[1][1][0][0])   # the head trained
    assert lr_two == pytest.approx(1e-4) and seen[1][2] == pytest.approx(1e-3)
    # stage 2: conv3 trains, everything before it and bn3 stay as they were
    final = trainer.weights()
    for k in (0, 1, 2, 3, 5, 6, 7, 8):
        assert np.array_equal(_base(final, k), after_one[k]), k
    assert not np.array_equal(_base(final, 4), after_one[4])
    base = trainer.model.get_layer("conv_base")
    assert base.get_layer("conv3").trainable and not base.get_layer("bn3").trainable
    assert not base.get_layer("conv2").trainable
    assert float(trainer.model.optimizer.learning_rate) == pytest.approx(1e-4)
    # the epochs continue (initial_epoch), and the run folder records both stages
    assert [e["epoch"] for e in trainer.history_epochs] == [0, 1, 2, 3]
    run = json.loads((trainer.run.path / "run.json").read_text())
    one, two = run["stages"]
    assert (one["stage"], one["first_epoch"], one["epochs"], one["learning_rate"]) == (1, 0, 2, 0.001)
    assert (two["stage"], two["first_epoch"], two["epochs"], two["learning_rate"]) == (2, 2, 2, 0.0001)
    assert "conv_base › conv3" in one["frozen"] and "conv_base › conv3" not in two["frozen"]
    assert two["unfrozen"] == ["conv_base › conv3", "conv_base › relu3"] and two["kept_frozen"] == ["conv_base › bn3"]
    assert "stays frozen" in two["notes"][0]
    assert run["frozen"] == one["frozen"] and len(json.loads((trainer.run.path / "history_epochs.json")
                                                             .read_text())) == 4
    # the final checkpoint holds stage 2's weights
    from studio.engine.project import load_weights
    saved = load_weights(trainer.run.path / "weights_final.h5")
    assert np.array_equal(saved["conv_base"][4], _base(final, 4))


def test_a_plain_model_fine_tunes_from_a_layer_of_its_own(small):
    p = templates.build("mnist_convnet")
    g = p.graph
    for name in ("conv1", "conv2", "conv3"):
        g.set_param(g.node_by_name(name).id, "trainable", False)
    g.set_param(g.node_by_name("conv3").id, "filters", 8)
    p.training.update(epochs=1, batch_size=64, lr_schedule="constant",
                      fine_tune={"unfreeze_from": "conv3", "epochs": 1, "learning_rate": 1e-4})
    trainer = Trainer(p, small)
    seen = {}
    trainer.stage_started.connect(lambda info: seen.setdefault(info["stage"], {
        n: [w.copy() for w in trainer.model.get_layer(n).get_weights()] for n in ("conv2", "conv3")}))
    trainer.run_training()
    final = trainer.weights()
    assert np.array_equal(final["conv2"][0], seen[2]["conv2"][0])
    assert np.array_equal(seen[1]["conv3"][0], seen[2]["conv3"][0])       # frozen in stage 1
    assert not np.array_equal(final["conv3"][0], seen[2]["conv3"][0])     # trains in stage 2
    assert [s["stage"] for s in trainer.stage_summary()] == [1, 2]


def test_a_stage_that_cannot_run_is_refused_before_training(small, tmp_path):
    p = templates.build("fine_tuning_digits")
    p.training["fine_tune"] = {**FT, "unfreeze_from": "conv_base › conv9"}
    trainer = Trainer(p, small, runs_dir=tmp_path)
    problems = trainer.check()
    assert problems and "'conv9' is not a layer of block 'conv_base'" in problems[0][1]
    assert problems[0][0] == p.graph.node_by_name("conv_base").id
    with pytest.raises(FineTuneRefused, match="conv9"):
        trainer.run_training()
    assert trainer.history_epochs == [] and not list(tmp_path.iterdir())


def test_fast_feature_extraction_applies_to_stage_one_only(small):
    p = templates.build("fine_tuning_digits")
    p.training.update(epochs=1, feature_extraction=True, fine_tune={**FT, "epochs": 1})
    trainer = Trainer(p, small)
    summary = trainer.run_training()
    assert summary["feature_extraction"]["cut"] == ["gap"]
    one, two = summary["stages"]
    assert one["feature_extraction"] and not two["feature_extraction"]
    assert any("applies to stage 1 only" in n for n in two["notes"])
    assert len(trainer.history_epochs) == 2


# -- the template ---------------------------------------------------------------------------

def test_template_is_clean_and_its_base_is_pretrained():
    p = templates.build("fine_tuning_digits")
    checker = ShapeChecker(p.graph)
    assert checker.errors() == []
    model = compile_graph(p.graph, p.weights)
    assert model.count_params() == checker.total_params()
    assert not model.get_layer("conv_base").trainable
    from studio.engine.project import load_weights
    assert all(np.array_equal(a, b) for a, b in zip(model.get_layer("conv_base").get_weights(),
                                                     load_weights(templates.DIGITS_BASE)["conv_base"]))
    assert templates.DIGITS_BASE.stat().st_size < 1_000_000
    ft = TrainingConfig.from_dict(p.training).fine_tune
    assert ft.unfreeze_from == "conv_base › conv3" and ft.learning_rate < p.training["learning_rate"]
    assert p.dataset["name"] == "mnist-sample"


# -- the command line -----------------------------------------------------------------------

def _template_copy(tmp_path):
    p = templates.build("fine_tuning_digits")
    p.training.update(epochs=1)
    return p.save(tmp_path / "ft.studio")


@pytest.mark.parametrize("flags, message", [
    (["--fine-tune-from", "conv_base › nope"], "'nope' is not a layer of block 'conv_base'"),
    (["--fine-tune-lr", "-1"], "--fine-tune-lr: must be a positive learning rate"),
    (["--fine-tune-epochs", "0"], "--fine-tune-epochs: must be at least 1"),
    (["--no-fine-tune", "--fine-tune-epochs", "2"], "--no-fine-tune cannot be combined with --fine-tune-epochs"),
    (["--fine-tune-from", "conv_base › relu3"], "nothing with weights would train"),
])
def test_cli_refuses_bad_values_in_one_line_with_exit_2(tmp_path, capsys, flags, message):
    path = _template_copy(tmp_path)
    assert cli.main(["train", str(path), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


@pytest.mark.parametrize("unfreeze_from, message", [
    ("conv_base › nope", "'nope' is not a layer of block 'conv_base'"),
    ("conv_base › relu3", "nothing with weights would train"),
    ("a › b › c › d", "unfreeze_from is 'a › b › c › d'; name a block's layer"),
])
def test_check_reports_the_stage_train_would_refuse_with_trains_sentence(tmp_path, capsys, unfreeze_from, message):
    p = templates.build("fine_tuning_digits")
    p.training.update(epochs=1, fine_tune={**FT, "unfreeze_from": unfreeze_from})
    path = p.save(tmp_path / "ft.studio")
    assert cli.main(["train", str(path)]) == 2
    refusal = capsys.readouterr().err.strip().splitlines()[-1]
    assert refusal.startswith("error: ") and message in refusal
    assert cli.main(["check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert refusal in out and "no errors" not in out


def test_check_of_a_stage_that_can_run_finds_no_errors(tmp_path, capsys):
    path = _template_copy(tmp_path)
    assert cli.main(["check", str(path)]) == 0
    assert "no errors" in capsys.readouterr().out


def test_cli_needs_a_layer_when_the_project_has_no_stage(tmp_path, capsys):
    p = templates.build("mnist_convnet")
    path = p.save(tmp_path / "plain.studio")
    assert cli.main(["train", str(path), "--fine-tune-epochs", "2"]) == 2
    assert "has no fine-tuning stage; add --fine-tune-from NAME" in capsys.readouterr().err


def test_cli_follows_and_overrides_the_stages(tmp_path, capsys, monkeypatch):
    from studio.engine import datasets
    data = sample_slice(256, 64)
    monkeypatch.setattr(datasets, "bundled_sample", lambda: data)
    path = _template_copy(tmp_path)
    assert cli.main(["train", str(path), "--fine-tune-from", "conv_base > conv2", "--fine-tune-epochs", "1",
                     "--fine-tune-lr", "3e-5", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr()
    assert "stage 2 of 2: fine-tuning from conv_base › conv2 at lr 3e-05" in out.err
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [(s["stage"], s["epochs"], s["learning_rate"]) for s in run["stages"]] == [(1, 1, 0.001), (2, 1, 3e-05)]
    assert run["stages"][1]["unfreeze_from"] == "conv_base › conv2"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["training"]["fine_tune"]["epochs"] == 1
    assert cli.main(["train", str(path), "--no-fine-tune", "--out", str(tmp_path / "one")]) == 0
    run = json.loads((tmp_path / "one" / "run.json").read_text())
    assert "stages" not in run and run["epochs"] == 1


# -- generated code ---------------------------------------------------------------------------

def test_generated_code_runs_the_second_stage_as_the_trainer_does():
    from studio.engine.codegen import generate
    p = templates.build("fine_tuning_digits")
    code = generate(p.graph, p.training)
    assert "fine_tune(model, x_train, y_train, initial_epoch=epochs)" in code
    namespace = {}
    exec(compile(code, "model.py", "exec"), namespace)
    model = namespace["compile_model"](namespace["build_model"]())
    x = np.zeros((16, 28, 28, 1), "float32")
    y = np.zeros(16, "int64")
    history = namespace["fine_tune"](model, x, y, initial_epoch=2)
    assert history.epoch == [2, 3]
    base = model.get_layer("conv_base")
    expected = compile_graph(ft_mod.plan(p.graph, FineTune(**FT)).graph)
    assert [lay.trainable for lay in base.layers] == [lay.trainable for lay in expected.get_layer("conv_base").layers]
    assert base.get_layer("conv3").trainable and not base.get_layer("bn3").trainable
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
