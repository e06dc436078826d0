"""Configuration and presets of linear self-attention trained on linear regression tasks
(docs/lsa.md).

``LSAConfig`` holds the task (d, N, the input distribution and its variance), the model (layers,
heads, initial scale) and the data sizes (training batch, held-out evaluation and tuning tasks);
``LSARunConfig`` adds the optimiser (Adam, lr 1e-3), the loop (5k steps) and the seeds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from ..config import (PresetRegistry, Seeds, check_bool, check_choice, check_float, check_int,
                      set_field)
from ..errors import ConfigError
from ..training.config import OptimConfig, TrainConfig

__all__ = ["LSAConfig", "LSARunConfig", "LSA_PRESETS", "INPUTS", "BASE_MOMENTS", "moments_of",
           "lsa_optim_config", "lsa_train_config"]

#: input distributions of the coordinates of x (i.i.d., symmetric about 0)
INPUTS = ("uniform-0.5", "uniform-1", "normal")

#: (variance σ², kurtosis κ = E x⁴ / σ⁴) of each input distribution before rescaling, exact
BASE_MOMENTS = {
    "uniform-0.5": (Fraction(1, 12), Fraction(9, 5)),
    "uniform-1": (Fraction(1, 3), Fraction(9, 5)),
    "normal": (Fraction(1), Fraction(3)),
}



def moments_of(inputs: str, sigma2: float | None = None) -> tuple[float, float]:
    """(σ², κ) of a named input distribution (σ² overridden by ``sigma2`` when given)."""
    if inputs not in BASE_MOMENTS:
        raise ConfigError("inputs", inputs, f"must be one of {', '.join(INPUTS)}")
    base_var, kurt = BASE_MOMENTS[inputs]
    return (float(base_var) if sigma2 is None else float(sigma2)), float(kurt)


#: largest number of stored token values (tasks × (N+1) × (d+1)) of one batch or held-out set
MAX_VALUES = 2 ** 27


@dataclass(frozen=True)
class LSAConfig:
    """The regression task, the linear self-attention model and the data sizes.

    ``sigma2`` rescales the inputs to that per-coordinate variance (None: the distribution's
    own, 1/12 for U(−0.5, 0.5), 1/3 for U(−1, 1), 1 for N(0, 1)); the kurtosis is the shape's.
    ``recurrent`` applies one set of weights in every layer.  ``baseline_search`` chooses how
    hard the GD / GD++ step sizes are searched on the tuning tasks (``fast`` for previews).
    """

    d: int = 10                    #: input dimension
    N: int = 10                    #: context examples per task
    layers: int = 1                #: K, linear self-attention layers
    heads: int = 1                 #: heads per layer
    recurrent: bool = False        #: one set of weights applied in every layer (looped)
    inputs: str = "uniform-0.5"    #: distribution of the input coordinates (see INPUTS)
    sigma2: float | None = None    #: per-coordinate input variance (None: the distribution's)
    init_scale: float = 0.02       #: std of the initial entries of W_K, W_Q, W_V, P
    batch_size: int = 512          #: training tasks per step (fresh every step)
    n_eval: int = 100_000          #: fixed held-out tasks for every evaluation
    n_tune: int = 1_000_000        #: held-out contexts whose Gram spectra fit GD / GD++ steps
    dtype: str = "float32"         #: training precision (evaluation is always float64)
    baseline_search: str = "thorough"  #: GD++ step-size search: thorough or fast (previews)

    LIMITS: ClassVar[dict] = {"d": 256, "N": 4096, "layers": 8, "heads": 16,
                              "batch_size": 1_000_000, "n_eval": 2_000_000,
                              "n_tune": 100_000_000}

    def __post_init__(self):
        lim = self.LIMITS
        for name in ("d", "N", "layers", "heads", "batch_size", "n_eval", "n_tune"):
            check_int(name, getattr(self, name), 1, lim[name])
        check_bool("recurrent", self.recurrent)
        check_choice("inputs", self.inputs, INPUTS)
        if self.sigma2 is not None:
            set_field(self, "sigma2", check_float("sigma2", self.sigma2, 0.0, 1e6,
                                                  lo_open=True))
        set_field(self, "init_scale", check_float("init_scale", self.init_scale, 0.0, 10.0))
        check_choice("dtype", self.dtype, ("float32", "float64"))
        check_choice("baseline_search", self.baseline_search, ("thorough", "fast"))
        per_task = (self.N + 1) * (self.d + 1)
        for name in ("batch_size", "n_eval"):       # (the tuning contexts go in chunks)
            n = getattr(self, name)
            if n * per_task > MAX_VALUES:
                raise ConfigError(name, n, f"must be ≤ {MAX_VALUES // per_task} at d={self.d}, "
                                  f"N={self.N} ({name}·(N+1)·(d+1) ≤ {MAX_VALUES} stored "
                                  "values)")

    @property
    def x_var(self) -> float:
        """σ², the per-coordinate variance of the inputs."""
        return float(BASE_MOMENTS[self.inputs][0]) if self.sigma2 is None else self.sigma2

    @property
    def kurtosis(self) -> float:
        """κ = E x⁴ / σ⁴ of an input coordinate (9/5 uniform, 3 normal)."""
        return float(BASE_MOMENTS[self.inputs][1])

    @property
    def x_scale(self) -> float:
        """Multiplier of the base draw (half-width for the uniforms, std for the normal)."""
        half = {"uniform-0.5": 0.5, "uniform-1": 1.0, "normal": 1.0}[self.inputs]
        if self.sigma2 is None:
            return half
        return half * math.sqrt(self.sigma2 / float(BASE_MOMENTS[self.inputs][0]))

    @property
    def D1(self) -> int:
        """Token width d + 1 (x, then the y slot)."""
        return self.d + 1


def lsa_optim_config() -> OptimConfig:
    """Adam, learning rate 1e-3, no weight decay (the paper's optimiser)."""
    return OptimConfig(name="adam", lr=1e-3, weight_decay=0.0)


def lsa_train_config(steps: int = 5000, eval_every: int = 250) -> TrainConfig:
    """5k steps, an evaluation (on the held-out tasks) every 250."""
    return TrainConfig(steps=steps, eval_every=eval_every, eval_chunk=20_000)


@dataclass(frozen=True)
class LSARunConfig:
    """Everything ``minimal lsa train`` needs."""

    model: LSAConfig = dataclasses.field(default_factory=LSAConfig)
    optim: OptimConfig = dataclasses.field(default_factory=lsa_optim_config)
    train: TrainConfig = dataclasses.field(default_factory=lsa_train_config)
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        for name, cls in (("model", LSAConfig), ("optim", OptimConfig),
                          ("train", TrainConfig), ("seeds", Seeds)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, getattr(self, name), f"must be a {cls.__name__}")


def _preset(**model) -> LSARunConfig:
    return LSARunConfig(model=LSAConfig(**model))


LSA_PRESETS = PresetRegistry("lsa")
LSA_PRESETS.register("lsa-default", lambda: _preset(),
                     "1 layer, 1 head, d = N = 10, x ~ U(−0.5, 0.5), Adam 1e-3, batch 512, "
                     "5k steps")
LSA_PRESETS.register("lsa-paper", lambda: _preset(batch_size=2048),
                     "as lsa-default with the paper's batch of 2048 tasks")
LSA_PRESETS.register("lsa-u1", lambda: _preset(inputs="uniform-1"),
                     "as lsa-default with x ~ U(−1, 1) (the paper's text)")
LSA_PRESETS.register("lsa-normal", lambda: _preset(inputs="normal"),
                     "as lsa-default with x ~ N(0, 1)")
LSA_PRESETS.register("lsa-2layers", lambda: _preset(layers=2),
                     "2 layers (compare with 2-step GD and GD++)")
LSA_PRESETS.register("lsa-3layers", lambda: _preset(layers=3),
                     "3 layers (compare with 3-step GD and GD++)")
LSA_PRESETS.register("lsa-2recurrent", lambda: _preset(layers=2, recurrent=True),
                     "2 layers sharing one set of weights (the paper's recurrent model)")
LSA_PRESETS.register("lsa-3recurrent", lambda: _preset(layers=3, recurrent=True),
                     "3 layers sharing one set of weights (the paper's recurrent model)")
