"""Whole processes: `layer-studio train` vs a plain Keras script doing the same fit.

Targets (issue 8): per epoch, `layer-studio train` costs <= 1.0x the CPU time
of a plain Keras script, and a whole N-epoch process <= 1.05x.

Both train the starter convnet (assets/templates/mnist_convnet.studio) on the
bundled MNIST sample (8,000 digits, the 2,000 held-out ones as validation
data), batch size and seed from the project, RMSprop with momentum and a
cosine decay of the learning rate over the run. The plain script loads the
data through studio.engine.datasets (numpy only) and builds the model with
keras.layers by hand; it prints no progress (verbose=0), the cheapest a plain
fit gets. `layer-studio train` writes its whole run folder (config, history,
best weights each epoch, TensorBoard scalars) and its progress line.

Each is run as a separate process for N epochs and for 1 epoch; the CPU time
(user + system, all threads, from os.wait4) of N epochs minus 1 epoch,
divided by N - 1, is the cost of an epoch without the start-up. The four
runs of a pair go in an order that alternates between pairs; the ratios
reported are geometric means of the per-pair ratios.

    .venv/bin/python bench/bench_train_process.py [--epochs 5] [--pairs 4]
"""

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from common import load, report, run_child

ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "assets" / "templates" / "mnist_convnet.studio"

PLAIN_SCRIPT = '''"""Plain Keras: the starter convnet on the bundled digit sample, validated on the held-out digits."""
import json
import sys

import keras
from keras import layers

from studio.engine import datasets

epochs, batch_size, seed, rate, momentum = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), \\
    float(sys.argv[5])
preprocess = datasets.Preprocess.from_dict(json.loads(sys.argv[6]))
x, y, x_test, y_test = preprocess.apply(datasets.bundled_sample())

keras.utils.set_random_seed(seed)
inputs = keras.Input(shape=(28, 28, 1))
h = layers.Rescaling(1.0 / 255)(inputs)
h = layers.Conv2D(32, (3, 3), activation="relu")(h)
h = layers.MaxPooling2D((2, 2))(h)
h = layers.Conv2D(64, (3, 3), activation="relu")(h)
h = layers.MaxPooling2D((2, 2))(h)
h = layers.Conv2D(128, (3, 3), activation="relu")(h)
h = layers.Flatten()(h)
model = keras.Model(inputs, layers.Dense(10, activation="softmax")(h))
steps = epochs * -(-len(x) // batch_size)
model.compile(optimizer=keras.optimizers.RMSprop(keras.optimizers.schedules.CosineDecay(rate, steps), momentum=momentum),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_data=(x_test, y_test), verbose=0)
print(json.dumps({"params": model.count_params(), "val_accuracy": history.history["val_accuracy"][-1]}))
'''


def layer_studio():
    """The `layer-studio` command of this interpreter's environment (or `python -m studio`, the same main)."""
    script = Path(sys.executable).parent / "layer-studio"
    return [str(script)] if script.exists() else [sys.executable, "-m", "studio"]


class Runner:
    def __init__(self, work: Path):
        from studio.engine.project import load_project
        self.work = work
        project = load_project(STARTER)
        training = project.training
        assert training.get("optimizer") == "rmsprop" and training.get("lr_schedule") == "cosine", training
        assert training.get("validation", "held_out") == "held_out", training
        self.plain_args = [str(int(training["batch_size"])), str(int(training["shuffle_seed"])),
                           str(float(training["learning_rate"])), str(float(training["momentum"])),
                           json.dumps(project.dataset.get("preprocess") or {})]
        self.script = work / "plain_fit.py"
        self.script.write_text(PLAIN_SCRIPT)
        self.count = 0
        self.params = None
        from studio.engine.shapes import ShapeChecker
        checker = ShapeChecker(project.graph)
        checker.refresh()
        self.project_params = checker.total_params()

    def _run(self, cmd, what):
        self.count += 1
        out = self.work / f"out-{self.count}.txt"
        with open(out, "w") as f:
            cpu, wall, code = run_child(cmd, cwd=self.work, stdout=f, stderr=f,
                                        env=dict(os.environ, PYTHONPATH=str(ROOT)))
        text = out.read_text()
        if code != 0:
            raise SystemExit(f"{what} failed (exit {code}):\n{text[-3000:]}")
        return cpu, wall, text

    def ours(self, epochs):
        run = self.work / f"run-{self.count}"
        cpu, wall, _ = self._run([*layer_studio(), "train", str(STARTER), "--epochs", str(epochs), "--out", str(run)],
                                 "layer-studio train")
        shutil.rmtree(run, ignore_errors=True)
        return cpu, wall

    def plain(self, epochs):
        cpu, wall, text = self._run([sys.executable, str(self.script), str(epochs), *self.plain_args], "plain script")
        params = json.loads(text.strip().splitlines()[-1])["params"]
        if params != self.project_params:
            raise SystemExit(f"the plain script's model has {params:,} parameters, the project {self.project_params:,}")
        self.params = params
        return cpu, wall


def geomean(values):
    return math.exp(statistics.fmean(math.log(v) for v in values))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args()
    n = args.epochs
    assert n >= 2
    work = Path(tempfile.mkdtemp(prefix="bench-train-process-"))
    runner = Runner(work)
    loads = [load()]
    runs = []  # per pair: {(who, epochs): (cpu, wall)}
    try:
        for k in range(args.pairs):
            order = [("ours", n), ("plain", n), ("plain", 1), ("ours", 1)]
            if k % 2:
                order = [("plain", n), ("ours", n), ("ours", 1), ("plain", 1)]
            pair = {}
            for who, epochs in order:
                pair[who, epochs] = getattr(runner, who)(epochs)
            runs.append(pair)
            loads.append(load())
            per_epoch = {who: (pair[who, n][0] - pair[who, 1][0]) / (n - 1) for who in ("ours", "plain")}
            print(f"pair {k + 1}: CPU s {n} epochs / 1 epoch / per epoch: "
                  f"ours {pair['ours', n][0]:.2f} / {pair['ours', 1][0]:.2f} / {per_epoch['ours']:.2f}, "
                  f"plain {pair['plain', n][0]:.2f} / {pair['plain', 1][0]:.2f} / {per_epoch['plain']:.2f}; "
                  f"wall {n} epochs ours {pair['ours', n][1]:.1f} s, plain {pair['plain', n][1]:.1f} s; "
                  f"load {loads[-1]:.2f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def per_epoch(pair, who, i):
        return (pair[who, n][i] - pair[who, 1][i]) / (n - 1)

    epoch_ratios = [per_epoch(p, "ours", 0) / per_epoch(p, "plain", 0) for p in runs]
    whole_ratios = [p["ours", n][0] / p["plain", n][0] for p in runs]
    start_ratios = [p["ours", 1][0] / p["plain", 1][0] for p in runs]
    wall_epoch_ratios = [per_epoch(p, "ours", 1) / per_epoch(p, "plain", 1) for p in runs]
    wall_ratios = [p["ours", n][1] / p["plain", n][1] for p in runs]
    epoch_ratio, whole_ratio = geomean(epoch_ratios), geomean(whole_ratios)

    def med(who, epochs, i=0):
        return statistics.median(p[who, epochs][i] for p in runs)

    def spread(values):
        return f"pairs {min(values):.3f}-{max(values):.3f}"

    pairs = f"{len(runs)} interleaved pairs"
    rows = [
        {"what": f"baseline: plain Keras script, starter convnet, 8,000 digits + 2,000 validation, batch "
                 f"{runner.plain_args[0]}, {runner.params:,} parameters: CPU time of a {n}-epoch / 1-epoch process, "
                 "per epoch", "value": f"{med('plain', n):.2f} s / {med('plain', 1):.2f} s / "
         f"{statistics.median(per_epoch(p, 'plain', 0) for p in runs):.2f} s (medians)", "target": "reference"},
        {"what": "`layer-studio train`, same model, data and settings, run folder written",
         "value": f"{med('ours', n):.2f} s / {med('ours', 1):.2f} s / "
                  f"{statistics.median(per_epoch(p, 'ours', 0) for p in runs):.2f} s (medians)", "target": ""},
        {"what": f"per-epoch CPU ratio ours / plain (({n} - 1 epoch) / {n - 1}), geometric mean of {pairs}",
         "value": f"{epoch_ratio:.3f}x ({spread(epoch_ratios)})", "target": "<= 1.0x", "ok": epoch_ratio <= 1.0},
        {"what": f"whole {n}-epoch process CPU ratio ours / plain, geometric mean of {pairs}",
         "value": f"{whole_ratio:.3f}x ({spread(whole_ratios)})", "target": "<= 1.05x", "ok": whole_ratio <= 1.05},
        {"what": "1-epoch process CPU ratio (start-up included)",
         "value": f"{geomean(start_ratios):.3f}x ({spread(start_ratios)})", "target": "informational"},
        {"what": f"wall time: whole {n}-epoch process ratio; per-epoch ratio",
         "value": f"{geomean(wall_ratios):.3f}x ({spread(wall_ratios)}); {geomean(wall_epoch_ratios):.3f}x "
                  f"({spread(wall_epoch_ratios)}); {n}-epoch medians ours {med('ours', n, 1):.1f} s, plain "
                  f"{med('plain', n, 1):.1f} s", "target": "informational"},
        {"what": "machine load (1-minute average) before, after each pair",
         "value": ", ".join(f"{x:.2f}" for x in loads), "target": "informational"},
    ]
    return report("train_process", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
