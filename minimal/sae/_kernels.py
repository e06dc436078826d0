"""Numba kernels of the sparse autoencoder (private; the validating wrapper is
:class:`minimal.sae.model.SAEModel`, the NumPy float64 reference :mod:`.reference`).

Shapes: X (n, d), W_enc (d, m), b_enc (m,), W_dec (m, d) (one dictionary row per feature),
b_dec (d,).  The encoder product is dense (a BLAS GEMM); the decoder and its gradient touch only
the active features of each row (ReLU codes are sparse once trained).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._numerics import _FM


@njit(cache=True, fastmath=_FM)
def _encode(X, W_enc, b_enc, b_dec, Xc, F):
    """Xc = X − b_dec;  F = ReLU(Xc W_enc + b_enc).  Returns the summed |F| (= Σ F)."""
    n, d = X.shape
    m = W_enc.shape[1]
    for i in range(n):
        for e in range(d):
            Xc[i, e] = X[i, e] - b_dec[e]
    pre = np.dot(Xc, W_enc)
    l1 = 0.0
    for i in range(n):
        for j in range(m):
            v = pre[i, j] + b_enc[j]
            if v > 0.0:
                F[i, j] = v
                l1 += v
            else:
                F[i, j] = 0.0
    return l1


@njit(cache=True, fastmath=_FM)
def _decode(F, W_dec, b_dec, Xhat):
    """Xhat = F W_dec + b_dec over the non-zero codes."""
    n, m = F.shape
    d = W_dec.shape[1]
    for i in range(n):
        for e in range(d):
            Xhat[i, e] = b_dec[e]
        for j in range(m):
            f = F[i, j]
            if f != 0.0:
                for e in range(d):
                    Xhat[i, e] += f * W_dec[j, e]


@njit(cache=True, fastmath=_FM)
def _loss_grads(X, W_enc, b_enc, W_dec, b_dec, lam, Xc, F, R, dpre,
                gW_enc, gb_enc, gW_dec, gb_dec):
    """loss = (1/n) Σ_i ‖x̂_i − x_i‖² + λ (1/n) Σ_ij f_ij and its gradients (raw: the
    decoder-row projection is the wrapper's).  Returns (loss, reconstruction part, l1 part)."""
    n, d = X.shape
    m = W_enc.shape[1]
    l1 = _encode(X, W_enc, b_enc, b_dec, Xc, F)
    _decode(F, W_dec, b_dec, R)
    rec = 0.0
    for i in range(n):
        for e in range(d):
            r = R[i, e] - X[i, e]
            R[i, e] = r
            rec += r * r
    inv = 1.0 / n
    two = 2.0 * inv
    lam_n = lam * inv
    for j in range(m):
        for e in range(d):
            gW_dec[j, e] = 0.0
    for e in range(d):
        gb_dec[e] = 0.0
    for i in range(n):
        for e in range(d):
            gb_dec[e] += two * R[i, e]
        for j in range(m):
            f = F[i, j]
            if f > 0.0:
                s = 0.0
                for e in range(d):
                    gW_dec[j, e] += f * two * R[i, e]
                    s += R[i, e] * W_dec[j, e]
                dpre[i, j] = two * s + lam_n
            else:
                dpre[i, j] = 0.0
    gW_enc[:, :] = np.dot(Xc.T, dpre)
    for j in range(m):
        gb_enc[j] = 0.0
    for i in range(n):
        for j in range(m):
            gb_enc[j] += dpre[i, j]
    # b_dec enters the encoder as −b_dec: ∂/∂b_dec −= W_enc · Σ_i dpre_i
    for e in range(d):
        s = 0.0
        for j in range(m):
            s += W_enc[e, j] * gb_enc[j]
        gb_dec[e] -= s
    return rec * inv + lam_n * l1, rec * inv, l1 * inv


@njit(cache=True, fastmath=_FM)
def _project_rows(W, G):
    """G_j ← G_j − (G_j · W_j) W_j / ‖W_j‖² (remove the gradient along each decoder row)."""
    m, d = W.shape
    for j in range(m):
        s = 0.0
        nn = 0.0
        for e in range(d):
            s += G[j, e] * W[j, e]
            nn += W[j, e] * W[j, e]
        if nn > 0.0:
            c = s / nn
            for e in range(d):
                G[j, e] -= c * W[j, e]


@njit(cache=True, fastmath=_FM)
def _normalise_rows(W):
    """Each row to unit Euclidean norm (a zero row stays zero)."""
    m, d = W.shape
    for j in range(m):
        nn = 0.0
        for e in range(d):
            nn += W[j, e] * W[j, e]
        if nn > 0.0:
            inv = 1.0 / np.sqrt(nn)
            for e in range(d):
                W[j, e] *= inv
