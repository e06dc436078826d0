"""Configuration and presets of the minimal induction-head models (docs/induction_head.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import PresetRegistry, Seeds, check_choice, check_float, set_field
from ..errors import ConfigError
from ..tasks.config import TASK_PRESETS, TaskConfig
from ..training.config import OptimConfig, TrainConfig

__all__ = ["IHConfig", "IHRunConfig", "IH_PRESETS", "VARIANTS", "CLASSIFIERS", "HIDDEN"]

VARIANTS = ("ih3", "ih2", "ih2-labels")
CLASSIFIERS = ("linear", "mlp3")
HIDDEN = 128                       # width of the mlp3 classifier (docs/network.md)


@dataclass(frozen=True)
class IHConfig:
    """Variant, classifier, learning rates and initialisation of a minimal model."""

    variant: str = "ih3"
    classifier: str = "linear"
    lr_attn: float = 0.03          #: learning rate of (β₁, α, β₂) (× optim.lr, default 1)
    lr_clf: float = 0.03           #: learning rate of the classifier (× optim.lr)
    beta1_0: float = -2.0
    alpha_0: float = 0.0
    beta2_0: float = 0.0
    init_spread: float = 0.0       #: std of Gaussian noise added to (β₁, α, β₂) per seed
    linear_init_std: float = 0.0   #: std of the linear classifier's initial W (0: zeros)
    dtype: str = "float32"

    def __post_init__(self):
        check_choice("variant", self.variant, VARIANTS)
        check_choice("classifier", self.classifier, CLASSIFIERS)
        for name in ("lr_attn", "lr_clf"):
            set_field(self, name, check_float(name, getattr(self, name), 0.0, 1e3))
        for name in ("beta1_0", "alpha_0", "beta2_0"):
            set_field(self, name, check_float(name, getattr(self, name), -1e3, 1e3))
        set_field(self, "init_spread", check_float("init_spread", self.init_spread, 0.0, 1e3))
        set_field(self, "linear_init_std",
                  check_float("linear_init_std", self.linear_init_std, 0.0, 1e3))
        check_choice("dtype", self.dtype, ("float32", "float64"))
        if self.variant == "ih2" and self.beta2_0 != 0.0:
            raise ConfigError("beta2_0", self.beta2_0, "must be 0 for ih2 (beta2 is fixed at 0)")


@dataclass(frozen=True)
class IHRunConfig:
    """Everything ``minimal ih`` needs."""

    task: TaskConfig = dataclasses.field(default_factory=lambda: TASK_PRESETS.get("reddy-fig3"))
    ih: IHConfig = dataclasses.field(default_factory=IHConfig)
    optim: OptimConfig = dataclasses.field(
        default_factory=lambda: OptimConfig(lr=1.0, weight_decay=0.0))
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=20_000, eval_every=500))
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        for name, cls in (("task", TaskConfig), ("ih", IHConfig), ("optim", OptimConfig),
                          ("train", TrainConfig), ("seeds", Seeds)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, getattr(self, name), f"must be a {cls.__name__}")


IH_PRESETS = PresetRegistry("ih")
for _name in TASK_PRESETS.names():
    IH_PRESETS.register(_name, (lambda n: lambda: IHRunConfig(task=TASK_PRESETS.get(n)))(_name),
                        "task preset " + dict(TASK_PRESETS.describe())[_name])
