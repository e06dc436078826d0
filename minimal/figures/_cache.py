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
    from ..tasks.icl import stream_versions
    if cache is not None:
        d = Path(cache) / name
        snap = d / "snapshots.npz"
        if (d / "run.json").exists() and snap.exists():
            run = Run.open(d)
            why = stale_reason(run, cfg, stream_versions())
            if why is None:
                return read_metrics(d / "metrics.csv"), _load_snapshots(snap)
            if progress:
                print(f"cache {d.name}: recomputing ({why})", flush=True)
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


def stale_reason(run: Run, cfg, generators: dict | None = None) -> str | None:
    """Why a cached run cannot stand for ``cfg`` (None when it can): not completed, another
    config (naming the first differing field) or other random streams."""
    if run.status != "completed":
        return f"its status is {run.status}"
    want = to_dict(cfg)
    if run.config != want:
        from ..runs import _diff
        diffs = _diff(run.config, want)
        return f"the config changed in {', '.join(diffs[:3])}"
    if generators is not None and run.manifest.get("generators") != generators:
        return (f"the random streams changed ({run.manifest.get('generators')} → "
                f"{generators})")
    return None
