"""Numba kernels of the attention-only network: forward and hand-written backward.

Notation (docs/network.md): tokens u_t = onehot(shift + t) ⊕ content_t, d = P + D, H heads per layer,
head h owns query/key rows [h kh, (h+1) kh) and value (residual) rows [h dv, (h+1) dv).  Per
layer and head the bilinear logit matrix A = W_Kᵀ W_Q (d × d) gives s_ij = u_jᵀ A u_i; its
gradient G = ∂ℒ/∂A yields ∂ℒ/∂W_Q = W_K G and ∂ℒ/∂W_K = W_Q Gᵀ (same computation, not a
reparameterisation).

Inputs of a layer are described as (C, pos, P0): the token is onehot(pos) in dims < P0 (absent
when pos < 0) plus the content C in dims P0..d−1.  Layer 1 sees (content, shift + t, P), so every
product with the positional one-hot is a column gather and every gradient a scatter-add; deeper
layers see dense activations as (U, −1, 0).  Only the target row is computed in the last layer,
and the MLP runs on one vector per sequence.

Two paths compute the same function:

* ``general`` — layers 1..n−1 materialised at every position, the last layer at the target only;
* ``fused2`` (n = 2) — layer 1's output is never materialised.  With z_i = Σ_j p_ij u_j (sparse:
  positional weights plus a content mix) the layer-1 output is u_i + W_V z_i, so layer 2's keys,
  values and their gradients reduce to a few d × d products per sequence.

All kernels are dtype-generic (float32 for training, float64 for gradient checks).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._numerics import (_FM, _axpy, _cross_entropy, _dot, _relu_layer,  # noqa: F401
                         _relu_layer_bwd)


# ----------------------------------------------------------------------------------------------
# token helpers
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _proj(W, C, pos, P0, out):
    """out[b, t, :] = W @ u_bt for every token (W: m × d)."""
    nb, T, Dc = C.shape
    m = W.shape[0]
    Wc = np.ascontiguousarray(W[:, P0:])
    np.dot(C.reshape(nb * T, Dc), Wc.T, out.reshape(nb * T, m))
    if P0 > 0:
        WpT = np.ascontiguousarray(W[:, :P0].T)
        for b in range(nb):
            for t in range(T):
                p = pos[b, t]
                if p >= 0:
                    col = WpT[p]
                    row = out[b, t]
                    for e in range(m):
                        row[e] += col[e]


@njit(cache=True, fastmath=_FM)
def _gradW(dY, C, pos, P0, dW):
    """dW (m × d) += Σ_{b,t} dY[b, t] ⊗ u_bt."""
    nb, T, Dc = C.shape
    m = dY.shape[2]
    g = np.dot(dY.reshape(nb * T, m).T, C.reshape(nb * T, Dc))
    dW[:, P0:] += g
    if P0 > 0:
        acc = np.zeros((P0, m), dY.dtype)
        for b in range(nb):
            for t in range(T):
                p = pos[b, t]
                if p >= 0:
                    row = dY[b, t]
                    a = acc[p]
                    for e in range(m):
                        a[e] += row[e]
        dW[:, :P0] += acc.T


@njit(cache=True, fastmath=_FM)
def _dense_u(C, pos, P0, out):
    """out[b, t] = the full token u_bt (one-hot position, then content) for every token."""
    for t in range(C.shape[1]):
        _dense_u_row(C, pos, P0, t, out[:, t])


@njit(cache=True, fastmath=_FM)
def _dense_u_row(C, pos, P0, t, out):
    nb, T, Dc = C.shape
    for b in range(nb):
        row = out[b]
        for e in range(P0):
            row[e] = 0.0
        p = pos[b, t]
        if p >= 0:
            row[p] = 1.0
        c = C[b, t]
        for e in range(Dc):
            row[P0 + e] = c[e]


@njit(cache=True, fastmath=_FM)
def _softmax_inplace(x, n):
    """Max-subtracted softmax of x[:n] in place."""
    mx = x[0]
    for j in range(1, n):
        if x[j] > mx:
            mx = x[j]
    tot = 0.0
    for j in range(n):
        e = math.exp(x[j] - mx)
        x[j] = e
        tot += e
    inv = 1.0 / tot
    for j in range(n):
        x[j] *= inv


@njit(cache=True, fastmath=_FM)
def _attn_matrices(WQ, WK, H):
    """A[l, h] = W_K^{(l,h)ᵀ} W_Q^{(l,h)} for every layer and head."""
    nl, k, d = WQ.shape
    kh = k // H
    A = np.empty((nl, H, d, d), WQ.dtype)
    for l in range(nl):
        for h in range(H):
            np.dot(WK[l][h * kh:(h + 1) * kh].T, WQ[l][h * kh:(h + 1) * kh], A[l, h])
    return A


@njit(cache=True, fastmath=_FM)
def _qk_grads(WQ, WK, dA, H, gWQ, gWK):
    nl, k, d = WQ.shape
    kh = k // H
    for l in range(nl):
        for h in range(H):
            sl = slice(h * kh, (h + 1) * kh)
            np.dot(WK[l][sl], dA[l, h], gWQ[l][sl])
            np.dot(WQ[l][sl], dA[l, h].T, gWK[l][sl])


# ----------------------------------------------------------------------------------------------
# MLP classifier and loss
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _mlp_fwd(h0, MW, Mb, Wout, Hs, Z):
    """Hs[0] = h0; Z[m] = Hs[m] W_mᵀ + b_m; Hs[m+1] = ReLU(Z[m]); returns logits."""
    M = MW.shape[0]
    Hs[0] = h0
    for m in range(M):
        _relu_layer(Hs[m], MW[m], Mb[m], Z[m], Hs[m + 1])
    return np.dot(Hs[M], Wout.T)


@njit(cache=True, fastmath=_FM)
def _mlp_bwd(dlog, MW, Wout, Hs, Z, gMW, gMb, gWout):
    M = MW.shape[0]
    gWout[:, :] = np.dot(dlog.T, Hs[M])
    dh = np.dot(dlog, Wout)
    for m in range(M - 1, -1, -1):
        dh, gMb[m] = _relu_layer_bwd(dh, Z[m], Hs[m], MW[m], gMW[m])
    return dh


# ----------------------------------------------------------------------------------------------
# general path: all-position layers + target-only last layer
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _layer_all_fwd(C, pos, P0, Al, WVl, H, Rl, Patl, Vl, Uout):
    nb, T, Dc = C.shape
    d = P0 + Dc
    dv = d // H
    for h in range(H):
        _proj(Al[h], C, pos, P0, Rl[h])
    _proj(WVl, C, pos, P0, Vl)
    _dense_u(C, pos, P0, Uout)
    for h in range(H):
        hs, he = h * dv, (h + 1) * dv
        for b in range(nb):
            Cb = C[b]
            pb = pos[b]
            Vb = Vl[b]
            for i in range(T):
                r = Rl[h, b, i]
                rc = r[P0:]
                srow = Patl[h, b, i]
                for j in range(i + 1):
                    s = _dot(rc, Cb[j])
                    if pb[j] >= 0:
                        s += r[pb[j]]
                    srow[j] = s
                _softmax_inplace(srow, i + 1)
                for j in range(i + 1, T):
                    srow[j] = 0.0
                orow = Uout[b, i, hs:he]
                for j in range(i + 1):
                    _axpy(orow, srow[j], Vb[j, hs:he])


@njit(cache=True, fastmath=_FM)
def _layer_last_fwd(C, pos, P0, Al, WVl, H, r, pl, m, ut, h0):
    nb, T, Dc = C.shape
    d = P0 + Dc
    dv = d // H
    t = T - 1
    _dense_u_row(C, pos, P0, t, ut)
    h0[:, :] = ut
    for h in range(H):
        np.dot(ut, Al[h].T, r[h])
        for b in range(nb):
            Cb = C[b]
            pb = pos[b]
            rv = r[h, b]
            rc = rv[P0:]
            prow = pl[h, b]
            for j in range(T):
                s = _dot(rc, Cb[j])
                if pb[j] >= 0:
                    s += rv[pb[j]]
                prow[j] = s
            _softmax_inplace(prow, T)
            mrow = m[h, b]
            mrow[:] = 0.0
            mc = mrow[P0:]
            for j in range(T):
                _axpy(mc, prow[j], Cb[j])
                if pb[j] >= 0:
                    mrow[pb[j]] += prow[j]
        o = np.dot(m[h], WVl[h * dv:(h + 1) * dv].T)
        h0[:, h * dv:(h + 1) * dv] += o


@njit(cache=True, fastmath=_FM)
def _layer_last_bwd(C, pos, P0, Al, WVl, H, r, pl, m, ut, dh0, need, dUin, dAl, gWVl):
    nb, T, Dc = C.shape
    d = P0 + Dc
    dv = d // H
    t = T - 1
    if need:
        dUin[:, t, :] += dh0
    X = np.zeros((nb, d), dh0.dtype)
    dp = np.empty(T, dh0.dtype)
    for h in range(H):
        do = np.ascontiguousarray(dh0[:, h * dv:(h + 1) * dv])
        gWVl[h * dv:(h + 1) * dv] += np.dot(do.T, m[h])
        dm = np.dot(do, WVl[h * dv:(h + 1) * dv])
        X[:, :] = 0.0
        for b in range(nb):
            Cb = C[b]
            pb = pos[b]
            prow = pl[h, b]
            dmb = dm[b]
            dmc = dmb[P0:]
            tot = 0.0
            for j in range(T):
                s = _dot(dmc, Cb[j])
                if pb[j] >= 0:
                    s += dmb[pb[j]]
                dp[j] = s
                tot += prow[j] * s
            xb = X[b]
            xc = xb[P0:]
            for j in range(T):
                ds = prow[j] * (dp[j] - tot)
                _axpy(xc, ds, Cb[j])
                if pb[j] >= 0:
                    xb[pb[j]] += ds
                if need:
                    du = dUin[b, j]
                    _axpy(du, prow[j], dmb)
                    _axpy(du, ds, r[h, b])
        dAl[h] += np.dot(X.T, ut)
        if need:
            dUin[:, t, :] += np.dot(X, Al[h])


@njit(cache=True, fastmath=_FM)
def _layer_all_bwd(C, pos, P0, Al, WVl, H, Rl, Patl, Vl, dUout, need, dUin, dAl, gWVl):
    nb, T, Dc = C.shape
    d = P0 + Dc
    dv = d // H
    if need:
        dUin += dUout
    dV = np.zeros((nb, T, d), dUout.dtype)
    X = np.empty((nb, T, d), dUout.dtype)
    dp = np.empty(T, dUout.dtype)
    for h in range(H):
        hs, he = h * dv, (h + 1) * dv
        X[:] = 0.0
        for b in range(nb):
            Cb = C[b]
            pb = pos[b]
            Vb = Vl[b]
            dVb = dV[b]
            for i in range(T):
                prow = Patl[h, b, i]
                dO = dUout[b, i, hs:he]
                tot = 0.0
                for j in range(i + 1):
                    s = _dot(dO, Vb[j, hs:he])
                    dp[j] = s
                    tot += prow[j] * s
                xi = X[b, i]
                xc = xi[P0:]
                for j in range(i + 1):
                    pij = prow[j]
                    ds = pij * (dp[j] - tot)
                    _axpy(dVb[j, hs:he], pij, dO)
                    _axpy(xc, ds, Cb[j])
                    if pb[j] >= 0:
                        xi[pb[j]] += ds
                    if need:
                        _axpy(dUin[b, j], ds, Rl[h, b, i])
        _gradW(X, C, pos, P0, dAl[h])
        if need:
            dUin += np.dot(X.reshape(nb * T, d), Al[h]).reshape(nb, T, d)
    _gradW(dV, C, pos, P0, gWVl)
    if need:
        dUin += np.dot(dV.reshape(nb * T, d), WVl).reshape(nb, T, d)


@njit(cache=True, fastmath=_FM)
def _forward_general(C0, pos0, P, A, WV, H, Us, R, Pat, V, rL, pL, mL, utL):
    """Attention stack of the general path; returns h0 = u_{t*} after the last layer."""
    nl = A.shape[0]
    nb, T, D = C0.shape
    d = P + D
    negpos = np.full((nb, T), -1, np.int64)
    h0 = np.empty((nb, d), C0.dtype)
    for l in range(nl):
        if l == 0:
            if nl == 1:
                _layer_last_fwd(C0, pos0, P, A[l], WV[l], H, rL, pL, mL, utL, h0)
            else:
                _layer_all_fwd(C0, pos0, P, A[l], WV[l], H, R[l], Pat[l], V[l], Us[l])
        elif l < nl - 1:
            _layer_all_fwd(Us[l - 1], negpos, 0, A[l], WV[l], H, R[l], Pat[l], V[l], Us[l])
        else:
            _layer_last_fwd(Us[l - 1], negpos, 0, A[l], WV[l], H, rL, pL, mL, utL, h0)
    return h0


@njit(cache=True, fastmath=_FM)
def _backward_general(C0, pos0, P, A, WV, H, Us, R, Pat, V, rL, pL, mL, utL, dh0, dA, gWV):
    nl = A.shape[0]
    nb, T, D = C0.shape
    d = P + D
    negpos = np.full((nb, T), -1, np.int64)
    l = nl - 1
    dU = np.zeros((nb, T, d), dh0.dtype)
    if l == 0:
        _layer_last_bwd(C0, pos0, P, A[l], WV[l], H, rL, pL, mL, utL, dh0, False, dU, dA[l],
                        gWV[l])
        return
    _layer_last_bwd(Us[l - 1], negpos, 0, A[l], WV[l], H, rL, pL, mL, utL, dh0, True, dU,
                    dA[l], gWV[l])
    for l in range(nl - 2, -1, -1):
        dUin = np.zeros((nb, T, d), dh0.dtype)
        if l == 0:
            _layer_all_bwd(C0, pos0, P, A[l], WV[l], H, R[l], Pat[l], V[l], dU, False, dUin,
                           dA[l], gWV[l])
        else:
            _layer_all_bwd(Us[l - 1], negpos, 0, A[l], WV[l], H, R[l], Pat[l], V[l], dU, True,
                           dUin, dA[l], gWV[l])
        dU = dUin


# ----------------------------------------------------------------------------------------------
# fused two-layer path
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _forward_fused2(C, pos, P, A, WV, H, R1, Pat1, zt, ut, u1t, r2, gam, p2, y0, y1, m2):
    """Two-layer forward without materialising layer 1's output; returns h0.

    Every use of z^h_j = Σ_k p1_jk u_k is a weighted sum over j, so it is rewritten as
    Σ_k (Σ_j w_j p1_jk) u_k: the content mixes z_j themselves are never formed.
    """
    nb, T, D = C.shape
    d = P + D
    dv = d // H
    t = T - 1
    gu = np.empty(T, C.dtype)
    v = np.empty(T, C.dtype)
    # layer 1 patterns
    for h in range(H):
        _proj(A[0, h], C, pos, P, R1[h])
        for b in range(nb):
            Cb = C[b]
            pb = pos[b]
            for i in range(T):
                srow = Pat1[h, b, i]
                r = R1[h, b, i]
                rc = r[P:]
                for j in range(i + 1):
                    srow[j] = _dot(rc, Cb[j]) + r[pb[j]]
                _softmax_inplace(srow, i + 1)
                for j in range(i + 1, T):
                    srow[j] = 0.0
    # layer-1 output at the target: u1t = u_t + concat_h W_V^h z^h_t
    _dense_u_row(C, pos, P, t, ut)
    u1t[:, :] = ut
    for h in range(H):
        zh = zt[h]
        zh[:, :] = 0.0
        for b in range(nb):
            _mix_u(Pat1[h, b, t], C[b], pos[b], P, zh[b])
        u1t[:, h * dv:(h + 1) * dv] += np.dot(zh, WV[0][h * dv:(h + 1) * dv].T)
    # layer 2 at the target
    h0 = u1t.copy()
    for g in range(H):
        np.dot(u1t, A[1, g].T, r2[g])
        for h in range(H):
            np.dot(np.ascontiguousarray(r2[g][:, h * dv:(h + 1) * dv]),
                   WV[0][h * dv:(h + 1) * dv], gam[g, h])
        for b in range(nb):
            Cb = C[b]
            pb = pos[b]
            prow = p2[g, b]
            _dots_u(r2[g, b], Cb, pb, P, prow)
            for h in range(H):
                _dots_u(gam[g, h, b], Cb, pb, P, gu)      # γ·u_k
                for j in range(T):                         # γ·z_j = Σ_k p1_jk γ·u_k
                    p1row = Pat1[h, b, j]
                    s = 0.0
                    for k in range(j + 1):
                        s += p1row[k] * gu[k]
                    prow[j] += s
            _softmax_inplace(prow, T)
            yr = y0[g, b]
            yr[:] = 0.0
            _mix_u(prow, Cb, pb, P, yr)
            for h in range(H):
                _combine(prow, Pat1[h, b], v)              # v_k = Σ_j p2_j p1_jk
                y = y1[g, h, b]
                y[:] = 0.0
                _mix_u(v, Cb, pb, P, y)
        m2[g] = y0[g]
        for h in range(H):
            m2[g][:, h * dv:(h + 1) * dv] += np.dot(y1[g, h], WV[0][h * dv:(h + 1) * dv].T)
        h0[:, g * dv:(g + 1) * dv] += np.dot(m2[g], WV[1][g * dv:(g + 1) * dv].T)
    return h0


@njit(cache=True, fastmath=_FM)
def _dots_u(vec, Cb, pb, P, out):
    """out[k] = vec · u_k for every token k of one sequence."""
    vc = vec[P:]
    for k in range(Cb.shape[0]):
        out[k] = _dot(vc, Cb[k]) + vec[pb[k]]


@njit(cache=True, fastmath=_FM)
def _mix_u(w, Cb, pb, P, out):
    """out (length d) += Σ_k w_k u_k over the tokens of one sequence."""
    oc = out[P:]
    for k in range(Cb.shape[0]):
        _axpy(oc, w[k], Cb[k])
        out[pb[k]] += w[k]


@njit(cache=True, fastmath=_FM)
def _combine(w, Pm, out):
    """out_k = Σ_{j ≥ k} w_j Pm[j, k] (weights of Σ_j w_j z_j on the tokens; Pm is causal)."""
    T = w.shape[0]
    for k in range(T):
        out[k] = 0.0
    for j in range(T):
        wj = w[j]
        row = Pm[j]
        for k in range(j + 1):
            out[k] += wj * row[k]


@njit(cache=True, fastmath=_FM)
def _backward_fused2(C, pos, P, A, WV, H, R1, Pat1, zt, ut, u1t, r2, gam, p2, y0, y1, m2,
                     dh0, dA, gWV, X1):
    nb, T, D = C.shape
    d = P + D
    dv = d // H
    t = T - 1
    dt = dh0.dtype
    du1t = dh0.copy()
    ds2 = np.empty((H, nb, T), dt)
    E = np.empty((H, H, nb, T), dt)      # e^{gh} · u_k
    Gm = np.empty((H, H, nb, T), dt)     # γ^{gh} · u_k
    Fh = np.empty((H, nb, T), dt)        # f^h · u_k
    dp = np.empty(T, dt)
    v = np.empty(T, dt)
    dgam = np.empty((nb, d), dt)
    Xr = np.empty((nb, d), dt)
    e_all = np.empty((H, nb, d), dt)
    for g in range(H):
        gs = slice(g * dv, (g + 1) * dv)
        dog = np.ascontiguousarray(dh0[:, gs])
        gWV[1][gs] += np.dot(dog.T, m2[g])
        dm = np.dot(dog, WV[1][gs])          # (nb, d)
        for h in range(H):
            hs = slice(h * dv, (h + 1) * dv)
            dmh = np.ascontiguousarray(dm[:, hs])
            np.dot(dmh, WV[0][hs], e_all[h])
            gWV[0][hs] += np.dot(dmh.T, y1[g, h])
        # layer-2 scores: ds2 and the pieces of dr, dγ
        Xr[:, :] = 0.0
        for b in range(nb):
            Cb = C[b]
            pb = pos[b]
            prow = p2[g, b]
            _dots_u(dm[b], Cb, pb, P, dp)
            for h in range(H):
                Eh = E[g, h, b]
                _dots_u(e_all[h, b], Cb, pb, P, Eh)
                _dots_u(gam[g, h, b], Cb, pb, P, Gm[g, h, b])
                for j in range(T):                          # e·z_j = Σ_k p1_jk e·u_k
                    p1row = Pat1[h, b, j]
                    s = 0.0
                    for k in range(j + 1):
                        s += p1row[k] * Eh[k]
                    dp[j] += s
            tot = 0.0
            for j in range(T):
                tot += prow[j] * dp[j]
            dsr = ds2[g, b]
            for j in range(T):
                dsr[j] = prow[j] * (dp[j] - tot)
            _mix_u(dsr, Cb, pb, P, Xr[b])
        dr = Xr.copy()
        for h in range(H):
            hs = slice(h * dv, (h + 1) * dv)
            dgam[:, :] = 0.0
            for b in range(nb):
                _combine(ds2[g, b], Pat1[h, b], v)          # dγ = Σ_j ds2_j z_j
                _mix_u(v, C[b], pos[b], P, dgam[b])
            dr[:, hs] += np.dot(dgam, WV[0][hs].T)
            gWV[0][hs] += np.dot(np.ascontiguousarray(r2[g][:, hs]).T, dgam)
        dA[1, g] += np.dot(dr.T, u1t)
        du1t += np.dot(dr, A[1, g])
    # u1t = u_t + concat_h W_V^h z^h_t
    for h in range(H):
        hs = slice(h * dv, (h + 1) * dv)
        duh = np.ascontiguousarray(du1t[:, hs])
        gWV[0][hs] += np.dot(duh.T, zt[h])
        f = np.dot(duh, WV[0][hs])
        for b in range(nb):
            _dots_u(f[b], C[b], pos[b], P, Fh[h, b])
    # layer 1: dp1_ik = dz^h_i · u_k, then the bilinear gradient
    for h in range(H):
        X1[:] = 0.0
        for b in range(nb):
            Cb = C[b]
            pb = pos[b]
            for i in range(T):
                prow = Pat1[h, b, i]
                tot = 0.0
                for k in range(i + 1):
                    s = 0.0
                    for g in range(H):
                        s += p2[g, b, i] * E[g, h, b, k] + ds2[g, b, i] * Gm[g, h, b, k]
                    if i == t:
                        s += Fh[h, b, k]
                    dp[k] = s
                    tot += prow[k] * s
                xi = X1[b, i]
                xc = xi[P:]
                for k in range(i + 1):
                    ds = prow[k] * (dp[k] - tot)
                    _axpy(xc, ds, Cb[k])
                    xi[pb[k]] += ds
        _gradW(X1, C, pos, P, dA[0, h])


# ----------------------------------------------------------------------------------------------
# whole-network entry points (one call per training step / evaluation chunk)
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _alloc_general(nl, H, nb, T, d, dt):
    n_all = max(nl - 1, 0)
    Us = np.empty((n_all, nb, T, d), dt)
    R = np.empty((n_all, H, nb, T, d), dt)
    Pat = np.empty((n_all, H, nb, T, T), dt)
    V = np.empty((n_all, nb, T, d), dt)
    rL = np.empty((H, nb, d), dt)
    pL = np.empty((H, nb, T), dt)
    mL = np.empty((H, nb, d), dt)
    utL = np.empty((nb, d), dt)
    return Us, R, Pat, V, rL, pL, mL, utL


@njit(cache=True, fastmath=_FM)
def _alloc_fused2(H, nb, T, D, d, dt):
    R1 = np.empty((H, nb, T, d), dt)
    Pat1 = np.empty((H, nb, T, T), dt)
    zt = np.empty((H, nb, d), dt)
    ut = np.empty((nb, d), dt)
    u1t = np.empty((nb, d), dt)
    r2 = np.empty((H, nb, d), dt)
    gam = np.empty((H, H, nb, d), dt)
    p2 = np.empty((H, nb, T), dt)
    y0 = np.empty((H, nb, d), dt)
    y1 = np.empty((H, H, nb, d), dt)
    m2 = np.empty((H, nb, d), dt)
    return R1, Pat1, zt, ut, u1t, r2, gam, p2, y0, y1, m2


def alloc_fused2_workspace(H, nb, T, D, d, M, dtype):
    """Workspace tuple for :func:`_step_fused2` (allocated once per batch size)."""
    e = lambda *shape: np.empty(shape, dtype)
    bufs = (e(H, nb, T, d), e(H, nb, T, T), e(H, nb, d), e(nb, d), e(nb, d),
            e(H, nb, d), e(H, H, nb, d), e(H, nb, T), e(H, nb, d), e(H, H, nb, d), e(H, nb, d))
    X1 = np.empty((nb, T, d), dtype)
    A = np.empty((2, H, d, d), dtype)
    dA = np.empty((2, H, d, d), dtype)
    Hs = np.empty((M + 1, nb, d), dtype)
    Z = np.empty((M, nb, d), dtype)
    return bufs + (X1, A, dA, Hs, Z)


@njit(cache=True, fastmath=_FM)
def _step_general(C, pos, P, WQ, WK, WV, MW, Mb, Wout, y, H,
                  gWQ, gWK, gWV, gMW, gMb, gWout):
    """Loss, number correct, and gradients written into g* (general path)."""
    nl = WQ.shape[0]
    nb, T, D = C.shape
    d = P + D
    dt = C.dtype
    A = _attn_matrices(WQ, WK, H)
    Us, R, Pat, V, rL, pL, mL, utL = _alloc_general(nl, H, nb, T, d, dt)
    h0 = _forward_general(C, pos, P, A, WV, H, Us, R, Pat, V, rL, pL, mL, utL)
    M = MW.shape[0]
    Hs = np.empty((M + 1, nb, d), dt)
    Z = np.empty((M, nb, d), dt)
    logits = _mlp_fwd(h0, MW, Mb, Wout, Hs, Z)
    loss, dlog, correct = _cross_entropy(logits, y)
    dh0 = _mlp_bwd(dlog, MW, Wout, Hs, Z, gMW, gMb, gWout)
    dA = np.zeros((nl, H, d, d), dt)
    gWV[:] = 0.0
    _backward_general(C, pos, P, A, WV, H, Us, R, Pat, V, rL, pL, mL, utL, dh0, dA, gWV)
    _qk_grads(WQ, WK, dA, H, gWQ, gWK)
    return loss, correct.sum()


@njit(cache=True, fastmath=_FM)
def _step_fused2(C, pos, P, WQ, WK, WV, MW, Mb, Wout, y, H,
                 gWQ, gWK, gWV, gMW, gMb, gWout, ws):
    """Loss, number correct, and gradients written into g* (fused two-layer path).

    ``ws`` is the workspace of :func:`_alloc_fused2` for this batch size (reused across steps:
    no large temporaries are allocated per step).
    """
    R1, Pat1, zt, ut, u1t, r2, gam, p2, y0, y1, m2, X1, A, dA, Hs, Z = ws
    nb, T, D = C.shape
    P + D
    kh = WQ.shape[1] // H
    for l in range(2):
        for h in range(H):
            np.dot(WK[l][h * kh:(h + 1) * kh].T, WQ[l][h * kh:(h + 1) * kh], A[l, h])
    h0 = _forward_fused2(C, pos, P, A, WV, H, R1, Pat1, zt, ut, u1t, r2, gam, p2, y0, y1,
                         m2)
    logits = _mlp_fwd(h0, MW, Mb, Wout, Hs, Z)
    loss, dlog, correct = _cross_entropy(logits, y)
    dh0 = _mlp_bwd(dlog, MW, Wout, Hs, Z, gMW, gMb, gWout)
    dA[:] = 0.0
    gWV[:] = 0.0
    _backward_fused2(C, pos, P, A, WV, H, R1, Pat1, zt, ut, u1t, r2, gam, p2, y0, y1, m2,
                     dh0, dA, gWV, X1)
    _qk_grads(WQ, WK, dA, H, gWQ, gWK)
    return loss, correct.sum()


@njit(cache=True, fastmath=_FM)
def _forward_eval_general(C, pos, P, WQ, WK, WV, MW, Mb, Wout, H):
    """Logits, the first layer's full patterns (empty if n_layers = 1) and the last layer's
    target-row patterns."""
    nl = WQ.shape[0]
    nb, T, D = C.shape
    d = P + D
    dt = C.dtype
    A = _attn_matrices(WQ, WK, H)
    Us, R, Pat, V, rL, pL, mL, utL = _alloc_general(nl, H, nb, T, d, dt)
    h0 = _forward_general(C, pos, P, A, WV, H, Us, R, Pat, V, rL, pL, mL, utL)
    M = MW.shape[0]
    Hs = np.empty((M + 1, nb, d), dt)
    Z = np.empty((M, nb, d), dt)
    logits = _mlp_fwd(h0, MW, Mb, Wout, Hs, Z)
    if nl > 1:
        first = Pat[0].copy()
    else:
        first = np.empty((H, nb, 0, 0), dt)
    return logits, first, pL


@njit(cache=True, fastmath=_FM)
def _forward_eval_fused2(C, pos, P, WQ, WK, WV, MW, Mb, Wout, H):
    nb, T, D = C.shape
    d = P + D
    dt = C.dtype
    A = _attn_matrices(WQ, WK, H)
    R1, Pat1, zt, ut, u1t, r2, gam, p2, y0, y1, m2 = _alloc_fused2(H, nb, T, D, d, dt)
    h0 = _forward_fused2(C, pos, P, A, WV, H, R1, Pat1, zt, ut, u1t, r2, gam, p2, y0, y1,
                         m2)
    M = MW.shape[0]
    Hs = np.empty((M + 1, nb, d), dt)
    Z = np.empty((M, nb, d), dt)
    logits = _mlp_fwd(h0, MW, Mb, Wout, Hs, Z)
    return logits, Pat1, p2
