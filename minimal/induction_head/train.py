"""``minimal ih``: train a minimal induction-head model into a run directory."""

from __future__ import annotations

from pathlib import Path

from ..tasks.icl import ICLTask
from ..trainer import TrainResult, run_training
from .model import IHModel, IHRunConfig

RUN_KIND = "ih"


def make_model(cfg: IHRunConfig) -> IHModel:
    # the label vectors come from the world (a pure function of the world seed)
    task = ICLTask(cfg.task, cfg.seeds, warn=False)
    return IHModel(cfg.ih, cfg.task, task.label_vectors)


def train_ih(cfg: IHRunConfig, out: str | Path | None = None, resume: bool = False,
             progress: bool = True, snapshots: bool = False, stop_after: int | None = None,
             callback=None) -> TrainResult:
    """Train the minimal model of ``cfg`` (``out=None``: in memory)."""
    model = make_model(cfg)
    return run_training(cfg, model, RUN_KIND, out, resume=resume, progress=progress,
                        snapshots=snapshots, stop_after=stop_after, callback=callback,
                        resolved={"variant": cfg.ih.variant, "classifier": cfg.ih.classifier})
