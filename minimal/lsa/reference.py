"""Plain NumPy float64 reference of multi-head, K-layer linear self-attention (docs/lsa.md).

Written in the attention form, independently of the kernels' Gram-matrix factorisation: in
layer l, head h, token j has query q_j = W_Q e_j, context token i has key k_i = W_K e_i and value
v_i = P W_V e_i, and

    e_j ← e_j + Σ_h Σ_{i < N} (q_j · k_i) v_i        for every token j (context and query),

i over the N context tokens only (the query is never a key or value).  Tokens are
e_i = (x_i, y_i) for the context and e_N = (x_q, y0) for the query (y0 = 0 unless given).  The
prediction is ŷ = −(query y slot after the last layer); the loss is ½ mean (y_q − ŷ)².

Parameters: ``WK, WQ, WV, P`` arrays of shape (layers, heads, d+1, d+1).
"""

from __future__ import annotations

import numpy as np

NAMES = ("WK", "WQ", "WV", "P")


def tokens(X, Y, yq0=None) -> np.ndarray:
    """(n, N+1, d+1) tokens: context (x_i, y_i), query (x_q, yq0 or 0)."""
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    n, T, d = X.shape
    E = np.zeros((n, T, d + 1))
    E[:, :, :d] = X
    E[:, :T - 1, d] = Y[:, :T - 1]
    if yq0 is not None:
        E[:, T - 1, d] = yq0
    return E


def forward(params: dict, X, Y, yq0=None, keep: bool = False):
    """ŷ (n,), and with ``keep`` the list of tokens entering each layer plus the final ones."""
    p = {k: np.asarray(params[k], np.float64) for k in NAMES}
    L, H = p["WK"].shape[:2]
    E = tokens(X, Y, yq0)
    N = E.shape[1] - 1
    d = E.shape[2] - 1
    hist = [E]
    for layer in range(L):
        ctx = E[:, :N]
        upd = np.zeros_like(E)
        for h in range(H):
            keys = ctx @ p["WK"][layer, h].T
            queries = E @ p["WQ"][layer, h].T
            values = ctx @ (p["P"][layer, h] @ p["WV"][layer, h]).T
            scores = queries @ keys.transpose(0, 2, 1)          # (n, N+1, N)
            upd += scores @ values
        E = E + upd
        hist.append(E)
    yhat = -E[:, N, d]
    return (yhat, hist) if keep else yhat


def loss(params: dict, X, Y, yq0=None) -> float:
    yhat = forward(params, X, Y, yq0)
    return float(0.5 * np.mean((np.asarray(Y, np.float64)[:, -1] - yhat) ** 2))


def backward(params: dict, hist: list, G: np.ndarray) -> tuple[dict, np.ndarray]:
    """Gradients of Σ (G · final tokens) w.r.t. the parameters and the input tokens."""
    p = {k: np.asarray(params[k], np.float64) for k in NAMES}
    L, H = p["WK"].shape[:2]
    N = hist[0].shape[1] - 1
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    for layer in reversed(range(L)):
        E = hist[layer]
        ctx = E[:, :N]
        dE = G.copy()                      # the residual path
        dctx = np.zeros_like(ctx)
        for h in range(H):
            WK, WQ = p["WK"][layer, h], p["WQ"][layer, h]
            WV, P = p["WV"][layer, h], p["P"][layer, h]
            PV = P @ WV
            keys = ctx @ WK.T
            queries = E @ WQ.T
            values = ctx @ PV.T
            scores = queries @ keys.transpose(0, 2, 1)
            d_scores = G @ values.transpose(0, 2, 1)            # (n, N+1, N)
            d_values = scores.transpose(0, 2, 1) @ G            # (n, N, D1)
            dPV = np.einsum("nia,nib->ab", d_values, ctx)
            grads["P"][layer, h] += dPV @ WV.T
            grads["WV"][layer, h] += P.T @ dPV
            dctx += d_values @ PV
            d_queries = d_scores @ keys                         # (n, N+1, D1)
            d_keys = d_scores.transpose(0, 2, 1) @ queries      # (n, N, D1)
            grads["WK"][layer, h] += np.einsum("nik,nia->ka", d_keys, ctx)
            dctx += d_keys @ WK
            grads["WQ"][layer, h] += np.einsum("njk,nja->ka", d_queries, E)
            dE += d_queries @ WQ
        dE[:, :N] += dctx
        G = dE
    return grads, G


def loss_and_grads(params: dict, X, Y, yq0=None) -> tuple[float, dict]:
    """Mean loss ½ mean (y_q − ŷ)² and its gradients (float64)."""
    yhat, hist = forward(params, X, Y, yq0, keep=True)
    y = np.asarray(Y, np.float64)[:, -1]
    n = len(y)
    G = np.zeros_like(hist[-1])
    G[:, -1, -1] = -(yhat - y) / n          # ŷ = −(query y slot)
    grads, _ = backward(params, hist, G)
    return float(0.5 * np.mean((y - yhat) ** 2)), grads


def sensitivity(params: dict, X, Y, yq0=None) -> np.ndarray:
    """∂ŷ/∂x_q per task (n, d), by back-propagating one unit per task."""
    yhat, hist = forward(params, X, Y, yq0, keep=True)
    G = np.zeros_like(hist[-1])
    G[:, -1, -1] = -1.0
    _, G0 = backward(params, hist, G)
    return G0[:, -1, :-1]
