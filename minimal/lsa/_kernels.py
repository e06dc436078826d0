"""Numba kernels of K-layer multi-head linear self-attention (docs/lsa.md, "Kernels").

The kernels take the products M = W_Kᵀ W_Q and V = P W_V of every layer and head (shape
(layers, heads, D1, D1), D1 = d + 1) and work per task with the context Gram matrix
Γ = Σ_{i<N} e_i e_iᵀ: in row form a layer is

    E ← E + E B,   B = Σ_h M_hᵀ Γ V_hᵀ,

for all N + 1 tokens (the query never enters Γ).  The last layer only matters through the
query's y slot, ŷ = −(e_q[d] + Σ_h Σ_i (e_iᵀ M_h e_q)(e_iᵀ v_h)) with v_h the y row of V_h, so it
costs O(N·D1) per head instead of O(D1³).  The backward pass is written by hand (gradients with
respect to M and V; the chain rule to W_K, W_Q, W_V, P is done by the caller).  Arrays are
float32 for training or float64 for checks; every loop runs in the arrays' precision except the
loss, which is accumulated in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._numerics import _FM


@njit(cache=True, fastmath=_FM)
def _load_tokens(X, Y, yq0, b, E):
    """E (N+1, D1) ← the tokens of task b."""
    T, d = X.shape[1], X.shape[2]
    for t in range(T):
        for a in range(d):
            E[t, a] = X[b, t, a]
        E[t, d] = Y[b, t]
    E[T - 1, d] = yq0[b]


@njit(cache=True, fastmath=_FM)
def _gram(E, N, Gam):
    """Gam ← Σ_{i<N} e_i e_iᵀ."""
    D1 = E.shape[1]
    Gam[:, :] = 0
    for i in range(N):
        for a in range(D1):
            eia = E[i, a]
            for c in range(D1):
                Gam[a, c] += eia * E[i, c]


@njit(cache=True, fastmath=_FM)
def _layer_matrix(Gam, Ml, Vl, Bm, T1):
    """Bm ← Σ_h M_hᵀ Γ V_hᵀ; T1[h] ← Γ V_hᵀ (kept for the backward pass)."""
    H, D1 = Ml.shape[0], Ml.shape[1]
    Bm[:, :] = 0
    for h in range(H):
        M = Ml[h]
        V = Vl[h]
        T = T1[h]
        for a in range(D1):
            for c in range(D1):
                s = Gam[a, 0] * V[c, 0]
                for k in range(1, D1):
                    s += Gam[a, k] * V[c, k]
                T[a, c] = s
        for k in range(D1):
            for a in range(D1):
                m = M[k, a]
                for c in range(D1):
                    Bm[a, c] += m * T[k, c]


@njit(cache=True, fastmath=_FM)
def _apply(E, Bm, Eout):
    """Eout ← E + E Bm (every token)."""
    T, D1 = E.shape
    for j in range(T):
        for c in range(D1):
            Eout[j, c] = E[j, c]
        for a in range(D1):
            e = E[j, a]
            for c in range(D1):
                Eout[j, c] += e * Bm[a, c]


@njit(cache=True, fastmath=_FM)
def _last_layer(E, N, Ml, Vl, U, A, S):
    """Query y slot change of the last layer, Σ_h Σ_i a_hi s_hi with a_hi = e_iᵀ M_h e_q and
    s_hi = e_iᵀ v_h; fills U[h] = M_h e_q, A[h, i] = a_hi, S[h, i] = s_hi."""
    H, D1 = Ml.shape[0], Ml.shape[1]
    d = D1 - 1
    tot = 0.0
    for h in range(H):
        M = Ml[h]
        for k in range(D1):
            s = M[k, 0] * E[N, 0]
            for c in range(1, D1):
                s += M[k, c] * E[N, c]
            U[h, k] = s
        for i in range(N):
            a = E[i, 0] * U[h, 0]
            sv = E[i, 0] * Vl[h, d, 0]
            for k in range(1, D1):
                a += E[i, k] * U[h, k]
                sv += E[i, k] * Vl[h, d, k]
            A[h, i] = a
            S[h, i] = sv
            tot += a * sv
    return tot


@njit(cache=True, fastmath=_FM)
def _lsa_loss_grads(X, Y, yq0, M, V, gM, gV):
    """Mean loss ½ mean (y_q − ŷ)² over the tasks of (X, Y) and its gradients with respect to
    M and V (written into gM, gV).  Returns the loss (float64)."""
    n, T, d = X.shape
    N = T - 1
    L, H, D1 = M.shape[0], M.shape[1], M.shape[2]
    dt = X.dtype.type
    gM[...] = 0
    gV[...] = 0
    Es = np.empty((L, T, D1), X.dtype)
    Gams = np.empty((L, D1, D1), X.dtype)
    Bms = np.empty((L, D1, D1), X.dtype)
    T1s = np.empty((L, H, D1, D1), X.dtype)
    U = np.empty((H, D1), X.dtype)
    A = np.empty((H, N), X.dtype)
    S = np.empty((H, N), X.dtype)
    p = np.empty(D1, X.dtype)
    q = np.empty(D1, X.dtype)
    G = np.empty((T, D1), X.dtype)
    G2 = np.empty((T, D1), X.dtype)
    Bd = np.empty((D1, D1), X.dtype)
    T2 = np.empty((D1, D1), X.dtype)
    T3 = np.empty((D1, D1), X.dtype)
    Gb = np.empty((D1, D1), X.dtype)
    total = 0.0
    inv_n = 1.0 / n
    for b in range(n):
        _load_tokens(X, Y, yq0, b, Es[0])
        for layer in range(L - 1):
            _gram(Es[layer], N, Gams[layer])
            _layer_matrix(Gams[layer], M[layer], V[layer], Bms[layer], T1s[layer])
            _apply(Es[layer], Bms[layer], Es[layer + 1])
        E = Es[L - 1]
        yhat = -(np.float64(E[N, d]) + _last_layer(E, N, M[L - 1], V[L - 1], U, A, S))
        err = yhat - np.float64(Y[b, N])
        total += 0.5 * err * err
        r = dt(err * inv_n)                 # dℓ/dŷ
        # ---- last layer: ŷ = −e_q[d] − Σ_h Σ_i a_hi s_hi
        for h in range(H):
            for k in range(D1):
                p[k] = 0
                q[k] = 0
            for i in range(N):
                si = S[h, i]
                ai = A[h, i]
                for k in range(D1):
                    p[k] += si * E[i, k]
                    q[k] += ai * E[i, k]
            gm = gM[L - 1, h]
            for k in range(D1):
                pk = -r * p[k]
                for c in range(D1):
                    gm[k, c] += pk * E[N, c]
                gV[L - 1, h, d, k] += -r * q[k]
            if L > 1:
                if h == 0:
                    G[:, :] = 0
                    G[N, d] = -r
                Mh = M[L - 1, h]
                for k in range(D1):
                    pk = -r * p[k]
                    for c in range(D1):
                        G[N, c] += pk * Mh[k, c]
                for i in range(N):
                    si = -r * S[h, i]
                    ai = -r * A[h, i]
                    for k in range(D1):
                        G[i, k] += si * U[h, k] + ai * V[L - 1, h, d, k]
        # ---- earlier layers: E' = E + E B, B = Σ_h M_hᵀ Γ V_hᵀ
        for layer in range(L - 2, -1, -1):
            E = Es[layer]
            Gam = Gams[layer]
            Bm = Bms[layer]
            for a in range(D1):
                for c in range(D1):
                    Bd[a, c] = 0
            for j in range(T):
                for a in range(D1):
                    e = E[j, a]
                    for c in range(D1):
                        Bd[a, c] += e * G[j, c]
            if layer > 0:
                for j in range(T):
                    for a in range(D1):
                        s = G[j, a]
                        for c in range(D1):
                            s += G[j, c] * Bm[a, c]
                        G2[j, a] = s
            for a in range(D1):
                for c in range(D1):
                    Gb[a, c] = 0
            for h in range(H):
                Mh = M[layer, h]
                Vh = V[layer, h]
                T1 = T1s[layer, h]
                gm = gM[layer, h]
                gv = gV[layer, h]
                # gM_h += Γ V_hᵀ Ḃᵀ = T1 Ḃᵀ
                for a in range(D1):
                    for c in range(D1):
                        s = T1[a, 0] * Bd[c, 0]
                        for k in range(1, D1):
                            s += T1[a, k] * Bd[c, k]
                        gm[a, c] += s
                # T2 = M_hᵀ Γ ; gV_h += Ḃᵀ T2
                for a in range(D1):
                    for c in range(D1):
                        T2[a, c] = 0
                for k in range(D1):
                    for a in range(D1):
                        m = Mh[k, a]
                        for c in range(D1):
                            T2[a, c] += m * Gam[k, c]
                for k in range(D1):
                    for a in range(D1):
                        bka = Bd[k, a]
                        for c in range(D1):
                            gv[a, c] += bka * T2[k, c]
                if layer > 0:
                    # Γ̄ += M_h Ḃ V_h
                    for a in range(D1):
                        for c in range(D1):
                            T3[a, c] = 0
                        for k in range(D1):
                            bak = Bd[a, k]
                            for c in range(D1):
                                T3[a, c] += bak * Vh[k, c]
                    for a in range(D1):
                        for k in range(D1):
                            m = Mh[a, k]
                            for c in range(D1):
                                Gb[a, c] += m * T3[k, c]
            if layer > 0:
                # context rows: + E_c (Γ̄ + Γ̄ᵀ)
                for i in range(N):
                    for a in range(D1):
                        e = E[i, a]
                        for c in range(D1):
                            G2[i, c] += e * (Gb[a, c] + Gb[c, a])
                for j in range(T):
                    for c in range(D1):
                        G[j, c] = G2[j, c]
    return total / n


@njit(cache=True, fastmath=_FM)
def _lsa_forward(X, Y, yq0, M, V, yhat, sens, want_sens):
    """Predictions ŷ (n,) and, if ``want_sens``, the sensitivities ∂ŷ/∂x_q (n, d).

    The query never influences another token, so e_q evolves linearly, e_q ← (I + Bᵀ) e_q per
    layer, and ∂ŷ/∂e_q is the y row pulled back through those maps."""
    n, T, d = X.shape
    N = T - 1
    L, H, D1 = M.shape[0], M.shape[1], M.shape[2]
    Es = np.empty((L, T, D1), X.dtype)
    Gams = np.empty((L, D1, D1), X.dtype)
    Bms = np.empty((L, D1, D1), X.dtype)
    T1s = np.empty((L, H, D1, D1), X.dtype)
    U = np.empty((H, D1), X.dtype)
    A = np.empty((H, N), X.dtype)
    S = np.empty((H, N), X.dtype)
    g = np.empty(D1, X.dtype)
    g2 = np.empty(D1, X.dtype)
    for b in range(n):
        _load_tokens(X, Y, yq0, b, Es[0])
        for layer in range(L - 1):
            _gram(Es[layer], N, Gams[layer])
            _layer_matrix(Gams[layer], M[layer], V[layer], Bms[layer], T1s[layer])
            _apply(Es[layer], Bms[layer], Es[layer + 1])
        E = Es[L - 1]
        yhat[b] = -(E[N, d] + _last_layer(E, N, M[L - 1], V[L - 1], U, A, S))
        if not want_sens:
            continue
        # ∂ŷ/∂e_q of the last layer: −e_d − Σ_h M_hᵀ Σ_i s_hi e_i
        for k in range(D1):
            g[k] = 0
        g[d] = -1
        for h in range(H):
            for k in range(D1):
                pk = 0.0
                for i in range(N):
                    pk += S[h, i] * E[i, k]
                for c in range(D1):
                    g[c] -= pk * M[L - 1, h, k, c]
        for layer in range(L - 2, -1, -1):
            Bm = Bms[layer]
            for a in range(D1):
                s = g[a]
                for c in range(D1):
                    s += Bm[a, c] * g[c]
                g2[a] = s
            for a in range(D1):
                g[a] = g2[a]
        for a in range(d):
            sens[b, a] = g[a]
