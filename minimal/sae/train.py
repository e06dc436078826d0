"""Train a sparse autoencoder on activation rows, through the training layer (docs/sae.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..training import GradientLearner, TrainResult, resume_config, run_learner
from .config import SAERunConfig
from .model import ActivationData, SAEModel

RUN_KIND = "sae"
PROGRESS_KEYS = ("mse", "l0", "dead_frac")


def _load_rows(cfg: SAERunConfig, rows):
    if rows is not None:
        return rows
    if not cfg.data.path:
        raise ConfigError("data.path", "", "give the activation rows in memory or a .npy file")
    p = Path(cfg.data.path)
    if not p.is_file():
        raise ConfigError("data.path", cfg.data.path, "must be an existing .npy file")
    try:
        return np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ConfigError("data.path", cfg.data.path, f"is not a readable .npy array ({exc})")


def train_sae(cfg: SAERunConfig | None = None, rows=None, out: str | Path | None = None,
              resume: bool = False, force: bool = False, progress: bool = True,
              stop_after: int | None = None, callback=None, overrides=()) -> TrainResult:
    """Train the SAE of ``cfg`` on ``rows`` (n × d_in activations; default: ``cfg.data.path``).

    ``out=None`` trains in memory.  The rows' SHA-256, the train/eval split sizes and the input
    scale go into run.json; a resumed run refuses rows whose hash differs."""
    if cfg is None:
        cfg = resume_config(out, SAERunConfig, overrides, RUN_KIND) if resume else SAERunConfig()
    if not isinstance(cfg, SAERunConfig):
        raise ConfigError("cfg", type(cfg).__name__, "must be an SAERunConfig")
    data = ActivationData(_load_rows(cfg, rows), cfg.data, cfg.seeds)
    if data.d_in != cfg.sae.d_in:
        raise ConfigError("sae.d_in", cfg.sae.d_in, f"must equal the rows' width {data.d_in}")
    if resume and out is not None:
        import json
        old = json.loads((Path(out) / "run.json").read_text()).get("resolved", {})
        if old.get("sha256") not in (None, data.sha256):
            raise ConfigError("rows", data.sha256[:12],
                              f"differ from the rows the run was trained on "
                              f"({old['sha256'][:12]}); resume needs the same activations")
    model = SAEModel(cfg.sae, data.mean, data.scale)
    ev = data.eval_data().astype(np.float64) * model.scale
    model.chance_loss = float(((ev - ev.mean(0)) ** 2).sum(1).mean())
    learner = GradientLearner(model, data, cfg.optim, cfg.seeds.generator("init"),
                              chunk=cfg.train.eval_chunk)
    resolved = {"n_params": model.n_params(), "dict_size": cfg.sae.dict_size, **data.resolved()}
    return run_learner(learner, cfg.train, kind=RUN_KIND, config=cfg, seeds=cfg.seeds, out=out,
                       resume=resume, force=force, progress=progress, stop_after=stop_after,
                       callback=callback, resolved=resolved, postfix=PROGRESS_KEYS, desc="sae")
