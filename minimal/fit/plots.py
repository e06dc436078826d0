"""Figures of many fits: small multiples by condition, the curves of a condition overlaid
(docs/fitting.md, "Many runs").  Plot functions return a matplotlib Figure; saving is the
caller's (``save_figure``)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plot_fits", "save_figure", "MAX_PANELS"]

MAX_PANELS = 36
_STYLES = ("-", "--", ":", "-.")
_STYLE_NAMES = ("solid", "dashed", "dotted", "dash-dot")


def plot_fits(results, by=(), band: bool = False, title: str | None = None):
    """One panel per condition (the values of the group columns ``by``; one panel for all
    when ``by`` is empty), each curve of a condition in its own colour with its fit, one line
    style per model; the panel title names the condition and its verdicts."""
    from matplotlib.figure import Figure
    panels: dict[tuple, list] = {}
    for r in results:
        panels.setdefault(tuple(r.group.get(c) for c in by), []).append(r)
    keys = list(panels)
    shown = keys[:MAX_PANELS]
    n = len(shown)
    cols = min(n, 3) if n > 1 else 1
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.2 * cols + 0.4, 3.3 * rows + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    models = list(dict.fromkeys(r.model for r in results))
    for ax, key in zip(axes, shown):
        rs = panels[key]
        curves: dict[tuple, int] = {}
        for r in rs:
            ident = (r.source, tuple(sorted((k, str(v)) for k, v in r.group.items())))
            ci = curves.setdefault(ident, len(curves))
            color = f"C{ci % 10}"
            rest = {k: v for k, v in r.group.items() if k not in by}
            lab = " ".join(f"{k}={v}" for k, v in rest.items()) or _short(r.source)
            style = _STYLES[models.index(r.model) % len(_STYLES)]
            if models.index(r.model) == 0:
                ax.plot(r.x, r.y, ".", color=color, ms=2.5, alpha=0.6)
            grid = np.linspace(r.x.min(), r.x.max(), 400)
            ax.plot(grid, r.predict(grid), style, color=color, lw=1.2,
                    label=f"{lab}" + (f" {r.model}" if len(models) > 1 else "") +
                    f": {_short_verdict(r.verdict)}")
            if band:
                conf, _ = r.band(grid)
                if conf is not None:
                    ax.fill_between(grid, conf[0], conf[1], color=color, alpha=0.2, lw=0)
            if r.transitioned:
                ax.axvline(r.t_transition, color=color, lw=0.7, ls=style)
        cond = " ".join(f"{c}={v}" for c, v in zip(by, key)) or "all curves"
        nt = sum(r.transitioned for r in rs if r.model == models[0])
        nc = sum(1 for r in rs if r.model == models[0])
        ax.set_title(f"{cond}: {nt}/{nc} transitioned ({models[0]})", fontsize=8)
        ax.set_xlabel(rs[0].x_name)
        ax.set_ylabel(rs[0].y_name)
        if rs[0].info.get("quantity") in ("accuracy", "probability"):
            ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=6, loc="best")
    for ax in axes[n:]:
        ax.set_visible(False)
    more = f" (first {MAX_PANELS} of {len(keys)} conditions)" if len(keys) > n else ""
    fig.suptitle((title or f"fits by {', '.join(by) or 'curve'}") + more +
                 "; dots: data, lines: fits (" +
                 ", ".join(f"{_STYLE_NAMES[i % len(_STYLES)]}: {m}"
                           for i, m in enumerate(models)) +
                 "), vertical lines: transitions", fontsize=9)
    return fig


def _short(s: str) -> str:
    return s if len(s) <= 24 else "…" + s[-23:]


def _short_verdict(v: str) -> str:
    return {"transitioned": "transitioned", "no transition observed": "no transition",
            "transition outside the window": "outside window",
            "not identifiable": "not identifiable"}.get(v, v)


def save_figure(fig, path) -> None:
    """Write ``fig`` to ``path`` (PNG at 130 dpi or PDF, by suffix)."""
    fig.savefig(path, dpi=130, bbox_inches="tight")
