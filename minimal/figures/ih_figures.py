"""Figures of the minimal induction-head models: data dependence, the L = N saddle,
initialisation dependence, and progress measures side by side with the full network."""

from __future__ import annotations

import numpy as np

from .registry import register


def _rows_by(rows, key, value_key="value"):
    out = {}
    for r in rows:
        out.setdefault(r[key], {}).setdefault(r[value_key], []).append(r)
    return out


def data_dependence_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..induction_head.experiments import data_dependence
    out = None if cache is None else cache / ("ih-data" + ("-quick" if quick else ""))
    rows = data_dependence("ih3", "mlp3", seeds=range(seed, seed + (1 if quick else 2)),
                           steps=1500 if quick else 20_000, quick=quick, out=out,
                           progress=False, resume=True)
    return {"rows": rows, "params": {"variant": "ih3", "classifier": "mlp3",
                                     "steps": 1500 if quick else 20_000,
                                     "base": "reddy-default (K=512, B=2, p_C=0)"}}


def data_dependence_plot(d: dict):
    from matplotlib.figure import Figure
    by = _rows_by(d["rows"], "axis")
    fig = Figure(figsize=(3.6 * len(by), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(by)))
    names = {"B": "burstiness B", "K": "classes K", "eps": "within-class noise ε",
             "zipf_alpha": "Zipf α_Z (p_B = 0.5)"}
    for ax, (axis, groups) in zip(axes, by.items()):
        xs = sorted(groups)
        for key, label, col in (("ic_acc", "IC (in-context)", "C0"),
                                ("iw_acc", "IW (in-weights)", "C2")):
            m = [np.mean([r[key] for r in groups[x]]) for x in xs]
            ax.plot(range(len(xs)), m, "o-", color=col, label=label)
            for i, x in enumerate(xs):
                ax.plot([i] * len(groups[x]), [r[key] for r in groups[x]], ".", color=col,
                        alpha=0.4)
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set_xlabel(names.get(axis, axis))
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("final accuracy")
    axes[0].legend(fontsize=7)
    p = d["params"]
    fig.suptitle(f"Minimal model {p['variant']} + {p['classifier']}: data dependence "
                 f"({p['steps']} steps around {p['base']})", fontsize=10)
    return fig


def saddle_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..induction_head.experiments import fraction_table, saddle_experiment
    out = None if cache is None else cache / ("ih-saddle" + ("-quick" if quick else ""))
    rows = saddle_experiment("ih2-labels", Ns=(2, 4) if quick else (2, 4, 8),
                             seeds=range(seed, seed + (2 if quick else 6)),
                             steps=1500 if quick else 20_000, out=out, progress=False,
                             resume=True)
    return {"table": fraction_table(rows, ("task.N", "task.L")),
            "params": {"variant": "ih2-labels", "classifier": "linear",
                       "seeds": 2 if quick else 6, "steps": 1500 if quick else 20_000}}


def saddle_plot(d: dict):
    from matplotlib.figure import Figure
    t = d["table"]
    Ns = sorted({r["task.N"] for r in t})
    mults = sorted({r["task.L"] // r["task.N"] for r in t})
    M = np.full((len(Ns), len(mults)), np.nan)
    IC = np.full_like(M, np.nan)
    for r in t:
        i, j = Ns.index(r["task.N"]), mults.index(r["task.L"] // r["task.N"])
        M[i, j] = r["frac_learned"]
        IC[i, j] = r["ic_acc"]
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(M, vmin=0, vmax=1, cmap="RdYlGn")
    for i in range(len(Ns)):
        for j in range(len(mults)):
            ax.text(j, i, f"{M[i, j]:.2f}\nIC {IC[i, j]:.2f}", ha="center", va="center",
                    fontsize=8)
    ax.set_xticks(range(len(mults)), ["L = N" if m == 1 else f"L = {m}N" for m in mults])
    ax.set_yticks(range(len(Ns)), [f"N = {n}" for n in Ns])
    fig.colorbar(im, ax=ax, label="fraction of seeds that learn ICL")
    p = d["params"]
    ax.set_title(f"L = N saddle, {p['variant']} ({p['seeds']} seeds, {p['steps']} steps)",
                 fontsize=9)
    return fig


def init_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..induction_head.experiments import fraction_table, init_dependence
    out = None if cache is None else cache / ("ih-init" + ("-quick" if quick else ""))
    kw = dict(beta1s=(-4.0, 0.0), alphas=(-1.0, 1.0), seeds=range(seed, seed + 1),
              steps=1500) if quick else dict(seeds=range(seed, seed + 3), steps=20_000)
    rows = init_dependence(out=out, progress=False, resume=True, **kw)
    return {"table": fraction_table(rows, ("variant", "ih.beta1_0", "ih.alpha_0")),
            "params": {k: (list(v) if isinstance(v, (range, tuple)) else v)
                       for k, v in kw.items()}}


def init_plot(d: dict):
    from matplotlib.figure import Figure
    t = d["table"]
    variants = sorted({r["variant"] for r in t})
    b1s = sorted({r["ih.beta1_0"] for r in t})
    als = sorted({r["ih.alpha_0"] for r in t})
    fig = Figure(figsize=(4.2 * len(variants), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(variants)))
    im = None
    for ax, v in zip(axes, variants):
        M = np.full((len(b1s), len(als)), np.nan)
        for r in t:
            if r["variant"] == v:
                M[b1s.index(r["ih.beta1_0"]), als.index(r["ih.alpha_0"])] = r["frac_learned"]
        im = ax.imshow(M, vmin=0, vmax=1, cmap="RdYlGn", origin="lower")
        for i in range(len(b1s)):
            for j in range(len(als)):
                ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(als)), [str(a) for a in als])
        ax.set_yticks(range(len(b1s)), [str(b) for b in b1s])
        ax.set_xlabel("initial α")
        ax.set_ylabel("initial β₁")
        ax.set_title(f"{v}: fraction of seeds that learn ICL", fontsize=9)
    fig.colorbar(im, ax=list(axes), label="fraction learned")
    return fig


def side_by_side_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..config import apply_overrides
    from ..induction_head.config import IH_PRESETS
    from ..induction_head.train import train_ih
    from .net_figures import fig3_run_data, transition_step
    net = fig3_run_data(quick, seed, cache)["metrics"]
    cfg = apply_overrides(IH_PRESETS.get("reddy-fig3"), {
        "train.steps": 1500 if quick else 30_000, "train.eval_every": 100 if quick else 500,
        "task.n_eval": 300 if quick else 2000, "seeds.seed": seed})
    ih = train_ih(cfg, None, progress=False).metrics
    return {"net": net, "ih": ih,
            "t_net": transition_step(net["step"], net["ic_acc"]),
            "t_ih": transition_step(ih["step"], ih["ic_acc"]),
            "params": {"preset": "reddy-fig3", "seed": seed, "ih": "ih3 + linear"}}


def side_by_side_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, title in ((axes[0], "net", "full network"), (axes[1], "ih", "minimal ih3")):
        m = d[key]
        t = d["t_" + key]
        x = m["step"] / t if t else m["step"]
        for k, lab in (("ic_acc", "IC accuracy"), ("ila1", "ILA1"), ("tila2", "TILA2"),
                       ("tla2", "TLA2"), ("cla", "CLA")):
            ax.plot(x, m[k], label=lab)
        ax.set_xlabel("step / transition step" if t else "step (no transition)")
        ax.set_title(f"{title}: " + (f"transition at step {t}" if t else
                                     "no transition in this run"), fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        if t:
            ax.set_xlim(0, 2)
    axes[0].set_ylabel("accuracy / progress measure")
    axes[0].legend(fontsize=7)
    fig.suptitle("Progress measures of the full network and the minimal model, time "
                 "normalised by each run's transition (reddy-fig3)", fontsize=10)
    return fig


register("ih-data-dependence", "Minimal model ih3 + mlp3: final IC / IW accuracy along B, K, "
         "ε, Zipf α", data_dependence_data, data_dependence_plot, group="ih")
register("ih-saddle", "L = N saddle: fraction of ih2-labels seeds that learn ICL",
         saddle_data, saddle_plot, group="ih")
register("ih-init", "Initialisation dependence: ih2 vs ih3 over initial (β₁, α)", init_data,
         init_plot, group="ih")
register("ih-vs-network", "Progress measures of the minimal model and the full network side by "
         "side", side_by_side_data, side_by_side_plot, group="ih")
