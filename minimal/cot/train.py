"""``minimal cot``: Level 1 of the CoT circuit model on the two-hop world, through the
training layer."""

from __future__ import annotations

from pathlib import Path

from ..tasks.twohop import TwoHopWorld
from ..training import TrainResult, resume_config, run_learner
from .config import COT_PRESETS, CoTRunConfig  # noqa: F401 (re-exported)
from .model import TSAM, order_for  # noqa: F401 (re-exported)

RUN_KIND = "cot"
PROGRESS_KEYS = ("test_inferred_iid", "test_inferred_ood")


def train_cot(cfg: CoTRunConfig | None = None, out: str | Path | None = None,
              resume: bool = False, force: bool = False, progress: bool = True,
              stop_after: int | None = None, callback=None, overrides=()) -> TrainResult:
    """Train Level 1 per ``cfg`` (``out=None``: in memory).  ``result.learner`` is the
    :class:`TSAM` (e.g. for ``stage2_dependence()``).  Arguments as
    :func:`minimal.nets.train.train`."""
    if cfg is None:
        cfg = (resume_config(out, CoTRunConfig, overrides, RUN_KIND) if resume
               else CoTRunConfig())
    world = TwoHopWorld(cfg.world, cfg.seeds)
    model = TSAM(cfg.model, world)
    resolved = {"world": world.counts(), "items_per_epoch": model.n_items,
                "steps_per_epoch": model.n_items / cfg.model.batch_size}
    return run_learner(model, cfg.train, kind=RUN_KIND, config=cfg, seeds=cfg.seeds, out=out,
                       resume=resume, force=force, progress=progress, stop_after=stop_after,
                       callback=callback, resolved=resolved, postfix=PROGRESS_KEYS,
                       desc="cot")
