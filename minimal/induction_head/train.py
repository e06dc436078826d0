"""``minimal ih``: train a minimal induction-head model, through the training layer."""

from __future__ import annotations

from pathlib import Path

from ..tasks.icl import ICLTask, stream_versions
from ..training import GradientLearner, TrainResult, resume_config, run_learner
from .config import IHRunConfig
from .model import IHModel

RUN_KIND = "ih"
PROGRESS_KEYS = ("loss", "ic_acc", "iw_acc")


def make_model(cfg: IHRunConfig, task: ICLTask | None = None) -> IHModel:
    """The model of ``cfg`` (its label vectors come from the task's world seed)."""
    task = task if task is not None else ICLTask(cfg.task, cfg.seeds, warn=False)
    return IHModel(cfg.ih, cfg.task, task.label_vectors)


def train_ih(cfg: IHRunConfig | None = None, out: str | Path | None = None,
             resume: bool = False, force: bool = False, progress: bool = True,
             snapshots: bool = False, stop_after: int | None = None, callback=None,
             evaluators=(), overrides=()) -> TrainResult:
    """Train the minimal model of ``cfg`` (``out=None``: in memory).  Arguments as
    :func:`minimal.nets.train.train`."""
    if cfg is None:
        cfg = (resume_config(out, IHRunConfig, overrides, RUN_KIND) if resume
               else IHRunConfig())
    task = ICLTask(cfg.task, cfg.seeds)
    model = make_model(cfg, task)
    learner = GradientLearner(model, task, cfg.optim, cfg.seeds.generator("init"),
                              evaluators=evaluators, chunk=cfg.train.eval_chunk)
    resolved = {"task": cfg.task.resolved(), "n_params": model.n_params(),
                "variant": cfg.ih.variant, "classifier": cfg.ih.classifier}
    return run_learner(learner, cfg.train, kind=RUN_KIND, config=cfg, seeds=cfg.seeds, out=out,
                       resume=resume, force=force, progress=progress, snapshots=snapshots,
                       stop_after=stop_after, callback=callback, resolved=resolved,
                       extra={"generators": stream_versions()}, postfix=PROGRESS_KEYS,
                       desc="ih")
