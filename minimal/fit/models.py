"""Phenomenological curve models, in a registry.

Each model has parameter names, bounds, an initial guess from the data, ``predict(x, p)`` and
the quantity it predicts (``accuracy``, ``loss`` or ``probability``, which fixes the allowed y
range).  Parameters named ``log10_*`` are fitted on a log scale; ``time_params`` lists those
that absorb a rescaling of x (for the rescaling-invariance property).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..errors import ConfigError


def midpoint_crossing(x, y) -> float | None:
    """First x at which y crosses the midpoint between its first and last value (linear
    interpolation), or None."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    lo, hi = y[0], y[-1]
    if not np.isfinite(lo) or not np.isfinite(hi) or abs(hi - lo) < 1e-12:
        return None
    mid = 0.5 * (lo + hi)
    s = np.sign(y - mid) * np.sign(hi - lo)
    idx = np.flatnonzero((s[:-1] < 0) & (s[1:] >= 0))
    if idx.size == 0:
        return None
    i = idx[0]
    if y[i + 1] == y[i]:
        return float(x[i + 1])
    return float(x[i] + (mid - y[i]) * (x[i + 1] - x[i]) / (y[i + 1] - y[i]))


class CurveModel:
    name = ""
    quantity = "accuracy"
    description = ""
    time_params: tuple = ()

    def param_names(self) -> list[str]:
        raise NotImplementedError

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def guess(self, x, y) -> np.ndarray:
        raise NotImplementedError

    def predict(self, x, p) -> np.ndarray:
        raise NotImplementedError

    @property
    def y_range(self):
        return (0.0, 1.0) if self.quantity in ("accuracy", "probability") else (0.0, np.inf)

    def transition(self, x, p) -> float | None:
        """Where the fitted curve crosses the midpoint between its plateaus (its values at the
        ends of the data range)."""
        grid = np.linspace(float(np.min(x)), float(np.max(x)), 1001)
        return midpoint_crossing(grid, self.predict(grid, p))

    def describe(self) -> dict:
        return {"name": self.name, "quantity": self.quantity, "params": self.param_names(),
                "description": self.description}

    def fit(self, curve, bootstrap: int = 0, seed: int = 0):
        """Fit this model to ``curve`` (bounded least squares unless a subclass overrides it);
        returns a :class:`~minimal.fit.result.FitResult`."""
        from .lsq import least_squares_fit
        return least_squares_fit(self, curve, bootstrap=bootstrap, seed=seed)


# ----------------------------------------------------------------------------------------------
# logistic
# ----------------------------------------------------------------------------------------------

class Logistic(CurveModel):
    name = "logistic"
    description = "two plateaus joined by a sigmoid: low + (high − low) σ((x − onset)/width)"
    time_params = ("onset", "log10_width")

    def __init__(self, quantity: str = "accuracy"):
        self.quantity = quantity

    def param_names(self):
        return ["onset", "log10_width", "low", "high"]

    def bounds(self):
        big = np.inf
        return np.array([-big, -12.0, -big, -big]), np.array([big, 12.0, big, big])

    def guess(self, x, y):
        k = max(1, len(y) // 10)
        lo, hi = float(np.median(y[:k])), float(np.median(y[-k:]))
        onset = midpoint_crossing(x, y)
        if onset is None:
            onset = float(np.median(x))
        width = max((float(x[-1]) - float(x[0])) / 20.0, 1e-12)
        return np.array([onset, math.log10(width), lo, hi])

    def predict(self, x, p):
        onset, lw, lo, hi = p
        z = (np.asarray(x, float) - onset) / 10.0 ** lw
        return lo + (hi - lo) / (1.0 + np.exp(-np.clip(z, -500, 500)))

    def transition(self, x, p):
        return float(p[0])


# ----------------------------------------------------------------------------------------------
# nested logits
# ----------------------------------------------------------------------------------------------

@dataclass
class NestedLogitsModel(CurveModel):
    """The theory issue's gradient flow with fixed (N, L, B, ε); x = s · τ.

    Fitted: log10 s, initial (β₁, α, ξ) and, with ``rate_ratios``, ln(η_α/η_ξ), ln(η_β/η_ξ).
    Predicts p_correct (accuracy/probability curves) or the loss (loss curves).
    """

    N: int = 8
    L: int = 32
    B: int = 1
    eps: float = 0.1
    rate_ratios: bool = False
    free_init: bool = True     #: fit the initial α and ξ (False: hold them at 0)
    quantity: str = "accuracy"

    name = "nested-logits"
    description = "three-nested-logits gradient flow (p_correct or loss), x = s·t"
    time_params = ("log10_time_scale",)

    def __post_init__(self):
        from ..theory.nested_logits import NestedLogitsConfig
        try:
            self._base = NestedLogitsConfig(N=self.N, L=self.L, B=self.B, eps=self.eps)
        except ConfigError as err:
            raise ConfigError(f"--{err.name}", err.value, err.rule) from None

    def param_names(self):
        names = ["log10_time_scale", "beta1_0"]
        if self.free_init:
            names += ["alpha_0", "xi_0"]
        if self.rate_ratios:
            names += ["ln_eta_alpha", "ln_eta_beta"]
        return names

    def bounds(self):
        lo = [-12.0, -10.0] + ([-2.0, -2.0] if self.free_init else []) + \
            ([-3.0, -3.0] if self.rate_ratios else [])
        hi = [12.0, 6.0] + ([4.0, 4.0] if self.free_init else []) + \
            ([3.0, 3.0] if self.rate_ratios else [])
        return np.array(lo), np.array(hi)

    def _cfg(self, p):
        from ..theory.nested_logits import NestedLogitsConfig
        kw = dict(N=self.N, L=self.L, B=self.B, eps=self.eps, beta1_0=float(p[1]))
        i = 2
        if self.free_init:
            kw.update(alpha_0=float(p[2]), xi_0=float(p[3]))
            i = 4
        if self.rate_ratios:
            kw.update(eta_alpha=math.exp(p[i]), eta_beta=math.exp(p[i + 1]))
        return NestedLogitsConfig(**kw)

    def extra_guesses(self, x, y):
        """Further starting points (other initial β₁), tried when the first fit is poor."""
        return [self.guess(x, y, b1) for b1 in (-5.0, 0.0)]

    def guess(self, x, y, beta1_0: float = -2.0):
        from ..theory.analysis import plateau_estimate
        p = np.array([0.0, beta1_0] + ([0.0, 0.0] if self.free_init else []) +
                     ([0.0, 0.0] if self.rate_ratios else []))
        t_star = plateau_estimate(self._cfg(p))
        mid = midpoint_crossing(x, y) if self.quantity != "loss" else \
            midpoint_crossing(x, -np.asarray(y))
        if mid is None or not np.isfinite(t_star) or mid <= 0:
            mid = float(np.median(x))
        p[0] = math.log10(max(mid, 1e-12) / (1.05 * t_star))
        return p

    def predict(self, x, p):
        from ..theory.nested_logits import flow_at
        s = 10.0 ** p[0]
        tau = np.maximum(np.asarray(x, float), 0.0) / s
        t_max = max(float(tau.max()), 1e-9)
        # steps of at most 0.5 model-time units (far below the plateau scale), but never more
        # than 20,000 of them (an optimiser probing a tiny time scale must not stall)
        out = flow_at(self._cfg(p), tau, dt_max=max(min(0.5, t_max / 400.0), t_max / 20000.0))
        return out[:, 3] if self.quantity == "loss" else out[:, 4]


# ----------------------------------------------------------------------------------------------
# three-factor scalar model
# ----------------------------------------------------------------------------------------------

@njit(cache=True)
def _three_factor_progress(taus, a0, kappa, dt_max):
    """Symmetric scalar model (α_A = α_B = α_C = α): α̇ = κ α² σ(−κα³); returns the
    normalised progress 1 − ℓ(τ)/ℓ(0) at the sorted times."""
    out = np.empty(taus.shape[0])
    a = a0
    l0 = math.log1p(math.exp(-kappa * a0 ** 3))
    t = 0.0
    for i in range(taus.shape[0]):
        span = taus[i] - t
        if span > 0:
            n = int(math.ceil(span / dt_max))
            h = span / n
            for _ in range(n):
                k1 = kappa * a * a / (1.0 + math.exp(kappa * a ** 3))
                b = a + 0.5 * h * k1
                k2 = kappa * b * b / (1.0 + math.exp(kappa * b ** 3))
                b = a + 0.5 * h * k2
                k3 = kappa * b * b / (1.0 + math.exp(kappa * b ** 3))
                b = a + h * k3
                k4 = kappa * b * b / (1.0 + math.exp(kappa * b ** 3))
                a += h * (k1 + 2 * k2 + 2 * k3 + k4) / 6.0
            t = taus[i]
        m = kappa * a ** 3
        ell = math.log1p(math.exp(-m)) if m > -30 else -m
        out[i] = 1.0 - ell / l0
    return out


class ThreeFactorModel(CurveModel):
    """Scalar multiplicative model m = κα³ (equal rates, symmetric start), κ = 1:
    y = low + (high − low)(1 − ℓ(t/s)/ℓ(0))."""

    name = "three-factor"
    description = "scalar three-factor model: low + (high−low)(1 − loss(t/s)/loss(0))"
    time_params = ("log10_time_scale",)

    def __init__(self, quantity: str = "accuracy"):
        self.quantity = quantity

    def param_names(self):
        return ["log10_time_scale", "log10_alpha0", "low", "high"]

    def bounds(self):
        return np.array([-12.0, -4.0, -np.inf, -np.inf]), np.array([12.0, 0.5, np.inf, np.inf])

    def guess(self, x, y):
        k = max(1, len(y) // 10)
        lo, hi = float(np.median(y[:k])), float(np.median(y[-k:]))
        mid = midpoint_crossing(x, y) or float(np.median(x))
        a0 = 0.05
        t_star = 2.0 / a0                      # 2/(ηκα₀) with η = κ = 1
        return np.array([math.log10(max(mid, 1e-12) / t_star), math.log10(a0), lo, hi])

    def predict(self, x, p):
        s, a0 = 10.0 ** p[0], 10.0 ** p[1]
        tau = np.maximum(np.asarray(x, float), 0.0) / s
        order = np.argsort(tau)
        prog = np.empty(len(tau))
        t_max = float(tau.max()) if len(tau) else 1.0
        prog[order] = _three_factor_progress(np.ascontiguousarray(tau[order]), a0, 1.0,
                                             max(min(0.5, 0.05 / a0), t_max / 20000.0))
        return p[2] + (p[3] - p[2]) * prog
