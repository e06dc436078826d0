"""Singh et al.'s clamping study on the synthetic task (docs/clamping.md).

Every run is a run directory (``<out>/<group>/<name>/seed<k>``) trained by
:func:`minimal.transformer.train.train_transformer`; a directory that already holds a completed
run of the same config is reused, so the CLI and the figures share results.

* :func:`table` — unclamped (one layer-2 head) and clamps A, B, C (+ B evolution): steps to reach
  10 % of the initial loss excess over the floor, and whether a plateau exists;
* :func:`sweep` — labels {5, 10, 15} and classes {50, 100, 200}: plateau length of the unclamped
  run and the times of the B- and C-evolution runs (attribution to subcircuits);
* :func:`heads` — the 8-head run: S_h over training, single-head vs all-head ablation, loss vs
  number of heads kept, heads trained alone, and post-hoc progress measures of A, B and C.

Loss floor and plateau criterion (project decisions, docs/clamping.md): the floor is 0 (the
query's training exemplar is identical to its context exemplar, so the correct label is
determined); a run *reaches* 10 % at the first evaluation whose loss is ≤ floor + 0.1 (L₀ − floor);
a plateau exists if some window of length 0.2 t₁₀ (0.2 × the last step when 10 % is never
reached) starts at a loss above floor + 0.2 (L₀ − floor) and loses less than 0.05 (L₀ − floor)
within it.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from ..config import apply_overrides, to_dict
from ..runs import Run, read_metrics
from ..transformer.clamps import ClampSpec
from ..transformer.config import STUDY_CLAMPS, TransformerRunConfig, keep_one

__all__ = ["table", "sweep", "heads", "summarise", "plateau", "progress_measures",
           "head_ablation", "TABLE_RUNS", "FLOOR", "LN2"]

FLOOR = 0.0
LN2 = math.log(2.0)
TABLE_RUNS = ("unclamped", "A", "B", "C", "B-evolution")
TABLE_STEPS = 8000
SWEEP_LABELS = (5, 10, 15)
SWEEP_CLASSES = (50, 100, 200)


# ----------------------------------------------------------------------------------------------
# run configs and execution
# ----------------------------------------------------------------------------------------------

def study_config(run: str, seed: int, steps: int, quick: bool = False, **task) -> \
        TransformerRunConfig:
    """The config of one study run (``run`` names the clamps, see STUDY_CLAMPS, or
    ``head<h>`` for layer-2 head h trained alone)."""
    if run.startswith("head"):
        clamps = (keep_one(int(run[4:])),)
    else:
        clamps = STUDY_CLAMPS[run]
    over = {"train.steps": steps, "train.eval_every": max(1, steps // 40),
            "seeds.seed": seed}
    for k, v in task.items():
        over[f"task.{k}"] = v
    if quick:
        over.update({"model.d_model": 16, "model.heads": 8, "model.d_head": 2,
                     "task.n_eval": 200, "task.D_f": 16})
    return apply_overrides(TransformerRunConfig(clamps=clamps), over)


def _train_job(cfg_dict: dict, out: str, snapshots: bool) -> str:
    from ..config import from_dict
    from ..transformer.train import train_transformer
    cfg = from_dict(TransformerRunConfig, cfg_dict)
    res = train_transformer(cfg, out, force=True, progress=False, snapshots=snapshots)
    if snapshots:
        snaps = res.metrics["snapshots"]
        np.savez(Path(out) / "snapshots.npz",
                 **{f"{s}/{k}": v for s, p in snaps.items() for k, v in p.items()})
    return out


def _done(path: Path, cfg, snapshots: bool) -> bool:
    if not (path / "run.json").exists():
        return False
    try:
        run = Run.open(path)
    except Exception:
        return False
    ok = run.status == "completed" and run.config == to_dict(cfg)
    return ok and (not snapshots or (path / "snapshots.npz").exists())


def run_jobs(jobs: list[tuple[str, TransformerRunConfig, bool]], out, workers: int | None = None,
             progress: bool = True) -> dict[str, dict]:
    """Train every (relative dir, config, keep snapshots) job not already done under ``out``;
    returns {dir: metrics}."""
    out = Path(out)
    todo = [(d, c, s) for d, c, s in jobs if not _done(out / d, c, s)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    if todo:
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(todo), unit="run", desc="clamp study")
        if workers == 1:
            for d, c, s in todo:
                _train_job(to_dict(c), str(out / d), s)
                if bar is not None:
                    bar.update(1)
        else:
            import multiprocessing as mp

            from ..sweeps import _worker_init
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                     initializer=_worker_init) as ex:
                futs = [ex.submit(_train_job, to_dict(c), str(out / d), s) for d, c, s in todo]
                for f in as_completed(futs):
                    f.result()
                    if bar is not None:
                        bar.update(1)
        if bar is not None:
            bar.close()
    return {d: read_metrics(out / d / "metrics.csv") for d, _, _ in jobs}


# ----------------------------------------------------------------------------------------------
# summaries
# ----------------------------------------------------------------------------------------------

def _smooth(y: np.ndarray) -> np.ndarray:
    """Running median of three evaluations (removes single-evaluation noise)."""
    if len(y) < 3:
        return y.copy()
    z = y.copy()
    z[1:-1] = np.median(np.stack([y[:-2], y[1:-1], y[2:]]), axis=0)
    return z


def plateau(steps, loss, floor: float = FLOOR) -> dict:
    """t₁₀ and the plateau criterion of the module docstring."""
    steps = np.asarray(steps, float)
    y = _smooth(np.asarray(loss, float))
    L0 = float(y[0])
    ex = L0 - floor
    hit = np.flatnonzero(y <= floor + 0.1 * ex)
    t10 = float(steps[hit[0]]) if hit.size else None
    w = 0.2 * (t10 if t10 is not None else steps[-1])
    found, start, level = False, None, None
    for i in range(len(steps)):
        if y[i] <= floor + 0.2 * ex:
            break
        j = np.searchsorted(steps, steps[i] + w)
        if j >= len(steps):
            break
        if y[i] - y[j] < 0.05 * ex:
            found, start, level = True, float(steps[i]), float(y[i])
            break
    return {"L0": L0, "t10": t10, "plateau": found, "plateau_start": start,
            "plateau_level": level, "window": w}


def escape_times(steps, loss) -> dict:
    """Plateau length for the sweep: from the first evaluation with loss ≤ 1.1 ln 2 (the
    plateau reached) to the first with loss ≤ 0.5 ln 2 (the escape)."""
    steps = np.asarray(steps, float)
    y = _smooth(np.asarray(loss, float))
    a = np.flatnonzero(y <= 1.1 * LN2)
    b = np.flatnonzero(y <= 0.5 * LN2)
    t_in = float(steps[a[0]]) if a.size else None
    t_out = float(steps[b[0]]) if b.size else None
    return {"t_plateau": t_in, "t_escape": t_out,
            "plateau_length": (t_out - t_in) if (t_in is not None and t_out is not None)
            else None}


def summarise(metrics: dict) -> dict:
    out = plateau(metrics["step"], metrics["loss"])
    out.update(escape_times(metrics["step"], metrics["loss"]))
    out["final_loss"] = float(metrics["loss"][-1])
    out["final_acc"] = float(metrics["acc"][-1])
    out["final_test_acc"] = float(metrics["test_acc"][-1])
    return out


def _spread(vals) -> dict:
    v = [x for x in vals if x is not None]
    if not v:
        return {"mean": None, "min": None, "max": None, "n": 0, "n_total": len(vals)}
    return {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)),
            "n": len(v), "n_total": len(vals)}


# ----------------------------------------------------------------------------------------------
# (a–c) the table of subcircuit clamps
# ----------------------------------------------------------------------------------------------

def table(out, seeds=(0, 1, 2), steps: int = TABLE_STEPS, quick: bool = False, workers=None,
          progress: bool = True, runs=TABLE_RUNS) -> dict:
    jobs = [(f"table/{r}/seed{s}", study_config(r, s, steps, quick), False)
            for r in runs for s in seeds]
    metrics = run_jobs(jobs, out, workers, progress)
    rows = []
    curves = {}
    for r in runs:
        sums = [summarise(metrics[f"table/{r}/seed{s}"]) for s in seeds]
        curves[r] = {s: metrics[f"table/{r}/seed{s}"] for s in seeds}
        rows.append({"run": r, "t10": _spread([x["t10"] for x in sums]),
                     "plateau": [x["plateau"] for x in sums],
                     "plateau_start": [x["plateau_start"] for x in sums],
                     "L0": _spread([x["L0"] for x in sums]),
                     "final_loss": _spread([x["final_loss"] for x in sums]),
                     "per_seed": sums})
    return {"rows": rows, "curves": curves, "seeds": list(seeds), "steps": steps,
            "quick": quick}


# ----------------------------------------------------------------------------------------------
# (e) labels / classes sweep
# ----------------------------------------------------------------------------------------------

def sweep(out, seeds=(0,), steps: int = 8000, quick: bool = False, workers=None,
          progress: bool = True, labels=SWEEP_LABELS, classes=SWEEP_CLASSES) -> dict:
    settings = [("labels", L, {"n_labels": L}) for L in labels] + \
        [("classes", C, {"n_classes": C}) for C in classes if C != 50 or 5 not in labels]
    kinds = ("unclamped", "B", "B-evolution")
    jobs = []
    dirs = {}
    for axis, val, task in settings:
        for k in kinds:
            for s in seeds:
                key = f"sweep/{axis}{val}/{k}/seed{s}"
                cfg = study_config(k, s, steps, quick, **task)
                # the default setting is the table's run when the configs are identical
                if cfg == study_config(k, s, TABLE_STEPS, quick):
                    dirs[key] = f"table/{k}/seed{s}"
                else:
                    dirs[key] = key
                jobs.append((dirs[key], cfg, False))
    metrics = run_jobs(jobs, out, workers, progress)
    metrics = {key: metrics[d] for key, d in dirs.items()}
    rows = []
    for axis, val, task in settings:
        row = {"axis": axis, "value": val}
        for k in kinds:
            sums = [summarise(metrics[f"sweep/{axis}{val}/{k}/seed{s}"]) for s in seeds]
            row[k] = {"t10": _spread([x["t10"] for x in sums]),
                      "plateau_length": _spread([x["plateau_length"] for x in sums]),
                      "t_escape": _spread([x["t_escape"] for x in sums])}
        rows.append(row)
    # the (labels 5, classes 50) point is shared by both axes
    base = next((r for r in rows if r["axis"] == "labels" and r["value"] == 5), None)
    if base is not None and 50 in classes:
        rows.append({**base, "axis": "classes", "value": 50})
    return {"rows": rows, "seeds": list(seeds), "steps": steps, "quick": quick}


# ----------------------------------------------------------------------------------------------
# (d) heads: redundancy, additivity, heads alone, progress measures
# ----------------------------------------------------------------------------------------------

def _load_snapshots(path) -> dict:
    out: dict[int, dict] = {}
    with np.load(path) as z:
        for key in z.files:
            step, name = key.split("/", 1)
            out.setdefault(int(step), {})[name] = z[key]
    return out


def _eval_loss(net, params, batch, clamps) -> float:
    from ..transformer.model import _ce
    lg = net.forward(params, batch, ["logits"], clamps=clamps, full=False)["logits"]
    return _ce(lg, batch.targets)[0]


def head_ablation(cfg: TransformerRunConfig, params: dict, S: np.ndarray) -> dict:
    """Loss on the training-distribution evaluation set with layer-2 heads ablated: none, each
    alone, all; and keeping the top-k heads by induction strength S (k = 1..H)."""
    from ..tasks.singh import SinghTask
    from ..transformer.model import Transformer
    net = Transformer(cfg.net_config())
    batch = SinghTask(cfg.task, cfg.seeds).eval_set("train")
    H = cfg.net_config().heads
    ab = lambda hs: [ClampSpec("ablate_heads", {"layer": 1, "heads": list(hs)})] if hs else []
    base = _eval_loss(net, params, batch, [])
    single = [_eval_loss(net, params, batch, ab([h])) for h in range(H)]
    every = _eval_loss(net, params, batch, ab(range(H)))
    order = list(np.argsort(-np.asarray(S)))
    keep = [_eval_loss(net, params, batch, ab(order[k:])) for k in range(1, H + 1)]
    return {"base": base, "single": single, "all": every, "order": [int(h) for h in order],
            "keep_top_k": keep}


def progress_measures(cfg: TransformerRunConfig, snaps: dict, head: int) -> dict:
    """Post-hoc measures of the three subcircuits on the snapshots of an unclamped run:
    A — max over layer-1 heads of the label→exemplar attention; B — loss with A and C made
    perfect (perfect layer 1 + perfect copy from ``head``); C — loss with the match of ``head``
    made perfect and the other layer-2 heads ablated."""
    from ..tasks.singh import SinghTask
    from ..transformer.model import Transformer
    from ..transformer.singh import prev_token_score
    net = Transformer(cfg.net_config())
    batch = SinghTask(cfg.task, cfg.seeds).eval_set("train").subset(slice(0, 500))
    H = cfg.net_config().heads
    others = [h for h in range(H) if h != head]
    b_clamps = [ClampSpec("perfect_layer1"), ClampSpec("perfect_copy", {"layer": 1,
                                                                         "head": head})]
    c_clamps = [ClampSpec("induction_match", {"layer": 1, "head": head})]
    if others:
        c_clamps.append(ClampSpec("ablate_heads", {"layer": 1, "heads": others}))
    steps, A, B, C = [], [], [], []
    for step in sorted(snaps):
        p = snaps[step]
        steps.append(step)
        pat = net.forward(p, batch, ["L0.pattern"], clamps=[])["L0.pattern"]
        A.append(float(prev_token_score(pat, batch).max()))
        B.append(_eval_loss(net, p, batch, b_clamps))
        C.append(_eval_loss(net, p, batch, c_clamps))
    return {"step": np.array(steps), "A_prev": np.array(A), "B_loss": np.array(B),
            "C_loss": np.array(C), "head": head}


def heads(out, seeds=(0, 1, 2), steps: int = 8000, quick: bool = False, workers=None,
          progress: bool = True, alone=None) -> dict:
    H = 8
    alone = (0, 1, 2, 3) if alone is None else tuple(alone)

    def alone_dir(h):
        # head 0 alone is the table's unclamped run (the same config)
        return f"table/unclamped/seed{seeds[0]}" if h == 0 else f"heads/alone/head{h}"
    jobs = [(f"heads/full/seed{s}", study_config("full", s, steps, quick), True)
            for s in seeds]
    jobs += [(alone_dir(h), study_config(f"head{h}", seeds[0], steps, quick), False)
             for h in alone]
    metrics = run_jobs(jobs, out, workers, progress)
    res = {"seeds": list(seeds), "steps": steps, "quick": quick, "full": {}, "alone": {}}
    for s in seeds:
        key = f"heads/full/seed{s}"
        m = metrics[key]
        cfg = study_config("full", s, steps, quick)
        snaps = _load_snapshots(Path(out) / key / "snapshots.npz")
        S = np.array([m[f"L1H{h}.S"][-1] for h in range(H)])
        best = int(np.argmax(S))
        final = snaps[max(snaps)]
        res["full"][s] = {"metrics": m, "summary": summarise(m), "S_final": S.tolist(),
                          "ablation": head_ablation(cfg, final, S),
                          "progress": progress_measures(cfg, snaps, best)}
    for h in alone:
        m = metrics[alone_dir(h)]
        res["alone"][h] = {"metrics": m, "summary": summarise(m)}
    return res
