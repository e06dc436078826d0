"""Benchmarks shared by ``minimal bench`` and the scripts in ``benchmarks/``.

Each benchmark returns one JSON-able dict: the median time per unit of the compiled code, the
same for a reference implementation measured in the same process, their ratio, the warm-up
(compile or cache-load) time and the thread settings.

Times are **CPU seconds of this process** (``time.process_time``), medians over many repetitions,
with the wall-clock medians beside them.  On a shared machine a process waits for a core for an
unknown part of every wall-clock interval; its CPU time is what its own work cost.  Ratios of
CPU times measured in the same process (fast path against reference) are the most robust
numbers; docs/performance.md describes how the numbers in the notes were taken.
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


def _timeit(fn: Callable[[int], object], n: int, min_time: float = 0.0,
            wall: list | None = None) -> list[float]:
    """Per-call CPU times (seconds) of ``fn(i)`` for i = 0..n-1 (continuing past n until
    ``min_time`` CPU seconds have been spent); wall-clock times are appended to ``wall``."""
    times = []
    i = 0
    spent = 0.0
    while i < n or spent < min_time:
        w0 = time.perf_counter()
        t0 = time.process_time()
        fn(i)
        dt = time.process_time() - t0
        if wall is not None:
            wall.append(time.perf_counter() - w0)
        times.append(dt)
        spent += dt
        i += 1
    return times


def _timeit_cpu(fn: Callable[[int], object], n: int) -> tuple[list[float], list[float]]:
    """(wall, process CPU) seconds of each call ``fn(i)``, i = 0..n-1.  On a shared, loaded
    machine the CPU time of a one-thread call is the meaningful number: it excludes the time
    the process waited for a core."""
    wall, cpu = [], []
    for i in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(i)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return wall, cpu


def _ms(x) -> float:
    return round(statistics.median(x) * 1e3, 4)


def _threads() -> dict:
    from .env import numba_info, thread_env
    info = numba_info()
    return {"numba_threads": info["num_threads"], "threading_layer": info["threading_layer_active"],
            "env": thread_env()}


CLOCK_NOTE = ("times are CPU seconds of this process (median over repetitions); wall-clock "
              "medians in *_wall_ms; the speed-ups compare CPU times measured in this run")


@benchmark("task")
def bench_task(quick: bool = False) -> dict:
    """Median CPU time per training batch (128 sequences) of the compiled task generator vs the
    plain NumPy reference, at the default config and at reddy-fig3 (p_C = 0.8)."""
    from .tasks.icl import ICLTask, TASK_PRESETS, TaskConfig
    from .tasks.icl_reference import generate_reference
    n_fast, n_ref = (200, 5) if quick else (2000, 30)
    targets = {"default": 0.15, "reddy-fig3": 0.2}
    cases = {}
    for label, cfg in (("default", TaskConfig()), ("reddy-fig3", TASK_PRESETS.get("reddy-fig3"))):
        task = ICLTask(cfg, 0, warn=False)
        t0 = time.perf_counter()
        out = task.batch(0)
        warm = time.perf_counter() - t0
        wall = []
        fast = _timeit(lambda i: task.batch(i + 1, out=out), n_fast, wall=wall)
        rng = np.random.default_rng(0)
        ref = _timeit(lambda i: generate_reference(task, "train", cfg.batch_size, rng), n_ref)
        m_fast, m_ref = _ms(fast), _ms(ref)
        cases[label] = {"median_ms": m_fast, "min_ms": round(min(fast) * 1e3, 4),
                        "median_wall_ms": _ms(wall), "reference_median_ms": round(m_ref, 3),
                        "speedup": round(m_ref / m_fast, 2), "warmup_s": round(warm, 3),
                        "n_timed": len(fast), "n_reference_timed": len(ref),
                        "batch_size": cfg.batch_size, "target_median_ms_max": targets[label],
                        "meets_target": bool(m_fast <= targets[label])}
    d = cases["default"]
    return {
        "benchmark": "task", "unit": "one training batch of 128 sequences (N=8, d=128)",
        "clock": CLOCK_NOTE,
        "reference": "plain NumPy generator (minimal.tasks.icl_reference), same process",
        "median_ms": d["median_ms"], "reference_median_ms": d["reference_median_ms"],
        "speedup": d["speedup"], "warmup_s": d["warmup_s"],
        "warmup_note": "first call: Numba compile, or load from the on-disk cache",
        "targets": {"default_median_ms_max": 0.15, "reddy_fig3_median_ms_max": 0.2},
        "meets_targets": bool(all(c["meets_target"] for c in cases.values())),
        "cases": cases, "threads": _threads(), "quick": quick,
    }


def _torch_step_builder():
    """``benchmarks/torch_reference.build`` when torch and the script are available."""
    import importlib.util
    import os
    import sys
    if importlib.util.find_spec("torch") is None:
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "..", "benchmarks"), os.path.join(os.getcwd(), "benchmarks")):
        if os.path.exists(os.path.join(cand, "torch_reference.py")):
            if os.path.abspath(cand) not in sys.path:
                sys.path.insert(0, os.path.abspath(cand))
            break
    try:
        from torch_reference import build
    except ImportError:
        return None
    return build


def _net_case(preset: str, n_fast: int, n_ref: int, n_torch: int, build) -> dict:
    from .nets import reference as ref
    from .nets.attention import AttentionNet
    from .nets.config import NetConfig
    from .tasks.icl import ICLTask, TASK_PRESETS
    from .training.config import OptimConfig
    from .training.optim import make_optimizer
    cfg = TASK_PRESETS.get(preset)
    task = ICLTask(cfg, 0, warn=False)
    net = AttentionNet(NetConfig(), cfg)
    params = net.init(np.random.default_rng(0))
    opt = make_optimizer(OptimConfig(), params)
    grads = {k: np.empty_like(v) for k, v in params.items()}
    t0 = time.perf_counter()
    net.loss_and_grads(params, task.batch(0), grads)
    warm = time.perf_counter() - t0
    state = {"batch": None}
    comp = []

    def fast_step(i):
        b = task.batch(i + 1, out=state["batch"])
        state["batch"] = b
        tc = time.process_time()
        net.loss_and_grads(params, b, grads)
        opt.step(params, grads)
        comp.append(time.process_time() - tc)

    for i in range(5):                       # settle caches and the allocator
        fast_step(10_000 + i)
    comp.clear()
    wall = []
    fast = _timeit(fast_step, n_fast, wall=wall)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}

    def ref_step(i):
        b = task.batch(i + 1)
        _, g = ref.loss_and_grads(p64, b.content, b.shift, cfg.P, b.target, 1)
        for k in p64:
            p64[k] *= 1 - 1e-6
            p64[k] -= 0.01 * g[k]

    refs = _timeit(ref_step, n_ref)
    m_fast, m_comp, m_ref = _ms(fast), _ms(comp), _ms(refs)
    flops = net.flops_per_step(cfg.batch_size)
    out = {"median_ms": m_fast, "min_ms": round(min(fast) * 1e3, 4), "median_wall_ms": _ms(wall),
           "compute_median_ms": m_comp, "reference_median_ms": round(m_ref, 2),
           "speedup_vs_numpy": round(m_ref / m_fast, 1), "gflop_per_step": round(flops / 1e9, 4),
           "gflops_achieved": round(flops / (m_fast / 1e3) / 1e9, 1),
           "gflops_achieved_compute_only": round(flops / (m_comp / 1e3) / 1e9, 1),
           "warmup_s": round(warm, 3), "n_timed": len(fast),
           "kernel": "fused2" if net.fused else "general"}
    if build is not None:
        step = build(params, heads=1, threads=1)

        def torch_step(i):
            b = task.batch(i + 1)
            step(b.tokens, b.target)

        torch_step(0)
        twall = []
        tt = _timeit(torch_step, n_torch, wall=twall)
        out.update({"torch_median_ms": _ms(tt), "torch_median_wall_ms": _ms(twall),
                    "speedup_vs_torch": round(_ms(tt) / m_fast, 2)})
    else:
        out["torch_median_ms"] = None
    out["meets_targets"] = (None if build is None else
                            bool(m_fast <= 3.5 and out["speedup_vs_torch"] >= 6.0))
    return out


@benchmark("net")
def bench_net(quick: bool = False) -> dict:
    """Median CPU time per training step (data generation + forward + backward + SGD update) of
    the network, batch 128, one thread, at reddy-default and reddy-fig3, vs the NumPy float64
    reference and (when torch is installed) a plain PyTorch eager implementation, all measured
    in this process."""
    from .env import tune_malloc
    tune_malloc()
    n_fast, n_ref, n_torch = (40, 2, 5) if quick else (400, 5, 40)
    build = _torch_step_builder()
    cases = {p: _net_case(p, n_fast, n_ref, n_torch, build)
             for p in ("reddy-default", "reddy-fig3")}
    d = cases["reddy-default"]
    out = {
        "benchmark": "net", "unit": "one training step, batch 128 (data generation + forward + "
        "backward + SGD update)", "clock": CLOCK_NOTE,
        "reference": "NumPy float64 dense reference (minimal.nets.reference)",
        "torch_reference": "benchmarks/torch_reference.py (eager, autograd, all positions, "
        "1 thread; its time includes the same data generation)",
        "targets": {"median_ms_max": 3.5, "speedup_vs_torch_min": 6.0},
        "cases": cases, "threads": _threads(), "quick": quick,
    }
    for k in ("median_ms", "compute_median_ms", "reference_median_ms", "speedup_vs_numpy",
              "gflop_per_step", "gflops_achieved", "gflops_achieved_compute_only", "warmup_s",
              "n_timed", "kernel", "torch_median_ms", "speedup_vs_torch"):
        if k in d:
            out[k] = d[k]
    if build is not None:
        import torch
        out["torch_version"] = torch.__version__
        out["meets_targets"] = bool(all(c["meets_targets"] for c in cases.values()))
    else:
        out["torch_note"] = "torch not installed (pip install torch==2.13.0 to compare)"
        out["meets_targets"] = None
    return out


def _best_cpu(fn, n: int, reps: int = 1) -> tuple[float, float]:
    """(min, median) CPU seconds of one call of ``fn()`` (thread clock), over n samples of
    ``reps`` calls each (after one warm-up call)."""
    fn()
    ts = []
    for _ in range(n):
        t0 = time.thread_time()
        for _ in range(reps):
            fn()
        ts.append((time.thread_time() - t0) / reps)
    return min(ts), statistics.median(ts)


def sgemm_peak(quick: bool = False) -> dict:
    """Single-thread float32 GEMM speed of the BLAS the kernels call (``_gemm``), square
    sizes; the largest is the peak the roofline compares against."""
    from numba import njit

    from ._numerics import _gemm

    @njit(cache=False)
    def mm(a, b, c, reps):
        for _ in range(reps):
            _gemm(False, False, 1.0, a, b, 0.0, c)

    rng = np.random.default_rng(0)
    out = {}
    for n in (128, 256, 512):
        a = rng.random((n, n), dtype=np.float32)
        b = rng.random((n, n), dtype=np.float32)
        c = np.empty((n, n), np.float32)
        reps = max(1, (256 // n) ** 3 * 4)
        best, med = _best_cpu(lambda: mm(a, b, c, reps), 10 if quick else 40)
        out[str(n)] = {"min_ms": round(best / reps * 1e3, 4),
                       "gflops_at_min": round(2.0 * n ** 3 / (best / reps) / 1e9, 1),
                       "gflops_at_median": round(2.0 * n ** 3 / (med / reps) / 1e9, 1)}
    return {"sizes": out, "peak_gflops": max(v["gflops_at_min"] for v in out.values())}


@benchmark("sgemm")
def bench_sgemm(quick: bool = False) -> dict:
    """Single-thread float32 matrix-product speed (the roofline's peak)."""
    res = sgemm_peak(quick)
    return {"benchmark": "sgemm", "unit": "one n × n × n float32 product, one thread",
            "clock": "thread CPU time, minimum over repetitions (the peak is a best case)",
            **res, "threads": _threads(), "quick": quick}


@benchmark("roofline")
def bench_roofline(quick: bool = False) -> dict:
    """Achieved GFLOP/s of every phase of a reddy-default training step (batch 128, one thread)
    against the measured sgemm peak on the same core: data, the bilinear matrices, layer 1,
    layer 2, MLP + loss, the backward phases, the query/key gradients and the SGD update.
    Each phase is timed alone (minimum CPU time over repetitions: its data stay in cache), and
    the whole step is timed too: the difference is the cost of phases evicting each other's
    data."""
    from .env import tune_malloc
    from .nets import _kernels as K
    from .nets.attention import AttentionNet
    from .nets.config import NetConfig
    from .tasks.icl import ICLTask, TASK_PRESETS
    from .training.config import OptimConfig
    from .training.optim import make_optimizer
    tune_malloc()
    peak = sgemm_peak(quick)
    cfg = TASK_PRESETS.get("reddy-default")
    task = ICLTask(cfg, 0, warn=False)
    net = AttentionNet(NetConfig(), cfg)
    p = net.init(np.random.default_rng(0))
    g = {k: np.empty_like(v) for k, v in p.items()}
    opt = make_optimizer(OptimConfig(), p)
    nb = cfg.batch_size
    b = task.batch(0)
    net.loss_and_grads(p, b, g)
    C, pos, y = net._inputs(b)
    ws = net._workspace(nb)
    P, H = net.P, net.net.heads
    WQ, WK, WV, MW, Mb, Wout = (p[k] for k in ("W_Q", "W_K", "W_V", "mlp_W", "mlp_b", "W_out"))
    A, dA = ws[K._I_A], ws[K._I_DA]
    _, dlog, _ = K._fused2_mlp_loss(MW, Mb, Wout, y, ws)
    dlog = dlog.copy()
    dh0 = K._fused2_mlp_bwd(dlog, MW, Wout, g["mlp_W"], g["mlp_b"], g["W_out"], ws).copy()
    flops = net.phase_flops(nb)
    n = 30 if quick else 200
    phases = {
        "data": lambda: task.batch(1, out=b),
        "form_A": lambda: K._fused2_form_A(WQ, WK, H, A),
        "layer1": lambda: K._fused2_layer1(C, pos, P, WV, H, ws),
        "layer2": lambda: K._fused2_layer2(pos, P, WV, H, ws),
        "mlp_loss": lambda: K._fused2_mlp_loss(MW, Mb, Wout, y, ws),
        "mlp_bwd": lambda: K._fused2_mlp_bwd(dlog.copy(), MW, Wout, g["mlp_W"], g["mlp_b"],
                                             g["W_out"], ws),
        "layer2_bwd": lambda: K._fused2_layer2_bwd(pos, P, WV, H, dh0, g["W_V"], ws),
        "layer1_bwd": lambda: K._fused2_layer1_bwd(C, pos, P, WV, H, g["W_V"], ws),
        "qk_grads": lambda: K._qk_grads(WQ, WK, dA, H, g["W_Q"], g["W_K"]),
        "update": lambda: opt.step(p, g),
    }
    rows = []
    pk = peak["peak_gflops"]
    for name, fn in phases.items():
        best, med = _best_cpu(fn, n)
        f = flops.get(name, 0.0)
        row = {"phase": name, "min_ms": round(best * 1e3, 4), "median_ms": round(med * 1e3, 4),
               "mflop": round(f / 1e6, 2)}
        if f:
            row["gflops_at_min"] = round(f / best / 1e9, 1)
            row["percent_of_peak"] = round(100.0 * f / best / 1e9 / pk, 1)
        rows.append(row)
    p32 = {k: v.copy() for k, v in p.items()}

    def step():
        task.batch(2, out=b)
        net.loss_and_grads(p32, b, g)
        opt.step(p32, g)

    best, med = _best_cpu(step, n)
    tot = sum(flops.values())
    sum_min = sum(r["min_ms"] for r in rows)
    return {"benchmark": "roofline", "unit": "phases of one reddy-default training step, "
            "batch 128, one thread", "clock": "thread CPU time; min and median over "
            f"{n} repetitions of each phase alone", "sgemm": peak,
            "flop_counting": "multiply-adds count 2; GEMMs as executed (the content block "
            "padded to Dp = 64 columns); loops and softmaxes count their multiply-adds; the "
            "generator and the update have no floating-point work worth counting",
            "phases": rows, "sum_of_phase_minima_ms": round(sum_min, 4),
            "whole_step_min_ms": round(best * 1e3, 4), "whole_step_median_ms": round(med * 1e3, 4),
            "gflop_per_step": round(tot / 1e9, 4),
            "whole_step_gflops_at_min": round(tot / best / 1e9, 1),
            "threads": _threads(), "quick": quick}


def cpu_topology() -> dict:
    """Logical CPUs, their cores and packages, SMT siblings and caches (Linux sysfs)."""
    import glob
    import os
    import platform
    cpus = {}
    for path in sorted(glob.glob("/sys/devices/system/cpu/cpu[0-9]*/topology")):
        cpu = os.path.basename(os.path.dirname(path))

        def rd(name, path=path):
            try:
                with open(os.path.join(path, name)) as f:
                    return f.read().strip()
            except OSError:
                return None
        cpus[cpu] = {"core_id": rd("core_id"), "package": rd("physical_package_id"),
                     "smt_siblings": rd("thread_siblings_list")}
    caches = []
    for path in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index[0-9]*")):
        def rd(name, path=path):
            try:
                with open(os.path.join(path, name)) as f:
                    return f.read().strip()
            except OSError:
                return None
        caches.append({"level": rd("level"), "type": rd("type"), "size": rd("size"),
                       "shared_with_cpus": rd("shared_cpu_list")})
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = {(c["package"], c["core_id"]) for c in cpus.values()}
    return {"machine": platform.machine(), "model": model, "logical_cpus": len(cpus),
            "physical_cores": len(cores), "threads_per_core": (len(cpus) // max(len(cores), 1)),
            "cpus": cpus, "caches_of_cpu0": caches,
            "note": "as the (possibly virtual) machine reports it; a hypervisor may still place "
                    "two virtual cores on one physical core's hardware threads"}


_SCALING_CHILD = r"""
import json, os, sys, time
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[v] = "1"
cpu, steps = int(sys.argv[1]), int(sys.argv[2])
if cpu >= 0 and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {cpu})
import numpy as np
from minimal.env import tune_malloc
tune_malloc()
from minimal.nets.attention import AttentionNet
from minimal.nets.config import NetConfig
from minimal.tasks.icl import ICLTask, TASK_PRESETS
from minimal.training.config import OptimConfig
from minimal.training.optim import make_optimizer
cfg = TASK_PRESETS.get("reddy-default")
task = ICLTask(cfg, cpu + 1, warn=False)
net = AttentionNet(NetConfig(), cfg)
p = net.init(np.random.default_rng(0))
g = {k: np.empty_like(v) for k, v in p.items()}
opt = make_optimizer(OptimConfig(), p)
b = None
for i in range(30):
    b = task.batch(i, out=b); net.loss_and_grads(p, b, g); opt.step(p, g)
print("ready", flush=True)
sys.stdin.readline()
w0, c0 = time.time(), time.process_time()
cpu_steps = []
for i in range(steps):
    t = time.process_time()
    b = task.batch(100 + i, out=b); net.loss_and_grads(p, b, g); opt.step(p, g)
    cpu_steps.append(time.process_time() - t)
w1, c1 = time.time(), time.process_time()
print(json.dumps({"cpu": cpu, "steps": steps, "t_start": w0, "t_end": w1, "wall_s": w1 - w0,
                  "cpu_s": c1 - c0, "median_step_cpu_ms": float(np.median(cpu_steps)) * 1e3,
                  "min_step_cpu_ms": float(np.min(cpu_steps)) * 1e3}))
"""


def _run_children(cpus: list[int], steps: int) -> list[dict]:
    """Start one training child per CPU in ``cpus``, release them together, collect results."""
    import json
    import os
    import subprocess
    import sys
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    procs = [subprocess.Popen([sys.executable, "-c", _SCALING_CHILD, str(c), str(steps)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
             for c in cpus]
    try:
        for pr in procs:
            if pr.stdout.readline().strip() != "ready":
                raise RuntimeError("scaling benchmark: a child failed to start")
        for pr in procs:
            pr.stdin.write("go\n")
            pr.stdin.flush()
        outs = [json.loads(pr.communicate(timeout=3600)[0].strip().splitlines()[-1])
                for pr in procs]
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
    return outs


@benchmark("scaling")
def bench_scaling(quick: bool = False) -> dict:
    """Two training processes (reddy-default, batch 128, one thread each) pinned to the two
    CPUs against one alone: aggregate throughput in steps per wall-clock second, and each
    process's CPU time per step (which shows interference through shared caches, memory
    bandwidth or hardware threads even when other work keeps the wall clock busy)."""
    import os
    topo = cpu_topology()
    steps = 200 if quick else 1500
    n_cpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    out = {"benchmark": "scaling", "unit": f"{steps} reddy-default training steps per process "
           "(data + step + update)", "topology": topo, "quick": quick,
           "targets": {"aggregate_throughput_ratio_min": 1.8}}
    if n_cpu < 2:
        out["note"] = "fewer than two CPUs available to this process"
        return out
    one = _run_children([0], steps)[0]
    two = _run_children([0, 1], steps)
    span = max(r["t_end"] for r in two) - min(r["t_start"] for r in two)
    thr1 = steps / one["wall_s"]
    thr2 = 2 * steps / span
    cpu1 = one["median_step_cpu_ms"]
    cpu2 = statistics.mean(r["median_step_cpu_ms"] for r in two)
    out.update({
        "one_process": one, "two_processes": two,
        "throughput_one_steps_per_s": round(thr1, 1),
        "throughput_two_steps_per_s": round(thr2, 1),
        "aggregate_throughput_ratio_wall": round(thr2 / thr1, 3),
        "cpu_ms_per_step_one": round(cpu1, 4), "cpu_ms_per_step_two": round(cpu2, 4),
        "interference_factor_cpu": round(cpu2 / cpu1, 3),
        "aggregate_throughput_ratio_if_each_has_its_core": round(2 * cpu1 / cpu2, 3),
        "clock": "wall-clock throughput is only meaningful on an otherwise idle machine; the "
                 "CPU-time ratio 2·t1/t2 is the throughput two processes reach when each "
                 "gets its core (their mutual interference is in t2)",
    })
    return out


@benchmark("ih")
def bench_ih(quick: bool = False) -> dict:
    """10,000 training steps (batch 128, reddy-fig3) of the minimal model ih3 with each
    classifier, one thread, compile excluded (reported separately).  ``end_to_end_s`` runs the
    shared trainer's inner loop (fresh batch from the generator + forward/backward + SGD);
    ``model_only_s`` reuses one pre-generated batch (generator excluded).  CPU seconds, with
    the wall-clock seconds beside them."""
    from .env import tune_malloc
    from .induction_head.config import IHConfig
    from .induction_head.model import IHModel
    from .training.config import OptimConfig
    from .training.optim import make_optimizer
    from .tasks.icl import ICLTask, TASK_PRESETS
    tune_malloc()
    tcfg = TASK_PRESETS.get("reddy-fig3")
    task = ICLTask(tcfg, 0, warn=False)
    steps = 1000 if quick else 10_000
    out = {"benchmark": "ih", "unit": f"{steps} training steps, batch 128, reddy-fig3, ih3",
           "clock": "CPU seconds of this process (wall-clock in *_wall_s)",
           "steps": steps, "targets": {"linear_s_max": 3.0, "mlp3_s_max": 5.0},
           "threads": _threads(), "quick": quick}
    batch0 = task.batch(0)
    gen = _timeit(lambda i: task.batch(i), 200 if not quick else 40)
    gen_ms = _ms(gen)
    for clf in ("linear", "mlp3"):
        model = IHModel(IHConfig(variant="ih3", classifier=clf), tcfg, task.label_vectors)
        params = model.init(np.random.default_rng(0))
        grads = {k: np.empty_like(v) for k, v in params.items()}
        opt = make_optimizer(OptimConfig(lr=1.0, weight_decay=0.0), params, model.lr_scale)
        t0 = time.perf_counter()
        model.loss_and_grads(params, batch0, grads)
        opt.step(params, grads)
        compile_s = time.perf_counter() - t0
        w0, t0 = time.perf_counter(), time.process_time()
        for s in range(steps):
            model.loss_and_grads(params, batch0, grads)
            opt.step(params, grads)
        model_only, model_wall = time.process_time() - t0, time.perf_counter() - w0
        params = model.init(np.random.default_rng(0))
        opt = make_optimizer(OptimConfig(lr=1.0, weight_decay=0.0), params, model.lr_scale)
        b = None
        w0, t0 = time.perf_counter(), time.process_time()
        for s in range(steps):
            b = task.batch(s, out=b)
            model.loss_and_grads(params, b, grads)
            opt.step(params, grads)
        e2e, e2e_wall = time.process_time() - t0, time.perf_counter() - w0
        out[clf] = {"end_to_end_s": round(e2e, 3), "model_only_s": round(model_only, 3),
                    "end_to_end_wall_s": round(e2e_wall, 3),
                    "model_only_wall_s": round(model_wall, 3),
                    "per_step_ms": round(e2e / steps * 1e3, 4),
                    "model_per_step_ms": round(model_only / steps * 1e3, 4),
                    "compile_s": round(compile_s, 3)}
    out["generator_ms_per_batch"] = gen_ms
    scale = 10_000 / steps
    out["meets_targets"] = {
        "linear_end_to_end": bool(out["linear"]["end_to_end_s"] * scale <= 3.0),
        "mlp3_end_to_end": bool(out["mlp3"]["end_to_end_s"] * scale <= 5.0)}
    return out


@benchmark("theory")
def bench_theory(quick: bool = False) -> dict:
    """One nested-logits gradient-flow curve (solve_ivp, dense output, events) at the default
    setting after the compiled functions are cached; the SymPy derivation and code generation
    are timed separately (they run once per machine, then the generated module is cached)."""
    from .theory import nested_logits as nl
    from .theory._codegen import cache_dir, generate_source
    from .theory.analysis import plateau_estimate
    t0 = time.perf_counter()
    nl.compiled()
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    d = nl.derivation.__wrapped__()
    derive = time.perf_counter() - t0
    t0 = time.perf_counter()
    args = list(d["theta"]) + list(d["consts"])
    generate_source("f", args, [d["exprs"]["loss"], *d["grad"]])
    gen = time.perf_counter() - t0
    cfg = nl.NestedLogitsConfig()
    t_max = 3 * plateau_estimate(cfg)
    nl.gradient_flow(cfg, t_max)
    n = 5 if quick else 30
    times = _timeit(lambda i: nl.gradient_flow(cfg, t_max), n)
    tr = nl.gradient_flow(cfg, t_max)
    gd = _timeit(lambda i: nl.gradient_descent(cfg, 1000), n)
    med = statistics.median(times) * 1e3
    return {
        "benchmark": "theory", "unit": "one gradient-flow curve (N=8, L=32, B=1, eps=0.1, "
        f"t_max = 3 t* = {t_max:.1f}, RK45 rtol 1e-6, 400 saved points, 1 event)",
        "median_ms": round(med, 3), "nfev": tr.info["nfev"],
        "gd_1000_steps_median_ms": round(statistics.median(gd) * 1e3, 3),
        "sympy_derivation_s": round(derive, 3), "codegen_cse_s": round(gen, 3),
        "compiled_functions_load_s": round(load, 3),
        "derivation_cached_in": str(cache_dir()),
        "targets": {"median_ms_max": 20.0}, "meets_targets": bool(med <= 20.0),
        "threads": _threads(), "quick": quick,
    }


@benchmark("fit")
def bench_fit(quick: bool = False) -> dict:
    """Wall time of one fit of a 200-point noisy curve, errors, verdict and transition interval
    included: the median of repeated fits for logistic, three-factor and nested-logits (each
    fitted to a curve of its own form), and one ih-minimal fit (its simulations included,
    after a warm-up simulation that loads the compiled kernels), wall and CPU time.  The
    reference is the logistic fit measured in the same run."""
    from .fit import fit_curve, from_arrays, make_model
    from .fit.ih_fit import _SIMS
    x = np.linspace(0, 40_000, 200)
    rng = np.random.default_rng(0)
    out = {"benchmark": "fit", "unit": "one fit of a 200-point curve (params, stderr, R², "
           "AIC/BIC, verdict, transition + 95% interval)",
           "targets": {"logistic_ms_max": 50.0, "nested_logits_ms_max": 1000.0,
                       "ih_minimal_s_max": 20.0},
           "quick": quick, "threads": _threads()}
    cases = {"logistic": [15_000, 1000.0, 0.05, 0.95],
             "three-factor": [200.0, 0.05, 0.05, 0.95],
             "nested-logits": [100.0, -2.5, 0.0, 0.0, 0.05, 0.95]}
    for name, p in cases.items():
        m = make_model(name)
        y = np.clip(m.predict(x, np.array(p)) + rng.normal(0, 0.01, len(x)), 0, 1)
        c = from_arrays(x, y, "step", "ic_acc")
        t0 = time.perf_counter()
        fit_curve(c, m)                       # warm-up (compilation or cache load)
        warm = time.perf_counter() - t0
        cpu = []

        def one(i, c=c, m=m):
            c0 = time.process_time()
            fit_curve(c, m)
            cpu.append(time.process_time() - c0)
        times = _timeit(one, 3 if quick else 10)
        r = fit_curve(c, m)
        out[name] = {"median_ms": round(statistics.median(times) * 1e3, 2),
                     "median_cpu_ms": round(statistics.median(cpu) * 1e3, 2),
                     "warmup_s": round(warm, 3), "n_timed": len(times), "r2": round(r.r2, 5),
                     "verdict": r.verdict, "nfev": r.info["nfev"], "fixed": list(r.fixed)}
    ih = make_model("ih-minimal", progress=False)
    t0 = time.perf_counter()
    steps, vals = ih.simulate(-2.0)           # warm-up: kernels compiled or loaded
    warm = time.perf_counter() - t0
    xs = np.linspace(0, steps[-1] * 3.0 * 1.5, 200)
    y = np.clip(np.interp(xs / 3.0, steps, vals) + rng.normal(0, 0.01, len(xs)), 0, 1)
    c = from_arrays(xs, y, "step", "ic_acc")
    _SIMS.clear()                             # the timed fit runs every simulation
    lines = []
    t0, c0 = time.perf_counter(), time.process_time()
    r = fit_curve(c, ih, progress=lines.append)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out["ih-minimal"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                         "warmup_s": round(warm, 2), "simulations": len(lines),
                         "progress_lines": lines, "time_scale": round(r.params["time_scale"], 4),
                         "true_time_scale": 3.0, "beta1_0": r.params["beta1_0"],
                         "r2": round(r.r2, 5), "verdict": r.verdict}
    try:
        import os
        out["load_average_1min"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    out["logistic_reference_ms"] = out["logistic"]["median_ms"]
    out["targets_note"] = ("on a shared machine wall time grows with the load average; the CPU "
                           "times (process time of this single-threaded process) are judged")
    out["meets_targets"] = bool(out["logistic"]["median_cpu_ms"] <= 50 and
                                out["nested-logits"]["median_cpu_ms"] <= 1000 and
                                out["ih-minimal"]["cpu_s"] <= 20.0)
    return out


def _peak_rss_gib() -> float:
    """Peak resident memory of this process's own image: VmHWM (Linux).  ``ru_maxrss`` is not
    used where VmHWM exists: Linux carries it across exec, so a child started by a big parent
    reports the parent's size."""
    import resource
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _cot_child(preset: str, cot: bool, steps: int, every: int) -> None:
    """Run in a fresh process (``python -c``): train into a temporary run directory (metrics
    and checkpoints written as in a real run), print timings and peak RSS as JSON."""
    import json
    import tempfile
    from pathlib import Path

    from .config import apply_overrides
    from .cot.train import COT_PRESETS, train_cot
    from .env import limit_threads
    limit_threads(1)
    cfg = apply_overrides(COT_PRESETS.get(preset), {"train.steps": steps,
                                                    "train.eval_every": every,
                                                    "model.cot": cot})
    with tempfile.TemporaryDirectory(prefix="minimal-bench-cot-") as tmp:
        c0, t0 = time.process_time(), time.perf_counter()
        res = train_cot(cfg, str(Path(tmp) / "run"), progress=False)
    out = {"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - t0,
           "step_wall_s": res.timings.get("step_s"), "eval_wall_s": res.timings.get("eval_s"),
           "peak_rss_gib": _peak_rss_gib(), "steps": steps}
    print("BENCH-JSON " + json.dumps(out), flush=True)


def _cot_subprocess(preset: str, cot: bool, steps: int, every: int) -> dict:
    import json
    import subprocess
    import sys
    code = (f"from minimal.bench import _cot_child; _cot_child({preset!r}, {cot}, {steps}, "
            f"{every})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-JSON ")][-1]
    return json.loads(line[len("BENCH-JSON "):])


@benchmark("cot")
def bench_cot(quick: bool = False) -> dict:
    """Level 1 of the CoT model, one thread.

    * kernel: median time per training step (batch 512) on the small and the paper world, CoT
      and no CoT, against the dense float64 NumPy reference (:mod:`minimal.cot.reference`)
      on the tiny world measured in the same run (per item);
    * paper world (2000 entities, 200 relations): a fresh process per run, its CPU time for
      20,000 CoT steps with the probes every 2,000 (quick: 1,000 steps, extrapolated) and its
      peak resident memory, CoT and no CoT (no CoT: 1,000 steps, by when every row has been
      touched; its step time is reported, not targeted);
    * small world, no CoT, end to end in a fresh process: 20,000 steps with the probes every
      2,000 (quick: 2,000 steps, extrapolated), target ≤ 60 CPU s.
    """
    from .config import apply_overrides
    from .cot.config import COT_PRESETS, TSAMConfig
    from .cot.model import TSAM, order_for
    from .cot.reference import RefModel
    from .env import tune_malloc
    from .tasks.twohop import COT_WORLDS, TwoHopWorld
    tune_malloc()
    out = {"benchmark": "cot", "quick": quick, "threads": _threads(),
           "unit": "one training step (batch 512); paper world: 20,000 CoT steps",
           "targets": {"paper_20k_cot_cpu_s_max": 600.0, "paper_peak_rss_gib_max": 4.0,
                       "small_20k_no_cot_cpu_s_max": 60.0}}
    # kernel step times (rows materialised by a first pass, then timed)
    kern = {}
    n_time = 3 if quick else 9
    for world in ("small", "paper"):
        cfg = COT_PRESETS.get(world)
        w = TwoHopWorld(cfg.world, cfg.seeds)
        for cot in (True, False):
            model = TSAM(apply_overrides(cfg, {"model.cot": cot}).model, w)
            bs = cfg.model.batch_size
            chunk = 20 if world == "paper" else 100

            def go(i, model=model, bs=bs, chunk=chunk):
                order, p0 = order_for(w.seeds, model.n_items, model.step * bs, chunk * bs)
                model.train(order, p0, chunk)
            t0 = time.perf_counter()
            go(0)
            warm = time.perf_counter() - t0
            times = _timeit(go, n_time)
            kern[f"{world}_{'cot' if cot else 'no_cot'}"] = {
                "median_ms_per_step": round(statistics.median(times) / chunk * 1e3, 3),
                "first_chunk_s": round(warm, 3), "n_timed_chunks": len(times),
                "steps_per_chunk": chunk}
            del model
    out["kernel"] = kern
    # the reference on the tiny world (per item), same process
    wt = TwoHopWorld(COT_WORLDS.get("tiny"), 0, warn=False)
    tcfg = TSAMConfig(batch_size=64, warmup_steps=0)
    fast = TSAM(tcfg, wt, dtype=np.float64)
    ref = RefModel(tcfg, wt, fast.init_key)
    order, p0 = order_for(wt.seeds, fast.n_items, 0, 64 * 8)
    fast.train(order, p0, 1)
    kt = _timeit(lambda i: fast.train(order, p0 + 64 * (i % 7 + 1), 1), 20)
    rt = _timeit(lambda i: ref.train_step(order[p0 + 64 * i: p0 + 64 * (i + 1)]),
                 2 if quick else 4)
    out["tiny_vs_reference"] = {"kernel_median_ms_per_item": round(statistics.median(kt) / 64
                                                                   * 1e3, 4),
                                "reference_median_ms_per_item": round(statistics.median(rt) / 64
                                                                      * 1e3, 3),
                                "speedup": round(statistics.median(rt) /
                                                 statistics.median(kt), 1)}
    # the paper world in fresh processes: CPU time and peak memory
    steps = 1000 if quick else 20_000
    cot_run = _cot_subprocess("paper", True, steps, min(2000, steps))
    nocot_run = _cot_subprocess("paper", False, 1000, 1000)
    scale = 20_000 / steps
    out["paper"] = {
        "cot": {**{k: round(v, 3) for k, v in cot_run.items()},
                "cpu_s_20k_steps": round(cot_run["cpu_s"] * scale, 1),
                "extrapolated": steps != 20_000},
        "no_cot": {**{k: round(v, 3) for k, v in nocot_run.items()},
                   "cpu_s_20k_steps_extrapolated": round(nocot_run["cpu_s"] * 20, 1)},
        "note": "CPU seconds of one process = time on one core (wall time is longer on a "
                "shared machine); peak RSS of the whole process (world, stores, probes)"}
    small_steps = 2000 if quick else 20_000
    small = _cot_subprocess("small", False, small_steps, 2000)
    out["small_no_cot"] = {**{k: round(v, 3) for k, v in small.items()},
                           "cpu_s_20k_steps": round(small["cpu_s"] * 20_000 / small_steps, 1),
                           "extrapolated": small_steps != 20_000}
    out["meets_targets"] = bool(out["paper"]["cot"]["cpu_s_20k_steps"] <= 600.0 and
                                cot_run["peak_rss_gib"] <= 4.0 and
                                nocot_run["peak_rss_gib"] <= 4.0 and
                                out["small_no_cot"]["cpu_s_20k_steps"] <= 60.0)
    return out


@benchmark("lsa")
def bench_lsa(quick: bool = False) -> dict:
    """Linear self-attention (1 layer, d = N = 10, batch 512, Adam): 5,000 training steps
    (quick: 1,000) through the training layer's inner loop (fresh batch + forward/backward +
    Adam), one thread, evaluation excluded; the first step (compile or cache load) is timed
    apart.  Reference: the NumPy float64 forward/backward (minimal.lsa.reference) on the same
    batches, same process.  Also the per-step time of 2 and 3 layers."""
    import dataclasses

    from .env import tune_malloc
    from .lsa import reference as ref
    from .lsa.config import LSA_PRESETS
    from .lsa.model import LSAModel
    from .lsa.data import LSATasks
    from .training.gradient import GradientLearner
    from .training.protocol import StepStats
    tune_malloc()
    steps = 1000 if quick else 5000
    cfg = LSA_PRESETS.get("lsa-default")
    out = {"benchmark": "lsa", "unit": f"{steps} training steps, batch 512, 1 layer, d = N = 10 "
           "(fresh batch + forward/backward + Adam)", "steps": steps, "quick": quick,
           "targets": {"seconds_for_5000_steps_max": 30.0}, "threads": _threads()}
    model = LSAModel(cfg.model)
    data = LSATasks(cfg.model, cfg.seeds)
    learner = GradientLearner(model, data, cfg.optim, cfg.seeds.generator("init"))
    learner.init_state()
    t0 = time.perf_counter()
    learner.advance(0, 1, lambda: False, StepStats())
    out["warmup_s"] = round(time.perf_counter() - t0, 3)
    chunk = 100
    per_chunk = []
    t_all = time.perf_counter()
    for s in range(1, steps, chunk):
        n = min(chunk, steps - s)
        t1 = time.perf_counter()
        learner.advance(s, n, lambda: False, StepStats())
        per_chunk.append((time.perf_counter() - t1) / n)
    total = time.perf_counter() - t_all
    med = statistics.median(per_chunk)
    out.update({"seconds": round(total, 3), "steps_per_s": round((steps - 1) / total, 1),
                "median_ms_per_step": round(med * 1e3, 4),
                "extrapolated_5000_steps_s": round(med * 5000, 2),
                "timings": {k: round(v, 3) for k, v in learner.timings.items()}})
    batch = data.batch(0)
    p64 = {k: v.astype(np.float64) for k, v in learner.params.items()}
    n_ref = 3 if quick else 10
    refs = _timeit(lambda i: ref.loss_and_grads(p64, batch.X, batch.Y), n_ref)
    out["reference_median_ms"] = round(statistics.median(refs) * 1e3, 3)
    out["speedup_vs_reference"] = round(statistics.median(refs) / med, 1)
    for K in (2, 3):
        m = LSAModel(dataclasses.replace(cfg.model, layers=K))
        p = m.init(np.random.default_rng(0))
        g = {k: np.empty_like(v) for k, v in p.items()}
        m.loss_and_grads(p, batch, g)
        tt = _timeit(lambda i: m.loss_and_grads(p, batch, g), 10 if quick else 50)
        out[f"layers{K}_median_ms_per_step"] = round(statistics.median(tt) * 1e3, 3)
    out["meets_targets"] = bool(med * 5000 <= 30.0)
    return out


def _torch_transformer():
    """benchmarks/torch_transformer.build, or None when torch (or the script) is missing."""
    import importlib.util
    import os
    import sys
    if importlib.util.find_spec("torch") is None:
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "..", "benchmarks"), os.path.join(os.getcwd(), "benchmarks")):
        if os.path.exists(os.path.join(cand, "torch_transformer.py")):
            sys.path.insert(0, os.path.abspath(cand))
            break
    try:
        from torch_transformer import build
    except ImportError:
        return None
    return build


def _lm_batch(rng, n, T, vocab):
    from .tasks.seq import SeqBatch
    tok = rng.integers(0, vocab, (n, T + 1)).astype(np.int32)
    return SeqBatch(np.ascontiguousarray(tok[:, :T]), None, np.ascontiguousarray(tok[:, 1:]))


@benchmark("transformer")
def bench_transformer(quick: bool = False) -> dict:
    """One Adam step (forward + backward + update) of the configurable transformer, one thread,
    against an eager PyTorch implementation of the same network measured in this process:
    the Singh default (batch 32, 5 tokens, 2 layers, 8 heads, d 64, RoPE, pre-LN, loss at the
    query) and a language-model setting (batch 64, length 64, 2 layers, 4 heads, d 32,
    vocabulary 64, learned positions, loss at every position)."""
    from .env import tune_malloc
    from .tasks.singh import SinghTask
    from .training.config import OptimConfig
    from .training.optim import make_optimizer
    from .transformer.config import TransformerConfig, TransformerRunConfig
    from .transformer.model import Transformer
    tune_malloc()
    build = _torch_transformer()
    n_fast, n_torch = (30, 5) if quick else (300, 40)
    out = {"benchmark": "transformer", "unit": "one Adam step (forward, backward, update)",
           "threads": _threads(), "quick": quick,
           "targets": {"singh_speedup_vs_torch_min": 3.0}}
    rc = TransformerRunConfig()
    task = SinghTask(rc.task, 0)
    lm_cfg = TransformerConfig(n_layers=2, d_model=32, heads=4, positions="learned",
                               max_len=64, vocab=64, d_in=0, n_out=64, loss_positions=None)
    rng = np.random.default_rng(0)
    cases = {
        "singh": (rc.net_config(), lambda i: task.batch(i)),
        "lm": (lm_cfg, lambda i: _lm_batch(np.random.default_rng(i), 64, 64, 64)),
    }
    for name, (cfg, make) in cases.items():
        net = Transformer(cfg)
        params = net.init(rng)
        grads = {k: np.empty_like(v) for k, v in params.items()}
        opt = make_optimizer(OptimConfig(name="adam", lr=1e-4, weight_decay=0.0), params)
        batches = [make(i) for i in range(8)]
        t0 = time.perf_counter()
        net.loss_and_grads(params, batches[0], grads)
        warm = time.perf_counter() - t0

        def step(i):
            net.loss_and_grads(params, batches[i % 8], grads)
            opt.step(params, grads)

        times, cpu = _timeit_cpu(step, n_fast)
        med = statistics.median(times) * 1e3
        cmed = statistics.median(cpu) * 1e3
        b = batches[0]
        flops = net.flops_per_step(len(b), b.T)
        case = {"median_ms": round(med, 4), "steps_per_s": round(1e3 / med, 1),
                "cpu_median_ms": round(cmed, 4), "cpu_min_ms": round(min(cpu) * 1e3, 4),
                "gflop_per_step": round(flops / 1e9, 5),
                "gflops_achieved": round(flops / (med / 1e3) / 1e9, 2),
                "gflops_achieved_cpu": round(flops / (cmed / 1e3) / 1e9, 2),
                "warmup_s": round(warm, 3), "n_timed": len(times),
                "batch": len(b), "T": b.T}
        if build is not None:
            tstep = build(net.init(np.random.default_rng(0)), cfg, lr=1e-4, threads=1)
            for i in range(3):
                tstep(batches[i % 8])
            tt, tc = _timeit_cpu(lambda i: tstep(batches[i % 8]), n_torch)
            mt = statistics.median(tt) * 1e3
            mtc = statistics.median(tc) * 1e3
            case.update({"torch_median_ms": round(mt, 3), "speedup_vs_torch": round(mt / med, 2),
                         "torch_steps_per_s": round(1e3 / mt, 1),
                         "torch_cpu_median_ms": round(mtc, 3),
                         "speedup_vs_torch_cpu": round(mtc / cmed, 2)})
        out[name] = case
    out["sgemm_peak_gflops"] = _sgemm_peak()
    out["lm"]["fraction_of_sgemm_peak"] = round(out["lm"]["gflops_achieved"] /
                                                out["sgemm_peak_gflops"], 3)
    if build is not None:
        import torch
        out["torch_version"] = torch.__version__
        out["torch_reference"] = ("benchmarks/torch_transformer.py (eager, autograd, "
                                  "torch.optim.Adam, 1 thread)")
        out["meets_targets"] = bool(out["singh"]["speedup_vs_torch"] >= 3.0)
    else:
        out["torch_note"] = "torch not installed (pip install torch==2.13.0 to compare)"
        out["meets_targets"] = None
    out["note"] = ("medians on a shared 2-core machine; ratios are the meaningful numbers, and "
                   "on a loaded machine the CPU-time ones (cpu_*, speedup_vs_torch_cpu: process "
                   "time of one-thread steps, excluding waits for a core); warm-up (Numba "
                   "compile or cache load) is reported apart")
    return out


def _sgemm_peak() -> float:
    """Single-thread float32 GEMM rate of NumPy's BLAS on a 512³ product (GFLOP/s, median)."""
    a = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
    c = np.empty_like(a)
    np.dot(a, a, out=c)
    t = _timeit(lambda i: np.dot(a, a, out=c), 10)
    return round(2 * 512 ** 3 / statistics.median(t) / 1e9, 1)


def run(name: str, quick: bool = False) -> dict:
    from .errors import UnknownNameError
    if name not in BENCHMARKS:
        raise UnknownNameError(f"unknown benchmark {name!r}; available: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name](quick=quick)
