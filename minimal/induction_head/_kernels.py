"""Numba kernels of the minimal induction-head models: attention of the target over the
context (forward and backward), one fused step for each classifier.  The public, validating
wrapper is :class:`minimal.induction_head.model.IHModel`; :mod:`.reference` is the NumPy
reference the tests compare against."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._numerics import _FM, _axpy, _cross_entropy, _dot, _relu_layer, _relu_layer_bwd

@njit(cache=True, fastmath=_FM)
def _attend(C, th, variant, P_out, U_out, dx, dl):
    """Attention of every sequence: P_out (nb, 2N) [items 0..N-1, labels N..2N-1], U_out (nb, D),
    and the overlaps dx_j = x_q·x_j, dl_j = x_q·ℓ_j."""
    nb, T, D = C.shape
    N = (T - 1) // 2
    b1, al, b2 = th[0], th[1], th[2]
    w = 1.0 / (1.0 + math.exp(-b1))
    for b in range(nb):
        Cb = C[b]
        xq = Cb[T - 1]
        for j in range(N):
            dx[b, j] = _dot(xq, Cb[2 * j])
            dl[b, j] = _dot(xq, Cb[2 * j + 1])
        row = P_out[b]
        mx = -1e300
        for j in range(N):
            s_lab = al * (dl[b, j] + w * dx[b, j]) + b2
            row[N + j] = s_lab
            if s_lab > mx:
                mx = s_lab
            if variant != 2:
                s_it = al * dx[b, j]
                row[j] = s_it
                if s_it > mx:
                    mx = s_it
        tot = 0.0
        for j in range(N):
            e1 = math.exp(row[N + j] - mx)
            row[N + j] = e1
            tot += e1
            if variant != 2:
                e0 = math.exp(row[j] - mx)
                row[j] = e0
                tot += e0
            else:
                row[j] = 0.0
        inv = 1.0 / tot
        for j in range(2 * N):
            row[j] *= inv
        u = U_out[b]
        u[:] = xq
        for j in range(N):
            _axpy(u, row[j] + w * row[N + j], Cb[2 * j])
            _axpy(u, row[N + j], Cb[2 * j + 1])
    return w


@njit(cache=True, fastmath=_FM)
def _attend_backward(C, th, variant, Pm, dU, dx, dl, w):
    """Gradients of (β₁, α, β₂) given dU = ∂ℒ/∂u (already divided by the batch size)."""
    nb, T, D = C.shape
    N = (T - 1) // 2
    al = th[1]
    g_al = 0.0
    g_b2 = 0.0
    g_w = 0.0
    dpx = np.empty(N)
    dpl = np.empty(N)
    for b in range(nb):
        du = dU[b]
        Cb = C[b]
        row = Pm[b]
        tot = 0.0
        for j in range(N):
            ux = _dot(du, Cb[2 * j])
            ul = _dot(du, Cb[2 * j + 1])
            g_w += row[N + j] * ux                 # u depends on w through p_lab w x_j
            dpx[j] = ux
            dpl[j] = ul + w * ux
            tot += row[N + j] * dpl[j]
            if variant != 2:
                tot += row[j] * dpx[j]
        for j in range(N):
            ds_l = row[N + j] * (dpl[j] - tot)
            g_al += ds_l * (dl[b, j] + w * dx[b, j])
            g_b2 += ds_l
            g_w += ds_l * al * dx[b, j]
            if variant != 2:
                ds_x = row[j] * (dpx[j] - tot)
                g_al += ds_x * dx[b, j]
    g = np.empty(3)
    g[0] = g_w * w * (1.0 - w)
    g[1] = g_al
    g[2] = g_b2 if variant == 0 else 0.0
    return g


@njit(cache=True)
def _step_linear(C, y, th, W, variant, gth, gW, P, U, dx, dl):
    w = _attend(C, th, variant, P, U, dx, dl)
    logits = np.dot(U, W.T)
    loss, dlog, ok = _cross_entropy(logits, y)
    gW[:, :] = np.dot(dlog.T, U)
    dU = np.dot(dlog, W)
    gth[:] = _attend_backward(C, th, variant, P, dU, dx, dl, w)
    return loss, ok.sum()


@njit(cache=True, fastmath=_FM)
def _mlp3_fwd(U, W1, Wh, bias, Wout, Hs, Z):
    """The network's MLP layers with a first layer of input width D (Hs[m] = ReLU(Z[m]))."""
    _relu_layer(U, W1, bias[0], Z[0], Hs[0])
    for m in range(1, 3):
        _relu_layer(Hs[m - 1], Wh[m - 1], bias[m], Z[m], Hs[m])
    return np.dot(Hs[2], Wout.T)


@njit(cache=True, fastmath=_FM)
def _mlp3_bwd(U, dlog, W1, Wh, Wout, Hs, Z, gW1, gWh, gbias, gWout):
    gWout[:, :] = np.dot(dlog.T, Hs[2])
    dh = np.dot(dlog, Wout)
    for m in range(2, 0, -1):
        dh, gbias[m] = _relu_layer_bwd(dh, Z[m], Hs[m - 1], Wh[m - 1], gWh[m - 1])
    dh, gbias[0] = _relu_layer_bwd(dh, Z[0], U, W1, gW1)
    return dh


@njit(cache=True)
def _step_mlp(C, y, th, W1, Wh, bias, Wout, variant, gth, gW1, gWh, gbias, gWout, P, U, dx,
              dl, Hs, Z):
    w = _attend(C, th, variant, P, U, dx, dl)
    logits = _mlp3_fwd(U, W1, Wh, bias, Wout, Hs, Z)
    loss, dlog, ok = _cross_entropy(logits, y)
    dU = _mlp3_bwd(U, dlog, W1, Wh, Wout, Hs, Z, gW1, gWh, gbias, gWout)
    gth[:] = _attend_backward(C, th, variant, P, dU, dx, dl, w)
    return loss, ok.sum()
