"""Figures of the minimal induction-head models (docs/induction_head.md):

* ``ih-data-dependence`` — Reddy's Fig. 2 for the two-parameter model (ih2-labels + mlp3), ih3 and
  the full network side by side: final IC and IW accuracy along B, K, ε and the Zipf exponent;
* ``ih-init`` — escape time over initial (β₁, α) for the two-parameter model and its one-factor
  reductions (and ih3 / ih2);
* ``ih-saddle`` — the L = N saddle of the two-parameter model;
* ``ih-vs-network`` — progress measures of the two-parameter model and the network, time
  normalised by each run's transition;
* ``ih-fit-bridge`` — one time scale fitted to the network's IC curve at reddy-fig3 predicts its
  transition step at other B and K.

Long runs live in ``<figures>/data`` (committed without checkpoints): the minimal models' sweeps
``ih-fig2-<variant>``, ``ih-init`` and the network runs of the bridge ``ih-bridge-net``.  The
network's Fig. 2 sweeps (``net-fig2-axes``, ``net-fig2-zipf``) are read, never run, from that
directory or from ``$MINIMAL_NET_DATA``; whatever exists is shown and the figure says how much.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from .registry import register

NET_DATA_ENV = "MINIMAL_NET_DATA"
AXES = (("B", "burstiness B"), ("K", "classes K"), ("eps", "within-class noise ε"),
        ("zipf_alpha", "Zipf exponent α_Z (p_B = 0.5)"))
SERIES = (("ih2-labels", "two-parameter ih2-labels", "C0", "o", "-"),
          ("ih3", "three-parameter ih3", "C1", "s", "--"),
          ("network", "full network", "k", "D", ":"))


def _where(quick, cache, data, name):
    if quick:
        return None if cache is None else Path(cache) / f"{name}-quick"
    root = data if data is not None else (None if cache is None else Path(cache).parent / "data")
    return None if root is None else Path(root) / name


def _num(text):
    if text in ("", None):
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        v = float(text)
    except ValueError:
        return text
    return int(v) if v.is_integer() and "." not in text and "e" not in text.lower() else v


def read_results(where) -> list[dict]:
    """The rows of a sweep's ``results.csv`` (numbers as numbers), [] if there is none."""
    path = Path(where) / "results.csv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return [{k: _num(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def _network_rows(data) -> tuple[list[dict], dict]:
    """Completed rows of the network's Fig. 2 sweeps with axis/value and their drift over the
    last quarter (from the run directories), and counts of what exists."""
    from ..induction_head.experiments import axis_rows, settling
    from ..runs import read_metrics
    roots = [Path(p) for p in (data, os.environ.get(NET_DATA_ENV)) if p]
    rows, info = [], {"source": None, "completed": 0, "jobs": 0}
    for root in roots:
        found = False
        for part, name in (("axes", "net-fig2-axes"), ("zipf", "net-fig2-zipf")):
            res = read_results(root / name)
            if not res:
                continue
            found = True
            info["jobs"] += len(res)
            done = [r for r in res if r.get("status") == "completed"]
            info["completed"] += len(done)
            for r in done:
                try:
                    m = read_metrics(root / name / "runs" / r["job"])
                except Exception:        # a run directory that is not there: keep the row
                    m = None
                if m is not None and len(m.get("step", [])) > 1:
                    r = {**r, **settling(m)}
                rows += axis_rows([r], part)
        if found:
            info["source"] = str(root)
            break
    return rows, info


def _completed_rows(where) -> list[dict]:
    """Completed rows of the data sweeps under ``where`` (``axes``, ``zipf``) with axis and
    value; the jobs that have not run yet are left out."""
    from ..induction_head.experiments import axis_rows
    rows = []
    for part in ("axes", "zipf"):
        rows += axis_rows([r for r in read_results(Path(where) / part)
                           if r.get("status") == "completed"], part)
    return rows


def data_dependence_data(quick: bool = False, seed: int = 0, cache=None, data=None) -> dict:
    from ..induction_head.experiments import (DATA_QUICK, DATA_STEPS, EPS_TESTED_MAX,
                                              data_dependence, data_table, ic_ceiling)
    series, done = {}, {}
    for v in ("ih2-labels", "ih3"):
        where = _where(quick, cache, data, f"ih-fig2-{v}")
        if quick or where is None:
            rows = data_dependence(v, "mlp3", seeds=range(seed, seed + (1 if quick else 3)),
                                   quick=quick, out=where, progress=False, resume=True,
                                   workers=1)
        else:        # the committed sweeps are read, never run, here (they take hours)
            rows = _completed_rows(where)
        done[v] = sum(1 for r in rows if not r.get("base_point"))
        series[v] = data_table(rows)
    net_rows, net_info = ([], {"source": None, "completed": 0, "jobs": 0}) if quick else \
        _network_rows(data if data is not None else
                      (None if cache is None else Path(cache).parent / "data"))
    series["network"] = data_table(net_rows) if net_rows else []
    eps = sorted({0.0, 0.1, 0.4, 0.8, 1.6})
    ceiling = ic_ceiling(eps, n=500 if quick else 4000, seed=seed)
    steps = {k: sorted({int(r["steps"]) for r in t if r.get("steps")}) for k, t in
             series.items()}
    return {"series": series, "ceiling": ceiling, "network": net_info, "steps": steps,
            "completed": done,
            "eps_tested_max": EPS_TESTED_MAX,
            "params": {"classifier": "mlp3", "base": "reddy-default (K=512, B=2, ε=0.1)",
                       "steps": DATA_QUICK["steps"] if quick else DATA_STEPS,
                       "seeds": 1 if quick else 3, "network": net_info}}


def data_dependence_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(14, 6.6), layout="constrained")
    axes = fig.subplots(2, 4, sharey=True)
    for col, (axis, title) in enumerate(AXES):
        xs = sorted({r["value"] for t in d["series"].values() for r in t if r["axis"] == axis})
        pos = {x: i for i, x in enumerate(xs)}
        for row, (metric, name) in enumerate((("ic_acc", "IC accuracy (novel classes)"),
                                              ("iw_acc", "IW accuracy (in-weights)"))):
            ax = axes[row, col]
            for k, (key, label, color, marker, ls) in enumerate(SERIES):
                t = [r for r in d["series"].get(key, []) if r["axis"] == axis and
                     r.get(metric) is not None]
                if not t:
                    continue
                off = (k - 1) * 0.08
                x = [pos[r["value"]] + off for r in t]
                y = [r[metric] for r in t]
                e = [r.get(f"{metric}_sd") or 0.0 for r in t]
                n = [r["n_ok"] for r in t]
                ax.errorbar(x, y, yerr=e, color=color, marker=marker, ls=ls, ms=5, capsize=3,
                            lw=1.2, label=f"{label} (n={min(n)}–{max(n)} seeds)"
                            if min(n) != max(n) else f"{label} (n={n[0]} seeds)")
            if axis == "eps" and metric == "ic_acc":
                c = [r for r in d["ceiling"] if r["eps"] in pos]
                ax.plot([pos[r["eps"]] for r in c], [r["labels_only"] for r in c], color="0.5",
                        ls="-.", lw=1, label="ideal labels-only induction head")
            if axis == "eps":
                cut = [i for x, i in pos.items() if x > d["eps_tested_max"]]
                if cut:
                    ax.axvspan(min(cut) - 0.5, max(pos.values()) + 0.5, color="0.9", zorder=0)
                    if row == 0:
                        ax.text(min(cut), 0.02, f"ε > {d['eps_tested_max']}: the task caps\n"
                                "ICL (overlap 1/(1+ε²))", fontsize=6.5, va="bottom",
                                ha="center")
            ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
            ax.set_xlim(-0.5, len(xs) - 0.5)
            ax.set_ylim(-0.02, 1.02)
            if row == 1:
                ax.set_xlabel(title)
            if col == 0:
                ax.set_ylabel(name + "\nfinal, mean ± s.d.")
            if row == 0 and col == 0:
                ax.legend(fontsize=6.5, loc="upper left")
            if axis == "eps" and metric == "ic_acc":
                ax.legend(fontsize=6.5, loc="upper right", handles=ax.get_lines()[-1:])
    st = d["steps"]
    net = d["network"]
    net_txt = ("network: not available" if not net["jobs"] else
               f"network: {net['completed']} of {net['jobs']} jobs completed, "
               f"{', '.join(f'{s:,}' for s in st.get('network', [])) or '–'} steps")
    fig.suptitle("Data dependence (Reddy Fig. 2), one axis at a time from reddy-default "
                 "(K=512, B=2, ε=0.1; Zipf at p_B = 0.5), mlp3 classifier.\nih2-labels: "
                 f"{d.get('completed', {}).get('ih2-labels', '?')} runs of "
                 f"{', '.join(f'{s:,}' for s in st.get('ih2-labels', []))} steps; ih3: "
                 f"{d.get('completed', {}).get('ih3', '?')} runs of "
                 f"{', '.join(f'{s:,}' for s in st.get('ih3', []))} steps; {net_txt}.  "
                 "Points without error bars: one seed", fontsize=9)
    return fig


# ----------------------------------------------------------------------------------------------
# the L = N saddle
# ----------------------------------------------------------------------------------------------

def saddle_data(quick: bool = False, seed: int = 0, cache=None) -> dict:
    from ..induction_head.config import HEADLINE
    from ..induction_head.experiments import fraction_table, saddle_experiment
    out = None if cache is None else cache / ("ih-saddle" + ("-quick" if quick else ""))
    rows = saddle_experiment(HEADLINE, Ns=(2, 4) if quick else (2, 4, 8),
                             seeds=range(seed, seed + (2 if quick else 6)),
                             steps=1500 if quick else 20_000, out=out, progress=False,
                             resume=True)
    return {"table": fraction_table(rows, ("task.N", "task.L")),
            "params": {"variant": HEADLINE, "classifier": "linear",
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
    ax.set_title(f"L = N saddle, {p['variant']} + {p['classifier']}, B = 1 ({p['seeds']} "
                 f"seeds, {p['steps']:,} steps)", fontsize=9)
    return fig


# ----------------------------------------------------------------------------------------------
# initialisation dependence: escape time
# ----------------------------------------------------------------------------------------------

def init_data(quick: bool = False, seed: int = 0, cache=None, data=None) -> dict:
    from ..induction_head.experiments import (INIT_LR, INIT_STEPS, INIT_VARIANTS,
                                              escape_table, init_dependence, init_verdict)
    seeds = range(seed, seed + (1 if quick else 3))
    where = _where(quick, cache, data, "ih-init")
    if quick or where is None:
        rows = init_dependence(seeds=seeds, quick=quick, out=where, progress=False,
                               resume=True, workers=1)
    else:            # the committed sweeps are read, never run, here
        rows = [{**r, "variant": v} for v in INIT_VARIANTS
                for r in read_results(Path(where) / v) if r.get("status") == "completed"]
    table = escape_table(rows)
    return {"table": table, "verdict": init_verdict(table),
            "params": {"steps": 1500 if quick else INIT_STEPS, "seeds": len(seeds),
                       "preset": "reddy-fig3",
                       "classifier": f"linear classifier (init s.d. 0.01), lr {INIT_LR:g}"}}


_INIT_TITLES = {"ih2-labels": "ih2-labels (β₁, α): two-parameter",
                "ih1-alpha": "ih1-alpha: β₁ frozen (α only)",
                "ih1-beta1": "ih1-beta1: α frozen (β₁ only)",
                "ih3": "ih3 (β₁, α, β₂)", "ih2": "ih2: ih3 with β₂ ≡ 0"}


def init_plot(d: dict):
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    t = d["table"]
    variants = [v for v in _INIT_TITLES if any(r["variant"] == v for r in t)]
    b1s = sorted({r["ih.beta1_0"] for r in t})
    als = sorted({r["ih.alpha_0"] for r in t})
    budget = d["params"]["steps"]
    fig = Figure(figsize=(3.3 * len(variants) + 1.2, 3.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(variants), sharey=True))
    norm = LogNorm(vmin=max(100, min([r["escape_min"] for r in t if r["escape_min"]] or [100])),
                   vmax=budget)
    im = None
    for ax, v in zip(axes, variants):
        M = np.full((len(b1s), len(als)), np.nan)
        txt = {}
        for r in t:
            if r["variant"] != v:
                continue
            i, j = b1s.index(r["ih.beta1_0"]), als.index(r["ih.alpha_0"])
            if r["escape_median"] is not None:
                M[i, j] = r["escape_median"]
            txt[i, j] = (f"{r['escape_median']:,.0f}" if r["escape_median"] is not None else
                         "never") + f"\n{r['n_escaped']}/{r['n']}"
        ax.imshow(np.ones_like(M), cmap="Greys", vmin=0, vmax=4, origin="lower")
        im = ax.imshow(M, cmap="viridis_r", norm=norm, origin="lower")
        for (i, j), s in txt.items():
            ax.text(j, i, s, ha="center", va="center", fontsize=7.5,
                    color="k" if np.isnan(M[i, j]) or M[i, j] > 0.3 * budget else "w")
        ax.set_xticks(range(len(als)), [f"{a:g}" for a in als])
        ax.set_yticks(range(len(b1s)), [f"{b:g}" for b in b1s])
        ax.set_xlabel("initial α")
        ax.set_title(_INIT_TITLES[v], fontsize=8.5)
    axes[0].set_ylabel("initial β₁  (w₀ = σ(β₁))")
    fig.colorbar(im, ax=list(axes), label="escape step (median over seeds)")
    held = [f"{v['reduced']}: {'holds' if v['holds'] else 'does not hold'}"
            for v in d["verdict"]]
    p = d["params"]
    fig.suptitle(f"Escape time (first step with IC accuracy ≥ midpoint of B/N and 1) on "
                 f"{p['preset']}, {p['classifier']}, {p['seeds']} seeds, budget "
                 f"{budget:,} steps; cell: median step, seeds escaped.\nInitialisation "
                 f"dependence of each reduction (it fails from some initialisations where the "
                 f"model it reduces succeeds, and succeeds from others): {'; '.join(held)}",
                 fontsize=8.5)
    return fig


# ----------------------------------------------------------------------------------------------
# progress measures beside the network
# ----------------------------------------------------------------------------------------------

def _bridge_dirs(data):
    """Network run directories for the bridge: the lead's transition sweep when it exists,
    else this figure set's own ``ih-bridge-net``."""
    if data is None:
        return []
    out = []
    for name in ("net-transition", "ih-bridge-net"):
        if (Path(data) / name / "runs").is_dir():
            out.append(Path(data) / name)
    return out


def side_by_side_data(quick: bool = False, seed: int = 0, cache=None, data=None) -> dict:
    from ..config import apply_overrides
    from ..induction_head.config import HEADLINE, IH_PRESETS
    from ..induction_head.train import train_ih
    from ..runs import Run, read_metrics
    from .net_figures import fig3_run_data, transition_step
    root = data if data is not None else (None if cache is None else Path(cache).parent /
                                          "data")
    net, source = None, "trained for this figure"
    if not quick:
        for d in _bridge_dirs(root):
            for job in sorted((d / "runs").iterdir()):
                try:
                    run = Run.open(job)
                except Exception:
                    continue
                task = run.config.get("task", {})
                if run.status == "completed" and (task.get("K"), task.get("B"), task.get("N"),
                                                  run.config.get("seeds", {}).get("seed")) \
                        == (256, 1, 8, seed):
                    net, source = read_metrics(job), str(job.relative_to(d.parent))
                    break
            if net is not None:
                break
    if net is None:
        net = fig3_run_data(quick, seed, cache)["metrics"]
    cfg = apply_overrides(IH_PRESETS.get("reddy-fig3"), {
        "ih.classifier": "mlp3",
        "train.steps": 1500 if quick else 30_000, "train.eval_every": 100 if quick else 250,
        "task.n_eval": 300 if quick else 2000, "seeds.seed": seed})
    ih = train_ih(cfg, None, progress=False).metrics
    return {"net": net, "ih": ih,
            "t_net": transition_step(net["step"], net["ic_acc"]),
            "t_ih": transition_step(ih["step"], ih["ic_acc"]),
            "params": {"preset": "reddy-fig3", "seed": seed, "ih": f"{HEADLINE} + mlp3",
                       "network_run": source}}


def side_by_side_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, title in ((axes[0], "net", "full network"),
                           (axes[1], "ih", f"minimal {d['params']['ih']}")):
        m = d[key]
        t = d["t_" + key]
        x = m["step"] / t if t else m["step"]
        for k, lab in (("ic_acc", "IC accuracy"), ("ila1", "ILA1"), ("tila2", "TILA2"),
                       ("tla2", "TLA2"), ("cla", "CLA")):
            ax.plot(x, m[k], label=lab)
        ax.set_xlabel("step / transition step" if t else "step (no transition)")
        ax.set_title(f"{title}: " + (f"transition (IC ≥ 0.5) at step {t:,}" if t else
                                     "no transition in this run"), fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        if t:
            ax.set_xlim(0, 2)
    axes[0].set_ylabel("accuracy / progress measure")
    axes[0].legend(fontsize=7)
    fig.suptitle("Progress measures of the full network and the two-parameter model, time "
                 f"normalised by each run's transition (reddy-fig3, seed {d['params']['seed']})."
                 " TLA2 ≡ 1 in ih2-labels by construction", fontsize=9.5)
    return fig


# ----------------------------------------------------------------------------------------------
# the fit bridge
# ----------------------------------------------------------------------------------------------

BRIDGE_FIT_ON = {"K": 256, "B": 1}


def bridge_data(quick: bool = False, seed: int = 0, cache=None, data=None) -> dict:
    from ..studies.ih_bridge import fit_bridge, network_curves
    root = data if data is not None else (None if cache is None else Path(cache).parent /
                                          "data")
    dirs = _bridge_dirs(root)
    # the network's Fig. 2 sweep (reddy-default settings, p_C = 0) joins as prediction targets
    for r in [root, os.environ.get(NET_DATA_ENV)]:
        if r and (Path(r) / "net-fig2-axes" / "runs").is_dir():
            dirs.append(Path(r) / "net-fig2-axes")
            break
    curves = [c for d in dirs for c in network_curves(d)]
    kw = dict(classifier="mlp3", sim_steps=4000 if quick else 20_000,
              beta1_grid=(-2.0,) if quick else (-3.0, -2.0, -1.0), seed=seed)
    if quick:
        kw["classifier"] = "linear"
    key = {"runs": sorted(c["source"] for c in curves), "fit_on": BRIDGE_FIT_ON, **{
        k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}}
    cache_file = None if root is None or quick else Path(root) / "ih-bridge.json"
    res = None
    if cache_file is not None and cache_file.exists():
        saved = json.loads(cache_file.read_text())
        if saved.get("key") == key:
            res = saved["result"]
    if res is None and curves:
        res = fit_bridge(curves, BRIDGE_FIT_ON, **kw)
        res["sims"] = [{k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v)
                        for k, v in s.items()} for s in res["sims"]]
        if cache_file is not None:
            cache_file.write_text(json.dumps({"key": key, "result": res}, indent=1))
    return {"result": res, "source": [str(d.name) for d in dirs],
            "params": {"fit_on": BRIDGE_FIT_ON, **{k: (list(v) if isinstance(v, tuple) else v)
                                                   for k, v in kw.items()},
                       "network_runs": len(curves)}}


def bridge_plot(d: dict):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    res = d["result"]
    if res is None:
        for ax in (ax1, ax2):
            ax.text(0.5, 0.5, "no completed network runs to fit", ha="center", va="center",
                    transform=ax.transAxes)
        fig.suptitle("Fit bridge: no network data", fontsize=10)
        return fig
    s = res["scale"]

    def name(row, sim):
        pc = sim["setting"].get("p_novel")
        return f"K={row['K']}, B={row['B']}, p_C={pc:g}" + (
            f" (stopped at {row['net_steps']:,})" if row.get("partial") else "")
    for i, (row, sim) in enumerate(zip(res["rows"], res["sims"])):
        col = f"C{i}"
        lab = name(row, sim) + (" (fitted)" if row["fit"] else "")
        ax1.plot(sim["net_step"], sim["net_ic"], color=col, lw=1.6, label=lab)
        ax1.plot(np.asarray(sim["sim_step"]) * s, sim["sim_ic"], color=col, ls="--", lw=1)
    ax1.set_xlabel("network training step")
    ax1.set_ylabel("IC accuracy")
    ax1.set_ylim(-0.02, 1.02)
    ax1.legend(fontsize=7, title="solid: network; dashed: minimal model × s",
               title_fontsize=7)
    meas = [r["measured"] for r in res["rows"]]
    pred = [r["predicted"] for r in res["rows"]]
    ok = [(m, p, r) for m, p, r in zip(meas, pred, res["rows"]) if m and p]
    if ok:
        lo = min(min(m, p) for m, p, _ in ok) * 0.7
        hi = max(max(m, p) for m, p, _ in ok) * 1.4
        ax2.plot([lo, hi], [lo, hi], "k:", lw=1, label="predicted = measured")
        for i, (m, p, r) in enumerate(ok):
            ax2.plot(m, p, "*" if r["fit"] else "o", ms=11 if r["fit"] else 7,
                     color=f"C{res['rows'].index(r)}",
                     label=f"{name(r, res['sims'][res['rows'].index(r)])}: ratio "
                           f"{p / m:.2f}")
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        ax2.set_xlim(lo, hi)
        ax2.set_ylim(lo, hi)
    lines = []
    for r, sim in zip(res["rows"], res["sims"]):
        if r["measured"] and r["predicted"]:
            continue
        m = (f"{r['measured']:,.0f}" if r["measured"] else
             f"none in {r['net_steps']:,} steps")
        pr = f"{r['predicted']:,.0f}" if r["predicted"] else "none (the model never learns)"
        lines.append(f"{name(r, sim)}: predicted {pr}; measured {m}")
    if lines:
        ax2.text(0.02, 0.98, "not on the plot:\n" + "\n".join(lines), transform=ax2.transAxes,
                 fontsize=6.5, va="top")
    ax2.set_xlabel("measured network transition step (IC midpoint)")
    ax2.set_ylabel("predicted = s × minimal-model transition step")
    ax2.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Fit bridge: one time scale s = {s:.3g} network steps per {res['variant']} + "
                 f"{res['classifier']} step (β₁⁰ = {res['beta1_0']:g}), fitted at K=256, B=1 "
                 f"(R² {res['r2']:.3f}), predicts the other settings", fontsize=9.5)
    return fig


register("ih-data-dependence", "Two-parameter model, ih3 and the network side by side: final IC "
         "/ IW accuracy along B, K, ε, Zipf α", data_dependence_data, data_dependence_plot,
         group="ih")
register("ih-saddle", "L = N saddle: fraction of two-parameter-model seeds that learn ICL",
         saddle_data, saddle_plot, group="ih")
register("ih-init", "Initialisation dependence: escape time of the two-parameter model and "
         "its one-factor reductions over initial (β₁, α)", init_data, init_plot, group="ih")
register("ih-vs-network", "Progress measures of the two-parameter model and the full network "
         "side by side", side_by_side_data, side_by_side_plot, group="ih")
register("ih-fit-bridge", "One fitted time scale maps the two-parameter model onto the "
         "network's IC curves across B and K", bridge_data, bridge_plot, group="ih")
