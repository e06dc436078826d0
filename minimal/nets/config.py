"""Configuration and presets of the attention-only network of Reddy (2024) (docs/network.md).

``OptimConfig`` and ``TrainConfig`` are the training layer's (re-exported here for convenience).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import (PresetRegistry, Seeds, check_bool, check_choice, check_float, check_int,
                      set_field)
from ..errors import ConfigError
from ..tasks.config import TASK_PRESETS, TaskConfig
from ..training.config import OptimConfig, TrainConfig

__all__ = ["NetConfig", "OptimConfig", "TrainConfig", "TrainRunConfig", "TRAIN_PRESETS"]


@dataclass(frozen=True)
class NetConfig:
    """Attention-only network of docs/network.md (defaults: 2 layers, 1 head, 3-layer MLP).

    Width d = P + D and the number of labels L come from the task.  Heads split the query/key
    dimension k_dim and the value (residual) width d evenly; with no output projection, head h
    writes residual rows [h d/H, (h+1) d/H).
    """

    n_layers: int = 2          #: attention layers (1–4)
    heads: int = 1             #: heads per layer (1–8; must divide k_dim and d)
    k_dim: int = 128           #: query/key dimension (all heads together)
    mlp_depth: int = 3         #: ReLU MLP layers before the readout (0–3), width d
    attn_init_scale: float = 1.0  #: multiplies the N(0, 1/D) std of W_Q, W_K, W_V
    dtype: str = "float32"     #: float32 (training) or float64 (checks, theory)
    fused: bool = True         #: use the fused two-layer kernel when n_layers == 2

    def __post_init__(self):
        check_int("n_layers", self.n_layers, 1, 4)
        check_int("heads", self.heads, 1, 8)
        check_int("k_dim", self.k_dim, 1, 4096)
        if self.k_dim % self.heads:
            raise ConfigError("k_dim", self.k_dim, f"must be a multiple of heads={self.heads}")
        check_int("mlp_depth", self.mlp_depth, 0, 3)
        set_field(self, "attn_init_scale",
                  check_float("attn_init_scale", self.attn_init_scale, 0.0, 100.0, lo_open=True))
        check_choice("dtype", self.dtype, ("float32", "float64"))
        check_bool("fused", self.fused)

    def check_task(self, task: TaskConfig) -> None:
        """Cross-check with the task: the residual width d = P + D must split across heads."""
        if task.d % self.heads:
            ok = [h for h in range(1, 9) if task.d % h == 0 and self.k_dim % h == 0]
            raise ConfigError("net.heads", self.heads, f"must divide the token width "
                              f"d = P + D = {task.d}; allowed: {', '.join(map(str, ok))}")


@dataclass(frozen=True)
class TrainRunConfig:
    """Everything ``minimal train`` needs: task, network, optimiser, loop and seeds."""

    task: TaskConfig = dataclasses.field(default_factory=TaskConfig)
    net: NetConfig = dataclasses.field(default_factory=NetConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        for name, cls in (("task", TaskConfig), ("net", NetConfig), ("optim", OptimConfig),
                          ("train", TrainConfig), ("seeds", Seeds)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, getattr(self, name), f"must be a {cls.__name__}")
        self.net.check_task(self.task)


TRAIN_PRESETS = PresetRegistry("train")


def _preset(task_name: str, **train_kw):
    return lambda: TrainRunConfig(task=TASK_PRESETS.get(task_name), train=TrainConfig(**train_kw))


TRAIN_PRESETS.register("reddy-default", _preset("reddy-default"),
                       "Fig. 1d: K=512, B=2, p_B=1, p_C=0; 150k SGD steps at lr 0.01")
TRAIN_PRESETS.register("reddy-fig3", _preset("reddy-fig3", steps=60_000),
                       "Fig. 3 (mechanistic): K=256, B=1, p_C=0.8; learns ICL fast")
TRAIN_PRESETS.register("reddy-iwl", _preset("reddy-iwl"),
                       "in-weights regime: K=128, B=1, eps=0, p_C=0 (memorising wins the race)")
TRAIN_PRESETS.register("reddy-coexist", _preset("reddy-coexist"),
                       "coexistence (Fig. A.1): K=512, B=2, p_B=p_C=0.5")
