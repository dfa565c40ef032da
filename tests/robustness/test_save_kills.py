"""A project and its weights are one save: kill -9 at random moments of repeated
saves never leaves a project from one save with weights from another, and the
temporaries an interrupted save leaves behind are cleaned by the next save."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from studio.engine.project import load_project

KILLS = 55

SAVER = r"""
import sys
import numpy as np
from studio.engine.graph import ModelGraph
from studio.engine.project import Project

path, start = sys.argv[1], int(sys.argv[2])
g = ModelGraph("m")
i = g.add_node("InputLayer", {"shape": [64]}, name="x")
d = g.add_node("Dense", {"units": 256}, name="dense")
g.connect(i.id, d.id)
k = start
print("ready", flush=True)
while True:
    k += 1
    # the generation is in the project (epochs) and in every weight value: a mismatch shows
    weights = {"dense": [np.full((64, 256), k, "float32"), np.full((256,), k, "float32")]}
    trained = {"dense": [np.full((64, 256), -k, "float32"), np.full((256,), -k, "float32")]}
    p = Project(graph=g, weights=weights, trained_weights=trained)
    p.training["epochs"] = k
    p.save(path)
"""


def _check_pair(path: Path) -> int:
    project = load_project(path)
    assert project.warnings == [], project.warnings
    k = project.training["epochs"]
    assert np.all(project.weights["dense"][0] == k) and np.all(project.weights["dense"][1] == k)
    assert np.all(project.trained_weights["dense"][0] == -k)
    return k


def test_kill_9_during_repeated_saves_never_mixes_a_pair(tmp_path):
    rng = random.Random(1234)
    path = tmp_path / "p.studio"
    generation = 0
    consistent = 0
    for kill in range(KILLS):
        child = subprocess.Popen([sys.executable, "-c", SAVER, str(path), str(generation * 1000)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))  # each save takes a few milliseconds: kills land anywhere
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        generation += 1
        if path.exists():
            _check_pair(path)
            consistent += 1
    assert consistent >= KILLS - 2
    # whatever the kills left behind goes with the next save
    project = load_project(path)
    project.save(path)
    names = sorted(p.name for p in tmp_path.iterdir())
    referenced = json.loads(path.read_text())["weights"]
    assert names == sorted(["p.studio", referenced]), names
