"""Configuration of the attention-output sparse autoencoder (docs/sae.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import (PresetRegistry, Seeds, check_bool, check_choice, check_float, check_int,
                      set_field)
from ..errors import ConfigError
from ..training.config import OptimConfig, TrainConfig

__all__ = ["SAEConfig", "SAEDataConfig", "SAERunConfig", "SAE_PRESETS"]

#: largest dictionary the kernels accept (memory: W_enc and W_dec are d_in × dict_size each)
MAX_DICT = 1 << 18


@dataclass(frozen=True)
class SAEConfig:
    """The autoencoder: f = ReLU((x − b_dec) W_enc + b_enc), x̂ = f W_dec + b_dec.

    ``expansion`` × ``d_in`` dictionary features (32× in Kissane et al.); ``l1`` the sparsity
    penalty λ of loss = mean ‖x̂ − x‖² + λ mean ‖f‖₁, both on inputs normalised so that
    E‖x‖² = d_in when ``normalise`` is true (the factor is measured on the training rows and
    saved with the run).
    """

    d_in: int = 32
    expansion: int = 32
    l1: float = 1.0
    normalise: bool = True
    dtype: str = "float32"

    def __post_init__(self):
        check_int("d_in", self.d_in, 1, 4096)
        check_int("expansion", self.expansion, 1, 256)
        if self.d_in * self.expansion > MAX_DICT:
            raise ConfigError("expansion", self.expansion,
                              f"d_in × expansion must be ≤ {MAX_DICT} (here d_in = {self.d_in})")
        set_field(self, "l1", check_float("l1", self.l1, 0.0, 1e3))
        check_bool("normalise", self.normalise)
        check_choice("dtype", self.dtype, ("float32", "float64"))

    @property
    def dict_size(self) -> int:
        return self.d_in * self.expansion


@dataclass(frozen=True)
class SAEDataConfig:
    """Where the activations come from: a ``.npy`` file of rows (n × d_in), or rows handed to
    :func:`minimal.sae.train_sae` in memory (``path`` empty; their SHA-256 goes into run.json).
    The last ``eval_rows`` rows of a seeded permutation are held out for evaluation."""

    path: str = ""
    batch_size: int = 256
    eval_rows: int = 4096

    def __post_init__(self):
        if not isinstance(self.path, str):
            raise ConfigError("data.path", self.path, "must be a path string")
        check_int("batch_size", self.batch_size, 1, 1 << 16)
        check_int("eval_rows", self.eval_rows, 1, 1 << 22)


@dataclass(frozen=True)
class SAERunConfig:
    """Everything :func:`minimal.sae.train_sae` needs."""

    sae: SAEConfig = dataclasses.field(default_factory=SAEConfig)
    data: SAEDataConfig = dataclasses.field(default_factory=SAEDataConfig)
    optim: OptimConfig = dataclasses.field(
        default_factory=lambda: OptimConfig(name="adam", lr=1e-3, weight_decay=0.0))
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=20_000, eval_every=500))
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        for name, cls in (("sae", SAEConfig), ("data", SAEDataConfig), ("optim", OptimConfig),
                          ("train", TrainConfig), ("seeds", Seeds)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, getattr(self, name), f"must be a {cls.__name__}")


SAE_PRESETS = PresetRegistry("sae")
SAE_PRESETS.register("kissane-toy", SAERunConfig,
                     "layer-2 z_cat of the 2-layer, 4-head, d 32 toy: dictionary 32 × 32, "
                     "Adam 1e-3, 20k steps of 256 rows")
SAE_PRESETS.register("small", lambda: SAERunConfig(
    sae=SAEConfig(d_in=16, expansion=8), train=TrainConfig(steps=3000, eval_every=250)),
    "16-dim inputs, 8× dictionary, 3k steps (tests, quick looks)")
