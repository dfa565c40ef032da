"""The starter project and templates, built with the engine's own API.

``python -m studio.engine.templates`` writes them to ``assets/templates``;
a test checks that the committed files match what this module builds.
"""

from __future__ import annotations

import copy
from pathlib import Path

from studio.engine.graph import ModelGraph
from studio.engine.layout import layered_layout
from studio.engine.project import Project, default_training

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets"
TEMPLATES_DIR = ASSETS / "templates"

# the models rescale inside (a Rescaling layer), so the data stays 0..255
MNIST_SAMPLE = {"kind": "builtin", "name": "mnist-sample",
                "preprocess": {"scale": False, "layout": "keep", "channel_axis": True, "labels": "integer"}}


def _chain(g: ModelGraph, *specs):
    nodes = []
    for spec in specs:
        class_name, config = spec[0], spec[1]
        name = spec[2] if len(spec) > 2 else None
        node = g.add_node(class_name, config, name=name)
        if nodes:
            g.connect(nodes[-1].id, node.id, 0)
        nodes.append(node)
    return nodes


def _training(**overrides):
    t = default_training()
    t.update(overrides)
    return t


def mnist_dense() -> Project:
    """The book's first network: two Dense layers on flattened digits."""
    g = ModelGraph("mnist_dense")
    _chain(g, ("InputLayer", {"shape": [28, 28, 1]}, "digits"),
           ("Rescaling", {"scale": 1 / 255, "offset": 0.0}, "scale"),
           ("Flatten", {}, "flatten"),
           ("Dense", {"units": 512, "activation": "relu"}, "hidden"),
           ("Dense", {"units": 10, "activation": "softmax"}, "classes"))
    return Project(graph=g, dataset=copy.deepcopy(MNIST_SAMPLE),
                   training=_training(optimizer="rmsprop", batch_size=128, epochs=5))


def mnist_convnet() -> Project:
    """The book's small MNIST convnet: three Conv2D, two max-pools, softmax."""
    g = ModelGraph("mnist_convnet")
    _chain(g, ("InputLayer", {"shape": [28, 28, 1]}, "digits"),
           ("Rescaling", {"scale": 1 / 255, "offset": 0.0}, "scale"),
           ("Conv2D", {"filters": 32, "kernel_size": [3, 3], "activation": "relu"}, "conv1"),
           ("MaxPooling2D", {"pool_size": [2, 2]}, "pool1"),
           ("Conv2D", {"filters": 64, "kernel_size": [3, 3], "activation": "relu"}, "conv2"),
           ("MaxPooling2D", {"pool_size": [2, 2]}, "pool2"),
           ("Conv2D", {"filters": 128, "kernel_size": [3, 3], "activation": "relu"}, "conv3"),
           ("Flatten", {}, "flatten"),
           ("Dense", {"units": 10, "activation": "softmax"}, "classes"))
    # RMSprop with momentum and a cosine decay over the run: >= 98.5 % held out after 3 epochs
    return Project(graph=g, dataset=copy.deepcopy(MNIST_SAMPLE),
                   training=_training(optimizer="rmsprop", learning_rate=0.001, momentum=0.9,
                                      lr_schedule="cosine", batch_size=64, epochs=3))


def residual_separable() -> Project:
    """A mini-Xception: separable-convolution blocks with residual shortcuts."""
    g = ModelGraph("residual_separable")
    _, _, x = _chain(g, ("InputLayer", {"shape": [32, 32, 3]}, "image"),
                     ("Rescaling", {"scale": 1 / 255, "offset": 0.0}, "scale"),
                     ("Conv2D", {"filters": 32, "kernel_size": [5, 5], "use_bias": False}, "stem"))
    for k, filters in enumerate((32, 64, 128), start=1):
        residual = x
        b = _attach(g, x, ("BatchNormalization", {}, f"b{k}_bn1"), ("Activation", {"activation": "relu"}, f"b{k}_relu1"),
                    ("SeparableConv2D", {"filters": filters, "kernel_size": [3, 3], "padding": "same", "use_bias": False}, f"b{k}_sep1"),
                    ("BatchNormalization", {}, f"b{k}_bn2"), ("Activation", {"activation": "relu"}, f"b{k}_relu2"),
                    ("SeparableConv2D", {"filters": filters, "kernel_size": [3, 3], "padding": "same", "use_bias": False}, f"b{k}_sep2"),
                    ("MaxPooling2D", {"pool_size": [3, 3], "strides": [2, 2], "padding": "same"}, f"b{k}_pool"))
        shortcut = _attach(g, residual, ("Conv2D", {"filters": filters, "kernel_size": [1, 1], "strides": [2, 2],
                                                    "padding": "same", "use_bias": False}, f"b{k}_shortcut"))
        add = g.add_node("Add", {}, name=f"b{k}_add")
        g.connect(b.id, add.id, 0)
        g.connect(shortcut.id, add.id, 1)
        x = add
    _attach(g, x, ("GlobalAveragePooling2D", {}, "gap"), ("Dropout", {"rate": 0.5}, "dropout"),
            ("Dense", {"units": 10, "activation": "softmax"}, "classes"))
    return Project(graph=g, dataset=None, training=_training(epochs=10, batch_size=32))


def _attach(g: ModelGraph, start, *specs):
    prev = start
    for class_name, config, name in specs:
        node = g.add_node(class_name, config, name=name)
        g.connect(prev.id, node.id, 0)
        prev = node
    return prev


def bilstm_text() -> Project:
    """A text classifier: token embeddings into a bidirectional LSTM."""
    g = ModelGraph("bilstm_text")
    _chain(g, ("InputLayer", {"shape": [200], "dtype": "int64"}, "tokens"),
           ("Embedding", {"input_dim": 20000, "output_dim": 128}, "embedding"),
           ("Bidirectional", {"layer": {"class_name": "LSTM", "config": {"units": 32}}}, "bilstm"),
           ("Dropout", {"rate": 0.5}, "dropout"),
           ("Dense", {"units": 1, "activation": "sigmoid"}, "positive"))
    return Project(graph=g, dataset=None,
                   training=_training(loss="binary_crossentropy", epochs=10, batch_size=32))


def ticket_router() -> Project:
    """Three inputs, two outputs: the book's customer-ticket model."""
    g = ModelGraph("ticket_router")
    title = g.add_node("InputLayer", {"shape": [10000]}, name="title")
    body = g.add_node("InputLayer", {"shape": [10000]}, name="text_body")
    tags = g.add_node("InputLayer", {"shape": [100]}, name="tags")
    features = g.add_node("Concatenate", {}, name="features")
    for k, n in enumerate((title, body, tags)):
        g.connect(n.id, features.id, k)
    hidden = _attach(g, features, ("Dense", {"units": 64, "activation": "relu"}, "hidden"))
    priority = _attach(g, hidden, ("Dense", {"units": 1, "activation": "sigmoid"}, "priority"))
    department = _attach(g, hidden, ("Dense", {"units": 4, "activation": "softmax"}, "department"))
    g.set_outputs([priority.id, department.id])
    return Project(graph=g, dataset=None,
                   training=_training(loss="mean_squared_error", metrics=["mean_absolute_error"], epochs=1))


PRETRAINED_DIR = ASSETS / "pretrained"
DIGITS_BASE = PRETRAINED_DIR / "digits_conv_base.h5"   # written by tools/pretrain_digits_base.py


def digits_conv_base(trainable: bool = False) -> dict:
    """A small convolutional base for 28×28×1 digits, as a sequential block: three
    conv stages, the last with BatchNormalization (Deep Learning with Python's advice
    to keep those frozen while fine-tuning then shows in the run)."""
    from studio.engine.blocks import block_config, with_trainable
    inner = ModelGraph("conv_base")
    _chain(inner, ("InputLayer", {"shape": [28, 28, 1]}, "base_input"),
           ("Conv2D", {"filters": 16, "kernel_size": [3, 3], "padding": "same", "activation": "relu"}, "conv1"),
           ("MaxPooling2D", {"pool_size": [2, 2]}, "pool1"),
           ("Conv2D", {"filters": 32, "kernel_size": [3, 3], "padding": "same", "activation": "relu"}, "conv2"),
           ("MaxPooling2D", {"pool_size": [2, 2]}, "pool2"),
           ("Conv2D", {"filters": 64, "kernel_size": [3, 3], "padding": "same", "use_bias": False}, "conv3"),
           ("BatchNormalization", {}, "bn3"),
           ("Activation", {"activation": "relu"}, "relu3"))
    layered_layout(inner)
    return with_trainable(block_config(inner, "sequential"), trainable)


def fine_tuning_digits() -> Project:
    """The book's two-stage recipe on the bundled digits: a convolutional base pretrained
    here on the digits 0–4 only (tools/pretrain_digits_base.py), frozen, under a new head
    for all ten classes; stage 1 trains the head, stage 2 unfreezes the last conv stage
    ('conv_base › conv3'; its BatchNormalization stays frozen) at a tenth of the rate."""
    from studio.engine.project import load_weights
    g = ModelGraph("fine_tuning_digits")
    _chain(g, ("InputLayer", {"shape": [28, 28, 1]}, "digits"),
           ("Rescaling", {"scale": 1 / 255, "offset": 0.0}, "scale"),
           ("Block", digits_conv_base(trainable=False), "conv_base"),
           ("GlobalAveragePooling2D", {}, "gap"),
           ("Dense", {"units": 64, "activation": "relu"}, "hidden"),
           ("Dropout", {"rate": 0.3}, "dropout"),
           ("Dense", {"units": 10, "activation": "softmax"}, "classes"))
    weights = load_weights(DIGITS_BASE) if DIGITS_BASE.exists() else {}
    return Project(graph=g, dataset=copy.deepcopy(MNIST_SAMPLE), weights=weights,
                   training=_training(optimizer="rmsprop", learning_rate=0.001, batch_size=64, epochs=2,
                                      fine_tune={"unfreeze_from": "conv_base › conv3", "epochs": 2,
                                                 "learning_rate": 0.0001}))


TEMPLATES = {
    "mnist_dense": ("MNIST dense network", mnist_dense),
    "mnist_convnet": ("MNIST convnet (starter)", mnist_convnet),
    "residual_separable": ("Residual separable-conv blocks", residual_separable),
    "bilstm_text": ("Bidirectional-LSTM text classifier", bilstm_text),
    "ticket_router": ("Three inputs, two outputs", ticket_router),
    "fine_tuning_digits": ("Fine-tuning a pretrained base (two stages)", fine_tuning_digits),
}
STARTER = "mnist_convnet"


def build(name: str) -> Project:
    project = TEMPLATES[name][1]()
    layered_layout(project.graph)
    return project


def template_path(name: str) -> Path:
    return TEMPLATES_DIR / f"{name}.studio"


def write_all(directory: Path = TEMPLATES_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [build(name).save(directory / f"{name}.studio") for name in TEMPLATES]


if __name__ == "__main__":
    for p in write_all():
        print("wrote", p)
