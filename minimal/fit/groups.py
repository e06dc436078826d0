"""Many fits: per-condition summaries (mean ± sd and n) and model comparisons with ΔAIC/ΔBIC
(docs/fitting.md, "Many runs")."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from ._format import interval, num

__all__ = ["summarise", "summary_text", "compare", "comparison_text", "condition_columns"]

_SHORT = {"transitioned": "transitioned", "no transition observed": "no transition",
          "transition outside the window": "outside window",
          "not identifiable": "not identifiable"}


def condition_columns(group_cols, summary) -> list[str]:
    """The columns that define a condition: ``summary`` when it names columns, else every
    group column but the last (the last is taken to be the seed/replicate); one pooled
    condition when there is a single group column."""
    if summary not in (None, "auto", True):
        cols = [c.strip() for c in str(summary).split(",") if c.strip()] \
            if isinstance(summary, str) else list(summary)
        return cols
    return list(group_cols[:-1]) if len(group_cols) > 1 else []


def _mean_sd(vals):
    v = np.array([a for a in vals if a is not None and math.isfinite(a)], float)
    if v.size == 0:
        return None, None, 0
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else None), int(v.size)


def summarise(results, by) -> list[dict]:
    """One row per (model, condition): ``n`` fits, verdict counts, and the mean, sd and n of
    the transition and of every (not fixed) parameter over the fits that transitioned (the
    parameters of a curve that did not transition describe no transition).  ``by``: the group columns that define a condition ([]: all
    pooled)."""
    order: dict[tuple, list] = {}
    for r in results:
        key = (r.model,) + tuple(r.group.get(c) for c in by)
        order.setdefault(key, []).append(r)
    rows = []
    for key, rs in order.items():
        names = list(rs[0].params)
        for r in rs[1:]:
            names += [k for k in r.params if k not in names]
        ts = [r.t_transition for r in rs if r.transitioned]
        rows.append({
            "model": key[0], "condition": dict(zip(by, key[1:])), "n": len(rs),
            "verdicts": dict(Counter(r.verdict for r in rs)),
            "n_transitioned": len(ts), "transition": _mean_sd(ts),
            "params": {k: _mean_sd([r.params.get(k) for r in rs
                                    if k not in r.fixed and r.transitioned])
                       for k in names},
            "fixed": sorted({k for r in rs for k in r.fixed}),
            "x": rs[0].x_name, "units": rs[0].units()})
    return rows


def _ms(m, s, digits=4):
    if m is None:
        return "—"
    return num(m, digits) + (f" ± {num(s, 2)}" if s is not None else "")


def summary_text(rows, by) -> str:
    """A text table of :func:`summarise` rows."""
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        rs = [r for r in rows if r["model"] == model]
        x = rs[0]["x"]
        params = [k for k in rs[0]["params"]]
        units = rs[0]["units"]
        heads = list(by) + ["n", "verdicts", f"transition ({x})"] + \
            [f"{k} ({units.get(k)})" if units.get(k) else k for k in params]
        body = []
        for r in rs:
            verd = ", ".join(f"{v} {_SHORT.get(k, k)}" for k, v in r["verdicts"].items())
            m, s, nt = r["transition"]
            t = _ms(m, s) + (f" (n={nt})" if nt else "")
            verd = verd or "—"
            cells = [str(r["condition"].get(c)) for c in by] + [str(r["n"]), verd, t]
            for k in params:
                pm, ps, pn = r["params"].get(k, (None, None, 0))
                cells.append("fixed" if pn == 0 and k in r["fixed"] and nt else _ms(pm, ps))
            body.append(cells)
        width = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(heads)]
        title = f"summary by {', '.join(by)}" if by else "summary (all curves pooled)"
        out.append(f"{title} — model {model}; mean ± sd (n) over the curves that transitioned")
        out.append("  ".join(h.ljust(w) for h, w in zip(heads, width)))
        out += ["  ".join(c.ljust(w) for c, w in zip(b, width)) for b in body]
    return "\n".join(out)


def compare(results) -> list[dict]:
    """Rows of a model comparison on one curve: k, R², AIC, BIC and their differences to the
    best (smallest) value, verdict and transition."""
    aics = [r.aic for r in results if math.isfinite(r.aic)]
    bics = [r.bic for r in results if math.isfinite(r.bic)]
    a0, b0 = (min(aics) if aics else math.nan), (min(bics) if bics else math.nan)
    return [{"model": r.model, "k": r.k, "r2": r.r2, "aic": r.aic, "bic": r.bic,
             "delta_aic": r.aic - a0, "delta_bic": r.bic - b0, "verdict": r.verdict,
             "t_transition": r.t_transition, "t_transition_ci": r.t_transition_ci,
             "fixed": list(r.fixed), "flags": list(r.flags)} for r in results]


def comparison_text(label, n_points, x_name, rows) -> str:
    heads = ["model", "k", "R²", "AIC", "ΔAIC", "BIC", "ΔBIC", "verdict",
             f"transition ({x_name})", "fixed / flagged"]
    body = []
    for r in rows:
        t = "—"
        if r["t_transition"] is not None:
            t = num(r["t_transition"], 5)
            if r["t_transition_ci"]:
                t += " " + interval(r["t_transition_ci"])
        ff = ", ".join([f"fixed {k}" for k in r["fixed"]] + [f"flag {k}" for k in r["flags"]])
        body.append([r["model"], str(r["k"]), f"{r['r2']:.5f}", f"{r['aic']:.2f}",
                     f"{r['delta_aic']:.2f}", f"{r['bic']:.2f}", f"{r['delta_bic']:.2f}",
                     r["verdict"], t, ff or "—"])
    width = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(heads)]
    lines = [f"model comparison: {label} ({n_points} points; Δ = difference to the smallest, "
             "< 2 indistinguishable, > 10 decisive)",
             "  ".join(h.ljust(w) for h, w in zip(heads, width))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, width)) for b in body]
    return "\n".join(lines)
