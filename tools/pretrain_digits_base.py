"""Pretrain the fine-tuning template's convolutional base on the bundled digits.

The base (``studio.engine.templates.digits_conv_base``) is trained with a small
throwaway head on the training digits 0–4 only, so that the template's frozen
base is a real pretrained one whose features transfer, not quite perfectly, to
all ten classes: the situation the book's two-stage recipe is for. Its weights
are written, in Layer Studio's weights format under the block's name
('conv_base'), to ``assets/pretrained/digits_conv_base.h5``; then run
``python -m studio.engine.templates`` to write the template.

Deterministic on one machine (fixed seeds, one thread for TensorFlow's ops).
Run: ``python tools/pretrain_digits_base.py`` (about 20 s on two CPU cores).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")


def main() -> int:
    import keras
    import numpy as np
    import tensorflow as tf

    from studio.engine import datasets, templates
    from studio.engine.blocks import build_block, with_trainable
    from studio.engine.project import save_weights

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    keras.utils.set_random_seed(1234)
    ds = datasets.bundled_sample()
    keep = ds.y_train < 5
    x = ds.x_train[keep].astype("float32")[..., None] / 255.0
    y = ds.y_train[keep]
    base = build_block("conv_base", with_trainable(templates.digits_conv_base(), True))
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(base(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=3, shuffle=True, verbose=2)
    test = ds.y_test < 5
    loss, acc = model.evaluate(ds.x_test[test].astype("float32")[..., None] / 255.0, ds.y_test[test], verbose=0)
    print(f"held-out digits 0-4: accuracy {acc:.4f}")
    out = templates.DIGITS_BASE
    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights({"conv_base": [np.asarray(w) for w in base.get_weights()]}, out)
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
