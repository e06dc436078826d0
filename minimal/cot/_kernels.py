"""Numba kernels of Level 1 of the CoT circuit model, the trainable two-stage associative
memory (docs/cot.md).  The public wrapper is :class:`minimal.cot.model.TSAM`; the slow float64
NumPy twin used by the tests is :mod:`minimal.cot.reference`.

Stores are tables of logit rows in R^{|E|}, addressed by an integer key (A, B, S, C: e·|R| + r;
D: r1·|R| + r2; M: the training-item index).  A store is three arrays: ``idx`` (key → slot, −1
when the key has no slot), ``rows`` (slot → row) and ``last`` (slot → the step up to which the
row's weight decay has been applied; −1: the row still holds its initial value, which is then
generated on demand).  The sparse layout gives slots only to the keys the training data can touch
(:mod:`minimal.cot.stores`); the dense layout gives every key a slot.  Both run the same code.

Initial values are a pure function of (init key, store, key): N(0, init_std²) entries from a
SplitMix64 stream seeded by the row, so a row is the same whether it was materialised at step 0
or at its first use.  Weight decay is applied lazily and exactly: a row untouched since step s₀
is multiplied by Π_{s₀ ≤ u < s} (1 − η_u ω) when it is next read (a cumulative-log table).

Forward maps (g(·) is a gate index, so that gates can be tied):
  atomic   z = ρ_a A[h, r]
  stage 1  z_b = ρ₁ A[h, r1]
  stage 2  z_t = ρ₂ A[b, r2] + S[b, r2] + C[h, r2] + D[r1, r2]
  no CoT   q = softmax(ρ₁ A[h, r1]);  z_t = ρ_I Σ_{e ∈ K} q_e B[e, r2] + M[i]
where K is the ``topk`` largest q_e among the bridges e for which (e, r2) is an atomic fact
(the exact mixture costs |E| rows per item; B has no row for a non-fact pair).  The bridges of
every r2 are given as a list (``bridges[bptr[r2]:bptr[r2 + 1]]``, ascending), so the selection
visits only them.

Updates: stores take SGD steps on the batch-summed cross-entropy (learning rate η_s with a linear
warm-up; the stage-2 stores S, C, D scaled by ``lr_s2``, M by ``lr_m``) with L2 decay; the gates
take AdamW steps on the batch-mean gradient (learning rate ``gate_lr`` with the same warm-up,
decoupled decay ``gate_wd``) and are clipped at 0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._numerics import _FM, _like, _vexp
from .._rng import _fill_normal, _mix64

STORE_A, STORE_B, STORE_S, STORE_C, STORE_D, STORE_M = range(6)
STORE_NAMES = ("A", "B", "S", "C", "D", "M")
#: gate uses: atomic, stage 1 (and the no-CoT bridge), stage 2, implicit second hop
USE_ATOMIC, USE_STAGE1, USE_STAGE2, USE_IMPLICIT = range(4)
BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8

_K_STORE = np.uint64(0xA24BAED4963EE407)
_K_ROW = np.uint64(0x9FB21C651E98DF25)


# ----------------------------------------------------------------------------------------------
# schedule and initial values
# ----------------------------------------------------------------------------------------------

@njit(cache=True)
def _warm(step, warmup):
    """Linear warm-up factor of step ``step`` (1 after ``warmup`` steps)."""
    if warmup <= 0 or step >= warmup:
        return 1.0
    return (step + 1.0) / warmup


@njit(cache=True)
def _cumlog(tab, tail, step):
    """Σ_{u < step} log(1 − η_u ω): ``tab`` holds steps 0..W, ``tail`` the constant rate after."""
    w = tab.shape[0] - 1
    if step <= w:
        return tab[step]
    return tab[w] + (step - w) * tail


@njit(cache=True)
def _decay(tab, tail, s0, s1):
    """Product of the per-step decay factors of steps s0 … s1 − 1."""
    return math.exp(_cumlog(tab, tail, s1) - _cumlog(tab, tail, s0))


@njit(cache=True)
def _init_row(init_key, sid, key, out, init_std, buf):
    """out = the initial value of row ``key`` of store ``sid`` (N(0, init_std²) entries)."""
    if init_std == 0.0:
        for e in range(out.shape[0]):
            out[e] = 0.0
        return
    state = np.empty(1, np.uint64)
    state[0] = _mix64(np.uint64(init_key) ^ _mix64(np.uint64(sid + 1) * _K_STORE +
                                                   np.uint64(key) * _K_ROW))
    _fill_normal(state, buf, init_std)
    for e in range(out.shape[0]):
        out[e] = buf[e]


@njit(cache=True, fastmath=_FM)
def _fresh(idx, rows, last, sid, key, step, tab, tail, init_key, init_std, buf):
    """Row ``key`` of a store brought up to ``step`` (materialised or decayed in place)."""
    slot = idx[key]
    r = rows[slot]
    ls = last[slot]
    if ls < 0:
        _init_row(init_key, sid, key, r, init_std, buf)
        if step > 0 and init_std != 0.0:
            f = _like(r, _decay(tab, tail, 0, step))
            for e in range(r.shape[0]):
                r[e] *= f
        last[slot] = step
    elif ls < step:
        f = _like(r, _decay(tab, tail, ls, step))
        for e in range(r.shape[0]):
            r[e] *= f
        last[slot] = step
    return r


@njit(cache=True, fastmath=_FM)
def _peek(idx, rows, last, sid, key, step, tab, tail, init_key, init_std, buf, scratch):
    """Read-only view of row ``key`` at ``step``: (array, factor) with value = factor · array.
    Rows without a slot or not yet materialised are generated into ``scratch``."""
    slot = idx[key] if key < idx.shape[0] else -1
    if slot >= 0 and last[slot] >= 0:
        return rows[slot], _decay(tab, tail, last[slot], step)
    _init_row(init_key, sid, key, scratch, init_std, buf)
    return scratch, _decay(tab, tail, 0, step)


# ----------------------------------------------------------------------------------------------
# small pieces
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _softmax_grad(z, target, out, scratch):
    """out = softmax(z) − onehot(target); returns the cross-entropy (float64)."""
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
def _softmax(z, out, scratch):
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


@njit(cache=True)
def _worst(val, idx_out, k):
    """Position in idx_out[:k] of the smallest value (``val[i]`` is the q of ``idx_out[i]``;
    ties: the larger index)."""
    mpos = 0
    vm = val[0]
    for i in range(1, k):
        a = val[i]
        if a < vm or (a == vm and idx_out[i] > idx_out[mpos]):
            mpos = i
            vm = a
    return mpos


@njit(cache=True)
def _topk_valid(q, k, idx_out, val, bridges, lo, hi):
    """Indices of the (at most) k largest q[e] among the bridges ``bridges[lo:hi]`` (the
    entities e, ascending, for which (e, r2) is a fact); returns their number.  Ties keep the
    smaller index.  ``val`` (length ≥ k) is scratch holding the q of the kept entries, so the
    scan for the smallest kept one reads one contiguous row."""
    n = 0
    mpos = 0
    for c in range(lo, hi):
        e = bridges[c]
        v = q[e]
        if n < k:
            idx_out[n] = e
            val[n] = v
            n += 1
            if n == k:
                mpos = _worst(val, idx_out, k)
        elif v > val[mpos]:
            idx_out[mpos] = e
            val[mpos] = v
            mpos = _worst(val, idx_out, k)
    return n


@njit(cache=True, fastmath=_FM)
def _dotf(a, b):
    s = 0.0
    for e in range(a.shape[0]):
        s += a[e] * b[e]
    return s


@njit(cache=True)
def _push(ent, ent_scale, ne, sid, key, vec, scale):
    """Record that row ``key`` of store ``sid`` gets gradient vector ``vec`` × ``scale``."""
    ent[ne, 0] = sid
    ent[ne, 1] = key
    ent[ne, 2] = vec
    ent_scale[ne] = scale
    return ne + 1


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _train_steps(atomic, items, order, start_pos, n_steps, bs, step0, cot, R, idx, rows, last,
                 bridges, bptr, rho, adam_m, adam_v, gate_of, lr, warmup, tab, tail, tab_m,
                 tail_m, lr_m, lr_s2, topk, gate_lr, gate_wd, init_key, init_std, grad_out):
    """Run ``n_steps`` steps on the item order (positions start_pos, start_pos + 1, ...).

    ``order`` enumerates item ids: < len(atomic) are atomic facts, the rest two-hop items.
    ``gate_of[use]`` maps the four uses to entries of ``rho``.  Returns (per-step summed losses,
    number of loss terms); ``grad_out`` receives the batch-mean gate gradient of the last step.
    """
    A = rows[STORE_A]
    E = A.shape[1]
    dt = A.dtype
    na = atomic.shape[0]
    max_entries = bs * (topk + 5) + 4
    ent = np.empty((max_entries, 3), np.int64)
    ent_scale = np.empty(max_entries)
    g_vec = np.empty((bs * 2 + 2, E), dt)
    z = np.empty(E, dt)
    q = np.empty(E, dt)
    dq = np.zeros(E, dt)
    buf = np.empty(E)
    scratch = np.empty(E, np.int32)
    kidx = np.empty(max(topk, 1), np.int64)
    kval = np.empty(max(topk, 1))
    step_loss = np.zeros(n_steps)
    grho = np.zeros(rho.shape[0])
    ga = gate_of[USE_ATOMIC]
    g1 = gate_of[USE_STAGE1]
    g2 = gate_of[USE_STAGE2]
    gi = gate_of[USE_IMPLICIT]
    n_terms = 0
    pos = start_pos
    for s in range(n_steps):
        step = step0 + s
        w = _warm(step, warmup)
        eta = lr * w
        ne = 0
        nv = 0
        for i in range(grho.shape[0]):
            grho[i] = 0.0
        for bi in range(bs):
            it = order[pos % order.shape[0]]
            pos += 1
            if it < na:
                h, r, t = atomic[it, 0], atomic[it, 1], atomic[it, 2]
                key = h * R + r
                a = _fresh(idx[STORE_A], A, last[STORE_A], STORE_A, key, step, tab, tail,
                           init_key, init_std, buf)
                g = _like(z, rho[ga])
                for e in range(E):
                    z[e] = g * a[e]
                gv = g_vec[nv]
                step_loss[s] += _softmax_grad(z, t, gv, scratch)
                n_terms += 1
                grho[ga] += _dotf(gv, a)
                ne = _push(ent, ent_scale, ne, STORE_A, key, nv, rho[ga])
                nv += 1
                continue
            j = it - na
            h, r1, r2, b, t = items[j, 0], items[j, 1], items[j, 2], items[j, 3], items[j, 4]
            key1 = h * R + r1
            a1 = _fresh(idx[STORE_A], A, last[STORE_A], STORE_A, key1, step, tab, tail,
                        init_key, init_std, buf)
            if cot:
                # stage 1: h r1 (r2) -> b
                g = _like(z, rho[g1])
                for e in range(E):
                    z[e] = g * a1[e]
                gv = g_vec[nv]
                step_loss[s] += _softmax_grad(z, b, gv, scratch)
                n_terms += 1
                grho[g1] += _dotf(gv, a1)
                ne = _push(ent, ent_scale, ne, STORE_A, key1, nv, rho[g1])
                nv += 1
                # stage 2: (b, r2) plus the partial-context shortcuts -> t
                kb = b * R + r2
                kc = h * R + r2
                kd = r1 * R + r2
                a2 = _fresh(idx[STORE_A], A, last[STORE_A], STORE_A, kb, step, tab, tail,
                            init_key, init_std, buf)
                s2 = _fresh(idx[STORE_S], rows[STORE_S], last[STORE_S], STORE_S, kb, step,
                            tab, tail, init_key, init_std, buf)
                c2 = _fresh(idx[STORE_C], rows[STORE_C], last[STORE_C], STORE_C, kc, step,
                            tab, tail, init_key, init_std, buf)
                d2 = _fresh(idx[STORE_D], rows[STORE_D], last[STORE_D], STORE_D, kd, step,
                            tab, tail, init_key, init_std, buf)
                g = _like(z, rho[g2])
                for e in range(E):
                    z[e] = g * a2[e] + s2[e] + c2[e] + d2[e]
                gv = g_vec[nv]
                step_loss[s] += _softmax_grad(z, t, gv, scratch)
                n_terms += 1
                grho[g2] += _dotf(gv, a2)
                ne = _push(ent, ent_scale, ne, STORE_A, kb, nv, rho[g2])
                ne = _push(ent, ent_scale, ne, STORE_S, kb, nv, lr_s2)
                ne = _push(ent, ent_scale, ne, STORE_C, kc, nv, lr_s2)
                ne = _push(ent, ent_scale, ne, STORE_D, kd, nv, lr_s2)
                nv += 1
            else:
                gq = rho[g1]
                gI = rho[gi]
                g = _like(z, gq)
                for e in range(E):
                    z[e] = g * a1[e]
                _softmax(z, q, scratch)
                kk = _topk_valid(q, topk, kidx, kval, bridges, bptr[r2], bptr[r2 + 1])
                mrow = _fresh(idx[STORE_M], rows[STORE_M], last[STORE_M], STORE_M, j, step,
                              tab_m, tail_m, init_key, init_std, buf)
                for e in range(E):
                    z[e] = mrow[e]
                for ii in range(kk):
                    e0 = kidx[ii]
                    br = _fresh(idx[STORE_B], rows[STORE_B], last[STORE_B], STORE_B,
                                e0 * R + r2, step, tab, tail, init_key, init_std, buf)
                    wq = _like(z, gI * q[e0])
                    for e in range(E):
                        z[e] += wq * br[e]
                gv = g_vec[nv]
                step_loss[s] += _softmax_grad(z, t, gv, scratch)
                n_terms += 1
                # the implicit gate, the B rows, the M row and the bridge distribution
                qdq = 0.0
                for ii in range(kk):
                    e0 = kidx[ii]
                    kb = e0 * R + r2
                    dot = _dotf(gv, rows[STORE_B][idx[STORE_B][kb]])
                    grho[gi] += q[e0] * dot
                    dq[e0] = _like(dq, gI * dot)
                    qdq += q[e0] * dq[e0]
                    ne = _push(ent, ent_scale, ne, STORE_B, kb, nv, gI * q[e0])
                ne = _push(ent, ent_scale, ne, STORE_M, j, nv, lr_m)
                nv += 1
                # softmax backward: dL/dz1_e = q_e (dq_e − Σ q dq), z1 = ρ₁ A[h, r1]
                qt = _like(q, qdq)
                gz = g_vec[nv]
                for e in range(E):
                    gz[e] = -q[e] * qt
                for ii in range(kk):
                    e0 = kidx[ii]
                    gz[e0] += q[e0] * dq[e0]
                    dq[e0] = 0.0
                grho[g1] += _dotf(gz, a1)
                ne = _push(ent, ent_scale, ne, STORE_A, key1, nv, gq)
                nv += 1
        # apply the store updates (every row was brought up to this step when read)
        for k in range(ne):
            sid = ent[k, 0]
            slot = idx[sid][ent[k, 1]]
            tgt = rows[sid][slot]
            f = _like(tgt, eta * ent_scale[k])
            gv = g_vec[ent[k, 2]]
            for e in range(E):
                tgt[e] -= f * gv[e]
        # gates: Adam on the batch-mean gradient, clipped at 0
        t_ad = step + 1
        c1 = 1.0 - BETA1 ** t_ad
        c2 = 1.0 - BETA2 ** t_ad
        glr = gate_lr * w
        for i in range(rho.shape[0]):
            gm = grho[i] / bs
            grad_out[i] = gm
            adam_m[i] = BETA1 * adam_m[i] + (1.0 - BETA1) * gm
            adam_v[i] = BETA2 * adam_v[i] + (1.0 - BETA2) * gm * gm
            upd = glr * (adam_m[i] / c1) / (math.sqrt(adam_v[i] / c2) + ADAM_EPS)
            rho[i] = max(0.0, rho[i] - upd - glr * gate_wd * rho[i])
    return step_loss, n_terms


# ----------------------------------------------------------------------------------------------
# evaluation (read-only)
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _argmax(z):
    best = 0
    for e in range(1, z.shape[0]):
        if z[e] > z[best]:
            best = e
    return best


@njit(cache=True, fastmath=_FM)
def _eval_atomic(h, r, t, R, idx, rows, last, rho_a, step, tab, tail, init_key, init_std):
    A = rows[STORE_A]
    E = A.shape[1]
    z = np.empty(E)
    buf = np.empty(E)
    sc = np.empty(E, A.dtype)
    correct = 0
    for i in range(h.shape[0]):
        a, f = _peek(idx[STORE_A], A, last[STORE_A], STORE_A, h[i] * R + r[i], step, tab, tail,
                     init_key, init_std, buf, sc)
        g = rho_a * f
        for e in range(E):
            z[e] = g * a[e]
        if _argmax(z) == t[i]:
            correct += 1
    return correct / max(h.shape[0], 1)


@njit(cache=True, fastmath=_FM)
def _stage2_logits(z, h, r1, r2, b, R, idx, rows, last, rho2, step, tab, tail, init_key,
                   init_std, buf, sc):
    E = z.shape[0]
    a2, fa = _peek(idx[STORE_A], rows[STORE_A], last[STORE_A], STORE_A, b * R + r2, step, tab,
                   tail, init_key, init_std, buf, sc[0])
    s2, fs = _peek(idx[STORE_S], rows[STORE_S], last[STORE_S], STORE_S, b * R + r2, step, tab,
                   tail, init_key, init_std, buf, sc[1])
    c2, fc = _peek(idx[STORE_C], rows[STORE_C], last[STORE_C], STORE_C, h * R + r2, step, tab,
                   tail, init_key, init_std, buf, sc[2])
    d2, fd = _peek(idx[STORE_D], rows[STORE_D], last[STORE_D], STORE_D, r1 * R + r2, step, tab,
                   tail, init_key, init_std, buf, sc[3])
    ga = rho2 * fa
    for e in range(E):
        z[e] = ga * a2[e] + fs * s2[e] + fc * c2[e] + fd * d2[e]


@njit(cache=True, fastmath=_FM)
def _eval_two_hop(h, r1, r2, b, t, index, cot, R, idx, rows, last, bridges, bptr, rho, gate_of,
                  step, tab, tail, tab_m, tail_m, init_key, init_std, topk, perturb, prng):
    """Exact-match accuracy.  CoT: b̂ = argmax ρ₁A[h,r1], then t̂ from stage 2 with b̂; both
    must match.  ``perturb`` (stage-2 dependence test, teacher-forced b): 0 none, 1 replace h,
    2 replace r1, 3 replace b, 4 replace r2 by ``prng`` values, 5 nothing replaced; returns the
    stage-2 accuracy."""
    A = rows[STORE_A]
    E = A.shape[1]
    z = np.empty(E)
    q = np.empty(E)
    buf = np.empty(E)
    sc = np.empty((4, E), A.dtype)
    kidx = np.empty(max(topk, 1), np.int64)
    kval = np.empty(max(topk, 1))
    rho1 = rho[gate_of[USE_STAGE1]]
    rho2 = rho[gate_of[USE_STAGE2]]
    rhoI = rho[gate_of[USE_IMPLICIT]]
    correct = 0
    n = h.shape[0]
    for i in range(n):
        a1, f1 = _peek(idx[STORE_A], A, last[STORE_A], STORE_A, h[i] * R + r1[i], step, tab,
                       tail, init_key, init_std, buf, sc[0])
        g = rho1 * f1
        for e in range(E):
            z[e] = g * a1[e]
        if cot:
            if perturb == 0:
                if _argmax(z) != b[i]:
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
            _stage2_logits(z, hh, rr1, rr2, bb, R, idx, rows, last, rho2, step, tab, tail,
                           init_key, init_std, buf, sc)
            if _argmax(z) == t[i]:
                correct += 1
        else:
            mx = z[0]
            for e in range(1, E):
                if z[e] > mx:
                    mx = z[e]
            tot = 0.0
            for e in range(E):
                q[e] = math.exp(z[e] - mx)
                tot += q[e]
            for e in range(E):
                q[e] /= tot
            kk = _topk_valid(q, topk, kidx, kval, bridges, bptr[r2[i]], bptr[r2[i] + 1])
            if index[i] >= 0:
                m, fm = _peek(idx[STORE_M], rows[STORE_M], last[STORE_M], STORE_M, index[i],
                              step, tab_m, tail_m, init_key, init_std, buf, sc[1])
                for e in range(E):
                    z[e] = fm * m[e]
            else:
                for e in range(E):
                    z[e] = 0.0
            for ii in range(kk):
                e0 = kidx[ii]
                br, fb = _peek(idx[STORE_B], rows[STORE_B], last[STORE_B], STORE_B,
                               e0 * R + r2[i], step, tab, tail, init_key, init_std, buf, sc[2])
                wq = rhoI * q[e0] * fb
                for e in range(E):
                    z[e] += wq * br[e]
            if _argmax(z) == t[i]:
                correct += 1
    return correct / max(n, 1)
