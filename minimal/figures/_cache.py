"""Training runs behind figures, cached as run directories so that regenerating a figure (or
another figure from the same run) does not retrain."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..config import to_dict
from ..runs import Run, read_metrics


def cached_training(cache: Path | None, name: str, cfg, progress: bool = True):
    """Metrics (dict of arrays) and parameter snapshots ({step: params}) of ``cfg``'s run."""
    from ..nets.train import train
    if cache is not None:
        d = Path(cache) / name
        snap = d / "snapshots.npz"
        if (d / "run.json").exists() and snap.exists():
            run = Run.open(d)
            if run.status == "completed" and run.config == to_dict(cfg):
                return read_metrics(d / "metrics.csv"), _load_snapshots(snap)
        if d.exists():
            shutil.rmtree(d)
        res = train(cfg, d, snapshots=True, progress=progress)
        snaps = res.metrics["snapshots"]
        np.savez(snap, **{f"{s}/{k}": v for s, p in snaps.items() for k, v in p.items()})
        return read_metrics(d / "metrics.csv"), snaps
    res = train(cfg, None, snapshots=True, progress=progress)
    metrics = {k: v for k, v in res.metrics.items() if k != "snapshots"}
    return metrics, res.metrics["snapshots"]


def _load_snapshots(path) -> dict:
    out: dict[int, dict] = {}
    with np.load(path) as z:
        for key in z.files:
            step, name = key.split("/", 1)
            out.setdefault(int(step), {})[name] = z[key]
    return out
