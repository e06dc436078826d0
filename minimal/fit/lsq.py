"""Bounded least squares for curve models: the default :meth:`CurveModel.fit` (scipy
``least_squares`` on the free parameters, positive scales on a log10 scale), standard errors
from the Jacobian (σ²(JᵀJ)⁻¹, or a residual bootstrap when asked or when the Jacobian is
singular), R², AIC/BIC, the transition's interval by the delta method, identifiability flags
and the verdict (docs/fitting.md)."""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import ConfigError, CurveFileError
from .curves import Curve
from .identify import flagged, relative_errors
from .result import FitResult
from .verdict import TRANSITIONED, VerdictRules, judge, natural_range

__all__ = ["least_squares_fit", "check_y_range", "internal", "natural", "MAX_NFEV"]

#: most residual evaluations of one least-squares run (the Jacobian's are not counted)
MAX_NFEV = 500


def internal(model, p) -> np.ndarray:
    """Natural parameter vector -> the vector the optimiser sees (log10 of log parameters)."""
    return model.to_internal(p)


def natural(model, q) -> np.ndarray:
    return model.to_natural(q)


def check_y_range(model, curve) -> None:
    lo_r, hi_r = model.y_range
    bad = (curve.y < lo_r) | (curve.y > hi_r)
    if bad.any():
        raise CurveFileError(f"{curve.source}: y column {curve.y_name!r} has {int(bad.sum())} "
                             f"value(s) outside [{lo_r:g}, {hi_r:g}], the range of a "
                             f"{model.quantity} curve (set the quantity: --quantity)")


def _check_fixed(model, fixed) -> dict:
    names = model.param_names()
    lo, hi = model.bounds()
    out = {}
    for k, v in (fixed or {}).items():
        if k not in names:
            raise ConfigError("fixed", k, f"is not a parameter of {model.name} "
                              f"({', '.join(names)})")
        i = names.index(k)
        v = float(v)
        if not (math.isfinite(v) and lo[i] <= v <= hi[i]):
            raise ConfigError(f"fixed.{k}", v, f"must be a finite number in [{lo[i]:g}, "
                              f"{hi[i]:g}]")
        out[k] = v
    if len(out) >= len(names):
        raise ConfigError("fixed", ",".join(out), "leaves no parameter to fit")
    return out


def _jacobian_cov(J, sse, n, k):
    """(covariance for reporting, pseudo-inverse covariance, method).

    Directions of parameter space the data do not constrain (singular values below 1e-10 of
    the largest) get NaN (undetermined) standard errors; the pseudo-inverse covariance (those
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
    return cov, pinv_cov, f"jacobian (singular, condition {cond:.2g}: some undetermined)"


def _delta_interval(tfun, q, t0, cov, lo, hi):
    """95 % interval of the transition by the delta method: var = gᵀ Σ g with g = ∂t/∂q."""
    g = np.zeros(len(q))
    for i in range(len(q)):
        h = 1e-4 * max(1.0, abs(q[i]))
        up, dn = q.copy(), q.copy()
        up[i] = min(q[i] + h, hi[i])
        dn[i] = max(q[i] - h, lo[i])
        tu, td = tfun(up), tfun(dn)
        if tu is None or td is None or up[i] == dn[i]:
            return None
        g[i] = (tu - td) / (up[i] - dn[i])
    var = float(g @ cov @ g)
    if not np.isfinite(var) or var < 0:
        return None
    half = 1.96 * math.sqrt(var)
    return (t0 - half, t0 + half)


def least_squares_fit(model, curve: Curve, bootstrap: int = 0, seed: int = 0,
                      fixed: dict | None = None, rules: VerdictRules | None = None,
                      start: dict | None = None) -> FitResult:
    """Fit ``model`` (a :class:`~minimal.fit.models.CurveModel`) to ``curve`` by bounded least
    squares; ``fixed`` holds parameters at given values; ``bootstrap`` residual-bootstrap
    refits for the errors (0: the Jacobian); ``rules`` the verdict's thresholds; ``start``
    starting values that override the model's guess (then no other starts are tried)."""
    from scipy.optimize import least_squares
    rules = rules or VerdictRules()
    check_y_range(model, curve)
    fixed = _check_fixed(model, fixed)
    order = np.argsort(curve.x, kind="stable")
    x, y = curve.x[order], curve.y[order]
    names = model.param_names()
    free = np.array([nm not in fixed for nm in names])
    lo_n, hi_n = model.bounds()
    lo, hi = internal(model, lo_n), internal(model, hi_n)

    def full(qf):
        q = q_base.copy()
        q[free] = qf
        return q

    def resid(qf):
        r = model.predict(x, natural(model, full(qf))) - y
        return np.where(np.isfinite(r), r, 1e6)

    def start_from(p0):
        p0 = np.array(p0, float)
        for k, v in fixed.items():
            p0[names.index(k)] = v
        q0 = internal(model, np.clip(p0, lo_n, hi_n))
        width = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
        return np.clip(q0, lo + 1e-9 * width, hi - 1e-9 * width)

    t0 = time.perf_counter()
    guess = np.array(model.guess(x, y), float)
    guess_values = dict(zip(names, map(float, guess)))
    for k, v in (start or {}).items():
        guess[names.index(k)] = v
    q_base = start_from(guess)
    start_q = q_base.copy()
    res = least_squares(resid, q_base[free], bounds=(lo[free], hi[free]), x_scale="jac",
                        method="trf", max_nfev=MAX_NFEV)
    nfev, starts = int(res.nfev), 1
    sst = float(((y - y.mean()) ** 2).sum())
    lo_y, hi_y, _ = natural_range(model.quantity, y, rules)
    m_edge = max(3, len(y) // 10)
    data_rise = abs(float(np.median(y[-m_edge:]) - np.median(y[:m_edge])))
    if start is None and hasattr(model, "extra_guesses") and sst > 0 and \
            2 * res.cost / sst > 0.02 and data_rise >= rules.min_rise * (hi_y - lo_y):
        # a poor fit (R² < 0.98) of a curve that does rise, from the default start: try the
        # model's other starts (not for flat curves: no start makes them transition)
        for p0 in model.extra_guesses(x, y):
            qa = start_from(p0)
            q_base = qa
            alt = least_squares(resid, qa[free], bounds=(lo[free], hi[free]), x_scale="jac",
                                method="trf", max_nfev=MAX_NFEV)
            starts += 1
            nfev += int(alt.nfev)
            if alt.cost < res.cost:
                res, start_q = alt, qa.copy()
        q_base = start_q
    q = full(res.x)
    p = natural(model, q)
    fit = model.predict(x, p)
    r = y - fit
    n, k = len(y), int(free.sum())
    sse = float(r @ r)
    r2 = 1.0 - sse / sst if sst > 0 else float("nan")
    ll_term = n * math.log(max(sse, 1e-300) / n)
    aic, bic = ll_term + 2 * k, ll_term + k * math.log(n)
    cov, pinv_cov, method = _jacobian_cov(res.jac, sse, n, k)
    boot = None
    if bootstrap or cov is None:
        rng = np.random.default_rng(seed)
        B = bootstrap or 50
        samples = []
        for _ in range(B):
            yb = fit + rng.choice(r, size=n, replace=True)
            rb = least_squares(
                lambda qf: np.nan_to_num(model.predict(x, natural(model, full(qf))) - yb,
                                         nan=1e6),
                res.x, bounds=(lo[free], hi[free]), x_scale="jac", max_nfev=400)
            samples.append(rb.x)
        boot = np.array(samples)
        cov = pinv_cov = np.atleast_2d(np.cov(boot.T))
        method = f"residual bootstrap ({B} refits)"
    se_q = np.full(len(names), np.nan)
    if cov is not None:
        d = np.diag(cov)
        se_q[free] = np.where(np.isfinite(d) & (d >= 0), np.sqrt(np.abs(d)), np.nan)
    stderr = {}
    for i, spec in enumerate(model.params()):
        if not free[i]:
            stderr[spec.name] = None
        elif spec.log:
            stderr[spec.name] = float(p[i] * math.log(10) * se_q[i])
        else:
            stderr[spec.name] = float(se_q[i])

    def tfun(qf):
        return model.transition(x, natural(model, full(qf)))

    t_mid = model.transition(x, p)
    ci = None
    if t_mid is not None:
        if boot is not None:
            ts = np.array([t for t in (tfun(b) for b in boot) if t is not None and
                           np.isfinite(t)])
            if ts.size >= max(10, int(0.9 * len(boot))):
                ci = (float(np.percentile(ts, 2.5)), float(np.percentile(ts, 97.5)))
        elif pinv_cov is not None:
            ci = _delta_interval(tfun, res.x, t_mid, pinv_cov, lo[free], hi[free])
    params = dict(zip(names, map(float, p)))
    rse = relative_errors(model, params, stderr, fixed, float(x[-1] - x[0]), hi_y - lo_y)
    verdict, reason, diag = judge(x, y, fit, model, p, t_mid, ci, model.quantity, rules)
    if verdict != TRANSITIONED:
        t_mid, ci = None, None
    info = {"nfev": nfev, "starts": starts, "status": int(res.status),
            "message": res.message, "seconds": time.perf_counter() - t0,
            "stderr_method": method, "quantity": model.quantity,
            "start_values": (dict(zip(names, map(float, natural(model, start_q))))
                             if start is None else guess_values)}
    return FitResult(
        model=model.name, params=params, stderr=stderr, r2=float(r2), aic=float(aic),
        bic=float(bic), n_points=n, t_transition=t_mid, t_transition_ci=ci, residuals=r,
        x=x, y=y, y_fit=fit, covariance=cov, info=info, source=curve.source,
        x_name=curve.x_name, y_name=curve.y_name, _model=model, fixed=fixed, rse=rse,
        flags=flagged(rse, rules.max_rse), verdict=verdict, verdict_reason=reason,
        diagnostics=diag, group=dict(curve.group), k=k, boot=boot,
        cov_names=[nm for nm, f in zip(names, free) if f],
        rules_max_rse=rules.max_rse, constants=model.constants())
