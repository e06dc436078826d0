"""Analytic results about the nested-logits model, derived with SymPy from its definition.

* :func:`saddle` — gradient and Hessian on the line α = ξ = 0; the gradient vanishes identically
  there iff L = n (= N/B); eigenvalues, escape direction and the escape time from a small
  perturbation (logarithmic in its size).
* :func:`early_growth` — leading-order growth ξ ~ t, α ~ t², β₁ − β₁⁰ ~ t⁴ with coefficients,
  from the first non-vanishing derivatives of the vector field at the starting point.
* :func:`plateau_formula` — the escape (plateau) time t* of the reduced system obtained with
  τ = t² and w ≪ 1: dα/dτ = k_α w, dw/dτ = k_w α w², whose conserved quantity
  α² − 2(k_α/k_w) ln w gives a finite-time blow-up at τ* = √(π/(2 k_α k_w))/w₀.
* :func:`plateau_check` — the estimate against discrete gradient descent over a parameter box.
* :func:`ordering_times` — the intrinsic curriculum ξ → α → β₁ as measured half-rise times.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import sympy as sp

from .nested_logits import (NestedLogitsConfig, derivation, gradient_descent, gradient_flow,
                            symbols_and_loss)

ETA = sp.symbols("eta_beta eta_alpha eta_xi", positive=True)
T_SYM, TAU = sp.symbols("t tau", positive=True)


# ----------------------------------------------------------------------------------------------
# stationary structure
# ----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _origin_derivatives():
    """Gradient and Hessian of ℒ at (β₁, 0, 0) with β₁, N, L, B, ε symbolic (simplified)."""
    d = derivation()
    (_b1, al, xi), (_N, _L, _B, _eps), _ex = d["theta"], d["consts"], d["exprs"]
    s = {al: 0, xi: 0}
    grad0 = [sp.simplify(g.subs(s)) for g in d["grad"]]
    hess0 = sp.Matrix(3, 3, lambda i, j: sp.simplify(d["hess"][i][j].subs(s)))
    return grad0, hess0


def saddle(N: int | None = None, L: int | None = None, B: int | None = None,
           eps: float | None = None) -> dict:
    """Symbolic gradient/Hessian at the origin line (β₁, 0, 0) and the verdict for (N, L, B).

    Returns SymPy expressions (general, and with the numbers substituted when given), the
    statement 'gradient ≡ 0 on the line iff L = n', the Hessian eigenvalues at L = n and the
    escape time from a perturbation of size δ along the unstable direction.
    """
    (b1, al, xi), (Ns, Ls, Bs, es), ex = symbols_and_loss()
    grad0, hess0 = _origin_derivatives()
    n = Ns / Bs
    w = ex["w"]
    # at L = n
    grad_sad = [sp.simplify(g.subs(Ls, n)) for g in grad0]
    hess_sad = sp.simplify(hess0.subs(Ls, n))
    eig = {sp.simplify(k): v for k, v in hess_sad.eigenvals().items()}
    h = sp.simplify(hess_sad[1, 2])
    eta_b, eta_a, eta_x = ETA
    delta0, delta1 = sp.symbols("delta_0 delta_1", positive=True)
    growth = sp.sqrt(eta_a * eta_x) * sp.Abs(h)
    t_escape = sp.log(delta1 / delta0) / growth
    out = {
        "gradient_at_origin": grad0,
        "hessian_at_origin": hess0,
        "gradient_at_origin_L_eq_n": grad_sad,
        "hessian_at_origin_L_eq_n": hess_sad,
        "gradient_vanishes_iff_L_eq_n": (sp.simplify(grad0[2]) ==
                                        sp.simplify(1 / Ls - Bs / Ns)) and
        all(sp.simplify(g) == 0 for g in grad_sad),
        "eigenvalues_L_eq_n": eig,
        "mixed_entry": h,
        "escape_direction": "alpha = xi > 0 (eigenvector (0, 1, 1) of the negative eigenvalue)",
        "escape_growth_rate": growth,
        "escape_time": t_escape,
        "w": w,
    }
    if None not in (N, L, B):
        subs = {Ns: N, Ls: L, Bs: B}
        if eps is not None:
            subs[es] = eps
        g_num = [sp.simplify(g.subs(subs)) for g in grad0]
        H_num = sp.simplify(hess0.subs(subs))
        stationary = all(g == 0 for g in g_num)
        out.update({
            "N": N, "L": L, "B": B, "n": sp.Rational(N, B),
            "gradient": g_num, "hessian": H_num,
            "stationary": bool(stationary),
            "verdict": (f"L = n = {sp.Rational(N, B)}: the whole line alpha = xi = 0 is "
                        "stationary (a saddle: Hessian eigenvalues 0, ±(1/n)(1-1/n) w/(1+eps^2)"
                        "); only perturbations escape"
                        if stationary else
                        f"L = {L} > n = {sp.Rational(N, B)}: not stationary; dL/dxi = "
                        f"{g_num[2]} < 0, so xi moves first"),
        })
        if stationary:
            out["eigenvalues"] = {sp.simplify(k): v for k, v in H_num.eigenvals().items()}
    return out


# ----------------------------------------------------------------------------------------------
# early growth and the plateau
# ----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def early_growth() -> dict:
    """Leading-order solution from (β₁⁰, 0, 0): ξ ≈ k₁ t, α ≈ k₂ t², β₁ − β₁⁰ ≈ k₄ t⁴.

    The exponents follow from which derivatives of the vector field f = −H∇ℒ vanish at the
    start (computed here): f_ξ ≠ 0; f_α = 0 but ∂f_α/∂ξ ≠ 0; f_β, ∂f_β/∂α, ∂f_β/∂ξ = 0 but
    ∂²f_β/∂α∂ξ ≠ 0.
    """
    d = derivation()
    (b1, al, xi), (N, L, B, eps) = d["theta"], d["consts"]
    eta_b, eta_a, eta_x = ETA
    t = T_SYM
    s = {al: 0, xi: 0}
    f_b = -eta_b * d["grad"][0]
    f_a = -eta_a * d["grad"][1]
    f_x = -eta_x * d["grad"][2]
    fx0 = sp.simplify(f_x.subs(s))
    checks = {
        "f_alpha(0)": sp.simplify(f_a.subs(s)),
        "f_beta(0)": sp.simplify(f_b.subs(s)),
        "d f_beta/d alpha (0)": sp.simplify(sp.diff(f_b, al).subs(s)),
        "d f_beta/d xi (0)": sp.simplify(sp.diff(f_b, xi).subs(s)),
    }
    dfa_dxi = sp.simplify(sp.diff(f_a, xi).subs(s))
    d2fb = sp.simplify(sp.diff(f_b, al, xi).subs(s))
    xi_t = fx0 * t
    alpha_t = sp.integrate(dfa_dxi * xi_t, (t, 0, t))
    beta_t = sp.integrate(d2fb * alpha_t * xi_t, (t, 0, t))
    g0 = B / N - 1 / L
    c = (B / N) * (1 - B / N) / (1 + eps ** 2)
    w0 = 1 / (1 + sp.exp(-b1))
    expected = {"xi": eta_x * g0 * t,
                "alpha": sp.Rational(1, 2) * eta_a * eta_x * g0 * c * w0 * t ** 2}
    agree = {k: sp.simplify(v - {"xi": xi_t, "alpha": alpha_t}[k]) == 0
             for k, v in expected.items()}
    return {"xi": sp.simplify(xi_t), "alpha": sp.simplify(alpha_t),
            "beta1_minus_beta1_0": sp.simplify(beta_t), "exponents": (1, 2, 4),
            "vanishing_derivatives": checks, "agrees_with_spec": agree,
            "coefficients": {"xi": sp.simplify(xi_t / t), "alpha": sp.simplify(alpha_t / t ** 2),
                             "beta1": sp.simplify(beta_t / t ** 4)}}


@functools.lru_cache(maxsize=None)
def plateau_formula() -> dict:
    """Escape time t* from the reduced (τ = t², w ≪ 1) system, derived step by step."""
    (b1, al, xi), (N, L, B, eps), ex = symbols_and_loss()
    eta_b, eta_a, eta_x = ETA
    alpha, w, w0 = sp.symbols("alpha w w_0", positive=True)
    g0 = B / N - 1 / L
    c = (B / N) * (1 - B / N) / (1 + eps ** 2)
    # rates of the reduced system: with xi = eta_x g0 t and tau = t^2,
    # d alpha/dtau = (eta_a c w xi)/(2t) and dw/dtau ≈ (eta_b c alpha w^2 xi)/(2t)
    k_a = eta_a * eta_x * g0 * c / 2
    k_w = eta_b * eta_x * g0 * c / 2
    dalpha = k_a * w
    dw = k_w * alpha * w ** 2
    H = alpha ** 2 - 2 * (k_a / k_w) * sp.log(w)
    conserved = sp.simplify(sp.diff(H, alpha) * dalpha + sp.diff(H, w) * dw) == 0
    # on the orbit from (alpha, w) = (0, w0): alpha = sqrt(2 (k_a/k_w) ln(w/w0)); with
    # u = ln(w/w0) the blow-up time is ∫_0^∞ du / (w0 e^u k_w sqrt(2 k_a/k_w u))
    u = sp.symbols("u", positive=True)
    integrand = sp.exp(-u) / (w0 * k_w * sp.sqrt(2 * (k_a / k_w) * u))
    tau_star = sp.simplify(sp.integrate(integrand, (u, 0, sp.oo)))
    t_star = sp.simplify(sp.sqrt(tau_star))
    expected = (2 * sp.pi / (eta_a * eta_b)) ** sp.Rational(1, 4) * (eta_x * g0 * c * w0) ** (
        -sp.Rational(1, 2))
    matches = sp.simplify(t_star ** 4 / expected ** 4) == 1
    w0_of_beta = 1 / (1 + sp.exp(-sp.Symbol("beta_1^0")))
    g0s, cs = sp.symbols("g_0 c", positive=True)
    compact = (2 * sp.pi / (eta_a * eta_b)) ** sp.Rational(1, 4) * (eta_x * g0s * cs * w0) ** (
        -sp.Rational(1, 2))
    latex = (sp.latex(sp.Eq(sp.Symbol("t^*"), compact, evaluate=False)) +
             r",\quad g_0 = \frac{B}{N} - \frac{1}{L},\quad c = \frac{(B/N)(1 - B/N)}"
             r"{1 + \varepsilon^2},\quad w_0 = \sigma(\beta_1^0)")
    return {"k_alpha": k_a, "k_w": k_w, "conserved_quantity": H, "conserved": conserved,
            "tau_star": tau_star, "t_star": t_star, "matches_spec": matches,
            "latex": latex, "latex_expanded": sp.latex(sp.Eq(sp.Symbol("t^*"), expected)),
            "w0": w0, "w0_of_beta1": w0_of_beta,
            "symbols": {"N": N, "L": L, "B": B, "eps": eps, "eta": ETA}}


def plateau_estimate(cfg: NestedLogitsConfig) -> float:
    """t* ≈ (2π/(η_α η_β))^{1/4} (η_ξ g₀ c w₀)^{−1/2}  (numbers from ``cfg``)."""
    g0 = cfg.B / cfg.N - 1 / cfg.L
    c = (cfg.B / cfg.N) * (1 - cfg.B / cfg.N) / (1 + cfg.eps ** 2)
    w0 = 1 / (1 + math.exp(-cfg.beta1_0))
    if g0 <= 0:
        return math.inf
    return (2 * math.pi / (cfg.eta_alpha * cfg.eta_beta)) ** 0.25 * (
        cfg.eta_xi * g0 * c * w0) ** -0.5


def knob_signs() -> dict:
    """Signs of ∂t*/∂(knob), from the derived formula (positive: the plateau lengthens)."""
    f = plateau_formula()
    s = f["symbols"]
    b10 = sp.Symbol("beta10", real=True)
    t_star = f["t_star"].subs(f["w0"], 1 / (1 + sp.exp(-b10)))
    out = {}
    point = {s["N"]: 8, s["L"]: 32, s["B"]: 1, s["eps"]: sp.Rational(1, 10), b10: -2,
             ETA[0]: 1, ETA[1]: 1, ETA[2]: 1}
    for name, sym in (("N", s["N"]), ("L", s["L"]), ("B", s["B"]), ("eps", s["eps"]),
                      ("beta1_0", b10), ("eta_beta", ETA[0]), ("eta_alpha", ETA[1]),
                      ("eta_xi", ETA[2])):
        deriv = sp.diff(t_star, sym)
        out[name] = int(sp.sign(sp.N(deriv.subs(point))))
    return out


def plateau_box(quick: bool = False) -> list[NestedLogitsConfig]:
    """The acceptance box of docs/theory.md ("Plateau time"): w₀ ≤ 0.5, L ≥ n + 2, rates within 5×."""
    Ns = (4, 8) if quick else (4, 8, 16)
    Bs = (1, 2)
    epss = (0.0, 0.5) if quick else (0.0, 0.3, 1.0)
    b10s = (-1.0, -3.0) if quick else (0.0, -1.5, -3.0, -5.0)
    rate_sets = ((1.0, 1.0, 1.0), (0.2, 1.0, 1.0), (1.0, 0.2, 1.0), (1.0, 1.0, 0.2)) if not quick \
        else ((1.0, 1.0, 1.0), (0.2, 1.0, 0.5))
    out = []
    for N, B, eps, b10, rates in itertools.product(Ns, Bs, epss, b10s, rate_sets):
        if N % B or B >= N:
            continue
        n = N // B
        Ls = sorted({n + 2, 2 * n + 2, 4 * n, 32} if not quick else {n + 2, 4 * n})
        for L in Ls:
            if L < n + 2:
                continue
            out.append(NestedLogitsConfig(N=N, L=L, B=B, eps=eps, beta1_0=b10,
                                          eta_beta=rates[0], eta_alpha=rates[1],
                                          eta_xi=rates[2]))
    return out


def plateau_check(configs=None, quick: bool = False, max_factor: float = 60.0) -> dict:
    """Ratio (discrete-GD step at which p_correct first exceeds ½) / t* over a box."""
    configs = plateau_box(quick) if configs is None else configs
    rows = []
    for cfg in configs:
        est = plateau_estimate(cfg)
        steps = int(min(max(10 * est, 200), 2_000_000))
        traj = gradient_descent(cfg, steps, record_every=max(1, steps // 10))
        hit = traj.events["p_correct>0.5"]
        rows.append({"N": cfg.N, "L": cfg.L, "B": cfg.B, "eps": cfg.eps,
                     "beta1_0": cfg.beta1_0, "rates": tuple(cfg.rates),
                     "w0": 1 / (1 + math.exp(-cfg.beta1_0)), "t_star": est,
                     "t_gd": hit, "ratio": (hit / est) if hit is not None else math.inf})
    ratios = np.array([r["ratio"] for r in rows])
    finite = ratios[np.isfinite(ratios)]
    return {"rows": rows, "n": len(rows), "n_reached": int(finite.size),
            "min": float(finite.min()), "max": float(finite.max()),
            "median": float(np.median(finite)),
            "frac_in_0.8_1.4": float(((ratios >= 0.8) & (ratios <= 1.4)).mean())}


def ordering_times(cfg: NestedLogitsConfig | None = None, t_max: float | None = None,
                   fractions=(0.1, 0.5)) -> dict:
    """Times at which ξ, α and β₁ first complete a fraction of their total change over
    [0, t_max] (default t_max = 3 t*).

    The intrinsic curriculum predicts t_ξ < t_α < t_β at the onset (fraction 0.1, the default
    verdict).  At one half, α and β₁ are close: both jump at the transition (reported too).
    """
    cfg = NestedLogitsConfig() if cfg is None else cfg
    t_max = 3 * plateau_estimate(cfg) if t_max is None else t_max
    tr = gradient_flow(cfg, t_max, n_points=6000)
    out = {"t_max": float(t_max), "t_star": plateau_estimate(cfg),
           "t_p_correct_half": tr.events.get("p_correct>0.5"), "fractions": {}}
    for frac in fractions:
        row = {}
        for i, name in enumerate(("beta1", "alpha", "xi")):
            x = tr.theta[:, i] - tr.theta[0, i]
            k = np.flatnonzero(np.abs(x) >= frac * abs(x[-1]))[0]
            row[name] = float(tr.t[k])
        row["order"] = sorted(("xi", "alpha", "beta1"), key=lambda k: row[k])
        out["fractions"][frac] = row
    first = out["fractions"][fractions[0]]
    out["order"] = first["order"]
    out["curriculum_holds"] = first["xi"] < first["alpha"] < first["beta1"]
    return out
