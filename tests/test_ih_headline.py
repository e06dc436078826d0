"""The two-parameter headline model (ih2-labels) and its reductions: gradients against the
explicit NumPy back-propagation and finite differences over random configurations; with α = 0
the prediction ignores which label belongs to which item (the classifier alone, fed the bag of
context tokens); the L = N saddle at the origin; frozen factors stay frozen; and the analysis
helpers of the experiments (settling, axis rows, escape tables, the ε ceiling, the fit bridge)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from minimal.induction_head import reference as R
from minimal.induction_head.config import FROZEN, HEADLINE, VARIANTS, IHConfig
from minimal.induction_head.model import IHModel
from minimal.tasks.icl import ICLTask, TaskConfig

EPS64 = np.finfo(np.float64).eps
LABELS_ONLY = ("ih2-labels", "ih1-alpha", "ih1-beta1")


@st.composite
def task_configs(draw):
    """Small random tasks: N, B | N, L ≥ N/B with K_novel and K multiples of L, any D and ε."""
    N = draw(st.sampled_from([2, 4, 6, 8]))
    B = draw(st.sampled_from([b for b in (1, 2, 3, 4) if N % b == 0 and b < N] or [1]))
    L = draw(st.sampled_from([m for m in (2, 4, 8, 16) if m >= N // B]))
    D = draw(st.integers(3, 24))
    eps = draw(st.floats(0.0, 2.0))
    p_novel = draw(st.sampled_from([0.0, 0.5, 1.0]))
    return TaskConfig(K=4 * L, L=L, N=N, N_max=N, D=D, B=B, K_novel=2 * L, p_novel=p_novel,
                      eps=eps, n_eval=16)


def _model(task_cfg, variant, clf, th, seed, init_std=0.3):
    task = ICLTask(task_cfg, seed, warn=False)
    ih = IHConfig(variant=variant, classifier=clf, dtype="float64", linear_init_std=init_std,
                  beta1_0=th[0], alpha_0=th[1], beta2_0=0.0 if variant == "ih2" else th[2])
    model = IHModel(ih, task_cfg, task.label_vectors)
    return task, model, model.init(np.random.default_rng(seed))


def _with_theta(p, i, value):
    q = {k: v.copy() for k, v in p.items()}
    q["theta"][i] = value
    return q


@settings(max_examples=40, deadline=None)
@given(task_configs(), st.sampled_from(VARIANTS), st.sampled_from(["linear", "mlp3"]),
       st.floats(-6, 6), st.floats(-10, 10), st.floats(-6, 6), st.integers(0, 10_000),
       st.integers(1, 9))
@example(TaskConfig(K=32, L=8, N=8, N_max=8, D=63, B=2, K_novel=16, p_novel=0.5, eps=0.1,
                    n_eval=16), "ih2-labels", "mlp3", -2.0, 0.0, 0.0, 0, 8)
def test_gradients_match_backprop_reference_and_finite_differences(tc, variant, clf, b1, al,
                                                                    b2, seed, nb):
    """Kernel θ-gradient = the explicit NumPy back-propagation (round-off), and the NumPy
    gradient = central differences of the NumPy loss at two step sizes (a pair of step sizes
    that disagree has a ReLU kink within reach and is not a test of the gradient)."""
    task, model, p = _model(tc, variant, clf, (b1, al, b2), seed)
    batch = task.batch(seed % 97, batch_size=nb)
    loss, g, _ = model.loss_and_grads(p, batch)
    ref_loss = R.loss(p, batch.content, batch.target, variant, clf)
    logits = R.forward(p, batch.content, variant, clf)["logits"]
    mag = (1.0 + abs(al)) * (1.0 + np.abs(logits).max()) * (1.0 + abs(b2))
    assert abs(loss - ref_loss) <= 1e3 * EPS64 * mag
    ref = R.theta_grad(p, batch.content, batch.target, variant, clf)
    np.testing.assert_allclose(g["theta"], ref, rtol=1e-9, atol=1e3 * EPS64 * mag)
    for i in range(3):
        if i in FROZEN[variant]:
            assert g["theta"][i] == 0.0
            continue
        fds = []
        for h in (1e-6, 5e-7):
            hi = h * (1.0 + abs(p["theta"][i]))
            lp = R.loss(_with_theta(p, i, p["theta"][i] + hi), batch.content, batch.target,
                        variant, clf)
            lm = R.loss(_with_theta(p, i, p["theta"][i] - hi), batch.content, batch.target,
                        variant, clf)
            fds.append((lp - lm) / (2 * hi))
        floor = 1e-6 * (1.0 + abs(fds[1])) + 1e3 * EPS64 * mag / 5e-7
        assume(abs(fds[0] - fds[1]) <= floor)          # no kink between the two steps
        assert abs(ref[i] - fds[1]) <= 2 * floor, (i, ref[i], fds)


@settings(max_examples=30, deadline=None)
@given(task_configs(), st.sampled_from(LABELS_ONLY), st.sampled_from(["linear", "mlp3"]),
       st.floats(-6, 6), st.integers(0, 10_000))
def test_alpha_zero_prediction_is_the_classifier_on_the_bag_of_context_tokens(tc, variant, clf,
                                                                               b1, seed):
    """With α = 0 the attention is uniform over the labels, so the prediction is the classifier
    applied to x_q + mean_j(ℓ_j + w x_j): it cannot depend on which label goes with which
    item.  Re-pairing the labels with the items leaves the logits unchanged (to round-off),
    while with α ≠ 0 the same re-pairing changes them."""
    task, model, p = _model(tc, variant, clf, (b1, 0.0, 0.0), seed)
    batch = task.batch(seed % 89, batch_size=8)
    N = tc.N
    C = batch.content.astype(np.float64)
    w = 1.0 / (1.0 + np.exp(-b1))
    bag = C[:, -1] + (C[:, 1:2 * N:2] + w * C[:, 0:2 * N:2]).mean(1)
    z = model.forward(p, batch)["logits"]
    z_bag = model.classify(p, bag)
    scale = 1.0 + np.abs(z_bag).max()
    np.testing.assert_allclose(z, z_bag, rtol=0, atol=1e3 * EPS64 * scale * N)
    perm = np.roll(np.arange(N), 1)                   # every label moves to another item
    shuffled = batch.copy()
    shuffled.content[:, 1:2 * N:2] = batch.content[:, 1:2 * N:2][:, perm]
    np.testing.assert_allclose(model.forward(p, shuffled)["logits"], z, rtol=0,
                               atol=1e3 * EPS64 * scale * N)
    if variant != "ih1-beta1":                        # α is frozen at 0 there
        p2 = _with_theta(p, 1, 4.0)
        za, zb = model.forward(p2, batch)["logits"], model.forward(p2, shuffled)["logits"]
        same_labels = (batch.label_ids[:, :N] == batch.label_ids[:, perm]).all(1)
        if not same_labels.all():
            assert np.abs(za - zb)[~same_labels].max() > 1e-6


def _label_symmetrised(task, batch):
    """Every sequence with every cyclic relabelling l → (l + r) mod L applied to its context
    labels and its target (the label vectors of the relabelled tokens are looked up)."""
    L, N = task.config.L, task.config.N
    lv = np.asarray(task.label_vectors, batch.content.dtype)
    parts = []
    for r in range(L):
        b = batch.copy()
        ids = (batch.label_ids[:, :N] + r) % L
        b.content[:, 1:2 * N:2] = lv[ids]
        b.target[:] = (batch.target + r) % L
        b.label_ids[:, :N] = ids
        parts.append(b)
    import dataclasses
    return dataclasses.replace(parts[0], **{
        name: np.ascontiguousarray(np.concatenate([getattr(b, name) for b in parts]))
        for name in ("content", "target", "label_ids", "class_ids", "kind", "shift")})


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([2, 4, 8]), st.floats(-5, 3), st.integers(0, 10_000))
def test_origin_is_stationary_at_L_equals_N_and_not_above(N, b1, seed):
    """The saddle: B = 1, α = 0, a zero linear classifier.  Every context then holds every
    label once when L = N, so the label part of the target's residual is the same for every
    sequence; over a label-symmetric batch the gradient vanishes to round-off — in θ exactly,
    because the classifier reads nothing.  With L = 2N the same construction leaves a
    gradient along the label-alignment direction ξ (W ∝ Σ_l e_l ℓ_lᵀ) that makes ξ grow."""
    grads = {}
    for L in (N, 2 * N):
        tc = TaskConfig(K=4 * L, L=L, N=N, N_max=N, D=16, B=1, K_novel=4 * L, p_novel=1.0,
                        eps=0.1, n_eval=16)
        task, model, p = _model(tc, HEADLINE, "linear", (b1, 0.0, 0.0), seed, init_std=0.0)
        assert not p["W"].any()
        batch = _label_symmetrised(task, task.batch(seed % 53, batch_size=4))
        loss, g, _ = model.loss_and_grads(p, batch)
        assert loss == pytest.approx(np.log(L), rel=1e-12)
        assert (g["theta"] == 0.0).all()
        C = batch.content.astype(np.float64)
        mag = np.abs(C).sum(1).max() + 1.0
        grads[L] = (g["W"], mag)
        xi_dir = np.asarray(task.label_vectors, np.float64)       # W = ξ · (rows ℓ_l)
        grads[L] += (float((g["W"] * xi_dir).sum()),)
    gW, mag, _ = grads[N]
    assert np.abs(gW).max() <= 1e3 * EPS64 * mag
    gW2, _, xi2 = grads[2 * N]
    assert np.abs(gW2).max() > 1e-3 and xi2 < -1e-3          # descent increases ξ


def test_frozen_factors_stay_at_their_initial_values():
    from minimal.config import apply_overrides
    from minimal.induction_head.config import IH_PRESETS
    from minimal.induction_head.train import train_ih
    for variant, moves in (("ih1-alpha", (1,)), ("ih1-beta1", (0,)), ("ih2-labels", (0, 1))):
        cfg = apply_overrides(IH_PRESETS.get("reddy-fig3"), [
            f"ih.variant={variant}", "ih.alpha_0=1.0", "ih.beta1_0=-1.0", "train.steps=200",
            "train.eval_every=100", "task.n_eval=100", "ih.lr_attn=0.3", "ih.lr_clf=0.3"])
        th = train_ih(cfg, None, progress=False).params["theta"]
        for i, start in enumerate((-1.0, 1.0, 0.0)):
            if i in moves:
                assert abs(th[i] - start) > 1e-4, (variant, i)
            else:
                assert th[i] == start, (variant, i)


def test_headline_is_the_default():
    from minimal.induction_head.config import IH_PRESETS
    assert IHConfig().variant == HEADLINE == "ih2-labels" == VARIANTS[0]
    assert IH_PRESETS.get("reddy-fig3").ih.variant == HEADLINE


# ----------------------------------------------------------------------------------------------
# experiment helpers
# ----------------------------------------------------------------------------------------------

class _Cfg:
    class task:
        B_eval, N = 2, 8


def test_settle_summary_drift():
    from minimal.induction_head.experiments import settle_summary
    steps = np.arange(0, 2001, 100.0)
    ic = np.minimum(steps / 1000.0, 0.8)
    iw = 0.1 + 0.05 * (steps >= 1600)
    s = settle_summary({"step": steps, "ic_acc": ic, "iw_acc": iw}, _Cfg)
    assert s["q3_step"] == 1500 and s["ic_acc_q3"] == 0.8 and s["iw_acc_q3"] == 0.1
    assert s["drift"] == pytest.approx(0.05) and s["steps"] == 2000
    assert s["learned_icl"] is True and s["t_icl"] == 700


def test_axis_rows_repeat_the_base_point():
    from minimal.induction_head.experiments import axis_rows, data_table
    rows = [{"task.B": 2, "task.K": None, "task.eps": None, "seed": 0, "status": "completed",
             "ic_acc": 0.5, "iw_acc": 0.1, "drift": 0.0, "steps": 10},
            {"task.B": None, "task.K": 128, "task.eps": None, "seed": 0,
             "status": "completed", "ic_acc": 0.2, "iw_acc": 0.9, "drift": 0.0, "steps": 10},
            {"task.B": 0, "task.K": None, "task.eps": None, "seed": 1, "status": "completed",
             "ic_acc": 0.0, "iw_acc": 0.7, "drift": 0.0, "steps": 10}]
    out = axis_rows(rows, "axes")
    assert sorted((r["axis"], r["value"]) for r in out) == [
        ("B", 0), ("B", 2), ("K", 128), ("K", 512), ("eps", 0.1)]
    t = data_table(out)
    assert [(r["axis"], r["value"]) for r in t] == [("B", 0), ("B", 2), ("K", 128), ("K", 512),
                                                    ("eps", 0.1)]
    assert axis_rows([{"task.zipf_alpha": 1.5, "ic_acc": 0.3}], "zipf")[0]["axis"] == \
        "zipf_alpha"


def test_escape_table_and_verdict():
    from minimal.induction_head.experiments import escape_table, init_verdict
    rows = []
    for v, b, a, escapes in (("ih2-labels", -2.0, -1.0, [3000, 4000]),
                             ("ih2-labels", -2.0, 1.0, [1000, 1500]),
                             ("ih1-beta1", -2.0, -1.0, [None, None]),
                             ("ih1-beta1", -2.0, 1.0, [2000, 2500])):
        for s, t in enumerate(escapes):
            rows.append({"variant": v, "ih.beta1_0": b, "ih.alpha_0": a, "seed": s,
                         "status": "completed", "learned_icl": t is not None, "t_icl": t,
                         "steps": 20000, "ic_acc": 0.9 if t else 0.2})
    t = escape_table(rows)
    assert [(r["variant"], r["ih.alpha_0"], r["n_escaped"], r["escape_median"]) for r in t] == [
        ("ih2-labels", -1.0, 2, 3500.0), ("ih2-labels", 1.0, 2, 1250.0),
        ("ih1-beta1", -1.0, 0, None), ("ih1-beta1", 1.0, 2, 2250.0)]
    v = {r["reduced"]: r for r in init_verdict(t)}
    assert v["ih1-beta1"]["holds"] and v["ih1-beta1"]["fail"] == [(-2.0, -1.0)]
    assert v["ih1-beta1"]["succeed"] == [(-2.0, 1.0)] and v["ih1-beta1"]["parent_fails"] == []
    assert "ih1-alpha" not in v and "ih2" not in v      # not run / parent not run
    # where the parent fails too, the reduction's failure does not count
    t2 = [dict(r, n_escaped=0, escape_median=None) if r["variant"] == "ih2-labels" and
          r["ih.alpha_0"] == -1.0 else r for r in t]
    v2 = {r["reduced"]: r for r in init_verdict(t2)}["ih1-beta1"]
    assert not v2["holds"] and v2["parent_fails"] == [(-2.0, -1.0)] and v2["fail"] == []


def test_ic_ceiling_falls_with_eps():
    from minimal.induction_head.experiments import ic_ceiling
    rows = ic_ceiling((0.0, 0.4, 1.6, 3.2), n=1000)
    hard = [r["hard"] for r in rows]
    assert hard[0] == 1.0 and hard[1] >= 0.99           # identical / well separated items
    assert hard[3] < hard[2] < 0.97                     # overlap 1/(1+ε²) sinks into noise
    for r in rows:
        assert r["labels_only"] <= 1.0
        assert r["same_mean"] == pytest.approx(r["overlap_1/(1+eps^2)"], abs=0.05)
        assert r["other_sd"] == pytest.approx(1 / np.sqrt(63), rel=0.1)


def test_fit_bridge_recovers_a_known_time_scale():
    """Curves made by the minimal model itself, stretched by s = 3, on two settings: fitting
    one recovers s and predicts the other's transition step."""
    from minimal.fit import make_model
    from minimal.studies.ih_bridge import fit_bridge
    from minimal.tasks.config import TASK_PRESETS
    from minimal.config import apply_overrides, to_dict
    kw = dict(variant=HEADLINE, classifier="linear", steps=3000, beta1_grid=(-2.0,), seed=0,
              lr=0.2)
    curves = []
    for B in (1, 2):
        task = apply_overrides(TASK_PRESETS.get("reddy-fig3"), {"B": B})
        st_, ic = make_model("ih-minimal", task=task, **kw).simulate(-2.0)
        curves.append({"task": to_dict(task), "seed": 0, "step": 3.0 * st_,
                       "ic_acc": ic})
    res = fit_bridge(curves, {"K": 256, "B": 1}, sim_steps=kw["steps"], beta1_grid=(-2.0,),
                     classifier="linear", lr=kw["lr"])
    assert res["scale"] == pytest.approx(3.0, rel=1e-3)
    rows = {r["B"]: r for r in res["rows"]}
    assert rows[1]["fit"] and not rows[2]["fit"]
    assert rows[2]["measured"] is not None
    assert rows[2]["ratio"] == pytest.approx(1.0, rel=1e-3)


# ----------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------

def test_cli_ceiling_and_init_sweep(tmp_path, capsys):
    import json
    from minimal.cli import main
    assert main(["ih", "ceiling", "--eps", "0,3.2", "--n", "300", "--json"]) == 0
    t = json.loads(capsys.readouterr().out)["table"]
    assert [r["eps"] for r in t] == [0.0, 3.2] and t[0]["hard"] == 1.0 > t[1]["hard"]
    assert main(["ih", "sweep", "--kind", "init", "--variant", "ih1-beta1", "--quick",
                 "--steps", "40", "--workers", "1", "--out", str(tmp_path / "i"), "--json",
                 "--quiet"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert {(r["variant"], r["ih.beta1_0"], r["ih.alpha_0"]) for r in obj["table"]} == {
        ("ih1-beta1", b, a) for b in (-4.0, 0.0) for a in (-1.0, 1.0)}
    assert all(r["n"] == 1 and r["budget"] == 40 for r in obj["table"])
    assert obj["verdict"] == []          # the parent model was not run


def test_cli_default_variant_is_headline(tmp_path, capsys):
    from minimal.cli import main
    from minimal.runs import Run
    assert main(["ih", "--steps", "20", "--set", "train.eval_every=10", "--set",
                 "task.n_eval=50", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert "ih2-labels:" in capsys.readouterr().out
    assert Run.open(tmp_path / "r").config["ih"]["variant"] == HEADLINE


def test_bridge_transition_step_needs_a_rise():
    """A flat, noisy curve has no transition (no spurious midpoint crossing); a rising one
    crosses the midpoint of its first and last values where it should."""
    from minimal.studies.ih_bridge import MIN_RISE, transition_step
    rng = np.random.default_rng(0)
    steps = np.arange(0, 50_000, 1000.0)
    flat = 0.05 + 0.02 * rng.standard_normal(steps.size)
    assert transition_step(steps, flat) is None
    rise = 0.05 + 0.9 / (1 + np.exp(-(steps - 20_000) / 2000))
    t = transition_step(steps, rise)
    assert t == pytest.approx(20_000, abs=1000)
    small = 0.05 + (MIN_RISE - 0.05) / (1 + np.exp(-(steps - 20_000) / 2000))
    assert transition_step(steps, small) is None


def test_collect_table_rebuilds_the_whole_grid(tmp_path):
    """A sweep resumed on a subset of its grid leaves a table of the subset; collect_table
    reads the finished runs of the whole grid (the rest pending) and runs nothing."""
    from minimal.induction_head.experiments import collect_table, init_dependence, init_grid
    out = tmp_path / "init"
    init_dependence(variants=("ih1-beta1",), beta1s=(-4.0,), alphas=(1.0,), seeds=range(1),
                    steps=40, out=out, progress=False, workers=1)
    grid = init_grid("ih1-beta1", beta1s=(-4.0,), alphas=(-1.0, 1.0), seeds=range(1), steps=40)
    rows = collect_table(grid, out / "ih1-beta1")
    status = {r["ih.alpha_0"]: r["status"] for r in rows}
    assert status == {-1.0: "pending", 1.0: "completed"}
    done = [r for r in rows if r["status"] == "completed"][0]
    assert done["steps"] == 40 and 0.0 <= done["ic_acc"] <= 1.0
    text = (out / "ih1-beta1" / "results.csv").read_text().splitlines()
    assert len(text) == 3 and not (out / "ih1-beta1" / "runs" / rows[0]["job"]).exists()
