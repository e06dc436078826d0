"""The one training loop every model family uses (docs/architecture.md, "Training layer").

:func:`run_learner` drives a :class:`~minimal.training.protocol.Learner` from its initial state
(or from the checkpoint of a run directory) to ``train.steps``:

* evaluates every ``train.eval_every`` steps (and at step 0), appends the row to
  ``metrics.csv`` and writes a checkpoint (learner state + loop counters);
* checks that the learner's state and the metrics row are finite at every evaluation (a NaN or
  an infinity fails the run with status ``failed``, reason ``non-finite``); a non-finite or
  exploding loss fails it as ``diverged``; any other exception as ``error``;
* records a collapsed run (loss pinned at chance, vanishing gradients) as a warning in run.json,
  or fails it when ``train.stop_on_collapse``;
* on the first SIGINT or SIGTERM finishes the current step, checkpoints and returns with status
  ``interrupted`` and the signal number (the CLI exits with 128 + signal);
* reports progress (a bar on a terminal, a line every ~30 s otherwise).

A resumed run continues exactly: the metrics rows after the checkpoint are recomputed and equal
those of an uninterrupted run (except ``wall_s``).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np

from .._signals import StopSignals
from ..config import from_dict, to_dict
from ..errors import (EXIT_OK, ConfigError, NonFiniteState, RunCollapsed, RunDirError,
                      RunWarning, exit_status_for_signal)
from ..progress import Progress
from ..runs import Run, nonfinite_arrays
from .config import TrainConfig
from .protocol import Learner, StepStats

__all__ = ["TrainResult", "run_learner", "resume_config", "RESUMABLE_CHANGES"]

#: config fields a resumed run may change (recorded in run.json's history)
RESUMABLE_CHANGES = ("train.steps", "train.eval_every", "train.eval_chunk",
                     "train.stop_on_collapse")


@dataclass
class TrainResult:
    """What every family's ``train_*`` function returns."""

    status: str                    #: completed | interrupted
    step: int                      #: steps completed
    params: dict | None            #: the learner's parameters (gradient learners)
    metrics: dict = field(default_factory=dict)   #: columns of the rows written in this call
    run: Run | None = None
    timings: dict = field(default_factory=dict)
    signal: int | None = None      #: the signal that interrupted the run, if any
    learner: Learner | None = None
    warnings: list = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        """0, or 128 + signal for an interrupted run (docs/architecture.md)."""
        if self.status == "interrupted":
            return exit_status_for_signal(self.signal or 2)
        return EXIT_OK


def resume_config(out, cls, overrides: Iterable = (), kind: str | None = None):
    """The config saved in ``out``'s run.json (an older run's missing fields take their
    defaults), with ``overrides`` applied: what ``--resume`` alone continues.  ``kind``: the
    run kind expected (another kind is an error)."""
    from ..config import apply_overrides
    if out is None or str(out).strip() == "":
        raise RunDirError("--resume needs --out (the run directory to continue)")
    run = Run.open(out)
    if kind is not None and run.manifest.get("kind") != kind:
        raise RunDirError(f"{out} holds a {run.manifest.get('kind')!r} run, not {kind!r}")
    try:
        cfg = from_dict(cls, run.config)
    except ConfigError as err:
        raise RunDirError(f"{out}: the saved config does not fit {cls.__name__} ({err})") \
            from None
    overrides = list(overrides)
    return apply_overrides(cfg, overrides) if overrides else cfg


def _normaliser(config):
    cls = type(config)

    def norm(d: Mapping) -> dict:
        try:
            return to_dict(from_dict(cls, d))
        except ConfigError:
            return dict(d)
    return norm


def _check_row(row: Mapping, step: int, allow_nan: bool) -> None:
    bad = []
    for k, v in row.items():
        if isinstance(v, (float, np.floating)):
            if math.isinf(v) or (math.isnan(v) and not allow_nan):
                bad.append(f"{k}={v}")
    if bad:
        raise NonFiniteState(f"non-finite metrics at step {step}: {', '.join(bad[:4])}; the "
                             "run diverged (lower optim.lr or the initial weight scale)")


def _check_state(state: Mapping[str, np.ndarray], step: int) -> None:
    bad = nonfinite_arrays(state)
    if bad:
        raise NonFiniteState(f"non-finite values in {', '.join(bad[:4])} at step {step}: the "
                             "run diverged (lower optim.lr or the initial weight scale)")


def run_learner(learner: Learner, train: TrainConfig, *, kind: str, config=None, seeds=None,
                out=None, resume: bool = False, force: bool = False, progress: bool = True,
                snapshots: bool = False, stop_after: int | None = None,
                callback: Callable | None = None, resolved: Mapping | None = None,
                extra: Mapping | None = None,
                allow_changes: Iterable[str] = RESUMABLE_CHANGES,
                postfix: Iterable[str] = (), desc: str = "") -> TrainResult:
    """Train ``learner`` to ``train.steps`` (see the module docstring).

    ``out``: run directory (None: in memory).  ``resume``: continue the run in ``out`` from its
    checkpoint (an error when there is none).  ``force``: replace an existing run in ``out``.
    ``stop_after``: stop (as if interrupted) after that many steps *from the starting point*
    (tests).  ``snapshots``: keep a copy of the parameters (the learner's ``params``, else its
    whole state) at every evaluation in ``result.metrics['snapshots']``.  ``callback(step, row, learner)`` runs after each
    evaluation.  ``postfix``: metric names shown beside the progress bar.  ``extra``: further
    run.json entries (e.g. ``generators``, the version of every random stream).
    """
    from ..env import tune_malloc
    tune_malloc()
    cols = tuple(learner.columns)
    if not cols or cols[0] != "step" or "wall_s" not in cols:
        raise ValueError("a learner's columns must start with 'step' and contain 'wall_s'")
    run = None
    ckpt = None
    def acceptable(ck) -> None:
        bad = nonfinite_arrays(ck.arrays)
        if bad:
            raise RunDirError(f"{out}: the checkpoint holds non-finite values in "
                              f"{', '.join(bad[:4])} (step {ck.step}); refusing to resume a "
                              "diverged run")
        if train.steps < ck.step:
            raise ConfigError("train.steps", train.steps,
                              f"must be ≥ the checkpoint step {ck.step} to resume")

    if out is not None:
        if resume:
            gens = (extra or {}).get("generators")
            if gens is not None:
                saved = Run.open(out).manifest.get("generators")
                if saved is not None and saved != gens:
                    raise RunDirError(f"{out} was written with the random streams {saved}; this "
                                      f"version draws {gens}: resuming would change the data "
                                      "mid-run (start again with --force)")
            run, ckpt = Run.resume(out, kind, config, columns=cols, allow_changes=allow_changes,
                                   normalise=_normaliser(config) if config is not None
                                   else None, check=acceptable)
        else:
            run = Run.create(out, kind, config, seeds, cols, resolved=resolved, force=force,
                             extra=extra)
    elif resume:
        raise RunDirError("--resume needs --out (the run directory to continue)")
    t_start = time.perf_counter()
    timings = {"eval_s": 0.0, "checkpoint_s": 0.0}
    history: dict[str, list] = {}
    snaps: dict[int, dict] = {}
    seen_warnings: list[str] = []
    status = "completed"
    step = 0
    bar = None
    stop_signal = None
    try:
        if ckpt is not None:
            learner.load_state(ckpt.arrays)
            step = ckpt.step
            stats = StepStats.from_meta(ckpt.meta)
            wall0 = float(ckpt.meta.get("wall_s", 0.0))
        else:
            learner.init_state()
            stats = StepStats()
            wall0 = 0.0
        start = step
        last_ckpt = step if ckpt is not None else None
        steps = train.steps
        limit = steps if stop_after is None else min(steps, start + int(stop_after))

        def evaluate(at: int) -> dict:
            nonlocal stats
            te = time.perf_counter()
            row = dict(learner.evaluate(at, stats))
            row["step"] = at
            row["wall_s"] = wall0 + (time.perf_counter() - t_start)
            timings["eval_s"] += time.perf_counter() - te
            _check_row(row, at, allow_nan=stats.count == 0)
            stats = StepStats()
            for k, v in row.items():
                history.setdefault(k, []).append(v)
            if run is not None:
                run.log({k: v for k, v in row.items() if k in cols})
            if at > 0 and not seen_warnings:
                msg = learner.collapse(row)
                if msg:
                    seen_warnings.append(msg)
                    if train.stop_on_collapse:
                        raise RunCollapsed(f"{msg} at step {at} (train.stop_on_collapse)")
                    if run is not None:
                        run.warn(msg, step=at)
                    else:
                        warnings.warn(msg, RunWarning, stacklevel=3)
            if snapshots:
                src = getattr(learner, "params", None) or learner.state()
                snaps[at] = {k: np.array(v) for k, v in src.items()}
            if callback is not None:
                callback(at, row, learner)
            return row

        def checkpoint(at: int) -> None:
            nonlocal last_ckpt
            state = learner.state()
            _check_state(state, at)
            if run is None:
                return
            tc = time.perf_counter()
            meta = {"step": at, "wall_s": wall0 + (time.perf_counter() - t_start),
                    **stats.to_meta()}
            run.save_checkpoint(at, state, meta)
            last_ckpt = at
            timings["checkpoint_s"] += time.perf_counter() - tc

        keys = tuple(postfix)
        bar = Progress(steps, step, unit="step", desc=desc or kind, enabled=progress)
        with StopSignals() as stop:
            if step == 0 and train.eval_at_start and steps > 0:
                evaluate(0)
                checkpoint(0)
            while step < steps:
                if stop() or step >= limit:
                    status = "interrupted"
                    stop_signal = stop.signum
                    break
                n = min(train.eval_every - step % train.eval_every, limit - step)
                done = learner.advance(step, n, stop, stats)
                step += done
                if step % train.eval_every == 0 or step == steps:
                    row = evaluate(step)
                    checkpoint(step)
                    bar.update(done, **{k: f"{row[k]:.3f}" for k in keys if k in row})
                else:
                    bar.update(done)
            if status == "interrupted" and last_ckpt != step:
                checkpoint(step)
    except BaseException as exc:
        if run is not None:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                run.finish("interrupted", final_step=step,
                           error=f"{type(exc).__name__}: {exc}")
            else:
                reason = getattr(exc, "reason", "error")
                run.finish("failed", reason=reason, final_step=step,
                           error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if bar is not None:
            bar.close()
        timings.update({k: v for k, v in getattr(learner, "timings", {}).items()})
        timings["total_s"] = time.perf_counter() - t_start
        if run is not None:
            for k, v in timings.items():
                run.add_timing(k, v)
    if run is not None:
        extra = {"final_step": step}
        if stop_signal is not None:
            import signal as _signal
            extra["signal"] = _signal.Signals(stop_signal).name
        run.finish(status, **extra)
    metrics = {k: np.array(v) for k, v in history.items()}
    if snapshots:
        metrics["snapshots"] = snaps
    params = getattr(learner, "params", None)
    return TrainResult(status, step, params, metrics, run, timings, stop_signal, learner,
                       seen_warnings)

