"""Datasets: the bundled digit sample, downloads a person asks for, local files.

Every loader returns a :class:`Dataset` (train and held-out arrays plus a
description) or raises :class:`DatasetError` naming the file, row or field at
fault. Nothing here executes anything from a file: ``.npz`` arrays are read
from their headers (never pickles), IDX and CSV are parsed as numbers only.

Work is bounded by the file, not by what it claims: only regular files are
read (never devices, FIFOs or sockets), and the sizes that ``.npz`` members,
IDX headers and image headers declare are checked against the file's real
size and :data:`MAX_DATA_BYTES` before anything is allocated. Labels are
class numbers 0, 1, 2, … (or one-hot rows); the first bad one is named with
its row.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import socket
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.engine.errors import BAD_INPUT, StudioError, size_text as _size_text

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets"
SAMPLE_DIR = ASSETS / "mnist-sample"
SPLIT_SEED = 1234          # the bundled sample's train / held-out split
SAMPLE_HELD_OUT = 2000     # of its 10,000 digits
DOWNLOADS = {"mnist": "MNIST (70,000 digits)", "fashion_mnist": "Fashion-MNIST (70,000 clothing images)"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


class DatasetError(StudioError, ValueError):
    """A dataset that cannot be used; the message names the file and the fault."""

    exit_code = BAD_INPUT


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    source: str = ""
    notes: list[str] = field(default_factory=list)   # what a person should know (nested images, one class)

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
        if not isinstance(d, dict):
            raise DatasetError(f"dataset.preprocess should be an object, not {d!r:.60}")
        for key in ("scale", "channel_axis"):   # strict: bool("false") is True
            if key in d and not isinstance(d[key], bool):
                raise DatasetError(f"dataset.preprocess.{key} should be true or false, not {d[key]!r:.40}")
        for key, choices in (("layout", ("keep", "flatten")), ("labels", ("integer", "onehot"))):
            if key in d and d[key] not in choices:
                raise DatasetError(f"dataset.preprocess.{key} should be {' or '.join(map(repr, choices))}, "
                                   f"not {d[key]!r:.40}")
        return cls(scale=d.get("scale", True), layout=d.get("layout", "keep"),
                   channel_axis=d.get("channel_axis", True), labels=d.get("labels", "integer"))

    def to_dict(self) -> dict:
        return {"scale": self.scale, "layout": self.layout, "channel_axis": self.channel_axis, "labels": self.labels}

    def scales(self, x_train: np.ndarray) -> bool:
        """Whether pixel values are divided by 255: decided once, from the training data's type,
        and applied to every split alike."""
        return bool(self.scale and x_train.dtype == np.uint8)

    def x(self, x: np.ndarray, scale: bool | None = None) -> np.ndarray:
        """Samples as the model sees them; ``scale`` (the training data's decision, see
        :meth:`scales`) defaults to what ``x``'s own type says."""
        if scale is None:
            scale = self.scales(x)
        if scale:
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
        scale = self.scales(ds.x_train)
        return (self.x(ds.x_train, scale), self.y(ds.y_train, n), self.x(ds.x_test, scale),
                self.y(ds.y_test, n))

    def input_shape(self, ds: Dataset) -> list[int]:
        return list(self.x(ds.x_train[:1]).shape[1:])


# -- limits and safe opening --------------------------------------------------------

GiB = 1024 ** 3
MB = 1024 ** 2
# The most memory one loaded dataset's arrays may take (a stated limit, checked
# from file headers before anything is allocated); LAYER_STUDIO_MAX_DATA_BYTES
# changes it.
MAX_DATA_BYTES = int(os.environ.get("LAYER_STUDIO_MAX_DATA_BYTES", 4 * GiB))
# Compressed data that unpacks to more than this many times its stored size
# (and to more than SMALL_BYTES) is refused as a decompression bomb; real data
# sets compress 2-20 times.
MAX_EXPANSION = 200
SMALL_BYTES = 64 * MB
MAX_CSV_BYTES = 1 * GiB             # parsed into at most 2 GiB of float32 (see load_csv)
MAX_CSV_COLUMNS = 1_000_000          # checked from the header's bytes before any row is parsed
MAX_IMAGE_BYTES = 64 * MB           # one image file
MAX_IMAGE_PIXELS = 50_000_000       # width × height declared in an image's header
MAX_IMAGE_SIDE = 4096               # image_size a folder's images are resized to
MAX_CLASSES = 65_536


def _check_declared(path, what: str, declared: int, stored: int | None = None) -> None:
    """Refuse ``declared`` bytes of array data over the limit, or too many for ``stored`` compressed bytes."""
    if declared > MAX_DATA_BYTES:
        raise DatasetError(f"{path}: {what} declares {_size_text(declared)} of data, more than the limit of "
                           f"{_size_text(MAX_DATA_BYTES)} (set LAYER_STUDIO_MAX_DATA_BYTES to change it)")
    if stored is not None and declared > SMALL_BYTES and declared > MAX_EXPANSION * max(stored, 1):
        raise DatasetError(f"{path}: {what} declares {_size_text(declared)} of data stored in only "
                           f"{_size_text(stored)}; a file that expands {declared // max(stored, 1):,} times is "
                           "refused as a decompression bomb")


def _open_regular(path: Path):
    """Open ``path`` for reading if it is a regular file; devices, FIFOs, sockets and folders are refused."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    _require_regular(path, st.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    f = os.fdopen(fd, "rb")
    _require_regular(path, os.fstat(fd).st_mode, f)  # the file opened is the file checked
    return f


def _require_regular(path, mode: int, opened=None) -> None:
    if stat.S_ISREG(mode):
        return
    if opened is not None:
        opened.close()
    if stat.S_ISDIR(mode):
        raise DatasetError(f"{path}: is a folder, not a data file")
    kind = ("a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a FIFO (named pipe)"
            if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    raise DatasetError(f"{path}: is {kind}, not a data file; give a regular file")


def _file_size(f) -> int:
    return os.fstat(f.fileno()).st_size


# -- checking arrays --------------------------------------------------------------

def _check_samples(x: np.ndarray, where: str, name: str | None = None) -> np.ndarray:
    """An array of samples: numeric, real, finite, at least 2-D (samples × features...), with at
    least one feature per sample. ``name`` names the array in a message (x_train, a file's name)."""
    if x.ndim == 0:
        raise DatasetError(f"{where} is a single number (a 0-d array), not an array of samples")
    if x.dtype.kind == "c":
        raise DatasetError(f"{where} holds complex numbers; a model trains on real numbers "
                           "(keep the real part, or put real and imaginary parts in two channels)")
    if x.dtype.kind == "b":
        x = x.astype("uint8")
    if x.dtype.kind not in "iuf":
        raise DatasetError(f"{where} must hold numbers, not {x.dtype} values")
    if x.ndim == 1:
        raise DatasetError(f"{where} has shape {x.shape}: each sample must be an array; reshape it to "
                           f"({len(x)}, 1) for one feature per sample")
    if 0 in x.shape[1:]:   # no input shape could fit it: refused here, not as a shape to set
        place = where.rpartition(": ")[0] if name and where.endswith(f": {name}") else where
        raise DatasetError(f"{place}: the dataset has no features ({name or 'the data'} has shape {x.shape})")
    if x.dtype.kind == "f":
        bad = _first_non_finite(x)
        if bad is not None:
            raise DatasetError(f"{where} holds NaN or infinity (sample {bad}); clean or drop those samples")
    return x


def _first_non_finite(a: np.ndarray) -> int | None:
    step = max(1, 4_000_000 // max(1, int(np.prod(a.shape[1:], dtype=np.int64))))
    for start in range(0, len(a), step):
        ok = np.isfinite(a[start:start + step].reshape(min(step, len(a) - start), -1)).all(axis=1)
        if not ok.all():
            return start + int(np.argmin(ok))
    return None


def check_labels(y: np.ndarray, where: str, row=None, num_classes: int | None = None) -> np.ndarray:
    """Class labels: whole numbers from 0 (one per sample), or one-hot rows.

    ``row(i)`` says where sample ``i`` came from ("row 17"); the first bad
    label is named: "label -3 in row 17 is outside 0…2". Returns int64
    labels (or float32 one-hot rows).
    """
    row = row or (lambda i: f"at index {i}")
    if y.ndim == 0:
        raise DatasetError(f"{where} is a single number (a 0-d array), not one label per sample")
    if y.dtype.kind == "c":
        raise DatasetError(f"{where} holds complex numbers; labels are class numbers 0, 1, 2, …")
    if y.dtype.kind == "b":
        y = y.astype("int64")
    if y.dtype.kind not in "iuf":
        raise DatasetError(f"{where} must hold numbers, not {y.dtype} values")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        bad = _first_non_finite(y) if y.dtype.kind == "f" else None
        if bad is not None:
            raise DatasetError(f"{where} holds NaN or infinity {row(bad)}")
        if num_classes is not None and y.shape[1] != num_classes:
            raise DatasetError(f"{where} has {y.shape[1]} columns but there are {num_classes} classes")
        return _check_label_rows(y, where, row)
    if y.ndim != 1:
        raise DatasetError(f"{where} has shape {y.shape}; labels are one class number per sample")
    if y.dtype.kind == "f":
        finite = np.isfinite(y)
        if not finite.all():
            i = int(np.argmin(finite))
            raise DatasetError(f"label {y[i]} {row(i)} is not a number; labels are class numbers 0, 1, 2, …")
        whole = y == np.round(y)
        if not whole.all():
            i = int(np.argmin(whole))
            raise DatasetError(f"label {y[i]:g} {row(i)} is not a whole number; labels are class numbers "
                               "0, 1, 2, … (Layer Studio trains classifiers)")
    if len(y) == 0:
        return y.astype("int64")
    high = num_classes - 1 if num_classes is not None else float(y.max())
    low_i = int(np.argmin(y))
    if y[low_i] < 0:
        span = f"outside 0…{high:.0f}" if high >= 0 else "negative"
        raise DatasetError(f"label {y[low_i]:.0f} {row(low_i)} is {span}; labels are class numbers 0, 1, 2, …")
    high_i = int(np.argmax(y))
    if num_classes is not None and y[high_i] >= num_classes:
        raise DatasetError(f"label {y[high_i]:.0f} {row(high_i)} is outside 0…{num_classes - 1}")
    if y[high_i] >= MAX_CLASSES:
        raise DatasetError(f"label {y[high_i]:.0f} {row(high_i)} is too large: labels are class numbers "
                           f"0…{MAX_CLASSES - 1}")
    return y.astype("int64")


def _check_label_rows(y: np.ndarray, where: str, row) -> np.ndarray:
    """Labels given as rows: one-hot (a single 1 in each row) or class probabilities (each value
    in 0…1, each row summing to 1)."""
    y = y.astype("float32")
    outside = (y < 0) | (y > 1)
    if outside.any():
        i, k = map(int, np.argwhere(outside)[0])
        raise DatasetError(f"{where}: the label row {row(i)} holds {float(y[i, k]):g} in column {k}; label rows "
                           "are one-hot (0s and a single 1) or class probabilities from 0 to 1")
    sums = y.sum(axis=1)
    off = np.abs(sums - 1) > 1e-3
    if off.any():
        i = int(np.argmax(off))
        raise DatasetError(f"{where}: the label row {row(i)} sums to {float(sums[i]):g}; each label row must sum "
                           "to 1 (one-hot, or class probabilities)")
    return y


def _labels_note(y: np.ndarray, name: str) -> list[str]:
    if y.ndim == 1 and len(y) and (y == y[0]).all():
        return [f"{name}: every label is {int(y[0])}; a classifier cannot learn from one class"]
    return []


def _check_same_kind(path, x_train: np.ndarray, x_test: np.ndarray) -> None:
    """Training and held-out samples are prepared alike (uint8 pixels are divided by 255): refuse
    splits of which only one holds uint8 values."""
    if (x_train.dtype == np.uint8) != (x_test.dtype == np.uint8):
        raise DatasetError(f"{path}: x_train holds {x_train.dtype} values but x_test holds {x_test.dtype}; uint8 "
                           "pixels are scaled to 0…1 and other types are not, so save both with the same type")


def _check_count(n: int, path, minimum: int = 2) -> None:
    if n == 0:
        raise DatasetError(f"{path}: holds no samples")
    if n < minimum:
        raise DatasetError(f"{path}: holds only {n} sample{'s' if n != 1 else ''}; a dataset needs at least "
                           f"{minimum} (some to train on, one to hold out)")


def _split_dataset(name: str, x: np.ndarray, y: np.ndarray, held_out: float, source: str, path,
                   class_names=None, notes=None) -> "Dataset":
    _check_count(len(x), path)
    n_test = min(len(x) - 1, max(1, int(len(x) * held_out)))
    return Dataset(name, *_split(x, y, n_test, SPLIT_SEED), class_names=list(class_names or []),
                   source=source, notes=list(notes or []) + _labels_note(y, str(path)))


# -- IDX ------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_exact(stream, n: int, path) -> bytes:
    try:
        data = stream.read(n)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: the gzip data is damaged ({exc})") from None
    return data


def load_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or raw), checking its magic number and sizes before reading the data."""
    path = Path(path)
    with _open_regular(path) as f:
        size = _file_size(f)
        gz = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        stream = gzip.GzipFile(fileobj=f, mode="rb") if gz else f
        head = _read_exact(stream, 4, path)
        if len(head) < 4:
            raise DatasetError(f"{path}: too short to be an IDX file")
        zero, dtype_code, ndim = head[0] << 8 | head[1], head[2], head[3]
        if zero != 0 or dtype_code not in _IDX_TYPES or not 1 <= ndim <= 4:
            magic = int.from_bytes(head, "big")
            raise DatasetError(f"{path}: wrong magic number 0x{magic:08x}; an IDX file starts with 0x000008NN "
                               "(0x00000803 for images, 0x00000801 for labels)")
        dims_raw = _read_exact(stream, 4 * ndim, path)
        if len(dims_raw) < 4 * ndim:
            raise DatasetError(f"{path}: the header is cut off")
        dims = struct.unpack(f">{ndim}I", dims_raw)
        dtype = np.dtype(_IDX_TYPES[dtype_code])
        expected = math.prod(dims) * dtype.itemsize
        shape = " × ".join(map(str, dims))
        _check_declared(path, f"the header ({shape} values)", expected, size if gz else None)
        if not gz and size - 4 - 4 * ndim != expected:
            raise DatasetError(f"{path}: the header promises {shape} values ({expected:,} bytes) but the file "
                               f"holds {size - 4 - 4 * ndim:,} bytes")
        try:
            data = _read_exact(stream, expected + 1, path)
        except MemoryError:
            raise DatasetError(f"{path}: not enough memory for {_size_text(expected)} of data") from None
        if len(data) != expected:
            held = f"{len(data):,} bytes" if len(data) < expected else "more"
            raise DatasetError(f"{path}: the header promises {shape} values ({expected:,} bytes) but the file "
                               f"holds {held}")
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


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
    if x.ndim == 1:
        x = x[:, None]
    x = _check_samples(x, str(images), Path(images).name)
    y = check_labels(y, str(labels), lambda i: f"at sample {i} of {Path(labels).name}")
    return _split_dataset(Path(images).name, x, y, held_out, f"IDX files {images}, {labels}", images)


# -- NPZ ------------------------------------------------------------------------

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _npz_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path, key: str, budget: list[int]) -> np.ndarray:
    """One array from an .npz, its header checked against the member's size and the limit first."""
    fmt = np.lib.format
    _check_declared(path, f"array {key}", info.file_size, info.compress_size)
    with zf.open(info) as m:
        try:
            version = fmt.read_magic(m)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(m)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(m)
            else:
                shape, fortran, dtype = fmt._read_array_header(m, version)
        except (ValueError, TypeError, SyntaxError) as exc:
            raise DatasetError(f"{path}: array {key} has a damaged header ({exc})") from None
        if dtype.hasobject:
            raise DatasetError(f"{path}: array {key} holds Python objects, which are not loaded")
        declared = math.prod(shape) * dtype.itemsize
        if declared > info.file_size:
            raise DatasetError(f"{path}: array {key} declares shape {shape} ({_size_text(declared)}) but its "
                               f"entry holds only {_size_text(info.file_size)}")
        budget[0] += declared
        _check_declared(path, "its arrays together", budget[0])
        try:
            data = m.read(declared)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise DatasetError(f"{path}: array {key} is damaged ({exc})") from None
        if len(data) != declared:
            raise DatasetError(f"{path}: array {key} is cut off ({len(data):,} of {declared:,} bytes)")
    order = "F" if fortran else "C"
    return np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order="C")


def load_npz(path: str | Path) -> Dataset:
    """A ``.npz`` in Keras's layout: x_train, y_train, x_test, y_test (no pickles, sizes checked first)."""
    path = Path(path)
    with _open_regular(path) as f:
        try:
            with zipfile.ZipFile(f) as zf:
                infos = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
                missing = [k for k in _NPZ_KEYS if k not in infos]
                if missing:
                    raise DatasetError(f"{path}: missing array{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                       f"(found: {', '.join(sorted(infos)) or 'none'})")
                budget = [0]
                arrays = {k: _npz_array(zf, infos[k], path, k, budget) for k in _NPZ_KEYS}
        except DatasetError:
            raise
        except MemoryError:
            raise DatasetError(f"{path}: not enough memory to load its arrays") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError, zlib.error,
                ValueError) as exc:
            raise DatasetError(f"{path}: not a readable .npz file ({exc})") from None
    for part in ("train", "test"):
        arrays[f"x_{part}"] = _check_samples(arrays[f"x_{part}"], f"{path}: x_{part}", f"x_{part}")
        x = arrays[f"x_{part}"]
        y = arrays[f"y_{part}"]
        if y.ndim == 0:
            raise DatasetError(f"{path}: y_{part} is a single number (a 0-d array), not one label per sample")
        if len(x) != len(y):
            raise DatasetError(f"{path}: x_{part} has {len(x)} samples but y_{part} has {len(y)}")
        arrays[f"y_{part}"] = check_labels(y, f"{path}: y_{part}", lambda i, part=part: f"at y_{part}[{i}]")
        if len(x) == 0:
            raise DatasetError(f"{path}: x_{part} holds no samples")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DatasetError(f"{path}: x_train samples are {arrays['x_train'].shape[1:]} but x_test samples are "
                           f"{arrays['x_test'].shape[1:]}")
    if arrays["y_train"].shape[1:] != arrays["y_test"].shape[1:]:
        raise DatasetError(f"{path}: y_train and y_test hold labels of different shapes")
    _check_same_kind(path, arrays["x_train"], arrays["x_test"])
    return Dataset(path.stem, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                   source=f"NumPy file {path}", notes=_labels_note(arrays["y_train"], f"{path}: y_train"))


# -- CSV ------------------------------------------------------------------------

def _refuse_repeated_columns(path, header: list[str]) -> None:
    """Two columns of one name are refused (one would silently be the label, the other a feature);
    the positions count from 0, as a label_column number does. Unnamed columns are not compared."""
    first: dict[str, int] = {}
    for k, name in enumerate(header):
        if not name:
            continue
        if name in first:
            raise DatasetError(f"{path}: the header names the column '{_printable_name(name)}' twice (columns "
                               f"{first[name]} and {k}, counting from 0); give each column its own name")
        first[name] = k


def _printable_name(name: str) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in name)
    return shown if len(shown) <= 40 else shown[:40] + "…"


def _label_index(path, header: list[str], label_column) -> int:
    if label_column is None:
        if "label" not in header:
            raise DatasetError(f"{path}: no column named 'label' (columns: {', '.join(header[:8])}"
                               f"{'…' if len(header) > 8 else ''}); name the label column 'label' in the "
                               "header or choose it as the label column")
        return header.index("label")
    if isinstance(label_column, str):
        if label_column not in header:
            raise DatasetError(f"{path}: no column named '{label_column}' (columns: {', '.join(header[:8])}"
                               f"{'…' if len(header) > 8 else ''})")
        return header.index(label_column)
    if isinstance(label_column, bool) or not isinstance(label_column, int):
        raise DatasetError(f"{path}: label_column should be a column name or number, not {label_column!r:.40}")
    if not 0 <= label_column < len(header):
        raise DatasetError(f"{path}: label_column {label_column} is out of range; the CSV has {len(header)} "
                           f"columns (0…{len(header) - 1})")
    return label_column


def _image_shape(path, image_shape, features: int) -> tuple:
    if (not isinstance(image_shape, (list, tuple)) or not image_shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in image_shape)):
        raise DatasetError(f"{path}: image_shape should be a list of positive whole numbers, e.g. [28, 28], "
                           f"not {image_shape!r:.60}")
    if math.prod(image_shape) != features:
        raise DatasetError(f"{path}: image_shape {list(image_shape)} holds {math.prod(image_shape):,} values but "
                           f"each row has {features:,} features")
    return tuple(image_shape)


def _count_header_columns(raw, path) -> int:
    """The header's columns, counted from the raw bytes before the csv module builds a string per column
    (quoted separators are rare in headers; an over-count only makes the check stricter)."""
    count, seen = 1, 0
    while True:
        block = raw.read(1 << 20)
        if not block:
            break
        line_end = block.find(b"\n")
        part = block if line_end < 0 else block[:line_end]
        count += part.count(b",")
        seen += len(part)
        if line_end >= 0 or count > MAX_CSV_COLUMNS:
            break
    raw.seek(0)
    return count


def load_csv(path: str | Path, label_column: str | int | None = None, held_out: float = 0.2,
             image_shape: tuple | None = None) -> Dataset:
    """A CSV with a header row: a label column (named 'label' or given) plus numeric feature columns.

    Memory is bounded by the file: the header's width is checked against :data:`MAX_CSV_COLUMNS`
    before any row is parsed, and rows are parsed one at a time straight into one float32 array,
    sized for the most rows the file can hold (each cell takes at least 2 bytes: a digit and a
    separator), so the array is at most twice the file (2 GiB for the largest CSV, within
    :data:`MAX_DATA_BYTES`) and only the part written is touched.
    """
    path = Path(path)
    with _open_regular(path) as raw:
        size = _file_size(raw)
        if size > MAX_CSV_BYTES:
            raise DatasetError(f"{path}: is {_size_text(size)}, more than the {_size_text(MAX_CSV_BYTES)} a CSV "
                               "may have; save large data as .npz")
        columns = _count_header_columns(raw, path)
        if columns > MAX_CSV_COLUMNS:
            raise DatasetError(f"{path}: the header has more than {MAX_CSV_COLUMNS:,} columns; save data this wide "
                               "as .npz")
        f = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")   # -sig: a BOM (Excel) is not a column name
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader, [])]
            if not header:
                raise DatasetError(f"{path}: the file is empty; a CSV needs a header row and data rows")
            _refuse_repeated_columns(path, header)
            label_index = _label_index(path, header, label_column)
            width = len(header)
            if width < 2:
                raise DatasetError(f"{path}: has only the label column; it needs feature columns too")
            most_rows = size // (2 * width) + 1
            x = np.empty((most_rows, width - 1), dtype="float32")
            y = np.empty(most_rows, dtype="float64")
            features = [k for k in range(width) if k != label_index]
            rows: list[int] = []
            for n, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != width:
                    raise DatasetError(f"{path}, row {n}: {len(row)} fields but the header has {width}")
                i = len(rows)
                y[i] = _csv_number(path, n, header, label_index, row[label_index])
                x[i] = [_csv_number(path, n, header, k, row[k], float32=True) for k in features]
                rows.append(n)
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not a UTF-8 text file (byte {exc.start})") from None
        except csv.Error as exc:
            raise DatasetError(f"{path}, row {reader.line_num}: {exc}") from None
        finally:
            f.detach()
    if not rows:
        raise DatasetError(f"{path}: holds no data rows (only a header)")
    x.resize((len(rows), width - 1), refcheck=False)   # in place: the rows never written are given back
    y = check_labels(y[:len(rows)], str(path), lambda i: f"in row {rows[i]}")
    if image_shape is not None:
        x = x.reshape((len(x),) + _image_shape(path, image_shape, x.shape[1]))
    return _split_dataset(path.stem, x, y, held_out, f"CSV file {path}", path)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _csv_number(path, n: int, header: list[str], k: int, cell: str, float32: bool = False) -> float:
    """One cell as a number: plain ASCII digits (Python's float() also takes 1_000 and other scripts'
    digits), finite, and within float32's range for a feature."""
    try:
        value = float(cell)
    except ValueError:
        raise DatasetError(f"{path}, row {n}, column '{header[k]}': '{cell[:40]}' is not a number") from None
    if "_" in cell or not cell.isascii():
        raise DatasetError(f"{path}, row {n}, column '{header[k]}': '{cell[:40]}' is not a plain number (digits, "
                           "'.', an exponent; no '_' or other digits)")
    if not math.isfinite(value) or (float32 and abs(value) > _FLOAT32_MAX):
        raise DatasetError(f"{path}, row {n}, column '{header[k]}': '{cell.strip()[:40]}' is not a finite number"
                           + (" in 32-bit floats" if math.isfinite(value) else ""))
    return value


# -- image folders ----------------------------------------------------------------

def _image_dims(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, BMP or JPEG header, or None if it cannot tell."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head[:2] == b"BM" and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return abs(w), abs(h)
    if head[:2] == b"\xff\xd8":
        k = 2
        while k + 9 < len(head):
            if head[k] != 0xFF:
                k += 1
                continue
            marker = head[k + 1]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                h, w = struct.unpack(">HH", head[k + 5:k + 9])
                return w, h
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                k += 2
                continue
            k += 2 + struct.unpack(">H", head[k + 2:k + 4])[0]
    return None


def _image_size(path, image_size) -> tuple[int, int]:
    if (not isinstance(image_size, (list, tuple)) or len(image_size) != 2
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_IMAGE_SIDE
                       for d in image_size)):
        raise DatasetError(f"{path}: image_size should be two whole numbers from 1 to {MAX_IMAGE_SIDE}, "
                           f"e.g. [64, 64], not {image_size!r:.60}")
    return int(image_size[0]), int(image_size[1])


def _within(path: Path, folder: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == folder or folder in real.parents


def _class_files(folder: Path) -> tuple[list[Path], int]:
    """Image files in a class folder and all its sub-folders (links to folders are not followed)."""
    files, nested = [], 0
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if Path(name).suffix.lower() in IMAGE_EXTENSIONS and not name.startswith("."):
                files.append(Path(root) / name)
                nested += Path(root) != folder
    return files, nested


def load_image_folder(path: str | Path, image_size: tuple[int, int] = (64, 64), held_out: float = 0.2,
                      grayscale: bool = False) -> Dataset:
    """A folder with one sub-folder per class, each holding images (sub-folders of a class count too)."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: not a folder")
    size = _image_size(path, image_size)
    inside = Path(os.path.realpath(path))
    # class folders and images are taken only where they really lie inside the folder (a link
    # leading elsewhere is skipped): the folder a project names is all it can make the app read
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
                     and _within(p, inside))
    if not classes:
        raise DatasetError(f"{path}: no class sub-folders (put each class's images in a folder of its own)")
    found, nested = [], 0
    for label, name in enumerate(classes):
        files, deeper = _class_files(path / name)
        found += [(file, label) for file in files if _within(file, inside)]
        nested += deeper
    if not found:
        raise DatasetError(f"{path}: the class folders hold no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    channels = 1 if grayscale else 3
    _check_declared(path, f"{len(found):,} images at {size[0]} × {size[1]}",
                    len(found) * size[0] * size[1] * channels)
    import tensorflow as tf

    x = np.empty((len(found), size[0], size[1], channels), dtype="uint8")
    for k, (file, _label) in enumerate(found):
        with _open_regular(file) as f:
            nbytes = _file_size(f)
            if nbytes > MAX_IMAGE_BYTES:
                raise DatasetError(f"{file}: is {_size_text(nbytes)}, larger than the "
                                   f"{_size_text(MAX_IMAGE_BYTES)} an image may be")
            raw = f.read()
        dims = _image_dims(raw[:65536])
        if dims is not None and dims[0] * dims[1] > MAX_IMAGE_PIXELS:
            raise DatasetError(f"{file}: declares {dims[0]:,} × {dims[1]:,} pixels, more than the "
                               f"{MAX_IMAGE_PIXELS:,} an image may have")
        try:
            img = tf.io.decode_image(raw, channels=channels, expand_animations=False)
        except Exception:
            raise DatasetError(f"{file}: not a readable image") from None
        img = tf.image.resize(img, size, method="bilinear")
        x[k] = np.clip(np.round(img.numpy()), 0, 255).astype("uint8")
    y = np.asarray([label for _file, label in found], dtype="int64")
    notes = []
    if nested:
        notes.append(f"{path}: {nested:,} of the {len(found):,} images are in sub-folders of class folders "
                     "and were used with their class folder's label")
    return _split_dataset(path.name, x, y, held_out, f"image folder {path}", path, class_names=classes,
                          notes=notes)


# -- downloads --------------------------------------------------------------------

def _check_online(host: str = "storage.googleapis.com", port: int = 443, timeout: float = 3.0) -> None:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        raise DatasetError("no network connection: the download cannot start. The bundled MNIST sample "
                           "(10,000 digits) works offline — choose 'mnist-sample'.") from None


def download(name: str) -> Dataset:
    """Full MNIST or Fashion-MNIST through keras.datasets (only when a person asks)."""
    if not isinstance(name, str) or name not in DOWNLOADS:
        raise DatasetError(f"unknown download {name!r:.60}; choose one of: {', '.join(DOWNLOADS)}")
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

def load(spec: dict | str | None, base_dir: Path | None = None, trusted=()) -> Dataset:
    """Load what a project's ``dataset`` field (or a command-line argument) names.

    ``base_dir``: the folder of the project the reference comes from. A file the
    project names must then lie in that folder or below it, unless the person
    chose it (``trusted``: resolved paths picked in a dialog or given on the
    command line): a project file never makes the app read elsewhere on its own.
    """
    if spec is None:
        raise DatasetError("the project has no dataset: choose one in the dataset panel (or --dataset)")
    if isinstance(spec, str):
        if spec in ("mnist-sample", "sample"):
            return bundled_sample()
        if spec in DOWNLOADS:
            return download(spec)
        spec = {"kind": "file", "path": spec}
    if not isinstance(spec, dict):
        raise DatasetError(f"dataset reference {spec!r:.80} is not understood")
    try:
        return _load(spec, base_dir, {str(Path(t).resolve()) for t in trusted})
    except MemoryError:
        raise DatasetError(f"not enough memory to load the dataset {spec.get('path') or spec.get('name')!r:.80}"
                           ) from None


def _check_place(path: Path, base_dir: Path | None, trusted: set[str]) -> None:
    if base_dir is None:
        return
    real = Path(os.path.realpath(path))
    base = Path(os.path.realpath(base_dir))
    if str(real) in trusted or real == base or base in real.parents:
        return
    raise DatasetError(f"{path}: the project names a dataset outside its own folder ({base}); choose the file "
                       "in the Dataset tab (or pass it with --dataset) to use it")


def _load(spec: dict, base_dir: Path | None, trusted: set[str] = frozenset()) -> Dataset:
    kind = spec.get("kind")
    if kind == "builtin":
        if spec.get("name") != "mnist-sample":
            raise DatasetError(f"unknown built-in dataset '{spec.get('name')}'")
        return bundled_sample()
    if kind == "download":
        return download(str(spec.get("name")))
    if kind == "file":
        raw_path = spec.get("path")
        if not isinstance(raw_path, str) or not raw_path.strip() or "\0" in raw_path:
            raise DatasetError(f"the dataset path {raw_path!r:.80} is empty or not a path; choose a data file "
                               "or folder")
        path = Path(raw_path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        _check_place(path, base_dir, trusted)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise DatasetError(f"{path}: no such file or folder") from None
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        if stat.S_ISDIR(mode):
            size = spec.get("image_size", [64, 64])
            grayscale = spec.get("grayscale", False)
            if not isinstance(grayscale, bool):   # strict: bool("false") is True
                raise DatasetError(f"{path}: grayscale should be true or false, not {grayscale!r:.40}")
            return load_image_folder(path, _image_size(path, size), grayscale=grayscale)
        _require_regular(path, mode)
        suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
        if suffix == ".npz":
            return load_npz(path)
        if suffix == ".csv":
            return load_csv(path, spec.get("label_column"), image_shape=spec.get("image_shape"))
        if "idx" in path.name or suffix in (".gz", ".idx"):
            labels = spec.get("labels_path")
            if not labels:
                raise DatasetError(f"{path}: an IDX images file needs its labels file too")
            if not isinstance(labels, str) or "\0" in labels:
                raise DatasetError(f"{path}: labels_path should be a file name, not {labels!r:.60}")
            labels_path = base_dir / labels if base_dir and not Path(labels).is_absolute() else Path(labels)
            _check_place(labels_path, base_dir, trusted)
            return load_idx_pair(path, labels_path)
        raise DatasetError(f"{path}: unsupported file type '{suffix}' (use .npz, .csv, IDX files or an image folder)")
    raise DatasetError(f"dataset reference {spec!r} is not understood")
