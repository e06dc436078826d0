"""The training loop shared by every model trained on the in-context classification task.

A *model* is any object with

* ``init(rng) -> dict[str, ndarray]`` — initial parameters;
* ``loss_and_grads(params, batch, grads) -> (loss, grads, n_correct)``;
* ``evaluate(params, eval_sets, chunk) -> dict`` — metric-row fields (see :data:`COLUMNS`);
* ``extra_columns`` — model-specific metric columns (e.g. ``beta1, alpha``) filled by
  ``evaluate``.

:func:`fit` runs online SGD/Adam on ``task.batch(step)`` (a pure function of the data seed and
the step), evaluates every ``eval_every`` steps on the fixed IC, IC2, IW and Test sets, appends a
row to ``metrics.csv``, checkpoints parameters, optimiser state and loop counters, and shows a
tqdm bar.  The first Ctrl-C finishes the current step, saves a checkpoint and returns with status
``interrupted``; a resumed run then reproduces the uninterrupted curve exactly.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .errors import MinimalError
from .nets.config import OptimConfig, TrainConfig
from .optim import make_optimizer
from .runs import Run

#: the standard metric columns of the ICL task (design.md), in order
COLUMNS = ("step", "loss", "ic_acc", "ic2_acc", "iw_acc", "test_acc", "ila1", "tila2", "tla2",
           "cla", "wall_s")
#: further columns every ICL run writes
EXTRA_COLUMNS = ("train_loss", "train_acc", "ic_loss", "ic2_loss", "iw_loss", "ih_strength")


class TrainingDiverged(MinimalError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    status: str                    # completed | interrupted
    step: int                      # steps completed
    params: dict
    metrics: dict = field(default_factory=dict)
    run: Run | None = None
    timings: dict = field(default_factory=dict)


def columns_for(model) -> tuple[str, ...]:
    return COLUMNS + EXTRA_COLUMNS + tuple(getattr(model, "extra_columns", ()))


class _StopFlag:
    """First SIGINT sets the flag (the loop stops at the next step boundary); a second one
    raises KeyboardInterrupt as usual."""

    def __init__(self):
        self.set = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                if self.set:
                    raise KeyboardInterrupt
                self.set = True
                print("\ninterrupt: finishing the current step and saving a checkpoint "
                      "(press Ctrl-C again to abort)", file=sys.stderr, flush=True)

            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def fit(model, task, optim_cfg: OptimConfig, train_cfg: TrainConfig, run: Run | None = None,
        params: dict | None = None, init_rng=None, start_step: int = 0,
        opt_state: dict | None = None, loop_state: dict | None = None, progress: bool = True,
        snapshots: bool = False, stop_after: int | None = None,
        callback=None) -> TrainResult:
    """Train ``model`` on ``task`` from ``start_step`` to ``train_cfg.steps``.

    ``params`` (or ``init_rng`` to initialise them), ``opt_state`` and ``loop_state`` come from a
    checkpoint when resuming.  ``snapshots`` keeps every evaluated parameter set in memory
    (``result.metrics['snapshots']``) for figures.  ``stop_after`` simulates an interruption
    after that many steps (tests).
    """
    from .env import tune_malloc
    tune_malloc()
    if params is None:
        if init_rng is None:
            raise ValueError("fit needs params or init_rng")
        params = model.init(init_rng)
    opt = make_optimizer(optim_cfg, params, getattr(model, "lr_scale", None))
    if opt_state:
        opt.load_state(opt_state)
    ls = dict(loop_state or {})
    wall0 = float(ls.get("wall_s", 0.0))
    loss_sum = float(ls.get("loss_sum", 0.0))
    correct_sum = float(ls.get("correct_sum", 0.0))
    count = int(ls.get("count", 0))
    timings = {"eval_sets_s": 0.0, "data_s": 0.0, "step_s": 0.0, "eval_s": 0.0,
               "checkpoint_s": 0.0, "warmup_s": 0.0}
    t_start = time.perf_counter()
    t0 = time.perf_counter()
    sets = task.eval_sets()
    timings["eval_sets_s"] = time.perf_counter() - t0
    grads = {k: np.empty_like(v) for k, v in params.items()}
    steps = train_cfg.steps
    history: dict[str, list] = {}
    snaps: dict[int, dict] = {}

    def evaluate(step: int) -> dict:
        nonlocal loss_sum, correct_sum, count
        te = time.perf_counter()
        row = model.evaluate(params, sets, train_cfg.eval_chunk)
        timings["eval_s"] += time.perf_counter() - te
        row["step"] = step
        row["train_loss"] = loss_sum / count if count else float("nan")
        row["train_acc"] = correct_sum / count if count else float("nan")
        row["wall_s"] = wall0 + (time.perf_counter() - t_start)
        loss_sum, correct_sum, count = 0.0, 0.0, 0
        for k, v in row.items():
            history.setdefault(k, []).append(v)
        if run is not None:
            cols = run.metrics_log.columns
            run.log({k: v for k, v in row.items() if k in cols})
        if snapshots:
            snaps[step] = {k: v.copy() for k, v in params.items()}
        if callback is not None:
            callback(step, row, params)
        return row

    def checkpoint(step: int) -> None:
        if run is None:
            return
        tc = time.perf_counter()
        arrays = {f"param.{k}": v for k, v in params.items()}
        arrays.update({f"opt.{k}": v for k, v in opt.state().items()})
        meta = {"step": step, "wall_s": wall0 + (time.perf_counter() - t_start),
                "loss_sum": loss_sum, "correct_sum": correct_sum, "count": count}
        run.save_checkpoint(step, arrays, meta)
        timings["checkpoint_s"] += time.perf_counter() - tc

    status = "completed"
    step = start_step
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=start_step, unit="step", dynamic_ncols=True,
                   disable=not sys.stderr.isatty(), leave=True)
    last_row = {}
    try:
        with _StopFlag() as stop:
            if start_step == 0 and train_cfg.eval_at_start and steps > 0:
                last_row = evaluate(0)
                checkpoint(0)
            batch = None
            while step < steps:
                if stop.set or (stop_after is not None and step >= start_step + stop_after):
                    status = "interrupted"
                    break
                td = time.perf_counter()
                batch = task.batch(step, out=batch)
                ts = time.perf_counter()
                loss, _, n_correct = model.loss_and_grads(params, batch, grads)
                if not math.isfinite(loss):
                    checkpoint(step)
                    raise TrainingDiverged(f"training loss became {loss} at step {step}; "
                                           "lower optim.lr")
                opt.step(params, grads)
                te = time.perf_counter()
                if step == start_step:
                    timings["warmup_s"] = te - ts
                else:
                    timings["step_s"] += te - ts
                timings["data_s"] += ts - td
                loss_sum += loss
                correct_sum += n_correct / len(batch)
                count += 1
                step += 1
                if step % train_cfg.eval_every == 0 or step == steps:
                    last_row = evaluate(step)
                    checkpoint(step)
                    if bar is not None:
                        bar.set_postfix(loss=f"{last_row['loss']:.3f}",
                                        ic=f"{last_row['ic_acc']:.3f}",
                                        iw=f"{last_row['iw_acc']:.3f}", refresh=False)
                if bar is not None:
                    bar.update(1)
            if status == "interrupted":
                checkpoint(step)
    finally:
        if bar is not None:
            bar.close()
        timings["total_s"] = time.perf_counter() - t_start
        if run is not None:
            for k, v in timings.items():
                run.add_timing(k, v)
            run.write_manifest()
    metrics = {k: np.array(v) for k, v in history.items()}
    if snapshots:
        metrics["snapshots"] = snaps
    return TrainResult(status, step, params, metrics, run, timings)


def run_training(cfg, model, kind: str, out, resume: bool = False, progress: bool = True,
                 snapshots: bool = False, stop_after: int | None = None, callback=None,
                 resolved: dict | None = None) -> TrainResult:
    """Train ``model`` per ``cfg`` (with ``task``, ``optim``, ``train``, ``seeds`` sections) into
    the run directory ``out`` (None: in memory).  With ``resume`` an existing run continues
    from its checkpoint (``train.steps`` may be raised); a missing run starts fresh."""
    from pathlib import Path

    from .runs import MANIFEST
    from .tasks.icl import ICLTask
    task = ICLTask(cfg.task, cfg.seeds)
    cols = columns_for(model)
    params = opt_state = loop_state = None
    start = 0
    run = None
    if out is not None:
        out = Path(out)
        if resume and (out / MANIFEST).exists():
            run, ck = Run.resume(out, kind, cfg, columns=cols, allow_changes=("train.steps",))
            if ck is not None:
                params = {k[6:]: v for k, v in ck.arrays.items() if k.startswith("param.")}
                if hasattr(model, "check_params"):
                    params = model.check_params(params)
                opt_state = {k[4:]: v for k, v in ck.arrays.items() if k.startswith("opt.")}
                loop_state = ck.meta
                start = ck.step
        else:
            info = {"task": cfg.task.resolved(), "n_params": model.n_params()}
            info.update(resolved or {})
            run = Run.create(out, kind, cfg, cfg.seeds, cols, resolved=info)
    rng = cfg.seeds.generator("init") if params is None else None
    try:
        result = fit(model, task, cfg.optim, cfg.train, run, params=params, init_rng=rng,
                     start_step=start, opt_state=opt_state, loop_state=loop_state,
                     progress=progress, snapshots=snapshots, stop_after=stop_after,
                     callback=callback)
    except Exception as exc:
        if run is not None:
            run.finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    if run is not None:
        run.finish(result.status, final_step=result.step)
    return result

