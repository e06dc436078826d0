"""Grids of training runs executed in parallel local processes (one thread each).

A sweep is a base config, a dict of axes (dotted field → values) and a list of seeds; every
combination is one job.  Jobs run in a ``spawn`` process pool so that each process has its own
Numba/BLAS state capped at one thread; results are appended to ``results.csv`` as jobs finish
(so an interrupted sweep keeps what it computed, and ``resume`` skips finished jobs).
"""

from __future__ import annotations

import csv
import itertools
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from .config import apply_overrides
from .runs import MetricsLog, Run


def _worker_init():
    import warnings

    from .env import limit_threads, tune_malloc
    from .errors import ConfigWarning
    limit_threads(1)
    tune_malloc()
    warnings.simplefilter("ignore", ConfigWarning)   # sweeps vary settings on purpose
    try:
        import numba
        numba.set_num_threads(1)
    except Exception:  # pragma: no cover
        pass


def _run_job(runner: str, cfg, summarise: str, job: dict) -> dict:
    import importlib
    mod_name, fn_name = runner.rsplit(":", 1)
    fn = getattr(importlib.import_module(mod_name), fn_name)
    smod, sname = summarise.rsplit(":", 1)
    summ = getattr(importlib.import_module(smod), sname)
    t0 = time.perf_counter()
    result = fn(cfg, None, progress=False)
    row = dict(job)
    row.update(summ(result.metrics, cfg))
    row["seconds"] = time.perf_counter() - t0
    return row


def expand(base, axes: dict, seeds) -> list[tuple[dict, object]]:
    """All (job description, config) pairs of a grid."""
    names = list(axes)
    jobs = []
    for values in itertools.product(*(axes[n] for n in names)):
        for seed in seeds:
            desc, over = {}, []
            for n, v in zip(names, values):
                if "," in n:          # joint axis: "task.N,task.L" with tuple values
                    for part, pv in zip(n.split(","), v):
                        desc[part] = pv
                        over.append((part, pv))
                else:
                    desc[n] = v
                    over.append((n, v))
            desc["seed"] = seed
            over.append(("seeds.seed", seed))
            jobs.append((desc, apply_overrides(base, over)))
    return jobs


def run_sweep(base, axes: dict, seeds, runner: str, summarise: str, out: str | Path | None,
              workers: int | None = None, progress: bool = True, resume: bool = False,
              kind: str = "sweep") -> list[dict]:
    """Run every grid point × seed; returns (and writes to ``out/results.csv``) one row each.

    ``runner`` and ``summarise`` are ``"module:function"`` names (picklable across processes):
    ``runner(cfg, out, progress=False)`` trains, ``summarise(metrics, cfg) -> dict`` reduces.
    """
    jobs = expand(base, axes, list(seeds))
    done: list[dict] = []
    log = None
    if out is not None:
        out = Path(out)
        cols = [p for n in axes for p in n.split(",")] + ["seed"]
        if resume and (out / "run.json").exists():
            run = Run.open(out)
            if (out / "results.csv").exists():
                done = _read_rows(out / "results.csv")
        else:
            run = Run.create(out, kind, base, base.seeds,
                             extra={"axes": {k: list(v) for k, v in axes.items()},
                                    "seeds_list": list(seeds), "runner": runner})
        key = lambda d: tuple(str(d[c]) for c in cols)
        finished = {key(r) for r in done}
        jobs = [(d, c) for d, c in jobs if key(d) not in finished]
    workers = workers or min(len(jobs), os.cpu_count() or 1) or 1
    rows = list(done)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(jobs), unit="run", desc=kind)
    header = None
    try:
        if workers == 1:
            it = (_run_job(runner, c, summarise, d) for d, c in jobs)
            results = it
        else:
            import multiprocessing as mp
            ex = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                     initializer=_worker_init)
            futs = [ex.submit(_run_job, runner, c, summarise, d) for d, c in jobs]
            results = (f.result() for f in as_completed(futs))
        for row in results:
            rows.append(row)
            if out is not None:
                if log is None:
                    header = list(row)
                    log = MetricsLog(out / "results.csv", header if not done else None)
                    header = log.columns
                log.append({k: row.get(k) for k in header})
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if workers != 1 and jobs:
            ex.shutdown(wait=False, cancel_futures=True)
    if out is not None:
        run.finish("completed", n_jobs=len(rows))
    return rows


def _read_rows(path) -> list[dict]:
    with open(path, newline="") as fh:
        text = fh.read()
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.DictReader(text.splitlines()))
    out = []
    for r in rows:
        conv = {}
        for k, v in r.items():
            if v in ("True", "False"):
                conv[k] = v == "True"
                continue
            try:
                conv[k] = float(v) if v not in ("", None) else None
                if conv[k] is not None and conv[k].is_integer() and "." not in v and "e" not in v:
                    conv[k] = int(conv[k])
            except ValueError:
                conv[k] = v
        out.append(conv)
    return out


def final_summary(metrics: dict, cfg) -> dict:
    """Final accuracies and progress measures of a training run (the default summary)."""
    last = {k: float(v[-1]) for k, v in metrics.items() if k != "snapshots" and len(v)}
    keys = ("ic_acc", "ic2_acc", "iw_acc", "test_acc", "loss", "ila1", "tila2", "tla2", "cla",
            "beta1", "alpha", "beta2", "xi")
    out = {k: last[k] for k in keys if k in last}
    ic = np.asarray(metrics.get("ic_acc", []))
    steps = np.asarray(metrics.get("step", []))
    level = 0.5 * (1 + cfg.task.B_eval / cfg.task.N)
    hit = np.flatnonzero(ic >= level)
    out["learned_icl"] = bool(ic.size and ic[-1] >= level)
    out["t_icl"] = int(steps[hit[0]]) if hit.size else None
    return out
