"""Figures of the two-stage CoT circuit model: Level 1 over seeds (bands: mean ± sd), with the
calibrated Level 0 and the paper's values marked separately (docs/cot.md)."""

from __future__ import annotations

import hashlib

import numpy as np

from .registry import register

#: the paper's T4 values (OOD two-hop at 20k steps, paper world, λ = 7.2)
PAPER_OOD = {0.05: 0.978, 0.8: 0.148}
PAPER_ID = {0.05: 0.990, 0.8: 0.426}
N_SEEDS = 3


def _base(world: str, quick: bool, steps: int, every: int, **model):
    from ..config import apply_overrides
    from ..cot.config import COT_PRESETS
    over = {"train.steps": steps, "train.eval_every": every}
    if quick:
        over["model.warmup_steps"] = 0
    over.update({f"model.{k}": v for k, v in model.items()})
    return apply_overrides(COT_PRESETS.get(world), over)


def _runs(cache, name, base, axes, seeds):
    """Grid × seeds through the sweep engine; the cache directory is keyed by the base config
    (a changed default writes a new directory instead of reusing stale rows)."""
    from ..config import to_json
    from ..sweeps import run_sweep
    out = None
    if cache is not None:
        tag = hashlib.sha1((to_json(base) + repr(sorted(axes.items()))).encode()).hexdigest()[:10]
        out = cache / f"cot-{name}-{tag}"
    rows = run_sweep(base, axes, list(seeds), "minimal.cot.experiments:run_keep",
                     "minimal.cot.experiments:keep_curves", out, 1, False, True,
                     kind=f"cot-{name}")
    for r in rows:
        if "model.cot" in r:
            r["model.cot"] = bool(r["model.cot"])
    return rows


def _seeds(seed):
    return list(range(seed, seed + N_SEEDS))


def _band(ax, rows, key, x="step", **kw):
    from ..cot.experiments import band
    xs, mean, sd, n = band(rows, key, x)
    line, = ax.plot(xs, mean, **kw)
    ax.fill_between(xs, mean - sd, mean + sd, color=line.get_color(), alpha=0.2, lw=0)
    return n


# ----------------------------------------------------------------------------------------------
# learning curves
# ----------------------------------------------------------------------------------------------

def curves_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    # the tiny world: the no-CoT runs of the small world cost ~150 CPU s each
    world = "tiny"
    base = _base(world, quick, 800 if quick else 8000, 50 if quick else 200)
    rows = _runs(cache, "curves", base, {"model.cot": [True, False]}, _seeds(seed))
    return {"rows": rows, "params": {"world": world, "seeds": _seeds(seed),
                                     "steps": base.train.steps,
                                     "batch": base.model.batch_size}}


def curves_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, cot in zip(axes, (True, False)):
        rows = [r for r in d["rows"] if r["model.cot"] == cot]
        for k, lab in (("id_atomic", "ID atomic"), ("ood_atomic", "OOD atomic"),
                       ("test_inferred_iid", "ID two-hop (test)"),
                       ("test_inferred_ood", "OOD two-hop (test)"),
                       ("train_inferred", "two-hop (train)")):
            n = _band(ax, rows, k, label=lab)
        from ..cot.experiments import band
        xs, a, _, _ = band(rows, "id_atomic")
        ax.plot(xs, a ** 2, "k:", lw=1, label="(mean ID atomic)² (product law)")
        ax.set_title(("CoT" if cot else "no CoT") + f" ({n} seeds, mean ± sd)", fontsize=10)
        ax.set_xlabel(f"training step (batch {d['params']['batch']})")
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("exact-match accuracy")
    axes[0].legend(fontsize=7, loc="center right")
    p = d["params"]
    fig.suptitle(f"Level 1 (two-stage associative memory), {p['world']} world, seeds "
                 f"{p['seeds'][0]}–{p['seeds'][-1]}: CoT vs no CoT", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# noise
# ----------------------------------------------------------------------------------------------

NOISE_XIS = (0.0, 0.05, 0.2, 0.4, 0.6, 0.8)
#: worlds of the full figure (every point ≥ 3 seeds).  The paper world (~10 CPU minutes per
#: 20k-step run) is not in the figure: its runs are reported separately in docs/cot.md.
NOISE_WORLDS = ("small",)


def _noise_rows(world, quick, xis, seed, cache):
    """One sweep (and one cache directory) per ξ, so that each noise level can be computed on
    its own and in any order."""
    base = _base(world, quick, 800 if quick else 20_000, 100 if quick else 2000)
    rows = []
    for xi in xis:
        rows += _runs(cache, f"noise-{world}-{xi:g}", base, {"world.noise": [xi]},
                      _seeds(seed))
    return rows


def noise_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..cot import level0
    xis = [0.05, 0.8] if quick else list(NOISE_XIS)
    worlds = ["tiny"] if quick else list(NOISE_WORLDS)
    out = {"worlds": {}, "xis": xis}
    for world in worlds:
        out["worlds"][world] = _noise_rows(world, quick, xis, seed, cache)
    cal = level0.calibrate()
    grid = np.linspace(0, 0.95, 40)
    out.update({"level0_x": grid, "level0": level0.predict_ood_vs_noise(grid,
                                                                         params=cal["values"]),
                "params": {"worlds": worlds, "seeds": _seeds(seed), "noise_hop": "second",
                           "steps": 800 if quick else 20_000}})
    return out


def noise_plot(d: dict):
    from matplotlib.figure import Figure

    from ..cot.experiments import table
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    ax, ax0 = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1.5, 1]})
    marks = {"tiny": ("o", "-"), "small": ("o", "-"), "paper": ("s", "--")}
    for world, rows in d["worlds"].items():
        tab = table(rows, "world.noise", ("test_inferred_ood", "test_inferred_iid"))
        x = np.array([t["world.noise"] for t in tab])
        mk, ls = marks[world]
        for k, lab in (("test_inferred_ood", "OOD two-hop"), ("test_inferred_iid",
                                                             "ID two-hop")):
            y = np.array([t[k] for t in tab], float)
            e = np.array([t[k + "_sd"] for t in tab], float)
            ax.errorbar(x, y, e, marker=mk, ls=ls, capsize=3,
                        label=f"Level 1, {world} world: {lab} (n={tab[0]['n']})")
    ax.plot(list(PAPER_OOD), list(PAPER_OOD.values()), "r*", ms=12, label="paper: OOD two-hop")
    ax.plot(list(PAPER_ID), list(PAPER_ID.values()), "b*", ms=12, label="paper: ID two-hop")
    ax.set_xlabel("noise ratio ξ (second hop)")
    ax.set_ylabel(f"accuracy at step {d['params']['steps']:,}")
    ax.set_ylim(-0.02, 1.05)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Level 1, measured at its defaults (no OOD value set any parameter:\n"
                 "OOD values are predictions; mean ± sd over seeds)", fontsize=9)
    ax0.plot(d["level0_x"], d["level0"], "k-", lw=1.5, label="Level 0: OOD two-hop at 20k")
    ax0.plot(list(PAPER_OOD), list(PAPER_OOD.values()), "r*", ms=12,
             label="paper anchors (Level 0 is fitted to them)")
    ax0.set_xlabel("noise ratio ξ (second hop)")
    ax0.set_title("Level 0: CALIBRATED description\n(fitted to both anchors; not a prediction)",
                  fontsize=9)
    ax0.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"ID and OOD two-hop accuracy vs second-hop noise (λ = 7.2, seeds "
                 f"{d['params']['seeds'][0]}–{d['params']['seeds'][-1]})", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# λ
# ----------------------------------------------------------------------------------------------

LAMBDAS = (1.8, 3.6, 5.4, 7.2, 9.0)


def lambda_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    # the tiny world (1,900 atomic facts, feasible λ ≤ 9.4) keeps 30 runs within minutes; the
    # number of atomic facts is the same at every λ
    lams = [1.8, 3.6] if quick else list(LAMBDAS)
    world = "tiny"
    base = _base(world, quick, 1200 if quick else 8000, 50 if quick else 250)
    rows = _runs(cache, "lambda", base, {"world.lam": lams, "model.cot": [True, False]},
                 _seeds(seed))
    return {"rows": rows, "params": {"world": world, "seeds": _seeds(seed),
                                     "steps": base.train.steps}}


def lambda_plot(d: dict):
    from matplotlib.figure import Figure

    from ..cot.experiments import table
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    keys = (("t50_test_inferred_iid", "ID two-hop (test)", "-"),
            ("t50_train_inferred", "two-hop (train, memorised)", ":"),
            ("t50_id_atomic", "ID atomic", "--"))
    for ax, unit in zip(axes, ("steps", "epochs")):
        for cot, mk in ((True, "o"), (False, "s")):
            rows = [r for r in d["rows"] if r["model.cot"] == cot]
            for k, lab, ls in keys:
                kk = k if unit == "steps" else k.replace("t50_", "t50ep_")
                tab = table(rows, "world.lam", (kk,))
                x = np.array([t["world.lam"] for t in tab])
                y = np.array([np.nan if t[kk] is None else t[kk] for t in tab], float)
                e = np.array([0.0 if t[kk + "_sd"] is None else t[kk + "_sd"] for t in tab])
                miss = sum(t[kk + "_missing"] for t in tab)
                ax.errorbar(x, y, e, marker=mk, ls=ls, capsize=3,
                            label=f"{'CoT' if cot else 'no CoT'}: {lab}"
                                  + (f" ({miss} runs never)" if miss else ""))
        ax.set_xlabel("λ (training two-hop items per ID atomic fact)")
        ax.set_ylabel(f"first evaluation with accuracy ≥ 0.5 ({unit})")
        ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    p = d["params"]
    fig.suptitle(f"Level 1, {p['world']} world (fixed atomic facts), mean ± sd over seeds "
                 f"{p['seeds'][0]}–{p['seeds'][-1]}: transition vs λ", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# stage 2
# ----------------------------------------------------------------------------------------------

def stage2_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    # the ξ = 0 and 0.2 runs of the noise figure (same configs, same cache)
    world = "tiny" if quick else "small"
    xis = [0.05, 0.8] if quick else list(NOISE_XIS)
    keep = (0.05, 0.8) if quick else (0.0, 0.2)
    rows = [r for r in _noise_rows(world, quick, xis, seed, cache)
            if float(r["world.noise"]) in keep]
    return {"rows": rows, "params": {"world": world, "seeds": _seeds(seed)}}


def stage2_plot(d: dict):
    from matplotlib.figure import Figure

    from ..cot.experiments import table
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    names = ("unchanged", "h", "r1", "b", "r2")
    tab = table(d["rows"], "world.noise", [f"stage2_{n}" for n in names])
    w = 0.38
    for i, t in enumerate(tab):
        vals = [t[f"stage2_{n}"] for n in names]
        err = [t[f"stage2_{n}_sd"] for n in names]
        ax.bar(np.arange(len(names)) + (i - 0.5) * w, vals, w, yerr=err, capsize=3,
               label=f"ξ = {t['world.noise']} (n={t['n']})")
    ax.set_xticks(range(len(names)), ["none", "h", "r1", "b", "r2"])
    ax.set_xlabel("input replaced at random (stage 2, teacher-forced bridge)")
    ax.set_ylabel("stage-2 accuracy (ID test queries)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(f"Stage 2 reads (b, r2): Level 1, {d['params']['world']} world, mean ± sd",
                 fontsize=9)
    return fig


register("cot-curves", "CoT vs no-CoT learning curves of Level 1 (≥ 3 seeds, bands)",
         curves_data, curves_plot, group="cot")
register("cot-noise", "ID/OOD two-hop accuracy vs noise ξ: Level 1 measured (≥ 3 seeds), "
         "Level 0 calibrated (separate panel), paper values", noise_data, noise_plot,
         group="cot")
register("cot-lambda", "Transition steps/epochs vs λ, CoT and no CoT (≥ 3 seeds)",
         lambda_data, lambda_plot, group="cot")
register("cot-stage2", "Stage-2 dependence test: accuracy when h, r1, b or r2 is replaced "
         "(≥ 3 seeds)", stage2_data, stage2_plot, group="cot")
