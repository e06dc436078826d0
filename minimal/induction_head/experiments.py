"""Experiments with the minimal induction-head models (library functions; each is also a CLI
command and a registered figure).

* :func:`data_dependence` — final IC and IW accuracy along B, K, ε and Zipf α_Z (p_B = 0.5);
* :func:`saddle_experiment` — for N ∈ {2, 4, 8} and L ∈ {N, 2N, 4N}: the fraction of seeds that
  learn ICL within a step budget (the L = N saddle);
* :func:`init_dependence` — fraction of initialisations that learn, ih2 against ih3.

A run "learns ICL" when its final IC accuracy exceeds the midpoint between picking a random
context label (B/N) and perfect accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import apply_overrides
from ..training.config import TrainConfig
from ..sweeps import run_sweep
from ..tasks.config import TASK_PRESETS
from .config import IHConfig, IHRunConfig

RUNNER = "minimal.induction_head.train:train_ih"
SUMMARY = "minimal.sweeps:final_summary"

DATA_AXES = {
    "task.B": [0, 1, 2, 4],
    "task.K": [128, 512, 2048],
    "task.eps": [0.0, 0.1, 0.4, 1.6],
    "task.zipf_alpha": [0.0, 1.0, 1.5],
}
DATA_AXES_QUICK = {"task.B": [0, 2], "task.K": [128, 2048]}


def _base(task_preset, variant, classifier, steps, n_eval, **ih_kw) -> IHRunConfig:
    return IHRunConfig(task=apply_overrides(TASK_PRESETS.get(task_preset),
                                            {"n_eval": n_eval}),
                       ih=IHConfig(variant=variant, classifier=classifier, **ih_kw),
                       train=TrainConfig(steps=steps, eval_every=max(1, steps // 10)))


def _sub(out, name):
    return None if out is None else Path(out) / name


def data_dependence(variant: str = "ih3", classifier: str = "mlp3", seeds=(0, 1),
                    steps: int = 20_000, quick: bool = False, out=None, workers=None,
                    progress: bool = True, resume: bool = False, scheduler: str | None = None
                    ) -> list[dict]:
    """One-dimensional sweeps around reddy-default (K=512, B=2, p_C=0); the Zipf sweep uses
    p_B = 0.5 (with p_B = 1 the training data do not depend on α_Z)."""
    axes = DATA_AXES_QUICK if quick else DATA_AXES
    rows = []
    for axis, values in axes.items():
        base = _base("reddy-default", variant, classifier, steps, 1000 if quick else 2000)
        if axis == "task.zipf_alpha":
            base = apply_overrides(base, {"task.p_bursty": 0.5})
        res = run_sweep(base, {axis: values}, seeds, RUNNER, SUMMARY,
                        _sub(out, axis.split(".")[1]), workers, progress, resume,
                        kind="ih-data-dependence", scheduler=scheduler)
        for r in res:
            r["axis"] = axis.split(".")[1]
            r["value"] = r.get(axis)
        rows += res
    return rows


def saddle_experiment(variant: str = "ih2-labels", Ns=(2, 4, 8), L_mults=(1, 2, 4),
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


def init_dependence(variants=("ih2", "ih3"), beta1s=(-4.0, -2.0, 0.0),
                    alphas=(-1.0, 0.0, 1.0), seeds=range(3), steps: int = 20_000,
                    classifier: str = "linear", out=None, workers=None,
                    progress: bool = True, resume: bool = False,
                    quick: bool = False, scheduler: str | None = None) -> list[dict]:
    """Grid of initial (β₁, α) × classifier seeds (small random classifier init), per variant.
    ``quick``: β₁ ∈ {−4, 0} and α = 0 only."""
    if quick:
        beta1s, alphas = (beta1s[0], beta1s[-1]), (0.0,)
    rows = []
    for v in variants:
        base = _base("reddy-fig3", v, classifier, steps, 1000, linear_init_std=0.01)
        res = run_sweep(base, {"ih.beta1_0": list(beta1s), "ih.alpha_0": list(alphas)},
                        list(seeds), RUNNER, SUMMARY, _sub(out, v), workers, progress, resume,
                        kind="ih-init", scheduler=scheduler)
        for r in res:
            r["variant"] = v
        rows += res
    return rows


def fraction_table(rows: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """Group rows by ``keys``: seeds run, how many completed, the fraction that learned ICL, mean
    and s.d. of the final IC/IW accuracy, collapsed runs counted apart (never averaged in)."""
    from ..sweeps import sort_rows
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
