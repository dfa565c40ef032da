"""Evaluating the 2,000 held-out sample digits vs ``model.predict`` on the same data.

Target (issue 11): an evaluation (one batched prediction pass, then loss and
metrics as Keras computes them, per-class figures, the confusion matrix and
every cell's examples sorted) takes at most 1.5x ``model.predict`` on the
same data, measured in the same run.

Two comparisons, each in pairs whose order alternates (common.interleaved_pairs),
ratios reported as the median of the per-pair ratios:

- warm: a model already built and used once, for each side (two models with
  the same weights, so neither shares the other's compiled predict function):
  ``evaluate(..., model=m)`` vs ``m.predict(x)``;
- cold, what a person waits for after pressing Evaluate: ``evaluate(project,
  dataset)`` builds the model from the graph and predicts once, vs a script
  that builds the same model (``compile_graph``) and calls ``model.predict``.

The starter convnet (assets/templates/mnist_convnet.studio), trained for one
epoch on the sample's 8,000 training digits first, batch size 64 on both sides.
"""

import argparse
import gc
import statistics
import sys
import time

from common import interleaved_pairs, load, machine, report

from studio.engine import datasets, evaluation, templates
from studio.engine.compiler import compile_graph


def main(pairs: int = 8, cold_pairs: int = 5) -> bool:
    from studio.engine.train import Trainer

    sample = datasets.bundled_sample()
    project = templates.build("mnist_convnet")
    project.training.update(epochs=1, batch_size=64)
    trainer = Trainer(project, sample)
    trainer.run_training(1)
    project.weights = trainer.weights()
    pre = datasets.Preprocess.from_dict(project.dataset.get("preprocess"))
    x = pre.x(sample.x_test)
    batch = int(project.training["batch_size"])
    n = len(x)

    plain = compile_graph(project.graph, project.weights)
    ours = compile_graph(project.graph, project.weights)
    plain.predict(x, batch_size=batch, verbose=0)                      # warm both
    result = evaluation.evaluate(project, sample, model=ours)
    print(f"held-out accuracy {result.accuracy:.4f}, loss {result.loss:.4f}, "
          f"{len(result.mistakes())} mistakes", flush=True)

    cpu = {}   # label -> CPU seconds of each call (all threads): hardly moved by other processes

    def rate(fn, label):
        gc.collect()
        gc.disable()
        try:
            c, t = time.process_time(), time.perf_counter()
            fn()
            wall = time.perf_counter() - t
            cpu.setdefault(label, []).append(time.process_time() - c)
            return n / wall
        finally:
            gc.enable()

    load_before = load()
    # rates in examples/s: ratio candidate/baseline < 1 means evaluation is slower; time ratio = its inverse
    warm_b, warm_c, warm_r = interleaved_pairs(
        lambda k: rate(lambda: plain.predict(x, batch_size=batch, verbose=0), "warm predict"),
        lambda k: rate(lambda: evaluation.evaluate(project, sample, model=ours), "warm evaluate"),
        pairs, label=("model.predict", "evaluate"))

    def cold_predict():
        model = compile_graph(project.graph, project.weights)
        model.predict(pre.x(sample.x_test), batch_size=batch, verbose=0)

    cold_b, cold_c, cold_r = interleaved_pairs(
        lambda k: rate(cold_predict, "cold predict"),
        lambda k: rate(lambda: evaluation.evaluate(project, sample), "cold evaluate"),
        cold_pairs, label=("build + model.predict", "evaluate (builds)"))
    load_after = load()

    warm_ratio = statistics.median(1 / r for r in warm_r)
    cold_ratio = statistics.median(1 / r for r in cold_r)
    cpu_ratio = {kind: statistics.median(e / b for e, b in zip(cpu[f"{kind} evaluate"], cpu[f"{kind} predict"]))
                 for kind in ("warm", "cold")}
    ms = lambda rates: f"{1000 * n / statistics.median(rates):.0f} ms"  # noqa: E731
    rows = [
        {"what": f"model.predict, {n:,} held-out digits, starter convnet, batch {batch}, warm", "value": ms(warm_b),
         "target": "baseline"},
        {"what": "evaluate(model=...) on the same data (predict + loss, metrics, per-class, confusion, cells)",
         "value": ms(warm_c), "target": ""},
        {"what": f"time ratio evaluate / model.predict, warm (median of {pairs} pairs; "
                 f"{min(1 / r for r in warm_r):.2f}-{max(1 / r for r in warm_r):.2f})",
         "value": f"{warm_ratio:.2f}x", "target": "<= 1.5x", "ok": warm_ratio <= 1.5, "ratio": warm_ratio},
        {"what": "compile_graph + model.predict (cold)", "value": ms(cold_b), "target": "baseline"},
        {"what": "evaluate(project, dataset), building the model (cold)", "value": ms(cold_c), "target": ""},
        {"what": f"time ratio, cold (median of {cold_pairs} pairs; "
                 f"{min(1 / r for r in cold_r):.2f}-{max(1 / r for r in cold_r):.2f})",
         "value": f"{cold_ratio:.2f}x", "target": "<= 1.5x", "ok": cold_ratio <= 1.5, "ratio": cold_ratio},
        {"what": "CPU time ratio (process, all threads), warm / cold, median of the pairs",
         "value": f"{cpu_ratio['warm']:.2f}x / {cpu_ratio['cold']:.2f}x", "target": "informational",
         "cpu_ratio": cpu_ratio},
        {"what": "machine, load average before / after", "value": f"{machine()}; {load_before:.1f} / {load_after:.1f}",
         "target": ""},
    ]
    return report("evaluate", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--cold-pairs", type=int, default=5)
    args = parser.parse_args()
    sys.exit(0 if main(args.pairs, args.cold_pairs) else 1)
