"""What a file is, told from its content rather than its name (no Qt, no Keras).

Used where a name alone would choose the wrong reader: the importer (a
``.h5`` name makes Keras read HDF5, a ``.keras`` name a zip archive, and a
file can be both) and the project loader (a model or data file given where a
``.studio`` project is expected is named for what it is).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def has_hdf5_signature(path: Path) -> bool:
    """True if the HDF5 superblock signature is at offset 0, 512, 1024, 2048, ... (where HDF5 looks)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            offset = 0
            while offset + 8 <= size:
                f.seek(offset)
                if f.read(8) == HDF5_SIGNATURE:
                    return True
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False
    return False


def is_zip(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def zip_members(path: Path, limit: int = 10_000) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return [i.filename for i in zf.infolist()[:limit]]
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
        return []


def describe(path: Path, head: bytes | None = None) -> str | None:
    """What a file that is not a text project is, with what to do with it (None if unknown)."""
    path = Path(path)
    if head is None:
        try:
            with open(path, "rb") as f:
                head = f.read(16)
        except OSError:
            return None
    if is_zip(path):
        names = zip_members(path)
        if "config.json" in names:
            return ("a Keras model file (.keras), not a Layer Studio project; turn it into one with "
                    "'layer-studio import'")
        if names and all(n.endswith(".npy") for n in names):
            return "a NumPy data file (.npz), not a project; give it to train or evaluate with --dataset"
        return "a zip archive, not a Layer Studio project"
    if has_hdf5_signature(path):
        return ("an HDF5 file (a Keras .h5 model or weights), not a Layer Studio project; turn a model into "
                "one with 'layer-studio import'")
    if head[:6] == b"\x93NUMPY":
        return "a NumPy array file (.npy), not a project"
    if path.suffix.lower() == ".onnx" and head[:1] == b"\x08":
        return "an ONNX model, not a Layer Studio project; Layer Studio imports .keras models only"
    if head[4:8] == b"TFL3":
        return "a TensorFlow Lite model, not a Layer Studio project; Layer Studio imports .keras models only"
    return None
