"""``minimal clamp train``: the transformer on the Singh task, through the training layer."""

from __future__ import annotations

from pathlib import Path

from ..tasks.singh import EVAL_SETS, SinghTask
from ..training import GradientLearner, TrainResult, resume_config, run_learner
from .config import TransformerRunConfig
from .singh import SinghNet

RUN_KIND = "clamp"
PROGRESS_KEYS = ("loss", "acc")


def make_model(cfg: TransformerRunConfig, task: SinghTask | None = None):
    """The model of a run config (with the Singh metrics, :mod:`.singh`)."""
    return SinghNet(cfg.net_config(), cfg.clamps)


def train_transformer(cfg: TransformerRunConfig | None = None, out: str | Path | None = None,
                      resume: bool = False, force: bool = False, progress: bool = True,
                      snapshots: bool = False, stop_after: int | None = None, callback=None,
                      evaluators=(), overrides=()) -> TrainResult:
    """Train the network of ``cfg`` on the Singh task (``out=None``: in memory).  Arguments as
    :func:`minimal.nets.train.train`; the clamps of ``cfg`` apply in training and evaluation and
    are recorded in run.json."""
    if cfg is None:
        cfg = (resume_config(out, TransformerRunConfig, overrides) if resume
               else TransformerRunConfig())
    task = SinghTask(cfg.task, cfg.seeds)
    model = make_model(cfg, task)
    learner = GradientLearner(model, task, cfg.optim, cfg.seeds.generator("init"),
                              evaluators=evaluators, chunk=cfg.train.eval_chunk)
    resolved = {"model": {"vocab": cfg.task.n_labels, "d_in": cfg.task.D_f,
                          "n_out": cfg.task.n_labels}, "n_params": model.n_params(),
                "clamps": [{"kind": s.kind, "params": s.params, "detach": s.detach}
                           for s in cfg.clamps],
                "eval_sets": list(EVAL_SETS), "n_train_pairs": cfg.task.n_train_pairs}
    return run_learner(learner, cfg.train, kind=RUN_KIND, config=cfg, seeds=cfg.seeds, out=out,
                       resume=resume, force=force, progress=progress, snapshots=snapshots,
                       stop_after=stop_after, callback=callback, resolved=resolved,
                       postfix=PROGRESS_KEYS, desc="clamp")
