"""Run directories: atomic metrics appends that survive a crash mid-write, checkpoints,
manifest contents and resume."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minimal import runs
from minimal.config import Seeds
from minimal.errors import RunDirError
from minimal.runs import MetricsLog, Run, read_metrics
from minimal.tasks.icl import TaskConfig, TaskRunConfig

COLS = ["step", "loss", "ic_acc"]


def test_manifest_contents(tmp_path):
    cfg = TaskRunConfig(task=TaskConfig(B=4), seeds=Seeds(seed=3))
    run = Run.create(tmp_path / "r", "test", cfg, cfg.seeds, COLS,
                     resolved=cfg.task.resolved())
    m = json.loads((tmp_path / "r" / "run.json").read_text())
    assert m["status"] == "running" and m["kind"] == "test"
    assert m["config"]["task"]["B"] == 4
    assert m["seeds"] == {"world": 3, "eval": 3, "data": 3, "init": 3}
    assert m["environment"]["versions"]["numpy"] == np.__version__
    assert "threading_layer_requested" in m["environment"]["numba"]
    run.add_timing("compile_s", 1.5)
    run.add_timing("compile_s", 0.5)
    run.finish("completed")
    m = json.loads((tmp_path / "r" / "run.json").read_text())
    assert m["status"] == "completed" and m["timings"]["compile_s"] == 2.0
    with pytest.raises(RunDirError, match="already holds a run"):
        Run.create(tmp_path / "r", "test", cfg)
    with pytest.raises(ValueError):
        run.finish("weird")


@given(st.lists(st.tuples(st.integers(0, 10**9),
                          st.floats(allow_nan=True, allow_infinity=True, width=64),
                          st.floats(0, 1)), max_size=20))
@settings(max_examples=30)
def test_metrics_round_trip(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("m") / "metrics.csv"
    log = MetricsLog(path, COLS)
    for s, loss, acc in rows:
        log.append({"step": s, "loss": loss, "ic_acc": acc})
    back = read_metrics(path)
    assert list(back) == COLS
    np.testing.assert_array_equal(back["step"], [r[0] for r in rows])
    np.testing.assert_array_equal(back["loss"], [r[1] for r in rows])   # exact, nan == nan
    np.testing.assert_array_equal(back["ic_acc"], [r[2] for r in rows])


def test_crash_mid_append_never_leaves_a_torn_row(tmp_path, monkeypatch):
    path = tmp_path / "metrics.csv"
    log = MetricsLog(path, COLS)
    log.append({"step": 0, "loss": 3.4, "ic_acc": 0.1})
    real_write = os.write

    def dying_write(fd, data):          # the process dies after writing half a line
        real_write(fd, bytes(data[: len(data) // 2]))
        raise KeyboardInterrupt

    monkeypatch.setattr(runs.os, "write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        log.append({"step": 1000, "loss": 2.0, "ic_acc": 0.5})
    monkeypatch.setattr(runs.os, "write", real_write)
    assert not path.read_bytes().endswith(b"\n")             # the torn tail is on disk ...
    assert list(read_metrics(path)["step"]) == [0]           # ... but readers ignore it
    log2 = MetricsLog(path, COLS)                            # reopening repairs the file
    assert path.read_bytes().endswith(b"\n")
    log2.append({"step": 1000, "loss": 2.0, "ic_acc": 0.5})
    assert list(read_metrics(path)["step"]) == [0, 1000]
    with pytest.raises(RunDirError):
        MetricsLog(path, ["step", "other"])
    with pytest.raises(KeyError):
        log2.append({"nope": 1})


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "run.json"
    runs.atomic_write_json(target, {"a": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(runs.os, "replace", boom)
    with pytest.raises(OSError):
        runs.atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]   # no temp file left


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
                       hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64]),
                                  hnp.array_shapes(max_dims=3, max_side=4)), max_size=4),
       st.integers(0, 10**9))
@settings(max_examples=30)
def test_checkpoint_round_trip(tmp_path_factory, arrays, step):
    d = tmp_path_factory.mktemp("c")
    run = Run.create(d / "r", "test", {"x": 1})
    run.save_checkpoint(step, arrays, {"note": "hi", "rng": [1, 2]})
    ck = run.load_checkpoint()
    assert ck.step == step and ck.meta == {"note": "hi", "rng": [1, 2]}
    assert set(ck.arrays) == set(arrays)
    for k, v in arrays.items():
        np.testing.assert_array_equal(ck.arrays[k], v)
        assert ck.arrays[k].dtype == v.dtype
    assert Run.open(d / "r").manifest["checkpoint_step"] == step


def test_checkpoint_is_streamed_not_copied_in_memory(tmp_path):
    """Saving a model state allocates a bounded buffer, not a copy of it: the archive goes
    straight to the file (NumPy writes it in chunks of at most 16 MiB; an in-memory archive held
    two extra copies and pushed the paper-world CoT run from 2.4 to 6.3 GiB)."""
    import tracemalloc
    state = {"a": np.arange(7_000_000, dtype=np.float64),             # 56 MB
             "b": np.ones((1000, 2000), np.float32)}                  # 8 MB
    size = sum(v.nbytes for v in state.values())
    run = Run.create(tmp_path / "r", "test", {"x": 1})
    tracemalloc.start()
    try:
        run.save_checkpoint(7, state, {"k": 1})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20 and peak < 0.35 * size, (peak, size)
    ck = run.load_checkpoint()
    np.testing.assert_array_equal(ck.arrays["a"], state["a"])
    np.testing.assert_array_equal(ck.arrays["b"], state["b"])


def test_atomic_stream_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.bin"
    runs.atomic_write_bytes(target, b"old")

    def half_then_fail(fh):
        fh.write(b"new new")
        raise OSError("disk full")

    with pytest.raises(OSError):
        runs.atomic_write_stream(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def _toy_training(run: Run, start: int, stop: int, state: np.ndarray, crash_at=None):
    """A deterministic 'trainer': state evolves as a pure function of (state, step)."""
    for step in range(start, stop):
        if step == crash_at:
            raise KeyboardInterrupt
        state = np.tanh(state * 1.01 + 0.001 * step)
        if (step + 1) % 10 == 0:
            run.log({"step": step + 1, "loss": float(state.sum()), "ic_acc": float(state[0])})
            if (step + 1) % 20 == 0:
                run.save_checkpoint(step + 1, {"state": state})
    return state


def test_resume_continues_to_the_same_curve(tmp_path):
    cfg = TaskRunConfig()
    init = np.linspace(-1, 1, 5)
    full = Run.create(tmp_path / "full", "toy", cfg, columns=COLS)
    _toy_training(full, 0, 100, init.copy())
    full.finish()

    part = Run.create(tmp_path / "part", "toy", cfg, columns=COLS)
    with pytest.raises(KeyboardInterrupt):
        _toy_training(part, 0, 100, init.copy(), crash_at=55)   # rows at 50 written, ckpt at 40
    part.finish("interrupted")
    assert list(part.metrics()["step"])[-1] == 50
    run, ck = Run.resume(tmp_path / "part", "toy", cfg, columns=COLS)
    assert ck.step == 40
    assert list(run.metrics()["step"]) == [10, 20, 30, 40]      # rows past the checkpoint dropped
    _toy_training(run, ck.step, 100, ck.arrays["state"])
    run.finish()
    a = (tmp_path / "full" / "metrics.csv").read_bytes()
    b = (tmp_path / "part" / "metrics.csv").read_bytes()
    assert a == b
    assert Run.open(tmp_path / "part").manifest["resumed"][0]["from_step"] == 40


def test_resume_rejects_a_different_config(tmp_path):
    Run.create(tmp_path / "r", "toy", TaskRunConfig(), columns=COLS).close()
    with pytest.raises(RunDirError, match="task.B"):
        Run.resume(tmp_path / "r", "toy", TaskRunConfig(task=TaskConfig(B=4)), columns=COLS)
    with pytest.raises(RunDirError, match="no checkpoint"):
        Run.resume(tmp_path / "r", "toy", TaskRunConfig(), columns=COLS)
    run, ck = Run.resume(tmp_path / "r", "toy", TaskRunConfig(task=TaskConfig(B=4)),
                         columns=COLS, allow_changes=["task.B"], require_checkpoint=False)
    assert ck is None
    assert run.manifest["history"][-1]["changes"] == {"task.B": [2, 4]}
    run.close()
    with pytest.raises(RunDirError, match="not 'other'"):
        Run.resume(tmp_path / "r", "other")
    with pytest.raises(RunDirError, match="not a run directory"):
        Run.open(tmp_path / "missing")
