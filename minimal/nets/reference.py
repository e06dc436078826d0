"""Plain NumPy reference of the attention-only network (slow, obviously correct).

Dense tokens, every position in every layer, full matrices, the textbook attention backward.
The tests compare the Numba kernels with it (and both with finite differences); the attention-map
figures use :func:`forward_full` because it exposes every layer's full pattern and head outputs.
"""

from __future__ import annotations

import numpy as np


def dense_tokens(content: np.ndarray, shift: np.ndarray, P: int) -> np.ndarray:
    """(b, T, P + D) tokens: positional one-hot at shift + t, then the content."""
    b, T, D = content.shape
    U = np.zeros((b, T, P + D), content.dtype)
    U[:, :, P:] = content
    t = np.arange(T)
    U[np.arange(b)[:, None], t[None, :], shift[:, None] + t[None, :]] = 1.0
    return U


def _softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def forward_full(params: dict, U0: np.ndarray, heads: int) -> dict:
    """All activations: per layer the inputs, Q, K, V, scores, patterns and head outputs."""
    WQ, WK, WV = params["W_Q"], params["W_K"], params["W_V"]
    n_layers = WQ.shape[0]
    b, T, d = U0.shape
    kh = WQ.shape[1] // heads
    dv = d // heads
    mask = np.tril(np.ones((T, T), bool))
    acts = {"U": [U0], "Q": [], "K": [], "V": [], "S": [], "P": [], "O": []}
    U = U0
    for l in range(n_layers):
        Q = U @ WQ[l].T
        K = U @ WK[l].T
        V = U @ WV[l].T
        S = np.empty((heads, b, T, T), U.dtype)
        Pm = np.empty_like(S)
        O = np.empty((b, T, d), U.dtype)
        for h in range(heads):
            qs, vs = slice(h * kh, (h + 1) * kh), slice(h * dv, (h + 1) * dv)
            S[h] = Q[..., qs] @ K[..., qs].transpose(0, 2, 1)
            Pm[h] = _softmax(np.where(mask, S[h], -np.inf))
            O[..., vs] = Pm[h] @ V[..., vs]
        U = U + O
        for name, val in (("Q", Q), ("K", K), ("V", V), ("S", S), ("P", Pm), ("O", O)):
            acts[name].append(val)
        acts["U"].append(U)
    h = U[:, -1]
    acts["H"] = [h]
    acts["Z"] = []
    for m in range(params["mlp_W"].shape[0]):
        z = h @ params["mlp_W"][m].T + params["mlp_b"][m]
        h = np.maximum(z, 0.0)
        acts["Z"].append(z)
        acts["H"].append(h)
    acts["logits"] = h @ params["W_out"].T
    return acts


def loss_and_grads(params: dict, content, shift, P: int, target, heads: int):
    """Mean cross-entropy and the gradients of every parameter array (dense backward)."""
    U0 = dense_tokens(np.asarray(content, np.float64), np.asarray(shift), P)
    p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    acts = forward_full(p64, U0, heads)
    logits = acts["logits"]
    b = logits.shape[0]
    target = np.asarray(target)
    probs = _softmax(logits)
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    loss = float(-logp[np.arange(b), target].mean())
    g = {k: np.zeros_like(v) for k, v in p64.items()}
    dlog = probs.copy()
    dlog[np.arange(b), target] -= 1.0
    dlog /= b
    h_last = acts["H"][-1]
    g["W_out"] = dlog.T @ h_last
    dh = dlog @ p64["W_out"]
    for m in reversed(range(p64["mlp_W"].shape[0])):
        dz = dh * (acts["Z"][m] > 0)
        g["mlp_W"][m] = dz.T @ acts["H"][m]
        g["mlp_b"][m] = dz.sum()
        dh = dz @ p64["mlp_W"][m]
    T = U0.shape[1]
    dU = np.zeros_like(acts["U"][-1])
    dU[:, T - 1] = dh
    WQ, WK, WV = p64["W_Q"], p64["W_K"], p64["W_V"]
    kh = WQ.shape[1] // heads
    dv = WV.shape[1] // heads
    for l in reversed(range(WQ.shape[0])):
        U = acts["U"][l]
        Q, K, V, Pm = acts["Q"][l], acts["K"][l], acts["V"][l], acts["P"][l]
        dQ, dK, dV = np.zeros_like(Q), np.zeros_like(K), np.zeros_like(V)
        for h in range(heads):
            qs, vs = slice(h * kh, (h + 1) * kh), slice(h * dv, (h + 1) * dv)
            dO = dU[..., vs]
            dP = dO @ V[..., vs].transpose(0, 2, 1)
            dV[..., vs] = Pm[h].transpose(0, 2, 1) @ dO
            dS = Pm[h] * (dP - (Pm[h] * dP).sum(-1, keepdims=True))
            dQ[..., qs] = dS @ K[..., qs]
            dK[..., qs] = dS.transpose(0, 2, 1) @ Q[..., qs]
        g["W_Q"][l] = np.einsum("btk,btd->kd", dQ, U)
        g["W_K"][l] = np.einsum("btk,btd->kd", dK, U)
        g["W_V"][l] = np.einsum("bte,btd->ed", dV, U)
        dU = dU + dQ @ WQ[l] + dK @ WK[l] + dV @ WV[l]
    return loss, g
