"""The allow-lists in keras_bridge: every listed name is a Keras object of that kind,
every config Keras itself writes passes, and anything else is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.engine import catalog
from studio.engine import keras_bridge as kb
from studio.engine.keras_bridge import UnsafeConfigError, check_config_safe

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind, names, get, base", [
    ("activation", kb.ACTIVATIONS, keras.activations.get, None),
    ("initializer", kb.INITIALIZERS, keras.initializers.get, keras.initializers.Initializer),
    ("regularizer", kb.REGULARIZERS, keras.regularizers.get, keras.regularizers.Regularizer),
    ("constraint", kb.CONSTRAINTS, keras.constraints.get, keras.constraints.Constraint),
    ("loss", kb.LOSSES, keras.losses.get, None),
    ("metric", kb.METRICS, keras.metrics.get, None),
])
def test_every_listed_name_is_a_keras_object_of_its_kind(kind, names, get, base):
    module = {"initializer": keras.initializers, "regularizer": keras.regularizers,
              "constraint": keras.constraints, "loss": keras.losses, "metric": keras.metrics}.get(kind)
    for name in sorted(names):
        if name[:1].isupper():
            cls = getattr(module, name)
            assert isinstance(cls, type), name
            if base is not None:
                assert issubclass(cls, base), name
        else:
            assert get(name) is not None, name


def test_dtype_policies_are_keras_policies():
    for name in kb.DTYPE_POLICIES:
        assert keras.dtype_policies.get(name).name == name
    for name in kb.DTYPES - {"string"}:
        assert keras.backend.standardize_dtype(name) == name


def test_configs_keras_writes_pass():
    from studio.engine.keras_bridge import make_layer
    for name in catalog.layer_names():
        if name != "Block":  # a nested model's config is checked as a block (tests/engine/test_blocks.py)
            check_config_safe(make_layer(name, "x", catalog.spec(name).default_config()).get_config(), name)
    dense = keras.layers.Dense(3, activation="gelu", kernel_regularizer="l1", kernel_constraint="non_neg",
                               bias_initializer=keras.initializers.Constant(0.5), dtype="mixed_float16")
    check_config_safe(dense.get_config())
    wrapped = keras.layers.Bidirectional(keras.layers.LSTM(3), backward_layer=keras.layers.LSTM(3, go_backwards=True))
    check_config_safe(wrapped.get_config())
    from studio.engine.blocks import check_block_config
    for template in (ROOT / "assets" / "templates").glob("*.studio"):
        for node in json.loads(template.read_text())["graph"]["nodes"]:
            if node["class_name"] == "Block":  # checked as a block: each layer inside like these
                check_block_config(node["config"], node["name"])
            else:
                check_config_safe(node["config"], node["name"])


@pytest.mark.parametrize("config, phrase", [
    ({"activation": {"module": "keras.config", "class_name": "set_epsilon"}}, "keras.config.set_epsilon"),
    ({"activation": "set_epsilon"}, "'set_epsilon'"),
    ({"recurrent_activation": {"module": "keras.activations", "class_name": "relu"}}, "keras.activations.relu"),
    ({"kernel_initializer": {"module": "keras.initializers", "class_name": "get", "config": {}}},
     "keras.initializers.get"),
    ({"kernel_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                             "registered_name": "builtins>eval"}}, "'builtins>eval'"),
    ({"anything": {"registered_name": "builtins>eval"}}, "'builtins>eval'"),
    ({"kernel_regularizer": {"module": "keras.regularizers", "class_name": "Regularizer", "config": {}}},
     "keras.regularizers.Regularizer"),
    ({"kernel_constraint": "keras.config.disable_traceback_filtering"}, "disable_traceback_filtering"),
    ({"dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "int8_from_float32"}}},
     "int8_from_float32"),
    ({"dtype": "keras.config.set_dtype_policy"}, "not a Keras dtype"),
    ({"seed": {"module": "keras.random", "class_name": "SeedGenerator", "config": {}}}, "SeedGenerator"),
    ({"layer": {"module": "keras.layers", "class_name": "Lambda", "config": {}}}, "'Lambda'"),
    ({"layer": {"module": "keras.src.applications.convnext", "class_name": "LayerScale", "config": {}}},
     "LayerScale"),
    ({"kernel_initializer": {"module": "keras.initializers", "class_name": "Constant",
                             "config": {"value": {"module": "keras.ops", "class_name": "exp"}}}}, "keras.ops.exp"),
])
def test_anything_else_is_refused_by_name(config, phrase):
    with pytest.raises(UnsafeConfigError) as info:
        check_config_safe(config, "layer 'dense'")
    message = str(info.value)
    assert phrase in message and "layer 'dense'" in message and "\n" not in message


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["module", "class_name", "config", "registered_name", "activation",
                                         "kernel_initializer", "dtype", "layer", "x"]) | st.text(max_size=8),
                        inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(config=st.dictionaries(st.text(max_size=20), JSON, max_size=5))
def test_arbitrary_configs_are_accepted_or_refused_cleanly(config):
    """Only UnsafeConfigError ever comes out, and what passes names no object outside the allow-lists."""
    try:
        check_config_safe(config, "layer 'x'")
    except UnsafeConfigError as exc:
        assert "\n" not in str(exc)
        return

    def walk(value, key=None):
        if isinstance(value, dict):
            if "module" in value or "registered_name" in value:
                module = value.get("module")
                assert module is None or module == "keras" or str(module).startswith("keras."), value
                assert value.get("registered_name") in (None, value.get("class_name")), value
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
    walk(config)
