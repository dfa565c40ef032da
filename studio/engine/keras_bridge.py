"""Turning a node into a real Keras layer, safely.

Everything here imports Keras lazily so the rest of the engine loads fast.
Configs are checked before Keras sees them: a nested object may only be one of
an explicit allow-list of Keras objects of the kind its key holds (an
activation, an initializer, a dtype policy, ...), and deserialization runs in
safe mode, so nothing in a project file can make Keras run code or call a
function that is not what the setting says it is.
"""

from __future__ import annotations

import copy
import inspect
import threading
from typing import Any

from studio.engine import catalog
from studio.engine.errors import BAD_INPUT, StudioError

_FORBIDDEN_CLASS_NAMES = {"Lambda", "__lambda__", "function", "__numpy__", "TFOpLambda"}

# -- allow-lists ------------------------------------------------------------------
# A config may hold Keras objects of a few kinds (an activation, an initializer,
# ...). Each kind accepts only the names below: Keras's own objects of that
# kind, by name. ``tests/robustness/test_allow_lists.py`` checks that Keras
# knows every name here as an object of the same kind. A name that is not
# listed is refused, even if Keras could import it from somewhere else.

ACTIVATIONS = frozenset({
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu",
    "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
    "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink", "threshold",
})
INITIALIZERS = frozenset({
    # classes (serialized as {"module": "keras.initializers", "class_name": ...})
    "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity", "IdentityInitializer",
    "LecunNormal", "LecunUniform", "Ones", "Orthogonal", "OrthogonalInitializer", "RandomNormal",
    "RandomUniform", "TruncatedNormal", "VarianceScaling", "Zeros",
    # names (a string makes a default instance, so "constant", which needs a value, is not one)
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "identity", "lecun_normal",
    "lecun_uniform", "normal", "one", "ones", "orthogonal", "random_normal", "random_uniform",
    "truncated_normal", "uniform", "variance_scaling", "zero", "zeros",
})
REGULARIZERS = frozenset({"L1", "L1L2", "L2", "OrthogonalRegularizer", "l1", "l1l2", "l2",
                          "orthogonal_regularizer"})
CONSTRAINTS = frozenset({"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm", "min_max_norm",
                         "non_neg", "unit_norm"})
LOSSES = frozenset({
    "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy", "CategoricalFocalCrossentropy",
    "CategoricalHinge", "CosineSimilarity", "Hinge", "Huber", "KLDivergence", "LogCosh", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson",
    "SparseCategoricalCrossentropy", "SquaredHinge",
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "cosine_similarity", "hinge", "huber",
    "kl_divergence", "kld", "log_cosh", "mae", "mape", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_error", "mean_squared_logarithmic_error", "mse", "msle", "poisson",
    "sparse_categorical_crossentropy", "squared_hinge",
})
METRICS = frozenset({
    "AUC", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "F1Score", "MeanAbsoluteError",
    "MeanSquaredError", "Precision", "Recall", "RootMeanSquaredError", "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy",
    "accuracy", "auc", "binary_accuracy", "binary_crossentropy", "categorical_accuracy",
    "categorical_crossentropy", "f1_score", "mae", "mape", "mean_absolute_error", "mean_squared_error", "mse",
    "precision", "recall", "root_mean_squared_error", "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy",
})
DTYPES = frozenset({"float16", "float32", "float64", "bfloat16", "uint8", "uint16", "uint32", "uint64",
                    "int8", "int16", "int32", "int64", "bool", "string"})
DTYPE_POLICIES = frozenset({"float16", "float32", "float64", "bfloat16", "mixed_float16", "mixed_bfloat16"})
DTYPE_POLICY_CLASSES = frozenset({"DTypePolicy", "FloatDTypePolicy"})

# kind -> (allowed names, the modules a serialized object of that kind may name)
_KINDS = {
    "activation": (ACTIVATIONS, ("keras.activations",)),
    "initializer": (INITIALIZERS, ("keras.initializers",)),
    "regularizer": (REGULARIZERS, ("keras.regularizers",)),
    "constraint": (CONSTRAINTS, ("keras.constraints",)),
    "loss": (LOSSES, ("keras.losses",)),
    "metric": (METRICS, ("keras.metrics",)),
    "dtype policy": (DTYPE_POLICIES | DTYPES, ("keras", "keras.dtype_policies")),
}
_ARTICLE = {"activation": "an activation", "initializer": "an initializer", "regularizer": "a regularizer",
            "constraint": "a constraint", "loss": "a loss", "metric": "a metric", "dtype policy": "a dtype policy"}


class UnsafeConfigError(StudioError, ValueError):
    """A config that would make Keras import or run something it should not."""

    exit_code = BAD_INPUT


def kind_of_key(key: str) -> str | None:
    """Which kind of Keras object a config key holds ('activation', ...), or None."""
    if not isinstance(key, str):
        return None
    if key == "activation" or key.endswith("_activation"):
        return "activation"
    if key == "initializer" or key.endswith("_initializer"):
        return "initializer"
    if key == "regularizer" or key.endswith("_regularizer"):
        return "regularizer"
    if key == "constraint" or key.endswith("_constraint"):
        return "constraint"
    if key in ("dtype", "dtype_policy", "compute_dtype", "variable_dtype"):
        return "dtype policy"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _name_of(obj: dict) -> str:
    module, cname = obj.get("module"), obj.get("class_name")
    return f"{module}.{cname}" if isinstance(module, str) and module else str(cname)


def check_allowed(kind: str, value: Any, where: str) -> None:
    """Refuse ``value`` unless it is ``None`` or an allow-listed Keras object of ``kind``."""
    allowed, modules = _KINDS[kind]
    if value is None:
        return
    if isinstance(value, str):
        if kind == "dtype policy" and value not in allowed:
            raise UnsafeConfigError(f"{where} is {_show(value)}, which is not a Keras dtype; "
                                    f"use one of {', '.join(sorted(DTYPE_POLICIES))}")
        if value not in allowed:
            raise UnsafeConfigError(f"{where} is {_show(value)}, which is not {_ARTICLE[kind]} Keras knows; "
                                    f"use one of {', '.join(sorted(n for n in allowed if n.islower())[:12])}, …")
        return
    if not isinstance(value, dict):
        raise UnsafeConfigError(f"{where} should name {_ARTICLE[kind]} (a string), not {type(value).__name__} "
                                f"{_show(value)}")
    _check_common(value, where)
    module, cname = value.get("module"), value.get("class_name")
    registered = value.get("registered_name")
    inner = value.get("config")
    if kind == "activation":
        # Keras writes built-in activations as plain names; an object here is never one of them
        raise UnsafeConfigError(f"{where} names '{_name_of(value)}', which is not a Keras activation; "
                                "give an activation's name, e.g. \"relu\"")
    if kind == "dtype policy":
        ok = (module in modules and cname in DTYPE_POLICY_CLASSES and isinstance(inner, dict)
              and set(inner) <= {"name"} and isinstance(inner.get("name"), str)
              and inner.get("name") in DTYPE_POLICIES)
        if not ok:
            raise UnsafeConfigError(f"{where} names '{_name_of(value)}' with {_show(inner)}, which is not an allowed "
                                    f"Keras dtype policy; use one of {', '.join(sorted(DTYPE_POLICIES))}")
    elif module not in (None,) + modules or cname not in allowed or not (cname[:1].isupper()):
        raise UnsafeConfigError(f"{where} names '{_name_of(value)}', which is not {_ARTICLE[kind]} Keras allows here; "
                                f"use one of {', '.join(sorted(n for n in allowed if n[:1].isupper()))}")
    if registered not in (None, cname):
        raise UnsafeConfigError(f"{where} names a custom registered object {_show(registered)}, "
                                "which Layer Studio does not load")
    if inner is not None and not isinstance(inner, dict):
        raise UnsafeConfigError(f"{where}.config should be an object of plain settings")
    for k, v in (inner or {}).items():
        _check_plain(v, f"{where}.{k}")


def _check_common(value: dict, where: str) -> None:
    """Checks that apply to every serialized object, whatever its kind."""
    module = value.get("module")
    if module is not None and (not isinstance(module, str)
                               or not (module == "keras" or module.startswith("keras."))):
        raise UnsafeConfigError(f"{where} refers to module '{module}', which is not part of Keras")
    class_name = value.get("class_name")
    registered = value.get("registered_name")
    for name in (class_name, registered):
        if name is not None and not isinstance(name, str):
            raise UnsafeConfigError(f"{where} holds an object whose name {_show(name)} is not a string")
    if class_name in _FORBIDDEN_CLASS_NAMES or registered in _FORBIDDEN_CLASS_NAMES:
        raise UnsafeConfigError(f"{where} contains a '{class_name}' object, which would run code")
    if registered is not None and registered != class_name:
        raise UnsafeConfigError(f"{where} names a custom registered object {_show(registered)}, "
                                "which Layer Studio does not load")
    if not isinstance(class_name, str) or not class_name.isidentifier():
        raise UnsafeConfigError(f"{where} holds an object whose class name {_show(class_name)} is not a name")


_SLICE_FIELDS = ("start", "stop", "step")


def _inert_marker(value: dict, where: str) -> bool:
    """True for the plain-data markers Keras writes for a slice or ``...`` (an index of
    ``x[1:, ...]``); raises if a dict names one but is not exactly that."""
    cname = value.get("class_name")
    if cname not in ("__slice__", "__ellipsis__"):
        return False
    inner = value.get("config")
    ok = set(value) <= {"class_name", "config"} and isinstance(inner, dict)
    if ok and cname == "__slice__":
        ok = set(inner) <= set(_SLICE_FIELDS) and all(
            inner.get(k) is None or (isinstance(inner.get(k), int) and not isinstance(inner.get(k), bool))
            for k in _SLICE_FIELDS)
    elif ok:
        ok = not inner
    if not ok:
        raise UnsafeConfigError(f"{where} holds a malformed {cname} (a slice takes whole numbers or None)")
    return True


def _check_plain(value: Any, where: str) -> None:
    """Numbers, strings, None, lists and tuples of them: the settings of an allowed object."""
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__" and set(value) <= {"class_name", "config"}:
            _check_plain((value.get("config") or {}).get("value"), where)
            return
        if _inert_marker(value, where):
            return
        if "class_name" in value or "module" in value or "registered_name" in value:
            raise UnsafeConfigError(f"{where} holds a nested '{_name_of(value)}' object, which is not allowed here")
        for k, v in value.items():
            _check_plain(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for k, v in enumerate(value):
            _check_plain(v, f"{where}[{k}]")


def check_config_safe(value: Any, where: str = "config", kind: str | None = None) -> None:
    """Refuse anything in a layer config that is not a plain setting or an allow-listed Keras object.

    Keys say what kind of object they hold (``activation``, ``*_initializer``,
    ``*_regularizer``, ``*_constraint``, ``dtype``); wrapped layers (``layer``,
    ``backward_layer``) must be catalog layers and are checked the same way;
    any other serialized object is refused.
    """
    if kind is not None:
        check_allowed(kind, value, where)
        return
    if isinstance(value, dict):
        if "class_name" in value or "module" in value or "registered_name" in value:
            if value.get("class_name") == "__tuple__" and set(value) <= {"class_name", "config"}:
                _check_plain((value.get("config") or {}).get("value"), where)
                return
            if _inert_marker(value, where):
                return
            _check_common(value, where)
            raise UnsafeConfigError(f"{where} holds a '{_name_of(value)}' object, which is not allowed there")
        for k, v in value.items():
            if not isinstance(k, str):
                raise UnsafeConfigError(f"{where} has a setting name {_show(k)} that is not a string")
            sub_kind = kind_of_key(k)
            if sub_kind is not None:
                check_allowed(sub_kind, v, f"{where}.{k}")
            elif k in ("layer", "backward_layer") and isinstance(v, dict):
                _check_wrapped_layer(v, f"{where}.{k}")
            elif isinstance(v, (dict, list, tuple)):  # plain numbers and strings need no look (or a name)
                check_config_safe(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for k, v in enumerate(value):
            if isinstance(v, (dict, list, tuple)):
                check_config_safe(v, f"{where}[{k}]")


def _check_wrapped_layer(value: dict, where: str) -> None:
    _check_common(value, where)
    cname = value.get("class_name")
    if value.get("module") not in (None, "keras.layers") or cname not in catalog.SPECS:
        raise UnsafeConfigError(f"{where} names '{_name_of(value)}', which is not a layer in the catalog")
    if set(value) - {"module", "class_name", "config", "registered_name", "build_config", "name"}:
        extra = sorted(set(value) - {"module", "class_name", "config", "registered_name", "build_config", "name"})
        raise UnsafeConfigError(f"{where} has unexpected fields {', '.join(map(str, extra))}")
    inner = value.get("config")
    if inner is not None and not isinstance(inner, dict):
        raise UnsafeConfigError(f"{where}.config should be an object")
    check_config_safe(inner or {}, f"{where}.config")
    check_config_safe(value.get("build_config") or {}, f"{where}.build_config")


def check_training_names(training: dict[str, Any], where: str = "training") -> None:
    """The loss and metrics of a training configuration are allow-listed Keras names."""
    check_allowed("loss", training.get("loss", "sparse_categorical_crossentropy"), f"{where}.loss")
    metrics = training.get("metrics", ["accuracy"])
    if not isinstance(metrics, (list, tuple)):
        raise UnsafeConfigError(f"{where}.metrics should be a list of metric names")
    for k, m in enumerate(metrics):
        if not isinstance(m, str):
            raise UnsafeConfigError(f"{where}.metrics[{k}] should be a metric's name, not {_show(m)}")
        check_allowed("metric", m, f"{where}.metrics[{k}]")


def _materialize_inner(config: dict[str, Any], owner: str) -> dict[str, Any]:
    """Give nested layer configs (wrappers) the module field Keras expects."""
    config = dict(config)
    for key in ("layer", "backward_layer"):
        inner = config.get(key)
        if isinstance(inner, dict) and "class_name" in inner:
            cname = inner["class_name"]
            if cname not in catalog.wrappable(owner):
                raise ValueError(f"{owner} cannot wrap a '{cname}' layer; allowed: {', '.join(catalog.wrappable(owner))}")
            inner = dict(inner)
            inner.setdefault("module", "keras.layers")
            inner.setdefault("registered_name", None)
            inner_config = dict(inner.get("config") or {})
            inner["config"] = inner_config
            config[key] = inner
    return config


def layer_config(class_name: str, name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The full dict to hand to ``cls.from_config`` for a node (its call fields left out)."""
    if class_name == "Block":
        from studio.engine.blocks import check_block_config
        check_block_config(config, f"block '{name}'")
        return copy.deepcopy(config)
    check_config_safe(config, f"layer '{name}'")
    catalog.check_call_fields(class_name, config)
    if catalog.is_op(class_name):
        return op_config(class_name, name, config)
    cfg = copy.deepcopy(catalog.layer_settings(config))
    if class_name in catalog.WRAPPABLE:
        cfg = _materialize_inner(cfg, class_name)
    if class_name == "InputLayer":
        cfg = input_layer_config(cfg)
    cfg["name"] = name
    return cfg


def input_layer_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Normalize an Input node's config to Keras's ``batch_shape`` form."""
    cfg = dict(cfg)
    if "shape" in cfg:
        shape = cfg.pop("shape")
        if not isinstance(shape, (list, tuple)):
            raise ValueError("the input shape must be a list of sizes, e.g. [28, 28, 1]")
        cfg["batch_shape"] = [cfg.pop("batch_size", None)] + list(shape)
    if "batch_shape" not in cfg:
        raise ValueError("an Input needs a shape, e.g. [28, 28, 1]")
    bs = cfg["batch_shape"]
    if not isinstance(bs, (list, tuple)) or not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in bs):
        raise ValueError(f"the input shape {list(bs)[1:] if isinstance(bs, (list, tuple)) else bs} must contain positive whole numbers (or None)")
    cfg["batch_shape"] = tuple(bs)
    return cfg


def op_settings(class_name: str) -> tuple[str, ...]:
    """The constructor arguments of an operation (``axis``, ``keepdims``...), name excluded."""
    cls = catalog.keras_class(class_name)
    return tuple(p.name for p in inspect.signature(cls.__init__).parameters.values()
                 if p.name not in ("self", "name") and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))


def op_config(class_name: str, name: str, config: dict[str, Any]) -> dict[str, Any]:
    """What an operation's ``from_config`` takes: the node's config less the constants it
    passes to the call. Any other key is refused by name."""
    op = catalog.spec(class_name).op
    settings = op_settings(class_name)
    constants = op.constant_names
    unknown = sorted(k for k in config if k not in settings and k not in constants)
    if unknown:
        raise ValueError(f"{class_name} has no setting {', '.join(map(repr, unknown))}; it takes "
                         f"{', '.join(settings + constants) or 'none'}")
    for c in op.call:
        if c.kind == "constant" and config.get(c.name) is None and c.name not in config:
            raise ValueError(f"{class_name} needs a value for '{c.name}'")
    cfg = {k: copy.deepcopy(v) for k, v in config.items() if k in settings}
    cfg["name"] = name
    return cfg


def op_constant(class_name: str, param: str, value: Any) -> Any:
    """A constant a node holds, as the operation's call takes it: Keras's slice and
    ``...`` markers become the objects, and an index list becomes a tuple (``x[:, 0]``)."""
    def restore(v):
        if isinstance(v, dict) and v.get("class_name") == "__slice__":
            c = v.get("config") or {}
            return slice(c.get("start"), c.get("stop"), c.get("step"))
        if isinstance(v, dict) and v.get("class_name") == "__ellipsis__":
            return Ellipsis
        if isinstance(v, list):
            return [restore(x) for x in v]
        return v

    value = restore(value)
    if class_name == "ops.GetItem" and param == "key" and isinstance(value, list):
        value = tuple(value)
    return value


def make_layer(class_name: str, name: str, config: dict[str, Any]):
    """Instantiate the Keras layer (or operation) for a node, in Keras's safe mode."""
    from keras.src.saving import serialization_lib

    if class_name == "Block":
        from studio.engine.blocks import build_block, check_block_config
        check_block_config(config, f"block '{name}'")
        return build_block(name, config)
    cls = catalog.keras_class(class_name)
    cfg = layer_config(class_name, name, config)
    with serialization_lib.SafeModeScope(True):
        return cls.from_config(cfg)


# -- weight-free building --------------------------------------------------
# Shape checking needs each layer's parameter count, which Keras only knows
# after ``build()`` has created its variables. Creating real TensorFlow
# variables costs milliseconds per layer; while shape checking, this thread
# records the requested weight shapes instead. Other threads (training) are
# untouched: the switch is thread-local.

_local = threading.local()


class ShapeOnlyWeight:
    """Stands in for a variable while shape checking: knows its shape only."""

    __slots__ = ("shape", "dtype", "trainable", "name")

    def __init__(self, shape, dtype, trainable, name):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = dtype
        self.trainable = trainable
        self.name = name

    @property
    def path(self):
        return self.name


_installed = False


def _install_shape_only_weights() -> None:
    global _installed
    if _installed:
        return
    from keras.src.layers.layer import Layer

    original = Layer.add_weight
    _signature = inspect.signature(original)

    def add_weight(self, *args, **kwargs):
        sink = getattr(_local, "sink", None)
        if sink is None:
            return original(self, *args, **kwargs)
        bound = _signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        w = ShapeOnlyWeight(a["shape"] or (), a["dtype"], a["trainable"], a.get("name"))
        sink.append((self, w))
        return w

    add_weight.__wrapped__ = original
    Layer.add_weight = add_weight
    _installed = True


def count_shape_only_params(layer, sink: list) -> int:
    """Parameters of ``layer`` and its tracked sublayers among the recorded weights.

    Some layers build helper layers they do not keep (Bidirectional rebuilds
    its wrapped layer); only weights owned by layers reachable from ``layer``
    count, as in ``layer.count_params()``.
    """
    import math

    owners = {id(sub) for sub in layer._flatten_layers(include_self=True, recursive=True)}
    return sum(math.prod(w.shape) for owner, w in sink if id(owner) in owners)


def count_shape_only_trainable(layer, sink: list) -> int:
    """The trainable share of :func:`count_shape_only_params`, as Keras's ``trainable_weights`` counts it:
    a weight counts if it was made trainable and neither its layer nor any layer above it is frozen."""
    import math

    if not layer.trainable:
        return 0
    frozen: set[int] = set()
    trainable_owners: set[int] = set()

    def walk(sub, parent_frozen: bool) -> None:
        is_frozen = parent_frozen or not sub.trainable
        (frozen if is_frozen else trainable_owners).add(id(sub))
        for child in sub._flatten_layers(include_self=False, recursive=False):
            walk(child, is_frozen)

    walk(layer, False)
    return sum(math.prod(w.shape) for owner, w in sink if id(owner) in trainable_owners and w.trainable)


class shape_only_weights:
    """Context: layers built in this thread get shape-only weights."""

    def __enter__(self) -> list:
        from keras.src.backend.common import global_state
        from keras.src.backend.common.stateless_scope import StatelessScope

        _install_shape_only_weights()
        self.previous = getattr(_local, "sink", None)
        _local.sink = []
        # Variables created outside add_weight (random seed state) are
        # deferred, not allocated, inside a stateless scope.
        self.pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
        self.pending_count = len(self.pending)
        self.scope = StatelessScope(initialize_variables=False)
        self.scope.__enter__()
        return _local.sink

    def __exit__(self, *exc) -> None:
        self.scope.__exit__(*exc)
        del self.pending[self.pending_count:]  # forget the deferred probe variables
        _local.sink = self.previous


def call_node(layer, class_name: str, config: dict[str, Any], values: dict[int, Any]):
    """Call a node's layer or operation on what its input ports carry ({port: tensor}),
    with the constants and keyword arguments the node holds."""
    args, kwargs = catalog.call_arguments(class_name, config, values,
                                          lambda param, v: op_constant(class_name, param, v))
    return layer(*args, **kwargs)


def has_call_fields(class_name: str, config: dict[str, Any]) -> bool:
    return catalog.is_op(class_name) or any(k in config for k in catalog.CALL_KEYS)


def call_layer(layer, class_name: str, inputs: list):
    """Call a layer on its input tensors the way the catalog says it is called."""
    style = catalog.spec(class_name).call_style
    if style == "single" or style == "block" and len(inputs) == 1:
        return layer(inputs[0])
    if style == "positional":
        return layer(*inputs)
    return layer(list(inputs))


def output_spec(layer, class_name: str, inputs: list):
    """Build ``layer`` for the inputs' shapes and compute its output spec.

    The same result as calling the layer on ``KerasTensor``s, without the
    cost of ``Layer.__call__``'s argument handling; used while shape checking.
    Raises if the layer cannot be handled this way (the caller then falls
    back to :func:`call_layer`).
    """
    style = catalog.spec(class_name).call_style
    if style == "block":
        raise NotImplementedError("a block is checked by calling it")
    shapes = [tuple(t.shape) for t in inputs]
    # what Layer.__call__ checks before building
    layer._assert_input_compatibility(inputs[0] if style != "list" else list(inputs))
    if style == "single":
        layer.build(shapes[0])
    elif style == "positional":
        layer.build(*shapes)
    else:
        layer.build(shapes)
    if _overrides_output_shape(layer):
        # what Layer.compute_output_spec does, minus its per-call argument parsing
        if style == "single":
            result = layer.compute_output_shape(shapes[0])
        elif style == "positional":
            result = layer.compute_output_shape(*shapes)
        else:
            result = layer.compute_output_shape(shapes)
        if isinstance(result, list) and result and isinstance(result[0], (int, type(None))):
            result = tuple(result)
        import keras
        from keras.src import tree
        return tree.map_shape_structure(lambda s: keras.KerasTensor(s, dtype=layer.compute_dtype), result)
    if style == "single":
        return layer.compute_output_spec(inputs[0])
    if style == "positional":
        return layer.compute_output_spec(*inputs)
    return layer.compute_output_spec(list(inputs))


def _overrides_output_shape(layer) -> bool:
    """True when the layer's class computes output shapes itself (not by tracing)."""
    from keras.src.layers.layer import Layer

    cls = type(layer)
    return (getattr(cls, "compute_output_shape", None) is not Layer.compute_output_shape
            and getattr(cls, "compute_output_spec", None) is Layer.compute_output_spec)
