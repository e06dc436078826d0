"""A :class:`~minimal.training.protocol.Learner` for models trained by gradient steps.

``GradientLearner(model, data, optim_cfg, init_rng, evaluators)`` owns the parameters, the
gradient buffers and the optimiser; its state is ``param.<name>`` and ``opt.<name>`` arrays.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import RunDirError, TrainingDiverged
from .config import OptimConfig
from .optim import make_optimizer
from .protocol import Data, Evaluator, Model, StepStats

#: columns every gradient learner writes besides the model's own
LOOP_COLUMNS = ("train_loss", "train_acc")


class GradientLearner:
    """Online training of ``model`` on ``data`` (see the module docstring)."""

    def __init__(self, model: Model, data: Data, optim: OptimConfig, init_rng=None,
                 evaluators: Sequence[Evaluator] = (), chunk: int = 1000):
        self.model = model
        self.data = data
        self.optim_cfg = optim
        self.init_rng = init_rng
        self.evaluators = list(evaluators)
        self.chunk = int(chunk)
        cols = list(model.columns)
        if not cols or cols[0] != "step":
            cols = ["step"] + [c for c in cols if c != "step"]
        cols += [c for c in ("wall_s",) + LOOP_COLUMNS if c not in cols]
        cols += [c for e in self.evaluators for c in e.columns if c not in cols]
        self.columns = tuple(cols)
        self.params: dict | None = None
        self.grads: dict | None = None
        self.opt = None
        self._eval_data = None
        self.timings = {"eval_data_s": 0.0, "data_s": 0.0, "step_s": 0.0, "warmup_s": 0.0}
        self._first = True
        self.grad_norm = float("nan")

    # -- state --------------------------------------------------------------------------------
    def _setup(self, params: dict) -> None:
        self.params = params
        self.grads = {k: np.zeros_like(v) for k, v in params.items()}
        self.opt = make_optimizer(self.optim_cfg, params, getattr(self.model, "lr_scale", None))

    def init_state(self) -> None:
        if self.init_rng is None:
            raise ValueError("GradientLearner needs init_rng to initialise the parameters")
        self._setup(self.model.init(self.init_rng))

    def state(self) -> dict[str, np.ndarray]:
        out = {f"param.{k}": v for k, v in self.params.items()}
        out.update({f"opt.{k}": v for k, v in self.opt.state().items()})
        return out

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        params = {k[6:]: np.array(v) for k, v in arrays.items() if k.startswith("param.")}
        if not params:
            raise RunDirError("checkpoint holds no parameters (param.* arrays)")
        for k, v in params.items():
            if v.dtype.kind != "f":
                raise RunDirError(f"checkpoint array param.{k} has dtype {v.dtype}; "
                                  "expected floating point")
        check = getattr(self.model, "check_params", None)
        if check is not None:
            params = check(params)
        self._setup(params)
        opt_state = {k[4:]: v for k, v in arrays.items() if k.startswith("opt.")}
        try:
            self.opt.load_state(opt_state)
        except KeyError as exc:
            raise RunDirError(f"checkpoint lacks optimiser state {exc}") from None

    # -- training -----------------------------------------------------------------------------
    def advance(self, step: int, n: int, should_stop: Callable[[], bool],
                stats: StepStats) -> int:
        done = 0
        batch = None
        bound = getattr(self, "loss_bound", None)
        after = getattr(self.model, "after_step", None)
        chance = getattr(self.model, "chance_loss", None)
        if bound is None and chance:
            bound = 1000.0 * max(float(chance), 1.0)
        for i in range(n):
            if i and should_stop():
                break
            td = time.perf_counter()
            batch = self.data.batch(step + i, out=batch)
            ts = time.perf_counter()
            loss, _, n_correct = self.model.loss_and_grads(self.params, batch, self.grads)
            if not math.isfinite(loss) or (bound is not None and loss > bound):
                what = (f"became {loss}" if not math.isfinite(loss) else
                        f"reached {loss:.4g}, above the divergence bound {bound:.4g}")
                raise TrainingDiverged(f"the training loss {what} at step {step + i}; lower "
                                       "optim.lr (or the initial scale of the weights)")
            self.opt.step(self.params, self.grads)
            if after is not None:
                after(self.params)
            te = time.perf_counter()
            if self._first:
                self.timings["warmup_s"] += te - ts
                self._first = False
            else:
                self.timings["step_s"] += te - ts
            self.timings["data_s"] += ts - td
            done += 1
            stats.steps += 1
            stats.loss_sum += loss
            stats.correct_sum += n_correct / max(len(batch), 1)
            stats.count += 1
        if done:
            self.grad_norm = float(math.sqrt(sum(float(np.vdot(g, g))
                                                 for g in self.grads.values())))
        return done

    def evaluate(self, step: int, stats: StepStats) -> dict[str, float]:
        if self._eval_data is None:
            t0 = time.perf_counter()
            self._eval_data = self.data.eval_data()
            self.timings["eval_data_s"] += time.perf_counter() - t0
        row = dict(self.model.evaluate(self.params, self._eval_data, self.chunk))
        row["train_loss"] = stats.mean_loss
        row["train_acc"] = stats.mean_acc
        for ev in self.evaluators:
            row.update(ev(self.model, self.params))
        return row

    def collapse(self, row: Mapping[str, float]) -> str | None:
        chance = getattr(self.model, "chance_loss", None)
        loss = row.get("train_loss", float("nan"))
        if not chance or not math.isfinite(loss) or not math.isfinite(self.grad_norm):
            return None
        if abs(loss - chance) <= 1e-3 * chance and self.grad_norm <= 1e-6:
            return (f"collapsed: training loss {loss:.6f} is pinned at the chance value "
                    f"{chance:.6f} (|Δ| ≤ 0.1 %) with gradient norm {self.grad_norm:.2e} "
                    "≤ 1e-6 (e.g. a dead ReLU classifier)")
        return None
