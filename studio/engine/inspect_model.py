"""Look inside a trained model: layer outputs, Grad-CAM, filter patterns, weight histograms.

The methods are those of "Deep Learning with Python" (chapter 9, interpreting
what convnets learn):

- the output of any layer for one example, from a ``keras.Model`` that runs
  the compiled model from its input to that layer;
- Grad-CAM (Selvaraju et al.): the class score's gradient with respect to a
  convolution layer's feature maps, averaged over height and width, weighs
  the maps; ``relu`` of the weighted sum, enlarged to the input's size and
  scaled to 0..1, shows where the evidence for the class lies. The score is
  taken before the final softmax or sigmoid, where the model has one, so a
  confident prediction still has gradients;
- filter patterns: gradient ascent on the input to maximise the mean
  activation of one filter, as a generator that reports every step so a view
  can run it in the background and stop it;
- histograms of each weight array of a layer.

Qt-free; Keras and TensorFlow are imported when first used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from studio.engine import digits
from studio.engine.errors import BAD_INPUT, StudioError

CONV_CLASSES = ("Conv1D", "Conv2D", "Conv3D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")


class InspectError(StudioError, ValueError):
    """A request the model cannot answer (a layer that is not a feature map, a class out of range)."""

    exit_code = BAD_INPUT


def build_model(project):
    """The project's model with the project's weights (layers named as the graph's nodes)."""
    from studio.engine.compiler import compile_graph
    return compile_graph(project.graph, project.weights or None)


def _shape(tensor) -> tuple:
    return tuple(tensor.shape)


def image_shape(model, sample_shape: tuple | None = None) -> tuple | None:
    """The shape of one raw image ((H, W) or (H, W, C)) the model classifies, or None
    when it is not a one-input, one-output image classifier. ``sample_shape`` is the
    dataset's sample shape, which tells the image's size when the model takes it flattened."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return None
    out = _shape(model.outputs[0])
    if len(out) != 2 or not out[1] or out[1] < 2:
        return None
    inp = _shape(model.inputs[0])[1:]
    if sample_shape is not None and len(sample_shape) in (2, 3) and \
            int(np.prod(sample_shape)) == int(np.prod([d or 0 for d in inp])):
        shape = tuple(int(d) for d in sample_shape)
    else:
        shape = tuple(int(d) if d else 0 for d in inp)
    if len(shape) == 3 and shape[2] not in (1, 3, 4):
        return None
    if len(shape) not in (2, 3) or min(shape[:2]) < 4:
        return None
    return shape


def model_input(model, preprocess, raw: np.ndarray) -> np.ndarray:
    """One raw sample (as the dataset stores it, or as the pad makes it) -> a batch of one
    for the model, through the project's preprocessing."""
    x = preprocess.x(np.asarray(raw)[None])
    want = _shape(model.inputs[0])[1:]
    if x.shape[1:] != want and int(np.prod(x.shape[1:])) == int(np.prod([d or 0 for d in want])):
        x = x.reshape((1,) + tuple(int(d) for d in want))
    return np.asarray(x, dtype="float32")


def value_range(preprocess) -> tuple[float, float]:
    """The range of the model's input values: 0..255 when the data stays unscaled."""
    return (0.0, 1.0) if preprocess.scale else (0.0, 255.0)


class ModelInspector:
    """Questions about one built model; sub-models are made once per layer and kept."""

    def __init__(self, model):
        self.model = model
        self._outputs: dict[str, object] = {}
        self._cam: dict[str, object] = {}
        self._head = None

    # -- layers -------------------------------------------------------------------------
    def layer(self, name: str):
        try:
            return self.model.get_layer(name)
        except ValueError:
            for op in self.model.operations:   # an operation node (x + 3.0) is not among the layers
                if op.name == name:
                    return op
            raise InspectError(f"the model has no layer '{name}' (it is not part of the model)") from None

    def output_shape(self, name: str) -> tuple:
        return _shape(self._output_tensor(self.layer(name)))

    def _inputs(self):
        inputs = self.model.inputs
        return inputs[0] if len(inputs) == 1 else inputs

    def _output_tensor(self, layer):
        out = layer.output
        return out[0] if isinstance(out, (list, tuple)) else out

    def feature_layers(self) -> list[str]:
        """Layers whose output is a stack of 2-D feature maps (batch, H, W, channels), in model order."""
        return [layer.name for layer in self.model.layers
                if len(_shape(self._output_tensor(layer))) == 4 and layer.__class__.__name__ != "InputLayer"]

    def conv_layers(self) -> list[str]:
        """Convolution layers with 2-D feature maps: Grad-CAM and filter pattern candidates."""
        maps = set(self.feature_layers())
        return [layer.name for layer in self.model.layers
                if layer.__class__.__name__ in CONV_CLASSES and layer.name in maps]

    def last_conv_layer(self) -> str:
        convs = self.conv_layers() or self.feature_layers()
        if not convs:
            raise InspectError("the model has no convolution layer with 2-D feature maps")
        return convs[-1]

    # -- (a) activations ----------------------------------------------------------------------
    def output_of(self, name: str, x: np.ndarray) -> np.ndarray:
        """The layer's output for a batch ``x`` (its first output where it has several)."""
        import keras
        layer = self.layer(name)
        if name not in self._outputs:
            self._outputs[name] = keras.Model(self._inputs(), self._output_tensor(layer))
        return np.asarray(self._outputs[name](x, training=False))

    def predict(self, x: np.ndarray) -> np.ndarray:
        out = self.model(x, training=False)
        return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)

    # -- (b) Grad-CAM -----------------------------------------------------------------------
    def _score_head(self):
        """(tensor, function): where the class scores are read before the final softmax/sigmoid."""
        if self._head is None:
            out = self.model.outputs[0]
            layer = out._keras_history.operation
            name = layer.__class__.__name__
            activation = getattr(layer, "activation", None)
            act_name = getattr(activation, "__name__", "") if activation is not None else ""
            if name in ("Softmax",) or (name == "Activation" and act_name in ("softmax", "sigmoid")):
                self._head = (layer.input, lambda t: t)
            elif act_name in ("softmax", "sigmoid") and _without_activation(layer) is not None:
                self._head = (layer.input, _without_activation(layer))
            else:
                self._head = (out, lambda t: t)
        return self._head

    def grad_cam(self, x: np.ndarray, class_index: int | None = None, layer_name: str | None = None) -> "GradCam":
        """Grad-CAM of one example for ``class_index`` (the predicted class when None)
        from ``layer_name`` (the last convolution layer when None)."""
        import keras
        import tensorflow as tf
        layer_name = layer_name or self.last_conv_layer()
        layer = self.layer(layer_name)
        if len(self.output_shape(layer_name)) != 4:
            raise InspectError(f"'{layer_name}' does not output 2-D feature maps; choose a convolution layer")
        head_tensor, head = self._score_head()
        if layer_name not in self._cam:
            self._cam[layer_name] = keras.Model(self._inputs(), [self._output_tensor(layer), head_tensor])
        grad_model = self._cam[layer_name]
        x = tf.convert_to_tensor(np.asarray(x, dtype="float32")[:1])
        probabilities = self.predict(x.numpy())[0]
        predicted = int(np.argmax(probabilities))
        chosen = predicted if class_index is None else int(class_index)
        if not 0 <= chosen < probabilities.shape[-1]:
            raise InspectError(f"class {chosen} is out of range: the model has {probabilities.shape[-1]} classes")
        with tf.GradientTape() as tape:
            maps, head_in = grad_model(x, training=False)
            scores = head(head_in)
            score = scores[:, chosen]
        grads = tape.gradient(score, maps)
        maps, grads = np.asarray(maps)[0], np.asarray(grads)[0]
        cam = cam_from(maps, grads)
        size = _shape(self.model.inputs[0])[1:3]
        return GradCam(layer_name, chosen, predicted, probabilities, cam, upsample(cam, size))

    # -- (c) filter patterns --------------------------------------------------------------------
    def filter_patterns(self, layer_name: str, count: int = 8, steps: int = 30,
                        value_range: tuple[float, float] = (0.0, 1.0), seed: int = 0,
                        learning_rate: float | None = None) -> Iterator["PatternProgress"]:
        """For each of the first ``count`` filters of ``layer_name``: the input that maximises
        the filter's mean activation, by ``steps`` steps of gradient ascent from a grey image
        with a little noise (the book's method; the input is kept in ``value_range``).

        A generator: yields after every step, with the finished pattern after each filter's
        last step. Closing it stops the work.
        """
        import keras
        import tensorflow as tf
        layer = self.layer(layer_name)
        shape = self.output_shape(layer_name)
        if len(shape) != 4:
            raise InspectError(f"'{layer_name}' does not output 2-D feature maps; choose a convolution layer")
        count = max(0, min(int(count), int(shape[-1])))
        # the filter's response before its activation: a relu that is off at the grey start
        # would give no gradient at all (the book's Xception layers have no activation of their own)
        twin = _without_activation(layer)
        if twin is not None:
            extractor = keras.Model(self._inputs(), layer.input)
        else:
            extractor = keras.Model(self._inputs(), self._output_tensor(layer))
        in_shape = (1,) + tuple(int(d) for d in _shape(self.model.inputs[0])[1:])
        lo, hi = float(value_range[0]), float(value_range[1])
        span = hi - lo
        # the book steps 10 per l2-normalised gradient on 200x200x3 inputs in -1..1: about 1.4 %
        # of the range per value per step; the same here whatever the input's size and range
        lr = learning_rate if learning_rate is not None else 0.015 * span * float(np.sqrt(np.prod(in_shape)))
        border = 2 if min(shape[1], shape[2]) > 8 else 0   # the book leaves out border effects

        def mean_activation(image, index):
            act = extractor(image, training=False)
            if twin is not None:
                act = twin(act)
            if border:
                act = act[:, border:-border, border:-border, :]
            return tf.reduce_mean(tf.gather(act, index, axis=-1))

        @tf.function
        def step(image, index):
            with tf.GradientTape() as tape:
                tape.watch(image)
                loss = mean_activation(image, index)
            grads = tf.math.l2_normalize(tape.gradient(loss, image))
            return tf.clip_by_value(image + lr * grads, lo, hi), loss

        rng = np.random.default_rng(seed)
        total = count * steps
        for index in range(count):
            start = lo + span * rng.uniform(0.4, 0.6, size=in_shape).astype("float32")
            image = tf.convert_to_tensor(start)
            idx = tf.constant(index)
            first = float(mean_activation(image, idx))
            for k in range(steps):
                image, _ = step(image, idx)
                done = index * steps + k + 1
                if k + 1 < steps:
                    yield PatternProgress(index, done, total)
            final = float(mean_activation(image, idx))
            yield PatternProgress(index, index * steps + steps, total, np.asarray(image)[0], first, final)


def _without_activation(layer):
    """A copy of ``layer`` (same weights) whose activation is linear, or None when the layer
    has no activation of its own or cannot be copied."""
    activation = getattr(layer, "activation", None)
    if activation is None or getattr(activation, "__name__", "") == "linear" or len(layer._inbound_nodes) != 1:
        return None
    try:
        config = dict(layer.get_config(), activation="linear")
        twin = layer.__class__.from_config(config)
        twin.build(_shape(layer.input))
        twin.set_weights(layer.get_weights())
    except Exception:  # noqa: BLE001 - a layer that cannot be rebuilt: use its output as it is
        return None
    return twin


@dataclass
class GradCam:
    layer: str
    class_index: int
    predicted: int
    probabilities: np.ndarray
    cam: np.ndarray          # (h, w) at the layer's resolution, 0..1
    heatmap: np.ndarray      # (H, W) at the input's resolution, 0..1


@dataclass
class PatternProgress:
    filter_index: int
    done: int                # steps done over all filters
    total: int
    pattern: np.ndarray | None = None     # the input found, after the filter's last step
    activation_start: float = 0.0
    activation_end: float = 0.0


def cam_from(maps: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Grad-CAM at the layer's resolution from (h, w, k) maps and the score's gradients, 0..1."""
    weights = grads.mean(axis=(0, 1))
    cam = np.maximum((maps * weights).sum(axis=-1), 0.0)
    peak = cam.max()
    return cam / peak if peak > 0 else np.zeros_like(cam)


def upsample(cam: np.ndarray, size) -> np.ndarray:
    """A heat map enlarged (bilinear) to the input's (H, W), kept in 0..1."""
    h, w = int(size[0]), int(size[1])
    return np.clip(digits.resize(cam, h, w), 0.0, 1.0)


def pattern_image(pattern: np.ndarray) -> np.ndarray:
    """A filter pattern for display, as the book does: centred, scaled to a standard
    deviation of 64 around grey 128, clipped to uint8, and an eighth of each side cropped
    (the book's 25 of 200 pixels), where the border's starting noise is left."""
    p = np.asarray(pattern, dtype=np.float64)
    h, w = p.shape[0] // 8, p.shape[1] // 8
    if p.ndim >= 2 and min(p.shape[0], p.shape[1]) >= 16:
        p = p[h:p.shape[0] - h, w:p.shape[1] - w]
    p = p - p.mean()
    p = p / (p.std() + 1e-5)
    return np.clip(p * 64 + 128, 0, 255).astype(np.uint8)


# -- (d) weight histograms ---------------------------------------------------------------

@dataclass
class Histogram:
    name: str                 # kernel, bias, gamma...
    shape: tuple
    counts: np.ndarray
    edges: np.ndarray
    stats: dict = field(default_factory=dict)


def histograms(layer_or_arrays, bins: int = 40, names: list[str] | None = None) -> list[Histogram]:
    """One histogram per weight array of a layer (a Keras layer, or its arrays with ``names``)."""
    if hasattr(layer_or_arrays, "weights"):
        names = [w.name.split("/")[-1].split(":")[0] for w in layer_or_arrays.weights]
        arrays = [np.asarray(a) for a in layer_or_arrays.get_weights()]
    else:
        arrays = [np.asarray(a) for a in layer_or_arrays]
        names = names or [f"weights {k}" for k in range(len(arrays))]
    out = []
    for name, a in zip(names, arrays):
        flat = a.astype(np.float64).ravel()
        flat = flat[np.isfinite(flat)]
        counts, edges = np.histogram(flat, bins=bins) if flat.size else (np.zeros(bins, int), np.linspace(0, 1, bins + 1))
        stats = {"mean": float(flat.mean()), "std": float(flat.std()), "min": float(flat.min()),
                 "max": float(flat.max())} if flat.size else {}
        out.append(Histogram(name, tuple(a.shape), counts, edges, stats))
    return out
