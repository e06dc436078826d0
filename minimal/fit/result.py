"""The result of a fit (lmfit's Model → Parameters → Result shape): best-fit values, standard
errors, goodness of fit, the transition with its interval, a text report, JSON and a plot."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FitResult"]


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
    _model: object | None = None

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
