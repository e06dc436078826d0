"""Linear self-attention as gradient descent (docs/lsa.md): the constructions against plain GD
and GD++, kernel gradients against the NumPy reference and finite differences, the SymPy
derivation against brute force and Monte Carlo, the task generator's statistics, training,
run directories and the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minimal.config import Seeds, apply_overrides
from minimal.lsa.config import moments_of
from minimal.lsa import gd as G
from minimal.lsa import reference as R
from minimal.lsa.config import BASE_MOMENTS, INPUTS, LSA_PRESETS, LSAConfig, LSARunConfig
from minimal.lsa.data import LSABatch, LSATasks, Spectrum, generate, gram_spectrum
from minimal.lsa.model import LSAModel
from minimal.theory import lsa as T

EPS = np.finfo(np.float64).eps

seeds = st.integers(0, 2 ** 32)


def _batch(d, N, n, seed, inputs="uniform-0.5", dtype=np.float64) -> LSABatch:
    cfg = LSAConfig(d=d, N=N, inputs=inputs)
    return generate(cfg, Seeds(seed=seed).key("data"), n, dtype)


def _model(d, N, layers=1, heads=1, recurrent=False, dtype="float64") -> LSAModel:
    return LSAModel(LSAConfig(d=d, N=N, layers=layers, heads=heads, recurrent=recurrent,
                              dtype=dtype, n_eval=10, n_tune=10, batch_size=10))


def _expand(params: dict, layers: int) -> dict:
    """A recurrent model's weights repeated over the layers (what the reference takes)."""
    return {k: np.repeat(v, layers, axis=0) for k, v in params.items()}


# ----------------------------------------------------------------------------------------------
# the constructions
# ----------------------------------------------------------------------------------------------

@settings(max_examples=40)
@given(st.integers(1, 12), st.integers(1, 16), st.floats(0.0, 2.0), st.floats(0.0, 3.0),
       seeds)
@example(10, 10, 6.0606 / 12, 0.0, 0)          # d = N = 10 at η* (η σ² = 0.505)
def test_construction_equals_one_gd_step(d, N, eta_s2, w0_scale, seed):
    """One LSA layer with W_K = W_Q = [[I,0],[0,0]], W_V = [[0,0],[W₀,−1]], P = [[0,0],[0,η/N]]
    and the query's y slot at −W₀x_q predicts (W₀ + ΔW) x_q, ΔW = −(η/N) Σ (W₀x_i − y_i)x_iᵀ —
    through the kernel and through the independent NumPy reference, to float64 rounding."""
    b = _batch(d, N, 64, seed)
    rng = np.random.default_rng(seed)
    W0 = w0_scale * rng.standard_normal(d)
    eta = eta_s2 * 12.0                                  # σ² = 1/12
    p = G.construct_gd(d, N, eta, W0=W0)
    yq0 = G.query_init(W0, b.X[:, -1])
    ctx, y, xq = b.X[:, :N], b.Y[:, :N], b.X[:, N]
    # GD written out here: one step on (1/2N) Σ (W x_i − y_i)²
    r = ctx @ W0 - y
    W1 = W0 - (eta / N) * np.einsum("ni,nia->na", r, ctx)
    expected = np.einsum("na,na->n", W1, xq)
    # floating-point bound: every term that enters, in absolute value
    resid = np.abs(ctx) @ np.abs(W0) + np.abs(y)                  # |W₀x_i| + |y_i| bound
    overlap = np.einsum("nia,na->ni", np.abs(ctx), np.abs(xq))     # |x_i|·|x_q| bound
    terms = np.abs(xq) @ np.abs(W0) + (eta / N) * np.einsum("ni,ni->n", resid, overlap)
    tol = 64 * EPS * (N + d + 2) * max(1.0, float(terms.max()))
    model = _model(d, N)
    assert np.max(np.abs(model.predict(p, b, yq0=yq0) - expected)) <= max(tol, 1e-12)
    assert np.max(np.abs(R.forward(p, b.X, b.Y, yq0) - expected)) <= max(tol, 1e-12)
    assert np.max(np.abs(G.gd_predict(b.X, b.Y, eta, W0)[0] - expected)) <= max(tol, 1e-12)


@settings(max_examples=30)
@given(st.integers(1, 8), st.integers(1, 12), st.lists(st.floats(0.0, 1.5), min_size=1,
                                                       max_size=4), st.floats(0.0, 2.0), seeds)
def test_k_layers_equal_k_gd_steps(d, N, eta_s2, w0_scale, seed):
    """K constructed layers (each with its own η_l, the same W_V) are K GD steps from W₀;
    with W₀ = 0 the sensitivities ∂ŷ/∂x_q equal the final GD weights W_K."""
    K = len(eta_s2)
    b = _batch(d, N, 48, seed)
    rng = np.random.default_rng(seed + 1)
    W0 = w0_scale * rng.standard_normal(d)
    etas = np.array(eta_s2) * 12.0
    W = np.broadcast_to(W0, (len(b), d)).copy()
    ctx, y, xq = b.X[:, :N], b.Y[:, :N], b.X[:, N]
    scale = 1.0
    for e in etas:                              # GD written out step by step
        r = np.einsum("nia,na->ni", ctx, W) - y
        W = W - (e / N) * np.einsum("ni,nia->na", r, ctx)
        scale = max(scale, float(np.abs(W).max()) * (1 + e * d))
    expected = np.einsum("na,na->n", W, xq)
    tol = 256 * EPS * (N + d + 2) * K * scale * max(1.0, float(np.abs(y).max()))
    model = _model(d, N, layers=K)
    p = G.construct_gd(d, N, etas, W0=W0)
    yq0 = G.query_init(W0, xq)
    assert np.max(np.abs(model.predict(p, b, yq0=yq0) - expected)) <= tol
    assert np.max(np.abs(R.forward(p, b.X, b.Y, yq0) - expected)) <= tol
    y_gd, W_gd = G.gd_predict(b.X, b.Y, etas, W0)
    assert np.max(np.abs(y_gd - expected)) <= tol
    p0 = G.construct_gd(d, N, etas)
    _, sens = model.predict(p0, b, sensitivity=True)
    assert np.max(np.abs(sens - G.gd_predict(b.X, b.Y, etas)[1])) <= tol


@settings(max_examples=30)
@given(st.integers(1, 8), st.integers(1, 12), st.lists(st.tuples(st.floats(0.0, 1.5),
                                                                  st.floats(0.0, 0.6)),
                                                        min_size=1, max_size=3), seeds)
def test_gdpp_construction_matches_token_recursion(d, N, steps, seed):
    """The GD++ construction (x ← x − ν Σ x_i x_iᵀ x in every token besides the GD step) equals
    the plain token recursion of gd.gdpp_predict, predictions and sensitivities; with ν = 0
    it is K-step GD."""
    K = len(steps)
    b = _batch(d, N, 48, seed)
    etas = np.array([s[0] for s in steps]) * 12.0
    nus = np.array([s[1] for s in steps]) * 12.0 / N
    model = _model(d, N, layers=K)
    y_pp, s_pp = G.gdpp_predict(b.X, b.Y, etas, nus)
    y_l, s_l = model.predict(G.construct_gdpp(d, N, etas, nus), b, sensitivity=True)
    scale = max(1.0, float(np.abs(y_pp).max()), float(np.abs(s_pp).max()))
    tol = 1e-12 * scale * (1 + etas.max()) ** K
    assert np.max(np.abs(y_l - y_pp)) <= tol
    assert np.max(np.abs(s_l - s_pp)) <= tol
    assert np.max(np.abs(R.forward(G.construct_gdpp(d, N, etas, nus), b.X, b.Y) - y_pp)) <= tol
    y0, s0 = G.gdpp_predict(b.X, b.Y, etas, np.zeros(K))
    y_gd, s_gd = G.gd_predict(b.X, b.Y, etas)
    assert np.max(np.abs(y0 - y_gd)) <= tol
    assert np.max(np.abs(s0 - s_gd)) <= tol


@settings(max_examples=40)
@given(st.integers(1, 8), st.integers(1, 12), st.floats(0.0, 2.0), seeds)
def test_gdpp_maps_covariance_eigenvalues(d, N, nu_scaled, seed):
    """One GD++ layer of the LSA construction maps the eigenvalues λ of C = Σ_i x_i x_iᵀ to
    λ(1 − νλ)² (read off the context tokens after the layer, through the reference)."""
    b = _batch(d, N, 8, seed)
    ctx = b.X[:, :N]
    C = np.einsum("nia,nib->nab", ctx, ctx)
    lam = np.linalg.eigvalsh(C)
    nu = nu_scaled / max(float(lam.max()), 1e-12)
    p = G.construct_gdpp(d, N, 1.0, nu)
    _, hist = R.forward(p, b.X, b.Y, keep=True)
    x1 = hist[1][:, :N, :d]
    C1 = np.einsum("nia,nib->nab", x1, x1)
    got = np.sort(np.linalg.eigvalsh(C1), axis=1)
    want = np.sort(lam * (1 - nu * lam) ** 2, axis=1)
    tol = 1e-10 * max(1.0, float(lam.max())) * (1 + nu_scaled) ** 2
    assert np.max(np.abs(got - want)) <= tol
    assert np.allclose(G.gdpp_transform(ctx, C, nu), x1, rtol=0, atol=tol)


# ----------------------------------------------------------------------------------------------
# kernels vs the reference and finite differences
# ----------------------------------------------------------------------------------------------

def _random_case(d, N, layers, heads, recurrent, scale, seed, n=7):
    model = _model(d, N, layers, heads, recurrent)
    rng = np.random.default_rng(seed)
    p = {k: rng.normal(0.0, scale, v) for k, v in model.shapes().items()}
    b = _batch(d, N, n, seed)
    yq0 = rng.standard_normal(n)
    return model, p, b, yq0


@settings(max_examples=40)
@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 3), st.integers(1, 3),
       st.booleans(), st.floats(0.05, 0.8), seeds)
@example(10, 10, 1, 1, False, 0.5, 0)
@example(3, 4, 3, 2, True, 0.8, 1)
def test_kernel_matches_reference(d, N, layers, heads, recurrent, scale, seed):
    """Loss, gradients (after the chain rule to W_K, W_Q, W_V, P), predictions and ∂ŷ/∂x_q of
    the Numba kernels equal the NumPy attention-form reference in float64.  Bound: errors are
    float64 roundings of intermediate sums, which stay within 1e6 of the largest result for
    these ranges, hence 1e-9 relative to it."""
    model, p, b, yq0 = _random_case(d, N, layers, heads, recurrent, scale, seed)
    loss, g, _ = model.loss_and_grads(p, b, yq0=yq0)
    pr = _expand(p, layers) if recurrent else p
    loss_r, g_r = R.loss_and_grads(pr, b.X, b.Y, yq0)
    if recurrent:
        g_r = {k: v.sum(axis=0, keepdims=True) for k, v in g_r.items()}
    assert abs(loss - loss_r) <= 1e-9 * max(loss_r, 1e-300) + 1e-300
    gmax = max(float(np.abs(v).max()) for v in g_r.values())
    for k in g:
        assert np.max(np.abs(g[k] - g_r[k])) <= 1e-9 * gmax, k
    yhat, sens = model.predict(p, b, sensitivity=True, yq0=yq0)
    y_r = R.forward(pr, b.X, b.Y, yq0)
    s_r = R.sensitivity(pr, b.X, b.Y, yq0)
    assert np.max(np.abs(yhat - y_r)) <= 1e-9 * max(1.0, float(np.abs(y_r).max()))
    assert np.max(np.abs(sens - s_r)) <= 1e-9 * max(1.0, float(np.abs(s_r).max()))


@settings(max_examples=25)
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 3), st.integers(1, 2),
       st.floats(0.1, 0.7), seeds)
@example(3, 2, 3, 2, 0.5, 224766)          # large third derivatives: needs Richardson
def test_gradients_match_finite_differences(d, N, layers, heads, scale, seed):
    """The analytic gradient along a random direction equals a central finite difference of
    the reference loss.  The loss is a polynomial in the weights (no kinks), so central
    differences at h and h/2 converge as h²; their Richardson combination (error O(h⁴)) must
    be within a tolerance scaled by the directional terms."""
    model, p, b, yq0 = _random_case(d, N, layers, heads, False, scale, seed)
    _, g, _ = model.loss_and_grads(p, b, yq0=yq0)
    rng = np.random.default_rng(seed + 7)
    v = {k: rng.standard_normal(x.shape) for k, x in p.items()}
    an = sum(float(np.sum(g[k] * v[k])) for k in p)
    mag = sum(float(np.sum(np.abs(g[k] * v[k]))) for k in p)
    fds = []
    for h in (1e-4 * scale, 0.5e-4 * scale):
        lp = R.loss({k: p[k] + h * v[k] for k in p}, b.X, b.Y, yq0)
        lm = R.loss({k: p[k] - h * v[k] for k in p}, b.X, b.Y, yq0)
        fds.append((lp - lm) / (2 * h))
    rich = (4 * fds[1] - fds[0]) / 3
    loss0 = R.loss(p, b.X, b.Y, yq0)
    floor = 1e-6 * (mag + abs(an)) + 1e3 * EPS * loss0 / (0.5e-4 * scale)
    assert abs(rich - an) <= floor, (fds, rich, an, mag)


@settings(max_examples=20)
@given(st.integers(1, 3), st.floats(0.05, 0.3), seeds)
@example(3, 0.3, 126)
def test_float32_kernel_agrees_with_float64(layers, scale, seed):
    """Training runs in float32: its loss and gradients match float64 to float32 precision
    (relative 1e-3 of the largest gradient entry; float32 eps is 1.2e-7, sums of ~10³ terms).
    Weight scales up to 0.3 (the trained models' products are of order one); random weights
    of scale ≳ 0.5 in three layers give outputs beyond float32's range."""
    d = N = 6
    model64, p, b, _ = _random_case(d, N, layers, 1, False, scale, seed, n=64)
    model32 = _model(d, N, layers, dtype="float32")
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    b32 = LSABatch(b.X.astype(np.float32), b.Y.astype(np.float32), b.W)
    l64, g64, _ = model64.loss_and_grads(p, b)
    l32, g32, _ = model32.loss_and_grads(p32, b32)
    assert g32["WK"].dtype == np.float32
    assert abs(l32 - l64) <= 1e-4 * max(l64, 1e-30)
    gmax = max(float(np.abs(v).max()) for v in g64.values())
    for k in g64:
        assert np.max(np.abs(g32[k] - g64[k])) <= 1e-3 * gmax, k


def test_zero_weights_are_a_saddle():
    """All-zero weights (init_scale = 0): the zero predictor, and every gradient vanishes."""
    cfg = LSAConfig(init_scale=0.0, batch_size=64, dtype="float64", n_eval=10, n_tune=10)
    model = LSAModel(cfg)
    p = model.init(np.random.default_rng(0))
    b = LSATasks(cfg, 0).batch(0)
    loss, g, _ = model.loss_and_grads(p, b)
    assert loss == pytest.approx(0.5 * np.mean(b.Y[:, -1] ** 2), rel=1e-14)
    assert all(np.all(v == 0) for v in g.values())


# ----------------------------------------------------------------------------------------------
# theory
# ----------------------------------------------------------------------------------------------

def test_derivation_gives_the_closed_forms():
    """The expectation engine's loss is ½σ²d[1 − 2ησ² + η²σ⁴(N+d−2+κ)/N], with
    η* = N/(σ²(N+d−2+κ)) and loss ½σ²d(1 − N/(N+d−2+κ)); no unknown moment is left."""
    eta, s2, kappa, N, d = T.derivation()["symbols"]
    dv = T.derivation()
    expected = sp.Rational(1, 2) * s2 * d * (1 - 2 * eta * s2 +
                                             eta ** 2 * s2 ** 2 * (N + d - 2 + kappa) / N)
    assert sp.simplify(dv["loss"] - expected) == 0
    assert sp.simplify(dv["eta_star"] - N / (s2 * (N + d - 2 + kappa))) == 0
    assert sp.simplify(dv["loss_star"] -
                       sp.Rational(1, 2) * s2 * d * (1 - N / (N + d - 2 + kappa))) == 0
    assert dv["loss"].free_symbols == {eta, s2, kappa, N, d}
    assert sp.simplify(dv["dloss"].subs(eta, dv["eta_star"])) == 0
    assert sp.simplify(dv["d2loss"] - d * s2 ** 3 * (N + d - 2 + kappa) / N) == 0


def test_published_numbers():
    """d = N = 10: U(−0.5, 0.5) η* = 6.06, loss 0.206 (zero predictor 0.417); U(−1, 1) 1.52,
    0.825 (1.667); N(0, 1) 0.476, 2.62 (5)."""
    for inputs, (e, l, z) in {"uniform-0.5": (6.06, 0.206, 0.417),
                              "uniform-1": (1.52, 0.825, 1.667),
                              "normal": (0.476, 2.62, 5.0)}.items():
        s2, kappa = moments_of(inputs)
        sm = T.summary(s2, kappa, 10, 10)
        assert sm["eta_star"] == pytest.approx(e, abs=0.005)
        assert sm["loss_star"] == pytest.approx(l, abs=0.0051)
        assert sm["zero_loss"] == pytest.approx(z, abs=0.0005)


def _brute_force_loss(dim: int, n_ctx: int) -> sp.Expr:
    """E ½(y_q − ŷ)² by expanding the polynomial in explicit variables and replacing every
    monomial by its expectation (independent coordinates)."""
    s2, kappa, eta = sp.symbols("sigma2 kappa eta", positive=True)
    w = sp.symbols(f"w0:{dim}")
    xs = [sp.symbols(f"x{t}_0:{dim}") for t in range(n_ctx + 1)]
    y = [sum(w[a] * xs[t][a] for a in range(dim)) for t in range(n_ctx + 1)]
    q = xs[n_ctx]
    yhat = (eta / n_ctx) * sum(y[i] * sum(xs[i][b] * q[b] for b in range(dim))
                               for i in range(n_ctx))
    poly = sp.Poly(sp.expand(sp.Rational(1, 2) * (y[n_ctx] - yhat) ** 2),
                   *w, *[v for t in xs for v in t])
    xmom = {0: 1, 1: 0, 2: s2, 3: 0, 4: kappa * s2 ** 2}
    wmom = {0: 1, 1: 0, 2: 1, 3: 0, 4: 3}
    total = 0
    for powers, coef in poly.terms():
        m = coef
        for k in powers[:dim]:
            m *= wmom[k]
        for k in powers[dim:]:
            m *= xmom[k]
        total += m
    return sp.expand(total)


@pytest.mark.parametrize("dim,n_ctx", [(1, 1), (1, 3), (2, 1), (2, 2), (3, 2)])
def test_derivation_matches_brute_force_expectation(dim, n_ctx):
    """The index-pattern engine equals brute-force expansion at small d, N."""
    dv = T.derivation()
    eta, s2, kappa, N, d = dv["symbols"]
    brute = _brute_force_loss(dim, n_ctx)
    es, s2s, ks = sp.symbols("eta sigma2 kappa", positive=True)
    derived = dv["loss"].subs({N: n_ctx, d: dim}).subs({eta: es, s2: s2s, kappa: ks})
    assert sp.simplify(brute - sp.expand(derived)) == 0


@settings(max_examples=60)
@given(st.floats(1e-3, 1e3), st.floats(1.0, 50.0), st.integers(1, 10_000),
       st.integers(1, 10_000))
def test_eta_star_minimises_the_loss(sigma2, kappa, n_ctx, dim):
    """At η*: the derivative vanishes (to rounding of its terms), the second derivative is
    positive, the loss equals the closed-form optimum and is below the loss 1 % either side."""
    f = T._compiled()
    es = T.eta_star(sigma2, kappa, n_ctx, dim)
    lo = T.optimal_loss(sigma2, kappa, n_ctx, dim)
    # the two terms of dL/dη are each of size d σ⁴: rounding bound on their difference
    term = dim * sigma2 ** 2 * (1 + es * sigma2 * (n_ctx + dim - 2 + kappa) / n_ctx)
    assert abs(f["dloss"](es, sigma2, kappa, n_ctx, dim)) <= 64 * EPS * term
    assert f["d2loss"](es, sigma2, kappa, n_ctx, dim) > 0
    at = T.expected_loss(es, sigma2, kappa, n_ctx, dim)
    assert at == pytest.approx(lo, rel=1e-12, abs=64 * EPS * T.zero_loss(sigma2, dim))
    for fac in (0.99, 1.01):
        assert T.expected_loss(es * fac, sigma2, kappa, n_ctx, dim) > at


@pytest.mark.parametrize("inputs", INPUTS)
@pytest.mark.parametrize("factor", [0.5, 1.0, 1.5])
def test_monte_carlo_matches_formula(inputs, factor):
    """Sampled contexts, with the expectation over w and x_q taken exactly given the context
    (E[(y_q − ŷ)² | X] = σ² tr((I − (η/N) C)²)), match the formula within 1 % at 0.5η*, η*,
    1.5η*; and the plainly sampled loss (w, x, x_q all drawn) within 4 standard errors."""
    d = N = 10
    s2, kappa = moments_of(inputs)
    eta = factor * T.eta_star(s2, kappa, N, d)
    formula = T.expected_loss(eta, s2, kappa, N, d)
    b = _batch(d, N, 20_000, 11, inputs)
    ctx = b.X[:, :N]
    A = np.eye(d) - (eta / N) * np.einsum("nia,nib->nab", ctx, ctx)
    cond = 0.5 * s2 * np.einsum("nab,nab->n", A, A)
    assert abs(cond.mean() / formula - 1) < 0.01
    assert abs(cond.mean() - formula) <= 4 * cond.std() / math.sqrt(len(cond))
    plain = 0.5 * (b.Y[:, N] - G.gd_predict(b.X, b.Y, eta)[0]) ** 2
    assert abs(plain.mean() - formula) <= 4 * plain.std() / math.sqrt(len(plain))


def test_index_engine_counts_patterns():
    """Σ over coincidence patterns of the falling-factorial counts is N^k, and the engine
    returns E(Σ_i x_i)² = N σ² and E(Σ_i x_i²)² = N κσ⁴ + N(N−1)σ⁴ for scalars."""
    eta, s2, kappa, N, d = T.derivation()["symbols"]
    for k in range(1, 5):
        names = [f"t{i}" for i in range(k)]
        tot = sum(T._falling(N, len(p)) for p in T._set_partitions(names))
        assert sp.expand(tot - N ** k) == 0
    m = T._moments()
    one = sp.Integer(1)
    assert sp.simplify(T.expect_index_sum([("i", "a"), ("j", "a")], ["i", "j"], m,
                                          n_coords=one) - N * s2) == 0
    got = T.expect_index_sum([("i", "a"), ("i", "a"), ("j", "a"), ("j", "a")], ["i", "j"], m,
                             n_coords=one)
    assert sp.simplify(got - (N * kappa * s2 ** 2 + N * (N - 1) * s2 ** 2)) == 0


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("inputs", INPUTS)
def test_generator_statistics(inputs):
    """Coordinates have mean 0, variance σ² and kurtosis κ of the named distribution (within 5
    standard errors), uniform draws stay inside their interval, w ~ N(0, I) and y = wᵀx."""
    cfg = LSAConfig(inputs=inputs)
    b = generate(cfg, Seeds(seed=3).key("data"), 4000)
    x = b.X.reshape(-1)
    n = x.size
    s2, kappa = (float(v) for v in BASE_MOMENTS[inputs])
    assert abs(x.mean()) <= 5 * math.sqrt(s2 / n)
    var_se = s2 * math.sqrt((kappa - 1) / n)
    assert abs(x.var() - s2) <= 5 * var_se
    k_hat = np.mean(x ** 4) / x.var() ** 2
    assert abs(k_hat - kappa) <= (0.1 if inputs != "normal" else 0.2)
    if inputs != "normal":
        half = {"uniform-0.5": 0.5, "uniform-1": 1.0}[inputs]
        assert np.abs(x).max() <= half
    w = b.W.reshape(-1)
    assert abs(w.mean()) <= 5 / math.sqrt(w.size)
    assert abs(w.var() - 1) <= 5 * math.sqrt(2 / w.size)
    y = np.einsum("nta,na->nt", b.X, b.W)
    assert np.max(np.abs(b.Y - y)) <= 8 * EPS * cfg.d * float(np.abs(b.X).max() *
                                                              np.abs(b.W).max())


def test_sigma2_rescales_the_inputs():
    cfg = LSAConfig(inputs="uniform-1", sigma2=0.25)
    assert cfg.x_var == 0.25 and cfg.kurtosis == pytest.approx(1.8)
    x = generate(cfg, 5, 3000).X.reshape(-1)
    assert abs(x.var() - 0.25) <= 5 * 0.25 * math.sqrt(0.8 / x.size)
    assert np.abs(x).max() <= math.sqrt(3 * 0.25)


@settings(max_examples=20)
@given(seeds, st.integers(0, 10 ** 6), st.integers(1, 40))
def test_batches_are_pure_functions_of_seed_and_step(seed, step, k):
    cfg = LSAConfig(d=3, N=4, batch_size=40, dtype="float32", n_eval=30, n_tune=20)
    a = LSATasks(cfg, seed)
    b = LSATasks(cfg, seed)
    x1 = a.batch(step)
    x2 = b.batch(step)
    assert x1.X.dtype == np.float32 and np.array_equal(x1.X, x2.X)
    assert np.array_equal(x1.Y, x2.Y)
    assert not np.array_equal(a.batch(step + 1).X, x1.X)
    small = a.batch(step, batch_size=k)
    assert np.array_equal(small.X, x1.X[:k])               # task i ignores the batch size
    ev = a.eval_data()
    assert ev.eval.X.dtype == np.float64 and len(ev.eval) == 30 and ev.spectrum.n == 20
    tune = a.held_out("tune")
    assert not np.array_equal(ev.eval.X[:20], tune.X)
    assert np.allclose(np.sort(gram_spectrum(tune.X).reshape(-1)), ev.spectrum.lam)
    c = LSATasks(cfg, Seeds(seed=seed, data=seed + 1))
    assert np.array_equal(c.eval_data().eval.X, ev.eval.X)   # eval seed unchanged
    assert not np.array_equal(c.batch(step).X, x1.X)


# ----------------------------------------------------------------------------------------------
# baselines and metrics
# ----------------------------------------------------------------------------------------------

def test_fitted_step_sizes_are_optimal():
    """One step: the fitted η is the exact minimiser over the sample and within 1 % of η*
    (20,000 contexts); per-step GD is at least as good as one shared η and better than one
    step; GD++ (which contains GD at ν = 0) is at least as good as per-step GD; the sample
    loss of one step at η* matches the formula within 1 %."""
    cfg = LSAConfig(n_tune=20_000)
    spec = LSATasks(cfg, 21).eval_data().spectrum
    s2, N = 1 / 12, 10
    (e1,) = G.fit_gd(spec, 1, N, s2)
    l1 = G.spectral_loss(spec, [e1], [0.0], N, s2)
    for f in (0.999, 1.001):
        assert G.spectral_loss(spec, [e1 * f], [0.0], N, s2) > l1
    es = T.eta_star(s2, 1.8, N, 10)
    assert e1 == pytest.approx(es, rel=0.01)
    assert G.spectral_loss(spec, [es], [0.0], N, s2) == pytest.approx(
        T.optimal_loss(s2, 1.8, N, 10), rel=0.01)
    e_step = G.fit_gd(spec, 2, N, s2)
    e_shared = G.fit_gd(spec, 2, N, s2, shared=True)
    l_step = G.spectral_loss(spec, e_step, [0, 0], N, s2)
    l_shared = G.spectral_loss(spec, e_shared, [0, 0], N, s2)
    assert l_step <= l_shared * (1 + 1e-9) and l_shared < l1
    pe, pn = G.fit_gdpp(spec, 2, N, s2, search="fast")
    assert pn[-1] == 0.0
    assert G.spectral_loss(spec, pe, pn, N, s2) <= l_step * (1 + 1e-9)


@settings(max_examples=30)
@given(st.integers(1, 8), st.integers(1, 12), st.lists(st.tuples(st.floats(0.0, 2.0),
                                                                  st.floats(0.0, 1.0)),
                                                        min_size=1, max_size=3), seeds)
def test_spectral_loss_is_the_conditional_expectation(d, N, steps, seed):
    """Given a context, E over w and x_q of (y_q − ŷ)² for GD++ is σ² ‖I − S‖²_F with
    ŷ = x_qᵀ S w; S read off the token recursion (probing w = e_a, x_q = e_b) gives the
    residual polynomial's Σ_j r(λ_j)² (λ_j the Gram eigenvalues); the forward-mode
    derivatives of r equal central differences."""
    b = _batch(d, N, 1, seed)
    ctx = b.X[0, :N]
    etas = np.array([s[0] for s in steps]) * 12.0
    nus = np.array([s[1] for s in steps]) * 12.0 / N
    K = len(steps)
    X = np.zeros((d * d, N + 1, d))
    Y = np.zeros((d * d, N + 1))
    for a in range(d):
        for q in range(d):
            X[a * d + q, :N] = ctx
            X[a * d + q, N, q] = 1.0
            Y[a * d + q, :N] = ctx[:, a]
    S = G.gdpp_predict(X, Y, etas, nus)[0].reshape(d, d).T          # S[q, a]
    lam = np.linalg.eigvalsh(ctx.T @ ctx)
    r, dr = G.residual(lam, etas, nus, N, grad=True)
    want = np.sum((np.eye(d) - S) ** 2)
    assert np.sum(r * r) == pytest.approx(want, rel=1e-9,
                                          abs=1e-9 * (1 + float(np.abs(S).max())) ** 2)
    h = 1e-6
    for p in range(2 * K):
        e2, n2, e3, n3 = etas.copy(), nus.copy(), etas.copy(), nus.copy()
        (e2 if p < K else n2)[p % K] += h
        (e3 if p < K else n3)[p % K] -= h
        fd = (G.residual(lam, e2, n2, N) - G.residual(lam, e3, n3, N)) / (2 * h)
        assert np.allclose(dr[p], fd, rtol=1e-5, atol=1e-6 * (1 + float(np.abs(dr[p]).max())))


def test_spectrum_compression_preserves_the_loss():
    """Merging the bulk of a large eigenvalue sample into groups changes the fitted
    objective by less than 1e-4 relative."""
    eig = gram_spectrum(_batch(10, 10, 30_000, 8).X)
    full = Spectrum(np.sort(eig.reshape(-1)), np.ones(eig.size), 30_000, 10)
    small = Spectrum.from_eigenvalues(eig, groups=2000, tail=500)
    assert small.lam.size == 2500 and small.weight.sum() == eig.size
    for etas, nus in (([6.0], [0.0]), ([4.0, 11.6], [0.0, 0.0]), ([4.1, 36.0], [0.4, 0.0])):
        a = G.spectral_loss(full, etas, nus, 10, 1 / 12)
        b = G.spectral_loss(small, etas, nus, 10, 1 / 12)
        assert b == pytest.approx(a, rel=1e-4)


def test_metrics_of_the_constructed_model():
    """Evaluating the GD construction with the fitted η: identical predictions (preds diff,
    model diff ≈ 0, model cos = 1, loss = GD loss), effective step η/N, QK ∝ I."""
    cfg = LSAConfig(n_eval=3000, n_tune=3000, dtype="float64")
    data = LSATasks(cfg, 2).eval_data()
    model = LSAModel(cfg)
    base = model.baselines(data)
    (eta,) = base["gd_etas"]
    row = model.evaluate(G.construct_gd(10, 10, eta), data)
    assert row["preds_diff"] <= 1e-12 * max(1, np.abs(base["gd_yhat"]).max())
    assert row["model_diff"] <= 1e-12 * max(1, np.abs(base["gd_sens"]).max())
    assert row["model_cos"] == pytest.approx(1.0, abs=1e-12)
    assert row["loss"] == pytest.approx(row["gd_loss"], rel=1e-12)
    assert row["eff_step"] == pytest.approx(eta / 10, rel=1e-14)
    assert row["qk_dev"] == pytest.approx(0.0, abs=1e-15) and row["qk_scale"] == 1.0
    assert set(row) | {"step"} >= set(model.columns) - {"wall_s", "train_loss", "train_acc"}


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------

def _short(steps=2000, **model):
    cfg = LSA_PRESETS.get("lsa-default")
    over = {"train.steps": steps, "train.eval_every": steps // 4, "model.n_eval": 20_000,
            "model.n_tune": 20_000}
    over.update({f"model.{k}": v for k, v in model.items()})
    return apply_overrides(cfg, over)


def test_one_layer_training_learns_one_gd_step():
    """2,000 Adam steps at batch 512: the held-out loss is within 3 % of the η* loss on the
    same tasks and not clearly below it (a loss clearly below falsifies the claim that one GD
    step at η* is optimal), model cos > 0.99, effective step within 5 % of η*/N, QK ∝ I."""
    from minimal.lsa.train import train_lsa
    res = train_lsa(_short(), None, progress=False)
    m = res.metrics
    model = res.learner.model
    data = res.learner.data.eval_data()
    ev = data.eval
    th = model.baselines(data)["theory"]
    a = np.einsum("ni,nia,na->n", ev.Y[:, :10], ev.X[:, :10], ev.X[:, 10]) / 10
    star = G.mean_loss(th["eta_star"] * a, ev.Y[:, 10])     # GD at η* on these tasks
    assert m["loss"][-1] / star - 1 < 0.03
    assert m["loss"][-1] / m["gd_loss"][-1] - 1 > -0.01
    assert m["model_cos"][-1] > 0.99
    assert abs(m["eff_step"][-1] / th["eta_star_over_N"] - 1) < 0.05
    assert m["qk_dev"][-1] < 0.15
    assert m["loss"][0] == pytest.approx(model.chance_loss, rel=0.03)


def test_run_directory_and_exact_resume(tmp_path):
    from minimal.lsa.train import train_lsa
    from minimal.runs import Run, read_metrics
    cfg = apply_overrides(_short(60, layers=2, n_eval=500, n_tune=300, batch_size=32,
                                 baseline_search="fast"), {"train.eval_every": 20})
    full = train_lsa(cfg, tmp_path / "a", progress=False)
    assert full.status == "completed"
    part = train_lsa(cfg, tmp_path / "b", progress=False, stop_after=30)
    assert part.status == "interrupted"
    rest = train_lsa(None, tmp_path / "b", resume=True, progress=False)
    assert rest.status == "completed"
    ma, mb = read_metrics(tmp_path / "a" / "metrics.csv"), read_metrics(tmp_path / "b" /
                                                                       "metrics.csv")
    assert list(ma["step"]) == [0, 20, 40, 60] == list(mb["step"])
    for k in ma:
        if k != "wall_s":
            np.testing.assert_array_equal(ma[k], mb[k], err_msg=k)
    run = Run.open(tmp_path / "a")
    assert run.status == "completed" and run.manifest["kind"] == "lsa"
    assert len(run.manifest["resolved"]["gd_etas"]) == 2
    assert run.manifest["resolved"]["generator_version"] == 1


def test_recurrent_model_shares_weights():
    cfg = _short(10, layers=3, recurrent=True, n_eval=200, n_tune=200,
                 baseline_search="fast")
    model = LSAModel(cfg.model)
    assert model.shapes()["WK"] == (1, 1, 11, 11)
    assert model.n_params() == 4 * 121
    p = model.init(np.random.default_rng(0))
    M, V = model.products(p)
    assert M.shape == (3, 1, 11, 11) and np.array_equal(M[0], M[2])


def test_config_validation():
    from minimal.errors import ConfigError
    for bad in ({"d": 0}, {"layers": 9}, {"inputs": "cauchy"}, {"sigma2": -1.0},
                {"init_scale": -0.1}, {"n_eval": 10 ** 7}, {"baseline_search": "slow"}):
        with pytest.raises(ConfigError):
            LSAConfig(**bad)
    with pytest.raises(ConfigError, match="model.N"):
        apply_overrides(LSARunConfig(), {"model.N": 0})
    with pytest.raises(ConfigError):
        G.construct_gd(3, 4, [1.0, 2.0], layers=3)


@pytest.mark.slow
def test_targets_table_full_scale():
    """The closing note's one-layer targets at full scale (5k steps, 10⁵ held-out tasks), one
    seed per input distribution."""
    from minimal.lsa.experiments import targets_table
    res = targets_table(seeds=(0,), workers=1, progress=False, mc_tasks=200_000)
    for t in res["table"]:
        assert t["meets"]["model_cos_gt_0.99"], t
        assert t["meets"]["step_within_5pct"], t
        assert abs(t["loss_rel"]["mean"]) < 0.02, t
    for m in res["monte_carlo"]:
        assert abs(m["rel_err"]) < 0.01


# ----------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------

def run_cli(capsys, *argv):
    from minimal.cli import main
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_train_theory_construct(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "lsa", "--steps", "40", "--out", str(tmp_path / "r"),
                           "--set", "model.n_eval=500", "--set", "model.n_tune=300",
                           "--set", "train.eval_every=20", "--quiet")
    assert code == 0 and "final (step 40)" in out and "eta* = 6.061" in out
    code, out, _ = run_cli(capsys, "lsa", "theory", "--inputs", "normal", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["eta_star"] == pytest.approx(10 / 21)
    code, out, _ = run_cli(capsys, "lsa", "theory", "--sigma2", "2", "--kappa", "3", "--d",
                           "5", "--N", "7")
    assert code == 0 and f"{7 / (2 * 13):.6g}" in out
    code, out, _ = run_cli(capsys, "lsa", "construct", "--n", "50", "--layers", "1,2",
                           "--json")
    rows = json.loads(out)
    assert code == 0 and all(r["gd_kernel_err"] < 1e-12 * max(1, r["max_abs_y"])
                             for r in rows)
    code, out, _ = run_cli(capsys, "lsa", "--list")
    assert "lsa-paper" in out and "lsa-3recurrent" in out


@pytest.mark.parametrize("argv,needle", [
    (["lsa", "--out", "/tmp/x", "--set", "model.d=0"], "model.d=0 is invalid"),
    (["lsa", "--out", "/tmp/x", "--layers", "0"], "--layers=0 is invalid"),
    (["lsa", "--out", "/tmp/x", "--set", "model.n_eval=100000000"], "model.n_eval"),
    (["lsa", "--out", "/tmp/x", "--set", "model.inputs=cauchy"], "model.inputs='cauchy'"),
    (["lsa", "--steps", "5"], "--out is required"),
    (["lsa", "theory", "--sigma2", "-1"], "--sigma2=-1 is invalid"),
    (["lsa", "theory", "--kappa", "2"], "--sigma2 and --kappa go together"),
    (["lsa", "construct", "--layers", "0,1"], "--layers"),
    (["lsa", "depth", "--layers", "1,x"], "--layers"),
    (["lsa", "targets", "--inputs", "cauchy"], "'cauchy' is not one of"),
    (["lsa", "targets", "--seeds", "0"], "--seeds=0 is invalid"),
])
def test_bad_input_is_one_line_error(capsys, argv, needle):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert needle in err, err
    assert "Traceback" not in err
    assert sum(line.startswith("error: ") for line in err.splitlines()) == 1


def test_cli_depth_and_targets_quick(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "lsa", "depth", "--quick", "--seeds", "1", "--layers", "1,2",
                           "--steps", "60", "--workers", "1", "--quiet", "--json")
    obj = json.loads(out)
    assert code == 0
    ks = {(t["layers"], t["recurrent"]) for t in obj["table"]}
    assert ks == {(1, False), (2, False), (2, True)}
    two = [t for t in obj["table"] if t["layers"] == 2 and not t["recurrent"]][0]
    assert two["gdpp_step_loss"]["mean"] <= two["gd_step_loss"]["mean"] * (1 + 1e-9)
    code, out, _ = run_cli(capsys, "lsa", "targets", "--quick", "--seeds", "1", "--inputs",
                           "normal", "--steps", "60", "--workers", "1", "--quiet", "--mc",
                           "2000")
    assert code == 0 and "normal" in out and "construction" in out


def test_depth_study_continues_with_more_steps(tmp_path):
    """A finished study asked for more steps continues its runs from their checkpoints (the
    sweep engine resumes them), and the summaries report the new step count; the continued
    run's loss history keeps the first part's rows."""
    from minimal.lsa.experiments import depth_study
    from minimal.runs import read_metrics
    kw = dict(layers=(2,), seeds=(0,), recurrent=(False,), out=tmp_path, workers=1,
              progress=False, quick=True)
    first = depth_study(steps=40, **kw)
    run_dir = next((tmp_path / "separate" / "runs").iterdir())
    before = read_metrics(run_dir / "metrics.csv")
    second = depth_study(steps=80, resume=True, **kw)
    assert [r["steps"] for r in first["rows"]] == [40]
    assert [r["steps"] for r in second["rows"]] == [80]
    after = read_metrics(run_dir / "metrics.csv")
    n = len(before["step"])
    assert after["step"][-1] == 80 and np.array_equal(after["loss"][:n], before["loss"])


def test_bench_lsa_quick_json(capsys):
    code, out, _ = run_cli(capsys, "bench", "lsa", "--quick", "--json")
    obj = json.loads(out)
    assert code == 0
    for key in ("warmup_s", "median_ms_per_step", "steps_per_s", "reference_median_ms",
                "speedup_vs_reference", "extrapolated_5000_steps_s", "threads"):
        assert key in obj
    assert obj["speedup_vs_reference"] == pytest.approx(
        obj["reference_median_ms"] / obj["median_ms_per_step"], rel=0.05)
