"""The clamping study: the loss-floor/plateau criterion, the Singh metrics, the ``minimal clamp``
command (bad input, a run directory recording its clamps, resume) and, behind ``slow``, the
phase change of the unclamped run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimal.cli import main
from minimal.studies.clamping import LN2, escape_times, plateau, study_config

SMALL = ["--set", "model.d_model=16", "--set", "model.d_head=2", "--set", "task.D_f=8",
         "--set", "task.n_eval=50", "--set", "train.eval_every=5"]


# ----------------------------------------------------------------------------------------------
# the criterion of docs/clamping.md
# ----------------------------------------------------------------------------------------------

@given(st.floats(100, 10_000), st.floats(0.5, 3.0))
def test_smooth_exponential_decay_has_no_plateau(tau, L0):
    t = np.linspace(0, 6 * tau, 241)
    r = plateau(t, L0 * np.exp(-t / tau))
    assert not r["plateau"]
    # 10 % of the initial excess over the floor 0 is reached at τ ln 10 (one grid step)
    assert r["t10"] == pytest.approx(tau * math.log(10), abs=t[1] - t[0] + 1e-9)


@given(st.floats(1000, 20_000), st.floats(0.2, 0.8))
def test_a_plateau_at_ln2_then_a_drop_is_a_plateau(t_escape, frac_fast):
    """Fast drop from ln 5 to ln 2, a long flat stretch, then a phase change."""
    t = np.linspace(0, 2 * t_escape, 401)
    fast = frac_fast * 0.2 * t_escape
    y = LN2 + (math.log(5) - LN2) * np.exp(-t / (fast / 5))
    y = y * (1 - 1 / (1 + np.exp(-(t - t_escape) / (0.03 * t_escape))))
    r = plateau(t, y)
    assert r["plateau"] and abs(r["plateau_level"] - LN2) < 0.1
    e = escape_times(t, y)
    assert e["t_escape"] == pytest.approx(t_escape, rel=0.05)
    assert e["plateau_length"] < e["t_escape"]


def test_run_that_never_gets_there():
    t = np.arange(0, 1000, 10.0)
    r = plateau(t, np.full(t.shape, 0.7))
    assert r["t10"] is None and r["plateau"]
    assert escape_times(t, np.full(t.shape, 0.7))["t_escape"] is None


# ----------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------

def test_induction_strength_and_context_scores_by_hand():
    from minimal.tasks.singh import SinghTask
    from minimal.transformer.singh import context_scores, induction_strength, prev_token_score
    b = SinghTask(seeds=0).batch(0, batch_size=4)
    P = np.zeros((4, 2, 5, 5))
    corr = b.meta["correct"]
    for i in range(4):
        P[i, 0, 4, [1, 3][corr[i]]] = 0.9
        P[i, 0, 4, [1, 3][1 - corr[i]]] = 0.1
        P[i, 1, 4, :] = 0.2
        P[i, 1, 1, 0] = 0.7
        P[i, 1, 3, 2] = 0.5
    np.testing.assert_allclose(induction_strength(P, b), [0.8, 0.0])
    np.testing.assert_allclose(prev_token_score(P, b), [0.0, 0.6])
    lg = np.zeros((4, 5, 5))
    ids = b.meta["label_ids"]
    lg[np.arange(4), 4, ids[np.arange(4), corr]] = 10.0
    acc, prob = context_scores(lg, b)
    assert acc == 1.0 and prob == pytest.approx((math.exp(10) + 1) / (math.exp(10) + 4))


# ----------------------------------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["clamp"],
    ["clamp", "train"],
    ["clamp", "train", "--out", "X", "--preset", "nope"],
    ["clamp", "train", "--out", "X", "--clamp", "{not json"],
    ["clamp", "train", "--out", "X", "--clamp", "[1, 2]"],
    ["clamp", "train", "--out", "X", "--clamp", '{"kind": "prev_token", "params": {"head": 9}}'],
    ["clamp", "train", "--out", "X", "--set", "clamps=[{\"kind\": \"teleport\"}]"],
    ["clamp", "train", "--out", "X", "--set", "task.n_labels=2"],
    ["clamp", "train", "--out", "X", "--set", "model.vocab=7"],
    ["clamp", "table", "--out", "X", "--seeds", "0"],
    ["clamp", "table", "--out", "X", "--steps", "-5"],
    ["clamp", "sweep", "--out", "X", "--labels", "2,5"],
    ["clamp", "sweep", "--out", "X", "--classes", "a"],
    ["clamp", "heads"],
])
def test_bad_input_is_a_one_line_error(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and (err[-1].startswith("error:") or argv == ["clamp"])
    assert not (tmp_path / "X").exists()


def test_train_records_clamps_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["clamp", "train", "--preset", "singh-B-evolution", "--steps", "10", "--quiet",
            "--out", str(out), *SMALL, "--clamp",
            '{"kind": "prev_token", "params": {"head": 1, "strength": 0.5}, "detach": true}']
    assert main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    kinds = [c["kind"] for c in run["config"]["clamps"]]
    assert kinds == ["perfect_layer1", "perfect_copy", "keep_heads", "prev_token"]
    assert run["config"]["clamps"][-1] == {"kind": "prev_token", "params": {
        "layer": 0, "head": 1, "strength": 0.5, "only_labels": False}, "detach": True}
    assert run["resolved"]["clamps"] == run["config"]["clamps"]
    assert run["status"] == "completed"
    lines = (out / "metrics.csv").read_text().splitlines()
    assert len(lines) == 1 + 3 and "L1H0.S" in lines[0]
    assert main(["clamp", "train", "--out", str(out), "--resume", "--steps", "20",
                 "--quiet"]) == 0
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 5
    capsys.readouterr()


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    from minimal.runs import read_metrics
    from minimal.transformer.train import train_transformer
    from minimal.config import apply_overrides
    cfg = apply_overrides(study_config("C", 0, 12, quick=True), {"train.eval_every": 4})
    a = train_transformer(cfg, tmp_path / "a", progress=False)
    train_transformer(cfg, tmp_path / "b", progress=False, stop_after=6)
    b = train_transformer(None, tmp_path / "b", resume=True, progress=False)
    assert a.status == b.status == "completed"
    ma, mb = read_metrics(tmp_path / "a" / "metrics.csv"), read_metrics(tmp_path / "b" /
                                                                       "metrics.csv")
    for k in ma:
        if k != "wall_s":
            np.testing.assert_array_equal(ma[k], mb[k], err_msg=k)


def test_quick_table_command(tmp_path, capsys):
    assert main(["clamp", "table", "--quick", "--seeds", "1", "--steps", "20", "--workers", "1",
                 "--quiet", "--out", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    for r in ("unclamped", "A", "B", "C", "B-evolution"):
        assert r in out
    assert main(["clamp", "table", "--quick", "--seeds", "1", "--steps", "20", "--workers",
                 "1", "--quiet", "--json", "--out", str(tmp_path / "s")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in data["rows"]] == ["unclamped", "A", "B", "C", "B-evolution"]


# ----------------------------------------------------------------------------------------------
# the phenomenon (slow)
# ----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_unclamped_run_plateaus_near_ln2_then_learns():
    """Seed 0 of the study's unclamped run (one layer-2 head, Adam 1e-4): a plateau near ln 2
    by the criterion, then the loss falls below 10 % of its initial value within 8,000 steps
    and the layer-2 head becomes an induction head."""
    from minimal.studies.clamping import summarise
    from minimal.transformer.train import train_transformer
    res = train_transformer(study_config("unclamped", 0, 8000), None, progress=False)
    s = summarise(res.metrics)
    assert s["plateau"] and abs(s["plateau_level"] - LN2) < 0.15
    assert s["t10"] is not None and s["t10"] < 8000
    assert res.metrics["L1H0.S"][-1] > 0.5
