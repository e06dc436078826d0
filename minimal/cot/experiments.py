"""CoT experiment helpers shared by the CLI, sweeps, figures and the calibration: transition
steps (in steps and epochs), run summaries, the sweep runner that keeps curves and the stage-2
test, and tables over seeds (docs/cot.md)."""

from __future__ import annotations

import json

import numpy as np

from .train import train_cot

ACCURACIES = ("id_atomic", "ood_atomic", "train_inferred", "test_inferred_iid",
              "test_inferred_ood")
STAGE2 = ("unchanged", "h", "r1", "b", "r2")


def t50(steps, acc, level: float = 0.5) -> float | None:
    """First evaluation step at which ``acc`` reaches ``level`` (None if never)."""
    hit = np.flatnonzero(np.asarray(acc) >= level)
    return float(np.asarray(steps)[hit[0]]) if hit.size else None


def value_at(metrics, key: str, step: int) -> float:
    """``metrics[key]`` at evaluation step ``step`` (NaN when the run has no such row)."""
    s = np.asarray(metrics["step"])
    hit = np.flatnonzero(s == step)
    return float(np.asarray(metrics[key])[hit[0]]) if hit.size else float("nan")


def summary(metrics, cfg=None) -> dict:
    """Final accuracies, their t50 (steps, and epochs when the metrics hold ``epoch``), the
    maximum two-hop accuracies and the step of the ID two-hop peak."""
    out = {}
    steps = np.asarray(metrics["step"], float)
    epoch = np.asarray(metrics["epoch"], float) if "epoch" in metrics else None
    for k in ACCURACIES:
        out[k] = float(metrics[k][-1])
        out[f"t50_{k}"] = t50(steps, metrics[k])
        if epoch is not None:
            out[f"t50ep_{k}"] = t50(epoch, metrics[k])
    for k in ("test_inferred_ood", "test_inferred_iid"):
        out[f"max_{k}"] = float(np.max(metrics[k]))
    out["peak_step_test_inferred_iid"] = float(steps[int(np.argmax(metrics["test_inferred_iid"]))])
    out["final_step"] = float(steps[-1])
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


def curves_of(row) -> dict:
    """The curves kept by :func:`keep_curves` (decoded when read back from results.csv)."""
    c = row["curves"]
    return json.loads(c) if isinstance(c, str) else c


def band(rows, key: str, x: str = "step"):
    """(x, mean, sd, n) of curve ``key`` over the rows (seeds) sharing one grid point; curves
    are cut to the shortest."""
    cs = [curves_of(r) for r in rows]
    n = min(len(c[key]) for c in cs)
    y = np.array([c[key][:n] for c in cs], float)
    return (np.asarray(cs[0][x][:n], float), y.mean(0),
            y.std(0, ddof=1) if len(cs) > 1 else np.zeros(n), len(cs))


def table(rows, by: str, keys) -> list[dict]:
    """Mean ± sd over seeds of ``keys`` for every value of the grid axis ``by`` (None values,
    e.g. a t50 that never happened, are counted and left out of the mean)."""
    out = []
    for v in sorted({r[by] for r in rows}):
        sel = [r for r in rows if r[by] == v]
        entry = {by: v, "n": len(sel)}
        for k in keys:
            vals = np.array([np.nan if r.get(k) is None or r.get(k) == "" else float(r[k])
                             for r in sel])
            ok = vals[np.isfinite(vals)]
            entry[k] = float(ok.mean()) if ok.size else None
            entry[f"{k}_sd"] = float(ok.std(ddof=1)) if ok.size > 1 else 0.0 if ok.size else None
            entry[f"{k}_missing"] = int(len(vals) - ok.size)
        out.append(entry)
    return out
