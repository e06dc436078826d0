"""Nested-logits theory (symbolic vs numeric, analytic targets P1–P5 and b.3) and the
three-factor toy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minimal.errors import ConfigError
from minimal.theory import analysis as A
from minimal.theory import nested_logits as nl
from minimal.theory import three_factor as tf


@st.composite
def nl_configs(draw, saddle=False):
    N = draw(st.sampled_from([2, 3, 4, 6, 8, 12, 16]))
    B = draw(st.sampled_from([b for b in range(1, N) if N % b == 0]))
    n = N // B
    L = n if saddle else draw(st.integers(n, n + 40))
    return nl.NestedLogitsConfig(N=N, L=L, B=B, eps=draw(st.floats(0, 3)),
                                 beta1_0=draw(st.floats(-6, 3)))


thetas = st.tuples(st.floats(-6, 6), st.floats(-5, 10), st.floats(-5, 15))


@given(nl_configs(), thetas)
def test_gradient_equals_finite_differences_of_loss(cfg, th):
    g = nl.gradient(th, cfg)
    f = nl.compiled()["all"]
    h = 1e-6
    for i in range(3):
        tp, tm = list(th), list(th)
        tp[i] += h
        tm[i] -= h
        fd = (f(*tp, *cfg.consts)[0] - f(*tm, *cfg.consts)[0]) / (2 * h)
        assert fd == pytest.approx(g[i], rel=1e-5, abs=1e-7)


@settings(max_examples=25)
@given(nl_configs(), thetas)
def test_symbolic_hessian_equals_numeric_derivative_of_gradient(cfg, th):
    H = nl.hessian(th, cfg)
    h = 1e-6
    for j in range(3):
        tp, tm = list(th), list(th)
        tp[j] += h
        tm[j] -= h
        col = (nl.gradient(tp, cfg) - nl.gradient(tm, cfg)) / (2 * h)
        np.testing.assert_allclose(H[:, j], col, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(H, H.T, rtol=1e-9, atol=1e-12)


@given(nl_configs(), thetas)
def test_loss_nonnegative_and_probabilities_sum_to_one(cfg, th):
    e = nl.evaluate(th, cfg)
    assert e["loss"] >= -1e-12
    pc, po, pa, cla, q = nl.compiled()["probs"](*th, *cfg.consts)
    n, L = cfg.n, cfg.L
    assert pc + (n - 1) * po + (L - n) * pa == pytest.approx(1.0, rel=1e-12)
    assert e["loss"] == pytest.approx(-math.log(pc), rel=1e-9, abs=1e-12)
    assert cla == pytest.approx(pc + (n - 1) * po, rel=1e-12)
    assert 0 < q < 1


@given(nl_configs(), st.floats(-8, 8))
def test_origin_values_P1(cfg, b1):
    """ℒ = log L on the line α = ξ = 0, ∂ξℒ = 1/L − 1/n, ∂αℒ = ∂β₁ℒ = 0."""
    e = nl.evaluate((b1, 0.0, 0.0), cfg)
    assert e["loss"] == pytest.approx(math.log(cfg.L), rel=1e-12)
    assert e["grad"][2] == pytest.approx(1 / cfg.L - cfg.B / cfg.N, abs=1e-12)
    assert e["grad"][0] == 0 and e["grad"][1] == 0


@given(nl_configs(saddle=True), st.floats(-8, 8))
def test_L_equals_n_line_is_stationary_P3(cfg, b1):
    assert np.all(nl.gradient((b1, 0.0, 0.0), cfg) == 0.0)
    tr = nl.gradient_flow(cfg.__class__(**{**cfg.__dict__, "beta1_0": b1}), 50.0, n_points=5)
    np.testing.assert_allclose(tr.theta[-1], [b1, 0, 0], atol=1e-12)   # exact flow never moves


@given(nl_configs(), thetas)
def test_gradient_structure_P2(cfg, th):
    """∂ℒ/∂α ∝ ξ and ∂ℒ/∂β₁ ∝ ξ·α: both vanish when ξ = 0; ∂β₁ also when α = 0."""
    b1, al, xi = th
    assert nl.gradient((b1, al, 0.0), cfg)[1] == 0
    assert nl.gradient((b1, al, 0.0), cfg)[0] == 0
    assert nl.gradient((b1, 0.0, xi), cfg)[0] == 0


def test_symbolic_saddle_statements():
    s = A.saddle(8, 8, 1)
    assert s["stationary"] and s["gradient_vanishes_iff_L_eq_n"]
    (b1, _, _), (N, L, B, eps), ex = nl.symbols_and_loss()
    w = ex["w"]
    lam = sp.Rational(1, 8) * (1 - sp.Rational(1, 8)) * w / (1 + eps ** 2)
    got = sorted(s["eigenvalues"], key=lambda e: float(e.subs({b1: 0.3, eps: 0.2})))
    want = sorted([sp.Integer(0), lam, -lam], key=lambda e: float(e.subs({b1: 0.3, eps: 0.2})))
    assert all(sp.simplify(g - w_) == 0 for g, w_ in zip(got, want))
    assert not A.saddle(8, 32, 1)["stationary"]
    # the only non-zero Hessian entries at L = n are the alpha-xi ones
    H = s["hessian"]
    assert H[0, :] == sp.zeros(1, 3) and H[1, 1] == 0 and H[2, 2] == 0 and H[1, 2] == H[2, 1]


def test_early_growth_and_plateau_derivation():
    e = A.early_growth()
    assert e["exponents"] == (1, 2, 4) and all(e["agrees_with_spec"].values())
    assert all(v == 0 for v in e["vanishing_derivatives"].values())
    p = A.plateau_formula()
    assert p["conserved"] and p["matches_spec"]


@settings(max_examples=10)
@given(nl_configs(), st.sampled_from([(1, 1, 1), (0.5, 1, 2)]))
def test_early_growth_laws_match_integration(cfg, rates):
    """Measured log-log slopes at small t are 1, 2 and 4 and match the derived coefficients."""
    assume(cfg.L > cfg.n)
    cfg = cfg.__class__(**{**cfg.__dict__, "eta_beta": rates[0], "eta_alpha": rates[1],
                           "eta_xi": rates[2]})
    t_star = A.plateau_estimate(cfg)
    e = A.early_growth()
    (b1, _, _), (N, L, B, eps), _ = nl.symbols_and_loss()
    subs = {b1: cfg.beta1_0, N: cfg.N, L: cfg.L, B: cfg.B, eps: cfg.eps,
            A.ETA[0]: cfg.eta_beta, A.ETA[1]: cfg.eta_alpha, A.ETA[2]: cfg.eta_xi}
    coef = {k: float(v.subs(subs)) for k, v in e["coefficients"].items()}
    t1 = 1e-3 * t_star
    tr = nl.gradient_flow(cfg, 2 * t1, n_points=3, rtol=1e-12, atol=1e-16)
    x = tr.theta[1:] - tr.theta[0]
    for i, (name, k) in enumerate((("beta1", 4), ("alpha", 2), ("xi", 1))):
        slope = math.log(x[1, i] / x[0, i]) / math.log(2.0)
        assert slope == pytest.approx(k, abs=0.05), name
        assert x[0, i] == pytest.approx(coef[name] * t1 ** k, rel=0.02), name


def test_plateau_estimate_accuracy_over_box():
    """Stated accuracy of t*, ratio (GD step where p_correct > ½) / t*:
    * core box (w₀ ∈ {0.27, 0.05}, L ∈ {n+2, 4n}, rates (1,1,1) or (0.2,1,0.5)): in [0.8, 1.4];
    * the spec's full box (w₀ ≤ 0.5 incl. 0.5 and 0.007, ε ≤ 1, one rate 5× slower):
      always within [0.5, 2.5] and in [0.8, 1.4] for ≥ 75 % of the 1,056 settings (measured:
      0.58–2.41, 80 %); the misses are w₀ = 0.5 (outside w ≪ 1), w₀ = 0.007 and slow α."""
    res = A.plateau_check(quick=True)
    assert res["n_reached"] == res["n"]
    assert 0.8 <= res["min"] and res["max"] <= 1.4
    full = A.plateau_check(quick=False)
    assert full["n_reached"] == full["n"] == 1056
    assert 0.5 <= full["min"] and full["max"] <= 2.5
    assert full["frac_in_0.8_1.4"] >= 0.75


def test_ordering_xi_alpha_beta1():
    out = A.ordering_times()
    assert out["curriculum_holds"] and out["order"] == ["xi", "alpha", "beta1"]


@settings(max_examples=10)
@given(nl_configs())
def test_gd_loss_nonincreasing_P5(cfg):
    assume(cfg.L > cfg.n)
    cfg = cfg.__class__(**{**cfg.__dict__, "eta_beta": 0.2, "eta_alpha": 0.2, "eta_xi": 0.2})
    tr = nl.gradient_descent(cfg, 500)
    assert np.all(np.diff(tr.loss) <= 1e-12)


def test_plateau_signs():
    s = A.knob_signs()
    assert s == {"N": 1, "L": -1, "B": -1, "eps": 1, "beta1_0": -1, "eta_beta": -1,
                 "eta_alpha": -1, "eta_xi": -1}


def test_config_validation():
    with pytest.raises(ConfigError, match="L=3"):
        nl.NestedLogitsConfig(N=8, L=3, B=2)
    with pytest.raises(ConfigError, match="B=3"):
        nl.NestedLogitsConfig(N=8, B=3)
    with pytest.raises(ConfigError, match="eta_xi"):
        nl.NestedLogitsConfig(eta_xi=0)
    with pytest.raises(ConfigError, match="t_max"):
        nl.gradient_flow(nl.NestedLogitsConfig(), -1)


# --- three-factor toy ---------------------------------------------------------------------------

@given(st.integers(0, 1000))
@settings(max_examples=10)
def test_tensor_gradient_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    v = [rng.standard_normal(5) for _ in range(6)]
    g = tf.tensor_grads(*v)
    h = 1e-6
    for k in range(3):
        for i in range(5):
            vp = [x.copy() for x in v]
            vm = [x.copy() for x in v]
            vp[k][i] += h
            vm[k][i] -= h
            fd = (tf.tensor_loss(*vp) - tf.tensor_loss(*vm)) / (2 * h)
            assert fd == pytest.approx(g[k][i], rel=1e-5, abs=1e-9)
    # the norm form equals the explicit sum over the tensor
    a, b, c, a_s, b_s, c_s = v
    T = np.einsum("i,j,k->ijk", a_s, b_s, c_s) - np.einsum("i,j,k->ijk", a, b, c)
    assert tf.tensor_loss(*v) == pytest.approx((T ** 2).sum() / (2 * 5 ** 3), rel=1e-10)


def test_tensor_toy_clamping_speeds_learning():
    """bc is never slower than none seed by seed; c is faster in the median (5 seeds)."""
    its = {cl: [tf.tensor_toy(tf.TensorToyConfig(clamp=cl, seed=s))["iters_to_10pct"]
                for s in range(5)] for cl in tf.CLAMPS}
    assert all(b <= n for b, n in zip(its["bc"], its["none"]))
    assert np.median(its["c"]) < np.median(its["none"])
    r = tf.tensor_toy(tf.TensorToyConfig(clamp="bc", seed=0))
    assert np.all(np.diff(r["loss"][1:]) <= 1e-12)          # linear in a: no plateau


@settings(max_examples=15)
@given(st.floats(0.5, 3), st.floats(0.002, 0.1), st.floats(0.3, 2))
def test_scalar_model_clamped_never_slower(kappa, frac, eta):
    """In the plateau regime (α₀ ≤ κ/10) every clamp condition reaches 10 % of log 2 no later
    than the unclamped model.  (Outside it the unclamped plateau 2/(ηκα₀) is so short that
    two clamps, which leave one linearly growing factor, can be slower.)"""
    a0 = frac * kappa
    base = tf.scalar_model(tf.ScalarModelConfig(kappa=kappa, alpha0=a0, eta=eta), 4000.0,
                           n_points=10)["t_10pct"]
    for cl in ("A", "B", "C", "AB", "AC", "BC"):
        t = tf.scalar_model(tf.ScalarModelConfig(kappa=kappa, alpha0=a0, eta=eta, clamp=cl),
                            4000.0, n_points=10)["t_10pct"]
        assert t is not None and (base is None or t <= base * (1 + 1e-6)), cl


def test_scalar_laws():
    laws = tf.scalar_laws()
    eta, kappa, a0 = (sp.Symbol(n, positive=True) for n in ("eta", "kappa", "alpha_0"))
    assert sp.simplify(laws["t_star_none"] - 2 / (eta * kappa * a0)) == 0
    # the unclamped plateau ends near 2/(η κ α0) for small α0
    r = tf.scalar_model(tf.ScalarModelConfig(alpha0=0.02), 400.0, n_points=2000)
    t_half = r["t"][np.flatnonzero(r["loss"] < 0.5 * r["loss"][0])[0]]
    assert t_half == pytest.approx(2 / 0.02, rel=0.1)
