"""Configuration of the optimiser and of the training loop, shared by every model family."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import check_bool, check_choice, check_float, check_int, set_field

__all__ = ["OptimConfig", "TrainConfig"]


@dataclass(frozen=True)
class OptimConfig:
    """SGD with multiplicative weight decay (default) or Adam.

    Weight decay is multiplicative and not scaled by the learning rate:
    θ ← (1 − weight_decay) θ − lr · update (docs/network.md, "Training").
    """

    name: str = "sgd"
    lr: float = 0.01
    weight_decay: float = 1e-6
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        check_choice("name", self.name, ("sgd", "adam"))
        set_field(self, "lr", check_float("lr", self.lr, 0.0, 1e3, lo_open=True))
        set_field(self, "weight_decay",
                  check_float("weight_decay", self.weight_decay, 0.0, 1.0, hi_open=True))
        set_field(self, "beta1", check_float("beta1", self.beta1, 0.0, 1.0, hi_open=True))
        set_field(self, "beta2", check_float("beta2", self.beta2, 0.0, 1.0, hi_open=True))
        set_field(self, "eps", check_float("eps", self.eps, 0.0, 1.0, lo_open=True))


@dataclass(frozen=True)
class TrainConfig:
    """The training loop: step budget, evaluation (and checkpoint) cadence.

    Every evaluation writes one metrics row and a checkpoint.  ``stop_on_collapse`` turns the
    collapse warning (loss pinned at its chance value with vanishing gradients) into a failure.
    """

    steps: int = 150_000       #: optimisation steps
    eval_every: int = 1000     #: evaluate (and checkpoint) every this many steps
    eval_chunk: int = 1000     #: sequences per forward chunk during evaluation
    eval_at_start: bool = True  #: also evaluate at step 0
    stop_on_collapse: bool = False  #: a collapsed run fails (exit 3) instead of warning

    def __post_init__(self):
        check_int("steps", self.steps, 0, 10**9)
        check_int("eval_every", self.eval_every, 1, 10**9)
        check_int("eval_chunk", self.eval_chunk, 1, 10**6)
        check_bool("eval_at_start", self.eval_at_start)
        check_bool("stop_on_collapse", self.stop_on_collapse)

    @property
    def n_evaluations(self) -> int:
        """Rows a complete run writes."""
        return (self.steps // self.eval_every + (self.steps % self.eval_every > 0)
                + (1 if self.eval_at_start and self.steps > 0 else 0))
