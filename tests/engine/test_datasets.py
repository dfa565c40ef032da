import gzip
import struct

import numpy as np
import pytest

from studio.engine import datasets
from studio.engine.datasets import DatasetError, Preprocess


def test_bundled_sample_is_real_split_deterministically():
    a = datasets.bundled_sample()
    b = datasets.bundled_sample()
    assert a.x_train.shape == (8000, 28, 28) and a.x_test.shape == (2000, 28, 28)
    assert a.x_train.dtype == np.uint8 and a.num_classes == 10
    assert np.array_equal(a.y_test, b.y_test) and np.array_equal(a.x_train[:5], b.x_train[:5])
    total = {k: a.class_counts().get(k, 0) for k in range(10)}
    assert sum(total.values()) == 8000 and min(total.values()) > 600


def test_preprocessing_choices():
    ds = datasets.bundled_sample()
    x, y, _, _ = Preprocess(scale=True, layout="keep", channel_axis=True, labels="onehot").apply(ds)
    assert x.shape == (8000, 28, 28, 1) and x.dtype == np.float32 and 0.99 < x.max() <= 1.0
    assert y.shape == (8000, 10) and np.allclose(y.sum(axis=1), 1)
    x, y, _, _ = Preprocess(scale=False, layout="flatten", labels="integer").apply(ds)
    assert x.shape == (8000, 784) and x.max() == 255 and y.ndim == 1


def _idx(path, data: np.ndarray, magic_type=0x08, gz=True, truncate=0):
    header = bytes([0, 0, magic_type, data.ndim]) + struct.pack(f">{data.ndim}I", *data.shape)
    raw = header + data.astype(np.uint8).tobytes()
    raw = raw[: len(raw) - truncate] if truncate else raw
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def test_idx_files_gzipped_and_raw(tmp_path):
    images = np.random.RandomState(0).randint(0, 255, (50, 8, 8))
    labels = np.arange(50) % 5
    ds = datasets.load_idx_pair(_idx(tmp_path / "img-idx3.gz", images), _idx(tmp_path / "lab-idx1", labels, gz=False))
    assert len(ds.x_train) + len(ds.x_test) == 50 and ds.num_classes == 5


def test_broken_idx_files_name_the_fault(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x12\x34\x56\x78" + b"\0" * 20)
    with pytest.raises(DatasetError, match="bad.idx: wrong magic number 0x12345678"):
        datasets.load_idx(bad)
    short = _idx(tmp_path / "short.gz", np.zeros((10, 4, 4)), truncate=5)
    with pytest.raises(DatasetError, match="short.gz: the header promises 10 × 4 × 4 values"):
        datasets.load_idx(short)
    with pytest.raises(DatasetError, match="labels"):
        datasets.load_idx_pair(_idx(tmp_path / "a.gz", np.zeros((10, 4, 4))), _idx(tmp_path / "b.gz", np.zeros(9)))


def test_npz_in_keras_layout(tmp_path):
    p = tmp_path / "data.npz"
    np.savez(p, x_train=np.zeros((20, 4), "float32"), y_train=np.arange(20) % 2,
             x_test=np.ones((5, 4), "float32"), y_test=np.arange(5) % 2)
    ds = datasets.load_npz(p)
    assert ds.sample_shape == (4,) and ds.num_classes == 2
    missing = tmp_path / "missing.npz"
    np.savez(missing, x_train=np.zeros((2, 2)))
    with pytest.raises(DatasetError, match="missing arrays y_train, x_test, y_test"):
        datasets.load_npz(missing)
    pickled = tmp_path / "objects.npz"
    np.savez(pickled, x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros((1, 1)), y_test=np.zeros(1))
    with pytest.raises(DatasetError, match="Python objects"):
        datasets.load_npz(pickled)


def test_csv_label_column_and_broken_rows(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("label,a,b,c,d\n" + "\n".join(f"{k % 3},{k},1,2,3" for k in range(30)) + "\n")
    ds = datasets.load_csv(good, image_shape=(2, 2))
    assert ds.sample_shape == (2, 2) and ds.num_classes == 3
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("label,a,b\n1,2,3\n0,1\n")
    with pytest.raises(DatasetError, match="ragged.csv, row 3: 2 fields but the header has 3"):
        datasets.load_csv(ragged)
    text = tmp_path / "text.csv"
    text.write_text("label,a\n1,2\n0,seven\n")
    with pytest.raises(DatasetError, match="text.csv, row 3, column 'a': 'seven' is not a number"):
        datasets.load_csv(text)


def test_image_folder_and_empty_folders(tmp_path):
    import tensorflow as tf
    for k, name in enumerate(["cats", "dogs"]):
        d = tmp_path / "imgs" / name
        d.mkdir(parents=True)
        for j in range(4):
            img = np.full((10, 12, 3), 40 * (k + 1) + j, "uint8")
            (d / f"{j}.png").write_bytes(tf.io.encode_png(img).numpy())
    ds = datasets.load_image_folder(tmp_path / "imgs", (8, 8))
    assert ds.class_names == ["cats", "dogs"] and ds.sample_shape == (8, 8, 3)
    (tmp_path / "none").mkdir()
    with pytest.raises(DatasetError, match="no class sub-folders"):
        datasets.load_image_folder(tmp_path / "none")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="hold no images"):
        datasets.load_image_folder(tmp_path / "empty")
    (tmp_path / "imgs" / "cats" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="broken.png: not a readable image"):
        datasets.load_image_folder(tmp_path / "imgs")


def test_download_offline_fails_fast_with_advice(monkeypatch):
    import socket
    import time

    def refuse(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    t = time.perf_counter()
    with pytest.raises(DatasetError, match="no network connection.*bundled MNIST sample"):
        datasets.download("mnist")
    assert time.perf_counter() - t < 5
    with pytest.raises(DatasetError, match="unknown download"):
        datasets.download("imagenet")


def test_load_resolves_project_references(tmp_path):
    assert datasets.load({"kind": "builtin", "name": "mnist-sample"}).name == "mnist-sample"
    with pytest.raises(DatasetError, match="no such file"):
        datasets.load({"kind": "file", "path": "nope.npz"}, tmp_path)
    with pytest.raises(DatasetError, match="has no dataset"):
        datasets.load(None)
