"""Reddy's three-nested-logits model (docs/theory.md), defined once in SymPy.

Parameters θ = (β₁, α, ξ) with N, L, B, ε as symbols; n = N/B:

    w = σ(β₁),  a = α w / (1+ε²),  q = B eᵃ / (B eᵃ + N − B)
    z_correct = ξ q,  z_other = ξ (1−q)/(n−1)  (n−1 other context labels),  z_absent = 0
    ℒ(θ) = −z_correct + log(e^{z_correct} + (n−1) e^{z_other} + (L−n))

Everything numeric is derived from :func:`symbols_and_loss` — the gradient and Hessian by SymPy
differentiation, compiled through :mod:`._codegen` (no hand-copied formulas).  The *equation*
(:class:`NestedLogitsConfig` + the compiled vector field), the *solvers* (:func:`gradient_flow`
with ``solve_ivp``, :func:`gradient_descent` with Euler steps dt = 1) and what is *saved*
(:class:`Trajectory`) are kept apart, diffrax-style.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..config import check_float, check_int, set_field
from ..errors import ConfigError
from ._codegen import compile_lazy

__all__ = ["NestedLogitsConfig", "symbols_and_loss", "derivation", "compiled", "evaluate",
           "gradient", "hessian", "gradient_flow", "gradient_descent", "Trajectory",
           "loss_grid"]


# ----------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NestedLogitsConfig:
    """Task constants, initial point and per-parameter learning rates of the model."""

    N: int = 8
    L: int = 32
    B: int = 1
    eps: float = 0.1
    beta1_0: float = -2.0
    alpha_0: float = 0.0
    xi_0: float = 0.0
    eta_beta: float = 1.0
    eta_alpha: float = 1.0
    eta_xi: float = 1.0

    def __post_init__(self):
        check_int("N", self.N, 2, 10**6)
        check_int("B", self.B, 1, self.N - 1)
        if self.N % self.B:
            raise ConfigError("B", self.B, f"must divide N={self.N} (n = N/B context labels)")
        n = self.N // self.B
        check_int("L", self.L, n, 10**9, rule=f"must be ≥ n = N/B = {n}")
        set_field(self, "eps", check_float("eps", self.eps, 0.0))
        for name in ("beta1_0", "alpha_0", "xi_0"):
            set_field(self, name, check_float(name, getattr(self, name), -1e3, 1e3))
        for name in ("eta_beta", "eta_alpha", "eta_xi"):
            set_field(self, name, check_float(name, getattr(self, name), 0.0, 1e6, lo_open=True))

    @property
    def n(self) -> int:
        return self.N // self.B

    @property
    def theta0(self) -> np.ndarray:
        return np.array([self.beta1_0, self.alpha_0, self.xi_0])

    @property
    def rates(self) -> np.ndarray:
        return np.array([self.eta_beta, self.eta_alpha, self.eta_xi])

    @property
    def consts(self) -> tuple:
        return (float(self.N), float(self.L), float(self.B), float(self.eps))


@functools.lru_cache(maxsize=None)
def symbols_and_loss():
    """(θ symbols, constant symbols, dict of SymPy expressions of the model)."""
    b1, al, xi = sp.symbols("beta1 alpha xi", real=True)
    N, L, B, eps = sp.symbols("N L B eps", positive=True)
    n = N / B
    w = 1 / (1 + sp.exp(-b1))
    a = al * w / (1 + eps ** 2)
    q = B * sp.exp(a) / (B * sp.exp(a) + N - B)
    zc = xi * q
    zo = xi * (1 - q) / (n - 1)
    Z = sp.exp(zc) + (n - 1) * sp.exp(zo) + (L - n)
    exprs = {
        "w": w, "a": a, "q": q, "z_correct": zc, "z_other": zo, "Z": Z,
        "loss": -zc + sp.log(Z),
        "p_correct": sp.exp(zc) / Z,
        "p_other": sp.exp(zo) / Z,
        "p_absent": 1 / Z,
        "cla": (sp.exp(zc) + (n - 1) * sp.exp(zo)) / Z,
    }
    return (b1, al, xi), (N, L, B, eps), exprs


@functools.lru_cache(maxsize=None)
def derivation() -> dict:
    """Symbolic gradient and Hessian of ℒ (and the time SymPy took)."""
    t0 = time.perf_counter()
    theta, consts, ex = symbols_and_loss()
    grad = [sp.diff(ex["loss"], v) for v in theta]
    hess = [[sp.diff(g, v) for v in theta] for g in grad]
    return {"theta": theta, "consts": consts, "exprs": ex, "grad": grad, "hess": hess,
            "seconds": time.perf_counter() - t0}


def _model_source() -> str:
    """Source text that defines the model (the cache key of the generated code)."""
    import inspect
    from . import _codegen
    return (inspect.getsource(symbols_and_loss) + inspect.getsource(derivation) +
            inspect.getsource(_codegen.generate_source))


@functools.lru_cache(maxsize=None)
def compiled() -> dict:
    """Compiled functions of (β₁, α, ξ, N, L, B, ε), generated from :func:`derivation` on the
    first use on a machine and then imported from the cache without running SymPy."""
    t0 = time.perf_counter()
    src = _model_source()

    def build(kind):
        def _b():
            d = derivation()
            args = list(d["theta"]) + list(d["consts"])
            ex = d["exprs"]
            if kind == "all":
                return args, [ex["loss"], *d["grad"], ex["p_correct"], ex["cla"]]
            if kind == "hess":
                return args, [h for row in d["hess"] for h in row]
            return args, [ex["p_correct"], ex["p_other"], ex["p_absent"], ex["cla"], ex["q"]]
        return _b

    mod = compile_lazy("nl_all", src, build("all"), extra=_GD_LOOP)
    fns = {
        "all": mod.FN,
        "gd_loop": mod.gd_loop,
        "rk4_at": mod.rk4_at,
        "hess": compile_lazy("nl_hess", src, build("hess")).FN,
        "probs": compile_lazy("nl_probs", src, build("probs")).FN,
    }
    fns["build_seconds"] = time.perf_counter() - t0
    fns["derived_now"] = derivation.cache_info().currsize > 0
    return fns


def evaluate(theta, cfg: NestedLogitsConfig) -> dict:
    """Loss, gradient, p_correct and CLA at θ."""
    f = compiled()["all"]
    loss, g1, g2, g3, pc, cla = f(float(theta[0]), float(theta[1]), float(theta[2]),
                                  *cfg.consts)
    return {"loss": loss, "grad": np.array([g1, g2, g3]), "p_correct": pc, "cla": cla}


def gradient(theta, cfg: NestedLogitsConfig) -> np.ndarray:
    return evaluate(theta, cfg)["grad"]


def hessian(theta, cfg: NestedLogitsConfig) -> np.ndarray:
    h = compiled()["hess"](float(theta[0]), float(theta[1]), float(theta[2]), *cfg.consts)
    return np.array(h).reshape(3, 3)


def loss_grid(cfg: NestedLogitsConfig, axis_a: str, va, axis_b: str, vb, fixed: dict) -> np.ndarray:
    """ℒ on a grid over two of (beta1, alpha, xi), the third fixed (for landscape plots)."""
    f = compiled()["all"]
    out = np.empty((len(va), len(vb)))
    for i, x in enumerate(va):
        for j, y in enumerate(vb):
            th = dict(fixed)
            th[axis_a], th[axis_b] = x, y
            out[i, j] = f(th["beta1"], th["alpha"], th["xi"], *cfg.consts)[0]
    return out


# ----------------------------------------------------------------------------------------------
# solvers
# ----------------------------------------------------------------------------------------------

@dataclass
class Trajectory:
    """What a solver saves: times, θ(t) and the readouts, plus event times and cost."""

    t: np.ndarray
    theta: np.ndarray            # (len(t), 3): beta1, alpha, xi
    loss: np.ndarray
    p_correct: np.ndarray
    cla: np.ndarray
    events: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def as_columns(self) -> dict:
        return {"t": self.t, "beta1": self.theta[:, 0], "alpha": self.theta[:, 1],
                "xi": self.theta[:, 2], "loss": self.loss, "p_correct": self.p_correct,
                "cla": self.cla}


def _readouts(theta: np.ndarray, cfg) -> tuple:
    f = compiled()["all"]
    out = np.array([f(b, a, x, *cfg.consts) for b, a, x in theta])
    return out[:, 0], out[:, 4], out[:, 5]


def gradient_flow(cfg: NestedLogitsConfig, t_max: float, n_points: int = 400,
                  p_levels=(0.5,), cla_levels=(), rtol: float = 1e-6, atol: float = 1e-9,
                  method: str = "RK45") -> Trajectory:
    """Integrate dθ/dt = −diag(η_β, η_α, η_ξ) ∇ℒ with ``scipy.integrate.solve_ivp``.

    Dense output is sampled at ``n_points`` times; ``p_levels``/``cla_levels`` add events for
    the times at which p_correct / CLA first cross those levels (``traj.events``).
    """
    from scipy.integrate import solve_ivp
    t_max = check_float("t_max", t_max, 0.0, 1e12, lo_open=True)
    f = compiled()["all"]
    consts = cfg.consts
    eta = cfg.rates

    def rhs(t, y):
        r = f(y[0], y[1], y[2], *consts)
        return [-eta[0] * r[1], -eta[1] * r[2], -eta[2] * r[3]]

    def make_event(idx, level):
        def ev(t, y):
            return f(y[0], y[1], y[2], *consts)[idx] - level
        ev.direction = 1.0
        return ev

    events = [make_event(4, lv) for lv in p_levels] + [make_event(5, lv) for lv in cla_levels]
    t0 = time.perf_counter()
    sol = solve_ivp(rhs, (0.0, t_max), cfg.theta0, method=method, dense_output=True,
                    events=events or None, rtol=rtol, atol=atol)
    elapsed = time.perf_counter() - t0
    ts = np.linspace(0.0, t_max, n_points)
    th = sol.sol(ts).T
    loss, pc, cla = _readouts(th, cfg)
    ev = {}
    names = [f"p_correct>{lv}" for lv in p_levels] + [f"cla>{lv}" for lv in cla_levels]
    for name, te in zip(names, sol.t_events or []):
        ev[name] = float(te[0]) if len(te) else None
    return Trajectory(ts, th, loss, pc, cla, ev,
                      {"solver": method, "nfev": int(sol.nfev), "status": int(sol.status),
                       "seconds": elapsed, "success": bool(sol.success)})


_GD_LOOP = """
import math

@njit(cache=True)
def gd_loop(theta0, eta, consts, steps, record_every, level):
    n_rec = steps // record_every + 1
    rec = np.empty((n_rec, 6))
    th = theta0.copy()
    first = -1
    k = 0
    N, L, B, eps = consts[0], consts[1], consts[2], consts[3]
    for s in range(steps + 1):
        r = FN(th[0], th[1], th[2], N, L, B, eps)
        if first < 0 and r[4] > level:
            first = s
        if s % record_every == 0:
            rec[k, 0] = s
            rec[k, 1] = th[0]
            rec[k, 2] = th[1]
            rec[k, 3] = th[2]
            rec[k, 4] = r[0]
            rec[k, 5] = r[4]
            k += 1
        if s < steps:
            th[0] -= eta[0] * r[1]
            th[1] -= eta[1] * r[2]
            th[2] -= eta[2] * r[3]
    return rec[:k], first


@njit(cache=True)
def rk4_at(theta0, eta, consts, taus, dt_max):
    # classical RK4 of the gradient flow, evaluated exactly at the sorted times taus (steps no
    # longer than dt_max); columns: beta1, alpha, xi, loss, p_correct
    out = np.empty((taus.shape[0], 5))
    th = theta0.copy()
    N, L, B, eps = consts[0], consts[1], consts[2], consts[3]
    t = 0.0
    k1 = np.empty(3)
    k2 = np.empty(3)
    k3 = np.empty(3)
    k4 = np.empty(3)
    tmp = np.empty(3)
    for i in range(taus.shape[0]):
        target = taus[i]
        span = target - t
        if span > 0.0:
            n = int(math.ceil(span / dt_max))
            h = span / n
            for _ in range(n):
                r = FN(th[0], th[1], th[2], N, L, B, eps)
                for c in range(3):
                    k1[c] = -eta[c] * r[1 + c]
                    tmp[c] = th[c] + 0.5 * h * k1[c]
                r = FN(tmp[0], tmp[1], tmp[2], N, L, B, eps)
                for c in range(3):
                    k2[c] = -eta[c] * r[1 + c]
                    tmp[c] = th[c] + 0.5 * h * k2[c]
                r = FN(tmp[0], tmp[1], tmp[2], N, L, B, eps)
                for c in range(3):
                    k3[c] = -eta[c] * r[1 + c]
                    tmp[c] = th[c] + h * k3[c]
                r = FN(tmp[0], tmp[1], tmp[2], N, L, B, eps)
                for c in range(3):
                    k4[c] = -eta[c] * r[1 + c]
                    th[c] += h * (k1[c] + 2.0 * k2[c] + 2.0 * k3[c] + k4[c]) / 6.0
            t = target
        r = FN(th[0], th[1], th[2], N, L, B, eps)
        out[i, 0] = th[0]
        out[i, 1] = th[1]
        out[i, 2] = th[2]
        out[i, 3] = r[0]
        out[i, 4] = r[4]
    return out
"""


def gradient_descent(cfg: NestedLogitsConfig, steps: int, record_every: int = 1,
                     level: float = 0.5) -> Trajectory:
    """Discrete GD θ ← θ − diag(η)∇ℒ (Euler, dt = 1).  ``events['p_correct>level']`` is the
    first step at which p_correct exceeds ``level`` (None if never)."""
    steps = check_int("steps", steps, 1, 10**9)
    record_every = check_int("record_every", record_every, 1, 10**9)
    loop = compiled()["gd_loop"]
    t0 = time.perf_counter()
    rec, first = loop(cfg.theta0, cfg.rates, np.array(cfg.consts), steps, record_every, level)
    elapsed = time.perf_counter() - t0
    th = rec[:, 1:4]
    loss, pc, cla = _readouts(th, cfg)
    return Trajectory(rec[:, 0], th, loss, pc, cla,
                      {f"p_correct>{level}": (int(first) if first >= 0 else None)},
                      {"solver": "gd", "steps": steps, "seconds": elapsed})


def flow_at(cfg: NestedLogitsConfig, taus, dt_max: float = 0.25) -> np.ndarray:
    """Fixed-step RK4 solution at the times ``taus`` (compiled; for fitting).  Columns: β₁, α,
    ξ, loss, p_correct.  ``dt_max`` bounds the step (0.25 is far below the plateau scale)."""
    taus = np.asarray(taus, np.float64)
    order = np.argsort(taus)
    out = np.empty((len(taus), 5))
    out[order] = compiled()["rk4_at"](cfg.theta0, cfg.rates, np.array(cfg.consts),
                                      np.ascontiguousarray(taus[order]), float(dt_max))
    return out

