"""CoT experiment helpers shared by the CLI, sweeps and figures: transition steps, run
summaries, and the sweep runner that keeps curves and the stage-2 test (docs/cot.md)."""

from __future__ import annotations

import json

import numpy as np

from .train import train_cot

ACCURACIES = ("id_atomic", "ood_atomic", "train_inferred", "test_inferred_iid",
              "test_inferred_ood")
STAGE2 = ("unchanged", "h", "r1", "b", "r2")


def t50(steps, acc, level: float = 0.5) -> int | None:
    """First step at which ``acc`` reaches ``level`` (None if never)."""
    hit = np.flatnonzero(np.asarray(acc) >= level)
    return int(np.asarray(steps)[hit[0]]) if hit.size else None


def summary(metrics, cfg=None) -> dict:
    """Final accuracies, their t50 and the maximum two-hop accuracies of a run."""
    out = {}
    for k in ACCURACIES:
        out[k] = float(metrics[k][-1])
        out[f"t50_{k}"] = t50(metrics["step"], metrics[k])
    out["max_test_inferred_ood"] = float(np.max(metrics["test_inferred_ood"]))
    out["max_test_inferred_iid"] = float(np.max(metrics["test_inferred_iid"]))
    return out


def run_keep(cfg, out=None, progress=False):
    """Sweep runner: train, then add the stage-2 dependence (CoT format) to the metrics."""
    result = train_cot(cfg, out, progress=progress)
    result.metrics = dict(result.metrics)
    if cfg.model.cot:
        for k, v in result.learner.stage2_dependence().items():
            result.metrics[f"stage2_{k}"] = np.array([v])
    return result


def keep_curves(metrics, cfg) -> dict:
    """Sweep summary that also keeps the curves (as JSON) and the stage-2 accuracies."""
    out = summary(metrics)
    for k in STAGE2:
        key = f"stage2_{k}"
        out[key] = float(metrics[key][0]) if key in metrics else float("nan")
    out["curves"] = json.dumps({k: np.asarray(v).tolist() for k, v in metrics.items()
                                if not k.startswith("stage2_")})
    return out
