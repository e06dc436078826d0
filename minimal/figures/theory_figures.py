"""Figures of the nested-logits theory and the three-factor toy."""

from __future__ import annotations

import numpy as np

from .registry import register


# ----------------------------------------------------------------------------------------------
# landscape
# ----------------------------------------------------------------------------------------------

def landscape_data(quick: bool = False, seed: int = 0) -> dict:
    from ..theory.analysis import plateau_estimate
    from ..theory.nested_logits import NestedLogitsConfig, gradient_flow, loss_grid
    n = 31 if quick else 81
    cfg = NestedLogitsConfig()
    sad = NestedLogitsConfig(L=8)
    a = np.linspace(-2, 8, n)
    x = np.linspace(-2, 10, n)
    b = np.linspace(-6, 6, n)
    traj = gradient_flow(cfg, 3 * plateau_estimate(cfg), n_points=300)
    return {
        "alpha": a, "xi": x, "beta1": b,
        "ax": loss_grid(cfg, "alpha", a, "xi", x, {"beta1": cfg.beta1_0}),
        "ba": loss_grid(cfg, "beta1", b, "alpha", a, {"xi": 4.0}),
        "saddle": loss_grid(sad, "alpha", np.linspace(-1, 1, n), "xi", np.linspace(-1, 1, n),
                            {"beta1": sad.beta1_0}),
        "saddle_axis": np.linspace(-1, 1, n),
        "traj": traj.theta, "beta1_0": cfg.beta1_0,
        "params": {"N": 8, "B": 1, "eps": 0.1, "L": [32, 8], "grid": n},
    }


def landscape_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(13, 4), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    c = ax1.contourf(d["xi"], d["alpha"], d["ax"], levels=30, cmap="viridis")
    ax1.plot(d["traj"][:, 2], d["traj"][:, 1], "w-", lw=1.5, label="gradient flow")
    ax1.set_xlabel("ξ (classifier alignment)")
    ax1.set_ylabel("α (target–label attention)")
    ax1.set_title(f"L=32 > n=8: slice β₁ = {d['beta1_0']}", fontsize=9)
    ax1.legend(fontsize=7, loc="upper left")
    fig.colorbar(c, ax=ax1, label="loss")
    c = ax2.contourf(d["alpha"], d["beta1"], d["ba"], levels=30, cmap="viridis")
    ax2.plot(d["traj"][:, 1], d["traj"][:, 0], "w-", lw=1.5)
    ax2.set_xlabel("α")
    ax2.set_ylabel("β₁ (layer-1 copy strength)")
    ax2.set_title("L=32: slice ξ = 4 (β₁ matters only once α, ξ > 0)", fontsize=9)
    fig.colorbar(c, ax=ax2, label="loss")
    s = d["saddle_axis"]
    c = ax3.contourf(s, s, d["saddle"], levels=30, cmap="coolwarm")
    ax3.contour(s, s, d["saddle"], levels=[d["saddle"][len(s) // 2, len(s) // 2]], colors="k",
                linewidths=0.8)
    ax3.plot([0], [0], "ko")
    ax3.set_xlabel("ξ")
    ax3.set_ylabel("α")
    ax3.set_title("L = n = 8: saddle at the origin (escape along α = ξ)", fontsize=9)
    fig.colorbar(c, ax=ax3, label="loss")
    fig.suptitle("Nested-logits loss landscape (N=8, B=1, ε=0.1)", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# trajectories
# ----------------------------------------------------------------------------------------------

def trajectories_data(quick: bool = False, seed: int = 0) -> dict:
    from ..theory.analysis import ordering_times, plateau_estimate
    from ..theory.nested_logits import NestedLogitsConfig, gradient_flow
    out = {"runs": []}
    for b10 in ((-2.0,) if quick else (-2.0, -4.0)):
        cfg = NestedLogitsConfig(beta1_0=b10)
        ts = plateau_estimate(cfg)
        tr = gradient_flow(cfg, 3 * ts, n_points=600)
        out["runs"].append({"cfg": cfg, "t_star": ts, "traj": tr,
                            "order": ordering_times(cfg, 3 * ts)})
    out["params"] = {"N": 8, "L": 32, "B": 1, "eps": 0.1,
                     "beta1_0": [r["cfg"].beta1_0 for r in out["runs"]]}
    return out


def trajectories_plot(d: dict):
    from matplotlib.figure import Figure
    runs = d["runs"]
    fig = Figure(figsize=(5.2 * len(runs), 6.5), layout="constrained")
    axes = fig.subplots(2, len(runs), squeeze=False)
    for k, r in enumerate(runs):
        tr, ts = r["traj"], r["t_star"]
        x = tr.t / ts
        ax = axes[0, k]
        for i, (name, col) in enumerate((("β₁ − β₁⁰", "C2"), ("α", "C1"), ("ξ", "C0"))):
            v = tr.theta[:, i] - tr.theta[0, i]
            ax.plot(x, v / v[-1], color=col, label=name)
        on = r["order"]["fractions"][0.1]
        for name, col in (("xi", "C0"), ("alpha", "C1"), ("beta1", "C2")):
            ax.axvline(on[name] / ts, color=col, ls=":", lw=1)
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_ylabel("fraction of total change")
        ax.set_title(f"β₁⁰ = {r['cfg'].beta1_0}: onsets (10%) ξ → α → β₁; t* = {ts:.1f}",
                     fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[1, k]
        ax.plot(x, tr.p_correct, label="p_correct (IC proxy)")
        ax.plot(x, tr.cla, label="CLA proxy")
        ax.axhline(1 / 8, color="k", ls=":", lw=0.8, label="1/n")
        ax.axvline(1.0, color="k", lw=0.8, label="t* (formula)")
        ax.set_xlabel("t / t*")
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
    fig.suptitle("Nested-logits gradient flow: intrinsic curriculum and abrupt escape "
                 "(N=8, L=32, B=1)", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# plateau time
# ----------------------------------------------------------------------------------------------

def plateau_data(quick: bool = False, seed: int = 0) -> dict:
    from ..theory.analysis import plateau_estimate
    from ..theory.nested_logits import NestedLogitsConfig, gradient_descent
    sweeps = {
        "L": [NestedLogitsConfig(L=L) for L in ((10, 16, 64) if quick else
                                               (10, 12, 16, 24, 32, 64, 128, 512))],
        "N": [NestedLogitsConfig(N=N, L=64) for N in ((4, 16) if quick else (3, 4, 6, 8, 12, 16,
                                                                            24, 32))],
        "B": [NestedLogitsConfig(N=16, L=64, B=B) for B in ((1, 4) if quick else (1, 2, 4, 8))],
        "beta1_0": [NestedLogitsConfig(beta1_0=b) for b in ((-1, -4) if quick else
                                                            (0, -1, -2, -3, -4, -5, -6))],
        "eps": [NestedLogitsConfig(eps=e) for e in ((0, 1.0) if quick else
                                                    (0, 0.3, 0.6, 1.0, 1.6, 3.2))],
    }
    out = {}
    for key, cfgs in sweeps.items():
        xs, est, gd = [], [], []
        for cfg in cfgs:
            e = plateau_estimate(cfg)
            tr = gradient_descent(cfg, int(min(20 * e, 5e6)), record_every=10_000_000)
            xs.append(getattr(cfg, key))
            est.append(e)
            gd.append(tr.events["p_correct>0.5"] or np.nan)
        out[key] = {"x": np.array(xs, float), "estimate": np.array(est),
                    "gd": np.array(gd, float)}
    return {"sweeps": out, "params": {"base": "N=8, L=32, B=1, eps=0.1, beta1_0=-2, rates 1"}}


def plateau_plot(d: dict):
    from matplotlib.figure import Figure
    s = d["sweeps"]
    fig = Figure(figsize=(15, 3.6), layout="constrained")
    axes = fig.subplots(1, len(s))
    labels = {"L": "labels L (N=8, B=1)", "N": "context N (B=1, L=64)",
              "B": "burstiness B (N=16, L=64)", "beta1_0": "initial β₁⁰",
              "eps": "within-class noise ε"}
    for ax, (key, v) in zip(axes, s.items()):
        ax.plot(v["x"], v["gd"], "o", label="gradient descent (p_correct > ½)")
        ax.plot(v["x"], v["estimate"], "-", label="formula t*")
        ax.set_yscale("log")
        if key in ("L", "N"):
            from matplotlib.ticker import ScalarFormatter
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel(labels[key])
        ax.set_ylabel("plateau time (steps)")
        ratio = v["gd"] / v["estimate"]
        ax.set_title(f"GD / t* in [{np.nanmin(ratio):.2f}, {np.nanmax(ratio):.2f}]", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle("Plateau (escape) time: t* = (2π/(η_α η_β))^¼ (η_ξ g₀ c w₀)^−½ against "
                 "discrete gradient descent", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# three-factor toy
# ----------------------------------------------------------------------------------------------

def three_factor_data(quick: bool = False, seed: int = 0) -> dict:
    from ..theory import three_factor as tf
    seeds = range(seed, seed + (2 if quick else 5))
    tensor = {cl: [tf.tensor_toy(tf.TensorToyConfig(clamp=cl, seed=s)) for s in seeds]
              for cl in tf.CLAMPS}
    scalar = {cl: tf.scalar_model(tf.ScalarModelConfig(clamp=cl), 120.0)
              for cl in ("none", "C", "BC")}
    return {"tensor": tensor, "scalar": scalar,
            "laws": tf.scalar_laws(), "params": {"seeds": list(seeds), "d": 20, "lr": 1.0}}


def three_factor_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(14, 4), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    colours = {"none": "C0", "c": "C1", "bc": "C2"}
    for cl, runs in d["tensor"].items():
        for i, r in enumerate(runs):
            ax1.plot(r["iteration"], r["loss"] / r["loss_zero"], color=colours[cl], lw=1,
                     alpha=0.8, label=f"clamp {cl}" if i == 0 else None)
    ax1.set_yscale("log")
    ax1.set_ylim(1e-12, 10)      # below ~1e-13 the loss is float64 round-off
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("loss / loss of zero prediction")
    ax1.set_title("tensor toy: clamping removes the plateau", fontsize=9)
    ax1.legend(fontsize=7)
    r = d["tensor"]["none"][0]
    ax2.plot(r["iteration"], r["loss"] / r["loss"][0], "k-", label="loss")
    ax2.plot(r["iteration"], r["pm1"], label="PM1 = 1 − (â·â*)²")
    ax2.plot(r["iteration"], r["pm2"] / r["pm2"][0], label="PM2 (b, c → ±b*, ±c*)")
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("value / initial value (PM1 raw)")
    ax2.set_title("unclamped run: post-hoc measures also plateau", fontsize=9)
    ax2.legend(fontsize=7)
    for cl, res in d["scalar"].items():
        ax3.plot(res["t"], res["loss"], label=f"clamped {cl}" if cl != "none" else "no clamp")
    ax3.set_xlabel("t")
    ax3.set_ylabel(r"loss $\log(1 + e^{-\kappa\,\alpha_A\alpha_B\alpha_C})$")
    expr = d["laws"]["t_star_none"]
    vals = {"alpha_0": 0.05, "eta": 1.0, "kappa": 1.0}
    t_star = float(expr.subs({s: vals[s.name] for s in expr.free_symbols}))
    ax3.axvline(t_star, color="k", ls=":", lw=0.8, label=f"2/(ηκα₀) = {t_star:.0f}")
    ax3.set_title("scalar model: plateau, exponential, linear escapes", fontsize=9)
    ax3.legend(fontsize=7)
    fig.suptitle("Three-factor toy (Singh et al. 2024)", fontsize=10)
    return fig


register("theory-landscape", "Nested-logits loss landscape slices (L > n and the L = n saddle)",
         landscape_data, landscape_plot, group="theory")
register("theory-trajectories", "Nested-logits trajectories: ξ → α → β₁ ordering and escape",
         trajectories_data, trajectories_plot, group="theory")
register("theory-plateau", "Plateau time vs L, N, B, β₁⁰, ε: formula against gradient descent",
         plateau_data, plateau_plot, group="theory")
register("three-factor", "Three-factor toy: clamping conditions, PM1/PM2, scalar model",
         three_factor_data, three_factor_plot, group="theory")
