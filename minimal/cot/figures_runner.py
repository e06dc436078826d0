"""Sweep runner/summary used by the CoT figures: keeps the curves and the stage-2 test."""

from __future__ import annotations

import json

import numpy as np


def run_keep(cfg, out=None, progress=False):
    from .train import train_cot
    model, m, status = train_cot(cfg, out, progress=progress)

    class R:
        pass
    r = R()
    r.metrics = dict(m)
    if cfg.model.cot:
        for k, v in model.stage2_dependence().items():
            r.metrics[f"stage2_{k}"] = np.array([v])
    return r


def keep_curves(metrics, cfg) -> dict:
    from .commands import summary
    out = summary(metrics)
    for k in ("unchanged", "h", "r1", "b", "r2"):
        key = f"stage2_{k}"
        out[key] = float(metrics[key][0]) if key in metrics else float("nan")
    out["curves"] = json.dumps({k: np.asarray(v).tolist() for k, v in metrics.items()
                                if not k.startswith("stage2_")})
    return out
