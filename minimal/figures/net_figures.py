"""Figures of the attention-only network: learning curves with progress measures, and attention
maps before and after the abrupt transition (Reddy 2024, Fig. 3 setting)."""

from __future__ import annotations

import numpy as np

from .registry import register

_FULL = {"steps": 60_000, "eval_every": 1000, "n_eval": 5000}
_QUICK = {"steps": 600, "eval_every": 50, "n_eval": 300}


def _fig3_config(quick: bool, seed: int):
    from ..config import apply_overrides
    from ..nets.config import TRAIN_PRESETS
    s = _QUICK if quick else _FULL
    return apply_overrides(TRAIN_PRESETS.get("reddy-fig3"), {
        "train.steps": s["steps"], "train.eval_every": s["eval_every"],
        "task.n_eval": s["n_eval"], "seeds.seed": seed})


def transition_step(steps, ic_acc, level: float = 0.5):
    """First evaluated step at which IC accuracy reaches ``level`` (None if never)."""
    hit = np.flatnonzero(np.asarray(ic_acc) >= level)
    return int(np.asarray(steps)[hit[0]]) if hit.size else None


def fig3_run_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ._cache import cached_training
    cfg = _fig3_config(quick, seed)
    name = f"net-fig3-s{seed}" + ("-quick" if quick else "")
    metrics, snaps = cached_training(cache, name, cfg)
    return {"metrics": metrics, "snapshots": snaps, "config": cfg,
            "params": {"preset": "reddy-fig3", "seed": seed, **(_QUICK if quick else _FULL)}}


def curves_plot(data: dict):
    from matplotlib.figure import Figure
    m = data["metrics"]
    cfg = data["config"]
    step = m["step"]
    fig = Figure(figsize=(8, 6.5), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    for key, label, style in (("ic_acc", "IC (novel classes)", "C0-"),
                              ("ic2_acc", "IC2 (flipped labels)", "C1-"),
                              ("iw_acc", "IW (in-weights)", "C2-"),
                              ("test_acc", "Test", "C7--")):
        ax1.plot(step, m[key], style, label=label)
    ax1.axhline(cfg.task.B_eval / cfg.task.N, color="k", lw=0.8, ls=":",
                label="B/N (random context label)")
    ax1.axhline(1 / cfg.task.L, color="grey", lw=0.8, ls=":", label="1/L (chance)")
    ax1.set_ylabel("accuracy")
    ax1.set_ylim(-0.02, 1.02)
    axl = ax1.twinx()
    axl.plot(step, m["loss"], "k-", lw=1, alpha=0.5, label="Test loss (right axis)")
    axl.set_ylabel("Test loss (nats)")
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = axl.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, loc="center right", fontsize=7)
    for key, label in (("ila1", "ILA1 (label→own item, layer 1)"),
                       ("tila2", "TILA2 (target→matching label, layer 2)"),
                       ("tla2", "TLA2 (target→all labels, layer 2)"),
                       ("cla", "CLA (answer is a context label)")):
        ax2.plot(step, m[key], label=label)
    ax2.set_ylabel("progress measure")
    ax2.set_xlabel("training step")
    ax2.set_ylim(-0.02, 1.02)
    ax2.legend(loc="center right", fontsize=7)
    t = transition_step(step, m["ic_acc"])
    for ax in (ax1, ax2):
        if t is not None:
            ax.axvline(t, color="r", lw=0.8, alpha=0.6)
    fig.suptitle(f"Attention-only network, Reddy Fig. 3 setting (K=256, B=1, p_C=0.8), seed "
                 f"{cfg.seeds.seed}" +
                 (f": IC accuracy crosses 0.5 at step {t}" if t else ""), fontsize=10)
    return fig


def attention_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    """Full layer-1 and layer-2 patterns (reference forward) on one IC sequence, for the
    snapshot before the transition and the final one."""
    from ..nets import reference as ref
    from ..tasks.icl import ICLTask
    d = fig3_run_data(quick, seed, cache)
    m, snaps, cfg = d["metrics"], d["snapshots"], d["config"]
    steps = np.array(sorted(snaps))
    ic = dict(zip(m["step"].astype(int), m["ic_acc"]))
    t = transition_step(m["step"], m["ic_acc"])
    if t is not None:
        before = int(max(s for s in steps if s < t and ic.get(int(s), 1) < 0.3) if
                     any(s < t and ic.get(int(s), 1) < 0.3 for s in steps) else steps[0])
    else:
        before = int(steps[len(steps) // 2])
    after = int(steps[-1])
    task = ICLTask(cfg.task, cfg.seeds, warn=False)
    batch = task.sample("ic", 1)
    U0 = ref.dense_tokens(batch.content.astype(np.float64), batch.shift, cfg.task.P)
    maps = {}
    for label, s in (("before", before), ("after", after)):
        acts = ref.forward_full({k: v.astype(np.float64) for k, v in snaps[s].items()}, U0,
                                cfg.net.heads)
        maps[label] = {"step": s, "ic_acc": float(ic.get(s, np.nan)),
                       "layers": [P[0, 0] for P in acts["P"]]}
    return {"maps": maps, "N": cfg.task.N, "matches": batch.matches[0],
            "params": {**d["params"], "before": before, "after": after}}


def attention_plot(data: dict):
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    N = data["N"]
    T = 2 * N + 1
    ticks = [f"x{t // 2}" if t % 2 == 0 else f"ℓ{t // 2}" for t in range(2 * N)] + ["xq"]
    maps = data["maps"]
    n_layers = len(maps["before"]["layers"])
    fig = Figure(figsize=(3.6 * n_layers + 0.6, 7), layout="constrained")
    axes = fig.subplots(2, n_layers, squeeze=False)
    im = None
    for r, key in enumerate(("before", "after")):
        info = maps[key]
        for l, P in enumerate(info["layers"]):
            ax = axes[r, l]
            im = ax.imshow(P, cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks(range(T), ticks, fontsize=6, rotation=90)
            ax.set_yticks(range(T), ticks, fontsize=6)
            ax.set_title(f"layer {l + 1}, step {info['step']} ({key}; IC acc "
                         f"{info['ic_acc']:.2f})", fontsize=8)
            ax.set_xlabel("key position", fontsize=7)
            ax.set_ylabel("query position", fontsize=7)
            if l == n_layers - 1:   # mark the labels of items matching the target
                for j in np.flatnonzero(data["matches"]):
                    ax.add_patch(Rectangle((2 * j + 1 - 0.5, T - 1.5), 1, 1, fill=False,
                                           edgecolor="r", lw=1.2))
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="attention weight")
    fig.suptitle("Attention before and after the transition (one IC sequence); red: label of "
                 "the item matching the target", fontsize=9)
    return fig


register("net-curves", "Learning curves and progress measures of the attention-only network "
         "(reddy-fig3)", fig3_run_data, curves_plot, group="net")
register("net-attention", "Layer-1 and layer-2 attention maps before and after the ICL "
         "transition (reddy-fig3)", attention_data, attention_plot, group="net")
