"""Optimisers over a dict of parameter arrays (updated in place).

* :class:`SGD` — plain SGD with multiplicative weight decay (docs/network.md), not scaled by the learning
  rate: θ ← (1 − wd) θ − η g (docs/network.md).
* :class:`Adam` — Adam with the same decoupled multiplicative decay.

State is a dict of named arrays so that it goes into checkpoints unchanged.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .config import OptimConfig


@njit(cache=True)
def _sgd_update(p, g, decay, lr):
    for i in range(p.shape[0]):
        p[i] = decay * p[i] - lr * g[i]


@njit(cache=True)
def _adam_update(p, g, m, v, decay, lr, b1, b2, eps, c1, c2):
    for i in range(p.shape[0]):
        gi = g[i]
        m[i] = b1 * m[i] + (1.0 - b1) * gi
        v[i] = b2 * v[i] + (1.0 - b2) * gi * gi
        mh = m[i] / c1
        vh = v[i] / c2
        p[i] = decay * p[i] - lr * mh / (math.sqrt(vh) + eps)


class SGD:
    """``lr_scale`` (optional) multiplies the learning rate per parameter array."""

    def __init__(self, cfg: OptimConfig, params: dict, lr_scale: dict | None = None):
        self.cfg = cfg
        self.t = 0
        self.scale = dict(lr_scale or {})

    def step(self, params: dict, grads: dict) -> None:
        decay = 1.0 - self.cfg.weight_decay
        for k, p in params.items():
            if p.size:
                _sgd_update(p.reshape(-1), grads[k].reshape(-1), decay,
                            self.cfg.lr * self.scale.get(k, 1.0))
        self.t += 1

    def state(self) -> dict:
        return {"t": np.array(self.t, np.int64)}

    def load_state(self, state: dict) -> None:
        self.t = int(state["t"])


class Adam:
    """``lr_scale`` (optional) multiplies the learning rate per parameter array."""

    def __init__(self, cfg: OptimConfig, params: dict, lr_scale: dict | None = None):
        self.cfg = cfg
        self.t = 0
        self.scale = dict(lr_scale or {})
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict, grads: dict) -> None:
        c = self.cfg
        self.t += 1
        c1 = 1.0 - c.beta1 ** self.t
        c2 = 1.0 - c.beta2 ** self.t
        for k, p in params.items():
            if p.size:
                _adam_update(p.reshape(-1), grads[k].reshape(-1), self.m[k].reshape(-1),
                             self.v[k].reshape(-1), 1.0 - c.weight_decay,
                             c.lr * self.scale.get(k, 1.0), c.beta1,
                             c.beta2, c.eps, c1, c2)

    def state(self) -> dict:
        out = {"t": np.array(self.t, np.int64)}
        out.update({f"m.{k}": v for k, v in self.m.items()})
        out.update({f"v.{k}": v for k, v in self.v.items()})
        return out

    def load_state(self, state: dict) -> None:
        self.t = int(state["t"])
        for k in self.m:
            self.m[k][...] = state[f"m.{k}"]
            self.v[k][...] = state[f"v.{k}"]


def make_optimizer(cfg: OptimConfig, params: dict, lr_scale: dict | None = None):
    return {"sgd": SGD, "adam": Adam}[cfg.name](cfg, params, lr_scale)
