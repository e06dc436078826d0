"""Bounded least squares for curve models: the default :meth:`CurveModel.fit` (scipy
``least_squares``), standard errors from the Jacobian (σ²(JᵀJ)⁻¹, or a residual bootstrap when
asked or when the Jacobian is singular), R², AIC/BIC and the transition's interval by the delta
method."""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import CurveFileError
from .curves import Curve
from .result import FitResult


def _jacobian_cov(J, sse, n, k):
    """(covariance for reporting, pseudo-inverse covariance, method).

    Directions of parameter space the data do not constrain (singular values below 1e-10 of
    the largest) get NaN standard errors in the report; the pseudo-inverse covariance (those
    directions dropped) feeds the delta method, which is insensitive to them."""
    if n <= k:
        return None, None, "too few points for standard errors"
    s2 = sse / (n - k)
    U, S, Vt = np.linalg.svd(J, full_matrices=False)
    if S.size == 0 or S[0] == 0:
        return None, None, "zero Jacobian"
    keep = S > S[0] * 1e-10
    inv = np.zeros_like(S)
    inv[keep] = 1.0 / S[keep] ** 2                  # dropped directions stay 0 (no 1/0)
    pinv_cov = (Vt.T * inv) @ Vt * s2
    if keep.all():
        return pinv_cov, pinv_cov, "jacobian"
    cov = pinv_cov.copy()
    bad = np.abs(Vt[~keep]).max(axis=0) > 1e-6
    cov[bad, :] = np.nan
    cov[:, bad] = np.nan
    cond = S[0] / max(S[-1], 1e-300)
    return cov, pinv_cov, f"jacobian (singular, condition {cond:.2g}: unidentified -> NaN)"


def _delta_interval(model, x, p, t0, cov, lo, hi):
    """95 % interval of the transition by the delta method: var = gᵀ Σ g with g = ∂t/∂p."""
    g = np.zeros(len(p))
    for i in range(len(p)):
        h = 1e-4 * max(1.0, abs(p[i]))
        up, dn = p.copy(), p.copy()
        up[i] = min(p[i] + h, hi[i])
        dn[i] = max(p[i] - h, lo[i])
        tu, td = model.transition(x, up), model.transition(x, dn)
        if tu is None or td is None or up[i] == dn[i]:
            return None
        g[i] = (tu - td) / (up[i] - dn[i])
    var = float(g @ cov @ g)
    if not np.isfinite(var) or var < 0:
        return None
    half = 1.96 * math.sqrt(var)
    return (t0 - half, t0 + half)


def least_squares_fit(model, curve: Curve, bootstrap: int = 0, seed: int = 0) -> FitResult:
    """Fit ``model`` (a :class:`~minimal.fit.models.CurveModel`) to ``curve`` by bounded least
    squares (scipy ``least_squares``)."""
    from scipy.optimize import least_squares
    lo_r, hi_r = model.y_range
    if ((curve.y < lo_r) | (curve.y > hi_r)).any():
        raise CurveFileError(f"{curve.source}: y values outside [{lo_r}, {hi_r}], the range of "
                             f"a {model.quantity} curve")
    order = np.argsort(curve.x, kind="stable")
    x, y = curve.x[order], curve.y[order]
    names = model.param_names()
    lo, hi = model.bounds()
    p0 = np.clip(model.guess(x, y), lo + 1e-9 * (hi - lo if np.all(np.isfinite(hi - lo)) else 1),
                 hi - 1e-9)
    t0 = time.perf_counter()

    def resid(p):
        r = model.predict(x, p) - y
        return np.where(np.isfinite(r), r, 1e6)

    res = least_squares(resid, p0, bounds=(lo, hi), x_scale="jac", method="trf",
                        max_nfev=2000)
    starts = 1
    sst0 = float(((y - y.mean()) ** 2).sum())
    if hasattr(model, "extra_guesses") and sst0 > 0 and 2 * res.cost / sst0 > 0.02:
        # a poor fit (R² < 0.98) from the default start: try the model's other starts
        for q0 in model.extra_guesses(x, y):
            q0 = np.clip(q0, lo + 1e-9, hi - 1e-9)
            alt = least_squares(resid, q0, bounds=(lo, hi), x_scale="jac", method="trf",
                                max_nfev=2000)
            starts += 1
            if alt.cost < res.cost:
                res = alt
    p = res.x
    r = y - model.predict(x, p)
    n, k = len(y), len(p)
    sse = float(r @ r)
    sst = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - sse / sst if sst > 0 else float("nan")
    ll_term = n * math.log(max(sse, 1e-300) / n)
    aic = ll_term + 2 * k
    bic = ll_term + k * math.log(n)
    cov, pinv_cov, method = _jacobian_cov(res.jac, sse, n, k)
    rng = np.random.default_rng(seed)
    boot = None
    if bootstrap or cov is None:
        B = bootstrap or 50
        fitted = y - r
        samples = []
        for _ in range(B):
            yb = fitted + rng.choice(r, size=n, replace=True)
            rb = least_squares(lambda q: np.nan_to_num(model.predict(x, q) - yb, nan=1e6), p,
                               bounds=(lo, hi), x_scale="jac", max_nfev=400)
            samples.append(rb.x)
        boot = np.array(samples)
        cov = pinv_cov = np.cov(boot.T)
        method = f"residual bootstrap ({B} refits)"
    stderr = {nm: float(math.sqrt(cov[i, i])) if cov is not None and np.isfinite(cov[i, i])
              and cov[i, i] >= 0 else float("nan") for i, nm in enumerate(names)}
    t_tr = model.transition(x, p)
    ci = None
    if t_tr is not None:
        if boot is not None:
            ts = [model.transition(x, d) for d in boot]
            ts = np.array([t for t in ts if t is not None and np.isfinite(t)])
            if ts.size >= 10:
                ci = (float(np.percentile(ts, 2.5)), float(np.percentile(ts, 97.5)))
        elif pinv_cov is not None:
            ci = _delta_interval(model, x, p, t_tr, pinv_cov, lo, hi)
    info = {"nfev": int(res.nfev), "starts": starts, "status": int(res.status),
            "message": res.message,
            "seconds": time.perf_counter() - t0, "stderr_method": method,
            "quantity": model.quantity}
    for attr in ("N", "L", "B", "eps"):
        if hasattr(model, attr):
            info[attr] = getattr(model, attr)
    return FitResult(model.name, dict(zip(names, map(float, p))), stderr, float(r2),
                     float(aic), float(bic), n, t_tr, ci, r, x, y, y - r, cov, info,
                     curve.source, curve.x_name, curve.y_name, model)
