"""Configuration and presets of the two-stage CoT circuit model (docs/cot.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import (PresetRegistry, Seeds, check_bool, check_choice, check_float,
                      check_int, set_field)
from ..errors import ConfigError
from ..tasks.config import COT_WORLDS, TwoHopConfig
from ..training.config import TrainConfig

__all__ = ["TSAMConfig", "CoTRunConfig", "COT_PRESETS", "cot_train_config", "GATE_TYINGS",
           "LAYOUTS"]


GATE_TYINGS = ("lookup", "separate")
LAYOUTS = ("sparse", "dense")


@dataclass(frozen=True)
class TSAMConfig:
    """Level 1 of the CoT circuit model (docs/cot.md, "Level 1").

    Stores take SGD steps (η per item, the loss is summed over the batch) with L2 decay ω;
    the gates take Adam steps of size ``gate_lr``; both rates ramp up linearly over
    ``warmup_steps`` (the paper's 2,000-step warm-up).  ``gates = "lookup"`` ties the atomic,
    stage-1 and stage-2 gates (one fact-lookup route, ρ_L); ``"separate"`` keeps ρ_a, ρ₁, ρ₂.
    """

    cot: bool = True
    lr: float = 0.02              #: η (per item; the loss is summed over the batch)
    weight_decay: float = 1e-3    #: ω (L2) for A, B, S, C, D
    m_decay_ratio: float = 10.0   #: ω_M / ω (≥ 1)
    m_lr_ratio: float = 2.0       #: η_M / η (≥ 1)
    s2_lr_scale: float = 10.0     #: learning-rate multiplier of the stage-2 stores S, C, D
    rho0: float = 0.1             #: initial gates
    gate_lr: float = 1e-3         #: Adam step size of every gate
    gate_weight_decay: float = 0.0  #: decoupled (AdamW) decay of the gates per unit gate_lr
    gates: str = "separate"       #: separate (ρ_a, ρ₁, ρ₂) or lookup (ρ_a = ρ₁ = ρ₂)
    warmup_steps: int = 2000      #: linear warm-up of η and gate_lr (0: none)
    init_std: float = 0.1         #: std of the stores' initial entries (0: all-zero stores)
    bridge_topk: int = 16         #: bridges mixed by the no-CoT second hop
    batch_size: int = 512
    layout: str = "sparse"        #: sparse (rows for the keys training can touch) or dense

    def __post_init__(self):
        check_bool("cot", self.cot)
        set_field(self, "lr", check_float("lr", self.lr, 0.0, 1e4, lo_open=True))
        set_field(self, "weight_decay", check_float("weight_decay", self.weight_decay, 0.0,
                                                    1.0, hi_open=True))
        set_field(self, "m_decay_ratio", check_float("m_decay_ratio", self.m_decay_ratio, 1.0,
                                                     1e6, rule="must be ≥ 1 (ω_M ≥ ω)"))
        set_field(self, "m_lr_ratio", check_float("m_lr_ratio", self.m_lr_ratio, 1.0, 1e6,
                                                  rule="must be ≥ 1 (η_M ≥ η)"))
        set_field(self, "s2_lr_scale", check_float("s2_lr_scale", self.s2_lr_scale, 0.0, 1e6))
        set_field(self, "rho0", check_float("rho0", self.rho0, 0.0, 1e3))
        set_field(self, "gate_lr", check_float("gate_lr", self.gate_lr, 0.0, 10.0))
        set_field(self, "gate_weight_decay", check_float("gate_weight_decay",
                                                         self.gate_weight_decay, 0.0, 1e3))
        check_choice("gates", self.gates, GATE_TYINGS)
        check_int("warmup_steps", self.warmup_steps, 0, 10**7)
        set_field(self, "init_std", check_float("init_std", self.init_std, 0.0, 1e3))
        check_int("bridge_topk", self.bridge_topk, 1, 10**6)
        check_int("batch_size", self.batch_size, 1, 10**7)
        check_choice("layout", self.layout, LAYOUTS)
        if self.lr * self.weight_decay * self.m_lr_ratio * self.m_decay_ratio >= 1.0:
            raise ConfigError("weight_decay", self.weight_decay,
                              "lr·ω·(η_M/η)·(ω_M/ω) must be < 1 (decay factor per step)")


def cot_train_config(steps: int = 20_000, eval_every: int = 2000) -> TrainConfig:
    """The CoT runs' loop defaults: 20k steps, an evaluation every 2k."""
    return TrainConfig(steps=steps, eval_every=eval_every)


@dataclass(frozen=True)
class CoTRunConfig:
    world: TwoHopConfig = dataclasses.field(default_factory=lambda: COT_WORLDS.get("small"))
    model: TSAMConfig = dataclasses.field(default_factory=TSAMConfig)
    train: TrainConfig = dataclasses.field(default_factory=cot_train_config)
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        for name, cls in (("world", TwoHopConfig), ("model", TSAMConfig),
                          ("train", TrainConfig), ("seeds", Seeds)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, getattr(self, name), f"must be a {cls.__name__}")


COT_PRESETS = PresetRegistry("cot")
COT_PRESETS.register("small", lambda: CoTRunConfig(),
                     "small world (|E|=400, |R|=40, k_out=16, λ=7.2), batch 512, 20k steps")
COT_PRESETS.register("small-b82", lambda: CoTRunConfig(model=TSAMConfig(batch_size=82)),
                     "small world at batch 82: the paper world's 613 steps per epoch (the "
                     "calibration proxy: paper time axis, 1/30 of the cost)")
COT_PRESETS.register("tiny", lambda: CoTRunConfig(world=COT_WORLDS.get("tiny"),
                                                  model=TSAMConfig(batch_size=128)),
                     "tiny world for tests (|E|=200), batch 128")
COT_PRESETS.register("paper", lambda: CoTRunConfig(world=COT_WORLDS.get("paper")),
                     "paper world (|E|=2000, |R|=200, k_out=20, λ=7.2), sparse stores, batch 512")
