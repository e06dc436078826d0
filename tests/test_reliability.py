"""Nothing is lost, nothing runs twice, nothing untrusted is executed: locks, torn metrics, stale
locks, collapse reporting, memory bounds and the generated-code cache."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from minimal.cli import main
from minimal.runs import read_metrics

TINY = ["--preset", "reddy-fig3", "--set", "task.n_eval=100", "--set", "net.k_dim=16",
        "--set", "train.eval_every=20", "--quiet"]


def _cfg(steps=100):
    from minimal import TRAIN_PRESETS, apply_overrides
    return apply_overrides(TRAIN_PRESETS.get("reddy-fig3"), {
        "task.n_eval": 100, "net.k_dim": 16, "train.eval_every": 20, "train.steps": steps})


def _same_rows(a, b):
    a, b = read_metrics(a), read_metrics(b)
    assert list(a) == list(b) and len(a["step"]) == len(b["step"])
    for k in a:
        if k != "wall_s":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_second_writer_fails_at_once_and_rows_stay_unique(tmp_path):
    out = tmp_path / "r"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    first = subprocess.Popen([sys.executable, "-m", "minimal", "train", *TINY, "--steps",
                              "3000", "--out", str(out)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (out / "metrics.csv").exists() or (out / "metrics.csv").read_text().count(
            "\n") < 3:
        assert first.poll() is None and time.time() - t0 < 120
        time.sleep(0.05)
    for extra in (["--resume"], ["--force"]):
        p = subprocess.run([sys.executable, "-m", "minimal", "train", *TINY, "--steps", "3000",
                            "--out", str(out), *extra], capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 2, p.stderr
        assert f"in use by pid {first.pid} on {socket.gethostname()}" in p.stderr
        assert "Traceback" not in p.stderr
    first.send_signal(2)
    first.communicate(timeout=120)
    steps = read_metrics(out)["step"]
    assert len(steps) == len(set(steps)) and np.all(np.diff(steps) > 0)


def test_torn_metrics_tail_is_repaired_on_resume(tmp_path):
    from minimal import train
    cfg = _cfg()
    train(cfg, tmp_path / "full", progress=False)
    part = tmp_path / "part"
    train(cfg, part, progress=False, stop_after=50)          # rows 0..40, checkpoint at 50
    with open(part / "metrics.csv", "ab") as fh:              # a crash mid-append
        fh.write(b"60,2.9,0.03")
    res = train(None, part, resume=True, progress=False)
    assert res.status == "completed"
    _same_rows(tmp_path / "full", part)


def test_torn_row_at_the_checkpoint_step_is_rewritten_from_the_checkpoint(tmp_path):
    from minimal import train
    cfg = _cfg()
    train(cfg, tmp_path / "full", progress=False)
    part = tmp_path / "part"
    train(cfg, part, progress=False, stop_after=40)          # checkpoint at 40, row 40 written
    data = (part / "metrics.csv").read_bytes()
    cut = data[:-1].rfind(b"\n") + 1
    (part / "metrics.csv").write_bytes(data[: cut + (len(data) - cut) // 2])   # row 40 torn
    with pytest.warns(Warning, match="rewrote the metrics row of step 40"):
        train(None, part, resume=True, progress=False)
    _same_rows(tmp_path / "full", part)


def test_stale_lock_is_taken_over_with_a_warning(tmp_path):
    from minimal import train
    part = tmp_path / "part"
    train(_cfg(), part, progress=False, stop_after=30)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (part / "run.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid,
                                               "since": time.time() - 60}))
    with pytest.warns(Warning, match=f"took over a stale lock of pid {dead.pid}"):
        res = train(None, part, resume=True, progress=False)
    assert res.status == "completed"


def test_collapsed_run_is_a_warning_or_a_failure_on_request(tmp_path, capsys):
    """SGD at lr 100 kills every ReLU of the classifier: loss pinned at ln 32, zero gradient."""
    args = [*TINY, "--set", "optim.lr=100", "--steps", "60"]
    assert main(["train", *args, "--out", str(tmp_path / "w")]) == 0
    m = json.loads((tmp_path / "w" / "run.json").read_text())
    assert m["status"] == "completed" and len(m["warnings"]) == 1
    assert "collapsed" in m["warnings"][0]["message"]
    assert "warning:" in capsys.readouterr().err
    code = main(["train", *args, "--set", "train.stop_on_collapse=true", "--out",
                 str(tmp_path / "f")])
    assert code == 3
    m = json.loads((tmp_path / "f" / "run.json").read_text())
    assert m["status"] == "failed" and m["reason"] == "collapsed"


def test_memory_bound_names_the_limit(monkeypatch):
    from minimal import ICLTask, TaskConfig
    from minimal.errors import ConfigError
    monkeypatch.setenv("MINIMAL_MEMORY_GB", "0.5")
    with pytest.raises(ConfigError, match=r"0\.5 GiB this machine allows"):
        ICLTask(TaskConfig(n_eval=100_000), 0)
    ICLTask(TaskConfig(n_eval=1000), 0)


def test_tampered_cached_module_is_regenerated_not_executed(tmp_path, monkeypatch):
    import sympy as sp

    from minimal.theory import _codegen
    cache = tmp_path / "cache"
    monkeypatch.setenv("MINIMAL_CACHE_DIR", str(cache))
    x = sp.Symbol("x")
    build = lambda: ([x], [x * x + 1])
    mod = _codegen.compile_lazy("probe", "k1", build)
    assert mod.FN(2.0) == (5.0,)
    path = next(cache.glob("minimal_gen_probe_*.py"))
    marker = tmp_path / "executed"
    path.write_text(path.read_text() + f"\nopen({str(marker)!r}, 'w').write('pwned')\n")
    del sys.modules[mod.__name__]
    mod2 = _codegen.compile_lazy("probe", "k1", build)
    assert not marker.exists() and mod2.FN(3.0) == (10.0,)
    assert _codegen._intact(path)


def test_cache_dir_writable_by_others_is_refused(tmp_path, monkeypatch):
    from minimal.env import cache_dir
    from minimal.errors import ConfigError
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    monkeypatch.setenv("MINIMAL_CACHE_DIR", str(d))
    with pytest.raises(ConfigError, match="writable by others"):
        cache_dir()
    os.chmod(d, 0o700)
    assert cache_dir() == d


def test_read_only_install_gets_a_private_numba_cache(tmp_path, monkeypatch):
    from minimal import env
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("MINIMAL_CACHE_DIR", str(tmp_path / "c"))
    pkg = os.path.dirname(os.path.abspath(env.__file__))
    real = os.access
    monkeypatch.setattr(env.os, "access",
                        lambda p, m: False if str(p).startswith(pkg) else real(p, m))
    chosen = env.ensure_numba_cache()
    assert chosen == str(tmp_path / "c" / "numba") == os.environ["NUMBA_CACHE_DIR"]
    assert os.path.isdir(chosen)
