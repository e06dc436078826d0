"""Identifiability: relative standard errors, flags, and reduced fits of the theory models
(docs/fitting.md, "Identifiability").

A parameter's relative standard error is judged against a scale that suits its kind (see
:data:`~minimal.fit.models.KINDS`): se/value for positive scales and ratios, se over the width
of the x range for a location, se over the metric's natural range for a plateau, se/max(1,
|value|) for a logit.  A parameter whose relative error exceeds ``max_rse`` (or whose error the
data do not determine at all) is flagged.  For the theory models, :func:`fit_reduced` refits
with the worst-flagged fixable parameter held at its starting value, one at a time, until no
fixable parameter is flagged, and records which were fixed and why.  A curve whose verdict is
"no transition observed" is not reduced: it determines no shape, and its flags say so.
"""

from __future__ import annotations

import math

__all__ = ["relative_errors", "flagged", "fit_reduced"]


def relative_errors(model, params: dict, stderr: dict, fixed, x_span: float,
                    y_span: float) -> dict:
    """name -> relative standard error (``inf`` when undetermined; fixed parameters are
    left out)."""
    out = {}
    for q in model.params():
        if q.name in fixed:
            continue
        v, se = params[q.name], stderr.get(q.name)
        if se is None or not math.isfinite(se):
            out[q.name] = math.inf
        elif q.kind == "location":
            out[q.name] = se / x_span if x_span > 0 else math.inf
        elif q.kind == "level":
            out[q.name] = se / y_span if y_span > 0 else math.inf
        elif q.kind == "logit":
            out[q.name] = se / max(1.0, abs(v))
        else:
            out[q.name] = se / abs(v) if v else math.inf
    return out


def flagged(rse: dict, max_rse: float) -> list[str]:
    """Names whose relative error exceeds ``max_rse``, worst first."""
    bad = [k for k, v in rse.items() if not v <= max_rse]
    return sorted(bad, key=lambda k: -rse[k])


def fit_reduced(model, curve, bootstrap: int = 0, seed: int = 0, fixed: dict | None = None,
                rules=None, progress=None):
    """Fit ``model``; for a theory model (``model.reducible``) whose fixable parameters are
    flagged, refit with the worst of them held at its starting value until none is flagged.
    The result's ``info['reduced']`` lists what was fixed and why, ``info['full_fit']`` the
    statistics of the full fit."""
    fixed = dict(fixed or {})
    kw = {"progress": progress}
    res = model.fit(curve, bootstrap=bootstrap, seed=seed, fixed=fixed, rules=rules, **kw)
    if not getattr(model, "reducible", False) or res.verdict == "no transition observed":
        return res          # a curve without a rise determines no shape: flags suffice
    full = res
    history = []
    while True:
        cands = [n for n in res.flags if n not in fixed and model.param(n).fixable]
        if not cands:
            break
        worst = cands[0]
        value = res.info["start_values"][worst]
        history.append({"param": worst, "value": value, "rse": res.rse[worst],
                        "reason": (f"relative standard error {_pct(res.rse[worst])} > "
                                   f"{_pct(res.rules_max_rse)}")})
        fixed[worst] = value
        warm = {k: v for k, v in res.params.items() if k not in fixed}
        starts = res.info["start_values"]
        res = model.fit(curve, bootstrap=bootstrap, seed=seed, fixed=fixed, rules=rules,
                        start=warm, **kw)
        res.info["start_values"] = starts
    if history:
        res.info["reduced"] = history
        res.info["full_fit"] = {"aic": full.aic, "bic": full.bic, "r2": full.r2,
                                "flags": full.flags,
                                "rse": {k: (None if not math.isfinite(v) else v)
                                        for k, v in full.rse.items()}}
    return res


def _pct(v: float) -> str:
    if not math.isfinite(v):
        return "undetermined"
    return f"{100 * v:.3g} %"
