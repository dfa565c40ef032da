"""Pretrained backbones: keras.applications networks as blocks, with their weights.

A backbone is added as a block (the network with ``include_top=False``, a
chosen input size and pooling), optionally with its matching preprocessing
as layers in front, so that the graph shows and exports exactly what Keras's
``preprocess_input`` does. Its weights come from one of three places:

- ``random``: freshly initialised (training from scratch);
- ``imagenet``: Keras's ImageNet weights, downloaded only when the person asks,
  with progress, into Keras's own cache (``~/.keras/models``), and checked
  against the hash Keras publishes; without a network the error says so;
- a local file the person picks: an ``.h5`` weights file (Keras's own
  ImageNet files are such), a ``.weights.h5`` file, or a ``.keras`` model whose
  layers match; checked like every other file we read before Keras reads it.

Qt-free.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from studio.engine.errors import BAD_INPUT, FAILURE, StudioError


class PretrainedError(StudioError, ValueError):
    exit_code = BAD_INPUT


class DownloadError(StudioError, RuntimeError):
    exit_code = FAILURE


@dataclass(frozen=True)
class Backbone:
    name: str            # keras.applications constructor
    default_size: int
    min_size: int
    preprocess: str      # caffe | tf | torch | none (built into the network)
    about: str


BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    Backbone("VGG16", 224, 32, "caffe", "16 layers of 3×3 convolutions; the book's feature extractor"),
    Backbone("ResNet50", 224, 32, "caffe", "50 layers with residual connections"),
    Backbone("MobileNetV2", 224, 32, "tf", "small and fast: depthwise separable convolutions"),
    Backbone("EfficientNetB0", 224, 32, "none", "accurate for its size; rescales its input itself"),
    Backbone("Xception", 299, 71, "tf", "depthwise separable convolutions throughout"),
    Backbone("DenseNet121", 224, 32, "torch", "every layer fed by all before it in its block"),
    Backbone("ConvNeXtTiny", 224, 32, "none", "a modern convnet; normalises its input itself"),
)}
POOLINGS = ("avg", "max", None)

_CAFFE_MEAN = (103.939, 116.779, 123.68)          # BGR, as keras.applications.imagenet_utils
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


def preprocessing_nodes(backbone: str) -> list[tuple[str, str, dict[str, Any], list[np.ndarray] | None]]:
    """The layers that do what ``keras.applications.<family>.preprocess_input`` does, in
    order, as (class name, name, config, starting weights or None); empty when the network
    preprocesses its input itself."""
    mode = BACKBONES[backbone].preprocess
    stem = backbone.lower()
    if mode == "tf":      # [0, 255] -> [-1, 1]
        return [("Rescaling", f"{stem}_preprocess", {"scale": 1 / 127.5, "offset": -1.0}, None)]
    if mode == "torch":   # [0, 255] -> [0, 1], then each channel normalised by ImageNet's statistics
        return [("Rescaling", f"{stem}_scale", {"scale": 1 / 255.0, "offset": 0.0}, None),
                ("Normalization", f"{stem}_preprocess",
                 {"axis": -1, "mean": list(_TORCH_MEAN), "variance": [s * s for s in _TORCH_STD]}, None)]
    if mode == "caffe":   # RGB -> BGR, then ImageNet's mean subtracted: a fixed 1×1 convolution does both
        kernel = np.zeros((1, 1, 3, 3), np.float32)
        for k in range(3):
            kernel[0, 0, 2 - k, k] = 1.0
        bias = -np.asarray(_CAFFE_MEAN, np.float32)
        return [("Conv2D", f"{stem}_preprocess", {"filters": 3, "kernel_size": [1, 1], "trainable": False},
                 [kernel, bias])]
    return []


def build_backbone(name: str, size: int, pooling: str | None, weights: str | None = None):
    """The keras.applications network without its top (fresh weights unless ``weights``)."""
    import keras

    if name not in BACKBONES:
        raise PretrainedError(f"'{name}' is not one of the pretrained networks: {', '.join(BACKBONES)}")
    spec = BACKBONES[name]
    if not isinstance(size, int) or not spec.min_size <= size <= 1024:
        raise PretrainedError(f"{name} takes images from {spec.min_size} to 1024 pixels square (got {size!r})")
    if pooling not in POOLINGS:
        raise PretrainedError(f"pooling is 'avg', 'max' or none (got {pooling!r})")
    return getattr(keras.applications, name)(include_top=False, weights=weights, input_shape=(size, size, 3),
                                             pooling=pooling)


def backbone_block(model, trainable: bool) -> dict[str, Any]:
    """The block config of a built backbone (exactly its layers, laid out)."""
    from studio.engine.blocks import config_from_keras, with_trainable

    config = config_from_keras({"class_name": "Functional", "config": model.get_config()}, model.name)
    return with_trainable(config, trainable)


# -- ImageNet weights, on request ----------------------------------------------------------

@dataclass(frozen=True)
class WeightsFile:
    url: str
    file_name: str
    file_hash: str | None
    cache_subdir: str


class _Found(StudioError):
    """Keras's lookup of its weights file, stopped where it would download (never escapes)."""

    exit_code = FAILURE

    def __init__(self, found: WeightsFile):
        super().__init__(found.url)
        self.found = found


def imagenet_file(name: str, size: int, pooling: str | None) -> WeightsFile:
    """Where Keras would download this network's ImageNet weights from (nothing is downloaded:
    Keras's own lookup is run with its download replaced by a probe)."""
    from keras.src.utils import file_utils

    real = file_utils.get_file

    def probe(fname=None, origin=None, file_hash=None, cache_subdir="datasets", **_kw):
        raise _Found(WeightsFile(origin, fname or Path(origin).name, file_hash, cache_subdir))

    file_utils.get_file = probe
    try:
        build_backbone(name, size, pooling, weights="imagenet")
    except _Found as found:
        return found.found
    except ValueError as exc:  # e.g. a size Keras has no ImageNet weights for
        raise PretrainedError(f"{name}: {' '.join(str(exc).split())[:300]}") from None
    finally:
        file_utils.get_file = real
    raise PretrainedError(f"{name}: Keras found its ImageNet weights without downloading them")


def keras_cache(subdir: str) -> Path:
    base = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    return base / subdir


def _hash_ok(path: Path, expected: str | None) -> bool:
    if not expected:
        return True
    digest = hashlib.sha256() if len(expected) == 64 else hashlib.md5()  # noqa: S324 - Keras's published hashes
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == expected


def download_imagenet(name: str, size: int, pooling: str | None,
                      progress: Callable[[int, int | None], bool] | None = None) -> Path:
    """Download (once) this network's ImageNet weights into Keras's cache; returns the file.

    ``progress(done_bytes, total_bytes or None)`` is called as it goes; returning False
    cancels. Raises DownloadError with one sentence when offline or the file is wrong.
    """
    info = imagenet_file(name, size, pooling)
    target = keras_cache(info.cache_subdir) / info.file_name
    if target.is_file() and _hash_ok(target, info.file_hash):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    host = urllib.request.urlparse(info.url).netloc
    try:
        with urllib.request.urlopen(info.url, timeout=30) as response, open(part, "wb") as out:  # noqa: S310
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            while True:
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if progress is not None and progress(done, total) is False:
                    raise DownloadError(f"the download of {name}'s ImageNet weights was cancelled")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"could not download {name}'s ImageNet weights from {host} ({reason}); check the "
                            "network connection, or pick a weights file you already have") from None
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    if not _hash_ok(part, info.file_hash):
        part.unlink(missing_ok=True)
        raise DownloadError(f"the file downloaded for {name}'s ImageNet weights is not the one Keras publishes "
                            "(its hash differs); nothing was kept — try again")
    os.replace(part, target)
    return target


# -- weights from a file the person picks ---------------------------------------------------

def load_weights_file(model, path: str | Path) -> None:
    """Give ``model`` the weights in ``path`` (.h5, .weights.h5 or .keras); the file is checked
    before Keras reads it, and weights that do not fit are refused with the reason."""
    from studio.engine.importer import ImportRefused, check_weights_h5, graph_from_keras_file, _regular_file

    path = Path(path)
    try:
        size = _regular_file(path)
    except ImportRefused as exc:
        raise PretrainedError(str(exc)) from None
    name = path.name.lower()
    if name.endswith(".keras"):
        try:
            _graph, weights = graph_from_keras_file(path)
        except ImportRefused as exc:
            raise PretrainedError(str(exc)) from None
        arrays = [w for layer in model.layers for w in weights.get(layer.name, [])] if weights else []
        if not arrays:  # a .keras file holding the backbone as a block: its weights in one list
            arrays = next((w for w in weights.values() if len(w) == len(model.weights)), [])
        try:
            model.set_weights(arrays)
        except ValueError as exc:
            raise PretrainedError(f"{path.name}: its weights do not fit {model.name} "
                                  f"({' '.join(str(exc).split())[:200]})") from None
        return
    if not name.endswith(".h5"):
        raise PretrainedError(f"{path.name}: pick a weights file (.h5 or .weights.h5) or a .keras model")
    try:
        with open(path, "rb") as f:
            check_weights_h5(f, size, path.name)
    except ImportRefused as exc:
        raise PretrainedError(str(exc)) from None
    try:
        model.load_weights(str(path))
    except Exception as exc:  # noqa: BLE001 - Keras says what does not match; we say it in one line
        raise PretrainedError(f"{path.name}: its weights do not fit {model.name} "
                              f"({' '.join(str(exc).split())[:200]})") from None


def make_backbone(name: str, size: int, pooling: str | None, source: str = "random",
                  path: str | Path | None = None, trainable: bool | None = None,
                  progress: Callable[[int, int | None], bool] | None = None):
    """(block config, block name, the block's weights) for a backbone with weights from
    ``source``: 'random', 'imagenet' (downloads if needed) or 'file' (``path``).
    ``trainable`` defaults to frozen for pretrained weights (feature extraction) and
    trainable for random ones."""
    if source == "imagenet":
        model = build_backbone(name, size, pooling, weights=str(download_imagenet(name, size, pooling, progress)))
    else:
        model = build_backbone(name, size, pooling)
        if source == "file":
            if path is None:
                raise PretrainedError("pick the weights file to load")
            load_weights_file(model, path)
        elif source != "random":
            raise PretrainedError(f"weights come from 'random', 'imagenet' or 'file', not {source!r}")
    if trainable is None:
        trainable = source == "random"
    return backbone_block(model, trainable), model.name, [np.asarray(w) for w in model.get_weights()]


def add_to_graph(graph, backbone: str, config: dict[str, Any], block_name: str, weights: list[np.ndarray],
                 position: tuple[float, float] = (0.0, 0.0), preprocess: bool = True) -> dict[str, list]:
    """Add the backbone block (and its preprocessing in front, wired to it) to ``graph``;
    returns the starting weights by node id (the block's, and a fixed preprocessing's)."""
    from studio.engine.blocks import BLOCK

    x, y = position
    added: dict[str, list] = {}
    prev = None
    for k, (class_name, name, layer_config, arrays) in enumerate(preprocessing_nodes(backbone) if preprocess else []):
        node = graph.add_node(class_name, layer_config, name=graph.unique_name(name), position=(x, y + 110 * k))
        if prev is not None:
            graph.connect(prev.id, node.id)
        if arrays is not None:
            added[node.id] = arrays
        prev = node
    shift = 110 * len(added) if prev is None else 110 * (len(preprocessing_nodes(backbone)))
    block = graph.add_node(BLOCK, config, name=graph.unique_name(block_name), position=(x, y + shift))
    if prev is not None:
        graph.connect(prev.id, block.id)
    added[block.id] = weights
    return added
