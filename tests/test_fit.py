"""Curve fitting: parameter recovery (stated tolerances), invariances, input validation and
file formats."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minimal.errors import CurveFileError
from minimal.fit import fit_curve, load_curve, make_model
from minimal.fit.curves import CurveWarning, from_arrays
from minimal.fit.models import midpoint_crossing

X = np.linspace(0, 10_000, 120)


@settings(max_examples=25)
@given(st.floats(2000, 8000), st.floats(1.5, 3.0), st.floats(0.0, 0.2), st.floats(0.7, 1.0),
       st.integers(0, 10_000))
def test_logistic_recovers_parameters(onset, lw, low, high, seed):
    """Tolerances: onset ±2 % of the x range, log10 width ±0.1, plateaus ±0.02 (noise sd 0.01)."""
    m = make_model("logistic")
    y = m.predict(X, [onset, lw, low, high])
    y = y + np.random.default_rng(seed).normal(0, 0.01, len(X))
    r = fit_curve(from_arrays(X, np.clip(y, 0, 1)), m)
    assert abs(r.params["onset"] - onset) < 200
    assert abs(r.params["log10_width"] - lw) < 0.1
    assert abs(r.params["low"] - low) < 0.02 and abs(r.params["high"] - high) < 0.02
    assert r.t_transition_ci[0] - 100 <= onset <= r.t_transition_ci[1] + 100
    assert r.r2 > 0.95


@settings(max_examples=10)
@given(st.floats(1.5, 2.3), st.floats(-4.0, -1.0), st.integers(0, 10_000), st.booleans())
def test_nested_logits_recovers_time_scale_and_transition(lsc, b1, seed, free_init):
    """Tolerances (noise sd 0.005): transition step ±3 %; with α₀ = ξ₀ held at 0, log10 time
    scale ±0.05 and β₁⁰ ±0.3; with them free, the early phase can be traded between (s, β₁⁰,
    α₀, ξ₀) and only log10 s ±0.15 (a factor 1.4) is asserted."""
    m = make_model("nested-logits", N=8, L=32, B=1, eps=0.1, free_init=free_init)
    p = np.array([lsc, b1] + ([0.0, 0.0] if free_init else []))
    x = np.linspace(0, 40_000, 200)       # wide enough that the transition is inside
    y = m.predict(x, p)
    assume(y[-1] > 0.8 and y[len(x) // 20] < 0.3)
    y = y + np.random.default_rng(seed).normal(0, 0.005, len(x))
    true_t = m.transition(x, p)
    r = fit_curve(from_arrays(x, np.clip(y, 0, 1)), m)
    assert abs(r.params["log10_time_scale"] - lsc) < (0.15 if free_init else 0.05)
    if not free_init:
        assert abs(r.params["beta1_0"] - b1) < 0.3
    assert true_t is not None and abs(r.t_transition - true_t) < 0.03 * true_t
    assert r.r2 > 0.99


@settings(max_examples=15)
@given(st.floats(1.0, 2.2), st.floats(-1.8, -1.0), st.floats(0.0, 0.2), st.floats(0.7, 1.0),
       st.integers(0, 1000))
def test_three_factor_recovers_parameters(ls, la, low, high, seed):
    """Tolerances (noise sd 0.005): the plateau length log10(s/α₀) ±0.03 and the plateaus
    ±0.03; s and α₀ separately ±0.15.  Preconditions: the escape lies inside the window and
    its time scale s is resolved by the sampling (otherwise only s/α₀ is identifiable)."""
    m = make_model("three-factor")
    p = np.array([ls, la, low, high])
    x = np.linspace(0, 10_000, 400)
    assume(10 ** ls >= x[1])
    y = m.predict(x, p)
    t = m.transition(x, p)
    assume(t is not None and 0.1 * x[-1] < t < 0.8 * x[-1])
    y = y + np.random.default_rng(seed).normal(0, 0.005, len(x))
    r = fit_curve(from_arrays(x, np.clip(y, 0, 1)), m)
    fit_len = r.params["log10_time_scale"] - r.params["log10_alpha0"]
    assert abs(fit_len - (ls - la)) < 0.03
    assert abs(r.params["log10_time_scale"] - ls) < 0.15
    assert abs(r.params["log10_alpha0"] - la) < 0.15
    assert abs(r.params["low"] - low) < 0.03 and abs(r.params["high"] - high) < 0.03


def test_ih_minimal_recovers_its_own_time_scale():
    from minimal.tasks.icl import TASK_PRESETS
    task = TASK_PRESETS.get("reddy-fig3")
    m = make_model("ih-minimal", task=task, steps=6000, beta1_grid=(-2.0,), lr=0.1)
    steps, vals = m.simulate(-2.0)
    assert vals[-1] > 0.8 and vals[0] < 0.1            # the simulated curve transitions
    x = np.linspace(0, 6000 * 3.0, 90)
    y = np.interp(x / 3.0, steps, vals)
    r = fit_curve(from_arrays(x, y), m)
    assert abs(10 ** r.params["log10_time_scale"] - 3.0) < 0.06 and r.params["beta1_0"] == -2.0


@pytest.mark.parametrize("name", ["logistic", "three-factor", "nested-logits"])
def test_fit_invariant_to_row_order_and_x_rescaling(name):
    m = make_model(name)
    p = {"logistic": [4000, 2.8, 0.05, 0.95], "three-factor": [1.6, -1.4, 0.05, 0.95],
         "nested-logits": [2.0, -2.0, 0.0, 0.0]}[name]
    if name == "nested-logits":
        m = make_model(name, free_init=False)
        p = p[:2]
    y = m.predict(X, p) + np.random.default_rng(0).normal(0, 0.005, len(X))
    y = np.clip(y, 0, 1)
    base = fit_curve(from_arrays(X, y), m)
    perm = np.random.default_rng(1).permutation(len(X))
    shuffled = fit_curve(from_arrays(X[perm], y[perm]), m)
    for k in base.params:
        assert shuffled.params[k] == pytest.approx(base.params[k], rel=1e-9, abs=1e-12)
    c = 7.0
    scaled = fit_curve(from_arrays(X * c, y), m)
    assert scaled.r2 == pytest.approx(base.r2, abs=1e-4)
    assert scaled.t_transition == pytest.approx(base.t_transition * c, rel=5e-3)
    for k, v in base.params.items():
        if k == "onset":
            assert scaled.params[k] == pytest.approx(v * c, rel=5e-3)
        elif k.startswith("log10_") and k in m.time_params:
            assert scaled.params[k] == pytest.approx(v + math.log10(c), abs=5e-3)


# --- input validation ------------------------------------------------------------------------

def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_every_invalid_input_has_its_error(tmp_path):
    good = "step,ic_acc\n" + "\n".join(f"{i},{min(1, i / 10)}" for i in range(12))
    with pytest.raises(CurveFileError, match="no column 'foo'"):
        load_curve(_write(tmp_path, "a.csv", good), y="foo")
    bad = good.replace("\n3,0.3", "\n3,abc")
    with pytest.raises(CurveFileError, match="non-numeric value 'abc'"):
        load_curve(_write(tmp_path, "b.csv", bad), x="step", y="ic_acc")
    few = "step,ic_acc\n" + "\n".join(f"{i},0.1" for i in range(5))
    with pytest.raises(CurveFileError, match="need at least 8"):
        load_curve(_write(tmp_path, "c.csv", few), x="step", y="ic_acc")
    dec = "step,ic_acc\n" + "\n".join(f"{10 - i},0.1" for i in range(10))
    with pytest.raises(CurveFileError, match="not increasing"):
        load_curve(_write(tmp_path, "d.csv", dec), x="step", y="ic_acc")
    out = "step,ic_acc\n" + "\n".join(f"{i},{i / 5}" for i in range(10))
    with pytest.raises(CurveFileError, match=r"outside \[0, 1\]"):
        load_curve(_write(tmp_path, "e.csv", out), x="step", y="ic_acc", y_range=(0, 1))
    with pytest.raises(CurveFileError, match="no such file"):
        load_curve(tmp_path / "missing.csv")
    with pytest.raises(CurveFileError, match="empty"):
        load_curve(_write(tmp_path, "f.csv", ""))
    with pytest.raises(CurveFileError, match="not a minimal run"):
        load_curve(tmp_path)
    nan = good.replace("\n4,0.4", "\n4,nan").replace("\n5,0.5", "\n5,")
    with pytest.warns(CurveWarning, match="dropped 2 row"):
        c = load_curve(_write(tmp_path, "g.csv", nan), x="step", y="ic_acc")
    assert len(c) == 10
    for err in (CurveFileError("x"),):
        assert "\n" not in str(err)


def test_formats_tsv_jsonl_wandb(tmp_path):
    rows = [(i * 100, 0.05 + 0.9 / (1 + math.exp(-(i - 10)))) for i in range(20)]
    tsv = "Step\tacc\n" + "\n".join(f"{a}\t{b}" for a, b in rows)
    jsonl = "\n".join(json.dumps({"step": a, "ic_acc": b, "other": "x"}) for a, b in rows)
    wandb = "Step,myrun - ic_acc,myrun - ic_acc__MIN,myrun - ic_acc__MAX\n" + \
        "\n".join(f"{a},{b},{b},{b}" for a, b in rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveWarning)
        for name, text in (("a.tsv", tsv), ("b.jsonl", jsonl), ("c.csv", wandb)):
            c = load_curve(_write(tmp_path, name, text))
            np.testing.assert_allclose(c.x, [a for a, _ in rows])
            np.testing.assert_allclose(c.y, [b for _, b in rows])
    c = load_curve(_write(tmp_path, "d.csv", wandb), x="Step", y="ic_acc")
    assert c.y_name == "myrun - ic_acc"


def test_minimal_train_csv_round_trips(tmp_path):
    from minimal.config import Seeds
    from minimal.nets.config import NetConfig, TrainConfig, TrainRunConfig
    from minimal.nets.train import train
    from minimal.tasks.icl import TaskConfig
    cfg = TrainRunConfig(task=TaskConfig(K=64, L=8, N=4, N_max=4, D=7, B=1, K_novel=8,
                                         batch_size=8, n_eval=32),
                         net=NetConfig(k_dim=8), train=TrainConfig(steps=90, eval_every=10),
                         seeds=Seeds(seed=1))
    res = train(cfg, tmp_path / "run", progress=False)
    c = load_curve(tmp_path / "run", x="step", y="ic_acc")
    np.testing.assert_array_equal(c.x, res.metrics["step"])
    np.testing.assert_array_equal(c.y, res.metrics["ic_acc"])
    assert c.meta["run"]["config"]["task"]["N"] == 4
    r = fit_curve(c, make_model("logistic"))
    assert r.n_points == 10 and set(r.to_json_dict()) >= {
        "model", "params", "stderr", "r2", "aic", "t_transition", "t_transition_ci", "n_points"}


def test_midpoint_crossing():
    assert midpoint_crossing([0, 1, 2, 3], [0, 0, 1, 1]) == pytest.approx(1.5)
    assert midpoint_crossing([0, 1, 2], [1, 1, 1]) is None
    assert midpoint_crossing([0, 1, 2, 3], [1, 1, 0, 0]) == pytest.approx(1.5)
