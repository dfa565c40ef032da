"""Export figures: time, size and verification result of every format for the starter convnet.

The baseline in the same run is a plain ``model.save`` of the same model. There is no
target ratio: the issue asks for the figures (export times, file sizes, max differences).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

from common import report

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from studio.engine import datasets, templates  # noqa: E402
from studio.engine.compiler import compile_graph  # noqa: E402
from studio.engine.export import export  # noqa: E402
from studio.engine.train import Trainer  # noqa: E402


def main():
    ds = datasets.bundled_sample()
    project = templates.build(templates.STARTER)
    trainer = Trainer(project, ds)
    trainer.run_training(1)
    project.weights = trainer.weights()
    sample = datasets.Preprocess.from_dict(project.dataset["preprocess"]).x(ds.x_test[:500])
    out = Path(tempfile.mkdtemp())
    model = compile_graph(project.graph, project.weights)
    t = time.perf_counter()
    model.save(out / "baseline.keras")
    rows = [{"what": "baseline: model.save(.keras), no check", "value": f"{time.perf_counter() - t:.2f} s, "
             f"{(out / 'baseline.keras').stat().st_size:,} bytes", "target": "reference"}]
    for fmt, name, kwargs in [("keras", "m.keras", {}), ("savedmodel", "saved", {}), ("tflite", "m.tflite", {}),
                              ("tflite", "q.tflite", {"quantize": True}), ("onnx", "m.onnx", {}),
                              ("python", "project", {}), ("svg", "m.svg", {})]:
        r = export(project, fmt, out / name, sample=sample if kwargs else sample[:32], **kwargs)
        check = (f"max |diff| {r.max_abs_diff:.1e}" if r.max_abs_diff is not None else
                 f"top-1 agreement {r.top1_agreement:.1%}" if r.top1_agreement is not None else "reads back")
        rows.append({"what": f"{fmt}{' (quantized)' if kwargs else ''}",
                     "value": f"{r.seconds:.2f} s, {r.bytes:,} bytes, {check}", "target": "verified"})
    from studio.ui.diagram_png import export_png
    r = export_png(project, out / "m.png")
    rows.append({"what": "png", "value": f"{r.seconds:.2f} s, {r.bytes:,} bytes, {r.details['size']} px",
                 "target": "reads back"})
    return report("export", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
