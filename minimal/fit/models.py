"""Phenomenological curve models (docs/fitting.md, "Models").

Every model has named parameters in natural units (:class:`Param`: a kind that fixes its unit,
whether it is fitted on a log10 scale, bounds, a definition), an initial guess from the data,
``predict(x, p)``, a start and an end plateau (the parameters ``start`` and ``end``: every
model maps its shape onto the data as ``start + (end − start) · u(x)`` with u rising from 0 to
1) and ``transition(x, p)``: the x at which the fitted curve is halfway between its plateaus,
or None when that crossing lies outside [min x, max x].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..errors import ConfigError

__all__ = ["Param", "CurveModel", "Logistic", "NestedLogitsModel", "ThreeFactorModel",
           "midpoint_crossing", "crossing"]

#: parameter kinds: their unit and the scale a standard error is judged against
KINDS = {
    "location": "x units; relative error judged against the width of the x range",
    "time": "x units (positive, fitted as log10); relative error = se / value",
    "level": "y units; relative error judged against the metric's natural range",
    "logit": "dimensionless logit; relative error = se / max(1, |value|)",
    "ratio": "dimensionless positive ratio (fitted as log10); relative error = se / value",
}


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` (see :data:`KINDS`), ``log`` (fitted as log10 of the value),
    natural bounds, a one-line definition, and whether a reduced fit may hold it fixed."""

    name: str
    kind: str
    lo: float
    hi: float
    definition: str
    log: bool = False
    fixable: bool = False
    unit: str | None = None    #: "{x}", "{y}", "{x} per unit τ" …; None: from the kind

    def unit_for(self, x_name: str, y_name: str) -> str:
        u = self.unit if self.unit is not None else (
            "{x}" if self.kind in ("location", "time") else "{y}" if self.kind == "level"
            else "")
        return u.format(x=x_name, y=y_name)


def midpoint_crossing(x, y) -> float | None:
    """First x at which y crosses the midpoint between its first and last value (linear
    interpolation), or None."""
    y = np.asarray(y, float)
    if len(y) < 2:
        return None
    return crossing(x, y, y[0], y[-1])


def crossing(x, y, start, end, level: float = 0.5) -> float | None:
    """First x at which ``(y − start)/(end − start)`` reaches ``level`` from below (linear
    interpolation between samples), or None: also when it is already reached at the first
    sample (the crossing happened before the range)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    d = float(end) - float(start)
    if not (math.isfinite(d) and d != 0.0) or len(x) < 2:
        return None
    u = (y - start) / d
    if not np.isfinite(u[0]) or u[0] >= level:
        return None
    idx = np.flatnonzero((u[:-1] < level) & (u[1:] >= level))
    if idx.size == 0:
        return None
    i = int(idx[0])
    if u[i + 1] == u[i]:
        return float(x[i + 1])
    return float(x[i] + (level - u[i]) * (x[i + 1] - x[i]) / (u[i + 1] - u[i]))


class CurveModel:
    """Base class: see the module docstring.  Subclasses define :meth:`params`,
    :meth:`guess` and :meth:`predict`; :meth:`fit` is bounded least squares unless a subclass
    overrides it."""

    name = ""
    quantity = "accuracy"
    description = ""
    equation = ""
    reducible = False      #: a theory model: unidentified shape parameters may be fixed

    def params(self) -> list[Param]:
        raise NotImplementedError

    def param_names(self) -> list[str]:
        return [q.name for q in self.params()]

    def param(self, name: str) -> Param:
        for q in self.params():
            if q.name == name:
                return q
        raise KeyError(name)

    @property
    def time_params(self) -> tuple:
        """Parameters in x units (they scale with x)."""
        return tuple(q.name for q in self.params() if q.kind in ("location", "time"))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        ps = self.params()
        return np.array([q.lo for q in ps], float), np.array([q.hi for q in ps], float)

    def guess(self, x, y) -> np.ndarray:
        raise NotImplementedError

    def predict(self, x, p) -> np.ndarray:
        raise NotImplementedError

    def constants(self) -> dict:
        """Fixed constants of the model (shown in reports), e.g. N, L, B, ε."""
        return {}

    @property
    def y_range(self):
        return (0.0, 1.0) if self.quantity in ("accuracy", "probability") else (0.0, np.inf)

    def plateaus(self, p) -> tuple[float, float]:
        """(start, end): the model's plateau before and after the rise."""
        names = self.param_names()
        return float(p[names.index("start")]), float(p[names.index("end")])

    def transition(self, x, p) -> float | None:
        """The x at which the fitted curve is halfway between its start and end plateaus,
        or None when that crossing is not inside [min x, max x]."""
        x0, x1 = float(np.min(x)), float(np.max(x))
        start, end = self.plateaus(p)
        grid = np.linspace(x0, x1, 2001)
        f = self.predict(grid, p)
        t = crossing(grid, f, start, end)
        if t is None:
            return None
        i = int(np.searchsorted(grid, t))
        a, b = grid[max(i - 1, 0)], grid[min(i, len(grid) - 1)]
        if b <= a:
            return t
        d = end - start

        def g(v):
            return float((self.predict(np.array([v]), p)[0] - start) / d) - 0.5
        ga, gb = g(a), g(b)
        if not (ga < 0 <= gb):
            return t
        from scipy.optimize import brentq
        return float(brentq(g, a, b, xtol=1e-12 * max(1.0, abs(b)), rtol=1e-12))

    def to_internal(self, p) -> np.ndarray:
        """Natural parameter vector -> the optimiser's (log10 of the ``log`` parameters)."""
        q = np.array(p, float)
        for i, spec in enumerate(self.params()):
            if spec.log:
                q[i] = math.log10(q[i])
        return q

    def to_natural(self, q) -> np.ndarray:
        p = np.array(q, float)
        for i, spec in enumerate(self.params()):
            if spec.log:
                p[i] = 10.0 ** q[i]
        return p

    def describe(self) -> dict:
        return {"name": self.name, "quantity": self.quantity, "params": self.param_names(),
                "description": self.description, "equation": self.equation}

    def fit(self, curve, bootstrap: int = 0, seed: int = 0, fixed: dict | None = None,
            rules=None, progress=None, start: dict | None = None):
        """Fit this model to ``curve`` by bounded least squares; ``fixed`` holds parameters
        at given values (a reduced model); ``start`` overrides starting values (a warm
        start).  Returns a :class:`~minimal.fit.result.FitResult` with its verdict
        (``rules``: :class:`~minimal.fit.verdict.VerdictRules`)."""
        from .lsq import least_squares_fit
        return least_squares_fit(self, curve, bootstrap=bootstrap, seed=seed, fixed=fixed,
                                 rules=rules, start=start)


def _plateau_guess(y):
    k = max(2, len(y) // 10)
    return float(np.median(y[:k])), float(np.median(y[-k:]))


_LEVEL = dict(kind="level", lo=-np.inf, hi=np.inf)


def _start():
    return Param("start", definition="plateau before the rise (the curve's level at the "
                 "start)", **_LEVEL)


def _end():
    return Param("end", definition="plateau after the rise (the level the curve settles at)",
                 **_LEVEL)


# ----------------------------------------------------------------------------------------------
# logistic
# ----------------------------------------------------------------------------------------------

class Logistic(CurveModel):
    name = "logistic"
    description = "two plateaus joined by a sigmoid"
    equation = "y = start + (end − start) / (1 + exp(−(x − onset)/width))"

    def __init__(self, quantity: str = "accuracy"):
        self.quantity = quantity

    def params(self):
        return [Param("onset", "location", -np.inf, np.inf,
                      "the x at which y is halfway between start and end"),
                Param("width", "time", 1e-30, 1e30,
                      "sigmoid width: the 10–90 % rise takes 2·ln 9 · width ≈ 4.39 · width",
                      log=True),
                _start(), _end()]

    def guess(self, x, y):
        lo, hi = _plateau_guess(y)
        onset = midpoint_crossing(x, y)
        if onset is None:
            onset = float(np.median(x))
        width = max((float(x[-1]) - float(x[0])) / 20.0, 1e-30)
        return np.array([onset, width, lo, hi])

    def predict(self, x, p):
        onset, width, lo, hi = (float(v) for v in p)
        z = (np.asarray(x, float) - onset) / width
        return lo + (hi - lo) / (1.0 + np.exp(-np.clip(z, -500, 500)))

    def transition(self, x, p):
        onset, _, lo, hi = (float(v) for v in p)
        if lo == hi or not (float(np.min(x)) < onset <= float(np.max(x))):
            return None
        return onset


# ----------------------------------------------------------------------------------------------
# nested logits
# ----------------------------------------------------------------------------------------------

class NestedLogitsModel(CurveModel):
    """The three-nested-logits gradient flow with fixed (N, L, B, ε); x = time_scale · τ.

    The flow's readout r(τ) (p_correct for accuracies, the loss for losses) is mapped onto the
    data as start + (end − start)·u(τ) with u = (r(τ) − r(0))/(r(∞) − r(0)) (r(∞) = 1 for
    p_correct, 0 for the loss), so that curves that end below 1 or start above chance fit.
    """

    name = "nested-logits"
    description = "three-nested-logits gradient flow, x = time_scale · τ"
    equation = ("y = start + (end − start)·u(x/time_scale), u = normalised p_correct (or "
                "loss) of the nested-logits flow from (β₁⁰, α₀, ξ₀)")
    reducible = True

    def __init__(self, quantity: str = "accuracy", N: int = 8, L: int = 32, B: int = 1,
                 eps: float = 0.1, rate_ratios: bool = False, free_init: bool = True):
        from ..theory.nested_logits import NestedLogitsConfig
        self.quantity = quantity
        self.N, self.L, self.B, self.eps = int(N), int(L), int(B), float(eps)
        self.rate_ratios, self.free_init = bool(rate_ratios), bool(free_init)
        try:
            NestedLogitsConfig(N=self.N, L=self.L, B=self.B, eps=self.eps)
        except ConfigError as err:
            raise ConfigError(f"--{err.name}", err.value, err.rule) from None
        self.constants_source: dict = {}

    def constants(self):
        return {"N": self.N, "L": self.L, "B": self.B, "eps": self.eps}

    def params(self):
        ps = [Param("time_scale", "time", 1e-30, 1e30,
                    "x per unit of model time τ (x = time_scale · τ)", log=True,
                    unit="{x} per unit τ"),
              Param("beta1_0", "logit", -10.0, 6.0, "initial layer-1 logit β₁", fixable=True)]
        if self.free_init:
            ps += [Param("alpha_0", "logit", -2.0, 4.0, "initial layer-2 strength α",
                         fixable=True),
                   Param("xi_0", "logit", -2.0, 4.0, "initial classifier alignment ξ",
                         fixable=True)]
        if self.rate_ratios:
            ps += [Param("rate_alpha", "ratio", math.exp(-3), math.exp(3), "η_α / η_ξ",
                         log=True, fixable=True),
                   Param("rate_beta", "ratio", math.exp(-3), math.exp(3), "η_β / η_ξ",
                         log=True, fixable=True)]
        return ps + [_start(), _end()]

    def _cfg(self, p):
        from ..theory.nested_logits import NestedLogitsConfig
        kw = dict(N=self.N, L=self.L, B=self.B, eps=self.eps, beta1_0=float(p[1]))
        i = 2
        if self.free_init:
            kw.update(alpha_0=float(p[2]), xi_0=float(p[3]))
            i = 4
        if self.rate_ratios:
            kw.update(eta_alpha=float(p[i]), eta_beta=float(p[i + 1]))
        return NestedLogitsConfig(**kw)

    def _shape_guess(self, beta1_0):
        return [beta1_0] + ([0.0, 0.0] if self.free_init else []) + \
            ([1.0, 1.0] if self.rate_ratios else [])

    def extra_guesses(self, x, y):
        """Further starting points (other initial β₁), tried when the first fit is poor."""
        return [self.guess(x, y, b1) for b1 in (-5.0, 0.0)]

    def guess(self, x, y, beta1_0: float = -2.0):
        from ..theory.analysis import plateau_estimate
        lo, hi = _plateau_guess(y)
        p = np.array([1.0] + self._shape_guess(beta1_0) + [lo, hi])
        t_star = plateau_estimate(self._cfg(p))
        mid = midpoint_crossing(x, y)
        if mid is None or not np.isfinite(t_star) or mid <= 0:
            mid = float(np.median(x))
        p[0] = max(mid, 1e-12) / (1.05 * t_star)
        return p

    def _readout(self, cfg, tau, t_max):
        from ..theory.nested_logits import flow_at
        # steps of at most 0.5 model-time units (far below the plateau scale), but never more
        # than 5,000 of them (an optimiser probing a tiny time scale must not stall; the rise
        # is then far narrower than the data's sampling)
        out = flow_at(cfg, tau, dt_max=max(min(0.5, t_max / 400.0), t_max / 5000.0))
        return out[:, 3] if self.quantity == "loss" else out[:, 4]

    def predict(self, x, p):
        s = float(p[0])
        tau = np.maximum(np.asarray(x, float), 0.0) / s
        t_max = max(float(tau.max()) if tau.size else 1.0, 1e-9)
        cfg = self._cfg(p)
        r = self._readout(cfg, np.concatenate([[0.0], tau]), t_max)
        r0, r_inf = r[0], (0.0 if self.quantity == "loss" else 1.0)
        u = (r[1:] - r0) / (r_inf - r0)
        return float(p[-2]) + (float(p[-1]) - float(p[-2])) * u


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
    """Scalar multiplicative model m = κα³ (equal rates, symmetric start, κ = 1):
    y = start + (end − start)(1 − ℓ(x/time_scale)/ℓ(0))."""

    name = "three-factor"
    description = "scalar three-factor model, x = time_scale · τ"
    equation = ("y = start + (end − start)(1 − ℓ(τ)/ℓ(0)), τ = x/time_scale, ℓ = log(1 + "
                "e^(−α³)), dα/dτ = α² σ(−α³), α(0) = alpha0")
    reducible = True

    def __init__(self, quantity: str = "accuracy"):
        self.quantity = quantity

    def params(self):
        return [Param("time_scale", "time", 1e-30, 1e30,
                      "x per unit of model time τ (x = time_scale · τ)", log=True,
                      unit="{x} per unit τ"),
                Param("alpha0", "ratio", 1e-4, 10 ** 0.5,
                      "initial alignment α(0); the plateau lasts ≈ 2/alpha0 units of τ",
                      log=True, fixable=True),
                _start(), _end()]

    def guess(self, x, y):
        lo, hi = _plateau_guess(y)
        mid = midpoint_crossing(x, y) or float(np.median(x))
        a0 = 0.05
        t_star = 2.0 / a0                      # 2/(ηκα₀) with η = κ = 1
        return np.array([max(mid, 1e-12) / t_star, a0, lo, hi])

    def predict(self, x, p):
        s, a0 = float(p[0]), float(p[1])
        tau = np.maximum(np.asarray(x, float), 0.0) / s
        order = np.argsort(tau)
        prog = np.empty(len(tau))
        t_max = float(tau.max()) if len(tau) else 1.0
        prog[order] = _three_factor_progress(np.ascontiguousarray(tau[order]), a0, 1.0,
                                             max(min(0.5, 0.05 / a0), t_max / 5000.0))
        return float(p[2]) + (float(p[3]) - float(p[2])) * prog


# ----------------------------------------------------------------------------------------------
# power law (a scaling relation, not a learning curve)
# ----------------------------------------------------------------------------------------------

class PowerLaw(CurveModel):
    """y = scale · x^(−exponent) for x > 0, e.g. momentum attention's γ* against depth
    (docs/momentum.md).  A power law has no transition: the verdict is always ``no transition
    observed`` and the result is read from the parameters and their errors."""

    name = "power-law"
    description = "a power law (scaling relation; no transition)"
    equation = "y = scale · x^(−exponent)"

    def __init__(self, quantity: str = "loss"):
        self.quantity = quantity

    def params(self):
        return [Param("scale", "ratio", 1e-300, 1e300, "y at x = 1", log=True, unit="{y}"),
                Param("exponent", "logit", -50.0, 50.0,
                      "y falls by a factor 2^exponent when x doubles")]

    def guess(self, x, y):
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        ok = (x > 0) & (y > 0)
        if ok.sum() >= 2:
            b, a = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
            return np.array([math.exp(a), -b])
        return np.array([max(float(np.abs(y).mean()), 1e-12), 0.0])

    def predict(self, x, p):
        a, b = float(p[0]), float(p[1])
        x = np.asarray(x, float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return a * np.power(x, -b)

    def plateaus(self, p):
        return float("nan"), float("nan")

    def transition(self, x, p):
        return None

    def fit(self, curve, bootstrap: int = 0, seed: int = 0, fixed: dict | None = None,
            rules=None, progress=None, start: dict | None = None):
        """Bounded least squares in y (x must be positive); the verdict says the model has
        no transition."""
        import dataclasses as _dc
        from ..errors import ConfigError
        from .lsq import least_squares_fit
        from .verdict import NO_TRANSITION
        if np.any(np.asarray(curve.x, float) <= 0):
            raise ConfigError("x", float(np.min(curve.x)), "must be > 0 for a power law")
        r = least_squares_fit(self, curve, bootstrap=bootstrap, seed=seed, fixed=fixed,
                              rules=rules, start=start)
        return _dc.replace(r, verdict=NO_TRANSITION, verdict_reason=(
            "a power law has no transition; read scale and exponent with their errors"))
