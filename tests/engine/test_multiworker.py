"""Two workers on 127.0.0.1 train together; losing one ends the other cleanly."""

import json
import socket
import subprocess
import sys
import time

import pytest

from studio.engine import templates


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def project(tmp_path):
    p = templates.build("mnist_dense")
    p.training.update(batch_size=256, optimizer="sgd", learning_rate=0.05, lr_schedule="constant", shuffle_seed=5)
    path = tmp_path / "dense.studio"
    p.save(path)
    return path


def _worker(project, cluster, index, epochs, out=None, timeout=20):
    cmd = [sys.executable, "-m", "studio", "train", str(project), "--epochs", str(epochs), "--cluster", cluster,
           "--worker-index", str(index), "--timeout", str(timeout)]
    if out:
        cmd += ["--out", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_workers_report_identical_losses(project, tmp_path):
    ports = _free_ports(2)
    cluster = ",".join(f"127.0.0.1:{p}" for p in ports)
    out = tmp_path / "run"
    procs = [_worker(project, cluster, k, 2, out) for k in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr[-2000:]
    losses = [[line.split("loss=")[1].split()[0] for line in stdout.splitlines() if line.startswith("epoch")]
              for stdout, _ in results]
    assert len(losses[0]) == 2 and losses[0] == losses[1]
    assert "workers=2" in results[0][0]
    assert json.loads((out / "run.json").read_text())["workers"] == 2  # worker 0 wrote the run
    assert (out / "weights_final.h5").exists()


def test_losing_a_worker_ends_the_other_with_a_message(project):
    ports = _free_ports(2)
    cluster = ",".join(f"127.0.0.1:{p}" for p in ports)
    w0 = _worker(project, cluster, 0, 200, timeout=10)
    w1 = _worker(project, cluster, 1, 200, timeout=10)
    deadline = time.time() + 120
    first = ""
    while time.time() < deadline and "epoch" not in first:
        first = w1.stdout.readline()
        if not first and w1.poll() is not None:
            break
    assert "epoch" in first, w1.stderr.read()[-2000:]
    w1.kill()
    t = time.time()
    try:
        _, stderr = w0.communicate(timeout=120)
    finally:
        w0.kill()
    assert time.time() - t < 120
    assert w0.returncode != 0
    assert "stopped responding" in stderr or "error:" in stderr


def test_exported_project_trains_on_a_loopback_cluster(tmp_path):
    from studio.engine.export import export
    p = templates.build("mnist_dense")
    p.training.update(batch_size=256, optimizer="sgd", learning_rate=0.05, lr_schedule="constant", shuffle_seed=5)
    folder = tmp_path / "standalone"
    export(p, "python", folder)
    ports = _free_ports(2)
    cluster = ",".join(f"127.0.0.1:{x}" for x in ports)
    procs = [subprocess.Popen([sys.executable, "train.py", "--epochs", "1", "--cluster", cluster, "--worker-index",
                               str(k), "--save", f"m{k}.keras"], cwd=folder, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err[-2000:]
    lines = [[l for l in out.splitlines() if l.startswith("epoch")] for out, _ in results]
    assert lines[0] and lines[0] == lines[1]
    assert (folder / "m0.keras").exists() and not (folder / "m1.keras").exists()


def test_a_worker_index_outside_the_cluster_is_a_bad_argument(monkeypatch):
    from studio.engine.distributed import ClusterArgumentError, check_cluster_args, configure_from_args
    from studio.engine.errors import exit_code_for
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for cluster, index, phrase in (("127.0.0.1:1,127.0.0.1:2", 5, "--worker-index 5 is outside the cluster of 2"),
                                   ("127.0.0.1:1", None, "--cluster needs --worker-index"),
                                   (None, 0, "no cluster")):
        for check in (check_cluster_args, configure_from_args):
            with pytest.raises(ClusterArgumentError, match=phrase) as info:
                check(cluster, index)
            assert exit_code_for(info.value) == 2
    assert "TF_CONFIG" not in __import__("os").environ
