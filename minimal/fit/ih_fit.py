"""Fitting a simulated minimal induction-head model to a logged (e.g. full-network) curve
(docs/fitting.md, "ih-minimal").

The simulator is not differentiable in its initial condition, so the fit is derivative-free:
for each initial β₁ on a grid the minimal model is trained once (on the same task, stopped
early once its curve has settled on its end plateau), its curve v is normalised to
u = (v − v(0))/(v_end − v(0)), and the data are fitted as y = start + (end − start)·u(x/s):
for each time scale s the plateaus are a linear least-squares solve, and s is found by a scan
of log10 s followed by a bounded 1-D search.  Errors of (log10 s, start, end) come from the
Jacobian at the optimum; the error of β₁⁰ from the curvature of the profile squared error over
the grid (undetermined when the best grid point is at an edge).
"""

from __future__ import annotations

import math
import sys
import time
from collections import OrderedDict

import numpy as np

from .curves import Curve
from .identify import flagged, relative_errors
from .lsq import _check_fixed, _jacobian_cov, check_y_range
from .models import CurveModel, Param, crossing, midpoint_crossing
from .result import FitResult
from .verdict import TRANSITIONED, VerdictRules, judge, natural_range

__all__ = ["IHMinimalModel"]

_SIMS: "OrderedDict[tuple, tuple]" = OrderedDict()
_SIM_CACHE_SIZE = 64
_COLUMNS = ("ic_acc", "ic2_acc", "iw_acc", "test_acc", "loss", "tila2", "tla2", "cla", "ila1")


class _Settled(Exception):
    """Raised from the training callback to stop a simulation on its end plateau."""


class IHMinimalModel(CurveModel):
    name = "ih-minimal"
    description = "simulated minimal induction-head model, x = time_scale · (simulated step)"
    equation = ("y = start + (end − start)·u(x/time_scale), u = the normalised curve of a "
                "minimal induction-head model trained from β₁⁰")
    reducible = True

    def __init__(self, quantity: str = "accuracy", task=None, variant: str = "ih3",
                 classifier: str = "linear", steps: int = 20_000,
                 beta1_grid=(-3.0, -2.0, -1.0, 0.0), seed: int = 0, lr: float = 0.2,
                 n_eval: int = 300, progress: bool = True):
        from ..errors import ConfigError
        from ..tasks.config import TASK_PRESETS
        self.quantity = quantity
        self.task = task if task is not None else TASK_PRESETS.get("reddy-fig3")
        self.variant, self.classifier = variant, classifier
        self.steps = int(steps)
        if not 100 <= self.steps <= 1_000_000:
            raise ConfigError("steps", steps, "must be an integer in [100, 1000000]")
        self.grid = tuple(sorted(float(b) for b in beta1_grid))
        if not 1 <= len(self.grid) <= 50 or not all(-10 <= b <= 6 for b in self.grid):
            raise ConfigError("beta1_grid", beta1_grid, "must hold 1 to 50 values in [-10, 6]")
        self.seed = int(seed)
        self.lr = float(lr)
        self.n_eval = int(n_eval)
        self.progress = progress
        self.constants_source: dict = {}

    def constants(self):
        t = self.task
        return {"N": t.N, "L": t.L, "B": t.B_eval if hasattr(t, "B_eval") else t.B,
                "eps": t.eps, "K": t.K, "variant": self.variant,
                "classifier": self.classifier, "lr": self.lr}

    def params(self):
        lo, hi = min(self.grid), max(self.grid)
        return [Param("time_scale", "time", 1e-30, 1e30,
                      "x per simulated step of the minimal model (at its lr)", log=True,
                      unit="{x} per simulated step"),
                Param("beta1_0", "logit", min(lo, -10.0), max(hi, 6.0),
                      f"initial β₁ of the simulation (grid {', '.join(f'{b:g}' for b in self.grid)})",
                      fixable=True),
                Param("start", "level", -np.inf, np.inf, "plateau before the rise"),
                Param("end", "level", -np.inf, np.inf, "plateau after the rise")]

    # -- simulation -----------------------------------------------------------------------------
    def _key(self, beta1_0, column):
        from ..config import to_json
        return (to_json(self.task, None), self.variant, self.classifier, self.steps, self.lr,
                self.seed, self.n_eval, round(float(beta1_0), 9), column)

    def simulate(self, beta1_0: float, column: str = "ic_acc"):
        """(steps, values) of the minimal model's ``column`` curve, trained from β₁⁰ until it
        settles on its end plateau or ``steps`` (cached in the process)."""
        key = self._key(beta1_0, column)
        if key in _SIMS:
            _SIMS.move_to_end(key)
            return _SIMS[key]
        from ..config import apply_overrides
        from ..induction_head.config import IHConfig, IHRunConfig
        from ..induction_head.train import train_ih
        from ..training.config import TrainConfig
        every = max(1, self.steps // 400)
        cfg = IHRunConfig(task=apply_overrides(self.task, {"n_eval": self.n_eval}),
                          ih=IHConfig(variant=self.variant, classifier=self.classifier,
                                      beta1_0=float(beta1_0), lr_attn=self.lr,
                                      lr_clf=self.lr),
                          train=TrainConfig(steps=self.steps, eval_every=every))
        cfg = apply_overrides(cfg, {"seeds.seed": self.seed})
        rows_s, rows_v = [], []

        def watch(step, row, learner):
            rows_s.append(float(step))
            rows_v.append(float(row.get(column, row["ic_acc"])))
            if _settled(np.array(rows_s), np.array(rows_v), self.n_eval):
                raise _Settled
        try:
            train_ih(cfg, None, progress=False, callback=watch)
        except _Settled:
            pass
        out = (np.array(rows_s), np.array(rows_v))
        _SIMS[key] = out
        while len(_SIMS) > _SIM_CACHE_SIZE:
            _SIMS.popitem(last=False)
        return out

    def _normalised(self, beta1_0, column):
        steps, v = self.simulate(beta1_0, column)
        k = max(3, len(v) // 20)
        v0, v1 = float(v[0]), float(np.median(v[-k:]))
        if abs(v1 - v0) < 1e-9:
            return steps, np.zeros_like(v), v0, v1
        return steps, (v - v0) / (v1 - v0), v0, v1

    def predict(self, x, p, column: str | None = None):
        s, b, lo, hi = (float(v) for v in p)
        steps, u, _, _ = self._normalised(b, column or self._column)
        return lo + (hi - lo) * np.interp(np.asarray(x, float) / s, steps, u)

    _column = "ic_acc"

    def transition(self, x, p):
        s, b, lo, hi = (float(v) for v in p)
        if lo == hi:
            return None
        steps, u, _, _ = self._normalised(b, self._column)
        t = crossing(steps, u, 0.0, 1.0)
        if t is None:
            return None
        t *= s
        return t if float(np.min(x)) <= t <= float(np.max(x)) else None

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, curve: Curve, bootstrap: int = 0, seed: int = 0, fixed: dict | None = None,
            rules: VerdictRules | None = None, progress=None,
            start: dict | None = None) -> FitResult:
        """Derivative-free fit (see the module docstring).  ``bootstrap``/``seed`` are unused
        (the errors come from the Jacobian and the β₁⁰ profile); ``start`` is unused (the
        search is global over the grid and the time scale).  ``progress``: True (a line per
        simulation on stderr), False, or a callable taking the line."""
        from scipy.optimize import minimize_scalar
        rules = rules or VerdictRules()
        check_y_range(self, curve)
        fixed = _check_fixed(self, fixed)
        if len(self.grid) == 1 and "beta1_0" not in fixed:
            fixed["beta1_0"] = self.grid[0]           # a one-value grid fixes beta1_0
        say = _sayer(self.progress if progress is None else progress)
        self._column = column = curve.y_name if curve.y_name in _COLUMNS else (
            "loss" if self.quantity == "loss" else "ic_acc")
        t0 = time.perf_counter()
        order = np.argsort(curve.x)
        x, y = curve.x[order], curve.y[order]
        grid = (fixed["beta1_0"],) if "beta1_0" in fixed else self.grid
        mid_data = midpoint_crossing(x, y) or float(np.median(x))
        profile = []
        nfev = 0
        sims_s = 0.0
        for j, b in enumerate(grid):
            ts = time.perf_counter()
            cached = self._key(b, column) in _SIMS
            steps, u, v0, v1 = self._normalised(b, column)
            dt = time.perf_counter() - ts
            sims_s += dt
            say(f"ih-minimal: simulation {j + 1}/{len(grid)} (beta1_0 = {b:g}): "
                f"{int(steps[-1])} steps, {column} {v0:.3f} -> {v1:.3f}, "
                f"{'cached' if cached else f'{dt:.1f} s'}")
            mid_sim = crossing(steps, u, 0.0, 1.0) or float(np.median(steps))
            c = math.log10(max(mid_data, 1e-12) / max(mid_sim, 1e-12))

            def sse(ls, steps=steps, u=u):
                return _profile(x, y, steps, u, ls, fixed)[0]

            if "time_scale" in fixed:
                ls = math.log10(fixed["time_scale"])
                best = (ls, sse(ls))
                nfev += 1
            else:
                scan = np.linspace(c - 2.0, c + 2.0, 41)
                vals = [sse(v) for v in scan]
                i = int(np.argmin(vals))
                a, bb = scan[max(i - 1, 0)], scan[min(i + 1, len(scan) - 1)]
                res = minimize_scalar(sse, bounds=(a, bb), method="bounded",
                                      options={"xatol": 1e-7})
                nfev += len(scan) + res.nfev
                best = (res.x, res.fun) if res.fun <= vals[i] else (scan[i], vals[i])
            profile.append((b, best[0], best[1]))
        jb = int(np.argmin([pr[2] for pr in profile]))
        b, ls, sse_min = profile[jb]
        steps, u, _, _ = self._normalised(b, column)
        _, lo_v, hi_v = _profile(x, y, steps, u, ls, fixed)
        p = np.array([10.0 ** ls, b, lo_v, hi_v])
        fit = self.predict(x, p)
        r = y - fit
        n = len(y)
        sse_min = float(r @ r)
        # Jacobian of the curve w.r.t. the continuous free parameters (log10 s, start, end)
        cont = [nm for nm in ("time_scale", "start", "end") if nm not in fixed]
        U = np.interp(x / 10.0 ** ls, steps, u)
        cols = []
        for nm in cont:
            if nm == "time_scale":
                h = 1e-3
                up = lo_v + (hi_v - lo_v) * np.interp(x / 10.0 ** (ls + h), steps, u)
                dn = lo_v + (hi_v - lo_v) * np.interp(x / 10.0 ** (ls - h), steps, u)
                cols.append((up - dn) / (2 * h))
            elif nm == "start":
                cols.append(1.0 - U)
            else:
                cols.append(U)
        k = len(cont) + (1 if ("beta1_0" not in fixed and len(grid) > 1) else 0)
        J = np.array(cols).T if cols else np.zeros((n, 0))
        cov, pinv_cov, method = _jacobian_cov(J, sse_min, n, k) if cont else \
            (None, None, "all continuous parameters fixed")
        se = {}
        for i, nm in enumerate(cont):
            v = float(cov[i, i]) if cov is not None else math.nan
            sd = math.sqrt(v) if math.isfinite(v) and v >= 0 else math.nan
            se[nm] = p[0] * math.log(10) * sd if nm == "time_scale" else sd
        s2 = sse_min / max(n - k, 1)
        notes = []
        se_b = math.nan
        if "beta1_0" not in fixed:
            if len(grid) < 3:
                notes.append("beta1_0 on a grid of fewer than 3 values: its error is not "
                             "determined")
            elif jb in (0, len(grid) - 1):
                notes.append(f"the best beta1_0 ({b:g}) is at the edge of the grid "
                             f"[{grid[0]:g}, {grid[-1]:g}]: its error is not determined")
            else:
                (b0, _, f0), (b1, _, f1), (b2, _, f2) = profile[jb - 1: jb + 2]
                # second derivative of the profile through three (possibly uneven) points
                c2 = 2 * (f0 / ((b0 - b1) * (b0 - b2)) + f1 / ((b1 - b0) * (b1 - b2)) +
                          f2 / ((b2 - b0) * (b2 - b1)))
                se_b = math.sqrt(2 * s2 / c2) if c2 > 0 else math.nan
        stderr = {"time_scale": se.get("time_scale"), "beta1_0": se_b,
                  "start": se.get("start"), "end": se.get("end")}
        for nm in fixed:
            stderr[nm] = None
        sst = float(((y - y.mean()) ** 2).sum())
        r2 = 1 - sse_min / sst if sst > 0 else float("nan")
        ll = n * math.log(max(sse_min, 1e-300) / n)
        t_mid = self.transition(x, p)
        ci = None
        if t_mid is not None and "time_scale" in se and math.isfinite(se["time_scale"]):
            sl = se["time_scale"] / (p[0] * math.log(10))
            ci = (t_mid * 10 ** (-1.96 * sl), t_mid * 10 ** (1.96 * sl))
        params = {"time_scale": float(p[0]), "beta1_0": float(b), "start": float(lo_v),
                  "end": float(hi_v)}
        lo_y, hi_y, _ = natural_range(self.quantity, y, rules)
        rse = relative_errors(self, params, stderr, fixed, float(x[-1] - x[0]), hi_y - lo_y)
        verdict, reason, diag = judge(x, y, fit, self, p, t_mid, ci, self.quantity, rules)
        if verdict != TRANSITIONED:
            t_mid, ci = None, None
        seconds = time.perf_counter() - t0
        info = {"nfev": nfev, "seconds": seconds, "simulation_s": sims_s,
                "stderr_method": f"{method} for (time scale, start, end); beta1_0 from the "
                                 "curvature of the profile squared error over the grid "
                                 "(conditional errors: the time scale's is at the best "
                                 "beta1_0)",
                "grid": list(grid), "profile_sse": [pr[2] for pr in profile],
                "max_simulated_steps": self.steps, "simulated_steps": int(steps[-1]),
                "variant": self.variant, "classifier": self.classifier, "column": column,
                "quantity": self.quantity, "lr": self.lr, "notes": notes,
                "start_values": {"time_scale": float(p[0]), "beta1_0": -2.0 if -2.0 in
                                 self.grid else float(self.grid[len(self.grid) // 2]),
                                 "start": float(lo_v), "end": float(hi_v)}}
        cov_names = cont
        return FitResult(
            model=self.name, params=params, stderr=stderr, r2=float(r2), aic=ll + 2 * k,
            bic=ll + k * math.log(n), n_points=n, t_transition=t_mid, t_transition_ci=ci,
            residuals=r, x=x, y=y, y_fit=fit, covariance=cov, info=info, source=curve.source,
            x_name=curve.x_name, y_name=curve.y_name, _model=self, fixed=fixed, rse=rse,
            flags=flagged(rse, rules.max_rse), verdict=verdict, verdict_reason=reason,
            diagnostics=diag, group=dict(curve.group), k=k, cov_names=cov_names,
            rules_max_rse=rules.max_rse, constants=self.constants())


def _profile(x, y, steps, u, ls, fixed):
    """(SSE, start, end) at log10 time scale ``ls`` with the plateaus solved by linear least
    squares (or held at their fixed values)."""
    U = np.interp(x / 10.0 ** ls, steps, u)
    if "start" in fixed and "end" in fixed:
        lo, hi = fixed["start"], fixed["end"]
    elif "start" in fixed:
        lo = fixed["start"]
        d = U @ U
        hi = lo + (U @ (y - lo)) / d if d > 0 else lo
    elif "end" in fixed:
        hi = fixed["end"]
        V = 1.0 - U
        d = V @ V
        lo = hi + (V @ (y - hi)) / d if d > 0 else hi
    else:
        A = np.column_stack([1.0 - U, U])
        (lo, hi), *_ = np.linalg.lstsq(A, y, rcond=None)
    r = y - (lo + (hi - lo) * U)
    return float(r @ r), float(lo), float(hi)


def _settled(s, v, n_eval) -> bool:
    """The simulated curve has moved away from its start (by ≥ 0.3 for an accuracy, ≥ 30 % for
    a loss above 1) and the last quarter of the elapsed steps is flat: its values stay within
    3 evaluation standard deviations plus 5 % of the change, at ≥ 80 % of it."""
    if len(v) < 12:
        return False
    v0 = float(v[0])
    k = int(np.argmax(np.abs(v - v0)))
    change = float(v[k] - v0)
    if abs(change) < (0.3 if abs(v0) <= 1 else 0.3 * abs(v0)):
        return False
    recent = v[s >= 0.75 * s[-1]]
    if len(recent) < 8:
        return False
    p = float(np.clip(np.mean(recent), 0.0, 1.0))
    noise = 3 * math.sqrt(max(p * (1 - p), 1e-4) / max(n_eval, 1))
    return (float(np.ptp(recent)) <= noise + 0.05 * abs(change) and
            abs(float(np.mean(recent)) - v0) >= 0.8 * abs(change))


def _sayer(progress):
    if callable(progress):
        return progress
    if progress:
        return lambda s: print(s, file=sys.stderr, flush=True)
    return lambda s: None
