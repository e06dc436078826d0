"""Momentum attention (docs/momentum.md): the shear and smeared-key kernels against their
matrix definitions, the filter facts of the shear, and gradients through a network with them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minimal.transformer._kernels as K
from minimal.errors import ConfigError
from minimal.transformer import Transformer, TransformerConfig
from minimal.transformer.reference import shear_matrix, smear_matrices

from test_net import converged_fd

gammas = st.floats(-1.0, 4.0, allow_nan=False)
shapes = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(1, 4))


@settings(max_examples=50)
@given(shapes, gammas, st.integers(0, 2**16))
def test_shear_kernel_is_its_matrix(shape, g, seed):
    """In-place forward = M x; backward = Mᵀ dy (M from the definition, built densely)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    M = shear_matrix(shape[2], g)
    want = np.einsum("ts,bhse->bhte", M, x)
    y = x.copy()
    K._shear_fwd(y, g)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    # q̂_0 = q_0 (q_{−1} := q_0) and q̂_t = q_t + γ(q_t − q_{t−1})
    np.testing.assert_array_equal(y[:, :, 0], x[:, :, 0])
    if shape[2] > 1:
        np.testing.assert_allclose(y[:, :, 1:], x[:, :, 1:] + g * (x[:, :, 1:] - x[:, :, :-1]),
                                   rtol=1e-12, atol=1e-12)
    dy = np.random.default_rng(seed + 1).standard_normal(shape)
    np.testing.assert_allclose(K._shear_bwd(dy, g), np.einsum("ts,bhte->bhse", M, dy),
                               rtol=1e-12, atol=1e-12)


@settings(max_examples=50)
@given(shapes, st.integers(0, 2**16))
def test_smear_kernel_is_its_matrix_and_alpha_gradient_is_a_derivative(shape, seed):
    rng = np.random.default_rng(seed)
    n, H, T, dh = shape
    x = rng.standard_normal(shape)
    alpha = rng.normal(0, 2, H)
    S = smear_matrices(T, alpha)
    y = x.copy()
    K._smear_fwd(y, alpha)
    np.testing.assert_allclose(y, np.einsum("hts,bhse->bhte", S, x), rtol=1e-12, atol=1e-12)
    # the definition, element by element: k̂_t = σ(α_h) k_t + (1 − σ(α_h)) k_{t−1}, k̂_0 = k_0
    sig = 1.0 / (1.0 + np.exp(-alpha))[None, :, None, None]
    np.testing.assert_array_equal(y[:, :, 0], x[:, :, 0])
    np.testing.assert_allclose(y[:, :, 1:], sig * x[:, :, 1:] + (1 - sig) * x[:, :, :-1],
                               rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(shape)
    ga = np.zeros(H)
    dx = K._smear_bwd(dy, x, alpha, ga)
    np.testing.assert_allclose(dx, np.einsum("hts,bhte->bhse", S, dy), rtol=1e-12, atol=1e-12)

    def f(a):
        z = x.copy()
        K._smear_fwd(z, a)
        return float((z * dy).sum())
    for h in range(H):
        e = np.zeros(H)
        e[h] = 1.0
        fd = converged_fd(lambda t: f(alpha + t * e), scale=abs(f(alpha)) + 1.0)
        assert fd is not None                  # a smooth function of α: differences converge
        assert ga[h] == pytest.approx(fd, rel=1e-6, abs=1e-9)


@given(st.integers(2, 12), gammas, st.integers(0, 2**16))
def test_shear_has_unit_jacobian_in_position_and_difference_coordinates(T, g, seed):
    """Through the kernel: at one step t, (q_t, d_t = q_t − q_{t−1}) ↦ (q̂_t, d_t) has the
    Jacobian [[1, γ], [0, 1]] (determinant 1), while q ↦ q̂ over the whole sequence has
    determinant (1+γ)^(T−1) (its matrix, read column by column from the kernel)."""
    rng = np.random.default_rng(seed)
    t = int(rng.integers(1, T))

    def qhat_t(q_t, d_t):
        x = rng_x.copy()
        x[0, 0, t, 0], x[0, 0, t - 1, 0] = q_t, q_t - d_t
        K._shear_fwd(x, g)
        return x[0, 0, t, 0]
    rng_x = rng.standard_normal((1, 1, T, 1))
    q0, d0 = rng_x[0, 0, t, 0], rng_x[0, 0, t, 0] - rng_x[0, 0, t - 1, 0]
    h = 1e-3                                  # the map is linear: central differences are exact
    J = np.array([[(qhat_t(q0 + h, d0) - qhat_t(q0 - h, d0)) / (2 * h),
                   (qhat_t(q0, d0 + h) - qhat_t(q0, d0 - h)) / (2 * h)], [0.0, 1.0]])
    np.testing.assert_allclose(J, [[1.0, g], [0.0, 1.0]], atol=1e-9)
    assert np.linalg.det(J) == pytest.approx(1.0, abs=1e-9)
    cols = np.eye(T)[None, None, :, :].repeat(1, 0)          # (1, 1, T, T): unit sequences
    M = cols.copy()
    K._shear_fwd(M, g)                                       # column j = shear of e_j
    assert np.linalg.det(M[0, 0]) == pytest.approx((1.0 + g) ** (T - 1), rel=1e-9, abs=1e-12)


@given(st.floats(0.0, np.pi), st.floats(-1.0, 4.0))
def test_shear_frequency_response(omega, g):
    """Through the kernel, on cos ωt and sin ωt (the real and imaginary parts of e^{iωt}): away
    from t = 0 the output is H(ω) e^{iωt} with |H|² = 1 + 2γ(1+γ)(1 − cos ω) — gain 1 at DC and
    |1 + 2γ| at Nyquist (high-pass for γ > 0)."""
    T = 8
    tt = np.arange(T)
    x = np.stack([np.cos(omega * tt), np.sin(omega * tt)])[None, :, :, None]   # (1, 2, T, 1)
    y = x.copy()
    K._shear_fwd(y, g)
    ratio = (y[0, 0, 1:, 0] + 1j * y[0, 1, 1:, 0]) / np.exp(1j * omega * tt[1:])
    H2 = 1 + 2 * g * (1 + g) * (1 - np.cos(omega))
    np.testing.assert_allclose(np.abs(ratio) ** 2, H2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9, atol=1e-12)   # one complex gain


@settings(max_examples=20)
@given(st.floats(0.05, 3.0), st.integers(0, 2**16))
def test_content_only_scores_carry_the_mirror_term(g, seed):
    """A network without positions: its sheared scores equal the expansion
    (1+γ)² s(t, s) − γ(1+γ)(s(t, s−1) + s(t−1, s)) + γ² s(t−1, s−1) in the unsheared scores s —
    the induction term s(t, s−1) always comes with its mirror s(t−1, s) at the same
    coefficient (docs/momentum.md)."""
    from dataclasses import replace
    from minimal.tasks.seq import SeqBatch
    cfg = TransformerConfig(n_layers=1, d_model=8, heads=2, positions="none", norm="none",
                            vocab=7, d_in=0, n_out=7, max_len=6, causal=False,
                            loss_positions=None, dtype="float64")
    rng = np.random.default_rng(seed)
    p = Transformer(cfg).init(rng)
    tok = rng.integers(0, 7, (2, 6)).astype(np.int32)
    b = SeqBatch(tok, None, tok)
    s0 = Transformer(cfg).forward(p, b, ("L0.scores",))["L0.scores"]
    s1 = Transformer(replace(cfg, momentum=g)).forward(p, b, ("L0.scores",))["L0.scores"]
    t, u = np.arange(2, 6)[:, None], np.arange(2, 6)[None, :]       # t, s ≥ 1 (here ≥ 2)
    want = ((1 + g) ** 2 * s0[:, :, t, u] - g * (1 + g) * (s0[:, :, t, u - 1]
            + s0[:, :, t - 1, u]) + g ** 2 * s0[:, :, t - 1, u - 1])
    np.testing.assert_allclose(s1[:, :, t, u], want, rtol=1e-10, atol=1e-10)


def test_zero_momentum_and_config_errors():
    """A network's sheared q and k are the shear matrix applied to the unsheared ones;
    out-of-range γ is a one-line error."""
    cfg = TransformerConfig(n_layers=1, d_model=8, heads=2, vocab=5, d_in=0, n_out=5,
                            max_len=6, loss_positions=None, dtype="float64")
    net0 = Transformer(cfg)
    from dataclasses import replace
    from minimal.tasks.seq import SeqBatch
    p = net0.init(np.random.default_rng(0))
    tok = np.random.default_rng(1).integers(0, 5, (3, 6)).astype(np.int32)
    b = SeqBatch(tok, None, tok)
    a0 = net0.forward(p, b, ("L0.q", "L0.k"))
    net1 = Transformer(replace(cfg, momentum=0.5))
    a1 = net1.forward(p, b, ("L0.q", "L0.k"))
    for nm in a0:
        np.testing.assert_allclose(a1[nm], np.einsum("ts,bhse->bhte", shear_matrix(6, 0.5),
                                                     a0[nm]), rtol=1e-12, atol=1e-12)
    with pytest.raises(ConfigError, match="momentum"):
        TransformerConfig(momentum=-1.5)
    with pytest.raises(ConfigError, match="momentum"):
        TransformerConfig(momentum=float("nan"))


# ----------------------------------------------------------------------------------------------
# the study's tasks, γ* and the power-law fit
# ----------------------------------------------------------------------------------------------

from minimal.tasks.recall import (PeriodicTask, PeriodicTaskConfig, RecallTask,  # noqa: E402
                                  RecallTaskConfig)


@settings(max_examples=25)
@given(st.integers(2, 8), st.one_of(st.none(), st.integers(1, 8)), st.integers(0, 2**20),
       st.integers(0, 10**6))
def test_periodic_task_repeats_with_its_period(period, pmin, seed, step):
    if pmin is not None and pmin > period:
        pmin = period
    cfg = PeriodicTaskConfig(vocab=12, period=period, period_min=pmin, T=2 * period + 3,
                             batch_size=16)
    b = PeriodicTask(cfg, seed, seed + 1).batch(step)
    seq = np.concatenate([b.tokens, b.targets[:, -1:]], axis=1)       # the T + 1 tokens
    P = b.meta["period"]
    assert ((P >= (pmin or period)) & (P <= period)).all()
    for row, p in zip(seq, P):
        np.testing.assert_array_equal(row[p:], row[:-p])              # period p
        assert len(set(row[:p].tolist())) == p                        # distinct span tokens
    np.testing.assert_array_equal(b.targets[:, :-1], b.tokens[:, 1:])
    b2 = PeriodicTask(cfg, seed, seed + 1).batch(step)
    np.testing.assert_array_equal(b.tokens, b2.tokens)                # pure in (seed, step)


@settings(max_examples=25)
@given(st.integers(1, 10), st.integers(0, 2**20), st.integers(0, 10**6))
def test_recall_task_asks_for_the_value_of_a_key(pairs, seed, step):
    cfg = RecallTaskConfig(pairs=pairs, n_keys=pairs + 5, n_values=7, batch_size=32)
    b = RecallTask(cfg, seed, 1).batch(step)
    tok, tg = b.tokens, b.targets
    assert tok.shape == (32, 2 * pairs + 1)
    keys, vals = tok[:, 0:-1:2], tok[:, 1:-1:2]
    assert (keys < cfg.n_keys).all() and (vals >= cfg.n_keys).all() and (vals < cfg.vocab).all()
    for k, v, q, t in zip(keys, vals, tok[:, -1], tg[:, -1]):
        assert len(set(k.tolist())) == pairs
        (i,) = np.flatnonzero(k == q)
        assert t == v[i]
    assert (tg[:, :-1] == -1).all()


@given(st.floats(0.06, 2.3), st.floats(0.1, 5.0), st.floats(-2.0, 2.0))
def test_gamma_star_is_the_vertex_of_a_parabola(v, c, off):
    from minimal.studies.momentum import GAMMA_GRID, gamma_star
    g = np.array(GAMMA_GRID)
    L = c * (g - v) ** 2 + off          # v lies nearer an inner grid point than an end
    star, refined = gamma_star(g, L)
    assert refined
    assert star == pytest.approx(v, abs=1e-9)
    # an edge minimum is returned as is, unrefined
    star, refined = gamma_star(g, c * g + off)
    assert (star, refined) == (0.0, False)


@given(st.floats(0.5, 10.0), st.floats(-1.0, 2.0))
def test_power_law_model_recovers_scale_and_exponent(a, b):
    from minimal.fit import make_model
    from minimal.fit.curves import Curve
    x = np.arange(1.0, 9.0)
    r = make_model("power-law", quantity="loss").fit(Curve(x, a * x ** (-b), "depth", "y",
                                                           "<test>"))
    assert r.params["scale"] == pytest.approx(a, rel=1e-6)
    assert r.params["exponent"] == pytest.approx(b, abs=1e-6)
    assert r.verdict == "no transition observed" and r.t_transition is None


def test_power_law_exponent_interval_covers_the_truth():
    """With additive Gaussian noise (the least-squares model), the 95 % interval of the
    exponent (t quantile on 6 degrees of freedom) covers the true value in ≈ 95 % of fits."""
    from minimal.fit import make_model
    from minimal.fit.curves import Curve
    x = np.arange(1.0, 9.0)
    a, b = 4.0, 0.75
    rng = np.random.default_rng(12345)
    hits, n = 0, 200
    for _ in range(n):
        y = a * x ** (-b) + 0.05 * rng.standard_normal(x.size)
        r = make_model("power-law", quantity="loss").fit(Curve(x, y, "depth", "y", "<t>"))
        hits += abs(r.params["exponent"] - b) <= 2.447 * r.stderr["exponent"]
    assert 0.88 <= hits / n <= 0.99


def test_arm_run_and_hypotheses(tmp_path):
    """A short arm run writes the study's columns; the hypothesis judge reads seed means."""
    from minimal.studies.momentum import (ArmRunConfig, arm_model, arms_hypotheses, arms_table,
                                          train_arm)
    from minimal.training.config import TrainConfig
    cfg = ArmRunConfig(model=arm_model("smear"), task=PeriodicTaskConfig(n_eval=32),
                       train=TrainConfig(steps=20, eval_every=10, eval_chunk=16))
    res = train_arm(cfg, tmp_path / "run", progress=False)
    m = res.metrics
    assert list(m["step"]) == [0, 10, 20]
    assert (0 <= np.asarray(m["target_attn"])).all() and (np.asarray(m["target_attn"]) <= 1).all()
    assert "smear" in res.params
    rows = [{"arm": a, "loss": lo, "acc": 0.5, "target_attn": ta, "mirror_attn": 0.1,
             "prev_attn": 0.1}
            for a, lo, ta in (("rope", 2.0, 0.1), ("momentum", 1.3, 0.3), ("mom+rope", 0.02, 0.9),
                              ("smear", 0.5, 0.6))]
    t = {r["arm"]: r for r in arms_table(rows)}
    assert t["smear"]["n"] == 1 and t["smear"]["loss"] == (0.5, 0.0)
    got = [h["supported"] for h in arms_hypotheses(rows)]
    assert got == [True, False, True, True]


def test_target_attention_reads_the_induction_key(monkeypatch):
    """Hand-made patterns with P varying per sequence: head 1 puts all attention of a
    second-half query t on key i + 1 (i = t − P) → target_attn 1; half on i + 1 and half on
    i − 1 (or t − 1) → 0.5 on each column; head 0 looks elsewhere and is not chosen."""
    from minimal.studies.momentum import PeriodicNet, arm_model
    cfg = arm_model("smear").resolve(vocab=16, d_in=0, n_out=16)
    net = PeriodicNet(cfg)
    data = PeriodicTask(PeriodicTaskConfig(vocab=16, period=8, period_min=4, T=16, n_eval=12),
                        0, 1).eval_data()
    ev = data["eval"]
    P = ev.meta["period"]
    assert len(set(P.tolist())) > 1
    n, T = ev.targets.shape
    def patterns(Pb, other, want):
        pat = np.zeros((len(Pb), cfg.heads, T, T))
        pat[:, 0, :, 0] = 1.0
        for b, p in enumerate(Pb):
            for t in range(T // 2, T):
                key = t - 1 if other is None else t - p + other
                pat[b, 1, t, t - p + 1] += 1.0 - want if other != +1 else 1.0
                if other != +1:
                    pat[b, 1, t, key] += want
        return pat

    for other, col, want in ((+1, "target_attn", 1.0), (-1, "mirror_attn", 0.5),
                             (None, "prev_attn", 0.5)):
        def forward(params, batch, record, clamps=None, full=None, _a=(other, want)):
            return {"logits": np.zeros((len(batch), T, 16)),
                    record[1]: patterns(batch.meta["period"], *_a)}
        monkeypatch.setattr(net, "forward", forward)
        row = net.evaluate(None, data, chunk=5)
        tq = np.arange(T // 2, T)[None, :]
        valid = 1.0 if other != -1 else float((tq - P[:, None] - 1 >= 0).mean())
        assert row[col] == pytest.approx(want * valid)        # no key i − 1 when i = 0
        assert row["target_attn"] == pytest.approx(1.0 if other == +1 else 1.0 - want)


def test_recall_tables_need_complete_grids_and_fit_interval_is_student_t():
    from scipy.stats import t as student
    from minimal.studies.momentum import fit_gamma_star, fit_points, recall_tables
    rows = []
    for N in (1, 2):
        for gm in (0.0, 0.5, 1.0, 2.0):
            for sd in (0, 1):
                if N == 2 and gm == 2.0 and sd == 1:
                    continue                                   # depth 2 unfinished
                rows.append({"model.n_layers": N, "model.momentum": gm, "seed": sd,
                             "loss": (gm - 0.8) ** 2, "acc": 0.0})
    _, stars = recall_tables(rows, n_gammas=4, n_seeds=2)
    s1, s2 = stars
    assert s1["complete"] and s1["refined"] and s1["gamma_star"] == pytest.approx(0.8)
    assert not s2["complete"] and s2["gamma_star"] is None
    assert fit_points(stars) == [s1]
    rng = np.random.default_rng(3)
    N = np.arange(1.0, 6.0)
    f = fit_gamma_star(N, 4 * N ** -0.7 + 0.02 * rng.standard_normal(5))
    half = (f["b_ci95"][1] - f["b_ci95"][0]) / 2
    assert half == pytest.approx(student.ppf(0.975, 3) * f["b_se"], rel=1e-9)
