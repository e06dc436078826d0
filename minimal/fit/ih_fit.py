"""Fitting a simulated minimal induction-head model to a logged (e.g. full-network) curve.

The simulator is not differentiable in its initial condition, so the fit is derivative-free: for
each initial β₁ on a grid the minimal model is trained once (``steps`` SGD steps on the same
task), and the time scale s that maps its steps onto the curve's x (x = s · step) is found by a
bounded 1-D search of the squared error.  The standard error of log10 s comes from the curvature
of the squared error at its minimum; β₁ is resolved to the grid spacing.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import CurveFileError
from .curves import Curve
from .models import CurveModel, midpoint_crossing
from .result import FitResult


class IHMinimalModel(CurveModel):
    name = "ih-minimal"
    description = "simulated minimal induction-head model, x = s · (minimal-model step)"
    time_params = ("log10_time_scale",)

    def __init__(self, quantity: str = "accuracy", task=None, variant: str = "ih3",
                 classifier: str = "linear", steps: int = 20_000, beta1_grid=(-3.0, -2.0, -1.0),
                 seed: int = 0, lr: float = 0.03):
        from ..tasks.icl import TASK_PRESETS
        self.quantity = quantity
        self.task = task if task is not None else TASK_PRESETS.get("reddy-fig3")
        self.variant, self.classifier = variant, classifier
        self.steps = int(steps)
        self.grid = tuple(float(b) for b in beta1_grid)
        self.seed = seed
        self.lr = float(lr)
        self._sims: dict[tuple, tuple] = {}

    def param_names(self):
        return ["log10_time_scale", "beta1_0"]

    def bounds(self):
        return np.array([-12.0, -10.0]), np.array([12.0, 6.0])

    def simulate(self, beta1_0: float, column: str = "ic_acc"):
        """(steps, values) of the minimal model's ``column`` curve (cached)."""
        key = (round(float(beta1_0), 9), column)
        if key not in self._sims:
            from ..config import apply_overrides
            from ..induction_head.config import IHConfig, IHRunConfig
            from ..induction_head.train import train_ih
            from ..training.config import TrainConfig
            cfg = IHRunConfig(task=apply_overrides(self.task, {"n_eval": 500}),
                              ih=IHConfig(variant=self.variant, classifier=self.classifier,
                                          beta1_0=float(beta1_0), lr_attn=self.lr,
                                          lr_clf=self.lr),
                              train=TrainConfig(steps=self.steps,
                                                eval_every=max(1, self.steps // 100)))
            cfg = apply_overrides(cfg, {"seeds.seed": self.seed})
            m = train_ih(cfg, None, progress=False).metrics
            col = column if column in m else "ic_acc"
            self._sims[key] = (np.asarray(m["step"], float), np.asarray(m[col], float))
        return self._sims[key]

    def predict(self, x, p, column: str = "ic_acc"):
        steps, vals = self.simulate(p[1], column)
        return np.interp(np.asarray(x, float) / 10.0 ** p[0], steps, vals)

    def fit(self, curve: Curve, bootstrap: int = 0, seed: int = 0) -> FitResult:
        """Derivative-free fit (see the module docstring); ``bootstrap``/``seed`` unused."""
        from scipy.optimize import minimize_scalar
        lo_r, hi_r = self.y_range
        if ((curve.y < lo_r) | (curve.y > hi_r)).any():
            raise CurveFileError(f"{curve.source}: y values outside [{lo_r}, {hi_r}]")
        column = curve.y_name if curve.y_name in (
            "ic_acc", "ic2_acc", "iw_acc", "test_acc", "loss", "tila2", "tla2", "cla",
            "ila1") else "ic_acc"
        t0 = time.perf_counter()
        order = np.argsort(curve.x)
        x, y = curve.x[order], curve.y[order]
        mid_data = midpoint_crossing(x, y) or float(np.median(x))
        best = None
        nfev = 0
        for b in self.grid:
            steps, vals = self.simulate(b, column)
            mid_sim = midpoint_crossing(steps, vals) or float(np.median(steps))
            c = math.log10(max(mid_data, 1e-12) / max(mid_sim, 1e-12))

            def sse(ls, b=b):
                r = self.predict(x, (ls, b), column) - y
                return float(r @ r)

            res = minimize_scalar(sse, bounds=(c - 2.0, c + 2.0), method="bounded",
                                  options={"xatol": 1e-6})
            nfev += res.nfev
            if best is None or res.fun < best[2]:
                best = (res.x, b, res.fun)
        ls, b, sse_min = best
        n, k = len(y), 2
        r = y - self.predict(x, (ls, b), column)
        h = 1e-3
        curv = (self._sse(x, y, ls + h, b, column) - 2 * sse_min +
                self._sse(x, y, ls - h, b, column)) / h ** 2
        s2 = sse_min / max(n - k, 1)
        se_ls = math.sqrt(2 * s2 / curv) if curv > 0 else float("nan")
        sst = float(((y - y.mean()) ** 2).sum())
        r2 = 1 - sse_min / sst if sst > 0 else float("nan")
        ll = n * math.log(max(sse_min, 1e-300) / n)
        steps, vals = self.simulate(b, column)
        t_sim = midpoint_crossing(steps, vals)
        t_tr = None if t_sim is None else t_sim * 10 ** ls
        ci = None if (t_tr is None or not np.isfinite(se_ls)) else (
            t_tr * 10 ** (-1.96 * se_ls), t_tr * 10 ** (1.96 * se_ls))
        grid_step = float(np.min(np.diff(sorted(self.grid)))) if len(self.grid) > 1 else math.nan
        info = {"nfev": nfev, "seconds": time.perf_counter() - t0,
                "stderr_method": "curvature of the squared error (time scale); beta1_0 on a "
                                 f"grid of spacing {grid_step}",
                "grid": list(self.grid), "simulated_steps": self.steps,
                "variant": self.variant, "classifier": self.classifier, "column": column,
                "quantity": self.quantity}
        return FitResult(self.name, {"log10_time_scale": float(ls), "beta1_0": float(b)},
                         {"log10_time_scale": se_ls, "beta1_0": float("nan")}, float(r2),
                         ll + 2 * k, ll + k * math.log(n), n, t_tr, ci, r, x, y, y - r, None,
                         info, curve.source, curve.x_name, curve.y_name, self)

    def _sse(self, x, y, ls, b, column):
        r = self.predict(x, (ls, b), column) - y
        return float(r @ r)
