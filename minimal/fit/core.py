"""Least-squares fitting of curve models: model → parameters → result (lmfit-like).

:func:`fit_curve` returns a :class:`FitResult` with best-fit values, standard errors from the
Jacobian (σ²(JᵀJ)⁻¹, or a residual bootstrap when asked or when the Jacobian is singular), R²,
AIC/BIC, residuals, the predicted transition (where the fitted curve crosses the midpoint between
its plateaus) with a 95 % interval from parameter uncertainty, a text report, JSON and a plot.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import CurveFileError
from .curves import Curve
from .models import CurveModel


@dataclass
class FitResult:
    model: str
    params: dict
    stderr: dict
    r2: float
    aic: float
    bic: float
    n_points: int
    t_transition: float | None
    t_transition_ci: tuple | None
    residuals: np.ndarray
    x: np.ndarray
    y: np.ndarray
    y_fit: np.ndarray
    covariance: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    source: str = ""
    x_name: str = "x"
    y_name: str = "y"
    _model: CurveModel | None = None

    def to_json_dict(self) -> dict:
        clean = lambda v: None if v is None or (isinstance(v, float) and not math.isfinite(v)) \
            else v
        return {
            "model": self.model, "source": self.source, "x": self.x_name, "y": self.y_name,
            "params": {k: clean(float(v)) for k, v in self.params.items()},
            "stderr": {k: clean(float(v)) for k, v in self.stderr.items()},
            "r2": clean(self.r2), "aic": clean(self.aic), "bic": clean(self.bic),
            "t_transition": clean(self.t_transition),
            "t_transition_ci": (None if self.t_transition_ci is None else
                                [clean(float(v)) for v in self.t_transition_ci]),
            "n_points": self.n_points, "info": self.info,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), default=float)

    def report(self) -> str:
        lines = [f"[[Model]] {self.model}   data: {self.source} ({self.y_name} vs {self.x_name})",
                 f"[[Fit statistics]] points {self.n_points}, R² {self.r2:.5f}, AIC "
                 f"{self.aic:.2f}, BIC {self.bic:.2f}, "
                 f"evaluations {self.info.get('nfev')}, {self.info.get('seconds', 0):.3f} s",
                 "[[Parameters]]"]
        for k, v in self.params.items():
            e = self.stderr.get(k, float("nan"))
            rel = f" ({100 * abs(e / v):.1f}%)" if v and np.isfinite(e) else ""
            lines.append(f"    {k:<18} = {v:>14.6g} +/- {e:<12.4g}{rel}")
        if self.t_transition is None:
            lines.append("[[Transition]] the fitted curve does not cross the midpoint between "
                         "its plateaus in the data range")
        else:
            ci = self.t_transition_ci
            lines.append(f"[[Transition]] {self.x_name} = {self.t_transition:.6g}" +
                         (f"  (95% interval {ci[0]:.6g} … {ci[1]:.6g})" if ci else ""))
        if self.info.get("stderr_method") != "jacobian":
            lines.append(f"    standard errors: {self.info.get('stderr_method')}")
        return "\n".join(lines)

    def plot(self, path=None):
        """Data, fit and residuals; saved to ``path`` (PNG/PDF by suffix) when given."""
        from matplotlib.figure import Figure
        fig = Figure(figsize=(7, 5.5), layout="constrained")
        ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        ax1.plot(self.x, self.y, ".", color="k", ms=3, label="data")
        grid = np.linspace(self.x.min(), self.x.max(), 1000)
        if self._model is not None:
            ax1.plot(grid, self._model.predict(grid, np.array(list(self.params.values()))),
                     "C3-", label=f"{self.model} (R² {self.r2:.4f})")
        if self.t_transition is not None:
            for ax in (ax1, ax2):
                ax.axvline(self.t_transition, color="C0", lw=0.8)
            if self.t_transition_ci:
                ax1.axvspan(*self.t_transition_ci, color="C0", alpha=0.15,
                            label=f"transition {self.t_transition:.4g}")
        ax1.set_ylabel(self.y_name)
        ax1.legend(fontsize=8)
        ax2.plot(self.x, self.residuals, ".", color="k", ms=3)
        ax2.axhline(0, color="C3", lw=0.8)
        ax2.set_xlabel(self.x_name)
        ax2.set_ylabel("residual")
        ax1.set_title(f"{self.source}", fontsize=8)
        if path is not None:
            fig.savefig(path, dpi=130)
        return fig


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


def fit_curve(curve: Curve, model: CurveModel, bootstrap: int = 0,
              seed: int = 0) -> FitResult:
    """Fit ``model`` to ``curve`` by bounded least squares (scipy ``least_squares``)."""
    from scipy.optimize import least_squares
    if hasattr(model, "fit_custom"):
        return model.fit_custom(curve)
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
