"""Figures of the momentum-attention study (docs/momentum.md).

* ``momentum-arms`` — the four arms over training: second-half loss and attention on the
  induction target, for period-16 repeats (the spec's task) and for periods 8–16 per sequence;
* ``momentum-recall`` — associative recall: final loss against γ per depth, and γ* against
  depth with the power-law fit beside the paper's γ* = 4.17 · N^(−0.74).

The studies live in ``<figures>/data/momentum-{arms,arms-varperiod,recall}`` (the directories of
``minimal momentum arms|recall --out``; missing runs are computed on demand); quick variants run
a few short runs in the cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .registry import register

_COL = {"rope": "C0", "momentum": "C3", "mom+rope": "C2", "smear": "C1"}
_QUICK_STEPS = 40


def _where(name, quick, cache, data):
    base = Path(cache if quick else (data or "figures/data"))
    return base / (f"{name}-quick" if quick else name)


def _curves(where, rows):
    from ..runs import read_metrics
    out = []
    for r in rows:
        if r.get("status") == "completed":
            out.append((r, read_metrics(Path(where) / "runs" / r["job"] / "metrics.csv")))
    return out


def arms_data(quick: bool = False, seed: int = 0, cache=None, data=None) -> dict:
    from ..studies.momentum import ARM_STEPS, arms_study
    seeds = (seed,) if quick else (seed, seed + 1, seed + 2)
    steps = _QUICK_STEPS if quick else ARM_STEPS
    panels = {}
    for key, name, pmin in (("fixed", "momentum-arms", None),
                            ("varied", "momentum-arms-varperiod", 8)):
        where = _where(name, quick, cache, data)
        res = arms_study(where, seeds, steps, period_min=pmin, progress=not quick)
        panels[key] = {"curves": [(r["arm"], r["seed"], {k: m[k] for k in
                                                         ("step", "loss", "target_attn",
                                                          "mirror_attn", "prev_attn")})
                                  for r, m in _curves(where, res["rows"])],
                       "table": res["table"], "hypotheses": res["hypotheses"]}
    return {"panels": panels, "seeds": list(seeds), "steps": steps, "quick": quick,
            "params": {"seeds": list(seeds), "steps": steps, "quick": quick}}


def arms_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 6.4), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    titles = {"fixed": "period 16 (every sequence)", "varied": "period uniform in 8–16"}
    for row, key in zip(axes, ("fixed", "varied")):
        p = d["panels"][key]
        seen = set()
        order = list(_COL)
        for arm, _, m in sorted(p["curves"], key=lambda c: (order.index(c[0]), c[1])):
            lab = None if arm in seen else arm
            seen.add(arm)
            row[0].plot(m["step"], m["loss"], color=_COL[arm], lw=1.0, alpha=0.85, label=lab)
            row[1].plot(m["step"], m["target_attn"], color=_COL[arm], lw=1.0, alpha=0.85)
            if arm in ("momentum", "mom+rope"):      # the keys the mirror term ties with i + 1
                row[1].plot(m["step"], m["mirror_attn"], color=_COL[arm], lw=0.8, ls="--",
                            alpha=0.7)
                row[1].plot(m["step"], m["prev_attn"], color=_COL[arm], lw=0.8, ls=":",
                            alpha=0.9)
        row[0].set_yscale("log")
        row[0].set_ylabel("second-half loss (nats, log)")
        row[0].set_title(titles[key], fontsize=9, loc="left")
        row[1].axhline(1 / 3, color="grey", lw=0.8, ls="--")
        row[1].text(0.99, 1 / 3, "1/3", transform=row[1].get_yaxis_transform(),
                    ha="right", va="top" if key == "fixed" else "bottom", fontsize=7,
                    color="grey")
        row[1].set_ylim(-0.02, 1.02)
        row[1].set_ylabel("attention of a 2nd-half query (best head)")
        from matplotlib.lines import Line2D
        row[1].legend([Line2D([], [], color="k", lw=1.0),
                       Line2D([], [], color="k", lw=0.8, ls="--"),
                       Line2D([], [], color="k", lw=0.8, ls=":")],
                      ["on the target i + 1", "on i − 1 (momentum arms)",
                       "on t − 1 (momentum arms)"], fontsize=7,
                      loc="center right" if key == "fixed" else "upper left")
        row[0].legend(fontsize=8, loc="lower left")
    for ax in axes[1]:
        ax.set_xlabel("training step")
    fig.suptitle("Momentum attention, one layer + direct path, vocabulary 64, length 32: γ = 0 "
                 "with RoPE; momentum γ = 1 without / with RoPE; smeared keys with RoPE "
                 f"(one line per seed, seeds {d['seeds']})", fontsize=9)
    return fig


def recall_data(quick: bool = False, seed: int = 0, cache=None, data=None) -> dict:
    from ..studies.momentum import DEPTHS, GAMMA_GRID, RECALL_STEPS, recall_study
    seeds = (seed,) if quick else (seed, seed + 1, seed + 2)
    where = _where("momentum-recall", quick, cache, data)
    if quick:
        res = recall_study(where, (0.0, 0.4, 1.6), (1, 2, 3), seeds, _QUICK_STEPS,
                           progress=False)
    else:
        res = recall_study(where, GAMMA_GRID, DEPTHS, seeds, RECALL_STEPS)
    return {"table": res["table"], "gamma_star": res["gamma_star"], "fit": res["fit"],
            "seeds": list(seeds), "steps": res["steps"], "quick": quick,
            "params": {"seeds": list(seeds), "steps": res["steps"], "quick": quick}}


def recall_plot(d: dict):
    from matplotlib.figure import Figure
    from ..studies.momentum import PAPER_A, PAPER_B
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    depths = sorted({r["depth"] for r in d["table"]})
    for i, N in enumerate(depths):
        rows = [r for r in d["table"] if r["depth"] == N]
        g = np.array([r["gamma"] for r in rows])
        m = np.array([r["loss"][0] for r in rows])
        s = np.array([r["loss"][1] for r in rows])
        x = np.where(g > 0, g, 0.05)
        ax.errorbar(x, m, yerr=[np.minimum(s, 0.9 * m), s], fmt="o-", color=f"C{i}", capsize=3,
                    ms=4,
                    label=f"depth {N}")
        st = next(v for v in d["gamma_star"] if v["depth"] == N)
        if st["complete"]:
            ax.axvline(max(st["gamma_star"], 0.05), color=f"C{i}", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(np.log(32), color="grey", lw=0.8, ls="--")
    ax.text(0.02, np.log(32), "chance ln 32", transform=ax.get_yaxis_transform(), fontsize=7,
            va="bottom", color="grey")
    ax.set_xlabel("momentum γ (log; γ = 0 drawn at 0.05)")
    ax.set_ylabel("final recall loss (nats, log; mean ± sd over seeds)")
    ax.set_title(f"loss after {d['steps']} steps; dotted: γ* per depth", fontsize=9)
    ax.legend(fontsize=8)
    from ..studies.momentum import fit_points
    ok = fit_points(d["gamma_star"])
    for v in d["gamma_star"]:
        if not v["complete"]:
            continue
        mk = "s" if v["edge"] else "o"
        y = max(v["gamma_star"], 0.05) if v["gamma_star"] is not None else np.nan
        bx.errorbar([v["depth"]], [y], yerr=[[min(v["sd"], y * 0.99)], [v["sd"]]], fmt=mk,
                    color="k", capsize=3)
        for gs in v["seed_gamma_star"]:
            bx.plot([v["depth"]], [max(gs, 0.05)], ".", color="0.5", ms=4)
    n = np.linspace(1, max(depths), 50)
    bx.plot(n, PAPER_A * n ** (-PAPER_B), "--", color="C3",
            label=f"paper: {PAPER_A}·N^(−{PAPER_B})")
    f = d["fit"]
    if f is not None:
        ci = f["b_ci95"]
        lab = f"fit: {f['a']:.2f}·N^(−{f['b']:.2f})"
        if ci:
            lab += f", b 95 % [{ci[0]:.2f}, {ci[1]:.2f}]"
        bx.plot(n, f["a"] * n ** (-f["b"]), "-", color="C0", label=lab)
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xticks(depths, [str(v) for v in depths])
    bx.set_xlabel("depth N (attention layers)")
    bx.set_ylabel("γ* (squares: a grid edge; grey: per seed)")
    bx.set_title(f"γ* against depth ({len(ok)} depths inside the grid fitted)", fontsize=9)
    bx.legend(fontsize=8)
    fig.suptitle("Associative recall (8 key–value pairs, 32 keys, 32 values; d 64, 4 heads, "
                 f"RoPE, momentum in every layer; seeds {d['seeds']})", fontsize=9)
    return fig


register("momentum-arms", "momentum attention: four single-layer arms on period repeats "
         "(second-half loss, attention on the induction target)", arms_data, arms_plot,
         group="momentum")
register("momentum-recall", "momentum attention: associative-recall loss against γ per depth, "
         "γ* against depth with the power-law fit", recall_data, recall_plot, group="momentum")
