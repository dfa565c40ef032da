"""The collector settles once after TensorFlow's import; the command line trains with oneDNN as TensorFlow sets it.

Freezing is process-wide, so the collector checks run in child processes.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "assets" / "templates" / "mnist_convnet.studio"


def _python(code: str, env: dict | None = None, timeout: float = 240) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_settle_freezes_what_is_alive_once_and_later_full_collections_skip_it():
    out = _python("""
        import gc
        from studio.engine import runtime_gc

        # stands in for TensorFlow's modules and registries: long-lived, tracked
        registry = [{"name": str(i), "items": [i]} for i in range(50_000)]
        assert not runtime_gc.settled()
        assert runtime_gc.settle() is True
        assert runtime_gc.settle() is False  # once per process
        assert runtime_gc.settled()
        frozen = gc.get_freeze_count()
        assert frozen >= 100_000, frozen
        tracked = {id(o) for o in gc.get_objects()}  # what a full collection walks
        assert id(registry) not in tracked and id(registry[-1]) not in tracked

        # a simulated training loop: per-batch garbage with cycles, some kept
        kept = []
        for step in range(2_000):
            batch = {"logs": {"loss": float(step)}}
            batch["self"] = batch
            if step % 10 == 0:
                kept.append(batch)
        gc.collect()
        walked = len(gc.get_objects())
        # the full collection walked what was made since settling, not the registry
        assert walked < 20_000, walked
        assert gc.get_freeze_count() == frozen
        print("ok", frozen, walked)
    """)
    assert out.startswith("ok")


def test_keras_is_imported_with_collection_paused_then_settled():
    out = _python("""
        import gc
        runs = []
        gc.callbacks.append(lambda phase, info: phase == "start" and runs.append(info["generation"]))
        assert gc.isenabled()
        from studio.engine import runtime_gc
        runs.clear()
        assert runtime_gc.import_keras_settled() is True
        import sys
        assert "keras" in sys.modules and "tensorflow" in sys.modules
        assert runs == [2], runs  # no automatic collection during the import; one full one to settle
        assert gc.isenabled()  # the collector's state is restored
        assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()
        assert len(gc.get_objects(generation=2)) < 10_000, len(gc.get_objects(generation=2))

        gc.disable()  # the window's guard keeps automatic collection off: it stays off
        runtime_gc.import_keras_settled()
        assert not gc.isenabled()
        print("ok")
    """)
    assert out.startswith("ok")


def test_the_command_line_settles_where_training_starts(monkeypatch, tmp_path):
    from studio import cli
    from studio.engine import runtime_gc

    calls = []

    def reached():  # stop here: the project and data are loaded, training has not begun
        calls.append(True)
        raise SystemExit(77)

    monkeypatch.setattr(runtime_gc, "import_keras_settled", reached)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["train", str(STARTER), "--epochs", "1", "--out", str(tmp_path / "run")])
    assert stopped.value.code == 77 and calls == [True]


def test_the_command_line_leaves_onednn_on():
    """TF_ENABLE_ONEDNN_OPTS=0 made each epoch cost 1.3-1.4x the CPU of a plain Keras script."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    out = _python(f"""
        import os
        from studio import cli
        try:
            cli.main(["train", {str(ROOT / "no-such-project.studio")!r}])
        except SystemExit:
            pass
        print("TF_ENABLE_ONEDNN_OPTS" in os.environ)
    """, env=env, timeout=60)
    assert out.strip().splitlines()[-1] == "False"


def test_the_exported_training_script_leaves_onednn_on(tmp_path):
    from studio.engine.project import load_project
    from studio.engine.standalone import write_standalone

    write_standalone(load_project(STARTER), tmp_path / "standalone")
    code = (tmp_path / "standalone" / "train.py").read_text() + (tmp_path / "standalone" / "model.py").read_text()
    assert "ONEDNN" not in code.upper()
