"""The interfaces between the training loop and the model families (docs/architecture.md).

The loop (:mod:`minimal.training.loop`) drives a :class:`Learner`: something whose whole state
is a dict of named arrays (so it checkpoints), that can train for a number of steps and that can
evaluate itself into one metrics row.  Two kinds of learner exist:

* :class:`GradientLearner` (in :mod:`.gradient`) wraps a :class:`Model` (parameters, loss and
  gradients, evaluation), a :class:`Data` source (a training batch is a pure function of the
  step) and an optimiser.  The Reddy network, the minimal induction-head models, the configurable
  transformer (its clamps and reference passes live inside ``loss_and_grads``), linear
  self-attention and the SAE (whose data source reads another network's activations) are models.
* Models that apply their own sparse update (the CoT associative memory) implement
  :class:`Learner` directly.

Column conventions: every metrics table starts with ``step`` and contains ``wall_s``; the loop
fills those two, the learner everything else it lists in ``columns``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np

__all__ = ["Model", "Data", "Learner", "StepStats", "Evaluator"]


@dataclass
class StepStats:
    """Training statistics accumulated between two evaluations."""

    steps: int = 0            #: optimisation steps done
    loss_sum: float = 0.0     #: sum of per-step mean training losses
    correct_sum: float = 0.0  #: sum of per-step training accuracies (fractions)
    count: int = 0            #: number of terms in the sums

    def add(self, other: "StepStats") -> None:
        self.steps += other.steps
        self.loss_sum += other.loss_sum
        self.correct_sum += other.correct_sum
        self.count += other.count

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.count if self.count else float("nan")

    @property
    def mean_acc(self) -> float:
        return self.correct_sum / self.count if self.count else float("nan")

    def to_meta(self) -> dict:
        return {"loss_sum": self.loss_sum, "correct_sum": self.correct_sum, "count": self.count}

    @classmethod
    def from_meta(cls, meta: Mapping) -> "StepStats":
        return cls(0, float(meta.get("loss_sum", 0.0)), float(meta.get("correct_sum", 0.0)),
                   int(meta.get("count", 0)))


@runtime_checkable
class Model(Protocol):
    """A model trained by gradient steps on batches.

    Optional attributes the loop uses when present: ``lr_scale`` (per-array learning-rate
    multipliers), ``check_params(params) -> params`` (validate a loaded checkpoint),
    ``chance_loss`` (the loss of a model that ignores its input: collapse detection),
    ``after_step(params)`` (a constraint applied in place after every optimiser step, e.g. the
    SAE's unit-norm decoder rows) and ``n_params()``.
    """

    #: the metrics header: :meth:`evaluate` fills these; ``step``, ``wall_s``, ``train_loss``
    #: and ``train_acc`` are filled by the learner (placed where listed, else appended)
    columns: tuple[str, ...]

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Initial parameters."""

    def loss_and_grads(self, params: dict, batch: Any,
                       grads: dict | None = None) -> tuple[float, dict, int]:
        """(mean loss, gradients written into ``grads``, number of correct predictions)."""

    def evaluate(self, params: dict, eval_data: Any, chunk: int) -> dict[str, float]:
        """One metrics row (a dict over ``columns``) on the fixed evaluation data."""


@runtime_checkable
class Data(Protocol):
    """A training stream and its fixed evaluation data."""

    def batch(self, step: int, out: Any = None) -> Any:
        """The training batch of ``step`` (a pure function of the data seed and the step);
        ``len(batch)`` is its number of examples."""

    def eval_data(self) -> Any:
        """Fixed evaluation data handed to :meth:`Model.evaluate` (built once per run)."""


@runtime_checkable
class Evaluator(Protocol):
    """Extra per-evaluation measurements (e.g. induction scores of every head) appended to the
    model's metrics row: ``columns`` and ``__call__(model, params) -> dict``."""

    columns: tuple[str, ...]

    def __call__(self, model: Any, params: dict) -> dict[str, float]: ...


@runtime_checkable
class Learner(Protocol):
    """What the training loop drives (see the module docstring)."""

    #: the full metrics header; must start with ``step`` and contain ``wall_s``
    columns: tuple[str, ...]

    def init_state(self) -> None:
        """Set the initial state (from the config's seeds)."""

    def state(self) -> dict[str, np.ndarray]:
        """Every array needed to continue exactly (parameters, optimiser moments, clocks)."""

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore :meth:`state` from a checkpoint (raises ``RunDirError`` if incompatible)."""

    def advance(self, step: int, n: int, should_stop: Callable[[], bool],
                stats: StepStats) -> int:
        """Train steps ``step … step + n − 1`` (fewer if ``should_stop()`` becomes true between
        steps), adding each step's loss and accuracy to ``stats`` in order (so that a resumed
        run sums exactly as an uninterrupted one); returns the steps done.  Raises
        ``TrainingDiverged`` on a non-finite loss."""

    def evaluate(self, step: int, stats: StepStats) -> dict[str, float]:
        """One metrics row (without ``step``/``wall_s``) given the training statistics since
        the previous evaluation."""

    def collapse(self, row: Mapping[str, float]) -> str | None:
        """A one-line description if the run has collapsed (loss pinned at chance with
        vanishing gradients), else None."""
