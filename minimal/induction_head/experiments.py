"""Experiments with the minimal induction-head models (library functions; each is also a CLI
command and feeds a registered figure).  See docs/induction_head.md.

* :func:`data_dependence` — Reddy's Fig. 2 for a minimal model: final IC and IW accuracy along
  B, K and ε one axis at a time around reddy-default (the B = 2 base point stands for K = 512 and
  ε = 0.1), and along the Zipf exponent at p_B = 0.5; through the sweep engine
  (:func:`data_sweeps`), each run long enough for its final accuracies to settle
  (:func:`settle_summary` records the drift over the last quarter of training);
* :func:`ic_ceiling` — the IC accuracy an ideal induction head can reach at each ε: the
  same-class overlap shrinks as 1/(1 + ε²) towards the other-class noise, so at large ε the task
  itself caps ICL;
* :func:`saddle_experiment` — for N ∈ {2, 4, 8} and L ∈ {N, 2N, 4N}: the fraction of seeds that
  learn ICL within a step budget (the L = N saddle);
* :func:`init_dependence` — escape time (the first evaluated step at which IC accuracy reaches
  the learning level) over a grid of initial (β₁, α), for the two-parameter model and the
  reductions that remove one more factor (:func:`escape_table`, :func:`init_verdict`).

A run "learns ICL" when its IC accuracy reaches the midpoint between picking a random context
label (B/N) and perfect accuracy.
"""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import numpy as np

from ..config import apply_overrides
from ..sweeps import aggregate, final_summary, make_sweep, run_sweep, sort_rows
from ..tasks.config import TASK_PRESETS
from ..training.config import TrainConfig
from .config import HEADLINE, IHConfig, IHRunConfig

RUNNER = "minimal.induction_head.train:train_ih"
SUMMARY = "minimal.sweeps:final_summary"
SETTLE_SUMMARY = "minimal.induction_head.experiments:settle_summary"

#: one-at-a-time axes around reddy-default (K = 512, B = 2, ε = 0.1, p_B = 1, p_C = 0)
DATA_GRID = {"task.B": [0, 1, 2, 4], "task.K": [128, 2048], "task.eps": [0.0, 0.4, 0.8, 1.6]}
#: the Zipf axis, at p_B = 0.5 (with p_B = 1 the training data do not depend on α_Z)
ZIPF_GRID = {"task.zipf_alpha": [0.0, 1.0, 1.5]}
#: reddy-default's values of the axes: the B = 2 jobs stand for K = 512 and ε = 0.1
BASE_POINT = {"task.B": 2, "task.K": 512, "task.eps": 0.1}
#: steps of the data-dependence runs (final accuracies settle well before: docs)
DATA_STEPS = 30_000
DATA_SEEDS = 3
DATA_QUICK = {"grid": {"task.B": [0, 2], "task.K": [2048]},
              "zipf": {"task.zipf_alpha": [0.0, 1.5]}, "steps": 600, "n_eval": 300}
#: largest ε at which an ideal induction head is still (nearly) perfect on IC (ic_ceiling)
EPS_TESTED_MAX = 0.8

#: the two-parameter model and the reductions compared in the initialisation experiment
INIT_VARIANTS = ("ih2-labels", "ih1-alpha", "ih1-beta1", "ih3", "ih2")
#: which model each reduction removes a factor from (ih2-labels is ih3 with the label bias β₂
#: pinned at +∞: its target attends to labels only)
REDUCES = {"ih1-alpha": "ih2-labels", "ih1-beta1": "ih2-labels", "ih2-labels": "ih3",
           "ih2": "ih3"}


def _base(task_preset, variant, classifier, steps, n_eval, eval_every=None,
          **ih_kw) -> IHRunConfig:
    return IHRunConfig(task=apply_overrides(TASK_PRESETS.get(task_preset),
                                            {"n_eval": n_eval}),
                       ih=IHConfig(variant=variant, classifier=classifier, **ih_kw),
                       train=TrainConfig(steps=steps,
                                         eval_every=eval_every or max(1, steps // 10)))


def _sub(out, name):
    return None if out is None else Path(out) / name


def _interrupted(res, out):
    from .._signals import Interrupted
    if res.status == "interrupted":
        raise Interrupted(res.signal or signal.SIGINT,
                          f"sweep interrupted; continue with resume ({out})")


# ----------------------------------------------------------------------------------------------
# data dependence
# ----------------------------------------------------------------------------------------------

def settling(metrics: dict) -> dict:
    """IC and IW accuracy at three quarters of a run (``ic_acc_q3``, ``iw_acc_q3``, at step
    ``q3_step``) and ``drift``, the larger of their changes over the last quarter."""
    steps = np.asarray(metrics.get("step", []), float)
    if steps.size < 2:
        return {}
    i = int(np.flatnonzero(steps <= 0.75 * steps[-1])[-1])
    out, drift = {"q3_step": int(steps[i])}, 0.0
    for k in ("ic_acc", "iw_acc"):
        v = np.asarray(metrics.get(k, []), float)
        if v.size == steps.size:
            out[f"{k}_q3"] = float(v[i])
            drift = max(drift, abs(float(v[-1]) - float(v[i])))
    out["drift"] = drift
    return out


def settle_summary(metrics: dict, cfg, manifest: dict | None = None) -> dict:
    """:func:`minimal.sweeps.final_summary` plus :func:`settling`: how settled the final
    accuracies are."""
    return {**final_summary(metrics, cfg, manifest), **settling(metrics)}


def data_sweeps(variant: str = HEADLINE, classifier: str = "mlp3", steps: int = DATA_STEPS,
                seeds=range(DATA_SEEDS), quick: bool = False) -> dict:
    """The two sweeps of the data-dependence experiment, ``{"axes": Sweep, "zipf": Sweep}``:
    B, K, ε one at a time around reddy-default, and the Zipf exponent at p_B = 0.5.  ``quick``:
    two or three short jobs per sweep."""
    n_eval = 4000
    grid, zipf = DATA_GRID, ZIPF_GRID
    if quick:
        steps, n_eval = DATA_QUICK["steps"], DATA_QUICK["n_eval"]
        grid, zipf = DATA_QUICK["grid"], DATA_QUICK["zipf"]
    common = [("ih.variant", variant), ("ih.classifier", classifier), ("train.steps", steps),
              ("train.eval_every", max(1, steps // 20)), ("task.n_eval", n_eval)]
    out = {"axes": make_sweep("ih", "reddy-default", common, grid, seeds, one_at_a_time=True),
           "zipf": make_sweep("ih", "reddy-default", common + [("task.p_bursty", 0.5)], zipf,
                              seeds, one_at_a_time=True)}
    return {k: dataclasses.replace(s, summarise=SETTLE_SUMMARY) for k, s in out.items()}


def collect_table(sweep, out, write: bool = True) -> list[dict]:
    """Rows of a sweep's finished runs under ``out/runs`` (``status`` completed, with their
    sweep summary) and ``pending`` rows for the rest, without running anything; written to
    ``out/results.csv`` when ``write``.  A sweep resumed on a subset of its grid writes a
    table of that subset only: this rebuilds the table of the whole grid."""
    from ..runs import MANIFEST, Run
    from ..sweeps import expand, job_id, write_table
    out = Path(out)
    axis_cols = [p for n in sweep.axes for p in n.split(",")]
    rows = []
    for desc, _cfg in expand(sweep.base, sweep.axes, sweep.seeds, sweep.one_at_a_time):
        jid = job_id(desc)
        m = None
        if (out / "runs" / jid / MANIFEST).exists():
            m = Run.open(out / "runs" / jid).manifest
        if m is not None and m.get("status") == "completed" and "sweep_summary" in m:
            rows.append({"job": jid, **desc, **m["sweep_summary"], "status": "completed",
                         "seconds": m.get("timings", {}).get("total_s")})
        else:
            rows.append({"job": jid, **desc, "status": "pending"})
    rows = sort_rows(rows, axis_cols + ["seed"])
    if write and out.is_dir():
        write_table(rows, out, axis_cols)
    return rows


def axis_rows(rows: list[dict], part: str) -> list[dict]:
    """Rows of one data sweep labelled with ``axis`` (B, K, eps, zipf_alpha) and ``value``; the
    base point of the axes sweep (B = 2) is repeated as K = 512 and ε = 0.1."""
    out = []
    for r in rows:
        if part == "zipf":
            if r.get("task.zipf_alpha") is not None:
                out.append({**r, "axis": "zipf_alpha", "value": r["task.zipf_alpha"]})
            continue
        for key in DATA_GRID:
            v = r.get(key)
            if v is None or v == "":
                continue
            out.append({**r, "axis": key.split(".")[1], "value": v})
            if key == "task.B" and v == BASE_POINT["task.B"]:
                for other in ("task.K", "task.eps"):
                    out.append({**r, "axis": other.split(".")[1], "value": BASE_POINT[other],
                                "base_point": True})
    return out


def data_dependence(variant: str = HEADLINE, classifier: str = "mlp3",
                    seeds=range(DATA_SEEDS), steps: int = DATA_STEPS, quick: bool = False,
                    out=None, workers=None, progress: bool = True, resume: bool = False,
                    scheduler: str | None = None) -> list[dict]:
    """Run (or resume, or read) the data-dependence sweeps of ``variant`` into ``out/axes``
    and ``out/zipf``; returns rows with ``axis`` and ``value`` (see :func:`axis_rows`)."""
    rows = []
    for part, sw in data_sweeps(variant, classifier, steps, seeds, quick).items():
        where = _sub(out, part)
        res = sw.run(where, workers=workers, progress=progress, scheduler=scheduler,
                     resume=resume and where is not None and (where / "run.json").exists())
        _interrupted(res, where)
        rows += axis_rows(res.rows, part)
    for r in rows:
        r.setdefault("variant", variant)
    return rows


AXIS_ORDER = ("B", "K", "eps", "zipf_alpha")


def data_table(rows: list[dict]) -> list[dict]:
    """Per (axis, value): jobs, completed, collapsed, mean and s.d. of the final IC and IW
    accuracy and of the drift over the last quarter, and the steps trained."""
    t = aggregate(rows, ("axis", "value"), ("ic_acc", "iw_acc", "drift", "steps"))
    for r in t:
        r["axis_rank"] = AXIS_ORDER.index(r["axis"]) if r["axis"] in AXIS_ORDER else 99
    t = sort_rows(t, ("axis_rank", "value"))
    for r in t:
        r.pop("axis_rank")
    return t


def ic_ceiling(eps_values=(0.0, 0.1, 0.4, 0.8, 1.6), preset: str = "reddy-default",
               n: int = 4000, seed: int = 0, alphas=(1, 2, 4, 8, 16, 32, 64, 256)) -> list[dict]:
    """IC accuracy of ideal induction heads on each ε's IC set (float64):

    * ``hard`` — copy the label of the context item with the largest overlap x_q·x_j;
    * ``labels_only`` — the best, over the attention scale α, of a labels-only head with a
      perfect layer 1 (w = 1, so the logits α x_q·(ℓ_j + x_j) include the x_q·ℓ_j noise) read
      by a perfect classifier (the label with the largest attention mass);

    and the mean (s.d.) overlap of the target with same-class and other-class items."""
    from ..config import Seeds
    from ..tasks.icl import ICLTask
    out = []
    for eps in eps_values:
        cfg = apply_overrides(TASK_PRESETS.get(preset), {"eps": float(eps), "n_eval": n})
        b = ICLTask(cfg, Seeds(seed=seed), warn=False).eval_set("ic")
        C = np.asarray(b.content, np.float64)
        N, L = cfg.N, cfg.L
        xq, x, lab = C[:, -1], C[:, 0:2 * N:2], C[:, 1:2 * N:2]
        ox = np.einsum("bd,bjd->bj", xq, x)
        ol = np.einsum("bd,bjd->bj", xq, lab)
        labs = b.label_ids[:, :N].astype(np.int64)
        y = b.target.astype(np.int64)
        rows = np.arange(len(y))
        hard = float((labs[rows, ox.argmax(1)] == y).mean())
        best = 0.0
        for a in alphas:
            s = a * (ox + ol)
            s -= s.max(1, keepdims=True)
            p = np.exp(s)
            votes = np.zeros((len(y), L))
            np.add.at(votes, (np.repeat(rows, N), labs.ravel()), p.ravel())
            best = max(best, float((votes.argmax(1) == y).mean()))
        same = b.class_ids[:, :N] == b.class_ids[:, N:N + 1]
        out.append({"eps": float(eps), "overlap_1/(1+eps^2)": 1.0 / (1.0 + eps * eps),
                    "same_mean": float(ox[same].mean()), "same_sd": float(ox[same].std()),
                    "other_sd": float(ox[~same].std()), "hard": hard, "labels_only": best,
                    "n": int(len(y))})
    return out


# ----------------------------------------------------------------------------------------------
# the L = N saddle
# ----------------------------------------------------------------------------------------------

def saddle_experiment(variant: str = HEADLINE, Ns=(2, 4, 8), L_mults=(1, 2, 4),
                      seeds=range(6), steps: int = 20_000, classifier: str = "linear",
                      out=None, workers=None, progress: bool = True,
                      resume: bool = False, quick: bool = False,
                      scheduler: str | None = None) -> list[dict]:
    """B = 1, K = 256, p_C = 0.8 (fast ICL when L > N); L ∈ {N, 2N, 4N}.  ``quick``: N ∈
    {2, 4} and L ∈ {N, 2N} only."""
    if quick:
        Ns = [n for n in Ns if n <= 4] or list(Ns)[:1]
        L_mults = tuple(L_mults)[:2]
    pairs = [(N, m * N) for N in Ns for m in L_mults]
    base = _base("reddy-fig3", variant, classifier, steps, 1000)
    return run_sweep(base, {"task.N,task.L": pairs}, list(seeds), RUNNER, SUMMARY, out,
                     workers, progress, resume, kind="ih-saddle", scheduler=scheduler)


# ----------------------------------------------------------------------------------------------
# initialisation dependence
# ----------------------------------------------------------------------------------------------

INIT_BETA1S = (-4.0, -2.0, 0.0)
INIT_ALPHAS = (-1.0, 0.0, 1.0)
INIT_STEPS = 15_000
INIT_EVAL_EVERY = 250
#: learning rate of both parameter groups in the initialisation experiment (×3 the default:
#: every escape time scales as 1/η, so the budget reaches the slowest corner of the grid)
INIT_LR = 0.1


def init_grid(variant: str, beta1s=INIT_BETA1S, alphas=INIT_ALPHAS, seeds=range(3),
              steps: int = INIT_STEPS, classifier: str = "linear"):
    """The grid of one variant's initialisation sweep (``base``, ``axes``, ``seeds``,
    ``one_at_a_time``), as :func:`init_dependence` runs it and :func:`collect_table` reads it."""
    from types import SimpleNamespace
    base = _base("reddy-fig3", variant, classifier, steps, 1000,
                 eval_every=min(INIT_EVAL_EVERY, steps), linear_init_std=0.01,
                 lr_attn=INIT_LR, lr_clf=INIT_LR)
    return SimpleNamespace(base=base, axes={"ih.beta1_0": list(beta1s),
                                            "ih.alpha_0": list(alphas)},
                           seeds=list(seeds), one_at_a_time=False)


def init_dependence(variants=INIT_VARIANTS, beta1s=INIT_BETA1S, alphas=INIT_ALPHAS,
                    seeds=range(3), steps: int = INIT_STEPS, classifier: str = "linear",
                    out=None, workers=None, progress: bool = True, resume: bool = False,
                    quick: bool = False, scheduler: str | None = None) -> list[dict]:
    """Grid of initial (β₁, α) × classifier seeds (small random linear classifier, std 0.01)
    on reddy-fig3, per variant, learning rate :data:`INIT_LR` for both groups, evaluated every
    250 steps so that the escape time ``t_icl`` is resolved.  ``quick``: β₁ ∈ {−4, 0},
    α ∈ {−1, 1}, 1,500 steps."""
    if quick:
        beta1s, alphas = (beta1s[0], beta1s[-1]), (alphas[0], alphas[-1])
        steps = min(steps, 1500)
    rows = []
    for v in variants:
        g = init_grid(v, beta1s, alphas, seeds, steps, classifier)
        res = run_sweep(g.base, g.axes, g.seeds, RUNNER, SUMMARY, _sub(out, v), workers,
                        progress,
                        resume and out is not None and (Path(out) / v / "run.json").exists(),
                        kind="ih-init", scheduler=scheduler)
        for r in res:
            r["variant"] = v
        rows += res
    return rows


def escape_table(rows: list[dict]) -> list[dict]:
    """Per (variant, β₁⁰, α₀): seeds run, how many escaped (learned ICL) within the budget,
    median / min / max escape step over those that did, and the mean final IC accuracy."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["variant"], r["ih.beta1_0"], r["ih.alpha_0"]), []).append(r)
    out = []
    for (v, b, a), rs in groups.items():
        ok = [r for r in rs if r.get("status") == "completed"]
        t = [r["t_icl"] for r in ok if r.get("learned_icl") and r.get("t_icl") is not None]
        budget = max((int(r.get("steps") or 0) for r in ok), default=0)
        out.append({"variant": v, "ih.beta1_0": b, "ih.alpha_0": a, "n": len(rs),
                    "n_escaped": len(t), "budget": budget,
                    "escape_median": float(np.median(t)) if t else None,
                    "escape_min": min(t) if t else None, "escape_max": max(t) if t else None,
                    "ic_acc": float(np.mean([r["ic_acc"] for r in ok])) if ok else None})
    rank = {v: i for i, v in enumerate(INIT_VARIANTS)}
    for r in out:
        r["_rank"] = rank.get(r["variant"], 99)
    out = sort_rows(out, ("_rank", "ih.beta1_0", "ih.alpha_0"))
    for r in out:
        r.pop("_rank")
    return out


def init_verdict(table: list[dict]) -> list[dict]:
    """For each reduction in :data:`REDUCES` (reduced model → the model it reduces): the
    initialisations from which every seed of the reduced model escaped (``succeed``), those
    from which none did although every seed of the parent did (``fail``), those from which
    the parent itself failed (``parent_fails``) and the rest (``mixed``).  The paper's
    "removing a factor makes learning success depend on the initialisation" holds for a
    reduction when it has both a ``succeed`` and a ``fail`` initialisation in the same budget."""
    by = {(r["variant"], r["ih.beta1_0"], r["ih.alpha_0"]): r for r in table}
    out = []
    for red, parent in REDUCES.items():
        cells = [r for r in table if r["variant"] == red]
        if not cells or not any(r["variant"] == parent for r in table):
            continue
        succ, fail, pfail, mixed = [], [], [], []
        for r in cells:
            init = (r["ih.beta1_0"], r["ih.alpha_0"])
            p = by.get((parent, *init))
            parent_ok = p is not None and p["n_escaped"] == p["n"]
            if r["n_escaped"] == r["n"]:
                succ.append(init)
            elif r["n_escaped"] == 0 and parent_ok:
                fail.append(init)
            elif p is not None and p["n_escaped"] == 0:
                pfail.append(init)
            else:
                mixed.append(init)
        out.append({"reduced": red, "parent": parent, "inits": len(cells), "succeed": succ,
                    "fail": fail, "parent_fails": pfail, "mixed": mixed,
                    "holds": bool(succ and fail)})
    return out


def fraction_table(rows: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """Group rows by ``keys``: seeds run, how many completed, the fraction that learned ICL, mean
    and s.d. of the final IC/IW accuracy, collapsed runs counted apart (never averaged in)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    out = []
    for k, rs in groups.items():
        ok = [r for r in rs if r.get("status") == "completed" and not r.get("collapsed")]
        learned = [bool(r["learned_icl"]) for r in ok]
        ic = [r["ic_acc"] for r in ok]
        iw = [r["iw_acc"] for r in ok]
        out.append({**dict(zip(keys, k)), "n": len(rs), "n_ok": len(ok),
                    "collapsed": sum(bool(r.get("collapsed")) for r in rs),
                    "frac_learned": float(np.mean(learned)) if ok else float("nan"),
                    "ic_acc": float(np.mean(ic)) if ok else float("nan"),
                    "ic_sd": float(np.std(ic, ddof=1)) if len(ok) > 1 else float("nan"),
                    "iw_acc": float(np.mean(iw)) if ok else float("nan"),
                    "iw_sd": float(np.std(iw, ddof=1)) if len(ok) > 1 else float("nan")})
    return sort_rows(out, keys)
