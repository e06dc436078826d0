"""Numba forward and backward passes of the configurable transformer (docs/transformer.md).

One pass keeps every activation in a flat buffer (offsets from :mod:`.layout`).  A clamp is a
flat boolean mask and a flat value array over the same buffer: right after an activation is
computed, masked elements are replaced (a ← where(mask, value, a)).  The backward pass writes
every activation's gradient into a second flat buffer, adds gradients injected from other passes
(``inj``, where ``iflag`` says so), then splits it: the masked part becomes the gradient of the
clamp value (``dval``) and stops, the rest flows upstream.

``rows`` restricts the *last* layer (and the readout) to the query rows that carry a loss: keys
and values are still computed at every position, scores, patterns, head outputs and logits only
at those rows.  The wrapper passes all rows whenever activations are recorded.

Static configuration travels in two small arrays (``ci`` ints, ``cf`` floats, indices below);
absent parameters are empty arrays.  Kernels are dtype-generic: float32 for training, float64 for
the gradient checks.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._numerics import _FM, _vexp
from .layout import (ATTN_OUT, EMBED, K, LN1, LN2, LNF, LOGITS, MID, MLP_OUT, MLP_POST,
                     MLP_PRE, OUT, PATTERN, PRAW, Q, RHID, RPRE, SCORES, ST1, ST2, STF, V, Z)

# indices into ci
CI_LAYERS, CI_H, CI_DH, CI_LN, CI_MLP, CI_GELU, CI_POS, CI_P1, CI_LINEAR, CI_CAUSAL, CI_VOCAB, \
    CI_DIN, CI_INPROJ, CI_INBIAS, CI_UBIAS, CI_NREAD, CI_D, CI_DM, CI_C, CI_WO, CI_SMEAR = range(21)
N_CI = 21
POS_NONE, POS_ONEHOT, POS_LEARNED, POS_ROPE = 0, 1, 2, 3
# indices into cf
CF_EPS, CF_SCALE, CF_GAMMA = 0, 1, 2

_SQRT1_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------

@njit(cache=True)
def _v3(buf, o, a, b, c):
    return buf[o:o + a * b * c].reshape((a, b, c))


@njit(cache=True)
def _v4(buf, o, a, b, c, d):
    return buf[o:o + a * b * c * d].reshape((a, b, c, d))


@njit(cache=True)
def _clamp(buf, cmask, cval, o, size):
    for e in range(o, o + size):
        if cmask[e]:
            buf[e] = cval[e]


@njit(cache=True)
def _finish(dbuf, inj, cmask, dval, o, size, injected, clamped):
    """Add the injected gradient, then split off the clamped part (see the module docstring)."""
    if injected:
        for e in range(o, o + size):
            dbuf[e] += inj[e]
    if clamped:
        for e in range(o, o + size):
            if cmask[e]:
                dval[e] = dbuf[e]
                dbuf[e] = 0.0


@njit(cache=True)
def _rows_of(A, rows, full):
    """(n·|rows|, w) copy of the selected rows of A (n, T, w); a view when ``full``."""
    n, T, w = A.shape
    if full:
        return A.reshape((n * T, w))
    nr = rows.shape[0]
    out = np.empty((n * nr, w), A.dtype)
    for b in range(n):
        for r in range(nr):
            out[b * nr + r] = A[b, rows[r]]
    return out


@njit(cache=True)
def _put_rows(M, rows, full, A):
    """A[b, rows[r]] = M[b·|rows| + r] (nothing to do when ``full``: M is A's view)."""
    if full:
        return
    n = A.shape[0]
    nr = rows.shape[0]
    for b in range(n):
        for r in range(nr):
            A[b, rows[r]] = M[b * nr + r]


@njit(cache=True, fastmath=_FM)
def _ln_fwd(X, w, bias, eps, Y, ST, rows):
    n, T, d = X.shape
    for b in range(n):
        for r in range(rows.shape[0]):
            t = rows[r]
            x = X[b, t]
            mu = 0.0
            for e in range(d):
                mu += x[e]
            mu /= d
            var = 0.0
            for e in range(d):
                var += (x[e] - mu) * (x[e] - mu)
            rs = 1.0 / math.sqrt(var / d + eps)
            y = Y[b, t]
            for e in range(d):
                y[e] = (x[e] - mu) * rs * w[e] + bias[e]
            ST[b, t, 0] = mu
            ST[b, t, 1] = rs


@njit(cache=True, fastmath=_FM)
def _ln_bwd(dY, X, ST, w, dX, gw, gb, rows):
    """dX[rows] = LayerNorm backward of dY (written); gw, gb accumulated."""
    n, T, d = X.shape
    xh = np.empty(d, X.dtype)
    dxh = np.empty(d, X.dtype)
    for b in range(n):
        for r in range(rows.shape[0]):
            t = rows[r]
            mu = ST[b, t, 0]
            rs = ST[b, t, 1]
            m1 = 0.0
            m2 = 0.0
            dy = dY[b, t]
            x = X[b, t]
            for e in range(d):
                xh[e] = (x[e] - mu) * rs
                dxh[e] = dy[e] * w[e]
                m1 += dxh[e]
                m2 += dxh[e] * xh[e]
                gw[e] += dy[e] * xh[e]
                gb[e] += dy[e]
            m1 /= d
            m2 /= d
            dx = dX[b, t]
            for e in range(d):
                dx[e] = rs * (dxh[e] - m1 - xh[e] * m2)


@njit(cache=True, fastmath=_FM)
def _gelu(x):
    return 0.5 * x * (1.0 + math.erf(x * _SQRT1_2))


@njit(cache=True, fastmath=_FM)
def _gelu_grad(x):
    return 0.5 * (1.0 + math.erf(x * _SQRT1_2)) + x * math.exp(-0.5 * x * x) * _INV_SQRT_2PI


# ----------------------------------------------------------------------------------------------
# forward
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _embed_fwd(ci, tokens, X, pos, W_E, W_in, b_in, W_pos, E):
    n, T, d = E.shape
    P1 = ci[CI_P1]
    vocab, din = ci[CI_VOCAB], ci[CI_DIN]
    de = d - P1
    proj = din > 0 and ci[CI_INPROJ] != 0
    if proj:
        XW = np.dot(X.reshape((n * T, din)), W_in)
    else:
        XW = np.empty((0, de), E.dtype)
    for b in range(n):
        for t in range(T):
            row = E[b, t]
            for e in range(d):
                row[e] = 0.0
            p = pos[b, t]
            if P1 > 0 and 0 <= p < P1:
                row[p] = 1.0
            tk = tokens[b, t]
            if vocab > 0 and tk >= 0:
                src = W_E[tk]
                for e in range(de):
                    row[P1 + e] += src[e]
            elif din > 0:
                if proj:
                    src = XW[b * T + t]
                    for e in range(de):
                        row[P1 + e] += src[e]
                    if ci[CI_INBIAS]:
                        for e in range(de):
                            row[P1 + e] += b_in[e]
                else:
                    src = X[b, t]
                    for e in range(de):
                        row[P1 + e] += src[e]
            if ci[CI_POS] == POS_LEARNED:
                src = W_pos[p]
                for e in range(d):
                    row[e] += src[e]


@njit(cache=True, fastmath=_FM)
def _qkv_weights(W_Q, W_K, W_V, l):
    """(d, 3 H dh) concatenation of layer l's query, key and value maps."""
    H, d, dh = W_Q.shape[1], W_Q.shape[2], W_Q.shape[3]
    HD = H * dh
    Wc = np.empty((d, 3 * HD), W_Q.dtype)
    for i in range(d):
        for h in range(H):
            for e in range(dh):
                Wc[i, h * dh + e] = W_Q[l, h, i, e]
                Wc[i, HD + h * dh + e] = W_K[l, h, i, e]
                Wc[i, 2 * HD + h * dh + e] = W_V[l, h, i, e]
    return Wc


@njit(cache=True, fastmath=_FM)
def _split_qkv(G, pos, cos, sin, rope, Qv, Kv, Vv):
    """Scatter the (nT, 3 H dh) projection into (n, H, T, dh) arrays, rotating q and k."""
    n, H, T, dh = Qv.shape
    HD = H * dh
    half = dh // 2
    for b in range(n):
        for t in range(T):
            g = G[b * T + t]
            p = pos[b, t]
            for h in range(H):
                base = h * dh
                if rope:
                    for m in range(half):
                        c = cos[p, m]
                        s = sin[p, m]
                        q0 = g[base + 2 * m]
                        q1 = g[base + 2 * m + 1]
                        Qv[b, h, t, 2 * m] = q0 * c - q1 * s
                        Qv[b, h, t, 2 * m + 1] = q0 * s + q1 * c
                        k0 = g[HD + base + 2 * m]
                        k1 = g[HD + base + 2 * m + 1]
                        Kv[b, h, t, 2 * m] = k0 * c - k1 * s
                        Kv[b, h, t, 2 * m + 1] = k0 * s + k1 * c
                else:
                    for e in range(dh):
                        Qv[b, h, t, e] = g[base + e]
                        Kv[b, h, t, e] = g[HD + base + e]
                for e in range(dh):
                    Vv[b, h, t, e] = g[2 * HD + base + e]


@njit(cache=True, fastmath=_FM)
def _shear_fwd(X, gamma):
    """Momentum shear along the sequence axis, in place: x̂_t = (1+γ) x_t − γ x_{t−1} for
    t ≥ 1, x̂_0 = x_0 (x_{−1} := x_0).  Descending t reads every x_{t−1} before it changes."""
    n, H, T, dh = X.shape
    a = X.dtype.type(1.0 + gamma)
    g = X.dtype.type(gamma)
    for b in range(n):
        for h in range(H):
            for t in range(T - 1, 0, -1):
                for e in range(dh):
                    X[b, h, t, e] = a * X[b, h, t, e] - g * X[b, h, t - 1, e]


@njit(cache=True, fastmath=_FM)
def _shear_bwd(dY, gamma):
    """Transpose of :func:`_shear_fwd`: dx_t = c_t dŷ_t − γ dŷ_{t+1} (c_0 = 1, else 1+γ)."""
    n, H, T, dh = dY.shape
    dX = np.empty_like(dY)
    a = dY.dtype.type(1.0 + gamma)
    g = dY.dtype.type(gamma)
    for b in range(n):
        for h in range(H):
            for t in range(T):
                c = a if t > 0 else dY.dtype.type(1.0)
                for e in range(dh):
                    v = c * dY[b, h, t, e]
                    if t + 1 < T:
                        v -= g * dY[b, h, t + 1, e]
                    dX[b, h, t, e] = v
    return dX


@njit(cache=True)
def _sigmoid(a):
    return 1.0 / (1.0 + math.exp(-a))


@njit(cache=True, fastmath=_FM)
def _smear_fwd(X, alpha):
    """Smeared keys, in place: k̂_t = σ(α_h) k_t + (1 − σ(α_h)) k_{t−1} for t ≥ 1, k̂_0 = k_0."""
    n, H, T, dh = X.shape
    for h in range(H):
        s = X.dtype.type(_sigmoid(alpha[h]))
        r = X.dtype.type(1.0) - s
        for b in range(n):
            for t in range(T - 1, 0, -1):
                for e in range(dh):
                    X[b, h, t, e] = s * X[b, h, t, e] + r * X[b, h, t - 1, e]


@njit(cache=True, fastmath=_FM)
def _smear_bwd(dY, Xpre, alpha, galpha):
    """Transpose of :func:`_smear_fwd` given the unsmeared keys ``Xpre``; adds dL/dα_h to
    ``galpha``: σ(α)(1 − σ(α)) Σ_{t≥1} dŷ_t · (x_t − x_{t−1})."""
    n, H, T, dh = dY.shape
    dX = np.empty_like(dY)
    for h in range(H):
        sd = _sigmoid(alpha[h])
        s = dY.dtype.type(sd)
        r = dY.dtype.type(1.0) - s
        acc = 0.0
        for b in range(n):
            for t in range(T):
                c = s if t > 0 else dY.dtype.type(1.0)
                for e in range(dh):
                    v = c * dY[b, h, t, e]
                    if t + 1 < T:
                        v += r * dY[b, h, t + 1, e]
                    dX[b, h, t, e] = v
                    if t > 0:
                        acc += dY[b, h, t, e] * (Xpre[b, h, t, e] - Xpre[b, h, t - 1, e])
        galpha[h] += sd * (1.0 - sd) * acc
    return dX


@njit(cache=True, fastmath=_FM)
def _scores_fwd(Qv, Kv, scale, causal, linear, rows, S):
    """Scaled scores of the selected query rows (direct indexing: no array views in the inner
    loops, whose reference counting would dominate at T = 5)."""
    n, H, T, dh = Qv.shape
    fill = 0.0 if linear else -np.inf
    for b in range(n):
        for h in range(H):
            for r in range(rows.shape[0]):
                i = rows[r]
                jm = i + 1 if causal else T
                for j in range(jm):
                    acc = 0.0
                    for e in range(dh):
                        acc += Qv[b, h, i, e] * Kv[b, h, j, e]
                    S[b, h, i, j] = acc * scale
                for j in range(jm, T):
                    S[b, h, i, j] = fill


@njit(cache=True, fastmath=_FM)
def _pattern_fwd(S, causal, linear, rows, Pout):
    """Softmax (or, linear, a copy) of the selected rows; one vectorised exp for the layer."""
    n, H, T, _ = S.shape
    nr = rows.shape[0]
    if linear:
        for b in range(n):
            for h in range(H):
                for r in range(nr):
                    i = rows[r]
                    jm = i + 1 if causal else T
                    for j in range(jm):
                        Pout[b, h, i, j] = S[b, h, i, j]
                    for j in range(jm, T):
                        Pout[b, h, i, j] = 0.0
        return
    m = n * H * nr * T
    arg = np.empty(m, S.dtype)
    ex = np.empty(m, S.dtype)
    scratch = np.empty(m, np.int32)
    k = 0
    for b in range(n):
        for h in range(H):
            for r in range(nr):
                i = rows[r]
                jm = i + 1 if causal else T
                mx = S[b, h, i, 0]
                for j in range(1, jm):
                    v = S[b, h, i, j]
                    if v > mx:
                        mx = v
                for j in range(T):
                    if j < jm and mx != -np.inf:
                        arg[k + j] = S[b, h, i, j] - mx
                    else:
                        arg[k + j] = -200.0
                k += T
    _vexp(arg, 0.0, ex, scratch)
    k = 0
    for b in range(n):
        for h in range(H):
            for r in range(nr):
                i = rows[r]
                jm = i + 1 if causal else T
                tot = 0.0
                for j in range(jm):
                    if arg[k + j] > -150.0:
                        tot += ex[k + j]
                inv = 1.0 / tot if tot > 0.0 else 0.0
                for j in range(jm):
                    Pout[b, h, i, j] = ex[k + j] * inv if arg[k + j] > -150.0 else 0.0
                for j in range(jm, T):
                    Pout[b, h, i, j] = 0.0
                k += T


@njit(cache=True, fastmath=_FM)
def _z_fwd(Pm, Vv, causal, rows, Zv):
    n, H, T, dh = Vv.shape
    for b in range(n):
        for h in range(H):
            for r in range(rows.shape[0]):
                i = rows[r]
                jm = i + 1 if causal else T
                for e in range(dh):
                    Zv[b, h, i, e] = 0.0
                for j in range(jm):
                    pj = Pm[b, h, i, j]
                    for e in range(dh):
                        Zv[b, h, i, e] += pj * Vv[b, h, j, e]


@njit(cache=True, fastmath=_FM)
def _zcat(Zv, rows):
    """(n·|rows|, H dh) concatenated head outputs of the selected rows."""
    n, H, T, dh = Zv.shape
    nr = rows.shape[0]
    out = np.empty((n * nr, H * dh), Zv.dtype)
    for b in range(n):
        for r in range(nr):
            t = rows[r]
            o = out[b * nr + r]
            for h in range(H):
                for e in range(dh):
                    o[h * dh + e] = Zv[b, h, t, e]
    return out


@njit(cache=True, fastmath=_FM)
def _affine_rows(Xin, W, bias, use_bias, rows, full, Yout):
    """Yout[rows] = Xin[rows] @ W (+ bias) for (n, T, ·) arrays."""
    Xr = _rows_of(Xin, rows, full)
    n, T, w = Yout.shape
    if full:
        Yr = Yout.reshape((n * T, w))
        np.dot(Xr, W, Yr)
    else:
        Yr = np.dot(Xr, W)
    if use_bias:
        for i in range(Yr.shape[0]):
            for e in range(w):
                Yr[i, e] += bias[e]
    _put_rows(Yr, rows, full, Yout)


@njit(cache=True, fastmath=_FM)
def _forward(ci, cf, tokens, X, pos, cos, sin,
             W_E, W_in, b_in, W_pos, ln1_w, ln1_b, W_Q, W_K, W_V, W_O, ln2_w, ln2_b,
             W_1, b_1, W_2, b_2, lnf_w, lnf_b, R_W, R_b, W_U, b_U, smear,
             buf, offs, cmask, cval, cflag, rows, all_rows, upto):
    """One forward pass into ``buf`` (see the module docstring).  Only layers < ``upto`` are
    computed, and the readout only when ``upto`` is the number of layers (a reference pass
    stops after the last activation that is read from it)."""
    n, T = tokens.shape
    nl, H, dh, d = ci[CI_LAYERS], ci[CI_H], ci[CI_DH], ci[CI_D]
    Dm, C = ci[CI_DM], ci[CI_C]
    eps, scale, gamma = cf[CF_EPS], cf[CF_SCALE], cf[CF_GAMMA]
    causal, linear = ci[CI_CAUSAL] != 0, ci[CI_LINEAR] != 0
    use_ln, rope, smeared = ci[CI_LN] != 0, ci[CI_POS] == POS_ROPE, ci[CI_SMEAR] != 0
    sz_res = n * T * d
    sz_h = n * H * T * dh
    sz_s = n * H * T * T

    E = _v3(buf, offs[EMBED, 0], n, T, d)
    _embed_fwd(ci, tokens, X, pos, W_E, W_in, b_in, W_pos, E)
    if cflag[EMBED, 0]:
        _clamp(buf, cmask, cval, offs[EMBED, 0], sz_res)
    R = E
    for l in range(min(upto, nl)):
        last = l == nl - 1
        rr = rows if last else all_rows
        full = rr.shape[0] == T
        if use_ln:
            A = _v3(buf, offs[LN1, l], n, T, d)
            _ln_fwd(R, ln1_w[l], ln1_b[l], eps, A, _v3(buf, offs[ST1, l], n, T, 2), all_rows)
            if cflag[LN1, l]:
                _clamp(buf, cmask, cval, offs[LN1, l], sz_res)
        else:
            A = R
        Wc = _qkv_weights(W_Q, W_K, W_V, l)
        G = np.dot(A.reshape((n * T, d)), Wc)
        Qv = _v4(buf, offs[Q, l], n, H, T, dh)
        Kv = _v4(buf, offs[K, l], n, H, T, dh)
        Vv = _v4(buf, offs[V, l], n, H, T, dh)
        _split_qkv(G, pos, cos, sin, rope, Qv, Kv, Vv)
        if gamma != 0.0:
            _shear_fwd(Qv, gamma)
            _shear_fwd(Kv, gamma)
        if smeared:
            _smear_fwd(Kv, smear[l])
        for kind in (Q, K, V):
            if cflag[kind, l]:
                _clamp(buf, cmask, cval, offs[kind, l], sz_h)
        gemm = full and T >= GEMM_MIN_T
        S = _v4(buf, offs[SCORES, l], n, H, T, T)
        if gemm:
            _scores_gemm(Qv, Kv, scale, causal, linear, S)
        else:
            _scores_fwd(Qv, Kv, scale, causal, linear, rr, S)
        if cflag[SCORES, l]:
            _clamp(buf, cmask, cval, offs[SCORES, l], sz_s)
        Pm = _v4(buf, offs[PATTERN, l], n, H, T, T)
        Pdst = _v4(buf, offs[PRAW, l], n, H, T, T) if cflag[PATTERN, l] else Pm
        if gemm:
            _softmax_rows(S, causal, linear, Pdst)
        else:
            _pattern_fwd(S, causal, linear, rr, Pdst)
        if cflag[PATTERN, l]:
            o1, o2 = offs[PRAW, l], offs[PATTERN, l]
            buf[o2:o2 + sz_s] = buf[o1:o1 + sz_s]
            _clamp(buf, cmask, cval, o2, sz_s)
        Zv = _v4(buf, offs[Z, l], n, H, T, dh)
        if gemm:
            _z_gemm(Pm, Vv, Zv)
        else:
            _z_fwd(Pm, Vv, causal, rr, Zv)
        if cflag[Z, l]:
            _clamp(buf, cmask, cval, offs[Z, l], sz_h)
        AO = _v3(buf, offs[ATTN_OUT, l], n, T, d)
        if ci[CI_WO]:
            Zc = _zcat(Zv, rr)
            Wo = W_O[l].reshape((H * dh, d))
            if full:
                np.dot(Zc, Wo, AO.reshape((n * T, d)))
            else:
                _put_rows(np.dot(Zc, Wo), rr, False, AO)
        else:
            for b in range(n):
                for r in range(rr.shape[0]):
                    t = rr[r]
                    for h in range(H):
                        for e in range(dh):
                            AO[b, t, h * dh + e] = Zv[b, h, t, e]
        if cflag[ATTN_OUT, l]:
            _clamp(buf, cmask, cval, offs[ATTN_OUT, l], sz_res)
        OUTv = _v3(buf, offs[OUT, l], n, T, d)
        if ci[CI_MLP]:
            M = _v3(buf, offs[MID, l], n, T, d)
            for b in range(n):
                for r in range(rr.shape[0]):
                    t = rr[r]
                    for e in range(d):
                        M[b, t, e] = R[b, t, e] + AO[b, t, e]
            if cflag[MID, l]:
                _clamp(buf, cmask, cval, offs[MID, l], sz_res)
            if use_ln:
                A2 = _v3(buf, offs[LN2, l], n, T, d)
                _ln_fwd(M, ln2_w[l], ln2_b[l], eps, A2, _v3(buf, offs[ST2, l], n, T, 2), rr)
                if cflag[LN2, l]:
                    _clamp(buf, cmask, cval, offs[LN2, l], sz_res)
            else:
                A2 = M
            PRE = _v3(buf, offs[MLP_PRE, l], n, T, Dm)
            _affine_rows(A2, W_1[l], b_1[l], True, rr, full, PRE)
            if cflag[MLP_PRE, l]:
                _clamp(buf, cmask, cval, offs[MLP_PRE, l], n * T * Dm)
            POST = _v3(buf, offs[MLP_POST, l], n, T, Dm)
            for b in range(n):
                for r in range(rr.shape[0]):
                    t = rr[r]
                    for e in range(Dm):
                        x = PRE[b, t, e]
                        if ci[CI_GELU]:
                            POST[b, t, e] = _gelu(x)
                        else:
                            POST[b, t, e] = x if x > 0.0 else 0.0
            if cflag[MLP_POST, l]:
                _clamp(buf, cmask, cval, offs[MLP_POST, l], n * T * Dm)
            MO = _v3(buf, offs[MLP_OUT, l], n, T, d)
            _affine_rows(POST, W_2[l], b_2[l], True, rr, full, MO)
            if cflag[MLP_OUT, l]:
                _clamp(buf, cmask, cval, offs[MLP_OUT, l], sz_res)
            for b in range(n):
                for r in range(rr.shape[0]):
                    t = rr[r]
                    for e in range(d):
                        OUTv[b, t, e] = M[b, t, e] + MO[b, t, e]
        else:
            for b in range(n):
                for r in range(rr.shape[0]):
                    t = rr[r]
                    for e in range(d):
                        OUTv[b, t, e] = R[b, t, e] + AO[b, t, e]
        if cflag[OUT, l]:
            _clamp(buf, cmask, cval, offs[OUT, l], sz_res)
        R = OUTv
    if upto < nl:
        return
    full = rows.shape[0] == T
    if use_ln:
        Hh = _v3(buf, offs[LNF, 0], n, T, d)
        _ln_fwd(R, lnf_w, lnf_b, eps, Hh, _v3(buf, offs[STF, 0], n, T, 2), rows)
        if cflag[LNF, 0]:
            _clamp(buf, cmask, cval, offs[LNF, 0], sz_res)
    else:
        Hh = R
    for m in range(ci[CI_NREAD]):
        Zr = _v3(buf, offs[RPRE, m], n, T, d)
        _affine_rows(Hh, np.ascontiguousarray(R_W[m].T), b_U, False, rows, full, Zr)
        Hn = _v3(buf, offs[RHID, m], n, T, d)
        bm = R_b[m]
        for b in range(n):
            for r in range(rows.shape[0]):
                t = rows[r]
                for e in range(d):
                    x = Zr[b, t, e] + bm
                    Zr[b, t, e] = x
                    Hn[b, t, e] = x if x > 0.0 else 0.0
        if cflag[RHID, m]:
            _clamp(buf, cmask, cval, offs[RHID, m], sz_res)
        Hh = Hn
    LG = _v3(buf, offs[LOGITS, 0], n, T, C)
    _affine_rows(Hh, W_U, b_U, ci[CI_UBIAS] != 0, rows, full, LG)
    if cflag[LOGITS, 0]:
        _clamp(buf, cmask, cval, offs[LOGITS, 0], n * T * C)


# ----------------------------------------------------------------------------------------------
# loss
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _cross_entropy_rows(LG, targets, rows, dLG):
    """Mean cross-entropy over the (b, t ∈ rows) with targets ≥ 0; writes d loss/d logits there
    (zero elsewhere in those rows); returns (loss, correct, count)."""
    n, T, C = LG.shape
    cnt = 0
    for b in range(n):
        for r in range(rows.shape[0]):
            if targets[b, rows[r]] >= 0:
                cnt += 1
    inv = 1.0 / max(cnt, 1)
    total = 0.0
    correct = 0
    ex = np.empty(C, LG.dtype)
    scratch = np.empty(C, np.int32)
    for b in range(n):
        for r in range(rows.shape[0]):
            t = rows[r]
            y = targets[b, t]
            d = dLG[b, t]
            if y < 0:
                for c in range(C):
                    d[c] = 0.0
                continue
            row = LG[b, t]
            mx = row[0]
            am = 0
            for c in range(1, C):
                if row[c] > mx:
                    mx = row[c]
                    am = c
            if am == y:
                correct += 1
            _vexp(row, mx, ex, scratch)
            tot = 0.0
            for c in range(C):
                tot += ex[c]
            total += math.log(tot) - (row[y] - mx)
            f = inv / tot
            for c in range(C):
                d[c] = ex[c] * f
            d[y] -= inv
    return total * inv, correct, cnt


# ----------------------------------------------------------------------------------------------
# backward
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _gemm_tn_acc(A, B, G):
    """G += Aᵀ B."""
    G += np.dot(A.T, B)


@njit(cache=True, fastmath=_FM)
def _attn_bwd_pv(dZ, Pm, Vv, causal, rows, dP, dV):
    """dP = dZ Vᵀ at the selected rows (0 elsewhere), dV = Pᵀ dZ."""
    n, H, T, dh = Vv.shape
    for b in range(n):
        for h in range(H):
            for i in range(T):
                for j in range(T):
                    dP[b, h, i, j] = 0.0
                for e in range(dh):
                    dV[b, h, i, e] = 0.0
            for r in range(rows.shape[0]):
                i = rows[r]
                jm = i + 1 if causal else T
                for j in range(jm):
                    acc = 0.0
                    pj = Pm[b, h, i, j]
                    for e in range(dh):
                        g = dZ[b, h, i, e]
                        acc += g * Vv[b, h, j, e]
                        dV[b, h, j, e] += pj * g
                    dP[b, h, i, j] = acc


@njit(cache=True, fastmath=_FM)
def _attn_bwd_softmax(dP, Praw, causal, linear, rows, dS):
    n, H, T, _ = dP.shape
    for b in range(n):
        for h in range(H):
            for i in range(T):
                for j in range(T):
                    dS[b, h, i, j] = 0.0
            for r in range(rows.shape[0]):
                i = rows[r]
                jm = i + 1 if causal else T
                if linear:
                    for j in range(jm):
                        dS[b, h, i, j] = dP[b, h, i, j]
                else:
                    dot = 0.0
                    for j in range(jm):
                        dot += Praw[b, h, i, j] * dP[b, h, i, j]
                    for j in range(jm):
                        dS[b, h, i, j] = Praw[b, h, i, j] * (dP[b, h, i, j] - dot)


@njit(cache=True, fastmath=_FM)
def _attn_bwd_qk(dS, Qv, Kv, scale, causal, rows, dQ, dK):
    n, H, T, dh = Qv.shape
    for b in range(n):
        for h in range(H):
            for i in range(T):
                for e in range(dh):
                    dQ[b, h, i, e] = 0.0
                    dK[b, h, i, e] = 0.0
            for r in range(rows.shape[0]):
                i = rows[r]
                jm = i + 1 if causal else T
                for j in range(jm):
                    sj = dS[b, h, i, j] * scale
                    for e in range(dh):
                        dQ[b, h, i, e] += sj * Kv[b, h, j, e]
                        dK[b, h, j, e] += sj * Qv[b, h, i, e]


# ----------------------------------------------------------------------------------------------
# attention for longer sequences: one GEMM per (batch, head) for scores, outputs and their
# gradients, a row-wise softmax through the vectorisable exponential.  Used when every row of a
# layer is computed and T ≥ GEMM_MIN_T; below that the per-row loops above are faster (a BLAS
# call costs about a microsecond, a 5 × 5 product a few nanoseconds).
# ----------------------------------------------------------------------------------------------

#: shortest sequence for which a layer's attention uses the per-(batch, head) GEMM path
GEMM_MIN_T = 16


@njit(cache=True, fastmath=_FM)
def _scores_gemm(Qv, Kv, scale, causal, linear, S):
    """S[b, h] = scale · Q[b, h] K[b, h]ᵀ for every row; masked keys get −inf (0 if linear)."""
    n, H, T, dh = Qv.shape
    fill = 0.0 if linear else -np.inf
    sc = Qv.dtype.type(scale)
    for b in range(n):
        for h in range(H):
            Sbh = S[b, h]
            np.dot(Qv[b, h], Kv[b, h].T, Sbh)
            for i in range(T):
                row = Sbh[i]
                jm = i + 1 if causal else T
                for j in range(jm):
                    row[j] *= sc
                for j in range(jm, T):
                    row[j] = fill


@njit(cache=True, fastmath=_FM)
def _softmax_rows(S, causal, linear, Pout):
    """Row-wise softmax of every row (linear: a copy), 0 at masked keys.  Arguments below −150
    after the max subtraction give exactly 0 (as in :func:`_pattern_fwd`: clamped scores of
    −10⁹ must not leave the exponential's floor behind)."""
    n, H, T, _ = S.shape
    scratch = np.empty(T, np.int32)
    ex = np.empty(T, S.dtype)
    for b in range(n):
        for h in range(H):
            for i in range(T):
                jm = i + 1 if causal else T
                srow = S[b, h, i]
                prow = Pout[b, h, i]
                if linear:
                    for j in range(jm):
                        prow[j] = srow[j]
                else:
                    mx = srow[0]
                    for j in range(1, jm):
                        mx = max(mx, srow[j])
                    if mx == -np.inf:
                        for j in range(jm):
                            prow[j] = 0.0
                    else:
                        _vexp(srow[:jm], mx, ex[:jm], scratch[:jm])
                        tot = 0.0
                        for j in range(jm):
                            v = ex[j] if srow[j] - mx > -150.0 else 0.0
                            ex[j] = v
                            tot += v
                        inv = 1.0 / tot if tot > 0.0 else 0.0
                        for j in range(jm):
                            prow[j] = ex[j] * inv
                for j in range(jm, T):
                    prow[j] = 0.0


@njit(cache=True, fastmath=_FM)
def _z_gemm(Pm, Vv, Zv):
    """Z[b, h] = P[b, h] V[b, h] (masked pattern entries are 0)."""
    n, H, T, dh = Vv.shape
    for b in range(n):
        for h in range(H):
            np.dot(Pm[b, h], Vv[b, h], Zv[b, h])


@njit(cache=True, fastmath=_FM)
def _attn_bwd_pv_gemm(dZ, Pm, Vv, causal, dP, dV):
    """dP = dZ Vᵀ (0 at masked keys), dV = Pᵀ dZ, every row."""
    n, H, T, dh = Vv.shape
    for b in range(n):
        for h in range(H):
            dPbh = dP[b, h]
            np.dot(dZ[b, h], Vv[b, h].T, dPbh)
            np.dot(Pm[b, h].T, dZ[b, h], dV[b, h])
            if causal:
                for i in range(T):
                    row = dPbh[i]
                    for j in range(i + 1, T):
                        row[j] = 0.0


@njit(cache=True, fastmath=_FM)
def _softmax_bwd_rows(dP, Praw, causal, linear, dS):
    """dS of every row: P ⊙ (dP − ⟨P, dP⟩) (linear: dP), 0 at masked keys."""
    n, H, T, _ = dP.shape
    for b in range(n):
        for h in range(H):
            for i in range(T):
                jm = i + 1 if causal else T
                g = dP[b, h, i]
                s = dS[b, h, i]
                if linear:
                    for j in range(jm):
                        s[j] = g[j]
                else:
                    p = Praw[b, h, i]
                    dot = 0.0
                    for j in range(jm):
                        dot += p[j] * g[j]
                    for j in range(jm):
                        s[j] = p[j] * (g[j] - dot)
                for j in range(jm, T):
                    s[j] = 0.0


@njit(cache=True)
def _zero_above_diagonal(S):
    n, H, T, _ = S.shape
    for b in range(n):
        for h in range(H):
            for i in range(T):
                for j in range(i + 1, T):
                    S[b, h, i, j] = 0.0


@njit(cache=True, fastmath=_FM)
def _attn_bwd_qk_gemm(dS, Qv, Kv, scale, dQ, dK):
    """dQ = scale · dS K, dK = scale · dSᵀ Q, every row (dS is 0 at masked keys)."""
    n, H, T, dh = Qv.shape
    sc = Qv.dtype.type(scale)
    for b in range(n):
        for h in range(H):
            dQbh = dQ[b, h]
            dKbh = dK[b, h]
            np.dot(dS[b, h], Kv[b, h], dQbh)
            np.dot(dS[b, h].T, Qv[b, h], dKbh)
            for i in range(T):
                for e in range(dh):
                    dQbh[i, e] *= sc
                    dKbh[i, e] *= sc


@njit(cache=True, fastmath=_FM)
def _backward(ci, cf, tokens, X, pos, cos, sin, targets, has_loss,
              W_E, W_in, b_in, W_pos, ln1_w, ln1_b, W_Q, W_K, W_V, W_O, ln2_w, ln2_b,
              W_1, b_1, W_2, b_2, lnf_w, lnf_b, R_W, R_b, W_U, b_U, smear,
              gW_E, gW_in, gb_in, gW_pos, gln1_w, gln1_b, gW_Q, gW_K, gW_V, gW_O, gln2_w,
              gln2_b, gW_1, gb_1, gW_2, gb_2, glnf_w, glnf_b, gR_W, gR_b, gW_U, gb_U, gsmear,
              buf, dbuf, inj, offs, cmask, cflag, iflag, dval, rows, all_rows, head, top):
    """Gradients of one pass (accumulated into the g* arrays); returns (loss, correct, count).

    ``has_loss``: the cross-entropy at ``targets`` starts the pass's gradient; otherwise only
    injected gradients do.  ``head``: the readout has a gradient (loss or injection there);
    ``top``: the highest layer with a gradient (−1: only the embedding) — nothing above it is
    visited."""
    n, T = tokens.shape
    nl, H, dh, d = ci[CI_LAYERS], ci[CI_H], ci[CI_DH], ci[CI_D]
    Dm, C = ci[CI_DM], ci[CI_C]
    scale, gamma = cf[CF_SCALE], cf[CF_GAMMA]
    causal, linear = ci[CI_CAUSAL] != 0, ci[CI_LINEAR] != 0
    use_ln, rope, smeared = ci[CI_LN] != 0, ci[CI_POS] == POS_ROPE, ci[CI_SMEAR] != 0
    HD = H * dh
    sz_res = n * T * d
    sz_h = n * H * T * dh
    sz_s = n * H * T * T
    full = rows.shape[0] == T

    loss, correct, cnt = 0.0, 0, 0
    if head:
        # logits
        o = offs[LOGITS, 0]
        dLG = _v3(dbuf, o, n, T, C)
        if not full:
            dbuf[o:o + n * T * C] = 0.0
        LG = _v3(buf, o, n, T, C)
        loss, correct, cnt = 0.0, 0, 0
        if has_loss:
            loss, correct, cnt = _cross_entropy_rows(LG, targets, rows, dLG)
        else:
            dbuf[o:o + n * T * C] = 0.0
        _finish(dbuf, inj, cmask, dval, o, n * T * C, iflag[LOGITS, 0], cflag[LOGITS, 0])
        # readout input
        nread = ci[CI_NREAD]
        if nread > 0:
            Hin = _v3(buf, offs[RHID, nread - 1], n, T, d)
        elif use_ln:
            Hin = _v3(buf, offs[LNF, 0], n, T, d)
        else:
            Hin = _v3(buf, offs[OUT, nl - 1], n, T, d)
        Hr = _rows_of(Hin, rows, full)
        dLr = _rows_of(dLG, rows, full)
        _gemm_tn_acc(Hr, dLr, gW_U)
        if ci[CI_UBIAS]:
            for i in range(dLr.shape[0]):
                for c in range(C):
                    gb_U[c] += dLr[i, c]
        dHr = np.dot(dLr, W_U.T)                       # (n·|rows|, d)
        for m in range(nread - 1, -1, -1):
            o = offs[RHID, m]
            dHm = _v3(dbuf, o, n, T, d)
            if not full:
                dbuf[o:o + sz_res] = 0.0
                _put_rows(dHr, rows, False, dHm)
            else:
                dHm.reshape((n * T, d))[:, :] = dHr
            _finish(dbuf, inj, cmask, dval, o, sz_res, iflag[RHID, m], cflag[RHID, m])
            Zr = _v3(buf, offs[RPRE, m], n, T, d)
            dz = _rows_of(dHm, rows, full).copy()
            Zrr = _rows_of(Zr, rows, full)
            sb = 0.0
            for i in range(dz.shape[0]):
                for e in range(d):
                    if Zrr[i, e] <= 0.0:
                        dz[i, e] = 0.0
                    sb += dz[i, e]
            if m > 0:
                Hprev = _v3(buf, offs[RHID, m - 1], n, T, d)
            elif use_ln:
                Hprev = _v3(buf, offs[LNF, 0], n, T, d)
            else:
                Hprev = _v3(buf, offs[OUT, nl - 1], n, T, d)
            gR_W[m] += np.dot(dz.T, _rows_of(Hprev, rows, full))
            gR_b[m] += sb
            dHr = np.dot(dz, R_W[m])
        # final LayerNorm
        oR = offs[OUT, nl - 1]
        dR = _v3(dbuf, oR, n, T, d)
        if not full:
            dbuf[oR:oR + sz_res] = 0.0
        if use_ln:
            o = offs[LNF, 0]
            dHf = _v3(dbuf, o, n, T, d)
            if not full:
                dbuf[o:o + sz_res] = 0.0
                _put_rows(dHr, rows, False, dHf)
            else:
                dHf.reshape((n * T, d))[:, :] = dHr
            _finish(dbuf, inj, cmask, dval, o, sz_res, iflag[LNF, 0], cflag[LNF, 0])
            _ln_bwd(dHf, _v3(buf, oR, n, T, d), _v3(buf, offs[STF, 0], n, T, 2), lnf_w, dR,
                    glnf_w, glnf_b, rows)
        else:
            if not full:
                _put_rows(dHr, rows, False, dR)
            else:
                dR.reshape((n * T, d))[:, :] = dHr
    elif top >= 0:
        oT = offs[OUT, top]
        dbuf[oT:oT + sz_res] = 0.0
    else:
        oE = offs[EMBED, 0]
        dbuf[oE:oE + sz_res] = 0.0
    for l in range(top, -1, -1):
        last = l == nl - 1
        rr = rows if last else all_rows
        lfull = rr.shape[0] == T
        oR = offs[OUT, l]
        dR = _v3(dbuf, oR, n, T, d)
        _finish(dbuf, inj, cmask, dval, oR, sz_res, iflag[OUT, l], cflag[OUT, l])
        Rin = _v3(buf, offs[OUT, l - 1], n, T, d) if l > 0 else _v3(buf, offs[EMBED, 0], n, T, d)
        if ci[CI_MLP]:
            o = offs[MLP_OUT, l]
            dMO = _v3(dbuf, o, n, T, d)
            dbuf[o:o + sz_res] = dbuf[oR:oR + sz_res]
            _finish(dbuf, inj, cmask, dval, o, sz_res, iflag[MLP_OUT, l], cflag[MLP_OUT, l])
            POST = _v3(buf, offs[MLP_POST, l], n, T, Dm)
            dMOr = _rows_of(dMO, rr, lfull)
            gW_2[l] += np.dot(_rows_of(POST, rr, lfull).T, dMOr)
            for i in range(dMOr.shape[0]):
                for e in range(d):
                    gb_2[l, e] += dMOr[i, e]
            o = offs[MLP_POST, l]
            dPOST = _v3(dbuf, o, n, T, Dm)
            if not lfull:
                dbuf[o:o + n * T * Dm] = 0.0
                _put_rows(np.dot(dMOr, W_2[l].T), rr, False, dPOST)
            else:
                np.dot(dMOr, W_2[l].T, dPOST.reshape((n * T, Dm)))
            _finish(dbuf, inj, cmask, dval, o, n * T * Dm, iflag[MLP_POST, l],
                    cflag[MLP_POST, l])
            PRE = _v3(buf, offs[MLP_PRE, l], n, T, Dm)
            o = offs[MLP_PRE, l]
            dPRE = _v3(dbuf, o, n, T, Dm)
            for b in range(n):
                for t in range(T):
                    for e in range(Dm):
                        x = PRE[b, t, e]
                        if ci[CI_GELU]:
                            dPRE[b, t, e] = dPOST[b, t, e] * _gelu_grad(x)
                        else:
                            dPRE[b, t, e] = dPOST[b, t, e] if x > 0.0 else 0.0
            _finish(dbuf, inj, cmask, dval, o, n * T * Dm, iflag[MLP_PRE, l],
                    cflag[MLP_PRE, l])
            A2 = _v3(buf, offs[LN2, l], n, T, d) if use_ln else _v3(buf, offs[MID, l], n, T, d)
            dPr = _rows_of(dPRE, rr, lfull)
            gW_1[l] += np.dot(_rows_of(A2, rr, lfull).T, dPr)
            for i in range(dPr.shape[0]):
                for e in range(Dm):
                    gb_1[l, e] += dPr[i, e]
            oM = offs[MID, l]
            dM = _v3(dbuf, oM, n, T, d)
            dA2r = np.dot(dPr, W_1[l].T)
            if use_ln:
                o = offs[LN2, l]
                dA2 = _v3(dbuf, o, n, T, d)
                if not lfull:
                    dbuf[o:o + sz_res] = 0.0
                    _put_rows(dA2r, rr, False, dA2)
                else:
                    dA2.reshape((n * T, d))[:, :] = dA2r
                _finish(dbuf, inj, cmask, dval, o, sz_res, iflag[LN2, l], cflag[LN2, l])
                if not lfull:
                    dbuf[oM:oM + sz_res] = 0.0
                _ln_bwd(dA2, _v3(buf, oM, n, T, d), _v3(buf, offs[ST2, l], n, T, 2),
                        ln2_w[l], dM, gln2_w[l], gln2_b[l], rr)
            else:
                if not lfull:
                    dbuf[oM:oM + sz_res] = 0.0
                    _put_rows(dA2r, rr, False, dM)
                else:
                    dM.reshape((n * T, d))[:, :] = dA2r
            for e in range(sz_res):
                dbuf[oM + e] += dbuf[oR + e]
            _finish(dbuf, inj, cmask, dval, oM, sz_res, iflag[MID, l], cflag[MID, l])
            oMid = oM
        else:
            oMid = oR
        # attention output
        o = offs[ATTN_OUT, l]
        dAO = _v3(dbuf, o, n, T, d)
        dbuf[o:o + sz_res] = dbuf[oMid:oMid + sz_res]
        _finish(dbuf, inj, cmask, dval, o, sz_res, iflag[ATTN_OUT, l], cflag[ATTN_OUT, l])
        Zv = _v4(buf, offs[Z, l], n, H, T, dh)
        o = offs[Z, l]
        dZ = _v4(dbuf, o, n, H, T, dh)
        if not lfull:
            dbuf[o:o + sz_h] = 0.0
        if ci[CI_WO]:
            dAOr = _rows_of(dAO, rr, lfull)
            Zc = _zcat(Zv, rr)
            Wo = W_O[l].reshape((HD, d))
            gW_O[l].reshape((HD, d))[:, :] += np.dot(Zc.T, dAOr)
            dZc = np.dot(dAOr, Wo.T)
            nr = rr.shape[0]
            for b in range(n):
                for r in range(nr):
                    t = rr[r]
                    src = dZc[b * nr + r]
                    for h in range(H):
                        for e in range(dh):
                            dZ[b, h, t, e] = src[h * dh + e]
        else:
            for b in range(n):
                for r in range(rr.shape[0]):
                    t = rr[r]
                    for h in range(H):
                        for e in range(dh):
                            dZ[b, h, t, e] = dAO[b, t, h * dh + e]
        _finish(dbuf, inj, cmask, dval, o, sz_h, iflag[Z, l], cflag[Z, l])
        # pattern and values
        Pm = _v4(buf, offs[PATTERN, l], n, H, T, T)
        Vv = _v4(buf, offs[V, l], n, H, T, dh)
        oP, oV = offs[PATTERN, l], offs[V, l]
        dP = _v4(dbuf, oP, n, H, T, T)
        dV = _v4(dbuf, oV, n, H, T, dh)
        gemm = lfull and T >= GEMM_MIN_T
        if gemm:
            _attn_bwd_pv_gemm(dZ, Pm, Vv, causal, dP, dV)
        else:
            _attn_bwd_pv(dZ, Pm, Vv, causal, rr, dP, dV)
        _finish(dbuf, inj, cmask, dval, oP, sz_s, iflag[PATTERN, l], cflag[PATTERN, l])
        _finish(dbuf, inj, cmask, dval, oV, sz_h, iflag[V, l], cflag[V, l])
        # scores
        oS = offs[SCORES, l]
        dS = _v4(dbuf, oS, n, H, T, T)
        Praw = _v4(buf, offs[PRAW, l], n, H, T, T) if cflag[PATTERN, l] else Pm
        if gemm:
            _softmax_bwd_rows(dP, Praw, causal, linear, dS)
        else:
            _attn_bwd_softmax(dP, Praw, causal, linear, rr, dS)
        _finish(dbuf, inj, cmask, dval, oS, sz_s, iflag[SCORES, l], cflag[SCORES, l])
        if gemm and causal and iflag[SCORES, l]:
            # a gradient injected at a masked key (j > i) must not reach q and k: the GEMMs
            # below take every key (the per-row path only visits j ≤ i)
            _zero_above_diagonal(dS)
        # queries and keys
        Qv = _v4(buf, offs[Q, l], n, H, T, dh)
        Kv = _v4(buf, offs[K, l], n, H, T, dh)
        oQ, oK = offs[Q, l], offs[K, l]
        dQ = _v4(dbuf, oQ, n, H, T, dh)
        dK = _v4(dbuf, oK, n, H, T, dh)
        if gemm:
            _attn_bwd_qk_gemm(dS, Qv, Kv, scale, dQ, dK)
        else:
            _attn_bwd_qk(dS, Qv, Kv, scale, causal, rr, dQ, dK)
        _finish(dbuf, inj, cmask, dval, oQ, sz_h, iflag[Q, l], cflag[Q, l])
        _finish(dbuf, inj, cmask, dval, oK, sz_h, iflag[K, l], cflag[K, l])
        # back through the smeared keys and the momentum shear (into new arrays: the
        # activation gradients of q and k in dbuf stay those of the sheared values)
        if smeared:
            Apre = _v3(buf, offs[LN1, l], n, T, d) if use_ln else Rin
            Gp = np.dot(Apre.reshape((n * T, d)), _qkv_weights(W_Q, W_K, W_V, l))
            Qp = np.empty_like(Qv)
            Kp = np.empty_like(Kv)
            Vp = np.empty_like(Kv)
            _split_qkv(Gp, pos, cos, sin, rope, Qp, Kp, Vp)
            if gamma != 0.0:
                _shear_fwd(Kp, gamma)
            dK = _smear_bwd(dK, Kp, smear[l], gsmear[l])
        if gamma != 0.0:
            dQ = _shear_bwd(dQ, gamma)
            dK = _shear_bwd(dK, gamma)
        # back through RoPE into the (nT, 3 H dh) projection gradient
        dG = np.empty((n * T, 3 * HD), Qv.dtype)
        half = dh // 2
        for b in range(n):
            for t in range(T):
                g = dG[b * T + t]
                p = pos[b, t]
                for h in range(H):
                    base = h * dh
                    if rope:
                        for m in range(half):
                            c = cos[p, m]
                            s = sin[p, m]
                            a0 = dQ[b, h, t, 2 * m]
                            a1 = dQ[b, h, t, 2 * m + 1]
                            g[base + 2 * m] = a0 * c + a1 * s
                            g[base + 2 * m + 1] = -a0 * s + a1 * c
                            a0 = dK[b, h, t, 2 * m]
                            a1 = dK[b, h, t, 2 * m + 1]
                            g[HD + base + 2 * m] = a0 * c + a1 * s
                            g[HD + base + 2 * m + 1] = -a0 * s + a1 * c
                    else:
                        for e in range(dh):
                            g[base + e] = dQ[b, h, t, e]
                            g[HD + base + e] = dK[b, h, t, e]
                    for e in range(dh):
                        g[2 * HD + base + e] = dV[b, h, t, e]
        if use_ln:
            A = _v3(buf, offs[LN1, l], n, T, d)
        else:
            A = Rin
        gWc = np.dot(A.reshape((n * T, d)).T, dG)
        for i in range(d):
            for h in range(H):
                for e in range(dh):
                    gW_Q[l, h, i, e] += gWc[i, h * dh + e]
                    gW_K[l, h, i, e] += gWc[i, HD + h * dh + e]
                    gW_V[l, h, i, e] += gWc[i, 2 * HD + h * dh + e]
        Wc = _qkv_weights(W_Q, W_K, W_V, l)
        dA = np.dot(dG, Wc.T)                          # (nT, d)
        oIn = offs[OUT, l - 1] if l > 0 else offs[EMBED, 0]
        dRin = _v3(dbuf, oIn, n, T, d)
        if use_ln:
            o = offs[LN1, l]
            dAv = _v3(dbuf, o, n, T, d)
            dAv.reshape((n * T, d))[:, :] = dA
            _finish(dbuf, inj, cmask, dval, o, sz_res, iflag[LN1, l], cflag[LN1, l])
            _ln_bwd(dAv, Rin, _v3(buf, offs[ST1, l], n, T, 2), ln1_w[l], dRin, gln1_w[l],
                    gln1_b[l], all_rows)
        else:
            dRin.reshape((n * T, d))[:, :] = dA
        for e in range(sz_res):
            dbuf[oIn + e] += dbuf[oMid + e]
    # embedding
    o = offs[EMBED, 0]
    _finish(dbuf, inj, cmask, dval, o, sz_res, iflag[EMBED, 0], cflag[EMBED, 0])
    dE = _v3(dbuf, o, n, T, d)
    P1 = ci[CI_P1]
    vocab, din = ci[CI_VOCAB], ci[CI_DIN]
    de = d - P1
    proj = din > 0 and ci[CI_INPROJ] != 0
    if proj:
        dEc = np.zeros((n * T, de), dE.dtype)
    else:
        dEc = np.zeros((0, de), dE.dtype)
    for b in range(n):
        for t in range(T):
            row = dE[b, t]
            tk = tokens[b, t]
            if vocab > 0 and tk >= 0:
                gr = gW_E[tk]
                for e in range(de):
                    gr[e] += row[P1 + e]
            elif proj:
                dst = dEc[b * T + t]
                for e in range(de):
                    dst[e] = row[P1 + e]
                if ci[CI_INBIAS]:
                    for e in range(de):
                        gb_in[e] += row[P1 + e]
            if ci[CI_POS] == POS_LEARNED:
                gr = gW_pos[pos[b, t]]
                for e in range(d):
                    gr[e] += row[e]
    if proj:
        gW_in += np.dot(X.reshape((n * T, din)).T, dEc)
    return loss, correct, cnt
