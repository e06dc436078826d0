"""Verdicts: did the curve transition, judged from the data (docs/fitting.md, "Verdicts").

A fit gets one of four verdicts:

* ``transitioned`` — the data rise by more than ``noise_k`` × the residual scatter *and* more
  than ``min_rise`` × the metric's natural range (0–1 for accuracies; ``--range`` otherwise),
  at least ``plateau_points`` data points lie on each fitted plateau (within
  ``plateau_level`` of the rise) and agree with it, and the transition and its 95 % interval
  lie inside the observed x range;
* ``no transition observed`` — the rise is below either threshold;
* ``transition outside the window`` — the data rise, but a plateau is not observed or the
  fitted midpoint lies outside the observed x range;
* ``not identifiable`` — the data rise and both plateaus are observed, but the model does not
  follow the rise, or the transition's interval cannot be computed or reaches outside the
  observed range.

The rise is measured on the data, not on the model's plateaus: the median of the last k points
minus the median of the first m, m = max(3, n/10), k = max(3, n/40) (a short window at the end
so that a rise still under way when the log stops is seen).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ["VerdictRules", "judge", "natural_range", "TRANSITIONED", "NO_TRANSITION",
           "OUTSIDE", "NOT_IDENTIFIABLE", "VERDICTS"]

TRANSITIONED = "transitioned"
NO_TRANSITION = "no transition observed"
OUTSIDE = "transition outside the window"
NOT_IDENTIFIABLE = "not identifiable"
VERDICTS = (TRANSITIONED, NO_TRANSITION, OUTSIDE, NOT_IDENTIFIABLE)


@dataclass(frozen=True)
class VerdictRules:
    """Thresholds of the verdict and of the identifiability flags (defaults in brackets):
    ``noise_k`` [3] × residual scatter and ``min_rise`` [0.1] × natural range that a rise must
    exceed; ``y_range`` the metric's natural range (None: [0, 1] for accuracies and
    probabilities, [0, max y] for losses); ``plateau_points`` [3] points per plateau;
    ``plateau_level`` [0.1] how close (as a fraction of the rise) a point must be to a
    plateau; ``max_rse`` [0.5] the relative standard error above which a parameter is
    flagged as not identified."""

    noise_k: float = 3.0
    min_rise: float = 0.1
    y_range: tuple | None = None
    plateau_points: int = 3
    plateau_level: float = 0.1
    max_rse: float = 0.5

    def __post_init__(self):
        def num(name, v, lo, hi):
            if not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ConfigError(name, v, f"must be a number in [{lo}, {hi}]")
        num("noise_k", self.noise_k, 0.0, 100.0)
        num("min_rise", self.min_rise, 0.0, 1.0)
        num("plateau_level", self.plateau_level, 0.0, 0.49)
        num("max_rse", self.max_rse, 1e-6, 1e6)
        if not isinstance(self.plateau_points, int) or not 1 <= self.plateau_points <= 1000:
            raise ConfigError("plateau_points", self.plateau_points,
                              "must be an integer in [1, 1000]")
        if self.y_range is not None:
            r = self.y_range
            ok = (isinstance(r, (tuple, list)) and len(r) == 2 and
                  all(isinstance(v, (int, float)) and math.isfinite(v) for v in r) and
                  r[0] < r[1])
            if not ok:
                raise ConfigError("range", r, "must be two finite numbers lo < hi")


def natural_range(quantity: str, y, rules: VerdictRules) -> tuple[float, float, str]:
    """(lo, hi, where it came from) of the metric's natural range."""
    if rules.y_range is not None:
        return float(rules.y_range[0]), float(rules.y_range[1]), "given"
    if quantity in ("accuracy", "probability"):
        return 0.0, 1.0, quantity
    hi = float(np.max(y)) if len(y) else 1.0
    return 0.0, hi if hi > 0 else 1.0, "0 to the largest loss (pass --range to set it)"


def _scatter(r) -> float:
    r = np.asarray(r, float)
    mad = float(np.median(np.abs(r - np.median(r))))
    s = 1.4826 * mad
    return s if s > 0 else float(np.std(r))


def judge(x, y, y_fit, model, p, t_mid, ci, quantity: str,
          rules: VerdictRules | None = None) -> tuple[str, str, dict]:
    """(verdict, reason, diagnostics) of a fit; ``t_mid``/``ci`` are the model's midpoint
    and its interval (or None).  See the module docstring for the rules."""
    rules = rules or VerdictRules()
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    f = np.asarray(y_fit, float)
    n = len(y)
    sigma = _scatter(y - f)
    lo, hi, src = natural_range(quantity, y, rules)
    span = hi - lo
    m = max(3, n // 10)
    k = max(3, n // 40)
    first, last = float(np.median(y[:m])), float(np.median(y[-k:]))
    rise = last - first
    need_noise, need_range = rules.noise_k * sigma, rules.min_rise * span
    need = max(need_noise, need_range)
    d = {"rise": rise, "first_level": first, "last_level": last, "first_points": m,
         "last_points": k,
         "scatter": sigma, "need": need, "range": [lo, hi], "range_source": src}
    x0, x1 = float(x[0]), float(x[-1])
    if not (abs(rise) >= need and abs(rise) > 0):
        if need_range >= need_noise:
            why = (f"{rules.min_rise:.0%} of the natural range [{lo:g}, {hi:g}] "
                   f"({need_range:.3g})")
        else:
            why = f"{rules.noise_k:g} × the residual scatter σ = {sigma:.3g} ({need_noise:.3g})"
        return NO_TRANSITION, (f"the data change by {rise:+.3g} (median of the last {k} points "
                               f"minus the first {m}), less than {why}"), d
    start, end = model.plateaus(p)
    frise = end - start
    d.update(start=start, end=end)
    if not (math.isfinite(frise) and np.sign(frise) == np.sign(rise) and abs(frise) >= need):
        return NOT_IDENTIFIABLE, (f"the data change by {rise:+.3g} but the fitted plateaus "
                                  f"differ by {frise:+.3g}: the model does not follow the "
                                  "rise"), d
    u = (f - start) / frise
    lvl = rules.plateau_level
    on_start, on_end = u <= lvl, u >= 1 - lvl
    ns, ne = int(on_start.sum()), int(on_end.sum())
    d.update(start_points=ns, end_points=ne)
    P = rules.plateau_points
    if ns < P:
        return OUTSIDE, (f"the start plateau is not observed: {ns} point(s) lie within "
                         f"{lvl:.0%} of it (need {P}); the rise began before x = {x0:g}"), d
    if ne < P:
        return OUTSIDE, (f"the end plateau is not observed: {ne} point(s) lie within {lvl:.0%} "
                         f"of it (need {P}); the curve is still changing at x = {x1:g}"), d
    for name, mask, level in (("start", on_start, start), ("end", on_end, end)):
        med = float(np.median(y[mask]))
        tol = 0.25 * abs(frise) + rules.noise_k * sigma / math.sqrt(mask.sum())
        if abs(med - level) > tol:
            return NOT_IDENTIFIABLE, (f"the data on the {name} plateau (median {med:.3g}) "
                                      f"disagree with the fitted {name} {level:.3g}"), d
    if t_mid is None:
        return OUTSIDE, f"the fitted midpoint lies outside the observed range [{x0:g}, {x1:g}]", d
    if ci is None or not all(math.isfinite(v) for v in ci):
        return NOT_IDENTIFIABLE, ("the data rise and both plateaus are observed, but the "
                                  "transition's interval cannot be computed (its parameters "
                                  "are not determined)"), d
    if ci[0] < x0 or ci[1] > x1:
        return NOT_IDENTIFIABLE, (f"the 95% interval of the transition [{ci[0]:.4g}, "
                                  f"{ci[1]:.4g}] reaches outside the observed range "
                                  f"[{x0:g}, {x1:g}]"), d
    return TRANSITIONED, (f"the data rise by {rise:+.3g} (need ≥ {need:.3g}), {ns} and {ne} "
                          "points on the start and end plateaus, the transition's 95% "
                          "interval inside the observed range"), d
