"""Singh et al.'s three-factor toy (docs/theory.md) and its scalar analogue.

* Tensor toy: rank-1 three-way factorisation T* = a*⊗b*⊗c* (d = 20) fitted by full-batch GD
  with learning rate 1; *clamping* resets the clamped factor(s) to their targets after every
  update (conditions ``none``, ``c``, ``bc``); progress measures PM1 = 1 − (â·â*)² and PM2 = the
  loss with b = ±b*, c = ±c* substituted (minimised over signs) at the current a.
* Scalar model: margin m = κ α_A α_B α_C, loss log(1 + e^{−m}), gradient flow
  α̇_X = η_X κ Π_{Y≠X} α_Y σ(−m), with α_X ≡ 1 when clamped.  Its small-m laws (plateau
  t* ≈ 2/(ηκα₀) unclamped, exponential escape with one clamp, linear growth with two) are
  derived in :func:`scalar_laws`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..config import check_choice, check_float, check_int, set_field

CLAMPS = ("none", "c", "bc")


@dataclass(frozen=True)
class TensorToyConfig:
    d: int = 20
    lr: float = 1.0
    iterations: int = 1000
    clamp: str = "none"
    seed: int = 0

    def __post_init__(self):
        check_int("d", self.d, 1, 10_000)
        set_field(self, "lr", check_float("lr", self.lr, 0.0, 1e6, lo_open=True))
        check_int("iterations", self.iterations, 1, 10**8)
        check_choice("clamp", self.clamp, CLAMPS)
        check_int("seed", self.seed, 0)


def tensor_loss(a, b, c, a_s, b_s, c_s) -> float:
    """(1/(2d³)) Σ (T* − a⊗b⊗c)², via norms and overlaps (exact)."""
    d = len(a)
    return (np.dot(a_s, a_s) * np.dot(b_s, b_s) * np.dot(c_s, c_s)
            - 2 * np.dot(a, a_s) * np.dot(b, b_s) * np.dot(c, c_s)
            + np.dot(a, a) * np.dot(b, b) * np.dot(c, c)) / (2 * d ** 3)


def tensor_grads(a, b, c, a_s, b_s, c_s):
    """∂L/∂a = −(1/d³)[a*(b*·b)(c*·c) − a‖b‖²‖c‖²] and cyclically."""
    d3 = len(a) ** 3
    ga = -(a_s * np.dot(b_s, b) * np.dot(c_s, c) - a * np.dot(b, b) * np.dot(c, c)) / d3
    gb = -(b_s * np.dot(c_s, c) * np.dot(a_s, a) - b * np.dot(c, c) * np.dot(a, a)) / d3
    gc = -(c_s * np.dot(a_s, a) * np.dot(b_s, b) - c * np.dot(a, a) * np.dot(b, b)) / d3
    return ga, gb, gc


def tensor_toy(cfg: TensorToyConfig) -> dict:
    """Run GD; returns per-iteration loss, PM1, PM2 (iteration 0 = initialisation)."""
    rng = np.random.default_rng(cfg.seed)
    a_s, b_s, c_s = (rng.standard_normal(cfg.d) for _ in range(3))
    a, b, c = (rng.standard_normal(cfg.d) for _ in range(3))
    if "b" in cfg.clamp:
        b = b_s.copy()
    if "c" in cfg.clamp:
        c = c_s.copy()
    n = cfg.iterations + 1
    loss, pm1, pm2 = np.empty(n), np.empty(n), np.empty(n)
    for it in range(n):
        loss[it] = tensor_loss(a, b, c, a_s, b_s, c_s)
        cos = np.dot(a, a_s) / (np.linalg.norm(a) * np.linalg.norm(a_s) + 1e-300)
        pm1[it] = 1.0 - cos ** 2
        pm2[it] = min(tensor_loss(a, sb * b_s, sc * c_s, a_s, b_s, c_s)
                      for sb in (1, -1) for sc in (1, -1))
        if it == n - 1:
            break
        ga, gb, gc = tensor_grads(a, b, c, a_s, b_s, c_s)
        a, b, c = a - cfg.lr * ga, b - cfg.lr * gb, c - cfg.lr * gc
        if "b" in cfg.clamp:
            b = b_s.copy()
        if "c" in cfg.clamp:
            c = c_s.copy()
    # reference level: the loss of the zero prediction, ‖T*‖²/(2d³) (the saddle at a=b=c=0);
    # a condition-independent yardstick, since clamping changes the initial loss
    l_zero = tensor_loss(np.zeros(cfg.d), np.zeros(cfg.d), np.zeros(cfg.d), a_s, b_s, c_s)
    return {"iteration": np.arange(n), "loss": loss, "pm1": pm1, "pm2": pm2,
            "loss_zero": l_zero, "iters_to_10pct": first_below(loss, 0.1 * l_zero)}


def first_below(x, level):
    hit = np.flatnonzero(np.asarray(x) <= level)
    return int(hit[0]) if hit.size else None


# ----------------------------------------------------------------------------------------------
# scalar multiplicative model
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScalarModelConfig:
    """m = κ α_A α_B α_C; rates η_X; optional data-dependent rates (c.3):
    η_C ∝ labels⁻¹ and η_B ∝ classes^{−δ}, relative to (ref_labels, ref_classes)."""

    kappa: float = 1.0
    alpha0: float = 0.05
    eta: float = 1.0
    eta_A: float = 1.0
    eta_B: float = 1.0
    eta_C: float = 1.0
    clamp: str = "none"        # none | A | B | C | AB | AC | BC (letters held at 1)
    labels: int | None = None
    classes: int | None = None
    ref_labels: int = 2
    ref_classes: int = 128
    delta: float = 0.5

    def __post_init__(self):
        set_field(self, "kappa", check_float("kappa", self.kappa, 0.0, 1e6, lo_open=True))
        set_field(self, "alpha0", check_float("alpha0", self.alpha0, 0.0, 1e3, lo_open=True))
        for n in ("eta", "eta_A", "eta_B", "eta_C"):
            set_field(self, n, check_float(n, getattr(self, n), 0.0, 1e6, lo_open=True))
        check_choice("clamp", self.clamp, ("none", "A", "B", "C", "AB", "AC", "BC"))
        if self.labels is not None:
            check_int("labels", self.labels, 1)
        if self.classes is not None:
            check_int("classes", self.classes, 1)
        set_field(self, "delta", check_float("delta", self.delta, 0.0, 10.0))

    def rates(self) -> np.ndarray:
        r = np.array([self.eta_A, self.eta_B, self.eta_C]) * self.eta
        if self.classes is not None:
            r[1] *= (self.classes / self.ref_classes) ** (-self.delta)
        if self.labels is not None:
            r[2] *= self.ref_labels / self.labels
        return r


@functools.lru_cache(maxsize=None)
def _scalar_sym():
    aA, aB, aC, kappa = sp.symbols("alpha_A alpha_B alpha_C kappa", real=True)
    m = kappa * aA * aB * aC
    loss = sp.log(1 + sp.exp(-m))
    grads = [sp.diff(loss, v) for v in (aA, aB, aC)]
    f = sp.lambdify((aA, aB, aC, kappa), [loss, *grads], "math")
    return (aA, aB, aC, kappa), loss, grads, f


def scalar_model(cfg: ScalarModelConfig, t_max: float, n_points: int = 400) -> dict:
    """Integrate the (clamped) gradient flow; returns t, α_X(t), loss(t) and the time at which
    the loss falls to 10 % of log 2 (the loss at zero margin: a yardstick that does not depend
    on the clamp condition)."""
    from scipy.integrate import solve_ivp
    _, _, _, f = _scalar_sym()
    rates = cfg.rates()
    clamped = np.array(["A" in cfg.clamp, "B" in cfg.clamp, "C" in cfg.clamp])
    y0 = np.where(clamped, 1.0, cfg.alpha0)

    def rhs(t, y):
        _, ga, gb, gc = f(y[0], y[1], y[2], cfg.kappa)
        dy = -rates * np.array([ga, gb, gc])
        dy[clamped] = 0.0
        return dy

    def ev(t, y):
        return f(y[0], y[1], y[2], cfg.kappa)[0] - 0.1 * math.log(2.0)
    ev.terminal = False
    ev.direction = -1.0
    sol = solve_ivp(rhs, (0, t_max), y0, dense_output=True, events=ev, rtol=1e-8, atol=1e-12)
    ts = np.linspace(0, t_max, n_points)
    ys = sol.sol(ts).T
    loss = np.array([f(*y, cfg.kappa)[0] for y in ys])
    hit = sol.t_events[0]
    return {"t": ts, "alpha": ys, "loss": loss,
            "t_10pct": float(hit[0]) if len(hit) else None}


@functools.lru_cache(maxsize=None)
def scalar_laws() -> dict:
    """Small-margin laws of the scalar model (σ(−m) ≈ ½), solved with SymPy's dsolve:

    * no clamp, equal rates: α̇ = ηκα²/2 → α = α₀/(1 − ηκα₀t/2), blow-up t* = 2/(ηκα₀);
    * one clamped: α̇ = ηκα/2 → α = α₀ e^{ηκt/2}, O(1) at t ≈ (2/(ηκ)) ln(1/α₀);
    * two clamped: α̇ = ηκ/2 → α = α₀ + ηκt/2: the margin grows at once (no plateau).
    """
    t = sp.symbols("t", nonnegative=True)
    eta, kappa, a0 = sp.symbols("eta kappa alpha_0", positive=True)
    a = sp.Function("alpha")
    sols = {}
    for name, rhs in (("none", eta * kappa * a(t) ** 2 / 2), ("one", eta * kappa * a(t) / 2),
                      ("two", eta * kappa / 2)):
        sols[name] = sp.dsolve(sp.Eq(a(t).diff(t), rhs), a(t), ics={a(0): a0}).rhs
    blowup = sp.solve(sp.Eq(1 / sols["none"], 0), t)
    t_one = sp.solve(sp.Eq(sols["one"], 1), t)
    return {"solutions": sols, "t_star_none": blowup[0] if blowup else None,
            "t_one_to_O1": t_one[0] if t_one else None}
