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
SEEDS = (0, 1, 2)


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
                                                     "frac_in_one_block", "main_head_frac",
                                                     "top_share")}})
    return {"runs": runs, "table": res["table"], "hypotheses": res["hypotheses"],
            "steps": steps, "sae_steps": sae_steps, "seeds": list(seeds), "quick": quick,
            "p": list(P_VALUES),
            "params": {"seeds": list(seeds), "steps": steps, "sae_steps": sae_steps,
                       "quick": quick}}


def prefix_plot(d: dict):
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from ..studies.prefix_sae import BLOCK_SHARE_MIN, LONG_MIN, LONG_P1_MAX, SHORT_P1_MIN
    arms = [a for a in _COL if any(r["arm"] == a for r in d["runs"])]
    seeds = sorted({r["seed"] for r in d["runs"]})
    seed_ls = {s: _HEAD_LS[i % 4] for i, s in enumerate(seeds)}
    fig = Figure(figsize=(12, 7.4), layout="constrained")
    gs = fig.add_gridspec(2, max(3, len(arms)))
    ax_acc = fig.add_subplot(gs[0, 0])
    ax_amb = fig.add_subplot(gs[0, 1], sharey=ax_acc)
    ax_sae = fig.add_subplot(gs[0, 2])
    for r in d["runs"]:
        c = r["curve"]
        col = _COL.get(r["arm"], "k")
        ax_acc.plot(c["step"], c["copy_acc"], color=col, lw=1.0, ls=seed_ls[r["seed"]])
        ax_amb.plot(c["step"], c["amb_acc"], color=col, lw=1.0, ls=seed_ls[r["seed"]])
    arm_handles = [Line2D([], [], color=_COL[a], lw=2, label=a) for a in arms]
    seed_handles = [Line2D([], [], color="k", lw=1, ls=seed_ls[s], label=f"seed {s}")
                    for s in seeds]
    ax_acc.legend(handles=arm_handles + seed_handles, fontsize=7, loc="lower right")
    ax_acc.set_xlabel("training step")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("copy targets (the stream's own)", fontsize=9, loc="left")
    ax_amb.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax_amb.set_xlabel("training step")
    ax_amb.set_title("ambiguous query (a 2-token prefix decides; dashed: 0.5,\none-token "
                     "matching; every stream on the same ambiguous set)", fontsize=8.5,
                     loc="left")
    ax_acc.set_ylim(0, 1.02)
    # SAE: how concentrated the induction features are in one head
    x, labels = 0, []
    for arm in arms:
        for r in (r for r in d["runs"] if r["arm"] == arm):
            s = r["sae"]
            if s is not None and s["n_induction"]:
                ax_sae.bar(x, s["main_head_frac"], color=_COL[arm], width=0.7)
                ax_sae.plot([x] * len(s["top_share"]), s["top_share"], "k.", ms=2.5,
                            alpha=0.6)
                ax_sae.text(x, 1.02, f"{s['n_induction']}\nR {s['score']:.2f}",
                            ha="center", va="bottom", fontsize=6)
            labels.append(f"s{r['seed']}")
            x += 1
        x += 0.6
    pos = [i + 0.6 * j for j, arm in enumerate(arms)
           for i in range(j * len(seeds), (j + 1) * len(seeds))]
    ax_sae.set_xticks(pos[:len(labels)], labels, fontsize=7)
    ax_sae.axhline(BLOCK_SHARE_MIN, color="grey", lw=0.8, ls="--")
    ax_sae.set_ylim(0, 1.3)
    ax_sae.set_ylabel("fraction")
    ax_sae.set_title("SAE induction features: bars = share in the network's main head;\n"
                     "dots = each feature's top-block share of decoder norm² "
                     "(above: count, recon. score R)", fontsize=8, loc="left")
    # prefix score against p, per stream
    p = d["p"]
    for j, arm in enumerate(arms):
        ax = fig.add_subplot(gs[1, j])
        for r in (r for r in d["runs"] if r["arm"] == arm):
            S = np.asarray(r["scores"])
            for h in range(S.shape[1]):
                ax.plot(p, S[:, h], color=_COL[arm], ls=seed_ls[r["seed"]], marker="o", ms=2.5,
                        lw=0.9, alpha=0.85)
        ax.axhline(LONG_P1_MAX, color="grey", lw=0.7, ls=":")
        ax.axhline(LONG_MIN, color="grey", lw=0.7, ls="--")
        ax.text(1, LONG_MIN + 0.01, f"{LONG_MIN:g}: long needs p ≥ 3 above, short p = 1 above "
                f"{SHORT_P1_MIN:g}", fontsize=6.5, color="grey", va="bottom")
        ax.text(p[-1], LONG_P1_MAX - 0.01, f"{LONG_P1_MAX:g}: long needs p = 1 below",
                fontsize=6.5, color="grey", va="top", ha="right")
        ax.set_ylim(0, 1)
        ax.set_xticks(p)
        ax.set_xlabel("span length p (prefix probe)")
        if j == 0:
            ax.set_ylabel("attention a₂+p−1 → a₁+p")
        cls = sorted({c for r in d["runs"] if r["arm"] == arm for c in r["classes"]})
        ax.set_title(f"layer-2 heads (4 per seed), stream: {arm}\nclasses: {', '.join(cls)}",
                     fontsize=9, loc="left")
        ax.legend(handles=seed_handles, fontsize=7, loc="upper left")
    q = " — QUICK PREVIEW" if d["quick"] else ""
    fig.suptitle(f"Long- vs short-prefix heads and attention-output SAE features "
                 f"(2 layers, 4 heads, d 32; {d['steps']:,} steps; SAE {d['sae_steps']:,} "
                 f"steps; seeds {d['seeds']}){q}", fontsize=10)
    return fig


register("sae-prefix", "attention-output SAEs: long- vs short-prefix layer-2 heads with and "
         "without ambiguous matches, and the head blocks of the SAE's induction features",
         prefix_data, prefix_plot, group="sae")
