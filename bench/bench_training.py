"""Training through the engine vs a plain model.fit, and the starter's accuracy.

Targets (issue 4): the engine reaches >= 0.97x the samples per second of a
plain ``model.fit`` (no callbacks) of the same model and data; the starter
convnet reaches >= 98% accuracy on the sample's held-out part after 3 epochs.
Both paths run in the same process, interleaved, after a warm-up. As timeit
does, garbage is collected before each timed run and the collector is paused
during it: a full collection with TensorFlow loaded takes ~150 ms and would
land at random in one run or the other.
"""

import contextlib
import gc
import math
import statistics
import sys
import time

from common import interleaved_pairs, report

import keras

from studio.engine import datasets, templates
from studio.engine.compiler import compile_graph
from studio.engine.train import Trainer, TrainingConfig


SEEDS = (42, 7, 2024, 1, 2)


def starter():
    project = templates.build(templates.STARTER)
    return project


@contextlib.contextmanager
def no_gc():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def plain_fit(project, x, y, epochs, seed):
    keras.utils.set_random_seed(seed)
    model = compile_graph(project.graph)
    cfg = TrainingConfig.from_dict(project.training)
    rate = cfg.learning_rate
    if cfg.lr_schedule == "cosine":  # Keras's own CosineDecay over the whole run
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=epochs * -(-len(x) // cfg.batch_size))
    optimizer = getattr(keras.optimizers, {"rmsprop": "RMSprop", "adam": "Adam", "sgd": "SGD"}[cfg.optimizer])(
        learning_rate=rate, **({"momentum": cfg.momentum} if cfg.optimizer in ("rmsprop", "sgd") else {}))
    model.compile(optimizer=optimizer, loss=cfg.loss, metrics=list(cfg.metrics))
    with no_gc():
        t = time.perf_counter()
        model.fit(x, y, batch_size=cfg.batch_size, epochs=epochs, verbose=0, shuffle=True)
        elapsed = time.perf_counter() - t
    return len(x) * epochs / elapsed, model


def engine_fit(project, dataset, epochs, seed):
    project.training["shuffle_seed"] = seed
    trainer = Trainer(project, dataset)
    trainer.config.validation = "none"
    with no_gc():
        summary = trainer.run_training(epochs)
    # the time model.fit took, as for the baseline (model building is timed by neither)
    return len(dataset.x_train) * epochs / summary["seconds"], trainer, summary


def callback_cost(dataset, epochs=2):
    """CPU time spent inside the engine callback's hooks (every thread), per
    batch and as a share of the fit's wall time: an upper bound on what the
    callback costs, and far less noisy than a ratio of two runs' speeds."""
    from studio.engine.train import trainer as training
    original = training._StudioCallback
    spent = [0.0, 0]

    def timed(trainer):
        callback = original(trainer)
        for name in ("on_train_batch_begin", "on_train_batch_end", "on_epoch_begin", "on_epoch_end"):
            hook = getattr(callback, name)

            def wrapper(*args, _hook=hook, _name=name, **kwargs):
                t = time.thread_time()
                try:
                    return _hook(*args, **kwargs)
                finally:
                    spent[0] += time.thread_time() - t
                    spent[1] += _name == "on_train_batch_end"
            setattr(callback, name, wrapper)
        return callback

    training._StudioCallback = timed
    try:
        _, _, summary = engine_fit(starter(), dataset, epochs, 99)
    finally:
        training._StudioCallback = original
    return spent[0] / spent[1], spent[0] / summary["seconds"], summary["seconds"] / spent[1]


def main():
    only_speed = "--speed" in sys.argv
    dataset = datasets.bundled_sample()
    project = starter()
    pre = datasets.Preprocess.from_dict(project.dataset.get("preprocess"))
    x, y, x_test, y_test = pre.apply(dataset)
    plain_fit(project, x[:1024], y[:1024], 1, 0)  # warm-up
    # seeds 1..8, each order equally often
    plain, engine, ratios = interleaved_pairs(lambda k: plain_fit(project, x, y, 2, k + 1)[0],
                                              lambda k: engine_fit(starter(), dataset, 2, k + 1)[0],
                                              8, ("plain", "engine"))
    per_batch, share, batch_seconds = callback_cost(dataset)
    # geometric mean of the per-pair ratios: with both orders equally often,
    # an order effect cancels out
    ratio = math.exp(statistics.fmean(math.log(r) for r in ratios))
    speed_rows = [
        {"what": "baseline: plain model.fit, starter convnet, 8,000 digits, batch 64",
         "value": f"{statistics.median(plain):,.0f} samples/s", "target": "reference"},
        {"what": "engine Trainer (events, pause/stop checks, NaN guard)",
         "value": f"{statistics.median(engine):,.0f} samples/s", "target": ""},
        {"what": "ratio engine / plain fit, geometric mean of 8 interleaved pairs", "value": f"{ratio:.3f}x "
         f"(pairs {min(ratios):.3f}-{max(ratios):.3f})", "target": ">= 0.97x", "ok": ratio >= 0.97},
        {"what": "engine callback's own CPU time (all its hooks, every thread)",
         "value": f"{per_batch * 1e6:,.0f} us per batch of {batch_seconds * 1e3:.1f} ms = {share:.2%} of the fit",
         "target": "<= 3%", "ok": share <= 0.03},
    ]
    if only_speed:
        return report("training_speed", speed_rows)
    accs = []
    for seed in SEEDS:
        p = starter()
        p.training["shuffle_seed"] = seed
        t = Trainer(p, dataset)
        t.run_training(3)
        accs.append(t.history_epochs[-1]["val_accuracy"])
    plain_accs = []
    for seed in SEEDS:
        _, model = plain_fit(starter(), x, y, 3, seed)
        plain_accs.append(model.evaluate(x_test, y_test, verbose=0)[1])
    rows = speed_rows + [
        {"what": f"starter held-out accuracy after 3 epochs (seeds {', '.join(map(str, SEEDS))})",
         "value": ", ".join(f"{a:.4f}" for a in accs) + f" (median {statistics.median(accs):.4f})",
         "target": ">= 0.98", "ok": statistics.median(accs) >= 0.98},
        {"what": "baseline: plain Keras (RMSprop + CosineDecay), same model, data and seeds",
         "value": ", ".join(f"{a:.4f}" for a in plain_accs), "target": "reference"},
    ]
    return report("training", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
