"""Figure of the prefix study of the attention-output SAEs (docs/sae.md, "The prefix study").

* ``sae-prefix`` — copy accuracy over training per stream (every sequence ambiguous, half,
  none); the layer-2 heads' prefix score against the span length p per stream (with the spec's
  long/short thresholds); and, per network, in which head block the SAE's induction features
  sit.

The study lives in ``<figures>/data/sae-prefix`` (the directory of ``minimal sae study
--out``; missing runs are computed on demand); the quick variant runs short runs in the cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .registry import register

_QUICK_STEPS, _QUICK_SAE = 200, 100
_COL = {"ambiguous": "C3", "ambiguous 0.5": "C1", "control": "C0"}
_HEAD_LS = ("-", "--", "-.", ":")
#: the seeds of the full figure
SEEDS = (0,)


def _where(quick, cache, data):
    base = Path(cache if quick else (data or "figures/data"))
    return base / ("sae-prefix-quick" if quick else "sae-prefix")


def prefix_data(quick: bool = False, seed: int = 0, cache=None, data=None) -> dict:
    from ..runs import read_metrics
    from ..studies.prefix_sae import DEFAULT_STEPS, P_VALUES, SAE_STEPS, study
    seeds = tuple(seed + s for s in SEEDS)
    steps, sae_steps = (_QUICK_STEPS, _QUICK_SAE) if quick else (DEFAULT_STEPS, SAE_STEPS)
    where = _where(quick, cache, data)
    res = study(where, seeds, steps, sae_steps, progress=not quick)
    runs = []
    for r in res["rows"]:
        if r.get("status") != "completed":
            continue
        m = read_metrics(where / "runs" / r["job"] / "metrics.csv")
        cache_file = where / "sae" / r["job"] / "analysis.json"
        a = json.loads(cache_file.read_text()) if cache_file.exists() else None
        runs.append({"arm": r["arm"], "seed": r["seed"], "classes": r["classes"].split(","),
                     "curve": {k: m[k] for k in ("step", "copy_acc", "amb_acc")},
                     "scores": [[r[f"h{h}_p{p}"] for h in range(len(r["classes"].split(",")))]
                                for p in P_VALUES],
                     "sae": None if a is None else {k: a[k] for k in
                                                    ("head_counts", "n_induction", "score",
                                                     "frac_in_one_block")}})
    return {"runs": runs, "table": res["table"], "hypotheses": res["hypotheses"],
            "steps": steps, "sae_steps": sae_steps, "seeds": list(seeds), "quick": quick,
            "p": list(P_VALUES),
            "params": {"seeds": list(seeds), "steps": steps, "sae_steps": sae_steps,
                       "quick": quick}}


def prefix_plot(d: dict):
    from matplotlib.figure import Figure
    from ..studies.prefix_sae import LONG_MIN, LONG_P1_MAX, SHORT_P1_MIN
    arms = [a for a in _COL if any(r["arm"] == a for r in d["runs"])]
    fig = Figure(figsize=(12, 7.2), layout="constrained")
    gs = fig.add_gridspec(2, max(3, len(arms)))
    ax_acc = fig.add_subplot(gs[0, 0])
    ax_amb = fig.add_subplot(gs[0, 1], sharey=ax_acc)
    ax_sae = fig.add_subplot(gs[0, 2])
    for r in d["runs"]:
        c = r["curve"]
        lab = f"{r['arm']} (seed {r['seed']})"
        ax_acc.plot(c["step"], c["copy_acc"], color=_COL.get(r["arm"], "k"), lw=1.1, label=lab)
        if np.isfinite(np.asarray(c["amb_acc"], float)).any():
            ax_amb.plot(c["step"], c["amb_acc"], color=_COL.get(r["arm"], "k"), lw=1.1)
    ax_acc.set_xlabel("training step")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("copy targets (every predictable copy token)", fontsize=9, loc="left")
    ax_acc.legend(fontsize=7, loc="upper left")
    ax_amb.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax_amb.text(0.99, 0.5, "one-token matching", transform=ax_amb.get_yaxis_transform(),
                ha="right", va="bottom", fontsize=7, color="grey")
    ax_amb.set_xlabel("training step")
    ax_amb.set_title("ambiguous query (needs a 2-token prefix)", fontsize=9, loc="left")
    ax_acc.set_ylim(0, 1.02)
    # SAE: induction features per head block
    width = 0.8 / max(1, len(d["runs"]))
    H = max((len(r["classes"]) for r in d["runs"]), default=4)
    for i, r in enumerate(d["runs"]):
        s = r["sae"]
        if s is None:
            continue
        x = np.arange(H) + (i - (len(d["runs"]) - 1) / 2) * width
        ax_sae.bar(x, s["head_counts"], width=width, color=_COL.get(r["arm"], "k"),
                   label=f"{r['arm']} s{r['seed']}: score {s['score']:.2f}, "
                         f"{s['n_induction']} ind. features")
    ax_sae.set_xticks(range(H), [f"head {h}" for h in range(H)])
    top = max((max(r["sae"]["head_counts"]) for r in d["runs"] if r["sae"]), default=0)
    ax_sae.set_ylim(0, max(1, top) * 1.45)
    if top == 0:
        ax_sae.text(0.5, 0.4, "no induction features", transform=ax_sae.transAxes,
                    ha="center", fontsize=9, color="grey")
    ax_sae.set_ylabel("induction features (count)")
    ax_sae.set_title("SAE on layer-2 z_cat: head block holding\nmost of each induction "
                     "feature's decoder norm", fontsize=9, loc="left")
    ax_sae.legend(fontsize=6.5, loc="upper left")
    # prefix score against p, per stream
    p = d["p"]
    for j, arm in enumerate(arms):
        ax = fig.add_subplot(gs[1, j])
        for r in (r for r in d["runs"] if r["arm"] == arm):
            S = np.asarray(r["scores"])
            for h in range(S.shape[1]):
                ax.plot(p, S[:, h], color=_COL[arm], ls=_HEAD_LS[h % 4], marker="o", ms=3,
                        lw=1.1, label=f"head {h} ({r['classes'][h]})"
                        + (f", seed {r['seed']}" if len(d["seeds"]) > 1 else ""))
        ax.axhline(LONG_P1_MAX, color="grey", lw=0.7, ls=":")
        ax.axhline(LONG_MIN, color="grey", lw=0.7, ls="--")
        ax.text(5.05, LONG_MIN, f"{LONG_MIN:g} (long: p ≥ 3; short: p = 1 > {SHORT_P1_MIN:g})",
                fontsize=6.5, color="grey", va="bottom", ha="right")
        ax.text(5.05, LONG_P1_MAX, f"{LONG_P1_MAX:g} (long: p = 1 below)", fontsize=6.5,
                color="grey", va="bottom", ha="right")
        ax.set_ylim(0, 1)
        ax.set_xticks(p)
        ax.set_xlabel("span length p (prefix probe)")
        if j == 0:
            ax.set_ylabel("attention a₂+p−1 → a₁+p")
        ax.set_title(f"layer-2 heads, stream: {arm}", fontsize=9, loc="left")
        ax.legend(fontsize=6.5, loc="upper left")
    q = " — QUICK PREVIEW" if d["quick"] else ""
    fig.suptitle(f"Long- vs short-prefix heads and attention-output SAE features "
                 f"(2 layers, 4 heads, d 32; {d['steps']:,} steps; SAE {d['sae_steps']:,} "
                 f"steps; seeds {d['seeds']}){q}", fontsize=10)
    return fig


register("sae-prefix", "attention-output SAEs: long- vs short-prefix layer-2 heads with and "
         "without ambiguous matches, and the head blocks of the SAE's induction features",
         prefix_data, prefix_plot, group="sae")
