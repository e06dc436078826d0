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
  minimise the mean loss on a set of held-out tasks.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

__all__ = ["construct_gd", "construct_gdpp", "query_init", "gd_predict", "gdpp_predict",
           "gdpp_transform", "fit_gd", "fit_gdpp", "mean_loss"]


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


def _x_var(X) -> float:
    return float(np.mean(np.asarray(X, np.float64)[:, :-1] ** 2))


def construction_loss_grad(X, Y, etas, nus) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean loss of GD++ (GD when every ν = 0) with per-step (η_l, ν_l) on the tasks (X, Y),
    and its gradients with respect to η and ν, through the LSA kernel applied to the
    construction (V_l = P W_V = [[−ν_l I, 0], [0, −η_l/N]], M = [[I, 0], [0, 0]])."""
    from ._kernels import _lsa_loss_grads
    X = np.ascontiguousarray(X, np.float64)
    Y = np.ascontiguousarray(Y, np.float64)
    n, T, d = X.shape
    N = T - 1
    L = len(etas)
    M = np.zeros((L, 1, d + 1, d + 1))
    M[:, 0, np.arange(d), np.arange(d)] = 1.0
    V = np.zeros_like(M)
    V[:, 0, np.arange(d), np.arange(d)] = -np.asarray(nus, np.float64)[:, None]
    V[:, 0, d, d] = -np.asarray(etas, np.float64) / N
    gM = np.empty_like(M)
    gV = np.empty_like(V)
    loss = _lsa_loss_grads(X, Y, np.zeros(n), M, V, gM, gV)
    g_eta = -gV[:, 0, d, d] / N
    g_nu = -np.trace(gV[:, 0, :d, :d], axis1=-2, axis2=-1)
    return float(loss), g_eta, g_nu


def _minimise(make_fun, X, Y, starts, coarse: int = 2000, coarse_iter: int = 100,
              final_iter: int = 200) -> list[np.ndarray]:
    """BFGS with exact gradients from every start on the first ``coarse`` tasks (at most
    ``coarse_iter`` iterations each), then the best point found refined on all tasks (at most
    ``final_iter`` iterations).  ``make_fun(X, Y)`` returns the (loss, gradient) function of a
    parameter vector.  Returns the candidates, best on all tasks first: the refined point, the
    short runs' end points and the starts."""
    from scipy.optimize import minimize

    def run(fun, x0, maxiter):
        res = minimize(fun, x0, jac=True, method="BFGS", options={"gtol": 1e-7,
                                                                  "maxiter": maxiter})
        return res.x if np.all(np.isfinite(res.x)) else np.asarray(x0, np.float64)

    cands = [np.array(x0, np.float64) for x0 in starts]
    small = make_fun(X[:coarse], Y[:coarse])
    if len(cands) > 1:
        cands += [run(small, x0, coarse_iter) for x0 in starts]
    best = min(cands, key=lambda v: small(v)[0])
    fun = make_fun(X, Y)
    x = run(fun, best, final_iter)
    if fun(x)[0] <= fun(best)[0]:
        cands.insert(0, x)
    else:
        cands.insert(0, best)
    return cands


SEARCHES = ("thorough", "fast")


def _iters(search: str) -> dict:
    if search not in SEARCHES:
        raise ConfigError("search", search, f"must be one of {', '.join(SEARCHES)}")
    return {"coarse_iter": 100, "final_iter": 200} if search == "thorough" else \
        {"coarse_iter": 20, "final_iter": 30}


def _choose(cands: list, loss_of, valid) -> np.ndarray:
    """The first candidate without ``valid``; else the one with the lowest loss on it."""
    if valid is None:
        return cands[0]
    losses = [loss_of(v) for v in cands]
    losses = [f if np.isfinite(f) else np.inf for f in losses]
    return cands[int(np.argmin(losses))]


def fit_gd(batch, layers: int = 1, shared: bool = False, search: str = "thorough",
           valid=None) -> np.ndarray:
    """Step sizes η_1 … η_K (``shared``: one η for every step) minimising the mean loss of
    K-step GD on ``batch`` (held-out tasks).  K = 1 is solved exactly (the loss is quadratic
    in η).  Otherwise BFGS with exact gradients from the best point of a small grid and, since
    the loss is symmetric in the steps, from two points off the diagonal (steps are searched
    in units of 1/σ̂², σ̂² the inputs' mean square); with ``valid`` (more held-out tasks) the
    candidate with the lowest loss there is chosen.  ``search="fast"``: the grid point only,
    few iterations (previews and tests).  Per-step sizes are returned in increasing order
    (their order does not matter for GD)."""
    X, Y = batch.X, batch.Y
    ctx, y, xq, yq, N = _split(X, Y)
    if layers == 1:
        a = np.einsum("ni,nia,na->n", y, ctx, xq) / N     # ŷ of one step with η = 1
        return np.array([float(np.dot(a, yq) / max(np.dot(a, a), 1e-300))])
    s2 = _x_var(X)
    zeros = np.zeros(layers)

    def make_fun(Xs, Ys):
        def fun(v):
            etas = (np.repeat(v, layers) if shared else v) / s2
            loss, g_eta, _ = construction_loss_grad(Xs, Ys, etas, zeros)
            g = g_eta.sum(keepdims=True) if shared else g_eta
            return loss, g / s2
        return fun

    def steps_of(v):
        return (np.repeat(v, layers) if shared else np.sort(v)) / s2

    n_par = 1 if shared else layers
    f_small = make_fun(X[:2000], Y[:2000])
    grid = min((np.full(n_par, g) for g in (0.1, 0.2, 0.3, 0.5)), key=lambda v: f_small(v)[0])
    it = _iters(search)
    starts = [grid]
    if not shared and search == "thorough":
        tilt = np.linspace(-0.3, 0.3, layers)
        starts += [grid * (1 + tilt), grid * (1 - tilt)]
    cands = _minimise(make_fun, X, Y, starts, **it)
    best = _choose(cands, lambda v: mean_loss(gd_predict(valid.X, valid.Y, steps_of(v))[0],
                                              valid.Y[:, -1]), valid)
    return steps_of(best)


def fit_gdpp(batch, layers: int, shared: bool = False, search: str = "thorough",
             valid=None) -> tuple[np.ndarray, np.ndarray]:
    """(η_1 … η_K, ν_1 … ν_K) of GD++ minimising the mean loss on ``batch``.  Without
    ``shared`` the last layer's ν never reaches the readout and is 0; with ``shared`` one
    (η, ν) serves every layer.

    The loss has several local minima, so BFGS (exact gradients) starts from GD's best steps
    (per step: in increasing order, decreasing order, and GD's best shared step; shared: GD's
    best shared step) combined with ν ∈ {0, 0.15, 0.3, 0.6} (in units of 1/(N σ̂²)), on the
    first 2000 tasks, and the best result is refined on all.  Aggressive minima can fit the
    tuning tasks well and explode on rarer tasks (large Gram eigenvalues); with ``valid`` the
    candidate (every start and end point, and GD's steps with ν = 0) with the lowest loss on
    those further tasks is chosen.  ``search="fast"`` uses only the first GD start with
    ν ∈ {0, 0.3} (previews and tests)."""
    it = _iters(search)
    if layers == 1:
        return fit_gd(batch, 1), np.zeros(1)
    X, Y = batch.X, batch.Y
    N = X.shape[1] - 1
    s2 = _x_var(X)

    def unpack(v):
        etas = np.repeat(v[:1], layers) if shared else v[:layers]
        nus = np.repeat(v[1:2], layers) if shared else np.concatenate([v[layers:], [0.0]])
        return etas / s2, nus / (N * s2)

    def make_fun(Xs, Ys):
        def fun(v):
            etas, nus = unpack(v)
            loss, g_eta, g_nu = construction_loss_grad(Xs, Ys, etas, nus)
            if shared:
                return loss, np.array([g_eta.sum() / s2, g_nu.sum() / (N * s2)])
            return loss, np.concatenate([g_eta / s2, g_nu[:-1] / (N * s2)])
        return fun

    eta_sh = fit_gd(batch, layers, shared=True, search=search, valid=valid)[:1] * s2
    if shared:
        etas0 = [eta_sh]
    else:
        eta_st = fit_gd(batch, layers, search=search, valid=valid) * s2
        etas0 = [eta_st, eta_st[::-1], np.repeat(eta_sh, layers)]
    nus0 = (0.0, 0.15, 0.3, 0.6)
    if search == "fast":
        etas0, nus0 = etas0[:1], (0.0, 0.3)
    n_nu = 1 if shared else layers - 1
    starts = [np.concatenate([e, np.full(n_nu, nu)]) for e in etas0 for nu in nus0]
    cands = _minimise(make_fun, X, Y, starts, **it)

    def valid_loss(v):
        return mean_loss(gdpp_predict(valid.X, valid.Y, *unpack(v))[0], valid.Y[:, -1])

    return unpack(_choose(cands, valid_loss, valid))
