"""``minimal train``: the attention-only network on the ICL task, through the training layer."""

from __future__ import annotations

from pathlib import Path

from ..tasks.icl import ICLTask, stream_versions
from ..training import GradientLearner, TrainResult, resume_config, run_learner
from .attention import AttentionNet
from .config import TrainRunConfig

RUN_KIND = "train"
PROGRESS_KEYS = ("loss", "ic_acc", "iw_acc")


def train(cfg: TrainRunConfig | None = None, out: str | Path | None = None,
          resume: bool = False, force: bool = False, progress: bool = True,
          snapshots: bool = False, stop_after: int | None = None, callback=None,
          evaluators=(), overrides=()) -> TrainResult:
    """Train the network of ``cfg`` (``out=None``: in memory, no run directory).

    ``resume=True`` continues the run in ``out`` from its checkpoint; with ``cfg=None`` its
    config is read from run.json (``overrides`` such as ``train.steps=...`` applied on top).
    ``force`` replaces an existing run in ``out``.  Returns a :class:`TrainResult`."""
    if cfg is None:
        cfg = (resume_config(out, TrainRunConfig, overrides, RUN_KIND) if resume
               else TrainRunConfig())
    model = AttentionNet(cfg.net, cfg.task)
    task = ICLTask(cfg.task, cfg.seeds)
    learner = GradientLearner(model, task, cfg.optim, cfg.seeds.generator("init"),
                              evaluators=evaluators, chunk=cfg.train.eval_chunk)
    resolved = {"task": cfg.task.resolved(), "n_params": model.n_params(),
                "kernel": "fused2" if model.fused else "general"}
    return run_learner(learner, cfg.train, kind=RUN_KIND, config=cfg, seeds=cfg.seeds, out=out,
                       resume=resume, force=force, progress=progress, snapshots=snapshots,
                       stop_after=stop_after, callback=callback, resolved=resolved,
                       extra={"generators": stream_versions()}, postfix=PROGRESS_KEYS,
                       desc="train")
