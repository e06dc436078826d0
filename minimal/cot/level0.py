"""Level 0 of the CoT circuit model: a *calibrated description* (docs/cot.md, "Level 0").

Level 0 is a closed form (SymPy, lambdified) whose 14 parameters are fitted to the 12 numbers of
the paper's two noise rows (ξ = 0.05 and 0.8, OOD accuracies included).  It therefore predicts
nothing at those two rows: it reproduces them by construction, and its values at other ξ are an
interpolation inside the chosen families (c₀ξ^k, (1 − ξ)^γ), not a mechanism.  The model that
*predicts* the noise dependence from ID and training observables is Level 1 (:mod:`.model`).

Atomic learning a_c(t) = σ(s_c (t − τ_c)) with s_c = s₀ ν_c^β g(ξ), exposures ν_ID = 1 + 2λ,
ν_OOD = 1, g(ξ) = 1/(1 + g₁ ξ) and τ_c(ξ) = τ_c⁰ + τ_c¹ ξ (linear between the two anchor noise
levels).  CoT accuracy A_ID = ρ² a_ID² [1 − c(ξ) m(t)], A_OOD = ρ² a_OOD² f(ξ), with routing
readiness ρ(t) = σ(s_ρ (t − τ_ρ)), memorised fraction m(t) = σ(s_m (t − τ_m)),
c(ξ) = c₀ ξ^k and f(ξ) = (1 − ξ)^γ; noisy-train accuracy (1 − ξ) A_ID + ξ m.  No CoT:
A_ID = σ(s_g (t − T₀ λ^{−κ})), A_OOD = 1/|E|.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

#: (ξ, quantity, step or None, value) anchors of docs/cot.md (the paper's T4 values) (λ = 7.2)
ANCHORS = [
    (0.05, "A_ID", 4000, 0.999), (0.05, "A_ID", 20000, 0.990),
    (0.05, "A_OOD", 20000, 0.978), (0.05, "train", 20000, 0.993),
    (0.05, "a_ID", 1900, 0.5), (0.05, "a_OOD", 5300, 0.5),
    (0.8, "A_ID", 6000, 0.983), (0.8, "A_ID", 20000, 0.426),
    (0.8, "A_OOD", 20000, 0.148), (0.8, "train", 20000, 0.973),
    (0.8, "a_ID", 2600, 0.5), (0.8, "a_OOD", 9600, 0.5),
]
PARAMS = ("s0", "beta", "g1", "tau_id0", "tau_id1", "tau_ood0", "tau_ood1", "s_rho", "tau_rho",
          "s_m", "tau_m", "c0", "k", "gamma")
DEFAULTS = (1.7e-3, 0.37, 0.1, 1800.0, 900.0, 5000.0, 5700.0, 0.01, 500.0, 1e-3, 9000.0,
            0.8, 1.5, 1.0)


@functools.lru_cache(maxsize=None)
def symbolic():
    t, xi, lam = sp.symbols("t xi lambda", nonnegative=True)
    p = sp.symbols(" ".join(PARAMS), real=True)
    P = dict(zip(PARAMS, p))
    sig = lambda z: 1 / (1 + sp.exp(-z))
    g = 1 / (1 + P["g1"] * xi)
    s_id = P["s0"] * (1 + 2 * lam) ** P["beta"] * g
    s_ood = P["s0"] * g
    a_id = sig(s_id * (t - (P["tau_id0"] + P["tau_id1"] * xi)))
    a_ood = sig(s_ood * (t - (P["tau_ood0"] + P["tau_ood1"] * xi)))
    rho = sig(P["s_rho"] * (t - P["tau_rho"]))
    m = sig(P["s_m"] * (t - P["tau_m"]))
    c = P["c0"] * xi ** P["k"]
    f = (1 - xi) ** P["gamma"]
    A_id = rho ** 2 * a_id ** 2 * (1 - c * m)
    A_ood = rho ** 2 * a_ood ** 2 * f
    train = (1 - xi) * A_id + xi * m
    exprs = {"a_ID": a_id, "a_OOD": a_ood, "A_ID": A_id, "A_OOD": A_ood, "train": train,
             "m": m, "rho": rho}
    return (t, xi, lam), p, exprs


@functools.lru_cache(maxsize=None)
def _functions():
    (t, xi, lam), p, exprs = symbolic()
    return {k: sp.lambdify((t, xi, lam, *p), e, "numpy") for k, e in exprs.items()}


def curves(params, xi: float, lam: float = 7.2, t=None) -> dict:
    """Level-0 curves (numpy arrays) at steps ``t`` (default 0..20k)."""
    t = np.linspace(0, 20_000, 201) if t is None else np.asarray(t, float)
    f = _functions()
    return {k: np.asarray(fn(t, xi, lam, *params), float) * np.ones_like(t)
            for k, fn in f.items()} | {"t": t}


def calibrate(anchors=ANCHORS, lam: float = 7.2) -> dict:
    """Least-squares fit of the parameters to the anchors; returns params and residuals."""
    from scipy.optimize import least_squares
    f = _functions()
    scale = np.array([1.0, 1.0, 1.0, 1e3, 1e3, 1e3, 1e3, 1.0, 1e3, 1.0, 1e3, 1.0, 1.0, 1.0])

    def resid(x):
        p = x * scale
        return np.array([f[q](float(step), xi, lam, *p) - v for xi, q, step, v in anchors])

    x0 = np.array(DEFAULTS) / scale
    lo = np.array([1e-5, 0.0, 0.0, 0.0, -5.0, 0.0, -5.0, 1e-4, 0.0, 1e-5, 0.0, 0.0, 0.1, 0.0])
    hi = np.array([0.1, 2.0, 20.0, 20.0, 20.0, 40.0, 40.0, 1.0, 5.0, 0.1, 40.0, 5.0, 6.0, 6.0])
    res = least_squares(resid, x0, bounds=(lo, hi))
    params = tuple(res.x * scale)
    r = resid(res.x)
    return {"params": dict(zip(PARAMS, params)), "values": params,
            "residuals": [(xi, q, step, v, float(v + ri)) for (xi, q, step, v), ri in
                          zip(anchors, r)],
            "rms_residual": float(np.sqrt(np.mean(r ** 2)))}


def predict_ood_vs_noise(xis, lam: float = 7.2, step: int = 20_000, params=None) -> np.ndarray:
    """Level-0 OOD two-hop accuracy at ``step`` for noise ratios ``xis`` (the calibrated
    description: at ξ = 0.05 and 0.8 it returns what it was fitted to)."""
    params = calibrate()["values"] if params is None else params
    return np.array([float(curves(params, x, lam, [step])["A_OOD"][0]) for x in xis])
