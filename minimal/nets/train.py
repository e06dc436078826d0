"""``minimal train``: train the attention-only network on the ICL task into a run directory."""

from __future__ import annotations

from pathlib import Path

from ..runs import MANIFEST, Run
from ..tasks.icl import ICLTask
from ..trainer import TrainResult, columns_for, fit
from .attention import AttentionNet
from .config import TrainRunConfig

RUN_KIND = "train"


def train(cfg: TrainRunConfig, out: str | Path | None, resume: bool = False,
          progress: bool = True, snapshots: bool = False, stop_after: int | None = None,
          callback=None) -> TrainResult:
    """Train the network of ``cfg`` (``out=None``: in memory, no run directory).

    With ``resume`` an existing run in ``out`` continues from its checkpoint (``train.steps``
    may be raised); a missing run starts fresh.
    """
    task = ICLTask(cfg.task, cfg.seeds)
    model = AttentionNet(cfg.net, cfg.task)
    cols = columns_for(model)
    params = opt_state = loop_state = None
    start = 0
    run = None
    if out is not None:
        out = Path(out)
        if resume and (out / MANIFEST).exists():
            run, ck = Run.resume(out, RUN_KIND, cfg, columns=cols,
                                 allow_changes=("train.steps",))
            if ck is not None:
                params = {k[6:]: v for k, v in ck.arrays.items() if k.startswith("param.")}
                params = model.check_params(params)
                opt_state = {k[4:]: v for k, v in ck.arrays.items() if k.startswith("opt.")}
                loop_state = ck.meta
                start = ck.step
        else:
            run = Run.create(out, RUN_KIND, cfg, cfg.seeds, cols,
                             resolved={"task": cfg.task.resolved(), "n_params": model.n_params(),
                                       "kernel": "fused2" if model.fused else "general"})
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
