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

from .._numerics import (_FM, _axpy, _cross_entropy, _dot, _gemm, _relu_layer,  # noqa: F401
                         _relu_layer_bwd, _relu_layer_bwd_to, _relu_layer_to, _vexp)


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
#
# One training step in phases, each a kernel of its own (``minimal bench roofline`` times them):
# the bilinear matrices A; layer 1 (content queries, causal patterns, the target's output);
# layer 2 at the target; the MLP and the loss; then the backward of each in reverse and the
# query/key gradients.  Products go to BLAS (``_gemm``: sub-blocks, accumulation in place);
# all buffers live in a workspace allocated once per batch size.
#
# Layer 1 splits A into its blocks (content c, positions p; token u_i = e_{p_i} ⊕ c_i):
#     s_ij = u_jᵀ A u_i = c_j·(A_cc c_i + A_cp[:, p_i]) + A_pc[p_j]·c_i + A_pp[p_j, p_i],
# so the one large product is C A_ccᵀ (content × content), and per sequence two small
# products give every score (the positions of a sequence are consecutive, p_0 … p_0+T−1, so
# its rows of A_pc are one block).  The gradient has the same blocks:
#     ∂ℒ/∂A = Σ_{b,i,k} ds_ik u_k u_iᵀ:  A_cc ← X1cᵀ C,  A_cp[:, p_i] ← X1c_i,  A_pc[p_k] ← Y_k,
#     A_pp[p_k, p_i] ← ds_ik,  with X1c_i = Σ_k ds_ik c_k and Y_k = Σ_i ds_ik c_i.
# The content is copied once per step into Cp, padded with zeros to Dp (a multiple of 16)
# columns: the BLAS kernels run faster on such shapes, and every per-token dot or axpy is then
# a whole number of SIMD vectors.  A d-vector v that meets tokens (v·u_k, Σ_k w_k u_k) is kept
# in a row of width dpad = P + Dp (the extra entries zero), so that its content part v[P:P+Dp]
# lines up with the padded content.

#: names of the workspace arrays, in order (see :func:`alloc_fused2_workspace`)
WS_FUSED2 = ("Cp", "RC", "Pat1", "DS", "X1c", "Y1", "zt", "u1t", "r2", "gam", "GU", "p2",
             "y0", "y1", "m2", "A", "dA", "Accp", "APC", "dAcc", "accP", "Hs", "Z",
             "EU", "ds2", "Fu", "vec", "vec_h", "sq", "sq_i", "ACP", "APP", "accC", "dgam",
             "logits")


_WS = {name: i for i, name in enumerate(WS_FUSED2)}
_I_PAT1, _I_P2, _I_A, _I_DA = _WS["Pat1"], _WS["p2"], _WS["A"], _WS["dA"]
_I_HS, _I_Z, _I_VEC, _I_LOGITS = _WS["Hs"], _WS["Z"], _WS["vec"], _WS["logits"]


def _pad16(n):
    return max(16, -(-n // 16) * 16)


def alloc_fused2_workspace(H, nb, T, D, d, M, L, dtype):
    """Workspace tuple of :func:`_step_fused2` and the phase kernels (allocated once per batch
    size and reused, so that a step allocates no large temporaries)."""
    P = d - D
    Dp = _pad16(D)
    dp = _pad16(P + Dp)                  # rows 64-byte aligned for the BLAS kernels
    nbk = min(nb, 16)
    shapes = {"Cp": (nb, T, Dp), "RC": (H, nbk, T, Dp), "Pat1": (H, nb, T, T),
              "DS": (T, T), "X1c": (min(nb, max(1, 136 // T)), T, Dp), "Y1": (T, Dp),
              "zt": (H, nb, dp),
              "u1t": (nb, d), "r2": (H, nb, dp), "gam": (H, H, nb, dp), "GU": (H, H, nb, T),
              "p2": (H, nb, T), "y0": (H, nb, dp), "y1": (H, H, nb, dp), "m2": (H, nb, d),
              "A": (2, H, d, d), "dA": (2, H, d, d), "Accp": (H, Dp, Dp),
              "APC": (H, max(P, 1), Dp), "dAcc": (Dp, Dp), "accP": (max(P, 1), Dp),
              "Hs": (M + 1, nb, d), "Z": (max(M, 1), nb, d), "EU": (H, H, nb, T),
              "ds2": (H, nb, T), "Fu": (H, nb, T), "vec": (8, nb, dp), "vec_h": (H, nb, dp),
              "sq": (T * T,), "ACP": (H, max(P, 1), Dp),
              "APP": (H, max(P, 1), max(P, 1)),
              "accC": (max(P, 1), Dp), "dgam": (H, nb, dp), "logits": (nb, L)}
    out = [np.zeros(T * T, np.int32) if n == "sq_i" else np.zeros(shapes[n], dtype)
           for n in WS_FUSED2]
    return tuple(out)


@njit(cache=True, fastmath=_FM)
def _pad_content(C, Cp):
    """Cp[b, t, :D] = C[b, t] (the padding columns of Cp stay zero)."""
    nb, T, D = C.shape
    for b in range(nb):
        for t in range(T):
            cp = Cp[b, t]
            c = C[b, t]
            for e in range(D):
                cp[e] = c[e]


@njit(cache=True, fastmath=_FM)
def _softmax_tri(S, E, scratch):
    """Causal softmax of every row of the T × T block S (row i uses entries j ≤ i), in place;
    the exponentials of the whole block are one call of the SIMD exp ``_vexp``.  Masked
    entries come out exactly 0.  E, scratch: work arrays of length T·T."""
    T = S.shape[0]
    for i in range(T):
        row = S[i]
        mx = row[0]
        for j in range(1, i + 1):
            if row[j] > mx:
                mx = row[j]
        for j in range(i + 1):
            row[j] -= mx
        for j in range(i + 1, T):
            row[j] = -100.0
    _vexp(S.reshape(T * T), 0.0, E, scratch)
    for i in range(T):
        row = S[i]
        o = i * T
        tot = E[o]
        for j in range(1, i + 1):
            tot += E[o + j]
        inv = 1.0 / tot
        for j in range(i + 1):
            row[j] = E[o + j] * inv
        for j in range(i + 1, T):
            row[j] = 0.0


@njit(cache=True, fastmath=_FM)
def _softmax_row(x, E, scratch):
    """Max-subtracted softmax of the vector x in place (SIMD exp; E, scratch: work arrays of
    at least len(x))."""
    n = x.shape[0]
    mx = x[0]
    for j in range(1, n):
        if x[j] > mx:
            mx = x[j]
    e = E[:n]
    _vexp(x, mx, e, scratch[:n])
    tot = e[0]
    for j in range(1, n):
        tot += e[j]
    inv = 1.0 / tot
    for j in range(n):
        x[j] = e[j] * inv


@njit(cache=True, fastmath=_FM)
def _tok_dots(v, Cb, pb, P, out):
    """out[k] = v · u_k for the tokens of one sequence (v: a row of width P + Dp)."""
    vc = v[P:P + Cb.shape[1]]
    for k in range(Cb.shape[0]):
        out[k] = _dot(vc, Cb[k]) + v[pb[k]]


@njit(cache=True, fastmath=_FM)
def _tok_mix(w, Cb, pb, P, n, out):
    """out = Σ_{k<n} w_k u_k over the tokens of one sequence (overwrites the row out, of width
    P + Dp)."""
    for e in range(P):
        out[e] = 0.0
    oc = out[P:P + Cb.shape[1]]
    row = Cb[0]
    a = w[0]
    for e in range(oc.shape[0]):
        oc[e] = a * row[e]
    for k in range(1, n):
        _axpy(oc, w[k], Cb[k])
    for k in range(n):
        out[pb[k]] += w[k]


@njit(cache=True, fastmath=_FM)
def _tok_dots2(v, w, Cb, pb, P, out_v, out_w):
    """:func:`_tok_dots` for two vectors in one pass over the tokens."""
    Dp = Cb.shape[1]
    vc = v[P:P + Dp]
    wc = w[P:P + Dp]
    for k in range(Cb.shape[0]):
        c = Cb[k]
        sv = vc[0] * c[0]
        sw = wc[0] * c[0]
        for e in range(1, Dp):
            sv += vc[e] * c[e]
            sw += wc[e] * c[e]
        out_v[k] = sv + v[pb[k]]
        out_w[k] = sw + w[pb[k]]


@njit(cache=True, fastmath=_FM)
def _tok_mix2(a, b, Cb, pb, P, n, out_a, out_b):
    """:func:`_tok_mix` for two weight vectors in one pass over the tokens."""
    Dp = Cb.shape[1]
    for e in range(P):
        out_a[e] = 0.0
        out_b[e] = 0.0
    oa = out_a[P:P + Dp]
    ob = out_b[P:P + Dp]
    c = Cb[0]
    a0 = a[0]
    b0 = b[0]
    for e in range(Dp):
        oa[e] = a0 * c[e]
        ob[e] = b0 * c[e]
    for k in range(1, n):
        c = Cb[k]
        ak = a[k]
        bk = b[k]
        for e in range(Dp):
            oa[e] += ak * c[e]
            ob[e] += bk * c[e]
    for k in range(n):
        out_a[pb[k]] += a[k]
        out_b[pb[k]] += b[k]


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
def _fused2_form_A(WQ, WK, H, A):
    """A[l, h] = W_K^{(l,h)ᵀ} W_Q^{(l,h)} (2 layers)."""
    kh = WQ.shape[1] // H
    for l in range(2):
        for h in range(H):
            _gemm(True, False, 1.0, WK[l][h * kh:(h + 1) * kh], WQ[l][h * kh:(h + 1) * kh],
                  0.0, A[l, h])


@njit(cache=True, fastmath=_FM)
def _fused2_layer1(C, pos, P, WV, H, ws):
    """Layer 1: padded content, content queries, causal patterns, and the layer-1 output at
    the target u1t = u_t + Σ_h W_V^h z^h_t with z^h_t = Σ_k p^h_tk u_k."""
    (Cp, RC, Pat1, DS, X1c, Y1, zt, u1t, r2, gam, GU, p2, y0, y1, m2, A, dA, Accp, APC,
     dAcc, accP, Hs, Z, EU, ds2, Fu, vec, vec_h, sq, sq_i, ACP, APP, accC, dgam, logits) = ws
    nb, T, D = C.shape
    d = P + D
    Dp = Cp.shape[2]
    dv = d // H
    t = T - 1
    for h in range(H):                        # the blocks of A (padded / transposed copies)
        Ah = A[0, h]
        for e in range(D):
            for f in range(D):
                Accp[h, e, f] = Ah[P + e, P + f]
        for p in range(P):
            for f in range(D):
                APC[h, p, f] = Ah[p, P + f]
                ACP[h, p, f] = Ah[P + f, p]
            for q in range(P):
                APP[h, p, q] = Ah[q, p]
    Cf = Cp.reshape(nb * T, Dp)
    nbk = RC.shape[1]                         # sequences per block (their data stay in cache)
    for s0 in range(0, nb, nbk):
        s1 = min(s0 + nbk, nb)
        _pad_content(C[s0:s1], Cp[s0:s1])
        for h in range(H):
            Rh = RC[h]
            _gemm(False, True, 1.0, Cf[s0 * T:s1 * T], Accp[h], 0.0,
                  Rh[:s1 - s0].reshape((s1 - s0) * T, Dp))              # A_cc c_i
            for b in range(s0, s1):
                Rb = Rh[b - s0]
                for i in range(T):
                    r = Rb[i]
                    a = ACP[h, pos[b, i]]
                    for e in range(Dp):
                        r[e] += a[e]                                    # + A_cp[:, p_i]
                S = Pat1[h, b]
                p0 = pos[b, 0]
                _gemm(False, True, 1.0, Rb, Cp[b], 0.0, S)              # c_j·rc_i
                _gemm(False, True, 1.0, Cp[b], APC[h, p0:p0 + T], 1.0, S)   # + A_pc[p_j]·c_i
                for i in range(T):
                    a = APP[h, pos[b, i]]
                    row = S[i]
                    for j in range(i + 1):
                        row[j] += a[p0 + j]                             # + A_pp[p_j, p_i]
                _softmax_tri(S, sq, sq_i)
                _tok_mix(S[t], Cp[b], pos[b], P, T, zt[h, b])
    for b in range(nb):
        row = u1t[b]
        for e in range(P):
            row[e] = 0.0
        row[pos[b, t]] = 1.0
        c = C[b, t]
        for e in range(D):
            row[P + e] = c[e]
    for h in range(H):
        _gemm(False, True, 1.0, zt[h][:, :d], WV[0][h * dv:(h + 1) * dv], 1.0,
              u1t[:, h * dv:(h + 1) * dv])


@njit(cache=True, fastmath=_FM)
def _fused2_layer2(pos, P, WV, H, ws):
    """Layer 2 at the target only; leaves h0 = u1t + Σ_g W_V2^g m2^g.

    Keys and values of layer 2 are u1_j = u_j + Σ_h W_V^h z^h_j; every use of z^h_j is a
    weighted sum over j, rewritten on the tokens: Σ_j w_j z^h_j = Σ_k (Σ_j w_j p^h_jk) u_k."""
    (Cp, RC, Pat1, DS, X1c, Y1, zt, u1t, r2, gam, GU, p2, y0, y1, m2, A, dA, Accp, APC,
     dAcc, accP, Hs, Z, EU, ds2, Fu, vec, vec_h, sq, sq_i, ACP, APP, accC, dgam, logits) = ws
    nb, d = u1t.shape
    T = Cp.shape[1]
    dv = d // H
    wrow = sq[:T]
    ru = np.empty(T, u1t.dtype)
    h0 = Hs[0]                              # the MLP's input
    for b in range(nb):
        for e in range(d):
            h0[b, e] = u1t[b, e]
    for g in range(H):
        _gemm(False, True, 1.0, u1t, A[1, g], 0.0, r2[g][:, :d])
        for h in range(H):
            _gemm(False, False, 1.0, r2[g][:, h * dv:(h + 1) * dv], WV[0][h * dv:(h + 1) * dv],
                  0.0, gam[g, h][:, :d])
        for b in range(nb):
            Cb = Cp[b]
            pb = pos[b]
            prow = p2[g, b]
            _tok_dots2(r2[g, b], gam[g, 0, b], Cb, pb, P, prow, GU[g, 0, b])   # r·u_k, γ·u_k
            for h in range(1, H):
                _tok_dots(gam[g, h, b], Cb, pb, P, GU[g, h, b])
            for h in range(H):
                gu = GU[g, h, b]
                P1 = Pat1[h, b]
                for j in range(T):                             # γ·z_j = Σ_k p1_jk γ·u_k
                    s = P1[j, 0] * gu[0]
                    for k in range(1, j + 1):
                        s += P1[j, k] * gu[k]
                    prow[j] += s
            _softmax_row(prow, ru, sq_i)
            _combine(prow, Pat1[0, b], wrow)                  # v_k = Σ_j p2_j p1_jk
            _tok_mix2(prow, wrow, Cb, pb, P, T, y0[g, b], y1[g, 0, b])
            for h in range(1, H):
                _combine(prow, Pat1[h, b], wrow)
                _tok_mix(wrow, Cb, pb, P, T, y1[g, h, b])
        mg = m2[g]
        for b in range(nb):
            for e in range(d):
                mg[b, e] = y0[g, b, e]
        for h in range(H):
            _gemm(False, True, 1.0, y1[g, h][:, :d], WV[0][h * dv:(h + 1) * dv], 1.0,
                  mg[:, h * dv:(h + 1) * dv])
        _gemm(False, True, 1.0, mg, WV[1][g * dv:(g + 1) * dv], 1.0, h0[:, g * dv:(g + 1) * dv])


@njit(cache=True, fastmath=_FM)
def _fused2_mlp_logits(MW, Mb, Wout, ws):
    """The MLP classifier on h0 (= Hs[0]): logits into ws 'logits'."""
    Hs, Z, logits = ws[_I_HS], ws[_I_Z], ws[_I_LOGITS]
    M = MW.shape[0]
    for m in range(M):
        _relu_layer_to(Hs[m], MW[m], Mb[m], Z[m], Hs[m + 1])
    _gemm(False, True, 1.0, Hs[M], Wout, 0.0, logits)
    return logits


@njit(cache=True, fastmath=_FM)
def _fused2_mlp_loss(MW, Mb, Wout, y, ws):
    """MLP classifier on h0 and the cross-entropy; returns (loss, dlogits, n_correct)."""
    loss, dlog, correct = _cross_entropy(_fused2_mlp_logits(MW, Mb, Wout, ws), y)
    return loss, dlog, correct.sum()


@njit(cache=True, fastmath=_FM)
def _fused2_mlp_bwd(dlog, MW, Wout, gMW, gMb, gWout, ws):
    """Backward of the readout and the MLP; returns ∂ℒ/∂h0 (a workspace row block)."""
    Hs, Z, vec = ws[_I_HS], ws[_I_Z], ws[_I_VEC]
    M = MW.shape[0]
    d = Hs.shape[2]
    _gemm(True, False, 1.0, dlog, Hs[M], 0.0, gWout)
    dh = vec[3][:, :d]
    dx = vec[4][:, :d]
    _gemm(False, False, 1.0, dlog, Wout, 0.0, dh)
    for m in range(M - 1, -1, -1):
        gMb[m] = _relu_layer_bwd_to(dh, Z[m], Hs[m], MW[m], gMW[m], dx)
        dh, dx = dx, dh
    return dh


@njit(cache=True, fastmath=_FM)
def _fused2_layer2_bwd(pos, P, WV, H, dh0, gWV, ws):
    """Backward of layer 2 (and of the value path into the target's layer-1 output); leaves
    du1t in vec[5], ∂ℒ/∂A_2 in dA[1], and e·u_k, ds2 for the layer-1 backward."""
    (Cp, RC, Pat1, DS, X1c, Y1, zt, u1t, r2, gam, GU, p2, y0, y1, m2, A, dA, Accp, APC,
     dAcc, accP, Hs, Z, EU, ds2, Fu, vec, vec_h, sq, sq_i, ACP, APP, accC, dgam, logits) = ws
    nb, d = u1t.shape
    T = Cp.shape[1]
    dv = d // H
    dm, Xr, du1t = vec[0], vec[1], vec[5]
    dp = np.empty(T, u1t.dtype)
    wrow = sq[:T]
    for b in range(nb):
        for e in range(d):
            du1t[b, e] = dh0[b, e]
    for g in range(H):
        gs = slice(g * dv, (g + 1) * dv)
        dog = dh0[:, gs]
        _gemm(True, False, 1.0, dog, m2[g], 1.0, gWV[1][gs])
        _gemm(False, False, 1.0, dog, WV[1][gs], 0.0, dm[:, :d])
        for h in range(H):
            hs = slice(h * dv, (h + 1) * dv)
            _gemm(False, False, 1.0, dm[:, hs], WV[0][hs], 0.0, vec_h[h][:, :d])   # e_h
            _gemm(True, False, 1.0, dm[:, hs], y1[g, h][:, :d], 1.0, gWV[0][hs])
        for b in range(nb):
            Cb = Cp[b]
            pb = pos[b]
            prow = p2[g, b]
            _tok_dots2(dm[b], vec_h[0, b], Cb, pb, P, dp, EU[g, 0, b])   # dm·u_k, e·u_k
            for h in range(1, H):
                _tok_dots(vec_h[h, b], Cb, pb, P, EU[g, h, b])
            for h in range(H):
                eu = EU[g, h, b]
                P1 = Pat1[h, b]
                for j in range(T):                             # e·z_j = Σ_k p1_jk e·u_k
                    s = P1[j, 0] * eu[0]
                    for k in range(1, j + 1):
                        s += P1[j, k] * eu[k]
                    dp[j] += s
            tot = prow[0] * dp[0]
            for j in range(1, T):
                tot += prow[j] * dp[j]
            dsr = ds2[g, b]
            for j in range(T):
                dsr[j] = prow[j] * (dp[j] - tot)
            _combine(dsr, Pat1[0, b], wrow)                   # dγ = Σ_j ds2_j z_j
            _tok_mix2(dsr, wrow, Cb, pb, P, T, Xr[b], dgam[0, b])
            for h in range(1, H):
                _combine(dsr, Pat1[h, b], wrow)
                _tok_mix(wrow, Cb, pb, P, T, dgam[h, b])
        dr = Xr[:, :d]                                         # ∂ℒ/∂r2
        for h in range(H):
            hs = slice(h * dv, (h + 1) * dv)
            _gemm(False, True, 1.0, dgam[h][:, :d], WV[0][hs], 1.0, dr[:, hs])
            _gemm(True, False, 1.0, r2[g][:, hs], dgam[h][:, :d], 1.0, gWV[0][hs])
        _gemm(True, False, 1.0, dr, u1t, 1.0, dA[1, g])
        _gemm(False, False, 1.0, dr, A[1, g], 1.0, du1t[:, :d])


@njit(cache=True, fastmath=_FM)
def _fused2_layer1_bwd(C, pos, P, WV, H, gWV, ws):
    """Backward of layer 1: ∂ℒ/∂p1_ik = ∂ℒ/∂z^h_i · u_k, the causal-softmax backward ds, and
    ∂ℒ/∂A_1 block by block (see the section comment)."""
    (Cp, RC, Pat1, DS, X1c, Y1, zt, u1t, r2, gam, GU, p2, y0, y1, m2, A, dA, Accp, APC,
     dAcc, accP, Hs, Z, EU, ds2, Fu, vec, vec_h, sq, sq_i, ACP, APP, accC, dgam, logits) = ws
    nb, T, D = C.shape
    d = P + D
    Dp = Cp.shape[2]
    dv = d // H
    t = T - 1
    du1t, f = vec[5], vec[6]
    dp = np.empty(T, u1t.dtype)
    for h in range(H):
        hs = slice(h * dv, (h + 1) * dv)
        _gemm(True, False, 1.0, du1t[:, hs], zt[h][:, :d], 1.0, gWV[0][hs])
        _gemm(False, False, 1.0, du1t[:, hs], WV[0][hs], 0.0, f[:, :d])
        for b in range(nb):
            _tok_dots(f[b], Cp[b], pos[b], P, Fu[h, b])
    Cf = Cp.reshape(nb * T, Dp)
    nbk = X1c.shape[0]                     # sequences per block of the A_cc product
    for h in range(H):
        dAh = dA[0, h]
        accP[:, :] = 0.0                   # A_pc rows (Y_k at p_k)
        accC[:, :] = 0.0                   # A_cp columns (X1c_i at p_i), transposed
        for s0 in range(0, nb, nbk):
            s1 = min(s0 + nbk, nb)
            for b in range(s0, s1):
                P1 = Pat1[h, b]
                S = DS
                for i in range(T):
                    prow = P1[i]
                    tot = 0.0
                    for k in range(i + 1):
                        s = 0.0
                        for g in range(H):
                            s += p2[g, b, i] * EU[g, h, b, k] + ds2[g, b, i] * GU[g, h, b, k]
                        if i == t:
                            s += Fu[h, b, k]
                        dp[k] = s
                        tot += prow[k] * s
                    srow = S[i]
                    for k in range(i + 1):
                        srow[k] = prow[k] * (dp[k] - tot)
                    for k in range(i + 1, T):
                        srow[k] = 0.0
                Xb = X1c[b - s0]
                _gemm(False, False, 1.0, S, Cp[b], 0.0, Xb)           # X1c_i = Σ_k ds_ik c_k
                _gemm(True, False, 1.0, S, Cp[b], 0.0, Y1)            # Y_k = Σ_i ds_ik c_i
                p0 = pos[b, 0]
                for k in range(T):
                    a = accP[p0 + k]
                    yk = Y1[k]
                    ac = accC[p0 + k]
                    xk = Xb[k]
                    for e in range(Dp):
                        a[e] += yk[e]
                        ac[e] += xk[e]
                for i in range(T):                                     # A_pp[p_k, p_i]
                    pi = pos[b, i]
                    for k in range(i + 1):
                        dAh[pos[b, k], pi] += S[i, k]
            # A_cc: blocks of a few sequences keep the inner dimension of this product
            # short (OpenBLAS ran it 1.5× slower with all 2,176 tokens at once)
            _gemm(True, False, 1.0, X1c[:s1 - s0].reshape((s1 - s0) * T, Dp),
                  Cf[s0 * T:s1 * T], 0.0 if s0 == 0 else 1.0, dAcc)
        for e in range(D):
            for f2 in range(D):
                dAh[P + e, P + f2] += dAcc[e, f2]
        for p in range(P):
            a = accP[p]
            for e in range(D):
                dAh[p, P + e] += a[e]
        for e in range(D):
            for p in range(P):
                dAh[P + e, p] += accC[p, e]


@njit(cache=True, fastmath=_FM)
def _step_fused2(C, pos, P, WQ, WK, WV, MW, Mb, Wout, y, H,
                 gWQ, gWK, gWV, gMW, gMb, gWout, ws):
    """Loss, number correct, and gradients written into g* (fused two-layer path, in the
    phases above; ``ws`` from :func:`alloc_fused2_workspace`)."""
    A, dA = ws[_I_A], ws[_I_DA]
    _fused2_form_A(WQ, WK, H, A)
    _fused2_layer1(C, pos, P, WV, H, ws)
    _fused2_layer2(pos, P, WV, H, ws)
    loss, dlog, n_correct = _fused2_mlp_loss(MW, Mb, Wout, y, ws)
    dh0 = _fused2_mlp_bwd(dlog, MW, Wout, gMW, gMb, gWout, ws)
    dA[:] = 0.0
    gWV[:] = 0.0
    _fused2_layer2_bwd(pos, P, WV, H, dh0, gWV, ws)
    _fused2_layer1_bwd(C, pos, P, WV, H, gWV, ws)
    _qk_grads(WQ, WK, dA, H, gWQ, gWK)
    return loss, n_correct


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
def _forward_eval_fused2(C, pos, P, WQ, WK, WV, MW, Mb, Wout, H, ws):
    """Logits, layer-1 patterns and layer-2 target-row patterns (fused path, workspace ws)."""
    _fused2_form_A(WQ, WK, H, ws[_I_A])
    _fused2_layer1(C, pos, P, WV, H, ws)
    _fused2_layer2(pos, P, WV, H, ws)
    logits = _fused2_mlp_logits(MW, Mb, Wout, ws)
    return logits.copy(), ws[_I_PAT1].copy(), ws[_I_P2].copy()
