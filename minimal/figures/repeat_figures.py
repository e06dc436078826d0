"""Figure of the repeated-data study (docs/repeat.md).

* ``repeat-grid`` — final fresh copy loss, largest induction score and pool loss against the
  pool size |R| for each repeated fraction f (every seed a dot, the seed mean a line), and the
  fresh copy loss during training per f, one curve per |R| (double descent would show as a
  rise and a second fall).

The study lives in ``<figures>/data/repeat-study`` (the directory of ``minimal repeat study
--out``; missing runs are computed on demand); the quick variant runs two short runs in the
cache.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .registry import register

_QUICK = {"fracs": (0.5,), "pools": (16, 1024), "steps": 100}
_F_COL = {0.1: "C0", 0.5: "C3"}
#: the seeds of the full figure
SEEDS = (0, 1, 2)


def _where(quick, cache, data):
    base = Path(cache if quick else (data or "figures/data"))
    return base / ("repeat-study-quick" if quick else "repeat-study")


def grid_data(quick: bool = False, seed: int = 0, cache=None, data=None) -> dict:
    from ..runs import read_metrics
    from ..studies.repeat import DEFAULT_STEPS, FRAC_GRID, POOL_GRID, study
    if quick:
        fracs, pools, steps, seeds = _QUICK["fracs"], _QUICK["pools"], _QUICK["steps"], (seed,)
    else:
        fracs, pools, steps = FRAC_GRID, POOL_GRID, DEFAULT_STEPS
        seeds = tuple(seed + s for s in SEEDS)
    where = _where(quick, cache, data)
    res = study(where, fracs, pools, seeds, steps, workers=1, progress=not quick)
    runs = []
    for r in res["rows"]:
        if r.get("status") != "completed":
            continue
        m = read_metrics(where / "runs" / r["job"] / "metrics.csv")
        runs.append({"f": r["task.repeat_frac"], "pool": r["task.pool_size"], "seed": r["seed"],
                     "collapsed": bool(r.get("collapsed")),
                     **{k: r[k] for k in ("fresh_loss", "ind_max", "pool_loss", "dd_rise",
                                          "dd_fall")},
                     "curve": {k: m[k] for k in ("step", "fresh_loss")}})
    return {"runs": runs, "table": res["table"], "hypotheses": res["hypotheses"],
            "steps": steps, "seeds": list(seeds), "fracs": list(fracs), "pools": list(pools),
            "quick": quick,
            "params": {"seeds": list(seeds), "steps": steps, "quick": quick,
                       "fracs": list(fracs), "pools": list(pools)}}


def grid_plot(d: dict):
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    fig = Figure(figsize=(12, 7.6), layout="constrained")
    gs = fig.add_gridspec(2, 6)
    panels = [(fig.add_subplot(gs[0, 0:2]), "fresh_loss",
               "fresh copy loss at the end (nats)\ndashed: ln 64, no use of the copy"),
              (fig.add_subplot(gs[0, 2:4]), "ind_max",
               "largest induction score at the end\n(probe [BOS, r₁…r₁₅, r₁…r₁₅, x])"),
              (fig.add_subplot(gs[0, 4:6]), "pool_loss",
               "loss on the pool sequences at the end (nats)\n(memorisation of R)")]
    fracs = d["fracs"]
    pools = d["pools"]
    for ax, key, title in panels:
        for f in fracs:
            col = _F_COL.get(f, "k")
            sel = [r for r in d["runs"] if r["f"] == f]
            ok = [r for r in sel if not r["collapsed"]]
            ax.plot([r["pool"] for r in ok], [r[key] for r in ok], "o", color=col, ms=3.5,
                    alpha=0.55, mec="none")
            bad = [r for r in sel if r["collapsed"]]
            if bad:
                ax.plot([r["pool"] for r in bad], [r[key] for r in bad], "x", color=col, ms=5)
            ps = [p for p in pools if any(r["pool"] == p for r in ok)]
            ax.plot(ps, [np.mean([r[key] for r in ok if r["pool"] == p]) for p in ps], "-",
                    color=col, lw=1.6)
        ax.set_xscale("log", base=2)
        ax.set_xticks(pools, [f"{p:,}" for p in pools], fontsize=7, rotation=45)
        ax.set_xlabel("pool size |R| (distinct repeated sequences)")
        ax.set_title(title, fontsize=9, loc="left")
        if key == "fresh_loss":
            ax.axhline(math.log(64), color="grey", lw=0.8, ls="--")
        if key == "ind_max":
            ax.set_ylim(0, 1)
    handles = [Line2D([], [], color=_F_COL.get(f, "k"), marker="o", lw=1.6,
                      label=f"f = {f:g} (line: seed mean)") for f in fracs]
    if any(r["collapsed"] for r in d["runs"]):
        handles.append(Line2D([], [], color="k", marker="x", lw=0, label="collapsed run"))
    panels[0][0].legend(handles=handles, fontsize=7, loc="center right")
    # learning curves of the fresh loss, one panel per f, colour = |R|
    norm = LogNorm(min(pools), max(pools))
    cm = colormaps["viridis"]
    seed_ls = {s: ls for s, ls in zip(d["seeds"], ("-", "--", ":", "-."))}
    axes = []
    for j, f in enumerate(fracs):
        ax = fig.add_subplot(gs[1, 3 * j:3 * j + 3], sharey=axes[0] if axes else None)
        axes.append(ax)
        for r in (r for r in d["runs"] if r["f"] == f):
            c = r["curve"]
            ax.plot(c["step"], c["fresh_loss"], color=cm(norm(r["pool"])), lw=0.9,
                    ls=seed_ls.get(r["seed"], "-"), alpha=0.9)
        ax.axhline(math.log(64), color="grey", lw=0.8, ls="--")
        ax.set_xlabel("training step")
        ax.set_title(f"fresh copy loss during training, f = {f:g} (colour: |R|; line style: "
                     f"seed)", fontsize=9, loc="left")
        if j == 0:
            ax.set_ylabel("fresh copy loss (nats)")
    cb = fig.colorbar(ScalarMappable(norm, cm), ax=axes, pad=0.01, aspect=30)
    cb.set_label("pool size |R|")
    seed_handles = [Line2D([], [], color="k", lw=1, ls=seed_ls[s], label=f"seed {s}")
                    for s in d["seeds"]]
    axes[-1].legend(handles=seed_handles, fontsize=7, loc="upper right")
    fig.suptitle(f"Repeated data: a fraction f of every batch drawn from a fixed pool R "
                 f"(2 layers, 4 heads, d 32; batch 64; {d['steps']:,} steps; seeds "
                 f"{d['seeds']})", fontsize=10)
    return fig


register("repeat-grid", "repeated data: fresh copy loss, induction score and pool loss "
         "against the pool size, and the fresh loss during training", grid_data, grid_plot,
         group="repeat")
