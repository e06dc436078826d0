"""Sweeps: grids of config overrides × seeds, one run directory per job, on local processes or a
Dask distributed cluster (docs/sweeps.md).

A sweep is a base config, axes (dotted field → values; ``"a,b"`` names a joint axis whose values
are tuples) and seeds.  Every combination is a *job* with a stable id; its run directory is
``OUT/runs/<job id>`` and the results table ``OUT/results.csv`` (and ``results.parquet`` when
pyarrow is present) is assembled from the run directories, so a sweep is idempotent:
``resume=True`` skips completed jobs, resumes interrupted ones from their checkpoints and restarts
jobs killed before their first checkpoint.

Executors: ``"local"`` (default) runs one process per worker, one thread each; ``"local-dask"``
starts a Dask ``LocalCluster``; ``"tcp://HOST:PORT"`` sends the jobs to an existing Dask
scheduler (each Dask task is one whole run; results go to the shared ``OUT``).

The first SIGINT or SIGTERM stops the sweep: running jobs checkpoint and are recorded as
``interrupted``, pending ones are cancelled, and ``resume=True`` later continues exactly there.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import inspect
import io
import itertools
import json
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ._signals import Interrupted, StopSignals
from .config import apply_overrides, from_dict, to_dict
from .errors import ConfigError, MinimalError, RunDirError, exit_status_for_signal
from .progress import Progress
from .runs import MANIFEST, Run, atomic_write_bytes, is_run_dir, read_metrics

__all__ = ["run_sweep", "Sweep", "SweepResult", "expand", "load_sweep_file", "make_sweep",
           "FAMILIES", "final_summary", "run_collapsed", "sort_rows", "aggregate"]

#: families a sweep file can name: (train function, config class, presets, summary)
FAMILIES = {
    "train": ("minimal.nets.train:train", "minimal.nets.config:TrainRunConfig",
              "minimal.nets.config:TRAIN_PRESETS", "minimal.sweeps:final_summary"),
    "ih": ("minimal.induction_head.train:train_ih", "minimal.induction_head.config:IHRunConfig",
           "minimal.induction_head.config:IH_PRESETS", "minimal.sweeps:final_summary"),
    "cot": ("minimal.cot.train:train_cot", "minimal.cot.config:CoTRunConfig",
            "minimal.cot.config:COT_PRESETS", "minimal.cot.experiments:summary"),
}
MAX_JOBS = 100_000
RESULTS = "results.csv"


def _load(name: str):
    mod, _, attr = name.partition(":")
    try:
        return getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError("runner", name, f"cannot be loaded ({exc})") from None


# ----------------------------------------------------------------------------------------------
# jobs
# ----------------------------------------------------------------------------------------------

def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def job_id(desc: Mapping) -> str:
    """Readable, stable id of a job: its settings plus a hash of them (safe as a file name)."""
    text = json.dumps({k: _plain(v) for k, v in sorted(desc.items())}, sort_keys=True)
    h = hashlib.sha256(text.encode()).hexdigest()[:8]
    parts = [f"{k.rsplit('.', 1)[-1]}={_fmt_value(v)}" for k, v in desc.items()]
    name = "_".join(parts)
    name = "".join(c if c.isalnum() or c in "=._-" else "-" for c in name)[:80]
    return f"{name}-{h}"


def expand(base, axes: Mapping[str, Iterable], seeds: Iterable[int],
           one_at_a_time: bool = False) -> list[tuple[dict, Any]]:
    """All (job description, config) pairs: the product of the axes (or, with
    ``one_at_a_time``, each axis varied alone around ``base``) × seeds.  Bad values are
    reported with their dotted name before anything runs."""
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("seeds", seeds, "must name at least one seed")
    names = list(axes)
    for n in names:
        if not list(axes[n]):
            raise ConfigError(n, list(axes[n]), "an axis needs at least one value")
    if one_at_a_time:
        combos = [((n,), (v,)) for n in names for v in axes[n]]
    else:
        combos = [(tuple(names), values) for values in itertools.product(
            *(list(axes[n]) for n in names))]
    n_jobs = len(combos) * len(seeds)
    if n_jobs > MAX_JOBS:
        raise ConfigError("grid", n_jobs, f"a sweep may hold at most {MAX_JOBS:,} jobs")
    jobs = []
    for keys, values in combos:
        for seed in seeds:
            desc, over = {}, []
            for n, v in zip(keys, values):
                if "," in n:          # joint axis: "task.N,task.L" with tuple values
                    parts = n.split(",")
                    if not isinstance(v, (list, tuple)) or len(v) != len(parts):
                        raise ConfigError(n, v, f"needs {len(parts)} values per point")
                    for part, pv in zip(parts, v):
                        desc[part] = _plain(pv)
                        over.append((part, _plain(pv)))
                else:
                    desc[n] = _plain(v)
                    over.append((n, _plain(v)))
            desc["seed"] = int(seed)
            over.append(("seeds.seed", int(seed)))
            jobs.append((desc, apply_overrides(base, over)))
    return jobs


def sort_rows(rows: list[dict], keys: Iterable[str]) -> list[dict]:
    """Rows sorted by ``keys`` with numbers compared as numbers (4 before 16) and None last."""
    def key(r):
        out = []
        for k in keys:
            v = r.get(k)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                out.append((2, 0, ""))
            elif isinstance(v, (bool, int, float, np.number)):
                out.append((0, float(v), ""))
            else:
                out.append((1, 0, str(v)))
        return out
    return sorted(rows, key=key)


# ----------------------------------------------------------------------------------------------
# running one job (in a worker process or thread)
# ----------------------------------------------------------------------------------------------

@dataclass
class Job:
    """Everything a worker needs: plain data only (picklable, family-agnostic)."""

    id: str
    desc: dict
    runner: str                 #: "module:function" taking (cfg, out, resume=…, progress=…)
    summarise: str              #: "module:function" taking (metrics, cfg[, manifest])
    config_class: str           #: "module:Class"
    config: dict                #: the full config as a dict
    out: str                    #: the job's run directory


def _summarise(fn, metrics, cfg, manifest):
    params = inspect.signature(fn).parameters
    if len(params) >= 3:
        return fn(metrics, cfg, manifest)
    return fn(metrics, cfg)


def _normal(cfg_dict, cls):
    try:
        return to_dict(from_dict(cls, cfg_dict))
    except (ConfigError, TypeError):
        return cfg_dict


def _same_config(saved, wanted, cls) -> bool:
    return saved is not None and _normal(saved, cls) == _normal(wanted, cls)


def _resumable(saved, wanted, cls) -> bool:
    from .runs import _diff
    from .training.loop import RESUMABLE_CHANGES
    if saved is None:
        return False
    a, b = _normal(saved, cls), _normal(wanted, cls)
    diffs = _diff(a, b)
    steps_ok = (a.get("train", {}).get("steps", 0) <= b.get("train", {}).get("steps", 0))
    return bool(diffs) and all(d in RESUMABLE_CHANGES for d in diffs) and steps_ok


def run_job(job: Job) -> dict:
    """Run (or resume, or skip) one job; returns its results row.  Never raises for a failed
    run: the row's ``status`` says what happened."""
    from .env import limit_threads, tune_malloc
    limit_threads(1)
    tune_malloc()
    cls = _load(job.config_class)
    cfg = from_dict(cls, job.config)
    out = Path(job.out)
    row = {"job": job.id, **job.desc}
    t0 = time.perf_counter()
    manifest = None
    if (out / MANIFEST).exists():
        try:
            manifest = Run.open(out).manifest
        except RunDirError:
            manifest = None
    same = manifest is not None and _same_config(manifest.get("config"), job.config, cls)
    if same and manifest.get("status") == "completed" and "sweep_summary" in manifest:
        return {**row, **manifest["sweep_summary"], "status": "completed",
                "seconds": manifest.get("timings", {}).get("total_s")}
    runner = _load(job.runner)
    # a run whose config differs only in what a resume may change (more steps, another
    # evaluation cadence) is continued; any other difference starts it again
    resume = (out / "checkpoint.npz").exists() and manifest is not None and (
        same or _resumable(manifest.get("config"), job.config, cls))
    kwargs = {"progress": False}
    sig = inspect.signature(runner).parameters
    if "resume" in sig:
        kwargs["resume"] = resume
    if "force" in sig:
        kwargs["force"] = not resume
    try:
        import warnings

        from .errors import ConfigWarning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConfigWarning)   # sweeps vary settings on purpose
            result = runner(cfg, str(out), **kwargs)
    except MinimalError as err:
        return {**row, "status": "failed", "error": f"{type(err).__name__}: {err}",
                "seconds": time.perf_counter() - t0}
    if result.status != "completed":
        return {**row, "status": result.status, "signal": result.signal,
                "seconds": time.perf_counter() - t0}
    metrics = read_metrics(out) if (out / "metrics.csv").exists() else {}
    for k, v in result.metrics.items():       # in-memory extras (e.g. a post-training probe)
        if k not in metrics and k != "snapshots":
            metrics[k] = np.asarray(v)
    run = Run.open(out)
    summary = _summarise(_load(job.summarise), metrics, cfg, run.manifest)
    summary = {k: _plain(v) for k, v in summary.items()}
    run.manifest["sweep_summary"] = summary
    run.write_manifest()
    # the run's own total (every attempt of a resumed run), as a later assembly reports it
    seconds = run.manifest.get("timings", {}).get("total_s", time.perf_counter() - t0)
    return {**row, **summary, "status": "completed", "seconds": seconds}


# ----------------------------------------------------------------------------------------------
# executors
# ----------------------------------------------------------------------------------------------

def _worker_init():
    import warnings

    from .env import limit_threads, tune_malloc
    from .errors import ConfigWarning
    limit_threads(1)
    tune_malloc()
    warnings.simplefilter("ignore", ConfigWarning)
    # leave the terminal's process group: a Ctrl-C reaches the parent only, which forwards one
    # SIGTERM (two signals would abort a run before its checkpoint)
    try:
        os.setpgrp()
    except OSError:  # pragma: no cover
        pass
    try:
        import numba
        numba.set_num_threads(1)
    except Exception:  # pragma: no cover
        pass


def _local(jobs: list[Job], workers: int, stop: StopSignals, on_row):
    """Run ``jobs`` in ``workers`` spawned processes; on a stop signal forward SIGTERM to the
    workers (their runs checkpoint and return 'interrupted') and cancel what has not started."""
    if workers == 1:
        for job in jobs:
            if stop():
                break
            row = run_job(job)
            on_row(row)
            if row["status"] == "interrupted":      # the run's own handler took the signal
                stop.signum = row.get("signal") or signal.SIGINT
                break
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_worker_init)
    pending = list(jobs)
    running = {}
    forwarded = False
    try:
        while pending or running:
            while pending and len(running) < workers and not stop():
                job = pending.pop(0)
                running[ex.submit(run_job, job)] = job
            if stop() and not forwarded:
                forwarded = True
                pending.clear()
                for p in list(getattr(ex, "_processes", {}).values()):
                    try:
                        os.kill(p.pid, signal.SIGTERM)
                    except (ProcessLookupError, OSError):
                        pass
            if not running:
                break
            done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                job = running.pop(fut)
                try:
                    on_row(fut.result())
                except Exception as exc:          # a worker died (killed, out of memory)
                    on_row({"job": job.id, **job.desc, "status": "lost",
                            "error": f"{type(exc).__name__}: {exc}"})
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _dask(jobs: list[Job], scheduler: str, workers: int, stop: StopSignals, on_row):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError("--scheduler", scheduler, "needs the optional Dask extra: pip install "
                          "'minimal-icl[distributed]'") from None
    cluster = None
    if scheduler == "local-dask":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError("--scheduler", scheduler, f"cannot be reached ({exc})") from None
    try:
        futures = [client.submit(run_job, job, key=f"minimal-{job.id}-{time.time_ns()}",
                                 pure=False, retries=2) for job in jobs]
        by_key = {f.key: j for f, j in zip(futures, jobs)}
        ac = as_completed(futures)
        for fut in ac:
            job = by_key[fut.key]
            try:
                on_row(fut.result())
            except Exception as exc:
                on_row({"job": job.id, **job.desc, "status": "lost",
                        "error": f"{type(exc).__name__}: {exc}"})
            if stop():
                for f in futures:
                    if not f.done():
                        f.cancel()
                break
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ----------------------------------------------------------------------------------------------
# the sweep
# ----------------------------------------------------------------------------------------------

@dataclass
class SweepResult:
    rows: list[dict]                      #: one per job, sorted numerically by the axes
    status: str = "completed"             #: completed | interrupted | failed
    signal: int | None = None
    out: Path | None = None
    counts: dict = field(default_factory=dict)

    @property
    def exit_status(self) -> int:
        if self.status == "interrupted":
            return exit_status_for_signal(self.signal or signal.SIGINT)
        return 0 if self.status == "completed" else 3


def _table_columns(rows: list[dict], axis_cols: list[str]) -> list[str]:
    head = ["job", *axis_cols, "seed", "status"]
    cols = list(head)
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def write_table(rows: list[dict], out: Path, axis_cols: list[str]) -> Path:
    """``results.csv`` (and ``results.parquet`` when pyarrow is present), atomically."""
    cols = _table_columns(rows, axis_cols)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    path = out / RESULTS
    atomic_write_bytes(path, buf.getvalue().encode())
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return path
    data = {}
    for c in cols:
        vals = [r.get(c) for r in rows]
        if all(isinstance(v, (int, float, bool, type(None))) for v in vals):
            data[c] = vals
        else:
            data[c] = [None if v is None else str(v) for v in vals]
    try:
        table = pa.table(data)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        atomic_write_bytes(out / "results.parquet", sink.getvalue().to_pybytes())
    except (pa.ArrowInvalid, pa.ArrowTypeError):    # mixed types: the CSV is the table
        pass
    return path


def run_sweep(base, axes: Mapping[str, Iterable], seeds: Iterable[int], runner: str,
              summarise: str, out=None, workers: int | None = None, progress: bool = True,
              resume: bool = False, kind: str = "sweep", scheduler: str | None = None,
              one_at_a_time: bool = False, rows_only: bool = True):
    """Run every grid point × seed (see the module docstring).

    ``runner``/``summarise`` are ``"module:function"`` names: ``runner(cfg, out, resume=…,
    progress=False)`` trains into a run directory and returns a TrainResult;
    ``summarise(metrics, cfg[, manifest])`` reduces a finished run to a dict.  ``out=None``
    runs in a temporary directory.  Returns the rows (``rows_only``) or a :class:`SweepResult`.
    """
    import tempfile
    jobs_cfg = expand(base, axes, seeds, one_at_a_time)
    ids = [job_id(d) for d, _ in jobs_cfg]
    if len(set(ids)) != len(ids):        # before anything is written to ``out``
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ConfigError("grid", dup.rsplit("-", 1)[0], "appears twice (two grid points give "
                          "the same job; remove the repeated value)")
    axis_cols = [p for n in axes for p in n.split(",")]
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError("workers", workers, "must be a positive integer")
    for name in (runner, summarise):
        _load(name)
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="minimal-sweep-")
        out = tmp.name
    out = Path(out)
    grid = {"axes": {k: [_plain(v) for v in vs] for k, vs in axes.items()},
            "seeds_list": [int(s) for s in seeds], "one_at_a_time": one_at_a_time}
    try:
        if (out / MANIFEST).exists():
            if not resume:
                raise RunDirError(f"{out} already holds a sweep; pass --resume to continue it "
                                  "or choose another --out")
            sweep_run, _ = Run.resume(out, kind, None, require_checkpoint=False)
            old = {k: sweep_run.manifest.get(k) for k in grid}
            if old != grid:
                # a resume may extend the grid (more seeds, more values): the manifest
                # describes the grid it now holds, and its history the one it held before
                sweep_run.manifest.setdefault("history", []).append(
                    {"time": time.time(), "event": "grid changed", "before": old})
                sweep_run.update(**grid)
        else:
            if resume and out.exists() and any(out.iterdir()) and not is_run_dir(out):
                raise RunDirError(f"{out} is not a minimal sweep (nothing to resume)")
            sweep_run = Run.create(out, kind, base, getattr(base, "seeds", None),
                                   extra={**grid, "runner": runner, "summarise": summarise})
        cls = f"{type(base).__module__}:{type(base).__qualname__}"
        jobs = [Job(job_id(d), d, runner, summarise, cls, to_dict(c),
                    str(out / "runs" / job_id(d))) for d, c in jobs_cfg]
        (out / "runs").mkdir(exist_ok=True)
        rows: dict[str, dict] = {}
        todo = []
        for j in jobs:
            m = None
            if (Path(j.out) / MANIFEST).exists():
                try:
                    m = Run.open(j.out).manifest
                except RunDirError:
                    m = None
            if m is not None and m.get("status") == "completed" and "sweep_summary" in m \
                    and _same_config(m.get("config"), j.config, _load(j.config_class)):
                rows[j.id] = {"job": j.id, **j.desc, **m["sweep_summary"],
                              "status": "completed",
                              "seconds": m.get("timings", {}).get("total_s")}
            else:
                todo.append(j)
        n_workers = workers or min(len(todo), os.cpu_count() or 1) or 1
        bar = Progress(len(jobs), len(jobs) - len(todo), unit="run", desc=kind,
                       enabled=progress)

        last_write = [time.monotonic()]

        def table_now():
            return sort_rows([rows[j.id] if j.id in rows else
                              {"job": j.id, **j.desc, "status": "pending"} for j in jobs],
                             axis_cols + ["seed"])

        def on_row(row):
            rows[row["job"]] = row
            bar.update(1, done=sum(r.get("status") == "completed" for r in rows.values()))
            if time.monotonic() - last_write[0] > 10:     # a partial table for the impatient
                write_table(table_now(), out, axis_cols)
                last_write[0] = time.monotonic()

        status = "completed"
        signum = None
        with StopSignals("stopping the sweep: running jobs checkpoint, pending ones are "
                         "cancelled", quiet=not progress) as stop:
            try:
                if scheduler in (None, "local"):
                    _local(todo, n_workers, stop, on_row)
                else:
                    _dask(todo, scheduler, n_workers, stop, on_row)
            finally:
                bar.close()
            if stop():
                status, signum = "interrupted", stop.signum
        ordered = table_now()
        if any(r["status"] in ("interrupted", "pending") for r in ordered) and \
                status == "completed":
            status = "interrupted"
        failed = [r for r in ordered if r["status"] in ("failed", "lost")]
        if failed and status == "completed":
            status = "failed"
        write_table(ordered, out, axis_cols)
        counts = {s: sum(r["status"] == s for r in ordered)
                  for s in ("completed", "failed", "lost", "interrupted", "pending")}
        sweep_run.finish("completed" if status == "completed" else
                         "interrupted" if status == "interrupted" else "failed",
                         reason=None if status != "failed" else "jobs failed",
                         n_jobs=len(ordered), counts=counts,
                         **({"signal": signal.Signals(signum).name} if signum else {}))
        result = SweepResult(ordered, status, signum, None if tmp else out, counts)
    finally:
        if tmp is not None:
            tmp.cleanup()
    if rows_only:
        if result.status == "interrupted":
            raise Interrupted(result.signal or signal.SIGINT,
                              f"sweep interrupted; continue with resume ({out})")
        return result.rows
    return result


def aggregate(rows: list[dict], keys: Iterable[str], metrics: Iterable[str]) -> list[dict]:
    """Per condition (the values of ``keys``, seeds pooled): n jobs, n completed, collapsed
    runs (counted, not averaged in), and mean and s.d. of each metric over the other runs."""
    keys = list(keys)
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    out = []
    for k, rs in groups.items():
        ok = [r for r in rs if r.get("status") == "completed" and not r.get("collapsed")]
        row = {**dict(zip(keys, k)), "n": len(rs), "n_ok": len(ok),
               "collapsed": sum(bool(r.get("collapsed")) for r in rs),
               "failed": sum(r.get("status") in ("failed", "lost") for r in rs)}
        for m in metrics:
            vals = [float(r[m]) for r in ok if isinstance(r.get(m), (int, float, bool))
                    and r.get(m) is not None]
            row[m] = float(np.mean(vals)) if vals else None
            row[f"{m}_sd"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
        out.append(row)
    return sort_rows(out, keys)


# ----------------------------------------------------------------------------------------------
# sweep files
# ----------------------------------------------------------------------------------------------

@dataclass
class Sweep:
    """A sweep described by a file or the command line."""

    family: str
    base: Any
    axes: dict
    seeds: list
    one_at_a_time: bool = False
    runner: str = ""
    summarise: str = ""

    def run(self, out, **kw) -> SweepResult:
        return run_sweep(self.base, self.axes, self.seeds, self.runner, self.summarise, out,
                         kind=f"sweep-{self.family}", one_at_a_time=self.one_at_a_time,
                         rows_only=False, **kw)


def make_sweep(family: str, preset: str | None = None, overrides: Iterable = (),
               axes: Mapping | None = None, seeds: Iterable[int] = (0,),
               one_at_a_time: bool = False) -> Sweep:
    """A :class:`Sweep` of a registered family from a preset, overrides and axes."""
    if family not in FAMILIES:
        raise ConfigError("family", family, f"must be one of {', '.join(FAMILIES)}")
    runner, cls_name, presets_name, summ = FAMILIES[family]
    presets = _load(presets_name)
    base = presets.get(preset or presets.names()[0])
    overrides = list(overrides)
    if overrides:
        base = apply_overrides(base, overrides)
    axes = dict(axes or {})
    if not axes:
        raise ConfigError("grid", axes, "name at least one axis (e.g. --grid task.B=1,2,4)")
    return Sweep(family, base, axes, [int(s) for s in seeds], one_at_a_time, runner, summ)


def load_sweep_file(path) -> Sweep:
    """Read a TOML or JSON sweep file::

        family = "ih"                  # train | ih | cot
        preset = "reddy-default"
        seeds = [0, 1, 2]
        one_at_a_time = true           # vary each axis alone around the base
        [set]                          # overrides of the base config
        "train.steps" = 20000
        [grid]
        "task.B" = [0, 1, 2, 4]
        "task.K" = [128, 512, 2048]
    """
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("sweep file", str(p), f"cannot be read ({exc})") from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import tomllib
            data = tomllib.loads(text)
    except (ValueError, ImportError) as exc:
        raise ConfigError("sweep file", str(p), f"is not valid TOML/JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError("sweep file", str(p), "must hold a table of settings")
    known = {"family", "preset", "seeds", "one_at_a_time", "set", "grid"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(unknown[0], data[unknown[0]], f"unknown sweep-file key; known: "
                          f"{', '.join(sorted(known))}")
    seeds = data.get("seeds", [0])
    if isinstance(seeds, int):
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ConfigError("seeds", seeds, "must be a list of non-negative integers (or a count)")
    grid = data.get("grid", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) for v in grid.values()):
        raise ConfigError("grid", grid, "must map dotted fields to lists of values")
    sets = data.get("set", {})
    if not isinstance(sets, dict):
        raise ConfigError("set", sets, "must map dotted fields to values")
    return make_sweep(str(data.get("family", "")), data.get("preset"), list(sets.items()),
                      grid, seeds, bool(data.get("one_at_a_time", False)))


# ----------------------------------------------------------------------------------------------
# summaries
# ----------------------------------------------------------------------------------------------

def run_collapsed(manifest: dict | None) -> bool:
    """Whether a run's manifest carries the training layer's collapse warning."""
    return any("collapsed" in w.get("message", "") for w in (manifest or {}).get("warnings", []))


def final_summary(metrics: dict, cfg, manifest: dict | None = None) -> dict:
    """Final accuracies and progress measures of an ICL-task run, whether it learned ICL (IC
    accuracy above the midpoint of B/N and 1), the first step it did, and whether the run
    collapsed (a warning in run.json)."""
    last = {k: float(v[-1]) for k, v in metrics.items() if k != "snapshots" and len(v)
            and np.asarray(v).dtype.kind in "fiu"}
    keys = ("ic_acc", "ic2_acc", "iw_acc", "test_acc", "loss", "ila1", "tila2", "tla2", "cla",
            "beta1", "alpha", "beta2", "xi")
    out = {k: last[k] for k in keys if k in last}
    ic = np.asarray(metrics.get("ic_acc", []), float)
    steps = np.asarray(metrics.get("step", []), float)
    level = 0.5 * (1 + cfg.task.B_eval / cfg.task.N)
    hit = np.flatnonzero(ic >= level)
    out["learned_icl"] = bool(ic.size and ic[-1] >= level)
    out["t_icl"] = int(steps[hit[0]]) if hit.size else None
    out["steps"] = int(steps[-1]) if steps.size else 0
    out["collapsed"] = run_collapsed(manifest)
    return out


# ----------------------------------------------------------------------------------------------
# SLURM (docs/sweeps.md)
# ----------------------------------------------------------------------------------------------

def slurm_cluster(queue: str | None = None, walltime: str = "04:00:00", memory: str = "4GiB",
                  account: str | None = None, python: str | None = None, **kw):
    """A ``dask_jobqueue.SLURMCluster`` whose workers fit ``minimal``: one process and one
    thread per SLURM job, BLAS and Numba capped at one thread, so that every Dask task (one
    whole run) owns one core.  Scale it with ``cluster.scale(jobs=N)`` and pass
    ``cluster.scheduler_address`` to ``minimal sweep --scheduler``, or ``Client(cluster)`` to
    the library.  Needs the ``slurm`` extra."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ConfigError("slurm", "dask-jobqueue", "is not installed: pip install "
                          "'minimal-icl[slurm]'") from None
    prologue = [f"export {v}=1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                          "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")]
    opts = dict(cores=1, processes=1, memory=memory, walltime=walltime, queue=queue,
                account=account, job_script_prologue=prologue,
                scheduler_options={"dashboard_address": None})
    if python:
        opts["python"] = python
    opts.update(kw)
    return SLURMCluster(**opts)
