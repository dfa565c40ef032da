"""Nothing from a project becomes code: arbitrary strings in every place that
reaches generated code are either written as literals or refused.

Each generated module is parsed with ``ast`` and must consist of exactly the
expected statements; inside ``build_model`` only assignments of layer calls
and one return may appear, calling nothing but ``keras``/``layers``
attributes and the layers it built.
"""

from __future__ import annotations

import ast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.engine.codegen import CodegenError, generate
from studio.engine.graph import ModelGraph
from studio.engine.project import Project
from studio.engine.standalone import write_standalone

from .helpers import chain

TEXT = st.text(min_size=0, max_size=40)
# strings that look like attacks, mixed into the random ones
ATTACKS = st.sampled_from([
    '"""\nimport os\nos.system("touch PWNED")\n"""',
    "'); import os; os.system('x'); ('",
    "\\", '"', "'''", "x\n__import__('os').system('x')", "\x00", "\ud800", "a\u2028b",
    "{name}", "%s", "__import__('os')", "relu\nimport os", "builtins>eval", "keras.config.set_epsilon",
])
ANY_TEXT = st.one_of(TEXT, ATTACKS)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRAINING = {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9, "loss": "mse", "metrics": ["mae"],
            "batch_size": 32, "epochs": 2, "validation_split": 0.2, "shuffle_seed": 1}


def _graph(name="model"):
    g = ModelGraph(name)
    chain(g, ("InputLayer", {"shape": [4]}), ("Dense", {"units": 3, "activation": "relu"}),
          ("Dense", {"units": 2, "activation": "softmax"}))
    return g


def _chain_of(node: ast.AST) -> list[str]:
    """['keras', 'layers', 'Dense'] for keras.layers.Dense."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return []


def assert_expected_module(code: str, training: bool) -> ast.Module:
    tree = ast.parse(code)
    kinds = [type(s).__name__ for s in tree.body]
    expected = ["Expr", "Import", "ImportFrom", "FunctionDef"] + (["FunctionDef"] * 2 if training else []) + ["If"]
    assert kinds == expected, kinds
    assert isinstance(tree.body[0].value, ast.Constant) and isinstance(tree.body[0].value.value, str)
    assert [a.name for a in tree.body[1].names] == ["keras"]
    assert tree.body[2].module == "keras" and [a.name for a in tree.body[2].names] == ["layers"]
    functions = [s.name for s in tree.body if isinstance(s, ast.FunctionDef)]
    assert functions == ["build_model"] + (["compile_model", "train"] if training else [])
    build = tree.body[3]
    local = set()
    for stmt in build.body[:-1]:
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        local.add(stmt.targets[0].id)
    assert isinstance(build.body[-1], ast.Return)
    for node in (n for stmt in build.body for n in ast.walk(stmt)):
        assert not isinstance(node, (ast.Lambda, ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef,
                                     ast.ListComp, ast.GeneratorExp, ast.Await, ast.NamedExpr)), ast.dump(node)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            assert node.id in local | {"keras", "layers", "float"}, node.id
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Call):       # layers.Dense(...)(x): the inner call is checked too
                continue
            chain_ = _chain_of(func)
            assert chain_ and (chain_[0] in ("keras", "layers") or chain_ == ["float"]), ast.dump(func)
    main = tree.body[-1]
    assert ast.unparse(main.test) == "__name__ == '__main__'"
    return tree


def _constants(tree: ast.AST) -> list:
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]


def _generate_or_refuse(graph, training=None):
    try:
        return generate(graph, training)
    except CodegenError as exc:
        assert "\n" not in str(exc)
        return None


@SETTINGS
@given(name=ANY_TEXT)
def test_model_name_is_a_literal(name):
    code = generate(_graph(name), TRAINING)
    tree = assert_expected_module(code, training=True)
    assert name in _constants(tree)                       # the name survives exactly, as data
    assert any(isinstance(c, str) and name in c for c in _constants(tree.body[0]))


@SETTINGS
@given(names=st.lists(ANY_TEXT, min_size=3, max_size=3))
def test_node_names_are_literals(names):
    g = _graph()
    for node, name in zip(g.nodes.values(), names):
        node.name = name                                  # bypass the graph's own name check
    code = _generate_or_refuse(g)
    assert code is not None
    tree = assert_expected_module(code, training=False)
    for name in names:
        assert name in _constants(tree)


@SETTINGS
@given(key=ANY_TEXT, value=ANY_TEXT)
def test_config_keys_and_values(key, value):
    g = _graph()
    dense = [n for n in g.nodes.values() if n.class_name == "Dense"][0]
    dense.config[key] = value
    code = _generate_or_refuse(g)
    if code is not None:
        tree = assert_expected_module(code, training=False)
        assert key.isidentifier()
        assert value in _constants(tree)


@SETTINGS
@given(module=st.one_of(ANY_TEXT, st.sampled_from(["keras.initializers", "keras", "keras.config"])),
       class_name=st.one_of(ANY_TEXT, st.sampled_from(["Zeros", "GlorotUniform", "set_epsilon"])),
       registered=st.one_of(st.none(), ANY_TEXT), setting=ANY_TEXT)
def test_nested_objects(module, class_name, registered, setting):
    g = _graph()
    dense = [n for n in g.nodes.values() if n.class_name == "Dense"][0]
    dense.config["kernel_initializer"] = {"module": module, "class_name": class_name,
                                          "config": {"seed": setting}, "registered_name": registered}
    dense.config["activation"] = {"module": module, "class_name": class_name, "config": {}}
    code = _generate_or_refuse(g)
    assert code is None  # an activation is never an object
    dense.config["activation"] = "relu"
    code = _generate_or_refuse(g)
    if code is not None:
        assert module == "keras.initializers" and class_name in ("Zeros", "GlorotUniform")
        assert registered in (None, class_name)
        assert_expected_module(code, training=False)


@SETTINGS
@given(field=st.sampled_from(["loss", "optimizer", "metrics", "learning_rate", "batch_size", "epochs",
                              "validation_split", "shuffle_seed", "momentum", "lr_schedule"]),
       value=st.one_of(ANY_TEXT, st.lists(ANY_TEXT, max_size=2), st.floats(), st.integers(), st.none()))
def test_training_settings(field, value):
    code = _generate_or_refuse(_graph(), {**TRAINING, field: value})
    if code is not None:
        tree = assert_expected_module(code, training=True)
        if field in ("loss",):
            assert value in _constants(tree)


@SETTINGS
@given(dtype=ANY_TEXT)
def test_input_dtype(dtype):
    g = _graph()
    g.nodes[next(iter(g.nodes))].config["dtype"] = dtype
    code = _generate_or_refuse(g)
    if code is not None:
        assert_expected_module(code, training=False)


def test_the_reported_docstring_attack_is_inert(tmp_path):
    name = 'x"""\nopen("PWNED", "w")\n"""'
    code = generate(_graph(name), TRAINING)
    tree = assert_expected_module(code, training=True)
    assert tree.body[0].value.value == f'Model "{name}", generated by Layer Studio.'
    namespace = {"__name__": "generated"}
    exec(compile(code, "model.py", "exec"), namespace)
    assert namespace["build_model"]().name == name


@pytest.mark.parametrize("bad", [{"activation": {"module": "keras.config", "class_name": "set_epsilon"}},
                                 {"kernel_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                                                         "config": {}, "registered_name": "builtins>eval"}},
                                 {"x=__import__('os').system('id'),y": 1}])
def test_hostile_configs_are_refused_by_name(bad):
    g = _graph()
    dense = [n for n in g.nodes.values() if n.class_name == "Dense"][0]
    dense.config.update(bad)
    with pytest.raises(CodegenError, match=dense.name):
        generate(g)


def _standalone_files(tmp_path, project):
    folder = tmp_path / "out"
    write_standalone(project, folder)
    return folder


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(name=ANY_TEXT, dataset_name=st.one_of(ANY_TEXT, st.sampled_from(["mnist", "fashion_mnist"])))
def test_standalone_export_pastes_no_text(tmp_path_factory, name, dataset_name):
    tmp = tmp_path_factory.mktemp("standalone")
    project = Project(graph=_graph(name), dataset={"kind": "download", "name": dataset_name},
                      training=dict(TRAINING))
    try:
        folder = _standalone_files(tmp, project)
    except (CodegenError, ValueError) as exc:
        assert "\n" not in str(exc)
        assert dataset_name not in ("mnist", "fashion_mnist")
        return
    assert_expected_module((folder / "model.py").read_text(encoding="utf-8"), training=True)
    tree = ast.parse((folder / "train.py").read_text(encoding="utf-8"))
    kinds = [type(s).__name__ for s in tree.body]
    assert kinds == ["Expr", "Import", "ImportFrom", "Import", "Import", "ImportFrom", "Assign", "Assign",
                     "FunctionDef", "FunctionDef", "FunctionDef", "FunctionDef", "If"], kinds
    assert dataset_name in _constants(tree)
