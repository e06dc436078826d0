"""The result of a fit (docs/fitting.md, "Reading a report"): the verdict, best-fit values in
natural units with standard errors and relative errors, identifiability flags, what a reduced
fit held fixed and why, goodness of fit, the transition with its interval (only for a curve
that transitioned), a text report, JSON and a plot with a confidence and prediction band."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from ._format import interval, num

__all__ = ["FitResult"]


def _clean(v):
    if v is None:
        return None
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _sanitize(obj):
    """JSON-safe copy: NaN/inf -> None, NumPy scalars/arrays -> Python."""
    if isinstance(obj, dict):
        return {str(k): _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_sanitize(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_sanitize(v) for v in obj.tolist()]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def _g(v, digits=6) -> str:
    return f"{v:.{digits}g}" if isinstance(v, (int, float)) and math.isfinite(v) else "—"


@dataclass
class FitResult:
    """One fit.  ``params``/``stderr`` are in natural units (``stderr`` is None for a fixed
    parameter and NaN for one the data do not determine); ``rse`` relative standard errors;
    ``flags`` the parameters above the threshold; ``fixed`` parameters held fixed (a reduced
    fit: ``info['reduced']`` says why); ``verdict`` one of
    :data:`~minimal.fit.verdict.VERDICTS` with ``verdict_reason``; ``t_transition`` and
    ``t_transition_ci`` only when the verdict is ``transitioned`` (else None)."""

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
    fixed: dict = field(default_factory=dict)
    rse: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)
    verdict: str = ""
    verdict_reason: str = ""
    diagnostics: dict = field(default_factory=dict)
    group: dict = field(default_factory=dict)
    k: int = 0
    boot: np.ndarray | None = None
    cov_names: list = field(default_factory=list)
    rules_max_rse: float = 0.5
    constants: dict = field(default_factory=dict)

    # ------------------------------------------------------------------------------------------
    @property
    def transitioned(self) -> bool:
        return self.verdict == "transitioned"

    @property
    def label(self) -> str:
        if self.group:
            return " ".join(f"{k}={v}" for k, v in self.group.items())
        return self.source

    def units(self) -> dict:
        """name -> unit of each parameter (empty for dimensionless ones)."""
        if self._model is None:
            return {}
        return {q.name: q.unit_for(self.x_name, self.y_name) for q in self._model.params()}

    def definitions(self) -> dict:
        if self._model is None:
            return {}
        return {q.name: q.definition for q in self._model.params()}

    def to_json_dict(self) -> dict:
        info = {k: v for k, v in self.info.items() if k not in ("start_values",)}
        return _sanitize({
            "verdict": self.verdict, "verdict_reason": self.verdict_reason,
            "model": self.model, "source": self.source, "group": self.group,
            "x": self.x_name, "y": self.y_name, "quantity": self.info.get("quantity"),
            "params": {k: _clean(float(v)) for k, v in self.params.items()},
            "stderr": {k: _clean(None if v is None else float(v))
                       for k, v in self.stderr.items()},
            "relative_stderr": {k: _clean(float(v)) for k, v in self.rse.items()},
            "units": self.units(), "flags": list(self.flags),
            "fixed": {k: float(v) for k, v in self.fixed.items()},
            "reduced": self.info.get("reduced", []), "constants": self.constants,
            "r2": _clean(self.r2), "aic": _clean(self.aic), "bic": _clean(self.bic),
            "k": self.k, "n_points": self.n_points,
            "t_transition": _clean(self.t_transition),
            "t_transition_ci": (None if self.t_transition_ci is None else
                                [_clean(float(v)) for v in self.t_transition_ci]),
            "diagnostics": self.diagnostics,
            "info": info,
        })

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), default=_json_default)

    # ------------------------------------------------------------------------------------------
    def _err_text(self, name: str) -> str:
        if name in self.fixed:
            return "(fixed)"
        se = self.stderr.get(name)
        if se is None or not math.isfinite(se):
            return "± undetermined (the data do not constrain it)"
        rse = self.rse.get(name, math.nan)
        kind = self._model.param(name).kind if self._model is not None else ""
        rel = "—" if not math.isfinite(rse) else f"{100 * rse:.3g} %"
        scale = {"location": " of the x range", "level": " of the natural range"}.get(kind, "")
        flag = "  NOT IDENTIFIED" if name in self.flags else ""
        return f"± {_g(se, 4)} ({rel}{scale}){flag}"

    def report(self) -> str:
        """The text report: the verdict first, then the model, statistics, constants,
        parameters with units, fixed parameters, flags and the transition."""
        lines = [f"verdict: {self.verdict} — {self.verdict_reason}"]
        src = f"{self.source}" + (f" [{self.label}]" if self.group else "")
        eq = getattr(self._model, "equation", "")
        lines.append(f"[[Model]] {self.model}" + (f": {eq}" if eq else ""))
        lines.append(f"    data: {src} ({self.y_name} vs {self.x_name}), {self.n_points} "
                     "points")
        lines.append(f"[[Fit statistics]] R² {_g(self.r2, 5)}, AIC {self.aic:.2f}, BIC "
                     f"{self.bic:.2f}, {self.k} free parameters, "
                     f"{self.info.get('nfev')} evaluations, {self.info.get('seconds', 0):.3f} s")
        d = self.diagnostics
        lines.append(f"    residual scatter σ {_g(d.get('scatter', math.nan), 3)}; natural "
                     f"range [{_g(d.get('range', [math.nan])[0], 4)}, "
                     f"{_g(d.get('range', [0, math.nan])[1], 4)}] ({d.get('range_source', '')})"
                     f"; standard errors: {self.info.get('stderr_method')}")
        if self.constants:
            srcs = getattr(self._model, "constants_source", {}) or {}
            where = set(srcs.values())
            if where == {"default"}:
                how = "   (defaults: set them with --N/--L/--B/--eps, or fit a run directory)"
            elif len(where) == 1:
                how = f"   (from {where.pop()})"
            elif where:
                how = "   (" + ", ".join(f"{k}: {v}" for k, v in srcs.items()) + ")"
            else:
                how = ""
            lines.append("[[Constants]] " + ", ".join(f"{k} = {v:g}" if isinstance(v, float)
                                                      else f"{k} = {v}"
                                                      for k, v in self.constants.items()) + how)
        lines.append(f"[[Parameters]]   x = {self.x_name}, y = {self.y_name}")
        units = self.units()
        defs = self.definitions()
        locs = ()
        if self._model is not None and not self.transitioned:
            locs = tuple(q.name for q in self._model.params() if q.kind == "location")
        for name, v in self.params.items():
            unit = units.get(name, "")
            mark = " †" if name in locs else ""
            val = f"{_g(v)} {unit}".rstrip()
            lines.append(f"    {name + mark:<12} = {val:<24} {self._err_text(name)}")
            if defs.get(name):
                lines.append(f"    {'':<12}   {defs[name]}")
        if locs:
            lines.append("    † where the model's curve is halfway between its plateaus; not a "
                         f"transition (verdict: {self.verdict})")
        for red in self.info.get("reduced", []):
            lines.append(f"[[Reduced model]] {red['param']} fixed at its starting value "
                         f"{_g(red['value'], 4)}: {red['reason']} in the fit before")
        if self.info.get("reduced"):
            full = self.info.get("full_fit", {})
            lines.append(f"    full model: R² {_g(full.get('r2', math.nan), 5)}, AIC "
                         f"{_g(full.get('aic', math.nan), 6)}; flagged "
                         f"{', '.join(full.get('flags', [])) or 'none'}")
        user_fixed = [k for k in self.fixed
                      if k not in {r["param"] for r in self.info.get("reduced", [])}]
        for k in user_fixed:
            lines.append(f"[[Fixed]] {k} = {_g(self.fixed[k])} (given)")
        if self.flags:
            lines.append(f"[[Flags]] not identified (relative error > "
                         f"{100 * self.rules_max_rse:.3g} % or undetermined): "
                         f"{', '.join(self.flags)}")
        if self.transitioned:
            ci = self.t_transition_ci
            lines.append(f"[[Transition]] {self.x_name} = {self.t_transition:.6g}" +
                         (f"  (95% interval {ci[0]:.6g} … {ci[1]:.6g})" if ci else ""))
        else:
            lines.append(f"[[Transition]] none reported ({self.verdict})")
        for note in self.info.get("notes", []):
            lines.append(f"    note: {note}")
        return "\n".join(lines)

    # ------------------------------------------------------------------------------------------
    def predict(self, x) -> np.ndarray:
        """The fitted curve at ``x``."""
        if self._model is None:
            raise ValueError("this result has no model to predict with")
        return self._model.predict(np.asarray(x, float), self._pvec())

    def _pvec(self):
        return np.array([self.params[k] for k in self._model.param_names()], float)

    def band(self, x, level: float = 0.95):
        """(lower, upper) of the confidence band of the fitted curve at ``x`` and (lower,
        upper) of the prediction band (curve + residual noise), from the bootstrap samples
        when there are any, else the covariance by the delta method; None where the errors
        are undetermined."""
        x = np.asarray(x, float)
        m = self._model
        if m is None or not self.cov_names:
            return None, None
        from statistics import NormalDist
        z = NormalDist().inv_cdf(0.5 + level / 2)
        f0 = self.predict(x)
        names = m.param_names()
        idx = [names.index(k) for k in self.cov_names]
        q0 = m.to_internal(self._pvec())
        s2 = float(self.residuals @ self.residuals) / max(self.n_points - self.k, 1)
        if self.boot is not None:
            preds = []
            for b in self.boot:
                q = q0.copy()
                q[idx] = b
                preds.append(m.predict(x, m.to_natural(q)))
            preds = np.array(preds)
            lo, hi = np.percentile(preds, [50 * (1 - level), 50 * (1 + level)], axis=0)
            sd = (hi - lo) / (2 * z)
        else:
            cov = self.covariance
            if cov is None or not np.all(np.isfinite(cov)):
                return None, None
            J = np.empty((len(x), len(idx)))
            for j, i in enumerate(idx):
                h = 1e-5 * max(1.0, abs(q0[i]))
                up, dn = q0.copy(), q0.copy()
                up[i] += h
                dn[i] -= h
                J[:, j] = (m.predict(x, m.to_natural(up)) - m.predict(x, m.to_natural(dn))) / \
                    (2 * h)
            var = np.einsum("ij,jk,ik->i", J, cov, J)
            sd = np.sqrt(np.maximum(var, 0.0))
            lo, hi = f0 - z * sd, f0 + z * sd
        half = z * np.sqrt(sd ** 2 + s2)
        return (lo, hi), (f0 - half, f0 + half)

    def plot(self, path=None, ax=None, band: bool = True, residuals: bool | None = None,
             label: str | None = None, color: str = "C3"):
        """Data, fitted curve, 95 % confidence band (shaded) and prediction band (dashed)
        when ``band``, the transition with its interval when the curve transitioned.  With
        ``ax`` draw into it (no residual panel) and return it; otherwise return a new Figure
        with a residual panel, saved to ``path`` (PNG/PDF by suffix) when given."""
        own = ax is None
        if own:
            from matplotlib.figure import Figure
            fig = Figure(figsize=(7, 5.5), layout="constrained")
            if residuals is False:
                ax, ax2 = fig.subplots(1, 1), None
            else:
                ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        else:
            ax2 = None
        ax.plot(self.x, self.y, ".", color="k", ms=3, label="data" if own else None)
        grid = np.linspace(self.x.min(), self.x.max(), 600)
        if self._model is not None:
            ax.plot(grid, self.predict(grid), "-", color=color, lw=1.4,
                    label=label or f"{self.model} (R² {self.r2:.4f}): {self.verdict}")
            if band:
                conf, pred = self.band(grid)
                if conf is not None:
                    ax.fill_between(grid, conf[0], conf[1], color=color, alpha=0.25, lw=0,
                                    label="95% confidence band" if own else None)
                    ax.plot(grid, pred[0], ":", color=color, lw=0.8,
                            label="95% prediction band" if own else None)
                    ax.plot(grid, pred[1], ":", color=color, lw=0.8)
        if self.transitioned:
            ax.axvline(self.t_transition, color=color, lw=0.8, ls="--")
            if self.t_transition_ci:
                ax.axvspan(*self.t_transition_ci, color="C0", alpha=0.12,
                           label=(f"transition {num(self.t_transition, 5)} "
                                  f"{interval(self.t_transition_ci, 5)}" if own else None))
        ax.set_ylabel(self.y_name)
        if own:
            ax.legend(fontsize=7, loc="best")
            ttl = f"{self.source}" + (f" [{self.label}]" if self.group else "")
            ax.set_title(f"{ttl}\nverdict: {self.verdict}", fontsize=8)
            if ax2 is not None:
                ax2.plot(self.x, self.residuals, ".", color="k", ms=3)
                ax2.axhline(0, color=color, lw=0.8)
                ax2.set_xlabel(self.x_name)
                ax2.set_ylabel("residual")
            else:
                ax.set_xlabel(self.x_name)
            if path is not None:
                fig.savefig(path, dpi=130, bbox_inches="tight")
            return fig
        return ax


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return _clean(o.item())
    if isinstance(o, np.ndarray):
        return [_clean(v) for v in o.tolist()]
    return str(o)
