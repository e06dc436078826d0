"""Slow, obviously-correct NumPy float64 reference of the SAE (tests only; docs/sae.md)."""

from __future__ import annotations

import numpy as np


def forward(X, W_enc, b_enc, W_dec, b_dec):
    """(codes F, reconstruction X̂)."""
    X, W_enc, b_enc, W_dec, b_dec = (np.asarray(a, np.float64)
                                     for a in (X, W_enc, b_enc, W_dec, b_dec))
    F = np.maximum((X - b_dec) @ W_enc + b_enc, 0.0)
    return F, F @ W_dec + b_dec


def loss(X, W_enc, b_enc, W_dec, b_dec, lam):
    F, Xh = forward(X, W_enc, b_enc, W_dec, b_dec)
    n = X.shape[0]
    return float(((Xh - X) ** 2).sum() / n + lam * np.abs(F).sum() / n)


def grads(X, W_enc, b_enc, W_dec, b_dec, lam):
    """Gradients of :func:`loss` by the chain rule written out term by term."""
    X, W_enc, b_enc, W_dec, b_dec = (np.asarray(a, np.float64)
                                     for a in (X, W_enc, b_enc, W_dec, b_dec))
    n = X.shape[0]
    Xc = X - b_dec
    pre = Xc @ W_enc + b_enc
    F = np.maximum(pre, 0.0)
    R = F @ W_dec + b_dec - X
    dXh = 2.0 * R / n                        # ∂loss/∂x̂
    gW_dec = F.T @ dXh
    dF = dXh @ W_dec.T + lam / n             # ∂loss/∂f (f ≥ 0, so |f|' = 1 where f > 0)
    dpre = dF * (pre > 0)
    gW_enc = Xc.T @ dpre
    gb_enc = dpre.sum(0)
    gb_dec = dXh.sum(0) - W_enc @ dpre.sum(0)
    return {"W_enc": gW_enc, "b_enc": gb_enc, "W_dec": gW_dec, "b_dec": gb_dec}


def project_rows(W, G):
    W = np.asarray(W, np.float64)
    G = np.asarray(G, np.float64)
    c = (G * W).sum(1, keepdims=True) / (W * W).sum(1, keepdims=True)
    return G - c * W
