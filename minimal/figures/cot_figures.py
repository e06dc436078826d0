"""Figures of the two-stage CoT circuit model (Level 1 on the small world; Level 0 overlays)."""

from __future__ import annotations

import numpy as np

from .registry import register


def _runs(cache, name, axes, quick, seed, steps=None):
    from ..config import apply_overrides
    from ..cot.config import COT_PRESETS
    from ..sweeps import run_sweep
    base = COT_PRESETS.get("tiny" if quick else "small")
    base = apply_overrides(base, {"train.steps": steps or (600 if quick else 20_000),
                                  "train.eval_every": 50 if quick else 500})
    out = None if cache is None else cache / (name + ("-quick" if quick else ""))
    import json
    rows = run_sweep(base, axes, [seed], "minimal.cot.experiments:run_keep",
                     "minimal.cot.experiments:keep_curves", out, None, False, True,
                     kind=f"cot-{name}")
    for r in rows:
        if isinstance(r.get("curves"), str):
            r["curves"] = json.loads(r["curves"])
        if "model.cot" in r:
            r["model.cot"] = bool(r["model.cot"])
    return rows


def curves_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    rows = _runs(cache, "format", {"model.cot": [True, False]}, quick, seed)
    return {"rows": rows, "params": {"world": "tiny" if quick else "small", "seed": seed}}


def curves_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, row in zip(axes, sorted(d["rows"], key=lambda r: not r["model.cot"])):
        c = row["curves"]
        for k, lab in (("id_atomic", "ID atomic"), ("ood_atomic", "OOD atomic"),
                       ("test_inferred_iid", "ID two-hop"), ("test_inferred_ood",
                                                             "OOD two-hop"),
                       ("train_inferred", "train two-hop")):
            ax.plot(c["step"], c[k], label=lab)
        ax.plot(c["step"], np.asarray(c["id_atomic"]) ** 2, "k:", lw=1,
                label="(ID atomic)² (product law)")
        ax.set_title("CoT" if row["model.cot"] else "no CoT", fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("exact-match accuracy")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Two-stage associative memory, {d['params']['world']} world: CoT vs no CoT",
                 fontsize=10)
    return fig


def noise_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..cot import level0
    xis = [0.05, 0.8] if quick else [0.0, 0.05, 0.2, 0.4, 0.6, 0.8]
    rows = _runs(cache, "noise", {"world.noise": xis}, quick, seed)
    cal = level0.calibrate()
    grid = np.linspace(0, 0.95, 40)
    return {"rows": rows, "xis": xis, "level0_x": grid,
            "level0": level0.predict_ood_vs_noise(grid, params=cal["values"]),
            "params": {"world": "tiny" if quick else "small", "noise_hop": "second"}}


def noise_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    rows = sorted(d["rows"], key=lambda r: r["world.noise"])
    x = [r["world.noise"] for r in rows]
    ax.plot(x, [r["test_inferred_ood"] for r in rows], "o-", label="Level 1: OOD two-hop (end)")
    ax.plot(x, [r["max_test_inferred_ood"] for r in rows], "s--", label="Level 1: OOD max")
    ax.plot(x, [r["test_inferred_iid"] for r in rows], "^-", label="Level 1: ID two-hop (end)")
    ax.plot(d["level0_x"], d["level0"], "k-", lw=1, label="Level 0 (calibrated, paper steps)")
    ax.plot([0.05, 0.8], [0.978, 0.148], "r*", ms=10, label="paper anchors (OOD @20k)")
    ax.set_xlabel("noise ratio ξ (second hop)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    ax.set_title("OOD two-hop accuracy vs noise", fontsize=10)
    return fig


def lambda_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    lams = [1.8, 3.6] if quick else [1.8, 3.6, 7.2, 12.6]
    rows = _runs(cache, "lambda", {"world.lam": lams, "model.cot": [True, False]}, quick, seed,
                 steps=600 if quick else 30_000)
    return {"rows": rows, "params": {"world": "tiny" if quick else "small"}}


def lambda_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for cot, mk in ((True, "o-"), (False, "s-")):
        rows = sorted([r for r in d["rows"] if bool(r["model.cot"]) == cot],
                      key=lambda r: r["world.lam"])
        x = [r["world.lam"] for r in rows]
        y = [r["t50_test_inferred_iid"] if r["t50_test_inferred_iid"] is not None else np.nan
             for r in rows]
        ax.plot(x, y, mk, label=("CoT" if cot else "no CoT") + ": ID two-hop t50")
    ax.set_xlabel("λ (training two-hop items per ID atomic fact)")
    ax.set_ylabel("step at which ID two-hop accuracy crosses 0.5")
    ax.legend(fontsize=8)
    ax.set_title("Transition step vs λ (missing points: never within the run)", fontsize=9)
    return fig


def stage2_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    rows = _runs(cache, "stage2", {"world.noise": [0.0, 0.2]}, quick, seed)
    return {"rows": rows, "params": {"world": "tiny" if quick else "small"}}


def stage2_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    names = ("unchanged", "h", "r1", "b", "r2")
    w = 0.38
    for i, row in enumerate(sorted(d["rows"], key=lambda r: r["world.noise"])):
        vals = [row[f"stage2_{n}"] for n in names]
        ax.bar(np.arange(len(names)) + (i - 0.5) * w, vals, w,
               label=f"ξ = {row['world.noise']}")
    ax.set_xticks(range(len(names)), ["none", "h", "r1", "b", "r2"])
    ax.set_xlabel("input replaced at random (stage 2, teacher-forced bridge)")
    ax.set_ylabel("stage-2 accuracy (ID test)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title("Stage 2 reads (b, r2): changing h or r1 does not matter", fontsize=9)
    return fig


register("cot-curves", "CoT vs no-CoT learning curves (ID/OOD two-hop, atomic) of the Level-1 "
         "model", curves_data, curves_plot, group="cot")
register("cot-noise", "OOD two-hop accuracy vs noise ξ: Level 1, Level 0, paper anchors",
         noise_data, noise_plot, group="cot")
register("cot-lambda", "ID two-hop transition step vs λ, CoT and no CoT", lambda_data,
         lambda_plot, group="cot")
register("cot-stage2", "Stage-2 dependence test: accuracy when h, r1, b or r2 is replaced",
         stage2_data, stage2_plot, group="cot")
