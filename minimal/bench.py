"""Benchmarks shared by ``minimal bench`` and the scripts in ``benchmarks/``.

Each benchmark returns one JSON-able dict: the median time per unit of the compiled code, the
same for a reference implementation measured in the same process, their ratio, the warm-up
(compile or cache-load) time and the thread settings.  Ratios, not absolute seconds, are the
meaningful numbers on shared machines.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np

BENCHMARKS: dict[str, Callable[..., dict]] = {}


def benchmark(name: str):
    def deco(fn):
        BENCHMARKS[name] = fn
        return fn
    return deco


def _timeit(fn: Callable[[int], object], n: int, min_time: float = 0.0) -> list[float]:
    """Per-call wall times (seconds) of ``fn(i)`` for i = 0..n-1 (continuing past n until
    ``min_time`` seconds have been spent)."""
    times = []
    i = 0
    start = time.perf_counter()
    while i < n or (time.perf_counter() - start) < min_time:
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
        i += 1
    return times


def _threads() -> dict:
    from .env import numba_info, thread_env
    info = numba_info()
    return {"numba_threads": info["num_threads"], "threading_layer": info["threading_layer_active"],
            "env": thread_env()}


@benchmark("task")
def bench_task(quick: bool = False) -> dict:
    """Median time per training batch (128 sequences) of the compiled task generator at the
    default config vs the plain NumPy reference, plus the Fig. 3 config (p_C = 0.8)."""
    from .tasks.icl import ICLTask, TaskConfig
    from .tasks.icl_reference import generate_reference
    n_fast, n_ref = (50, 5) if quick else (400, 30)
    cases = {}
    for label, cfg in (("default", TaskConfig()),
                       ("reddy-fig3", TaskConfig(K=256, B=1, p_novel=0.8))):
        task = ICLTask(cfg, 0, warn=False)
        t0 = time.perf_counter()
        out = task.batch(0)
        warm = time.perf_counter() - t0
        fast = _timeit(lambda i: task.batch(i + 1, out=out), n_fast)
        rng = np.random.default_rng(0)
        ref = _timeit(lambda i: generate_reference(task, "train", cfg.batch_size, rng), n_ref)
        m_fast = statistics.median(fast) * 1e3
        m_ref = statistics.median(ref) * 1e3
        cases[label] = {"median_ms": round(m_fast, 4), "reference_median_ms": round(m_ref, 3),
                        "speedup": round(m_ref / m_fast, 2), "warmup_s": round(warm, 3),
                        "n_timed": len(fast), "n_reference_timed": len(ref),
                        "batch_size": cfg.batch_size}
    d = cases["default"]
    return {
        "benchmark": "task", "unit": "one training batch of 128 sequences (N=8, d=128)",
        "reference": "plain NumPy generator (minimal.tasks.icl_reference), same process",
        "median_ms": d["median_ms"], "reference_median_ms": d["reference_median_ms"],
        "speedup": d["speedup"], "warmup_s": d["warmup_s"],
        "warmup_note": "first call: Numba compile, or load from the on-disk cache",
        "targets": {"median_ms_max": 1.0, "speedup_min": 5.0},
        "meets_targets": bool(d["median_ms"] <= 1.0 and d["speedup"] >= 5.0),
        "cases": cases, "threads": _threads(), "quick": quick,
    }


def run(name: str, quick: bool = False) -> dict:
    from .errors import UnknownNameError
    if name not in BENCHMARKS:
        raise UnknownNameError(f"unknown benchmark {name!r}; available: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name](quick=quick)
