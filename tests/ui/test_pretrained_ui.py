"""The Pretrained section of the palette: a backbone is added as a block with its
preprocessing and starting weights, in one undo step."""

from __future__ import annotations

import numpy as np

from studio.engine import pretrained
from studio.ui.pretrained_dialog import PREFIX, PretrainedDialog


def test_the_palette_offers_the_pretrained_networks(qtbot, window):
    for name in ("VGG16", "ResNet50", "MobileNetV2", "EfficientNetB0", "Xception", "DenseNet121", "ConvNeXtTiny"):
        assert PREFIX + name in window.palette.items
    window.palette.filter("mobilenet")
    assert PREFIX + "MobileNetV2" in window.palette.visible_names()
    window.palette.filter("")


def test_the_dialog_defaults_to_frozen_imagenet_weights_and_random_ones_train(qtbot, window):
    dialog = PretrainedDialog("Xception", window)
    qtbot.addWidget(dialog)
    choice = dialog.choice()
    assert choice == {"name": "Xception", "size": 299, "pooling": "avg", "source": "imagenet", "path": None,
                      "preprocess": True, "trainable": False}
    assert dialog.size.minimum() == 71
    dialog.random.setChecked(True)
    assert dialog.choice()["trainable"] is True and dialog.choice()["source"] == "random"
    assert not PretrainedDialog("EfficientNetB0", window).preprocess.isEnabled()  # built into the network


def test_a_backbone_from_a_weights_file_is_added_with_its_weights_in_one_undo_step(qtbot, window, tmp_path):
    source = pretrained.build_backbone("MobileNetV2", 32, "avg")
    path = tmp_path / "mine.weights.h5"
    source.save_weights(path)
    g = window.document.graph
    before = g.to_dict()
    window.pretrained.add({"name": "MobileNetV2", "size": 32, "pooling": "avg", "source": "file",
                           "path": str(path), "preprocess": True, "trainable": False}, wait=True)
    qtbot.waitUntil(lambda: any(n.class_name == "Block" for n in g.nodes.values()), timeout=20000)
    window.flush_updates()
    block = next(n for n in g.nodes.values() if n.class_name == "Block")
    pre = g.node_by_name("mobilenetv2_preprocess")
    assert g.inputs_of(block.id) == {0: (pre.id, 0)}
    assert window.root_scene.node_items[block.id].frozen
    saved = window.document.weights_by_name("imported")[block.name]
    assert all(np.array_equal(a, b) for a, b in zip(saved, source.get_weights()))
    window.undo_stack.undo()
    assert g.to_dict() == before and block.name not in window.document.weights_by_name("imported")
    window.undo_stack.redo()
    assert block.name in window.document.weights_by_name("imported")


def test_a_failed_download_says_why_in_one_message(qtbot, window, monkeypatch):
    import urllib.error
    shown = []
    monkeypatch.setattr("PySide6.QtWidgets.QMessageBox.warning", lambda *a, **k: shown.append(a[2]))
    monkeypatch.setenv("KERAS_HOME", str(window.document.path or "/nonexistent-keras-home"))

    def refused(*_a, **_k):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(pretrained.urllib.request, "urlopen", refused)
    before = window.document.graph.to_dict()
    window.pretrained.add({"name": "MobileNetV2", "size": 96, "pooling": "avg", "source": "imagenet",
                           "path": None, "preprocess": True, "trainable": False}, wait=True)
    qtbot.waitUntil(lambda: bool(shown), timeout=20000)
    assert "could not download" in shown[0] and "network" in shown[0]
    assert window.document.graph.to_dict() == before
