"""Datasets: the bundled digit sample, downloads a person asks for, local files.

Every loader returns a :class:`Dataset` (train and held-out arrays plus a
description) or raises :class:`DatasetError` naming the file, row or field at
fault. Nothing here executes anything from a file: ``.npz`` files are read
with ``allow_pickle=False``, IDX and CSV are parsed as numbers only.
"""

from __future__ import annotations

import csv
import gzip
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets"
SAMPLE_DIR = ASSETS / "mnist-sample"
SPLIT_SEED = 1234          # the bundled sample's train / held-out split
SAMPLE_HELD_OUT = 2000     # of its 10,000 digits
DOWNLOADS = {"mnist": "MNIST (70,000 digits)", "fashion_mnist": "Fashion-MNIST (70,000 clothing images)"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


class DatasetError(ValueError):
    """A dataset that cannot be used; the message names the file and the fault."""


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def num_classes(self) -> int:
        if self.class_names:
            return len(self.class_names)
        y = np.concatenate([self.y_train.reshape(len(self.y_train), -1), self.y_test.reshape(len(self.y_test), -1)])
        if y.shape[1] > 1:
            return int(y.shape[1])
        return int(y.max()) + 1 if y.size else 0

    @property
    def sample_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    def class_counts(self) -> dict[int, int]:
        y = self.y_train if self.y_train.ndim == 1 else self.y_train.argmax(axis=1)
        values, counts = np.unique(y, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "train": int(len(self.x_train)), "held_out": int(len(self.x_test)),
                "x_shape": list(self.sample_shape), "x_dtype": str(self.x_train.dtype),
                "y_dtype": str(self.y_train.dtype), "classes": self.num_classes, "source": self.source}


# -- preprocessing ---------------------------------------------------------------

@dataclass
class Preprocess:
    """How arrays are prepared for the model (the dataset panel's choices)."""

    scale: bool = True            # uint8 0..255 -> float32 0..1
    layout: str = "keep"          # keep | flatten
    channel_axis: bool = True     # add a trailing channel axis to 2-D images
    labels: str = "integer"       # integer | onehot

    @classmethod
    def from_dict(cls, d: dict | None) -> "Preprocess":
        d = d or {}
        return cls(scale=bool(d.get("scale", True)), layout=str(d.get("layout", "keep")),
                   channel_axis=bool(d.get("channel_axis", True)), labels=str(d.get("labels", "integer")))

    def to_dict(self) -> dict:
        return {"scale": self.scale, "layout": self.layout, "channel_axis": self.channel_axis, "labels": self.labels}

    def x(self, x: np.ndarray) -> np.ndarray:
        if self.scale and x.dtype == np.uint8:
            x = x.astype("float32") / 255.0
        elif x.dtype != np.float32 and np.issubdtype(x.dtype, np.number):
            x = x.astype("float32")
        if self.layout == "flatten":
            return x.reshape(len(x), -1)
        if self.channel_axis and x.ndim == 3:
            x = x[..., None]
        return x

    def y(self, y: np.ndarray, num_classes: int) -> np.ndarray:
        y = np.asarray(y)
        if self.labels == "onehot" and y.ndim == 1:
            out = np.zeros((len(y), num_classes), dtype="float32")
            out[np.arange(len(y)), y.astype(int)] = 1.0
            return out
        return y.astype("int64") if y.ndim == 1 else y

    def apply(self, ds: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = ds.num_classes
        return self.x(ds.x_train), self.y(ds.y_train, n), self.x(ds.x_test), self.y(ds.y_test, n)

    def input_shape(self, ds: Dataset) -> list[int]:
        return list(self.x(ds.x_train[:1]).shape[1:])


# -- IDX ------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or raw), checking its magic number and sizes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DatasetError(f"{path}: the gzip data is damaged ({exc})") from None
    if len(raw) < 4:
        raise DatasetError(f"{path}: too short to be an IDX file")
    zero, dtype_code, ndim = raw[0] << 8 | raw[1], raw[2], raw[3]
    if zero != 0 or dtype_code not in _IDX_TYPES or not 1 <= ndim <= 4:
        magic = int.from_bytes(raw[:4], "big")
        raise DatasetError(f"{path}: wrong magic number 0x{magic:08x}; an IDX file starts with 0x000008NN "
                           "(0x00000803 for images, 0x00000801 for labels)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: the header is cut off")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[dtype_code])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(f"{path}: the header promises {' × '.join(map(str, dims))} values "
                           f"({expected:,} bytes) but the file holds {len(raw) - header:,} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _split(x: np.ndarray, y: np.ndarray, held_out: int, seed: int):
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:held_out], order[held_out:]
    return x[train], y[train], x[test], y[test]


def bundled_sample() -> Dataset:
    """The 10,000 MNIST test digits shipped in assets/, split 8,000 / 2,000 with seed 1234."""
    x = load_idx(SAMPLE_DIR / "t10k-images-idx3-ubyte.gz")
    y = load_idx(SAMPLE_DIR / "t10k-labels-idx1-ubyte.gz")
    if len(x) != len(y):
        raise DatasetError(f"{SAMPLE_DIR}: {len(x)} images but {len(y)} labels")
    x_train, y_train, x_test, y_test = _split(x, y, SAMPLE_HELD_OUT, SPLIT_SEED)
    return Dataset("mnist-sample", x_train, y_train, x_test, y_test, [str(d) for d in range(10)],
                   "bundled MNIST sample (CC BY-SA 3.0, LeCun, Cortes, Burges)")


def load_idx_pair(images: str | Path, labels: str | Path, held_out: float = 0.2) -> Dataset:
    x, y = load_idx(images), load_idx(labels)
    if y.ndim != 1:
        raise DatasetError(f"{labels}: labels must be one number per sample, got shape {y.shape}")
    if len(x) != len(y):
        raise DatasetError(f"{images} has {len(x)} samples but {labels} has {len(y)} labels")
    n_test = max(1, int(len(x) * held_out))
    return Dataset(Path(images).name, *_split(x, y, n_test, SPLIT_SEED), source=f"IDX files {images}, {labels}")


# -- NPZ ------------------------------------------------------------------------

def load_npz(path: str | Path) -> Dataset:
    """A ``.npz`` in Keras's layout: x_train, y_train, x_test, y_test (no pickles)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise DatasetError(f"{path}: missing array{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                   f"(found: {', '.join(f.files) or 'none'})")
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except DatasetError:
        raise
    except ValueError as exc:
        raise DatasetError(f"{path}: holds Python objects, which are not loaded ({exc})") from None
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable .npz file ({exc})") from None
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if len(x) != len(y):
            raise DatasetError(f"{path}: x_{part} has {len(x)} samples but y_{part} has {len(y)}")
        if not np.issubdtype(x.dtype, np.number) or not np.issubdtype(y.dtype, np.number):
            raise DatasetError(f"{path}: x_{part} and y_{part} must be numeric arrays")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DatasetError(f"{path}: x_train samples are {arrays['x_train'].shape[1:]} but x_test samples are "
                           f"{arrays['x_test'].shape[1:]}")
    return Dataset(path.stem, arrays["x_train"], _labels(arrays["y_train"]), arrays["x_test"],
                   _labels(arrays["y_test"]), source=f"NumPy file {path}")


def _labels(y: np.ndarray) -> np.ndarray:
    """(n, 1) label columns become (n,)."""
    return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y


# -- CSV ------------------------------------------------------------------------

def load_csv(path: str | Path, label_column: str | int | None = None, held_out: float = 0.2,
             image_shape: tuple | None = None) -> Dataset:
    """A CSV with a header row: a label column (named 'label' or given) plus numeric feature columns."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc})") from None
    if len(rows) < 2:
        raise DatasetError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if label_column is None:
        label_column = "label" if "label" in header else 0
    if isinstance(label_column, str):
        if label_column not in header:
            raise DatasetError(f"{path}: no column named '{label_column}' (columns: {', '.join(header[:8])}…)")
        label_index = header.index(label_column)
    else:
        label_index = int(label_column)
    width = len(header)
    labels, features = [], []
    for n, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != width:
            raise DatasetError(f"{path}, row {n}: {len(row)} fields but the header has {width}")
        values = []
        for k, cell in enumerate(row):
            try:
                values.append(float(cell))
            except ValueError:
                raise DatasetError(f"{path}, row {n}, column '{header[k]}': '{cell}' is not a number") from None
        labels.append(values[label_index])
        features.append(values[:label_index] + values[label_index + 1:])
    x = np.asarray(features, dtype="float32")
    y = np.asarray(labels)
    if np.all(y == np.round(y)):
        y = y.astype("int64")
    if image_shape is not None:
        x = x.reshape((len(x),) + tuple(image_shape))
    n_test = max(1, int(len(x) * held_out))
    return Dataset(path.stem, *_split(x, y, n_test, SPLIT_SEED), source=f"CSV file {path}")


# -- image folders ----------------------------------------------------------------

def load_image_folder(path: str | Path, image_size: tuple[int, int] = (64, 64), held_out: float = 0.2,
                      grayscale: bool = False) -> Dataset:
    """A folder with one sub-folder per class, each holding images."""
    import tensorflow as tf

    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: not a folder")
    classes = sorted(p.name for p in path.iterdir() if p.is_dir())
    if not classes:
        raise DatasetError(f"{path}: no class sub-folders (put each class's images in a folder of its own)")
    xs, ys = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (path / name).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        for file in files:
            try:
                img = tf.io.decode_image(file.read_bytes(), channels=1 if grayscale else 3, expand_animations=False)
            except Exception:
                raise DatasetError(f"{file}: not a readable image") from None
            img = tf.image.resize(img, image_size, method="bilinear")
            xs.append(np.clip(np.round(img.numpy()), 0, 255).astype("uint8"))
            ys.append(label)
    if not xs:
        raise DatasetError(f"{path}: the class folders hold no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    x, y = np.stack(xs), np.asarray(ys, dtype="int64")
    n_test = max(1, int(len(x) * held_out))
    return Dataset(path.name, *_split(x, y, n_test, SPLIT_SEED), class_names=classes, source=f"image folder {path}")


# -- downloads --------------------------------------------------------------------

def _check_online(host: str = "storage.googleapis.com", port: int = 443, timeout: float = 3.0) -> None:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        raise DatasetError("no network connection: the download cannot start. The bundled MNIST sample "
                           "(10,000 digits) works offline — choose 'mnist-sample'.") from None


def download(name: str) -> Dataset:
    """Full MNIST or Fashion-MNIST through keras.datasets (only when a person asks)."""
    if name not in DOWNLOADS:
        raise DatasetError(f"unknown download '{name}'; choose one of: {', '.join(DOWNLOADS)}")
    _check_online()
    import keras
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as exc:
        raise DatasetError(f"the {DOWNLOADS[name]} download failed: {exc}. The bundled sample works offline.") from None
    names = [str(d) for d in range(10)] if name == "mnist" else [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    return Dataset(name, x_train, y_train, x_test, y_test, names, f"keras.datasets.{name}")


# -- resolving a project's dataset reference ----------------------------------------

def load(spec: dict | str | None, base_dir: Path | None = None) -> Dataset:
    """Load what a project's ``dataset`` field (or a command-line argument) names."""
    if spec is None:
        raise DatasetError("the project has no dataset: choose one in the dataset panel (or --dataset)")
    if isinstance(spec, str):
        if spec in ("mnist-sample", "sample"):
            return bundled_sample()
        if spec in DOWNLOADS:
            return download(spec)
        spec = {"kind": "file", "path": spec}
    kind = spec.get("kind")
    if kind == "builtin":
        if spec.get("name") != "mnist-sample":
            raise DatasetError(f"unknown built-in dataset '{spec.get('name')}'")
        return bundled_sample()
    if kind == "download":
        return download(str(spec.get("name")))
    if kind == "file":
        path = Path(str(spec.get("path", "")))
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.exists():
            raise DatasetError(f"{path}: no such file or folder")
        if path.is_dir():
            size = spec.get("image_size") or [64, 64]
            return load_image_folder(path, tuple(size), grayscale=bool(spec.get("grayscale")))
        suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
        if suffix == ".npz":
            return load_npz(path)
        if suffix == ".csv":
            return load_csv(path, spec.get("label_column"), image_shape=spec.get("image_shape"))
        if "idx" in path.name or suffix in (".gz", ".idx"):
            labels = spec.get("labels_path")
            if not labels:
                raise DatasetError(f"{path}: an IDX images file needs its labels file too")
            return load_idx_pair(path, base_dir / labels if base_dir and not Path(labels).is_absolute() else labels)
        raise DatasetError(f"{path}: unsupported file type '{suffix}' (use .npz, .csv, IDX files or an image folder)")
    raise DatasetError(f"dataset reference {spec!r} is not understood")
