"""Figures of the fitting layer: fits to a full-network learning curve, and the verdict on
five kinds of curves (docs/fitting.md)."""

from __future__ import annotations

import numpy as np

from .registry import register


def fits_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..fit import fit_curve, from_arrays
    from .net_figures import fig3_run_data
    m = fig3_run_data(quick, seed, cache)["metrics"]
    curve = from_arrays(m["step"], m["ic_acc"], "step", "ic_acc")
    out = {}
    for name in ("logistic", "three-factor", "nested-logits"):
        kw = {"N": 8, "L": 32, "B": 1, "eps": 0.1} if name == "nested-logits" else {}
        r = fit_curve(curve, name, **kw)
        grid = np.linspace(r.x.min(), r.x.max(), 800)
        conf, _ = r.band(grid)
        out[name] = {"x": r.x, "y": r.y, "resid": r.residuals, "r2": r.r2, "aic": r.aic,
                     "t": r.t_transition, "ci": r.t_transition_ci, "verdict": r.verdict,
                     "fixed": list(r.fixed), "grid": grid, "grid_fit": r.predict(grid),
                     "band": conf}
    return {"fits": out, "params": {"run": "reddy-fig3", "seed": seed, "quick": quick,
                                    "verdicts": {k: v["verdict"] for k, v in out.items()}}}


def fits_plot(d: dict):
    from matplotlib.figure import Figure
    fits = d["fits"]
    fig = Figure(figsize=(12, 5.5), layout="constrained")
    axes = fig.subplots(2, len(fits), sharex="col", height_ratios=[3, 1])
    a0 = min(f["aic"] for f in fits.values())
    for j, (name, f) in enumerate(fits.items()):
        ax, axr = axes[0, j], axes[1, j]
        ax.plot(f["x"], f["y"], "k.", ms=4, label="network IC accuracy")
        ax.plot(f["grid"], f["grid_fit"], "C3-",
                label=f"{name}: R² {f['r2']:.4f}, ΔAIC {f['aic'] - a0:.1f}")
        if f["band"] is not None:
            ax.fill_between(f["grid"], f["band"][0], f["band"][1], color="C3", alpha=0.25,
                            lw=0, label="95% confidence band")
        if f["t"] is not None:
            ax.axvline(f["t"], color="C0", lw=0.8)
            if f["ci"]:
                ax.axvspan(*f["ci"], color="C0", alpha=0.2,
                           label=f"transition {f['t']:.0f} [{f['ci'][0]:.0f}, {f['ci'][1]:.0f}]")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7, loc="upper left")
        fixed = f" (fixed: {', '.join(f['fixed'])})" if f["fixed"] else ""
        ax.set_title(f"{name}: {f['verdict']}{fixed}", fontsize=8)
        axr.plot(f["x"], f["resid"], "k.", ms=3)
        axr.axhline(0, color="C3", lw=0.8)
        axr.set_xlabel("training step")
        axr.set_ylabel("residual")
    axes[0, 0].set_ylabel("IC accuracy")
    p = d["params"]
    fig.suptitle(f"Fits to a full-network IC-accuracy curve (reddy-fig3, seed {p['seed']}"
                 f"{', quick run' if p['quick'] else ''}); the verdict in each title",
                 fontsize=10)
    return fig


register("fit-network", "Logistic, three-factor and nested-logits fits to a full-network "
         "IC-accuracy curve, with verdicts, bands and residuals", fits_data, fits_plot,
         group="fit")


def verdicts_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    """Five curves on 0..10,000 steps (120 points, noise sd 0.01 unless stated): a
    transition at 4,000; a slow drift 0.028 → 0.077 (the 12k-step network run before its
    transition); a constant; pure noise (sd 0.05); a rise whose midpoint lies past the window
    (the data end at a quarter of the rise)."""
    from ..fit import fit_curve, from_arrays
    x = np.linspace(0, 10_000, 120)
    rng = np.random.default_rng(seed)

    def sig(onset, w):
        return 0.05 + 0.9 / (1 + np.exp(-(x - onset) / w))
    w = 10 ** 2.6
    curves = {
        "transition at 4,000": sig(4000, 300) + rng.normal(0, 0.01, x.size),
        "slow drift 0.028 → 0.077": 0.028 + 0.049 * (np.exp(x / 3333) - 1) / (np.exp(3) - 1)
        + rng.normal(0, 0.003, x.size),
        "constant 0.3": np.full(x.size, 0.3),
        "pure noise (sd 0.05)": 0.3 + rng.normal(0, 0.05, x.size),
        "rise past the window": sig(x[-1] - w * np.log(0.25 / 0.75), w) +
        rng.normal(0, 0.01, x.size),
    }
    out = {}
    for label, y in curves.items():
        y = np.clip(y, 0, 1)
        out[label] = {}
        for name in ("logistic", "three-factor", "nested-logits"):
            r = fit_curve(from_arrays(x, y, "step", "accuracy"), name)
            out[label][name] = {"verdict": r.verdict, "reason": r.verdict_reason,
                                "t": r.t_transition, "ci": r.t_transition_ci, "r2": r.r2,
                                "fit": r.predict(x)}
        out[label]["x"], out[label]["y"] = x, y
    return {"curves": out, "params": {"seed": seed, "points": 120,
                                      "verdicts": {k: {m: v[m]["verdict"] for m in
                                                       ("logistic", "three-factor",
                                                        "nested-logits")}
                                                   for k, v in out.items()}}}


def verdicts_plot(d: dict):
    from matplotlib.figure import Figure
    curves = d["curves"]
    fig = Figure(figsize=(15, 3.6), layout="constrained")
    axes = fig.subplots(1, len(curves), sharey=True)
    for ax, (label, c) in zip(axes, curves.items()):
        ax.plot(c["x"], c["y"], "k.", ms=2.5, label="data")
        lines = []
        for i, name in enumerate(("logistic", "three-factor", "nested-logits")):
            f = c[name]
            ax.plot(c["x"], f["fit"], color=f"C{i}", lw=1.1, label=name)
            if f["t"] is not None:
                ax.axvline(f["t"], color=f"C{i}", lw=0.7, ls="--")
            lines.append(f"{name}: {f['verdict']}")
        ax.set_title(label, fontsize=9)
        ax.text(0.02, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", fontsize=6.5,
                bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
        ax.set_xlabel("step")
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("accuracy")
    axes[-1].legend(fontsize=7, loc="center right")
    fig.suptitle("Verdicts from the data: only the first curve transitioned (dashed: its "
                 "transition); no transition step is reported for the others", fontsize=10)
    return fig


register("fit-verdicts", "Verdicts of three models on a transition, a slow drift, a constant, "
         "pure noise and a rise past the window", verdicts_data, verdicts_plot, group="fit")
