"""``minimal plot RUN``: the logged metrics of any run directory against its step, in the
style of ``minimal figures`` (docs/fitting.md, "Plotting a run").

Columns are sorted into panels: accuracies, progress measures, losses and the model's own
parameters; a stacked column (``seed``) draws one line per value.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import RunDirError

__all__ = ["plot_run", "run_panels", "LABELS"]

LABELS = {
    "ic_acc": "IC (novel classes)", "ic2_acc": "IC2 (flipped labels)",
    "iw_acc": "IW (in-weights)", "test_acc": "training distribution",
    "ila1": "ILA1: item→label attention, first layer",
    "tila2": "TILA2: target→matching label, second layer",
    "tla2": "TLA2: target→all labels, second layer", "cla": "CLA: context-label accuracy",
    "p_correct": "p_correct (IC proxy)", "id_atomic": "ID atomic facts",
    "ood_atomic": "OOD atomic facts", "train_inferred": "train two-hop",
    "test_inferred_iid": "test two-hop (ID)", "test_inferred_ood": "test two-hop (OOD)",
    "pm1": "progress measure 1", "pm2": "progress measure 2",
}
_X = ("step", "t", "iteration", "epoch")
_SKIP = ("wall_s", "seed", "epoch", "train_loss", "train_acc")
_PROGRESS = ("ila1", "tila2", "tla2", "cla", "pm1", "pm2", "ih_strength")
_ACC_EXTRA = ("p_correct", "id_atomic", "ood_atomic", "train_inferred", "test_inferred_iid",
              "test_inferred_ood")
PANELS = ("accuracy", "progress measures", "loss", "parameters")


def _kind(name: str) -> str:
    low = name.lower()
    if name in _PROGRESS:
        return "progress measures"
    if "loss" in low:
        return "loss"
    if "acc" in low or name in _ACC_EXTRA:
        return "accuracy"
    return "parameters"


def run_panels(columns, y=None, x=None) -> tuple[str, dict]:
    """(x column, {panel: [columns]}) for a run's metric columns; ``y`` restricts the
    columns (unknown names are an error naming the available ones)."""
    cols = list(columns)
    xn = x or next((c for c in _X if c in cols), None)
    if xn is None or xn not in cols:
        raise RunDirError(f"no x column {'(' + x + ') ' if x else ''}among the metrics "
                          f"({', '.join(cols[:12])})")
    if y:
        bad = [c for c in y if c not in cols]
        if bad:
            raise RunDirError(f"no metric {bad[0]!r}; available: "
                              f"{', '.join(c for c in cols if c != xn)}")
        chosen = list(y)
    else:
        chosen = [c for c in cols if c != xn and c not in _SKIP]
    panels: dict[str, list] = {}
    for c in chosen:
        panels.setdefault(_kind(c), []).append(c)
    return xn, {k: panels[k] for k in PANELS if k in panels}


def plot_run(path, y=None, x=None, log_x: bool = False):
    """A Figure of the metrics of the run directory ``path`` (or its metrics.csv) against
    ``x`` (default: step, t or iteration), one panel per kind of column."""
    from matplotlib.figure import Figure

    from ..runs import read_metrics
    p = Path(path)
    if p.is_dir() and not (p / "metrics.csv").exists():
        raise RunDirError(f"{p}: no metrics.csv (not a minimal run directory)")
    if not p.exists():
        raise RunDirError(f"{p}: no such run directory")
    m = read_metrics(p)
    if not m:
        raise RunDirError(f"{p}: the metrics file is empty")
    numeric = {k: v for k, v in m.items() if v.dtype != object}
    xn, panels = run_panels(list(numeric), y, x)
    if not panels:
        raise RunDirError(f"{p}: no metric columns to plot")
    meta = {}
    run_json = (p if p.is_dir() else p.parent) / "run.json"
    if run_json.exists():
        try:
            meta = json.loads(run_json.read_text())
        except (OSError, json.JSONDecodeError):
            meta = {}
    seeds = numeric.get("seed")
    groups = [np.ones(len(numeric[xn]), bool)]
    if seeds is not None and len(np.unique(seeds[np.isfinite(seeds)])) > 1:
        groups = [seeds == s for s in np.unique(seeds[np.isfinite(seeds)])]
    n = len(panels)
    fig = Figure(figsize=(5.0 * min(n, 2) + 0.4, 3.4 * ((n + 1) // 2) + 0.4),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots((n + 1) // 2, min(n, 2), squeeze=False)).ravel()
    for ax, (panel, names) in zip(axes, panels.items()):
        for j, c in enumerate(names):
            for gi, g in enumerate(groups):
                xs, ys = numeric[xn][g], numeric[c][g]
                ok = np.isfinite(xs) & np.isfinite(ys)
                ax.plot(xs[ok], ys[ok], "-", color=f"C{j % 10}", lw=1.2,
                        alpha=1.0 if len(groups) == 1 else 0.6,
                        label=LABELS.get(c, c) if gi == 0 else None)
        if panel in ("accuracy", "progress measures") and all(
                np.nanmin(numeric[c]) >= 0 and np.nanmax(numeric[c]) <= 1 for c in names):
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel(xn)
        ax.set_ylabel({"accuracy": "accuracy", "loss": "loss"}.get(panel, "value"))
        if log_x:
            ax.set_xscale("symlog", linthresh=max(1.0, float(np.nanmax(numeric[xn])) / 1e4))
        ax.legend(fontsize=7, loc="best")
    for ax in axes[n:]:
        ax.set_visible(False)
    kind = meta.get("kind", "run")
    status = meta.get("status", "")
    extra = f", {len(groups)} seeds" if len(groups) > 1 else ""
    name = p.name if p.is_dir() else p.parent.name
    fig.suptitle(f"{name}: {kind} run{' (' + status + ')' if status else ''}{extra}",
                 fontsize=10)
    return fig
