"""The importer reads a model by what its content is, and checks exactly what Keras will load."""

import json
import zipfile

import numpy as np
import pytest

from studio.engine import filekind
from studio.engine.importer import ImportRefused, graph_from_keras_file, model_format, read_h5_config


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import keras
    d = tmp_path_factory.mktemp("fmt")
    inp = keras.Input((8,), name="x")
    model = keras.Model(inp, keras.layers.Dense(3, name="dense")(inp), name="small")
    model.save(d / "good.keras")
    model.save(d / "legacy.h5")
    return d


def _big_config(files):
    config = json.loads(zipfile.ZipFile(files / "good.keras").read("config.json"))
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_shape"] = [None, 20_000]
        else:
            layer["config"]["units"] = 20_000
            layer["build_config"] = {"input_shape": [None, 20_000]}
    return config


def _h5(path, config):
    import h5py
    with h5py.File(path, "w") as f:
        if config is not None:
            f.attrs["model_config"] = json.dumps(config)
        f.create_dataset("model_weights/w", data=np.zeros(3, "float32"))
    return path


def test_format_by_content(files, tmp_path):
    assert model_format(files / "good.keras") == "keras"
    assert model_format(files / "legacy.h5") == "h5"
    assert filekind.has_hdf5_signature(files / "legacy.h5") and not filekind.is_zip(files / "legacy.h5")
    (tmp_path / "a.keras").write_bytes((files / "legacy.h5").read_bytes())
    with pytest.raises(ImportRefused, match="is an HDF5 .* name ends in '.keras'"):
        model_format(tmp_path / "a.keras")
    (tmp_path / "a.h5").write_bytes((files / "good.keras").read_bytes())
    with pytest.raises(ImportRefused, match="is a .keras archive .* name ends in '.h5'"):
        model_format(tmp_path / "a.h5")


def test_a_file_that_is_both_is_refused_before_keras(files, tmp_path):
    poly = _h5(tmp_path / "poly.h5", _big_config(files))
    with open(poly, "ab") as f:
        f.write((files / "good.keras").read_bytes())
    with pytest.raises(ImportRefused, match="is both an HDF5 file and a zip archive"):
        graph_from_keras_file(poly)


def test_an_h5_model_config_is_bounded_like_config_json(files, tmp_path):
    big = _h5(tmp_path / "big.h5", _big_config(files))
    assert read_h5_config(big)["class_name"] == "Functional"
    with pytest.raises(ImportRefused, match="declares 400,020,000 parameters .* in a file of only"):
        graph_from_keras_file(big)
    with pytest.raises(ImportRefused, match="holds no model"):
        read_h5_config(_h5(tmp_path / "weights.h5", None))


def test_a_legacy_h5_model_imports(files):
    graph, weights = graph_from_keras_file(files / "legacy.h5")
    assert len(graph.nodes) == 2 and sum(a.size for ws in weights.values() for a in ws) == 27


def test_encrypted_members_are_refused_in_one_sentence(files, tmp_path):
    from tests.robustness.corpus import encrypted_zip
    (tmp_path / "enc.keras").write_bytes(encrypted_zip((files / "good.keras").read_bytes()))
    with pytest.raises(ImportRefused, match="is encrypted"):
        graph_from_keras_file(tmp_path / "enc.keras")


def test_library_output_is_held_unless_verbose(capfd):
    import warnings

    from studio.engine import quiet
    import os
    with quiet.library_output():
        print("from python")
        os.write(1, b"from C\n")
        os.write(2, b"from C on stderr\n")
        warnings.warn("a library warning")
    print("ours")
    out, err = capfd.readouterr()
    assert out == "ours\n" and err == ""
    quiet.verbose = True
    try:
        with quiet.library_output():
            print("shown")
    finally:
        quiet.verbose = False
    assert "shown" in capfd.readouterr().out
