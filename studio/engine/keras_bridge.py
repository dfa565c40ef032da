"""Turning a node into a real Keras layer, safely.

Everything here imports Keras lazily so the rest of the engine loads fast.
Configs are checked before Keras sees them: nested objects may only name
classes from Keras's own modules, and deserialization runs in safe mode, so
nothing in a project file can make Keras run code.
"""

from __future__ import annotations

import copy
import inspect
import threading
from typing import Any

from studio.engine import catalog

_FORBIDDEN_CLASS_NAMES = {"Lambda", "__lambda__", "function", "__numpy__", "TFOpLambda"}


class UnsafeConfigError(ValueError):
    """A config that would make Keras import or run something it should not."""


def check_config_safe(value: Any, where: str = "config") -> None:
    """Refuse nested objects outside Keras's own modules, lambdas and functions."""
    if isinstance(value, dict):
        module = value.get("module")
        if module is not None and (not isinstance(module, str)
                                   or not (module == "keras" or module.startswith("keras."))):
            raise UnsafeConfigError(f"{where} refers to module '{module}', which is not part of Keras")
        class_name = value.get("class_name")
        if class_name in _FORBIDDEN_CLASS_NAMES:
            raise UnsafeConfigError(f"{where} contains a '{class_name}' object, which would run code")
        if value.get("registered_name") not in (None, class_name) and module is not None:
            raise UnsafeConfigError(f"{where} names a custom registered object '{value.get('registered_name')}'")
        for k, v in value.items():
            check_config_safe(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for k, v in enumerate(value):
            check_config_safe(v, f"{where}[{k}]")


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
    """The full dict to hand to ``cls.from_config`` for a node."""
    check_config_safe(config, f"layer '{name}'")
    cfg = copy.deepcopy(config)
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


def make_layer(class_name: str, name: str, config: dict[str, Any]):
    """Instantiate the Keras layer for a node, in Keras's safe mode."""
    from keras.src.saving import serialization_lib

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


def call_layer(layer, class_name: str, inputs: list):
    """Call a layer on its input tensors the way the catalog says it is called."""
    style = catalog.spec(class_name).call_style
    if style == "single":
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
