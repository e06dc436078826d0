"""Numba kernels of Level 1 of the CoT circuit model, the trainable two-stage associative
memory (docs/cot.md).  The public wrapper is :class:`minimal.cot.model.TSAM`.

Stores are tables of logit rows in R^{|E|} (initialised at 0):

* A[e, r] — the lower fact store shared by every atomic-style lookup;
* B[e, r] — the upper store of the implicit (no-CoT) second hop;
* M[i]    — per-item memorisation rows of no-CoT training items;
* S[b, r2] — a CoT-stage-2-specific store;
* C[h, r2], D[r1, r2] — partial-context shortcut stores;
* gates ρ_a, ρ₁, ρ₂, ρ_I ≥ 0 (initialised at ``rho0``).

Forward maps: atomic z = ρ_a A[h,r]; CoT stage 1 z_b = ρ₁ A[h,r1]; stage 2
z_t = ρ₂ (A[b,r2] + S[b,r2]) + C[h,r2] + D[r1,r2] (teacher-forced b in training, b = argmax z_b
at test); no CoT z_t = ρ_I Σ_e p(A[h,r1])_e B[e,r2] + M[i].

Training is SGD on the summed cross-entropy of a batch with L2 weight decay (ω, and ω_M for M),
touching only the rows a batch uses: decay of untouched rows is applied lazily (exactly, as a
power of (1 − ηω)) when a row is next read.  Project decision: the soft bridge of the no-CoT
path is truncated to the ``bridge_topk`` largest entries of p(A[h, r1]) (unnormalised, so the
neglected mass is simply dropped) — the exact mixture costs |E|² per item.

Project decision: the implicit gate ρ_I learns ``rhoI_lr_scale`` (default 100) times faster than
the explicit gates.  Its gradient is a batch mean through the soft bridge mixture, and at the
explicit gates' rate it stays near ρ₀ for more than 30k steps of the ``small`` preset, so the
B path never takes over from the memorising M rows (measured: ID two-hop 0.03 at 20k with
scale 1 or 30; with 100 it crosses 0.5 at ~18k, OOD stays at chance).  The CoT gates never see
ρ_I, so CoT runs are unchanged.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._numerics import _FM, _like, _vexp

STORE_A, STORE_B, STORE_S, STORE_C, STORE_D, STORE_M = range(6)


# ----------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _fresh(store, last, row, step, decay_pow_base):
    """Bring ``store[row]`` up to ``step`` (lazy multiplicative decay) and return it."""
    d = step - last[row]
    if d > 0:
        f = _like(store, decay_pow_base ** d)
        r = store[row]
        for e in range(r.shape[0]):
            r[e] *= f
        last[row] = step
    return store[row]


@njit(cache=True, fastmath=_FM)
def _softmax_grad(z, target, out, scratch):
    """out = softmax(z) − onehot(target); returns the cross-entropy (float64).

    Works in the dtype of ``z``/``out``; ``scratch`` is an int32 work row for ``_vexp``."""
    mx = z[0]
    for e in range(1, z.shape[0]):
        if z[e] > mx:
            mx = z[e]
    _vexp(z, mx, out, scratch)
    tot = 0.0
    for e in range(z.shape[0]):
        tot += out[e]
    inv = _like(out, 1.0 / tot)
    for e in range(z.shape[0]):
        out[e] *= inv
    loss = math.log(tot) - (z[target] - mx)
    out[target] -= 1.0
    return loss


@njit(cache=True, fastmath=_FM)
def _topk(q, k, idx):
    """Indices of the k largest entries of q (unsorted) into idx; returns k."""
    n = q.shape[0]
    k = min(k, n)
    for i in range(k):
        idx[i] = i
    # maintain the minimum of the current set
    mpos = 0
    for i in range(1, k):
        if q[idx[i]] < q[idx[mpos]]:
            mpos = i
    for e in range(k, n):
        if q[e] > q[idx[mpos]]:
            idx[mpos] = e
            mpos = 0
            for i in range(1, k):
                if q[idx[i]] < q[idx[mpos]]:
                    mpos = i
    return k


@njit(cache=True, fastmath=_FM)
def _gated_lookup(a, gate, target, z, gv, scratch):
    """Cross-entropy of softmax(gate · a) at ``target``; writes gv = softmax − onehot (the
    gradient w.r.t. the logits) and returns (loss, ∂loss/∂gate)."""
    gz = _like(z, gate)
    for e in range(a.shape[0]):
        z[e] = gz * a[e]
    loss = _softmax_grad(z, target, gv, scratch)
    gr = 0.0
    for e in range(a.shape[0]):
        gr += gv[e] * a[e]
    return loss, gr


@njit(cache=True)
def _push(g_store, g_row, g_idx, g_scale, ne, store, row, nv, scale):
    """Record that row ``row`` of store ``store`` gets gradient vector ``nv`` × ``scale``."""
    g_store[ne] = store
    g_row[ne] = row
    g_idx[ne] = nv
    g_scale[ne] = scale
    return ne + 1


@njit(cache=True, fastmath=_FM)
def _train_steps(atomic, items, order, start_pos, n_steps, bs, step0, cot, R,
                 A, B, S, C, D, M, lastA, lastB, lastS, lastC, lastD, lastM, rho,
                 lr, dec, dec_m, lr_m, lr_cd, topk, lr_rho):
    """Run ``n_steps`` SGD steps on the item order (positions start_pos, start_pos+1, ...).

    ``order`` enumerates item ids: < len(atomic) are atomic facts, the rest two-hop items.
    Returns (per-step summed losses, number of loss terms): the caller adds the steps in
    order, so that splitting a run into calls never changes the sums."""
    E = A.shape[1]
    na = atomic.shape[0]
    max_entries = bs * (topk + 4) + 4
    g_store = np.empty(max_entries, np.int64)
    g_row = np.empty(max_entries, np.int64)
    g_idx = np.empty(max_entries, np.int64)      # which gradient vector
    g_scale = np.empty(max_entries)              # and its multiplier
    g_vec = np.empty((bs * 3 + 4, E), A.dtype)
    z = np.empty(E, A.dtype)
    q = np.empty(E, A.dtype)
    dq = np.zeros(E, A.dtype)
    scratch = np.empty(E, np.int32)
    kidx = np.empty(topk, np.int64)
    step_loss = np.zeros(n_steps)
    n_terms = 0
    pos = start_pos
    for s in range(n_steps):
        step = step0 + s
        ne = 0
        nv = 0
        grho = np.zeros(4)
        for bi in range(bs):
            it = order[pos % order.shape[0]]
            pos += 1
            if it < na:
                h, r, t = atomic[it, 0], atomic[it, 1], atomic[it, 2]
                row = h * R + r
                loss, gr = _gated_lookup(_fresh(A, lastA, row, step, dec), rho[0], t, z,
                                         g_vec[nv], scratch)
                step_loss[s] += loss
                n_terms += 1
                grho[0] += gr
                ne = _push(g_store, g_row, g_idx, g_scale, ne, STORE_A, row, nv, rho[0])
                nv += 1
                continue
            j = it - na
            h, r1, r2, b, t = items[j, 0], items[j, 1], items[j, 2], items[j, 3], items[j, 4]
            if cot:
                row1 = h * R + r1
                loss, gr = _gated_lookup(_fresh(A, lastA, row1, step, dec), rho[1], b, z,
                                         g_vec[nv], scratch)
                step_loss[s] += loss
                n_terms += 1
                grho[1] += gr
                ne = _push(g_store, g_row, g_idx, g_scale, ne, STORE_A, row1, nv, rho[1])
                nv += 1
                rb = b * R + r2
                rc = h * R + r2
                rd = r1 * R + r2
                a2 = _fresh(A, lastA, rb, step, dec)
                s2 = _fresh(S, lastS, rb, step, dec)
                c2 = _fresh(C, lastC, rc, step, dec)
                d2 = _fresh(D, lastD, rd, step, dec)
                r2g = _like(z, rho[2])
                for e in range(E):
                    z[e] = r2g * (a2[e] + s2[e]) + c2[e] + d2[e]
                gv = g_vec[nv]
                step_loss[s] += _softmax_grad(z, t, gv, scratch)
                n_terms += 1
                gr = 0.0
                for e in range(E):
                    gr += gv[e] * (a2[e] + s2[e])
                grho[2] += gr
                ne = _push(g_store, g_row, g_idx, g_scale, ne, STORE_A, rb, nv, rho[2])
                ne = _push(g_store, g_row, g_idx, g_scale, ne, STORE_S, rb, nv, rho[2])
                ne = _push(g_store, g_row, g_idx, g_scale, ne, STORE_C, rc, nv, lr_cd)
                ne = _push(g_store, g_row, g_idx, g_scale, ne, STORE_D, rd, nv, lr_cd)
                nv += 1
            else:
                row1 = h * R + r1
                a1 = _fresh(A, lastA, row1, step, dec)
                mx = a1[0]
                for e in range(1, E):
                    if a1[e] > mx:
                        mx = a1[e]
                _vexp(a1, mx, q, scratch)
                tot = 0.0
                for e in range(E):
                    tot += q[e]
                inv = _like(q, 1.0 / tot)
                for e in range(E):
                    q[e] *= inv
                kk = _topk(q, topk, kidx)
                mrow = _fresh(M, lastM, j, step, dec_m)
                for e in range(E):
                    z[e] = mrow[e]
                for ii in range(kk):
                    e0 = kidx[ii]
                    br = _fresh(B, lastB, e0 * R + r2, step, dec)
                    w = _like(z, rho[3] * q[e0])
                    for e in range(E):
                        z[e] += w * br[e]
                gv = g_vec[nv]
                step_loss[s] += _softmax_grad(z, t, gv, scratch)
                n_terms += 1
                # gate, B rows, M row, and the bridge distribution
                gr = 0.0
                qdq = 0.0
                for ii in range(kk):
                    e0 = kidx[ii]
                    br = B[e0 * R + r2]
                    dot = 0.0
                    for e in range(E):
                        dot += gv[e] * br[e]
                    gr += q[e0] * dot
                    dq[e0] = _like(dq, rho[3] * dot)
                    qdq += q[e0] * dq[e0]
                    ne = _push(g_store, g_row, g_idx, g_scale, ne, STORE_B, e0 * R + r2, nv,
                               rho[3] * q[e0])
                grho[3] += gr
                ne = _push(g_store, g_row, g_idx, g_scale, ne, STORE_M, j, nv, lr_m)
                nv += 1
                # softmax backward through q = softmax(A[h, r1]) (dq is zero off the top-k)
                qdq_t = _like(q, qdq)
                for e in range(E):
                    g_vec[nv, e] = -q[e] * qdq_t
                for ii in range(kk):
                    e0 = kidx[ii]
                    g_vec[nv, e0] += q[e0] * dq[e0]
                    dq[e0] = 0.0
                ne = _push(g_store, g_row, g_idx, g_scale, ne, STORE_A, row1, nv, 1.0)
                nv += 1
        # apply (rows are already fresh for this step)
        for k in range(ne):
            st = g_store[k]
            rw = g_row[k]
            if st == STORE_A:
                tgt = _fresh(A, lastA, rw, step, dec)
            elif st == STORE_B:
                tgt = _fresh(B, lastB, rw, step, dec)
            elif st == STORE_S:
                tgt = _fresh(S, lastS, rw, step, dec)
            elif st == STORE_C:
                tgt = _fresh(C, lastC, rw, step, dec)
            elif st == STORE_D:
                tgt = _fresh(D, lastD, rw, step, dec)
            else:
                tgt = _fresh(M, lastM, rw, step, dec_m)
            f = _like(tgt, lr * g_scale[k])
            gv = g_vec[g_idx[k]]
            for e in range(E):
                tgt[e] -= f * gv[e]
        for i in range(4):
            rho[i] = max(0.0, rho[i] - lr_rho[i] * grho[i] / bs)
    return step_loss, n_terms


@njit(cache=True, fastmath=_FM)
def _argmax(z):
    best = 0
    for e in range(1, z.shape[0]):
        if z[e] > z[best]:
            best = e
    return best


@njit(cache=True, fastmath=_FM)
def _eval_atomic(h, r, t, R, A, lastA, step, dec, rho_a):
    correct = 0
    for i in range(h.shape[0]):
        a = _fresh(A, lastA, h[i] * R + r[i], step, dec)
        if rho_a > 0 and _argmax(a) == t[i]:
            correct += 1
        elif rho_a == 0 and t[i] == 0:
            correct += 1
    return correct / max(h.shape[0], 1)


@njit(cache=True, fastmath=_FM)
def _eval_two_hop(h, r1, r2, b, t, index, cot, R, A, B, S, C, D, M, lastA, lastB, lastS,
                  lastC, lastD, lastM, step, dec, dec_m, rho, topk, perturb, prng):
    """Exact-match accuracy.  CoT: b̂ = argmax ρ₁A[h,r1], then t̂ from stage 2 with b̂; both
    must match.  ``perturb`` (stage-2 dependence test, teacher-forced b): 0 none, 1 replace h,
    2 replace r1, 3 replace b, 4 replace r2 by ``prng`` values; returns stage-2 accuracy."""
    E = A.shape[1]
    z = np.empty(E)
    q = np.empty(E)
    kidx = np.empty(topk, np.int64)
    correct = 0
    n = h.shape[0]
    for i in range(n):
        if cot:
            if perturb == 0:
                a1 = _fresh(A, lastA, h[i] * R + r1[i], step, dec)
                bh = _argmax(a1) if rho[1] > 0 else 0
                if bh != b[i]:
                    continue
            hh, rr1, bb, rr2 = h[i], r1[i], b[i], r2[i]
            if perturb == 1:
                hh = prng[i] % E
            elif perturb == 2:
                rr1 = prng[i] % R
            elif perturb == 3:
                bb = prng[i] % E
            elif perturb == 4:
                rr2 = prng[i] % R
            a2 = _fresh(A, lastA, bb * R + rr2, step, dec)
            s2 = _fresh(S, lastS, bb * R + rr2, step, dec)
            c2 = _fresh(C, lastC, hh * R + rr2, step, dec)
            d2 = _fresh(D, lastD, rr1 * R + rr2, step, dec)
            for e in range(E):
                z[e] = rho[2] * (a2[e] + s2[e]) + c2[e] + d2[e]
            if _argmax(z) == t[i]:
                correct += 1
        else:
            a1 = _fresh(A, lastA, h[i] * R + r1[i], step, dec)
            mx = a1[0]
            for e in range(1, E):
                if a1[e] > mx:
                    mx = a1[e]
            tot = 0.0
            for e in range(E):
                q[e] = math.exp(a1[e] - mx)
                tot += q[e]
            for e in range(E):
                q[e] /= tot
            kk = _topk(q, topk, kidx)
            if index[i] >= 0:
                mrow = _fresh(M, lastM, index[i], step, dec_m)
                for e in range(E):
                    z[e] = mrow[e]
            else:
                for e in range(E):
                    z[e] = 0.0
            for ii in range(kk):
                e0 = kidx[ii]
                br = _fresh(B, lastB, e0 * R + r2[i], step, dec)
                w = rho[3] * q[e0]
                for e in range(E):
                    z[e] += w * br[e]
            if _argmax(z) == t[i]:
                correct += 1
    return correct / max(n, 1)
