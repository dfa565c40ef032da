"""Pretrained backbones: keras.applications networks as blocks, their preprocessing as
layers, weights from a file (bit-exact) or downloaded on request (never in tests: the
network is refused, or a local file stands in for the server)."""

from __future__ import annotations

import hashlib
import urllib.error

import numpy as np
import pytest

from studio.engine import pretrained
from studio.engine.compiler import compile_graph
from studio.engine.graph import ModelGraph
from studio.engine.shapes import ShapeChecker


def _images(n=3, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype(np.float32)


@pytest.mark.parametrize("backbone, family", [("VGG16", "vgg16"), ("MobileNetV2", "mobilenet_v2"),
                                              ("DenseNet121", "densenet"), ("EfficientNetB0", "efficientnet")])
def test_the_preprocessing_layers_do_what_preprocess_input_does(backbone, family):
    import keras
    g = ModelGraph("pre")
    i = g.add_node("InputLayer", {"shape": [32, 32, 3]}, name="image")
    weights = {}
    prev = i
    for class_name, name, config, arrays in pretrained.preprocessing_nodes(backbone):
        node = g.add_node(class_name, config, name=name)
        g.connect(prev.id, node.id)
        if arrays is not None:
            weights[name] = arrays
        prev = node
    x = _images()
    expected = np.asarray(getattr(keras.applications, family).preprocess_input(x.copy()))
    if prev is i:  # the network preprocesses its input itself
        assert pretrained.BACKBONES[backbone].preprocess == "none"
        return
    got = compile_graph(g, weights).predict(x, verbose=0)
    assert np.abs(got - expected).max() <= 1e-5 * max(1.0, np.abs(expected).max())


def test_a_backbone_is_a_block_whose_weights_load_from_a_file_bit_exactly(tmp_path):
    source = pretrained.build_backbone("MobileNetV2", 32, "avg")
    path = tmp_path / "mine.weights.h5"
    source.save_weights(path)
    config, name, weights = pretrained.make_backbone("MobileNetV2", 32, "avg", source="file", path=path)
    assert config["trainable"] is False  # pretrained weights: frozen, for feature extraction
    assert len(weights) == len(source.weights)
    for a, b in zip(weights, source.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)

    g = ModelGraph("transfer")
    image = g.add_node("InputLayer", {"shape": [32, 32, 3]}, name="image")
    added = pretrained.add_to_graph(g, "MobileNetV2", config, name, weights, preprocess=True)
    first = next(n for n in g.nodes.values() if n.name == "mobilenetv2_preprocess")
    g.connect(image.id, first.id)
    head = g.add_node("Dense", {"units": 2, "activation": "softmax"}, name="head")
    g.connect(g.node_by_name(name).id, head.id)
    checker = ShapeChecker(g)
    checker.refresh()
    assert not checker.errors(), checker.errors()
    block_state = checker.states[g.node_by_name(name).id]
    assert block_state.params == source.count_params() and block_state.trainable_params == 0
    model = compile_graph(g, {g.nodes[i].name: w for i, w in added.items()})
    x = _images()
    inner = model.get_layer(name)
    assert np.abs(inner.predict(x / 127.5 - 1, verbose=0) - source.predict(x / 127.5 - 1, verbose=0)).max() == 0


def test_weights_that_do_not_fit_or_are_not_weights_are_refused(tmp_path):
    other = pretrained.build_backbone("MobileNetV2", 32, None)
    path = tmp_path / "other.weights.h5"
    pretrained.build_backbone("VGG16", 32, None).save_weights(path)
    with pytest.raises(pretrained.PretrainedError, match="do not fit"):
        pretrained.load_weights_file(other, path)
    with pytest.raises(pretrained.PretrainedError, match="folder"):
        pretrained.load_weights_file(other, tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(pretrained.PretrainedError, match="pick a weights file"):
        pretrained.load_weights_file(other, tmp_path / "notes.txt")
    (tmp_path / "fake.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(pretrained.PretrainedError):
        pretrained.load_weights_file(other, tmp_path / "fake.h5")


def test_imagenet_weights_are_downloaded_only_on_request_and_offline_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    info = pretrained.imagenet_file("MobileNetV2", 96, "avg")  # Keras's own lookup, nothing fetched
    assert info.url.startswith("https://") and info.file_name.endswith("no_top.h5")

    def refused(*_args, **_kwargs):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(pretrained.urllib.request, "urlopen", refused)
    with pytest.raises(pretrained.DownloadError) as error:
        pretrained.make_backbone("MobileNetV2", 96, "avg", source="imagenet")
    message = str(error.value)
    assert "could not download" in message and "network" in message and "\n" not in message
    assert not list((tmp_path / "keras").rglob("*.part"))


def test_a_download_reports_progress_checks_the_hash_and_lands_in_kerass_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    served = tmp_path / "served.h5"
    pretrained.build_backbone("MobileNetV2", 96, "avg").save_weights(tmp_path / "w.weights.h5")
    served.write_bytes((tmp_path / "w.weights.h5").read_bytes())
    digest = hashlib.sha256(served.read_bytes()).hexdigest()
    fake = pretrained.WeightsFile(served.as_uri(), "mobilenet_no_top.h5", digest, "models")
    monkeypatch.setattr(pretrained, "imagenet_file", lambda *_a: fake)
    seen = []
    path = pretrained.download_imagenet("MobileNetV2", 96, "avg", lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "keras" / "models" / "mobilenet_no_top.h5" and path.read_bytes() == served.read_bytes()
    assert seen and seen[-1][0] == served.stat().st_size
    bad = pretrained.WeightsFile(served.as_uri(), "other_no_top.h5", "0" * 64, "models")
    monkeypatch.setattr(pretrained, "imagenet_file", lambda *_a: bad)
    with pytest.raises(pretrained.DownloadError, match="hash"):
        pretrained.download_imagenet("MobileNetV2", 96, "avg")
    assert not (tmp_path / "keras" / "models" / "other_no_top.h5").exists()
    cancelled = pretrained.WeightsFile(served.as_uri(), "third_no_top.h5", digest, "models")
    monkeypatch.setattr(pretrained, "imagenet_file", lambda *_a: cancelled)
    with pytest.raises(pretrained.DownloadError, match="cancelled"):
        pretrained.download_imagenet("MobileNetV2", 96, "avg", lambda done, total: False)


@pytest.mark.parametrize("name", [n if n in ("MobileNetV2", "VGG16") else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(pretrained.BACKBONES)])
def test_every_offered_backbone_becomes_an_exact_block(name):
    spec = pretrained.BACKBONES[name]
    size = max(spec.min_size, 32)
    source = pretrained.build_backbone(name, size, "avg")
    config = pretrained.backbone_block(source, trainable=True)
    from studio.engine.blocks import build_block
    rebuilt = build_block(source.name, config)
    rebuilt.set_weights(source.get_weights())
    x = _images(2, size)
    assert np.abs(rebuilt.predict(x, verbose=0) - source.predict(x, verbose=0)).max() <= 1e-5
