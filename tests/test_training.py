"""The one training layer, family by family: NaN → run.json 'failed' and exit status 3;
SIGINT/SIGTERM to a running process → a checkpoint, status 'interrupted', exit 128 + signal,
and a --resume that reproduces the uninterrupted rows; the loop's own guarantees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from minimal.cli import main
from minimal.runs import read_metrics

# (family, CLI argv prefix, small-run overrides); every run evaluates often and is cheap
FAMILIES = {
    "train": ["train", "--preset", "reddy-fig3", "--set", "task.n_eval=200",
              "--set", "train.eval_every=40", "--set", "net.k_dim=32"],
    "ih": ["ih", "--set", "task.n_eval=200", "--set", "train.eval_every=40"],
    "cot": ["cot", "--preset", "tiny", "--set", "train.eval_every=40"],
    "clamp": ["clamp", "train", "--preset", "singh-full", "--set", "task.n_eval=200",
              "--set", "train.eval_every=40"],
    "lsa": ["lsa", "--set", "model.n_eval=2000", "--set", "model.n_tune=20000",
            "--set", "model.baseline_search=fast", "--set", "train.eval_every=40"],
    "momentum": ["momentum", "train", "--set", "task.n_eval=64", "--set", "train.eval_every=40"],
    "sae": ["sae", "train", "--set", "task.n_eval=64", "--set", "train.eval_every=40"],
}


def _command(family):
    """The command words of a family's argv (before the first option)."""
    words = []
    for a in FAMILIES[family]:
        if a.startswith("-"):
            break
        words.append(a)
    return words


def _manifest(path):
    return json.loads((path / "run.json").read_text())


def _poison(monkeypatch, family, at_step=60):
    """Make the family's training kernel return a NaN loss from ``at_step`` on."""
    if family == "cot":
        from minimal.cot.model import TSAM
        real = TSAM.train

        def train(self, order, start_pos, n_steps):
            losses, terms = real(self, order, start_pos, n_steps)
            if self.step >= at_step:
                losses = losses.copy()
                losses[-1] = np.nan
            return losses, terms
        monkeypatch.setattr(TSAM, "train", train)
        return
    from minimal.training import gradient
    real = gradient.GradientLearner.advance

    def advance(self, step, n, should_stop, stats):
        if step + n > at_step:
            model = self.model
            orig = model.loss_and_grads

            def nan_loss(params, batch, grads=None):
                loss, g, nc = orig(params, batch, grads)
                return float("nan"), g, nc
            model.loss_and_grads = nan_loss
            try:
                return real(self, step, n, should_stop, stats)
            finally:
                del model.loss_and_grads
        return real(self, step, n, should_stop, stats)
    monkeypatch.setattr(gradient.GradientLearner, "advance", advance)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_nan_loss_fails_the_run_with_exit_3(family, tmp_path, monkeypatch, capsys):
    _poison(monkeypatch, family)
    out = tmp_path / family
    code = main(FAMILIES[family] + ["--steps", "200", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "nan" in lines[0].lower() and "Traceback" not in err
    m = _manifest(out)
    assert m["status"] == "failed" and m["reason"] == "diverged"
    assert m["checkpoint_step"] is not None and m["checkpoint_step"] <= 60
    # the failed run's last checkpoint is finite and resumable once the cause is gone
    monkeypatch.undo()
    assert main(FAMILIES[family] + ["--steps", "200", "--out", str(out), "--resume",
                                    "--quiet"]) == 0
    assert _manifest(out)["status"] == "completed"


def test_nan_parameters_are_caught_even_with_a_finite_loss(tmp_path, capsys):
    """An attention init 100x too large: the finite-state check stops the run (exit 3)."""
    code = main(["train", "--preset", "reddy-fig3", "--set", "task.n_eval=200", "--steps", "80",
                 "--set", "train.eval_every=40", "--set", "net.attn_init_scale=100", "--out",
                 str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3 and err.count("error:") == 1
    m = _manifest(tmp_path / "r")
    assert m["status"] == "failed" and m["reason"] in ("diverged", "non-finite")


def _spawn(argv, cwd):
    env = dict(os.environ, PYTHONUNBUFFERED="1", MINIMAL_PROGRESS_INTERVAL="1000")
    return subprocess.Popen([sys.executable, "-m", "minimal", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _rows(path) -> int:
    p = path / "metrics.csv"
    return max(0, p.read_text().count("\n") - 1) if p.exists() else 0


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_checkpoints_and_resume_equals_uninterrupted(family, signum, tmp_path):
    steps = {"train": 4000, "ih": 40000, "cot": 20000, "clamp": 40000, "lsa": 40000,
             "momentum": 20000, "sae": 20000}[family]
    argv = FAMILIES[family] + ["--steps", str(steps), "--quiet"]
    part = tmp_path / "part"
    proc = _spawn(argv + ["--out", str(part)], tmp_path)
    t0 = time.time()
    while _rows(part) < 3 and proc.poll() is None and time.time() - t0 < 120:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    m = _manifest(part)
    assert m["status"] == "interrupted" and m["signal"] == signal.Signals(signum).name
    stop = m["final_step"]
    assert 0 < stop < steps and m["checkpoint_step"] == stop
    # resume with nothing but --resume: config from run.json; then compare with a full run
    # of the same length as the interrupted one plus a few evaluations
    target = (stop // 40 + 3) * 40
    p = subprocess.run([sys.executable, "-m", "minimal", *_command(family), "--out",
                        str(part), "--resume", "--steps", str(target), "--quiet"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    full = tmp_path / "full"
    p = subprocess.run([sys.executable, "-m", "minimal", *FAMILIES[family], "--steps",
                        str(target), "--out", str(full), "--quiet"], capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    a, b = read_metrics(full), read_metrics(part)
    assert list(a) == list(b) and len(a["step"]) == len(b["step"])
    for k in a:
        if k != "wall_s":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    hist = _manifest(part)["history"]
    assert [h["event"] for h in hist] == ["created", "interrupted", "resumed", "completed"]
    assert hist[2]["changes"] == {"train.steps": [steps, target]}
