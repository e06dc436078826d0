"""Gradient descent as linear self-attention, and the GD / GD++ predictors (docs/lsa.md).

* :func:`construct_gd` returns LSA parameters that perform gradient steps on the in-context
  least-squares loss (1/2N) Σ_i (w x_i − y_i)²: over the (x, y) blocks of each layer

      W_K = W_Q = [[I_d, 0], [0, 0]],  W_V = [[0, 0], [W₀, −1]],  P = [[0, 0], [0, η_l/N]].

  A context token becomes (x_j, y_j − (W_l − W₀) x_j) and the query (x_q, −W_l x_q) after l
  layers, where W_l is the l-th GD iterate from W₀ (with the query's y slot starting at
  −W₀ x_q, :func:`query_init`).  So K layers are K GD steps, ŷ = W_K x_q.
* :func:`construct_gdpp` adds the GD++ input transformation (W₀ = 0): every token also gets
  x ← x − ν_l Σ_i x_i x_iᵀ x, which maps the eigenvalues of C = Σ_i x_i x_iᵀ to λ(1 − ν_l λ)².
* :func:`gd_predict` and :func:`gdpp_predict` compute the same predictors directly (plain
  NumPy, float64): the former as the GD recursion on W, the latter by the token recursion in
  terms of C, b = Σ_i s_i x_i and the query.  Both also return ∂ŷ/∂x_q.
* :func:`fit_gd` / :func:`fit_gdpp` find the step sizes (η per step, and ν for GD++) that
  minimise the loss over held-out contexts.  For noiseless tasks with w ~ N(0, I) and inputs of
  covariance σ² I, the expected loss given a context depends only on the eigenvalues λ_j of its
  Gram matrix: E[½(y_q − ŷ)² | context] = ½ σ² Σ_j r(λ_j)², with r the scalar residual
  polynomial of :func:`residual`.  The fits minimise that (exact in w and x_q, so its only
  sampling noise is the contexts') over a large held-out sample of spectra (:class:`Spectrum`).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .data import Spectrum

__all__ = ["construct_gd", "construct_gdpp", "query_init", "gd_predict", "gdpp_predict",
           "gdpp_transform", "fit_gd", "fit_gdpp", "mean_loss", "residual", "spectral_loss"]


def _steps(name: str, values, layers: int | None = None) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ConfigError(name, values, "must be a finite number or a non-empty list of them")
    if layers is not None:
        if arr.size == 1:
            arr = np.repeat(arr, layers)
        elif arr.size != layers:
            raise ConfigError(name, values, f"must have one entry per layer ({layers})")
    return arr


def _w0(W0, d: int) -> np.ndarray:
    if W0 is None:
        return np.zeros(d)
    W0 = np.asarray(W0, np.float64).reshape(-1)
    if W0.size != d:
        raise ConfigError("W0", W0.shape, f"must have d = {d} entries")
    return W0


def construct_gd(d: int, N: int, eta, layers: int | None = None, W0=None) -> dict:
    """LSA parameters (1 head, ``layers`` layers, float64) doing one GD step of size η_l per
    layer from W₀ (``eta``: a number or one per layer)."""
    etas = _steps("eta", eta, layers)
    W0 = _w0(W0, d)
    L, D1 = etas.size, d + 1
    WK = np.zeros((L, 1, D1, D1))
    WK[:, 0, np.arange(d), np.arange(d)] = 1.0
    WV = np.zeros((L, 1, D1, D1))
    WV[:, 0, d, :d] = W0
    WV[:, 0, d, d] = -1.0
    P = np.zeros((L, 1, D1, D1))
    P[:, 0, d, d] = etas / N
    return {"WK": WK, "WQ": WK.copy(), "WV": WV, "P": P}


def construct_gdpp(d: int, N: int, eta, nu, layers: int | None = None) -> dict:
    """LSA parameters of GD++ from W₀ = 0: per layer a GD step of size η_l and the input
    transformation x ← x − ν_l C x (C the context Gram matrix Σ_i x_i x_iᵀ)."""
    etas = _steps("eta", eta, layers)
    nus = _steps("nu", nu, etas.size)
    p = construct_gd(d, N, etas)
    idx = np.arange(d)
    p["P"][:, 0, idx, idx] = 1.0
    p["WV"][:, 0, idx, idx] = -nus[:, None]
    return p


def query_init(W0, Xq) -> np.ndarray:
    """The query's initial y slot −W₀ x_q (n,)."""
    Xq = np.asarray(Xq, np.float64)
    return -(Xq @ _w0(W0, Xq.shape[-1]))


def _split(X, Y):
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    N = X.shape[1] - 1
    return X[:, :N], Y[:, :N], X[:, N], Y[:, N], N


def gd_predict(X, Y, eta, W0=None) -> tuple[np.ndarray, np.ndarray]:
    """K-step GD from W₀ on each task's context: W ← W − (η_k/N) Σ_i (W x_i − y_i) x_iᵀ.
    Returns ŷ = W_K x_q (n,) and ∂ŷ/∂x_q = W_K (n, d)."""
    ctx, y, xq, _, N = _split(X, Y)
    etas = _steps("eta", eta)
    C = np.einsum("nia,nib->nab", ctx, ctx)
    b = np.einsum("ni,nia->na", y, ctx)
    W = np.broadcast_to(_w0(W0, ctx.shape[2]), b.shape).copy()
    for eta_k in etas:
        W -= (eta_k / N) * (np.einsum("nb,nab->na", W, C) - b)
    return np.einsum("na,na->n", W, xq), W


def gdpp_transform(x, C, nu) -> np.ndarray:
    """The GD++ input update x ← (I − ν C) x for vectors x (..., d) and Gram matrices C."""
    return x - nu * np.einsum("nab,n...b->n...a", C, x)


def gdpp_predict(X, Y, eta, nu) -> tuple[np.ndarray, np.ndarray]:
    """GD++ from W₀ = 0 with steps η_k and input transformations ν_k (one per step).

    Token recursion (y slots s_i of the context, s_q of the query, starting at y_i and 0):
    with C = Σ_i x_i x_iᵀ and b = Σ_i s_i x_i of the current tokens,
    s_j ← s_j − (η/N) bᵀx_j (every token) and x_j ← (I − νC) x_j, simultaneously; ŷ = −s_q.
    Hence b ← (I − νC)(I − (η/N)C) b and C ← (I − νC) C (I − νC)."""
    ctx, y, xq, _, N = _split(X, Y)
    etas = _steps("eta", eta)
    nus = _steps("nu", nu, etas.size)
    C = np.einsum("nia,nib->nab", ctx, ctx)
    b = np.einsum("ni,nia->na", y, ctx)
    n, d = b.shape
    R = np.broadcast_to(np.eye(d), (n, d, d)).copy()     # x_q now = R x_q(0)
    xq_k = xq.copy()
    yhat = np.zeros(n)
    sens = np.zeros((n, d))
    eye = np.eye(d)
    for eta_k, nu_k in zip(etas, nus):
        f = eta_k / N
        yhat += f * np.einsum("na,na->n", b, xq_k)
        sens += f * np.einsum("nab,na->nb", R, b)
        T = eye - nu_k * C
        b_next = np.einsum("nab,nb->na", T, b - f * np.einsum("nab,nb->na", C, b))
        C = T @ C @ T
        xq_k = np.einsum("nab,nb->na", T, xq_k)
        R = T @ R
        b = b_next
    return yhat, sens


def mean_loss(yhat, y) -> float:
    """½ mean (y − ŷ)²."""
    return float(0.5 * np.mean((np.asarray(y, np.float64) - yhat) ** 2))


# ----------------------------------------------------------------------------------------------
# fitting the step sizes: the exact conditional loss given the context's Gram spectrum
# ----------------------------------------------------------------------------------------------

def residual(lam, etas, nus, N: int, grad: bool = False):
    """r(λ) = 1 − s(λ) of K-step GD++ (GD when every ν = 0) at Gram eigenvalues ``lam``, and
    with ``grad`` its derivatives (2K, …) with respect to (η_1 … η_K, ν_1 … ν_K).

    For noiseless tasks b = Σ_i y_i x_i = C w, and every matrix of the recursion is a
    polynomial in C, so along an eigenvector of C (eigenvalue λ) the Gram value c, the query
    factor q and the target factor b follow the scalar recursion
    c₀ = λ, q₀ = 1, b₀ = λ;  s += (η_k/N) b_k q_k;  t = 1 − ν_k c_k;
    b ← t (1 − (η_k/N) c_k) b;  q ← t q;  c ← t² c,
    and ŷ = Σ_j s(λ_j) w_j x_{q,j} in that basis (y_q = Σ_j w_j x_{q,j})."""
    lam = np.asarray(lam, np.float64)
    etas = np.asarray(etas, np.float64)
    nus = np.asarray(nus, np.float64)
    K = etas.size
    c, q, b = lam.copy(), np.ones_like(lam), lam.copy()
    s = np.zeros_like(lam)
    if grad:
        P = 2 * K
        dc, dq, db, ds = (np.zeros((P,) + lam.shape) for _ in range(4))
    for k in range(K):
        f = etas[k] / N
        t = 1.0 - nus[k] * c
        u = 1.0 - f * c
        if grad:
            ds += f * (db * q + b * dq)
            ds[k] += b * q / N
            dt = -nus[k] * dc
            dt[K + k] -= c
            du = -f * dc
            du[k] -= c / N
            db = dt * u * b + t * du * b + t * u * db
            dq = dt * q + t * dq
            dc = 2.0 * t * dt * c + t * t * dc
        s = s + f * b * q
        b = t * u * b
        q = t * q
        c = t * t * c
    return (1.0 - s, -ds) if grad else 1.0 - s


def spectral_loss(spec: Spectrum, etas, nus, N: int, sigma2: float, grad: bool = False):
    """E ½(y_q − ŷ)² of GD++ (GD when every ν = 0) over the contexts of ``spec``: ½ σ² times
    the mean over contexts of Σ_j r(λ_j)² (exact in w and x_q), and with ``grad`` its
    gradient with respect to (η_1 … η_K, ν_1 … ν_K)."""
    scale = 0.5 * sigma2 * spec.d / spec.weight.sum()
    if not grad:
        r = residual(spec.lam, etas, nus, N)
        return float(scale * np.dot(spec.weight, r * r))
    r, dr = residual(spec.lam, etas, nus, N, grad=True)
    return float(scale * np.dot(spec.weight, r * r)), 2.0 * scale * (dr @ (spec.weight * r))


SEARCHES = ("thorough", "fast")


def _bfgs(fun, x0, maxiter: int = 300):
    from scipy.optimize import minimize
    res = minimize(fun, x0, jac=True, method="BFGS", options={"gtol": 1e-8,
                                                              "maxiter": maxiter})
    x = res.x if np.all(np.isfinite(res.x)) else np.asarray(x0, np.float64)
    f = fun(x)[0]
    return (x, f) if np.isfinite(f) else (np.asarray(x0, np.float64), fun(x0)[0])


def fit_gd(spec: Spectrum, layers: int, N: int, sigma2: float, shared: bool = False,
           search: str = "thorough") -> np.ndarray:
    """Step sizes η_1 … η_K (``shared``: one η for every step) minimising the loss of K-step
    GD from W₀ = 0 over the held-out contexts of ``spec``.  K = 1 is solved exactly (the loss
    is quadratic in η; as the sample grows the solution tends to η*).  Otherwise BFGS (exact
    gradients) from a grid of equal steps and points off the diagonal (the loss is symmetric
    in the steps; ``search="fast"``: the best grid point only).  Per-step sizes are returned
    in increasing order."""
    if search not in SEARCHES:
        raise ConfigError("search", search, f"must be one of {', '.join(SEARCHES)}")
    w, lam = spec.weight, spec.lam
    if layers == 1:
        return np.array([N * float(np.dot(w, lam)) / float(np.dot(w, lam * lam))])
    zeros = np.zeros(layers)

    def fun(v):
        etas = (np.repeat(v, layers) if shared else v) / sigma2
        loss, g = spectral_loss(spec, etas, zeros, N, sigma2, grad=True)
        g = g[:layers] / sigma2
        return loss, (g.sum(keepdims=True) if shared else g)

    n_par = 1 if shared else layers
    grid = [np.full(n_par, g) for g in (0.1, 0.2, 0.3, 0.5, 0.8)]
    starts = sorted(grid, key=lambda v: fun(v)[0])[:1 if search == "fast" else 3]
    if not shared and search == "thorough":
        tilt = np.linspace(-0.5, 0.5, layers)
        starts += [starts[0] * (1 + tilt), starts[0] * (1 - tilt)]
    best = min((_bfgs(fun, x0) for x0 in starts), key=lambda r: r[1])[0]
    etas = (np.repeat(best, layers) if shared else np.sort(best)) / sigma2
    return etas


def fit_gdpp(spec: Spectrum, layers: int, N: int, sigma2: float, shared: bool = False,
             search: str = "thorough", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(η_1 … η_K, ν_1 … ν_K) of GD++ from W₀ = 0 minimising the loss over the held-out
    contexts of ``spec``.  Without ``shared`` the last layer's ν never reaches the readout and
    is 0; with ``shared`` one (η, ν) serves every layer.

    The loss has several local minima, so BFGS (exact gradients) runs from GD's best steps
    (per step: increasing, decreasing and GD's best shared step) combined with
    ν ∈ {0, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2}, and from 16 random starts (η σ² ∈ [0.1, 3],
    ν N σ² ∈ [0, 1.5], generator seeded by ``seed``); the best end point wins
    (``search="fast"``: GD's steps with ν ∈ {0, 0.3} only)."""
    if search not in SEARCHES:
        raise ConfigError("search", search, f"must be one of {', '.join(SEARCHES)}")
    if layers == 1:
        return fit_gd(spec, 1, N, sigma2), np.zeros(1)
    n_nu = 1 if shared else layers - 1

    def unpack(v):
        etas = np.repeat(v[:1], layers) if shared else v[:layers]
        nus = np.repeat(v[1:2], layers) if shared else np.concatenate([v[layers:], [0.0]])
        return etas / sigma2, nus / (N * sigma2)

    def fun(v):
        etas, nus = unpack(v)
        loss, g = spectral_loss(spec, etas, nus, N, sigma2, grad=True)
        ge, gn = g[:layers] / sigma2, g[layers:] / (N * sigma2)
        if shared:
            return loss, np.array([ge.sum(), gn.sum()])
        return loss, np.concatenate([ge, gn[:-1]])

    eta_sh = fit_gd(spec, layers, N, sigma2, shared=True, search=search)[:1] * sigma2
    if shared:
        etas0 = [eta_sh]
    else:
        eta_st = fit_gd(spec, layers, N, sigma2, search=search) * sigma2
        etas0 = [eta_st, eta_st[::-1], np.repeat(eta_sh, layers)]
    nus0 = (0.0, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2)
    n_random = 16
    if search == "fast":
        etas0, nus0, n_random = etas0[:1], (0.0, 0.3), 0
    starts = [np.concatenate([e, np.full(n_nu, nu)]) for e in etas0 for nu in nus0]
    rng = np.random.default_rng(seed)
    n_eta = 1 if shared else layers
    for _ in range(n_random):
        starts.append(np.concatenate([rng.uniform(0.1, 3.0, n_eta), rng.uniform(0.0, 1.5, n_nu)]))
    best = min((_bfgs(fun, x0) for x0 in starts), key=lambda r: r[1])[0]
    return unpack(best)
