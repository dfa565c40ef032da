"""Fast feature extraction: a frozen MobileNetV2 base with a softmax head, trained
by the engine with the option on, against a plain `model.fit` of the same model.

Targets (issue 10): epochs 2-N with the option take <= 0.25x the time of the
same epochs of a plain fit, measured in the same run, and the head reaches the
same validation accuracy within 1 % (same seeds).

The model: keras.applications.MobileNetV2(weights=None, include_top=False,
pooling="avg", input_shape=(96, 96, 3)) with random weights made here,
imported into a project graph (studio.engine.importer, exactly), every base
layer frozen, then Dense(10, softmax). The data: the first 2,000 training
digits of the bundled sample (and 500 held-out ones as validation data),
resized to 96x96 (bilinear) and repeated to 3 channels, uint8, scaled to 0-1
by the project's preprocessing on both sides. The random base's
BatchNormalization statistics are set from one batch of those images first
(see make_project): without that its features are ~1e-12 and no head learns.

Both sides start from the same weights and seed and train with the project's
settings (Adam 1e-3, batch 64):
- plain: the same Keras model, built and compiled as the engine builds it (so
  the same starting weights), then `model.fit` with validation data,
  verbose=0, no callbacks but a clock;
- ours: the engine's `Trainer` with `feature_extraction` on, as the Training
  tab and `layer-studio train` run it, writing its run folder (best weights,
  histograms, history, TensorBoard) every epoch. Its caching pass (the frozen
  base over the 2,500 images, once) happens before epoch 1.
Epochs 2-N are timed from the end of epoch 1 to the end of epoch N on each
side (everything between included: validation, the run folder). The whole
run (model build, caching, all epochs) is reported too. Pairs alternate their
order; ratios are geometric means over pairs.

    .venv/bin/python bench/bench_feature_extraction.py [--epochs 4] [--pairs 2]
"""

import argparse
import gc
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import load, report

SEED = 42


def make_data(n_train, n_val):
    """The sample's digits at 96x96x3, uint8 (resized once, before any timing)."""
    import numpy as np
    import tensorflow as tf

    from studio.engine import datasets

    sample = datasets.bundled_sample()

    def big(x):
        out = []
        for k in range(0, len(x), 500):
            part = tf.image.resize(x[k:k + 500, :, :, None].astype("float32"), (96, 96), method="bilinear")
            out.append(np.clip(np.rint(part.numpy()), 0, 255).astype("uint8"))
        return np.repeat(np.concatenate(out), 3, axis=-1)

    return datasets.Dataset("digits-96x96x3", big(sample.x_train[:n_train]), sample.y_train[:n_train].copy(),
                            big(sample.x_test[:n_val]), sample.y_test[:n_val].copy(), sample.class_names,
                            "bundled sample, resized")


def make_project(batch_size, calibration):
    """MobileNetV2 (random weights made here) imported as a flat graph, frozen, plus a Dense head.

    Straight from its initializers the random base gives features of about 1e-12 (every
    BatchNormalization still holds mean 0, variance 1), on which no head learns anything.
    So its BatchNormalization statistics are set from one batch of the training images
    (momentum 0, one call in training mode), as pretrained weights would have them."""
    import keras

    from studio.engine.importer import graph_from_model
    from studio.engine.project import Project
    from studio.engine.train import TrainingConfig

    keras.utils.set_random_seed(SEED)
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(96, 96, 3), pooling="avg")
    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    base(calibration, training=True)
    for layer in norms:
        layer.momentum = 0.999
    graph, weights = graph_from_model(base)
    del base
    keras.backend.clear_session()
    for node in graph.nodes.values():
        if not node.spec.is_input:
            graph.set_param(node.id, "trainable", False)
    (end,) = graph.model_outputs()
    head = graph.add_node("Dense", {"units": 10, "activation": "softmax"}, name="classes")
    graph.connect(end, head.id, 0)
    graph.set_outputs([head.id])
    training = TrainingConfig(optimizer="adam", learning_rate=1e-3, batch_size=batch_size, epochs=2,
                              validation="held_out", shuffle_seed=SEED).to_dict()
    return Project(graph=graph, dataset=None, training=training, weights=weights)


def plain(project, dataset, epochs):
    """A plain fit of the same model: (end of each epoch after the start, val accuracies, whole seconds)."""
    import keras

    from studio.engine import datasets
    from studio.engine.train import Trainer, TrainingConfig

    config = TrainingConfig.from_dict(project.training)
    x, y, x_test, y_test = datasets.Preprocess().apply(dataset)
    ends = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append(time.perf_counter())

    t0 = time.perf_counter()
    keras.utils.set_random_seed(SEED)
    # built and compiled as the engine does (its checks draw on the seed too): the same starting weights
    model = Trainer(project, dataset).build()
    history = model.fit(x, y, batch_size=config.batch_size, epochs=epochs, validation_data=(x_test, y_test),
                        shuffle=True, verbose=0, callbacks=[Clock()])
    whole = time.perf_counter() - t0
    return [e - t0 for e in ends], history.history["val_accuracy"], whole, None


def ours(project, dataset, epochs, runs_dir):
    """The engine's Trainer with feature_extraction on, writing its run folder."""
    from studio.engine.train import Trainer

    fast = with_training(project, feature_extraction=True)
    ends = []
    t0 = time.perf_counter()
    trainer = Trainer(fast, dataset, runs_dir=runs_dir)
    trainer.epoch_ended.connect(lambda e, logs: ends.append(time.perf_counter()))
    summary = trainer.run_training(epochs)
    whole = time.perf_counter() - t0
    if summary["status"] != "finished":
        raise SystemExit(f"the engine's run ended '{summary['status']}'")
    return [e - t0 for e in ends], [e["val_accuracy"] for e in trainer.history_epochs], whole, \
        summary["feature_extraction"]


def with_training(project, **training):
    from studio.engine.project import Project
    return Project(graph=project.graph, dataset=project.dataset, training=dict(project.training, **training),
                   weights=project.weights)


def geomean(values):
    return math.exp(statistics.fmean(math.log(v) for v in values))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--val", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    n = args.epochs
    assert n >= 2
    import keras

    from studio.engine import runtime_gc
    runtime_gc.import_keras_settled()
    dataset = make_data(args.train, args.val)
    project = make_project(args.batch_size, dataset.x_train[:256].astype("float32") / 255.0)
    work = Path(tempfile.mkdtemp(prefix="bench-feature-extraction-"))
    loads = [load()]
    pairs = []
    try:
        for k in range(args.pairs):
            order = ("plain", "ours") if k % 2 == 0 else ("ours", "plain")
            pair = {}
            for who in order:
                keras.backend.clear_session()
                gc.collect()
                if who == "plain":
                    pair[who] = plain(project, dataset, n)
                else:
                    pair[who] = ours(project, dataset, n, work / f"runs-{k}")
                ends, acc, whole, _ = pair[who]
                print(f"pair {k + 1} {who}: epoch ends {', '.join(f'{e:.1f}' for e in ends)} s; "
                      f"val accuracy {', '.join(f'{a:.4f}' for a in acc)}; whole {whole:.1f} s", flush=True)
            pairs.append(pair)
            loads.append(load())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def later(p, who):   # epochs 2-N
        ends = p[who][0]
        return ends[-1] - ends[0]

    ratios = [later(p, "ours") / later(p, "plain") for p in pairs]
    whole_ratios = [p["ours"][2] / p["plain"][2] for p in pairs]
    acc_diffs = [abs(p["ours"][1][-1] - p["plain"][1][-1]) for p in pairs]
    ratio = geomean(ratios)
    info = pairs[-1]["ours"][3]
    frozen = info["frozen_params"]

    def med(values):
        return statistics.median(values)

    def spread(values):
        return f"pairs {min(values):.3f}-{max(values):.3f}" if len(values) > 1 else "one pair"

    rows = [
        {"what": f"baseline: plain model.fit, MobileNetV2 96x96x3 (frozen, {frozen:,} weights) + Dense(10) head, "
                 f"{args.train:,} digits + {args.val:,} validation, batch {args.batch_size}: epochs 2-{n}",
         "value": f"{med([later(p, 'plain') for p in pairs]):.2f} s "
                  f"({med([later(p, 'plain') for p in pairs]) / (n - 1):.2f} s an epoch)", "target": "reference"},
        {"what": "engine Trainer, fast feature extraction on (run folder written): epochs 2-" + str(n),
         "value": f"{med([later(p, 'ours') for p in pairs]):.3f} s "
                  f"({med([later(p, 'ours') for p in pairs]) / (n - 1):.3f} s an epoch)", "target": ""},
        {"what": f"ratio epochs 2-{n}, ours / plain fit, geometric mean over {len(pairs)} pair(s)",
         "value": f"{ratio:.4f}x ({spread(ratios)})", "target": "<= 0.25x", "ok": ratio <= 0.25},
        {"what": "final validation accuracy, ours vs plain (same seeds)",
         "value": "; ".join(f"{p['ours'][1][-1]:.4f} vs {p['plain'][1][-1]:.4f}" for p in pairs)
                  + f" (largest difference {max(acc_diffs):.4f})", "target": "<= 0.01", "ok": max(acc_diffs) <= 0.01},
        {"what": "the caching pass (frozen base over training + validation images, once) and the Trainer's "
                 "estimate of a plain epoch",
         "value": f"{info['cache_seconds']:.1f} s for {info['samples']:,} images, cut at {info['cut']} (the pass at "
                  f"its steady pace, without tracing the model: {info['pass_seconds']:.1f} s); estimated "
                  f"plain epoch {info['estimated_plain_epoch_seconds']:.1f} s (measured "
                  f"{med([later(p, 'plain') for p in pairs]) / (n - 1):.1f} s)", "target": "informational"},
        {"what": f"whole run ({n} epochs, model build and caching included), ours / plain",
         "value": f"{geomean(whole_ratios):.3f}x ({spread(whole_ratios)}); medians ours "
                  f"{med([p['ours'][2] for p in pairs]):.1f} s, plain {med([p['plain'][2] for p in pairs]):.1f} s",
         "target": "informational"},
        {"what": "machine load (1-minute average) before, after each pair",
         "value": ", ".join(f"{x:.2f}" for x in loads), "target": "informational"},
    ]
    return report("feature_extraction", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
