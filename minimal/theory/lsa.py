"""Expected loss of one gradient-descent step on in-context linear regression, derived with
SymPy (docs/lsa.md, "Theory").

Setting: w ~ N(0, I_d); inputs with i.i.d. coordinates of mean 0, variance σ², E x³ = 0 and
kurtosis κ = E x⁴/σ⁴; y = wᵀx; one GD step from W₀ = 0 with step η on the N context examples,

    ŷ = (η/N) Σ_i y_i x_iᵀ x_q.

The expectation E ½(y_q − ŷ)² is computed by :func:`expect_index_sum`, a small exact engine for
expectations of index sums of independent coordinates: it enumerates which summed indices
coincide (set partitions of the token indices and of the coordinate indices), counts each
pattern with falling factorials of N and d, and multiplies the moments of each distinct
(token, coordinate) variable.  The three terms y_q², y_q ŷ and ŷ² are written as such sums
(w is one more independent "token" with Gaussian moments), giving

    E ½(y_q − ŷ)² = ½ σ² d [1 − 2ησ² + η²σ⁴ (N + d − 2 + κ)/N],

η* = N / (σ² (N + d − 2 + κ)) and the optimal loss ½ σ² d (1 − N/(N + d − 2 + κ)).  Nothing is
compiled: the closed forms are lambdified once per process.
"""

from __future__ import annotations

import functools
from typing import Iterable

import sympy as sp

__all__ = ["derivation", "expect_index_sum", "expected_loss", "eta_star", "optimal_loss",
           "zero_loss", "summary"]

eta, s2, kappa, N, d = sp.symbols("eta sigma2 kappa N d", positive=True)


def _set_partitions(items: list):
    """All set partitions of ``items`` (lists of blocks)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _set_partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1:]
        yield [[first]] + part


def _falling(x, k: int):
    out = sp.Integer(1)
    for j in range(k):
        out *= (x - j)
    return out


def expect_index_sum(factors: Iterable[tuple[str, str]], summed_tokens: Iterable[str],
                     moments: dict, n_tokens=N, n_coords=d) -> sp.Expr:
    """E Σ Π_f z[token_f, coord_f] over every summed token index (1 … n_tokens, context tokens)
    and every coordinate index (1 … n_coords).

    ``factors``: (token, coord) names; tokens in ``summed_tokens`` are summed over the context,
    the others (e.g. "q", "w") are fixed and distinct from every context token.  All variables
    z[t, a] are independent; ``moments[kind][k]`` is E z^k for the token kind ("x" for context
    and query tokens, or the token's own name, e.g. "w").  Exact: every coincidence pattern of
    the summed indices is enumerated and counted with falling factorials."""
    factors = list(factors)
    summed = [t for t in dict.fromkeys(summed_tokens)]
    coords = list(dict.fromkeys(c for _, c in factors))
    total = sp.Integer(0)
    for tpart in _set_partitions(summed):
        tblock = {t: ("ctx", i) for i, blk in enumerate(tpart) for t in blk}
        for cpart in _set_partitions(coords):
            cblock = {c: i for i, blk in enumerate(cpart) for c in blk}
            counts: dict = {}
            for t, c in factors:
                key = (tblock.get(t, t), cblock[c])
                counts[key] = counts.get(key, 0) + 1
            value = sp.Integer(1)
            for (tb, _), k in counts.items():
                kind = "x" if (isinstance(tb, tuple) or tb == "q") else tb
                value *= moments[kind].get(k, sp.Integer(0) if k % 2 else
                                           sp.Symbol(f"m{k}_{kind}"))
                if value == 0:
                    break
            if value == 0:
                continue
            total += _falling(n_tokens, len(tpart)) * _falling(n_coords, len(cpart)) * value
    return sp.expand(total)


def _moments():
    """E x^k for the inputs (σ², κσ⁴; odd moments 0) and for w ~ N(0, 1)."""
    return {"x": {1: 0, 2: s2, 3: 0, 4: kappa * s2 ** 2},
            "w": {1: 0, 2: sp.Integer(1), 3: 0, 4: sp.Integer(3)}}


@functools.lru_cache(maxsize=None)
def derivation() -> dict:
    """The symbolic derivation: the expected loss, its η-derivatives, η* and the optimal
    loss (SymPy expressions in eta, sigma2, kappa, N, d)."""
    m = _moments()
    # y_q = Σ_a w_a x_qa ;  ŷ = (η/N) Σ_i (Σ_a w_a x_ia)(Σ_b x_ib x_qb)
    yq2 = expect_index_sum([("w", "a"), ("q", "a"), ("w", "c"), ("q", "c")], [], m)
    yq_yhat = (eta / N) * expect_index_sum(
        [("w", "a"), ("i", "a"), ("i", "b"), ("q", "b"), ("w", "c"), ("q", "c")], ["i"], m)
    yhat2 = (eta / N) ** 2 * expect_index_sum(
        [("w", "a"), ("i", "a"), ("i", "b"), ("q", "b"),
         ("w", "c"), ("j", "c"), ("j", "e"), ("q", "e")], ["i", "j"], m)
    loss = sp.factor(sp.simplify(sp.Rational(1, 2) * (yq2 - 2 * yq_yhat + yhat2)))
    dloss = sp.simplify(sp.diff(loss, eta))
    d2loss = sp.simplify(sp.diff(loss, eta, 2))
    roots = sp.solve(sp.Eq(dloss, 0), eta)
    if len(roots) != 1:
        raise RuntimeError(f"expected one stationary point of the GD loss, got {roots}")
    eta_opt = sp.simplify(roots[0])
    loss_opt = sp.factor(sp.simplify(loss.subs(eta, eta_opt)))
    return {"loss": loss, "dloss": dloss, "d2loss": d2loss, "eta_star": eta_opt,
            "loss_star": loss_opt, "terms": {"E y_q^2": yq2, "E y_q yhat": yq_yhat,
                                             "E yhat^2": yhat2},
            "symbols": (eta, s2, kappa, N, d)}


@functools.lru_cache(maxsize=None)
def _compiled():
    dv = derivation()
    args = (eta, s2, kappa, N, d)
    return {k: sp.lambdify(args, dv[k], "math") for k in ("loss", "dloss", "d2loss")} | {
        k: sp.lambdify(args[1:], dv[k], "math") for k in ("eta_star", "loss_star")}


def expected_loss(eta_value: float, sigma2: float, kurtosis: float, n_ctx: int,
                  dim: int) -> float:
    """E ½(y_q − ŷ)² of one GD step of size η from W₀ = 0."""
    return float(_compiled()["loss"](eta_value, sigma2, kurtosis, n_ctx, dim))


def eta_star(sigma2: float, kurtosis: float, n_ctx: int, dim: int) -> float:
    """The loss-minimising step η* = N / (σ² (N + d − 2 + κ))."""
    return float(_compiled()["eta_star"](sigma2, kurtosis, n_ctx, dim))


def optimal_loss(sigma2: float, kurtosis: float, n_ctx: int, dim: int) -> float:
    """The loss at η*: ½ σ² d (1 − N/(N + d − 2 + κ))."""
    return float(_compiled()["loss_star"](sigma2, kurtosis, n_ctx, dim))


def zero_loss(sigma2: float, dim: int) -> float:
    """The loss of the zero predictor, E ½ y_q² = ½ σ² d."""
    return 0.5 * sigma2 * dim


def summary(sigma2: float, kurtosis: float, n_ctx: int, dim: int) -> dict:
    """η*, η*/N, the optimal loss and the zero-predictor loss."""
    es = eta_star(sigma2, kurtosis, n_ctx, dim)
    return {"sigma2": sigma2, "kurtosis": kurtosis, "N": n_ctx, "d": dim, "eta_star": es,
            "eta_star_over_N": es / n_ctx, "loss_star": optimal_loss(sigma2, kurtosis, n_ctx,
                                                                     dim),
            "zero_loss": zero_loss(sigma2, dim)}
