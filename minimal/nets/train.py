"""``minimal train``: train the attention-only network on the ICL task into a run directory."""

from __future__ import annotations

from pathlib import Path

from ..trainer import TrainResult, run_training
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
    model = AttentionNet(cfg.net, cfg.task)
    return run_training(cfg, model, RUN_KIND, out, resume=resume, progress=progress,
                        snapshots=snapshots, stop_after=stop_after, callback=callback,
                        resolved={"kernel": "fused2" if model.fused else "general"})
