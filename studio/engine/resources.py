"""Models that cannot fit: said at check time, before any training starts.

The shape checker counts parameters without allocating them (a Dense layer of
10^12 units is checked in milliseconds), so the memory a training step needs
is known as soon as the graph is: weights, gradients and optimizer state
(:mod:`studio.engine.summary`), against the memory of the device the
training settings select. More than the device offers for the weights alone is
an error; a batch too large for it is a warning with the batch size that fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.engine.summary import device_memory, format_bytes, optimizer_slots, summarize


@dataclass(frozen=True)
class ResourceProblem:
    error: bool
    message: str


QUICK_ABOVE = 2000  # nodes: larger graphs get the full per-layer summary only when memory is tight


def resource_problems(graph, states: dict, training, device=None) -> list[ResourceProblem]:
    """What will not fit in the selected device's memory (empty while the graph has errors).

    Runs after every edit: on a large graph a quick bound (every parameter as
    float32 weights, gradients and optimizer slots) decides first whether the
    per-layer summary is worth computing."""
    try:
        if device is None:
            device = device_memory(training.device)[0]
        if len(states) > QUICK_ABOVE and device.bytes is not None:
            params = sum(s.params or 0 for s in states.values())
            bound = params * 4 * (2 + optimizer_slots(training.optimizer, float(training.momentum)))
            if bound < device.bytes // 2:
                return []
        summary = summarize(graph, states, training, device=device)
    except Exception:  # a summary is advice: it never stops checking
        return []
    memory, dev = summary.memory, summary.device
    if dev is None or dev.bytes is None:
        return []
    if memory.fixed > dev.bytes:
        return [ResourceProblem(True, f"the model has {summary.params:,} parameters: its weights, gradients and optimizer "
                                      f"state need about {format_bytes(memory.fixed)}, more than {dev.name} offers "
                                      f"({format_bytes(dev.bytes)}); make it smaller before training")]
    if memory.total > dev.bytes and summary.largest_batch is not None:
        return [ResourceProblem(False, f"one training step at batch size {training.batch_size:,} needs about "
                                       f"{format_bytes(memory.total)}, more than {dev.name} offers "
                                       f"({format_bytes(dev.bytes)}); use a batch size of at most "
                                       f"{summary.largest_batch:,}")]
    return []
