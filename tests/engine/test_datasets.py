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


# -- hostile and broken input ---------------------------------------------------------

def _npz_with(path, **arrays):
    base = dict(x_train=np.zeros((6, 2), "float32"), y_train=np.arange(6) % 3,
                x_test=np.zeros((3, 2), "float32"), y_test=np.arange(3) % 3)
    base.update(arrays)
    np.savez(path, **base)
    return path


@pytest.mark.parametrize("arrays, message", [
    (dict(x_train=np.float32(3.0)), r"x_train is a single number \(a 0-d array\)"),
    (dict(y_test=np.int64(1)), "y_test is a single number"),
    (dict(x_train=np.zeros((6, 2), "complex64")), "x_train holds complex numbers"),
    (dict(y_train=np.array([0, 1, 2, 0, -3, 1])), r"label -3 at y_train\[4\] is outside 0…2"),
    (dict(y_train=np.array([0, 1, 2, 0, 1.5, 1])), r"label 1.5 at y_train\[4\] is not a whole number"),
    (dict(y_train=np.array([0, 1, 2, 0, np.nan, 1])), "is not a number"),
    (dict(y_train=np.array([0, 1, 2, 0, 10**9, 1])), "too large"),
    (dict(x_train=np.zeros((0, 2), "float32"), y_train=np.zeros(0, "int64")), "x_train holds no samples"),
    (dict(x_train=np.zeros(6, "float32")), r"reshape it to \(6, 1\)"),
    (dict(x_train=np.full((6, 2), np.inf, "float32")), r"x_train holds NaN or infinity \(sample 0\)"),
    (dict(x_train=np.array([["a", "b"]] * 6)), "must hold numbers"),
])
def test_npz_contents_are_checked(tmp_path, arrays, message):
    with pytest.raises(DatasetError, match=message):
        datasets.load_npz(_npz_with(tmp_path / "d.npz", **arrays))


def _npy_member(shape, dtype="<f8", data=b""):
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    text = repr(header).encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def test_npz_header_declaring_more_than_it_holds_is_refused_before_allocating(tmp_path):
    import zipfile
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x_train.npy", _npy_member((100_000, 100_000)))          # declares 80 GB
        for k in ("y_train", "x_test", "y_test"):
            zf.writestr(f"{k}.npy", _npy_member((1,)))
    with pytest.raises(DatasetError, match=r"x_train declares shape \(100000, 100000\) \(80.0 GB\) but its entry "
                                           "holds only 128 bytes"):
        datasets.load_npz(path)


def test_npz_decompression_bomb_is_refused_from_its_sizes(tmp_path, monkeypatch):
    import zipfile
    path = tmp_path / "bomb.npz"
    n = 80 * 2**20
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x_train.npy", "w") as m:
            m.write(_npy_member((n // 8, 1)))
            for _ in range(n // 2**20):
                m.write(bytes(2**20))
        for k in ("y_train", "x_test", "y_test"):
            zf.writestr(f"{k}.npy", _npy_member((1,), data=bytes(8)))
    assert path.stat().st_size < 1_000_000
    with pytest.raises(DatasetError, match="decompression bomb"):
        datasets.load_npz(path)
    monkeypatch.setattr(datasets, "MAX_DATA_BYTES", 10 * 2**20)
    with pytest.raises(DatasetError, match="more than the limit of 10.5 MB"):
        datasets.load_npz(path)


def test_idx_header_dimensions_are_checked_before_reading(tmp_path):
    liar = tmp_path / "liar-idx3-ubyte.gz"
    liar.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 1000, 1000) + bytes(100)))
    with pytest.raises(DatasetError, match="declares 60.0 GB of data, more than the limit"):
        datasets.load_idx(liar)
    bomb = tmp_path / "bomb-idx3-ubyte.gz"
    with gzip.open(bomb, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 100, 1024, 1024))
        for _ in range(100):
            f.write(bytes(2**20))
    with pytest.raises(DatasetError, match="decompression bomb"):
        datasets.load_idx(bomb)
    raw = tmp_path / "raw-idx1"
    raw.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 2**31) + bytes(10))
    with pytest.raises(DatasetError, match=r"promises 2147483648 values \(2,147,483,648 bytes\) but the file holds 10"):
        datasets.load_idx(raw)


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/stdin", "fifo"])
def test_only_regular_files_are_read(tmp_path, special):
    import os
    if special == "fifo":
        special = str(tmp_path / "data.npz")
        os.mkfifo(special)
    with pytest.raises(DatasetError, match="is a (device|FIFO|socket)|not a data file|no such file"):
        datasets.load({"kind": "file", "path": special})
    with pytest.raises(DatasetError):
        datasets.load_npz(special)


@pytest.mark.parametrize("spec_path", ["", "   ", None, 5])
def test_empty_dataset_path_is_refused(tmp_path, spec_path):
    with pytest.raises(DatasetError, match="empty or not a path"):
        datasets.load({"kind": "file", "path": spec_path}, tmp_path)


def _csv(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, kwargs, message", [
    ("a,b,c\n1,2,3\n4,5,6\n", {}, "no column named 'label'"),
    ("label,a\n0,1\n1,2\n1.5,3\n", {}, "label 1.5 in row 4 is not a whole number"),
    ("label,a\n" + "".join(f"{k % 3},{k}\n" for k in range(15)) + "-3,1\n", {}, "label -3 in row 17 is outside 0…2"),
    ("label,a\n0,1\n1,2\n", {"label_column": 7}, r"label_column 7 is out of range; the CSV has 2 columns \(0…1\)"),
    ("label,a\n0,1\n1,2\n", {"label_column": [1]}, "label_column should be a column name or number"),
    ("label,a,b,c\n0,1,2,3\n1,2,3,4\n", {"image_shape": (2, 2)}, r"image_shape \[2, 2\] holds 4 values but each row has 3"),
    ("label,a\n0,1\n1,2\n", {"image_shape": "big"}, "image_shape should be a list"),
    ("label,a\n", {}, "holds no data rows"),
    ("", {}, "the file is empty"),
    ("label,a\n1,2\n", {}, "holds only 1 sample"),
    ("label,a\n1,nan\n0,1\n", {}, "is not a finite number"),
    ("label,a\n1,2\x00\n", {}, "row 2"),
    ("label\n1\n0\n", {}, "needs feature columns"),
    ("label,a,label,b\n0,1,1,2\n1,2,0,3\n", {}, r"names the column 'label' twice \(columns 0 and 2, counting"),
    ("label,a,b,a\n0,1,1,2\n1,2,0,3\n", {}, r"names the column 'a' twice \(columns 1 and 3"),
    ("x,a,b,a\n0,1,1,2\n1,2,0,3\n", {"label_column": 0}, "names the column 'a' twice"),
])
def test_csv_faults_are_named(tmp_path, text, kwargs, message):
    with pytest.raises(DatasetError, match=message):
        datasets.load_csv(_csv(tmp_path, text), **kwargs)


def test_csv_label_column_by_number_and_one_class_note(tmp_path):
    ds = datasets.load_csv(_csv(tmp_path, "a,b,y\n1,2,0\n3,4,1\n5,6,1\n"), label_column=2)
    assert ds.sample_shape == (2,) and ds.num_classes == 2
    one = datasets.load_csv(_csv(tmp_path, "label,a\n0,1\n0,2\n0,3\n", "one.csv"))
    assert any("cannot learn from one class" in n for n in one.notes)


def test_labels_outside_the_class_count(tmp_path):
    with pytest.raises(DatasetError, match="label 3 at index 2 is outside 0…2"):
        datasets.check_labels(np.array([0, 1, 3]), "y", num_classes=3)


def test_images_in_nested_folders_are_used_and_counted(tmp_path):
    import tensorflow as tf
    png = tf.io.encode_png(np.zeros((4, 4, 3), "uint8")).numpy()
    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls / "deeper" / "deepest").mkdir(parents=True)
        (tmp_path / "imgs" / cls / "top.png").write_bytes(png)
        (tmp_path / "imgs" / cls / "deeper" / "1.png").write_bytes(png)
        (tmp_path / "imgs" / cls / "deeper" / "deepest" / "2.png").write_bytes(png)
    ds = datasets.load_image_folder(tmp_path / "imgs", (4, 4))
    assert len(ds.x_train) + len(ds.x_test) == 6 and ds.class_names == ["a", "b"]
    assert any("4 of the 6 images are in sub-folders" in n for n in ds.notes)


def test_image_headers_are_checked_before_decoding(tmp_path):
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    huge = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + struct.pack(">II", 100_000, 100_000) + b"\x08\x02\0\0\0"
    (tmp_path / "imgs" / "a" / "huge.png").write_bytes(huge + bytes(100))
    with pytest.raises(DatasetError, match="declares 100,000 × 100,000 pixels"):
        datasets.load_image_folder(tmp_path / "imgs", (8, 8))
    with pytest.raises(DatasetError, match="image_size should be two whole numbers"):
        datasets.load_image_folder(tmp_path / "imgs", (0, 8))


def test_preprocess_settings_are_checked():
    with pytest.raises(DatasetError, match="preprocess should be an object"):
        Preprocess.from_dict(["scale"])
    with pytest.raises(DatasetError, match="layout should be 'keep' or 'flatten'"):
        Preprocess.from_dict({"layout": "spiral"})


def test_a_project_cannot_point_at_data_outside_its_folder_unless_chosen(tmp_path):
    import numpy as np
    project_dir = tmp_path / "proj"
    (project_dir / "data").mkdir(parents=True)
    x = np.zeros((4, 3), "float32")
    y = np.array([0, 1, 0, 1])
    inside = project_dir / "data" / "d.npz"
    outside = tmp_path / "elsewhere.npz"
    for p in (inside, outside):
        np.savez(p, x_train=x, y_train=y, x_test=x, y_test=y)
    assert datasets.load({"kind": "file", "path": "data/d.npz"}, project_dir).x_train.shape == (4, 3)
    with pytest.raises(datasets.DatasetError, match="outside its own folder"):
        datasets.load({"kind": "file", "path": "../elsewhere.npz"}, project_dir)
    with pytest.raises(datasets.DatasetError, match="outside its own folder"):
        datasets.load({"kind": "file", "path": str(outside)}, project_dir)
    link = project_dir / "data" / "link.npz"
    link.symlink_to(outside)  # a link inside that leads outside is outside
    with pytest.raises(datasets.DatasetError, match="outside its own folder"):
        datasets.load({"kind": "file", "path": "data/link.npz"}, project_dir)
    # the person chose it (a dialog, or --dataset): then it may be used
    assert datasets.load({"kind": "file", "path": str(outside)}, project_dir, trusted=[str(outside)]).x_train.shape


def test_links_in_an_image_folder_that_lead_outside_are_skipped(tmp_path):
    import numpy as np
    from PIL import Image
    folder = tmp_path / "imgs"
    for cls in ("cats", "dogs"):
        (folder / cls).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * k, np.uint8)).save(folder / cls / f"{k}.png")
    outside = tmp_path / "secret"
    outside.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(outside / "s.png")
    (folder / "dogs" / "holiday").symlink_to(outside)          # a linked folder
    (folder / "cats" / "x.png").symlink_to(outside / "s.png")  # a linked file
    ds = datasets.load_image_folder(folder, (8, 8))
    assert len(ds.x_train) + len(ds.x_test) == 6


def test_data_with_no_features_is_refused_at_load(tmp_path):
    """A sample of zero values fits no input shape: said of the data, not as a shape of 0 to set."""
    path = _npz_with(tmp_path / "empty-features.npz", x_train=np.zeros((6, 0), "float32"),
                     x_test=np.zeros((3, 0), "float32"))
    with pytest.raises(DatasetError, match=r"empty-features.npz: the dataset has no features "
                                           r"\(x_train has shape \(6, 0\)\)$"):
        datasets.load(str(path))
    images = _idx(tmp_path / "flat-idx3-ubyte.gz", np.zeros((6, 4, 0)))
    labels = _idx(tmp_path / "flat-idx1-ubyte.gz", np.arange(6) % 3)
    with pytest.raises(DatasetError, match=r"the dataset has no features \(flat-idx3-ubyte.gz has shape \(6, 4, 0\)\)"):
        datasets.load_idx_pair(images, labels)
