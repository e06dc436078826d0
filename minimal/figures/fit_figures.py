"""Fits of phenomenological models to full-network learning curves."""

from __future__ import annotations

import numpy as np

from .registry import register


def fits_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..fit import fit_curve, make_model
    from ..fit.curves import from_arrays
    from .net_figures import fig3_run_data
    m = fig3_run_data(quick, seed, cache)["metrics"]
    curve = from_arrays(m["step"], m["ic_acc"], "step", "ic_acc")
    out = {}
    for name in ("logistic", "nested-logits"):
        kw = {"N": 8, "L": 32, "B": 1, "eps": 0.1} if name == "nested-logits" else {}
        r = fit_curve(curve, make_model(name, **kw))
        out[name] = {"x": r.x, "y": r.y, "fit": r.y_fit, "resid": r.residuals, "r2": r.r2,
                     "t": r.t_transition, "ci": r.t_transition_ci, "params": r.params,
                     "grid": np.linspace(r.x.min(), r.x.max(), 800)}
        out[name]["grid_fit"] = r._model.predict(out[name]["grid"],
                                                 np.array(list(r.params.values())))
    return {"fits": out, "params": {"run": "reddy-fig3", "seed": seed, "quick": quick}}


def fits_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    axes = fig.subplots(2, 2, sharex="col", height_ratios=[3, 1])
    for j, (name, f) in enumerate(d["fits"].items()):
        ax, axr = axes[0, j], axes[1, j]
        ax.plot(f["x"], f["y"], "k.", ms=4, label="network IC accuracy")
        ax.plot(f["grid"], f["grid_fit"], "C3-", label=f"{name} fit (R² {f['r2']:.4f})")
        if f["t"] is not None:
            ax.axvline(f["t"], color="C0", lw=0.8)
            if f["ci"]:
                ax.axvspan(*f["ci"], color="C0", alpha=0.2,
                           label=f"transition {f['t']:.0f} [{f['ci'][0]:.0f}, {f['ci'][1]:.0f}]")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7, loc="upper left")
        ax.set_title(name, fontsize=9)
        axr.plot(f["x"], f["resid"], "k.", ms=3)
        axr.axhline(0, color="C3", lw=0.8)
        axr.set_xlabel("training step")
        axr.set_ylabel("residual")
    axes[0, 0].set_ylabel("IC accuracy")
    fig.suptitle("Phenomenological fits to a full-network learning curve (reddy-fig3)",
                 fontsize=10)
    return fig


register("fit-network", "Logistic and nested-logits fits to a full-network IC-accuracy curve, "
         "with residuals", fits_data, fits_plot, group="fit")
