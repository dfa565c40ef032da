#!/usr/bin/env bash
# GPU check (issue 4): train the starter project on a GPU when one is present,
# confirm TensorFlow placed the work on it, and compare samples per second with
# the same run on the CPU. Prints one result line per device; exits 0 when no
# GPU is visible (nothing to check) and 1 if a GPU is visible but unused.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=3
"$PY" - <<'PY'
import json, sys, time
import tensorflow as tf
from studio.engine import datasets, templates
from studio.engine.train import Trainer

gpus = tf.config.list_physical_devices("GPU")
print("GPUs visible:", [g.name for g in gpus] or "none")
ds = datasets.bundled_sample()
results = {}
for device in (["gpu:0"] if gpus else []) + ["cpu"]:
    project = templates.build(templates.STARTER)
    project.training["device"] = device
    trainer = Trainer(project, ds)
    trainer.run_training(1)                      # warm-up: tracing, kernels
    t = time.perf_counter()
    trainer.run_training(2)
    rate = len(ds.x_train) * 2 / (time.perf_counter() - t)
    placed = [v.value.device for v in trainer.model.weights][:1]
    results[device] = {"samples_per_second": round(rate), "weights_on": placed,
                       "val_accuracy": round(trainer.history_epochs[-1]["val_accuracy"], 4)}
    print(f"{device}: {rate:,.0f} samples/s, weights on {placed}, "
          f"val_accuracy {results[device]['val_accuracy']}")
if gpus:
    on_gpu = any("GPU" in d.upper() for d in results["gpu:0"]["weights_on"])
    print(f"GPU/CPU speed-up: {results['gpu:0']['samples_per_second'] / results['cpu']['samples_per_second']:.2f}x;"
          f" work placed on the GPU: {on_gpu}")
    print(json.dumps(results))
    sys.exit(0 if on_gpu else 1)
print(json.dumps(results))
PY
