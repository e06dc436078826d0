"""Setting Level 1's rates from ID and training observables only (docs/cot.md, "Calibration").

The paper's two noise rows (its T4 table, see docs/cot.md; λ = 7.2, paper world, steps at batch
512) hold ID, training and OOD numbers.  Level 1 is set from the ID and training ones (:data:`ID_TARGETS`);
the OOD ones (:data:`OOD_REFERENCE`) and every intermediate ξ are *predictions*, compared with
the paper afterwards and never used to choose a parameter.  :data:`SETS` records which
observable sets which parameter.

:func:`observables` reduces a run's metrics to the T4 quantities, :func:`id_mismatch` scores a
pair of runs (ξ = 0.05 and 0.8) against the ID targets only, and :func:`scan` runs a grid of
candidate rates on both noise levels through the sweep engine and ranks them.
"""

from __future__ import annotations

import math

import numpy as np

from .experiments import t50, value_at

#: the two noise levels of the paper's T4 rows
XIS = (0.05, 0.8)

#: ID and training observables of the T4 rows — the only numbers Level 1 is set from
ID_TARGETS = {
    0.05: {"t50_id_atomic": 1900.0, "peak_test_inferred_iid": 0.999,
           "peak_step_test_inferred_iid": 4000.0, "test_inferred_iid@20k": 0.990,
           "train_inferred@20k": 0.993},
    0.8: {"t50_id_atomic": 2600.0, "peak_test_inferred_iid": 0.983,
          "peak_step_test_inferred_iid": 6000.0, "test_inferred_iid@20k": 0.426,
          "train_inferred@20k": 0.973},
}

#: OOD observables of the same rows: predictions to compare with, never fitted
OOD_REFERENCE = {
    0.05: {"test_inferred_ood@20k": 0.978, "max_test_inferred_ood": 0.978,
           "t50_ood_atomic": 5300.0},
    0.8: {"test_inferred_ood@20k": 0.148, "max_test_inferred_ood": 0.163,
          "t50_ood_atomic": 9600.0},
}

#: which parameter is set by which observable (the rest keep their a-priori values)
SETS = {
    "lr": "t50 of ID atomic accuracy at ξ = 0.05 (1.9k steps)",
    "gate_lr": "the shift of the ID atomic t50 from ξ = 0.05 to 0.8 (1.9k → 2.6k) and the ID "
               "two-hop peak step (4k)",
    "s2_lr_scale": "train_inferred at 20k (0.993, 0.973: the noisy items are memorised) and the "
                   "ID two-hop decline at ξ = 0.8 (0.426 at 20k)",
}

#: relative weight of each observable in the mismatch (timings on a log scale)
_WEIGHTS = {"t50_id_atomic": 1.0, "peak_test_inferred_iid": 1.0,
            "peak_step_test_inferred_iid": 0.5, "test_inferred_iid@20k": 1.0,
            "train_inferred@20k": 1.0}


def observables(metrics, at: int = 20_000) -> dict:
    """The T4 quantities of one run (its metrics must hold the step ``at``)."""
    s = np.asarray(metrics["step"], float)
    iid = np.asarray(metrics["test_inferred_iid"], float)
    out = {"t50_id_atomic": t50(s, metrics["id_atomic"]),
           "t50_ood_atomic": t50(s, metrics["ood_atomic"]),
           "peak_test_inferred_iid": float(iid.max()),
           "peak_step_test_inferred_iid": float(s[int(np.argmax(iid))]),
           "max_test_inferred_ood": float(np.max(metrics["test_inferred_ood"]))}
    for k in ("test_inferred_iid", "train_inferred", "test_inferred_ood"):
        out[f"{k}@20k"] = value_at(metrics, k, at)
    return out


def id_mismatch(obs_by_xi: dict) -> float:
    """Weighted squared mismatch of the ID targets (timings as log-ratios); never reads an OOD
    quantity.  ``obs_by_xi``: {ξ: observables}.  A t50 that never happened counts as 1."""
    tot = 0.0
    for xi, targets in ID_TARGETS.items():
        obs = obs_by_xi[xi]
        for k, target in targets.items():
            v = obs.get(k)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                d = 1.0
            elif k.startswith(("t50", "peak_step")):
                d = math.log(v / target) if v > 0 else 1.0
            else:
                d = v - target
            tot += _WEIGHTS[k] * d * d
    return tot


def ood_comparison(obs_by_xi: dict) -> list[dict]:
    """Predicted OOD quantities beside the paper's (for the report; not a fit)."""
    rows = []
    for xi, ref in OOD_REFERENCE.items():
        for k, v in ref.items():
            rows.append({"xi": xi, "quantity": k, "paper": v,
                         "level1": obs_by_xi.get(xi, {}).get(k)})
    return rows


def summarise(metrics, cfg) -> dict:
    """Sweep summary: the T4 observables of a run."""
    return observables(metrics, at=min(20_000, int(np.asarray(metrics["step"])[-1])))


def scan(base, grid: dict, seeds=(0,), out=None, workers=None, progress=True) -> list[dict]:
    """Run every point of ``grid`` (dotted model fields → values) at ξ = 0.05 and 0.8 and rank
    the points by :func:`id_mismatch` (ascending).  Returns one dict per point: the values,
    the mismatch, the ID observables and, separately, the OOD predictions."""
    from ..sweeps import run_sweep
    axes = dict(grid)
    axes["world.noise"] = list(XIS)
    rows = run_sweep(base, axes, list(seeds), "minimal.cot.train:train_cot",
                     "minimal.cot.calibration:summarise", out, workers, progress, True,
                     kind="cot-calibration")
    names = list(grid)
    points = {}
    for r in rows:
        key = tuple(r[n] for n in names)
        points.setdefault(key, {}).setdefault(float(r["world.noise"]), []).append(r)
    ranked = []
    for key, by_xi in points.items():
        obs = {xi: _mean_obs(rs) for xi, rs in by_xi.items()}
        if set(obs) != set(XIS):
            continue
        ranked.append({**dict(zip(names, key)), "id_mismatch": id_mismatch(obs),
                       "observables": obs})
    ranked.sort(key=lambda d: d["id_mismatch"])
    return ranked


def _mean_obs(rows) -> dict:
    out = {}
    for k in rows[0]:
        vals = [r[k] for r in rows]
        try:
            arr = np.array([np.nan if v in (None, "") else float(v) for v in vals])
        except (TypeError, ValueError):
            continue
        out[k] = float(np.nanmean(arr)) if np.isfinite(arr).any() else None
    return out
