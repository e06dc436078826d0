"""Network-level figures computed from sweeps of the full network (docs/network.md):

* ``net-data-dependence`` — Reddy Fig. 2 for the attention-only network: final IC and IW accuracy
  along B, K, ε and the Zipf exponent (p_B = 0.5), one axis at a time from reddy-default;
* ``net-coexistence`` — IC and IW over training with p_B = p_C = 0.5 (is ICL retained?);
* ``net-transition`` — the transition step along K, N and B, beside the nested-logits plateau
  formula's prediction for the same change.

The sweeps are defined here (:data:`SWEEPS`); the full runs live in ``<figures>/data/<name>``
(committed without checkpoints, so ``minimal figures`` redraws without retraining, and a missing
job is computed — resumed — on demand).  ``figures/data/sweeps/*.toml`` are the same sweeps for
``minimal sweep`` (a test keeps them identical).  Collapsed runs are counted and drawn apart, never
averaged in.
"""

from __future__ import annotations

import numpy as np

from .registry import register

#: the full sweeps (family, preset, overrides, grid, seeds, one at a time)
SWEEPS = {
    "net-fig2-axes": dict(family="train", preset="reddy-default",
                          set={"train.steps": 100000, "train.eval_every": 2000,
                               "task.n_eval": 4000},
                          grid={"task.B": [0, 1, 2, 4], "task.K": [128, 2048],
                                "task.eps": [0.0, 0.4, 1.6]}, seeds=3, one_at_a_time=True),
    "net-fig2-zipf": dict(family="train", preset="reddy-default",
                          set={"train.steps": 100000, "train.eval_every": 2000,
                               "task.n_eval": 4000, "task.p_bursty": 0.5},
                          grid={"task.zipf_alpha": [0.0, 1.0, 1.5]}, seeds=3,
                          one_at_a_time=True),
    "net-coexist": dict(family="train", preset="reddy-coexist",
                        set={"train.steps": 100000, "train.eval_every": 2000,
                             "task.n_eval": 4000},
                        grid={"task.p_bursty": [0.5]}, seeds=3, one_at_a_time=False),
    "net-transition": dict(family="train", preset="reddy-fig3",
                           set={"train.steps": 60000, "train.eval_every": 1000,
                                "task.n_eval": 2000},
                           grid={"task.K": [128, 256, 512, 1024], "task.N": [4, 16],
                                 "task.B": [2, 4]}, seeds=1, one_at_a_time=True),
}
#: the quick variants: a small task on reddy-fig3-like data, seconds per run
_QUICK_SET = {"train.steps": 200, "train.eval_every": 50, "task.n_eval": 100,
              "net.k_dim": 16}
BASE = {"task.B": 2, "task.K": 512, "task.eps": 0.1}          # reddy-default's values


def sweep_for(name: str, quick: bool):
    """The :class:`~minimal.sweeps.Sweep` of figure data ``name`` (quick: a few short runs)."""
    from ..sweeps import make_sweep
    s = SWEEPS[name]
    sets = dict(s["set"])
    seeds = range(s["seeds"])
    grid = s["grid"]
    if quick:
        sets.update(_QUICK_SET)
        seeds = range(1)
        grid = {k: v[:2] for k, v in grid.items()}
    return make_sweep(s["family"], s["preset"], list(sets.items()), grid, seeds,
                      s["one_at_a_time"])


def _rows(name: str, quick: bool, cache, data, progress=False):
    where = (cache / f"{name}-quick") if quick else (data / name)
    sw = sweep_for(name, quick)
    res = sw.run(where, resume=(where / "run.json").exists(), progress=progress,
                 workers=1 if quick else None)
    return res, where


def _axis_table(rows, key, metric):
    """value → (mean, sd, n ok, n collapsed, values) of ``metric`` over completed,
    non-collapsed seeds."""
    out = {}
    for r in rows:
        v = r.get(key)
        if v is None:
            continue
        e = out.setdefault(v, {"vals": [], "collapsed": 0, "n": 0})
        e["n"] += 1
        if r.get("collapsed"):
            e["collapsed"] += 1
        elif r.get("status") == "completed" and r.get(metric) is not None:
            e["vals"].append(float(r[metric]))
    return out


def data_dependence_data(quick: bool = False, seed: int = 0, cache=None, data=None) -> dict:
    res_axes, _ = _rows("net-fig2-axes", quick, cache, data)
    res_zipf, _ = _rows("net-fig2-zipf", quick, cache, data)
    rows = res_axes.rows
    base = [r for r in rows if r.get("task.B") == BASE["task.B"]]
    panels = {}
    for key in ("task.B", "task.K", "task.eps"):
        sel = [r for r in rows if key in r and r.get(key) is not None]
        if key != "task.B":           # the base point (B=2) stands for K=512 and eps=0.1
            sel = sel + [{**r, key: BASE[key]} for r in base]
        panels[key] = sel
    panels["task.zipf_alpha"] = res_zipf.rows
    steps = sorted({r.get("steps") for r in rows + res_zipf.rows if r.get("steps")})
    return {"panels": panels, "quick": quick, "steps": steps,
            "counts": {"axes": res_axes.counts, "zipf": res_zipf.counts},
            "params": {"sweeps": ["net-fig2-axes", "net-fig2-zipf"], "quick": quick,
                       "steps": steps, "seeds": 1 if quick else 3}}


_SYMBOL = {"task.B": "B", "task.K": "K", "task.eps": "ε", "task.zipf_alpha": "α",
           "task.N": "N"}


def data_dependence_plot(d: dict):
    from matplotlib.figure import Figure
    titles = {"task.B": "burstiness B", "task.K": "classes K", "task.eps": "within-class noise ε",
              "task.zipf_alpha": "Zipf exponent α (p_B = 0.5)"}
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, 4, sharey=True)
    for ax, (key, rows) in zip(axes, d["panels"].items()):
        for metric, col, lab in (("ic_acc", "C0", "IC (in-context)"),
                                 ("iw_acc", "C2", "IW (in-weights)")):
            t = _axis_table(rows, key, metric)
            xs = sorted(t)
            pos = np.arange(len(xs))
            mean = [np.mean(t[x]["vals"]) if t[x]["vals"] else np.nan for x in xs]
            sd = [np.std(t[x]["vals"], ddof=1) if len(t[x]["vals"]) > 1 else 0.0 for x in xs]
            ax.errorbar(pos, mean, yerr=sd, fmt="o-", color=col, capsize=3, label=lab)
            for p, x in zip(pos, xs):
                ax.plot([p] * len(t[x]["vals"]), t[x]["vals"], ".", color=col, alpha=0.35,
                        ms=4)
                if metric == "ic_acc":
                    note = f"n={len(t[x]['vals'])}"
                    if t[x]["collapsed"]:
                        note += f"\n{t[x]['collapsed']} collapsed"
                    ax.annotate(note, (p, -0.02), ha="center", va="top", fontsize=6,
                                xycoords=("data", "axes fraction"), xytext=(0, -14),
                                textcoords="offset points")
            ax.set_xticks(pos, [f"{x:g}" for x in xs])
        ax.set_title(titles.get(key, key), fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(_SYMBOL.get(key, key.split(".")[1]) + "  (n: seeds averaged)",
                      labelpad=16, fontsize=8)
    axes[0].set_ylabel("final accuracy (mean ± s.d. over seeds)")
    axes[0].legend(fontsize=7)
    steps = ", ".join(f"{s:,}" for s in d["steps"])
    fig.suptitle("Full attention-only network: data dependence of ICL and IWL (Reddy Fig. 2), "
                 f"one axis at a time from reddy-default; {steps} steps", fontsize=10)
    return fig


def _curves(where, rows):
    from ..runs import read_metrics
    out = []
    for r in rows:
        if r.get("status") != "completed":
            continue
        m = read_metrics(where / "runs" / r["job"])
        out.append((r, m))
    return out


def coexistence_data(quick: bool = False, seed: int = 0, cache=None, data=None) -> dict:
    res, where = _rows("net-coexist", quick, cache, data)
    curves = _curves(where, res.rows)
    return {"curves": [(dict(r), {k: m[k] for k in ("step", "ic_acc", "iw_acc", "test_acc")})
                       for r, m in curves],
            "params": {"preset": "reddy-coexist", "seeds": len(curves), "quick": quick}}


def coexistence_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ok = [(r, m) for r, m in d["curves"] if not r.get("collapsed")]
    bad = [(r, m) for r, m in d["curves"] if r.get("collapsed")]
    for key, col, lab in (("ic_acc", "C0", "IC (novel classes)"),
                          ("iw_acc", "C2", "IW (in-weights)")):
        for r, m in ok:                        # every seed, thin
            ax.plot(m["step"], m[key], color=col, lw=0.7, alpha=0.5)
        ys = [m[key] for _, m in ok]
        if ys:
            n = min(len(y) for y in ys)
            Y = np.array([y[:n] for y in ys])
            ax.plot(ok[0][1]["step"][:n], Y.mean(0), color=col, lw=2,
                    label=f"{lab}: mean of {len(ys)} seeds (thin: each seed)")
    for r, m in bad:                           # shown apart, never averaged in
        ax.plot(m["step"], m["ic_acc"], color="grey", lw=1, ls=":",
                label=f"seed {r['seed']}: collapsed (loss at ln L, zero gradient), IC and IW")
        ax.plot(m["step"], m["iw_acc"], color="grey", lw=1, ls=":")
    ax.set_xlabel("training step")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7.5, loc="lower right", bbox_to_anchor=(1, 0.07))
    ax.set_title("Coexistence (K=512, B=2, p_B = p_C = 0.5): are ICL and IWL both learned and "
                 "kept?", fontsize=9)
    return fig


def transition_data(quick: bool = False, seed: int = 0, cache=None, data=None) -> dict:
    from ..theory.analysis import plateau_estimate
    from ..theory.nested_logits import NestedLogitsConfig
    res, _ = _rows("net-transition", quick, cache, data)
    base = SWEEPS["net-transition"]
    base_vals = {"task.K": 256, "task.N": 8, "task.B": 1}
    rows = res.rows
    ref = [r for r in rows if r.get("task.K") == base_vals["task.K"]]
    panels = {}
    for key in ("task.K", "task.N", "task.B"):
        sel = [r for r in rows if r.get(key) is not None]
        if key != "task.K":
            sel += [{**r, key: base_vals[key]} for r in ref]
        panels[key] = sel

    def theory(key, value):        # plateau formula with the setting's N, L, B, ε
        kw = {"N": 8, "L": 32, "B": 1, "eps": 0.1}
        if key == "task.N":
            kw["N"] = int(value)
        if key == "task.B":
            kw["B"] = int(value)
        try:
            return plateau_estimate(NestedLogitsConfig(**kw))
        except ValueError:
            return float("nan")
    th = {key: {v: theory(key, v) for v in sorted({r[key] for r in sel})}
          for key, sel in panels.items()}
    return {"panels": panels, "theory": th, "base": base_vals,
            "params": {"preset": base["preset"], "quick": quick,
                       "steps": _QUICK_SET["train.steps"] if quick else
                       base["set"]["train.steps"]}}


def transition_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    for ax, (key, rows) in zip(axes, d["panels"].items()):
        t = _axis_table(rows, key, "t_icl")
        xs = sorted(t)
        mean = [np.mean(t[x]["vals"]) if t[x]["vals"] else np.nan for x in xs]
        sd = [np.std(t[x]["vals"], ddof=1) if len(t[x]["vals"]) > 1 else 0.0 for x in xs]
        nmax = max((len(t[x]["vals"]) for x in xs), default=0)
        ax.errorbar(xs, mean, yerr=sd, fmt="o-", capsize=3,
                    label="network (mean ± s.d. over seeds)" if nmax > 1 else
                    "network (one seed per point)")
        for x in xs:
            missing = t[x]["n"] - len(t[x]["vals"]) - t[x]["collapsed"]
            note = []
            if missing:
                note.append(f"{missing} with no transition\nwithin "
                            f"{d['params']['steps']:,} steps")
            if t[x]["collapsed"]:
                note.append(f"{t[x]['collapsed']} collapsed")
            if note:
                ax.annotate("\n".join(note), (x, 0), fontsize=6.5, ha="right" if x == xs[-1]
                            else "center", xycoords=("data", "axes fraction"), xytext=(0, 3),
                            textcoords="offset points")
        th = d["theory"][key]
        b = d["base"][key]
        base_t = np.nanmean(t[b]["vals"]) if b in t and t[b]["vals"] else np.nan
        if np.isfinite(base_t) and key != "task.K":
            scale = base_t / th[b]
            ax.plot(xs, [th[x] * scale for x in xs], "k--", lw=1,
                    label="plateau formula t*, scaled at the base")
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.set_xlabel(_SYMBOL.get(key, key.split(".")[1]))
        if not any(t[x]["vals"] for x in xs):
            ax.text(0.5, 0.5, f"no run transitioned within\n{d['params']['steps']:,} steps",
                    transform=ax.transAxes, ha="center", va="center", fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("transition step\n(IC accuracy > midpoint of B/N and 1)")
    fig.suptitle(f"Full network: transition step along K, N, B around {d['params']['preset']} "
                 f"({d['params']['steps']:,} steps; the formula has no K; dashes: its "
                 "prediction up to one scale)", fontsize=10)
    return fig


register("net-data-dependence", "Full network: final IC / IW accuracy along B, K, ε, Zipf α "
         "(Reddy Fig. 2), seeds with spread", data_dependence_data, data_dependence_plot,
         group="net")
register("net-coexistence", "Full network, p_B = p_C = 0.5: IC and IW over training (seed band)",
         coexistence_data, coexistence_plot, group="net")
register("net-transition", "Full network: transition step vs K, N, B beside the plateau formula",
         transition_data, transition_plot, group="net")
