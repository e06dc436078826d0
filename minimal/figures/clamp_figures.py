"""Figures of the clamping study (docs/clamping.md): pure functions of the cached study runs.

Data functions train (or reuse) the run directories under ``<cache>/clamp-study[-quick]``; the
quick variants use a small network and a few hundred steps (a smoke test of the pipeline, not a
result).
"""

from __future__ import annotations

import numpy as np

from .registry import register

_COL = {"unclamped": "k", "A": "C3", "B": "C2", "C": "C0", "B-evolution": "C1"}
_LABEL = {"unclamped": "unclamped (one layer-2 head)", "A": "clamp A: perfect layer 1",
          "B": "clamp B: perfect match (= C evolution)", "C": "clamp C: perfect copy",
          "B-evolution": "B evolution (A and C clamped)"}


def _root(cache, quick):
    from pathlib import Path
    base = Path(cache) if cache is not None else Path(".minimal-cache")
    return base / ("clamp-study-quick" if quick else "clamp-study")


def _kw(quick, seed):
    if quick:
        return dict(seeds=(seed,), steps=150, quick=True, workers=1, progress=False)
    return dict(seeds=(seed, seed + 1, seed + 2), steps=8000, quick=False, workers=2,
                progress=True)


def _params(kw):
    return {"seeds": list(kw["seeds"]), "steps": kw["steps"], "quick": kw["quick"],
            "lr": 1e-4, "model": "2 layers, 8 heads, d 64, RoPE, pre-LN, attention-only"
            if not kw["quick"] else "quick: d 16, 8 heads of width 2"}


def curves_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..studies.clamping import table
    kw = _kw(quick, seed)
    return {"table": table(_root(cache, quick), **kw), "params": _params(kw)}


def _mean_curve(runs: dict, key: str):
    steps = None
    ys = []
    for m in runs.values():
        steps = m["step"] if steps is None else steps
        ys.append(m[key])
    n = min(len(y) for y in ys)
    Y = np.array([y[:n] for y in ys])
    return steps[:n], Y


def curves_plot(d: dict):
    from matplotlib.figure import Figure
    from ..studies.clamping import LN2
    t = d["table"]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for r in ("unclamped", "A", "B", "C"):
        steps, Y = _mean_curve(t["curves"][r], "loss")
        for y in Y:
            ax1.plot(steps, y, color=_COL[r], lw=0.5, alpha=0.35)
        ax1.plot(steps, Y.mean(0), color=_COL[r], lw=1.8, label=_LABEL[r])
        steps, A = _mean_curve(t["curves"][r], "acc")
        ax2.plot(steps, A.mean(0), color=_COL[r], lw=1.8, label=_LABEL[r])
        for a in A:
            ax2.plot(steps, a, color=_COL[r], lw=0.5, alpha=0.35)
    ax1.axhline(LN2, ls="--", color="grey", lw=0.8)
    ax1.text(0.99, LN2, "ln 2", transform=ax1.get_yaxis_transform(), ha="right",
             va="bottom", fontsize=7, color="grey")
    ax1.set_xlabel("training step")
    ax1.set_ylabel("query cross-entropy (nats, evaluation set)")
    ax1.set_ylim(0, None)
    ax1.legend(fontsize=7)
    ax2.set_xlabel("training step")
    ax2.set_ylabel("query accuracy (evaluation set)")
    ax2.set_ylim(0, 1.02)
    p = d["params"]
    fig.suptitle(f"Clamping any one subcircuit removes the plateau? (Adam lr {p['lr']:g}, "
                 f"seeds {p['seeds']}: thin = seeds, thick = mean; {p['model']}"
                 f"{'; QUICK' if p['quick'] else ''})", fontsize=9)
    return fig


def subcircuits_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..studies.clamping import heads, table
    kw = _kw(quick, seed)
    t = table(_root(cache, quick), **kw)
    h = heads(_root(cache, quick), alone=(0, 1) if quick else None, **kw)
    prog = {s: v["progress"] for s, v in h["full"].items()}
    loss = {s: v["metrics"] for s, v in h["full"].items()}
    return {"table": t, "progress": prog, "full": loss, "params": _params(kw)}


def subcircuits_plot(d: dict):
    from matplotlib.figure import Figure
    from ..studies.clamping import LN2
    t = d["table"]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for r in ("unclamped", "B", "B-evolution"):
        steps, Y = _mean_curve(t["curves"][r], "loss")
        for y in Y:
            ax1.plot(steps, y, color=_COL[r], lw=0.5, alpha=0.35)
        label = {"B": "C evolution (match clamped)", "B-evolution":
                 "B evolution (A and C clamped)", "unclamped": _LABEL["unclamped"]}[r]
        ax1.plot(steps, Y.mean(0), color=_COL[r], lw=1.8, label=label)
    ax1.axhline(LN2, ls="--", color="grey", lw=0.8)
    ax1.set_xlabel("training step")
    ax1.set_ylabel("query cross-entropy (nats)")
    ax1.set_ylim(0, None)
    ax1.legend(fontsize=7)
    ax1.set_title("each subcircuit alone learns smoothly?", fontsize=9)
    s0 = sorted(d["progress"])[0]
    pr = d["progress"][s0]
    m = d["full"][s0]
    ax2.plot(m["step"], m["loss"], color="k", lw=1.8, label="loss of the 8-head run")
    ax2.plot(pr["step"], pr["B_loss"], color=_COL["B-evolution"], lw=1.4,
             label=f"B measure: loss with A, C perfect (head {pr['head']})")
    ax2.plot(pr["step"], pr["C_loss"], color=_COL["B"], lw=1.4,
             label=f"C measure: loss with the match of head {pr['head']} perfect")
    ax2.set_xlabel("training step")
    ax2.set_ylabel("cross-entropy (nats)")
    ax2.set_ylim(0, None)
    axr = ax2.twinx()
    axr.plot(pr["step"], pr["A_prev"], color=_COL["A"], lw=1.4, ls=":",
             label="A measure: label→exemplar attention (best layer-1 head)")
    axr.set_ylabel("attention weight (A measure)", color=_COL["A"])
    axr.set_ylim(0, 1.02)
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = axr.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, fontsize=6.5, loc="center right")
    ax2.set_title(f"post-hoc progress measures, unclamped 8-head run (seed {s0})", fontsize=9)
    p = d["params"]
    fig.suptitle(f"Subcircuit evolution and progress measures (Adam lr {p['lr']:g}, seeds "
                 f"{p['seeds']}{'; QUICK' if p['quick'] else ''})", fontsize=9)
    return fig


def heads_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..studies.clamping import heads
    kw = _kw(quick, seed)
    h = heads(_root(cache, quick), alone=(0, 1) if quick else None, **kw)
    return {"heads": h, "params": _params(kw)}


def heads_plot(d: dict):
    from matplotlib.figure import Figure
    h = d["heads"]
    seeds = sorted(h["full"])
    s0 = seeds[0]
    m = h["full"][s0]["metrics"]
    H = len(h["full"][s0]["S_final"])
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    ax1, ax2, ax3, ax4 = fig.subplots(1, 4)
    for k in range(H):
        ax1.plot(m["step"], m[f"L1H{k}.S"], lw=1.2, label=f"L1H{k}")
    ax1.set_xlabel("training step")
    ax1.set_ylabel("induction strength S_h")
    ax1.set_ylim(-1, 1)
    ax1.legend(fontsize=6, ncol=2)
    ax1.set_title(f"layer-2 heads of the 8-head run (seed {s0})", fontsize=8)
    single = np.array([h["full"][s]["ablation"]["single"] for s in seeds])
    base = np.array([h["full"][s]["ablation"]["base"] for s in seeds])
    every = np.array([h["full"][s]["ablation"]["all"] for s in seeds])
    x = np.arange(H)
    ax2.bar(x, single.mean(0), color="C0", label="one head ablated")
    for s_i in range(len(seeds)):
        ax2.plot(x, single[s_i], ".", color="k", ms=3)
    ax2.axhline(base.mean(), color="k", lw=1, label="intact")
    ax2.axhline(every.mean(), color="C3", lw=1, ls="--", label="all 8 ablated")
    ax2.set_xticks(x, [f"h{k}" for k in x])
    ax2.set_ylabel("query cross-entropy (nats, log scale)")
    ax2.set_yscale("log")
    ax2.set_title("redundancy (final parameters)", fontsize=8)
    ax2.legend(fontsize=6)
    keep = np.array([h["full"][s]["ablation"]["keep_top_k"] for s in seeds])
    for s_i, s in enumerate(seeds):
        ax3.plot(np.arange(1, H + 1), keep[s_i], ".-", lw=0.8, alpha=0.6, label=f"seed {s}")
    ax3.set_xlabel("layer-2 heads kept (top-k by S_h)")
    ax3.set_ylabel("query cross-entropy (nats, log scale)")
    ax3.set_yscale("log")
    ax3.set_title("additivity", fontsize=8)
    ax3.legend(fontsize=6)
    full_t = [h["full"][s]["summary"]["t_escape"] for s in seeds]
    alone = h["alone"]
    xs = list(alone)
    ts = [alone[k]["summary"]["t_escape"] for k in xs]
    steps = h["steps"]
    ax4.bar(range(len(xs)), [t if t is not None else steps for t in ts],
            color=["C0" if t is not None else "lightgrey" for t in ts])
    for i, t in enumerate(ts):
        if t is None:
            ax4.text(i, steps, "not\nreached", ha="center", va="bottom", fontsize=6)
    for t in full_t:
        if t is not None:
            ax4.axhline(t, color="k", lw=1)
    ax4.set_xticks(range(len(xs)), [f"h{k}" for k in xs])
    ax4.set_ylabel("escape step (loss ≤ ln2 / 2)")
    ax4.set_title("a head trained alone (lines: 8-head runs)", fontsize=8)
    p = d["params"]
    fig.suptitle(f"Layer-2 heads: strength, redundancy, additivity, heads alone (seeds "
                 f"{p['seeds']}, {p['steps']} steps{'; QUICK' if p['quick'] else ''})",
                 fontsize=9)
    return fig


def sweep_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..studies.clamping import sweep
    kw = _kw(quick, seed)
    if quick:
        res = sweep(_root(cache, quick), labels=(5, 10), classes=(50, 100), **kw)
    else:
        kw["seeds"] = (seed,)          # one seed per sweep point (compute; docs/clamping.md)
        res = sweep(_root(cache, quick), **kw)
    return {"sweep": res, "params": _params(kw)}


def sweep_plot(d: dict):
    from matplotlib.figure import Figure
    res = d["sweep"]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    series = (("unclamped", "plateau_length", "unclamped: plateau length", "k"),
              ("B", "t10", "C evolution (match clamped): steps to 10 %", "C2"),
              ("B-evolution", "t10", "B evolution (A, C clamped): steps to 10 %", "C1"))
    for ax, axis, xlabel in zip(axes, ("labels", "classes"), ("labels in the label set",
                                                              "training classes")):
        rows = sorted([r for r in res["rows"] if r["axis"] == axis], key=lambda r: r["value"])
        xs = [r["value"] for r in rows]
        for kind, key, label, col in series:
            mean = [r[kind][key]["mean"] for r in rows]
            lo = [r[kind][key]["min"] for r in rows]
            hi = [r[kind][key]["max"] for r in rows]
            ok = [i for i, v in enumerate(mean) if v is not None]
            ax.plot([xs[i] for i in ok], [mean[i] for i in ok], "o-", color=col, label=label)
            for i in ok:
                ax.plot([xs[i]] * 2, [lo[i], hi[i]], color=col, lw=2, alpha=0.4)
            for i, v in enumerate(mean):
                if v is None:
                    ax.plot(xs[i], res["steps"], "x", color=col, ms=8)
        ax.set_xticks(xs)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("training steps")
        ax.set_ylim(0, None)
        ax.legend(fontsize=7)
    p = d["params"]
    fig.suptitle(f"More labels / more classes: which subcircuit slows down? (seeds "
                 f"{p['seeds']}, bars = range, × = not reached in {res['steps']} steps"
                 f"{'; QUICK' if p['quick'] else ''})", fontsize=9)
    return fig


register("clamp-curves", "Loss of the unclamped run and with subcircuit A, B or C clamped",
         curves_data, curves_plot, group="clamp")
register("clamp-subcircuits", "Subcircuit evolution curves and post-hoc progress measures",
         subcircuits_data, subcircuits_plot, group="clamp")
register("clamp-heads", "Layer-2 heads: induction strength, redundancy, additivity, alone",
         heads_data, heads_plot, group="clamp")
register("clamp-sweep", "Labels and classes sweep: plateau length and subcircuit times",
         sweep_data, sweep_plot, group="clamp")
