"""Figures of linear self-attention as gradient descent (docs/lsa.md): the held-out loss during
training against the GD and GD++ lines (``lsa-loss``), the alignment with one GD step during
training (``lsa-alignment``) and the depth study (``lsa-depth``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .registry import register

_QUICK_MODEL = {"n_eval": 3000, "n_tune": 3000, "baseline_search": "fast"}


def _cached_run(cache, name: str, cfg) -> tuple[dict, dict]:
    """(metrics, resolved) of ``cfg``'s run, trained once into ``cache/name``."""
    from ..config import to_dict
    from ..lsa.train import train_lsa
    from ..runs import Run, read_metrics
    if cache is not None:
        d = Path(cache) / name
        if (d / "run.json").exists():
            run = Run.open(d)
            if run.status == "completed" and run.config == to_dict(cfg):
                return read_metrics(d / "metrics.csv"), run.manifest.get("resolved", {})
        if d.exists():
            shutil.rmtree(d)
        train_lsa(cfg, d, progress=False)
        run = Run.open(d)
        return read_metrics(d / "metrics.csv"), run.manifest.get("resolved", {})
    res = train_lsa(cfg, None, progress=False)
    base = res.learner.model.baselines(res.learner.data.eval_data())
    resolved = {"gd_etas": list(base["gd_etas"]), "gdpp_etas": list(base["gdpp_etas"]),
                "gdpp_nus": list(base["gdpp_nus"]), "theory": base["theory"]}
    return {k: v for k, v in res.metrics.items() if k != "snapshots"}, resolved


def _config(layers: int, recurrent: bool, steps: int, eval_every: int, seed: int,
            quick: bool, inputs: str = "uniform-0.5"):
    from ..config import apply_overrides
    from ..lsa.config import LSA_PRESETS
    over = {"model.layers": layers, "model.recurrent": recurrent, "model.inputs": inputs,
            "train.steps": steps, "train.eval_every": eval_every, "seeds.seed": seed}
    if quick:
        over.update({f"model.{k}": v for k, v in _QUICK_MODEL.items()})
    return apply_overrides(LSA_PRESETS.get("lsa-default"), over)


# ----------------------------------------------------------------------------------------------
# lsa-loss
# ----------------------------------------------------------------------------------------------

def loss_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    steps, every = (300, 50) if quick else (20_000, 250)
    runs = {}
    for K in (1, 2, 3):
        for rec in ((False,) if K == 1 else (False, True)):
            cfg = _config(K, rec, steps, every, seed, quick)
            name = f"lsa-loss-K{K}{'r' if rec else ''}" + ("-quick" if quick else "")
            runs[(K, rec)] = _cached_run(cache, name, cfg)
    return {"runs": runs, "params": {"steps": steps, "seed": seed, "quick": quick,
                                     "inputs": "uniform-0.5", "d": 10, "N": 10,
                                     "batch": 512, "n_eval": _QUICK_MODEL["n_eval"] if quick
                                     else 100_000}}


def loss_plot(d: dict):
    from matplotlib.figure import Figure
    runs = d["runs"]
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    for ax, K in zip(axes, (1, 2, 3)):
        for rec, col, lab in ((False, "C0", "LSA, separate layers"),
                              (True, "C3", "LSA, recurrent (shared weights)")):
            if (K, rec) not in runs:
                continue
            m, res = runs[(K, rec)]
            step = np.asarray(m["step"], float)
            ax.plot(step, m["loss"], "-", color=col, lw=1.5, label=lab)
            tag = "shared" if rec else "per step"
            style = ":" if rec else "-"
            if K > 1 or not rec:
                ax.axhline(m["gd_loss"][-1], color="0.45", ls=style, lw=1.2,
                           label=f"{K}-step GD, best η ({tag})")
                if K > 1:
                    ax.axhline(m["gdpp_loss"][-1], color="k", ls=style, lw=1.2,
                               label=f"GD++, best (η, ν) ({tag})")
        m, res = runs[(K, False)]
        th = res.get("theory", {})
        if K == 1 and th:
            ax.axhline(th["loss_star"], color="C2", ls="--", lw=1.2,
                       label=f"theory: one step at η* ({th['loss_star']:.3f})")
        if th:
            ax.axhline(th["zero_loss"], color="C1", ls="-.", lw=1, label="zero predictor")
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_title(f"K = {K} layer{'s' if K > 1 else ''}", fontsize=10)
        ax.legend(fontsize=7, loc="lower left", framealpha=0.5)
    axes[0].set_ylabel("held-out loss ½ mean (y_q − ŷ)²")
    p = d["params"]
    fig.suptitle(f"Linear self-attention on in-context regression (d = N = {p['d']}, x ~ "
                 f"U(−0.5, 0.5), Adam 1e-3, batch {p['batch']}, seed {p['seed']}, "
                 f"{p['n_eval']} held-out tasks)",
                 fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# lsa-alignment
# ----------------------------------------------------------------------------------------------

def alignment_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    steps, every, n_seeds = (400, 25, 1) if quick else (5000, 100, 3)
    runs = []
    for s in range(seed, seed + n_seeds):
        cfg = _config(1, False, steps, every, s, quick)
        runs.append(_cached_run(cache, f"lsa-align-s{s}" + ("-quick" if quick else ""), cfg))
    return {"runs": runs, "params": {"steps": steps, "seeds": list(range(seed, seed + n_seeds)),
                                     "quick": quick}}


def alignment_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    ax1, ax2, ax3, ax4 = fig.subplots(1, 4)
    th = d["runs"][0][1].get("theory", {})
    target = th.get("eta_star_over_N")
    for i, (m, res) in enumerate(d["runs"]):
        step = np.asarray(m["step"], float)
        sl = step > 0
        lab = f"seed {d['params']['seeds'][i]}"
        ax1.plot(step[sl], 1 - np.asarray(m["model_cos"])[sl], color=f"C{i}", label=lab)
        ax2.plot(step[sl], np.asarray(m["preds_diff"])[sl], color=f"C{i}", label=f"{lab}: "
                 "preds diff")
        ax2.plot(step[sl], np.asarray(m["model_diff"])[sl], color=f"C{i}", ls="--",
                 label=f"{lab}: model diff")
        ax3.plot(step, m["eff_step"], color=f"C{i}", label=lab)
        ax4.plot(step[sl], np.asarray(m["qk_dev"])[sl], color=f"C{i}", label=lab)
    ax1.axhline(0.01, color="k", ls=":", lw=1, label="target: cos > 0.99")
    ax1.set_yscale("log")
    ax1.set_ylabel("1 − model cos (sensitivities ∂ŷ/∂x_q)")
    ax1.set_title("LSA vs GD with the best η", fontsize=9)
    ax2.set_yscale("log")
    ax2.set_ylabel("difference to GD")
    ax2.set_title("preds diff mean |ŷ − ŷ_GD| (solid),\nmodel diff mean ‖∂ŷ/∂x_q − "
                  "∂ŷ_GD/∂x_q‖ (dashed)", fontsize=8)
    if target is not None:
        ax3.axhline(target, color="k", ls="--", lw=1, label=f"η*/N = {target:.3f}")
        ax3.axhspan(0.95 * target, 1.05 * target, color="0.85", label="±5 %")
    ax3.set_ylabel("effective step (QK scale)·(−(P W_V)_yy)")
    ax3.set_title("effective step of the learned layer", fontsize=9)
    ax4.set_yscale("log")
    ax4.set_ylabel("‖A − (tr A/d) I‖ / ‖A‖")
    ax4.set_title("QK x-block: departure from ∝ I", fontsize=9)
    for ax in (ax1, ax2, ax3, ax4):
        ax.set_xlabel("training step")
        ax.legend(fontsize=6)
    p = d["params"]
    fig.suptitle("One-layer LSA (d = N = 10, x ~ U(−0.5, 0.5)) converging to one GD step "
                 f"({p['steps']} steps)", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# lsa-depth
# ----------------------------------------------------------------------------------------------

def depth_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..lsa.experiments import depth_study
    out = None if cache is None else Path(cache) / ("lsa-depth" + ("-quick" if quick else ""))
    seeds = range(seed, seed + (1 if quick else 3))
    steps = 300 if quick else 5000
    res = depth_study((1, 2, 3), seeds, steps, quick=quick, out=out, progress=False,
                      resume=True, workers=1)   # one core: the machine is shared
    return {"table": res["table"], "params": res["params"]}


def depth_plot(d: dict):
    from matplotlib.figure import Figure
    t = d["table"]
    fig = Figure(figsize=(6.5, 4.4), layout="constrained")
    ax = fig.subplots()
    Ks = sorted({r["layers"] for r in t})

    def series(rec, key):
        xs, ms, ss = [], [], []
        for K in Ks:
            rows = [r for r in t if r["layers"] == K and (r["recurrent"] == rec or
                                                          (K == 1 and rec))]
            if rows and rows[0][key]["n"]:
                xs.append(K)
                ms.append(rows[0][key]["mean"])
                ss.append(rows[0][key]["std"])
        return np.array(xs), np.array(ms), np.array(ss)

    for rec, col, lab, off in ((False, "C0", "LSA, separate layers", -0.06),
                               (True, "C3", "LSA, recurrent", 0.06)):
        x, m, s = series(rec, "loss")
        ax.errorbar(x + off, m, yerr=s, fmt="o-", color=col, capsize=3, label=lab)
    for key, style, lab in (("gd_step_loss", "s--", "K-step GD, best η per step"),
                            ("gd_shared_loss", "s:", "K-step GD, one best η"),
                            ("gdpp_step_loss", "^--", "GD++, best (η, ν) per step"),
                            ("gdpp_shared_loss", "^:", "GD++, one best (η, ν)")):
        x, m, _ = series(False, key)
        ax.plot(x, m, style, color="0.3" if "gd_" == key[:3] else "k", label=lab, ms=5)
    ax.set_yscale("log")
    ax.set_xticks(Ks)
    ax.set_xlabel("layers K (GD / GD++ steps)")
    ax.set_ylabel("held-out loss (mean ± std over seeds)")
    p = d["params"]
    ax.legend(fontsize=7)
    ax.set_title(f"Depth: LSA after {p['steps']} steps vs GD and GD++ ({len(p['seeds'])} seed"
                 f"{'s' if len(p['seeds']) > 1 else ''}, {p['inputs']})"
                 f"{' — QUICK' if p['quick'] else ''}", fontsize=9)
    return fig


register("lsa-loss", "LSA held-out loss during training vs K-step GD and GD++ (K = 1, 2, 3)",
         loss_data, loss_plot, group="lsa")
register("lsa-alignment", "one-layer LSA vs GD during training: model cos, preds/model diff, "
         "effective step, QK ∝ I", alignment_data, alignment_plot, group="lsa")
register("lsa-depth", "final loss vs depth: LSA (separate, recurrent) vs GD and GD++",
         depth_data, depth_plot, group="lsa")
