"""Figures of the induction diagnostics and the Bi-Induct study (docs/diagnostics.md,
docs/biinduct.md): pure functions of the study's cached runs.

Data functions train (or reuse) the run directories under ``<cache>/biinduct-study[-quick]``
(the same layout as ``minimal biinduct study --out``); quick variants use a d = 16 network and
200 steps (a smoke test of the pipeline, not a result).
"""

from __future__ import annotations

import numpy as np

from .registry import register

_ARM_COL = {"natural": "k", "equal": "0.5", "forward": "C0", "backward": "C3",
            "balanced": "C2"}
_SCORES = (("induction", "induction score"), ("prev", "previous-token score"),
           ("duplicate", "duplicate-token score"), ("anti", "anti-induction score"))


def _root(cache, quick):
    from pathlib import Path
    base = Path(cache) if cache is not None else Path(".minimal-cache")
    return base / ("biinduct-study-quick" if quick else "biinduct-study")


def _kw(quick, seed):
    from ..studies.biinduct import DEFAULT_STEPS
    if quick:
        return dict(seeds=(seed,), steps=200, quick=True, workers=1, progress=False)
    return dict(seeds=(seed, seed + 1, seed + 2), steps=DEFAULT_STEPS, quick=False,
                workers=1, progress=True)


def _study(quick, seed, cache):
    from ..studies.biinduct import study
    kw = _kw(quick, seed)
    res = study(_root(cache, quick), **kw)
    return res, kw


def _metrics(root, arm, seed):
    from ..runs import read_metrics
    from ..studies.biinduct import _run_dir
    return read_metrics(_run_dir(root, arm, seed) / "metrics.csv")


# ----------------------------------------------------------------------------------------------
# scores over training, per head
# ----------------------------------------------------------------------------------------------

def scores_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    res, kw = _study(quick, seed, cache)
    root = _root(cache, quick)
    out = {}
    for arm in ("forward", "backward", "equal"):
        m = _metrics(root, arm, kw["seeds"][0])
        out[arm] = {k: np.asarray(v) for k, v in m.items()
                    if k == "step" or any(k.endswith("." + s) for s, _ in _SCORES)}
    return {"runs": out, "seed": kw["seeds"][0], "steps": kw["steps"], "quick": quick,
            "anneal_end": kw["steps"] // 2}


def scores_plot(d: dict):
    from matplotlib.figure import Figure
    runs = d["runs"]
    arms = list(runs)
    fig = Figure(figsize=(12, 2.6 * len(arms)), layout="constrained")
    axes = fig.subplots(len(arms), len(_SCORES), sharex=True, squeeze=False)
    for i, arm in enumerate(arms):
        m = runs[arm]
        heads = sorted({k.split(".")[0] for k in m if k != "step"})
        for j, (s, label) in enumerate(_SCORES):
            ax = axes[i, j]
            for hd in heads:
                col = f"{hd}.{s}"
                if col not in m:
                    continue
                layer = int(hd[1:hd.index("H")])
                ax.plot(m["step"], m[col], lw=1.2, ls="-" if layer else ":",
                        label=hd)
            if arm != "equal":
                ax.axvline(d["anneal_end"], color="grey", lw=0.7, ls="--")
            ax.set_ylim(-0.02, 1.02)
            if i == 0:
                ax.set_title(label, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{arm} arm\nscore", fontsize=9)
            if i == len(arms) - 1:
                ax.set_xlabel("training step")
        axes[i, -1].legend(fontsize=6, ncol=2, loc="upper right")
    fig.suptitle(f"Bi-Induct toy: every head's diagnostic score over training (seed {d['seed']};"
                 f" dotted = layer 0, solid = layer 1; dashed line = end of the snippet anneal)"
                 + ("  [QUICK PREVIEW]" if d["quick"] else ""), fontsize=9)
    return fig


# ----------------------------------------------------------------------------------------------
# ablation bars with random-draw spread
# ----------------------------------------------------------------------------------------------

def ablation_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    res, kw = _study(quick, seed, cache)
    rows = {}
    for key, v in res["per_run"].items():
        arm, s = key.split("/seed")
        ab = v["ablation"]
        rows.setdefault(arm, []).append({
            "seed": int(s), "top": ab["top_drop"]["icl_drop"],
            "random": [r["icl_drop"] for r in ab["random_drop"]],
            "top_loss": ab["top_drop"]["loss_drop"],
            "random_loss": [r["loss_drop"] for r in ab["random_drop"]],
            "top_heads": ab["top_heads"], "k": ab["k"]})
    return {"rows": rows, "seeds": list(kw["seeds"]), "steps": kw["steps"], "quick": quick}


def ablation_plot(d: dict):
    from matplotlib.figure import Figure
    rows = d["rows"]
    arms = [a for a in ("natural", "equal", "forward", "backward", "balanced") if a in rows]
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (tk, rk, ylabel) in zip(axes, (("top", "random", "ICL-probe accuracy drop"),
                                           ("top_loss", "random_loss",
                                            "chain-loss rise (nats)"))):
        for i, arm in enumerate(arms):
            rs = rows[arm]
            n = len(rs)
            for j, r in enumerate(rs):
                x = i + (j - (n - 1) / 2) * 0.22
                rand = np.asarray(r[rk])
                ax.bar(x - 0.05, r[tk], width=0.09, color=_ARM_COL[arm], alpha=0.9,
                       label="top-k by induction" if (i == 0 and j == 0) else None)
                ax.bar(x + 0.05, rand.mean(), width=0.09, color="white",
                       edgecolor=_ARM_COL[arm], hatch="//",
                       label="random matched (mean)" if (i == 0 and j == 0) else None)
                ax.vlines(x + 0.05, rand.min(), rand.max(), color="0.3", lw=1.0)
                ax.scatter(np.full(len(rand), x + 0.05), rand, s=4, color="0.3", zorder=3)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(range(len(arms)), arms)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    k = next(iter(rows.values()))[0]["k"]
    fig.suptitle(f"Zero ablation of the top {k} head(s) per layer by induction score vs matched "
                 f"random heads (one group of bars per seed, seeds {d['seeds']}; whiskers and "
                 "dots: every random choice)" + ("  [QUICK PREVIEW]" if d["quick"] else ""),
                 fontsize=9)
    return fig


# ----------------------------------------------------------------------------------------------
# the arms
# ----------------------------------------------------------------------------------------------

def arms_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    res, kw = _study(quick, seed, cache)
    root = _root(cache, quick)
    curves = {}
    for arm in ("natural", "forward", "backward", "balanced", "equal"):
        if arm == "natural":
            continue            # the natural arm is the natural-only run read at S_nat
        cs = []
        for s in kw["seeds"]:
            m = _metrics(root, arm, s)
            ind = np.max(np.stack([m[c] for c in m if c.endswith(".induction")]), axis=0)
            dup = np.max(np.stack([m[c] for c in m if c.endswith(".anti_dup")]), axis=0)
            cs.append({"step": m["step"], "induction": ind, "loss": m["loss"],
                       "rev_loss": m["rev_loss"], "icl_acc": m["icl_acc"], "anti_dup": dup})
        curves[arm] = cs
    return {"curves": curves, "rows": res["rows"], "natural_steps": res["natural_steps"],
            "seeds": list(kw["seeds"]), "steps": kw["steps"], "quick": quick,
            "floor": res["rows"][0]["floor"], "hypotheses": res["hypotheses"]}


def arms_plot(d: dict):
    import math
    from matplotlib.figure import Figure
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, 4)
    panels = (("induction", "max induction score over heads", (-0.02, 1.02)),
              ("loss", "chain loss (nats)", None),
              ("rev_loss", "reversed-span loss (nats)", (0, None)),
              ("icl_acc", "ICL probe accuracy", (-0.02, 1.02)))
    for ax, (key, label, lim) in zip(axes, panels):
        for arm, cs in d["curves"].items():
            lab = "natural only (equal tokens)" if arm == "equal" else arm
            for i, c in enumerate(cs):
                ax.plot(c["step"], c[key], color=_ARM_COL[arm], lw=1.0, alpha=0.8,
                        label=lab if i == 0 else None)
        ax.axvline(d["steps"] // 2, color="grey", lw=0.7, ls="--")
        ax.axvline(d["natural_steps"], color="k", lw=0.7, ls=":")
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        if lim:
            ax.set_ylim(*lim)
        if key == "loss":
            ax.axhline(d["floor"], color="k", lw=0.8, ls="--")
            ax.text(0.98, d["floor"], "entropy rate", transform=ax.get_yaxis_transform(),
                    ha="right", va="bottom", fontsize=7)
        if key == "rev_loss":
            ax.axhline(math.log(64), color="grey", lw=0.8, ls="--")
            ax.text(0.98, math.log(64), "ln 64", transform=ax.get_yaxis_transform(),
                    ha="right", va="bottom", fontsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Bi-Induct arms (one line per seed, seeds {d['seeds']}; dashed: end of the "
                 f"snippet anneal; dotted: S_nat = {d['natural_steps']}, where the natural arm is "
                 "read)" + ("  [QUICK PREVIEW]" if d["quick"] else ""), fontsize=9)
    return fig


register("diag-scores", "Bi-Induct toy: every head's induction, previous-token, duplicate and "
         "anti-induction scores over training", scores_data, scores_plot, group="diagnostics")
register("diag-ablation", "top-k-by-induction vs matched random head ablation: ICL-probe and "
         "loss drops per arm and seed", ablation_data, ablation_plot, group="diagnostics")
register("biinduct-arms", "Bi-Induct arms: induction score, chain loss, reversed-span loss and "
         "ICL probe over training", arms_data, arms_plot, group="diagnostics")
