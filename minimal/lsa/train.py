"""``minimal lsa train``: linear self-attention on in-context regression, through the training
layer (docs/lsa.md)."""

from __future__ import annotations

from pathlib import Path

from ..training import GradientLearner, TrainResult, resume_config, run_learner
from .config import LSARunConfig
from .data import GENERATOR_VERSION, LSATasks
from .model import LSAModel

RUN_KIND = "lsa"
PROGRESS_KEYS = ("loss", "gd_loss", "model_cos")


def train_lsa(cfg: LSARunConfig | None = None, out: str | Path | None = None,
              resume: bool = False, force: bool = False, progress: bool = True,
              snapshots: bool = False, stop_after: int | None = None, callback=None,
              evaluators=(), overrides=()) -> TrainResult:
    """Train the LSA of ``cfg`` (``out=None``: in memory, no run directory).

    ``resume=True`` continues the run in ``out`` from its checkpoint (with ``cfg=None`` its
    config is read from run.json, ``overrides`` such as ``train.steps=…`` applied on top);
    ``force`` replaces an existing run.  The GD / GD++ baselines are fitted on the held-out
    tuning tasks before training starts (their step sizes go into run.json)."""
    if cfg is None:
        cfg = resume_config(out, LSARunConfig, overrides) if resume else LSARunConfig()
    if not isinstance(cfg, LSARunConfig):
        from ..errors import ConfigTypeError
        raise ConfigTypeError("cfg", type(cfg).__name__, "must be an LSARunConfig")
    model = LSAModel(cfg.model)
    data = LSATasks(cfg.model, cfg.seeds)
    learner = GradientLearner(model, data, cfg.optim, cfg.seeds.generator("init"),
                              evaluators=evaluators, chunk=cfg.train.eval_chunk)
    resolved = {"n_params": model.n_params(), "x_var": cfg.model.x_var,
                "kurtosis": cfg.model.kurtosis, "generator_version": GENERATOR_VERSION}
    if out is not None and not resume:
        base = model.baselines(data.eval_data())
        resolved.update({"gd_etas": [float(e) for e in base["gd_etas"]],
                         "gdpp_etas": [float(e) for e in base["gdpp_etas"]],
                         "gdpp_nus": [float(v) for v in base["gdpp_nus"]],
                         "theory": base["theory"]})
    return run_learner(learner, cfg.train, kind=RUN_KIND, config=cfg, seeds=cfg.seeds, out=out,
                       resume=resume, force=force, progress=progress, snapshots=snapshots,
                       stop_after=stop_after, callback=callback, resolved=resolved,
                       postfix=PROGRESS_KEYS, desc="lsa")
