"""Slow, obviously-correct float64 NumPy twin of the Level-1 kernels (tests only).

Dense stores (every key of every store is a row, decayed eagerly every step), one item at a
time, gradients written out by hand from the forward maps of docs/cot.md ("Level 1"):

  atomic   z = ρ_a A[h, r]
  stage 1  z_b = ρ₁ A[h, r1]
  stage 2  z_t = ρ₂ A[b, r2] + S[b, r2] + C[h, r2] + D[r1, r2]
  no CoT   q = softmax(ρ₁ A[h, r1]),  z_t = ρ_I Σ_{e ∈ K} q_e B[e, r2] + M[i]

with K the ``topk`` largest q_e among the bridges e for which (e, r2) is a fact (ties: smaller
index).  One step: every store row θ ← (1 − η_s ω)(θ − η_s ∂L/∂θ) (M: η_M, ω_M; S, C, D: the
gradient scaled by ``s2_lr_scale``), L the batch-summed cross-entropy; gates ρ ← max(0, ρ −
Adam(∂L/∂ρ / batch) − η_g ω_g ρ) (AdamW).  ``η_s`` and the Adam step ramp up linearly over the warm-up.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as _K

NAMES = _K.STORE_NAMES
B1, B2, EPS = _K.BETA1, _K.BETA2, _K.ADAM_EPS


def _softmax(z):
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


def _ce(z, t):
    z = z - z.max()
    return float(np.log(np.exp(z).sum()) - z[t])


class RefModel:
    """Dense float64 state of Level 1 and its step."""

    def __init__(self, cfg, world, init_key):
        self.cfg, self.world = cfg, world
        E, R = world.cfg.n_entities, world.cfg.n_relations
        self.E, self.R = E, R
        space = {"A": E * R, "B": E * R, "S": E * R, "C": E * R, "D": R * R,
                 "M": len(world.train_items)}
        buf = np.empty(E)
        self.stores = {}
        for sid, name in enumerate(NAMES):
            rows = np.empty((space[name], E))
            for key in range(space[name]):
                _K._init_row(np.uint64(init_key), sid, key, rows[key], cfg.init_std, buf)
            self.stores[name] = rows
        self.gate_of = [0, 0, 0, 3] if cfg.gates == "lookup" else [0, 1, 2, 3]
        self.rho = np.full(4, float(cfg.rho0))
        self.m = np.zeros(4)
        self.v = np.zeros(4)
        self.step = 0
        at = world.atomic
        self.fact = np.zeros(E * R, bool)
        self.fact[at[:, 0] * R + at[:, 1]] = True

    # -- forward ------------------------------------------------------------------------------
    def gates(self):
        g = self.gate_of
        return self.rho[g[0]], self.rho[g[1]], self.rho[g[2]], self.rho[g[3]]

    def bridges(self, q, r2):
        """The top-k fact bridges of the no-CoT mixture (ties: the smaller index first)."""
        cand = [e for e in range(self.E) if self.fact[e * self.R + r2]]
        cand.sort(key=lambda e: (-q[e], e))
        return cand[:self.cfg.bridge_topk]

    def item_loss(self, it, stores=None, rho=None):
        """Cross-entropy terms of item ``it`` (atomic if < len(atomic))."""
        s = self.stores if stores is None else stores
        rho = self.rho if rho is None else rho
        g = self.gate_of
        ra, r1g, r2g, rI = rho[g[0]], rho[g[1]], rho[g[2]], rho[g[3]]
        R = self.R
        na = len(self.world.atomic)
        if it < na:
            h, r, t = self.world.atomic[it]
            return _ce(ra * s["A"][h * R + r], t)
        j = it - na
        h, r1, r2, b, t = self.world.train_items[j]
        if self.cfg.cot:
            loss = _ce(r1g * s["A"][h * R + r1], b)
            z = (r2g * s["A"][b * R + r2] + s["S"][b * R + r2] + s["C"][h * R + r2] +
                 s["D"][r1 * R + r2])
            return loss + _ce(z, t)
        q = _softmax(r1g * s["A"][h * R + r1])
        z = s["M"][j].copy()
        for e in self.bridges(q, r2):
            z += rI * q[e] * s["B"][e * R + r2]
        return _ce(z, t)

    def batch_loss(self, ids, stores=None, rho=None):
        return sum(self.item_loss(int(i), stores, rho) for i in ids)

    # -- gradients ----------------------------------------------------------------------------
    def grads(self, ids):
        """(dense store gradients, gate gradient) of the batch-summed loss."""
        s = self.stores
        G = {k: np.zeros_like(v) for k, v in s.items()}
        grho = np.zeros(4)
        g = self.gate_of
        ra, r1g, r2g, rI = self.gates()
        R = self.R
        na = len(self.world.atomic)
        for it in (int(i) for i in ids):
            if it < na:
                h, r, t = self.world.atomic[it]
                a = s["A"][h * R + r]
                d = _softmax(ra * a)
                d[t] -= 1.0
                G["A"][h * R + r] += ra * d
                grho[g[0]] += d @ a
                continue
            j = it - na
            h, r1, r2, b, t = self.world.train_items[j]
            a1 = s["A"][h * R + r1]
            if self.cfg.cot:
                d = _softmax(r1g * a1)
                d[b] -= 1.0
                G["A"][h * R + r1] += r1g * d
                grho[g[1]] += d @ a1
                a2 = s["A"][b * R + r2]
                z = r2g * a2 + s["S"][b * R + r2] + s["C"][h * R + r2] + s["D"][r1 * R + r2]
                d = _softmax(z)
                d[t] -= 1.0
                G["A"][b * R + r2] += r2g * d
                G["S"][b * R + r2] += d
                G["C"][h * R + r2] += d
                G["D"][r1 * R + r2] += d
                grho[g[2]] += d @ a2
                continue
            q = _softmax(r1g * a1)
            ks = self.bridges(q, r2)
            z = s["M"][j].copy()
            for e in ks:
                z += rI * q[e] * s["B"][e * R + r2]
            d = _softmax(z)
            d[t] -= 1.0
            G["M"][j] += d
            dq = np.zeros(self.E)
            for e in ks:
                br = s["B"][e * R + r2]
                G["B"][e * R + r2] += rI * q[e] * d
                grho[g[3]] += q[e] * (d @ br)
                dq[e] = rI * (d @ br)
            dz1 = q * (dq - q @ dq)                  # softmax Jacobian: diag(q) − q qᵀ
            G["A"][h * R + r1] += r1g * dz1
            grho[g[1]] += dz1 @ a1
        return G, grho

    # -- one step -----------------------------------------------------------------------------
    def train_step(self, ids):
        c = self.cfg
        w = 1.0 if c.warmup_steps <= 0 or self.step >= c.warmup_steps else \
            (self.step + 1.0) / c.warmup_steps
        eta = c.lr * w
        G, grho = self.grads(ids)
        for k, rows in self.stores.items():
            lr_k = eta * (c.m_lr_ratio if k == "M" else c.s2_lr_scale if k in "SCD" else 1.0)
            om = c.weight_decay * (c.m_decay_ratio if k == "M" else 1.0)
            eta_dec = eta * (c.m_lr_ratio if k == "M" else 1.0)
            rows -= lr_k * G[k]
            rows *= 1.0 - eta_dec * om
        gm = grho / len(ids)
        t = self.step + 1
        self.m = B1 * self.m + (1 - B1) * gm
        self.v = B2 * self.v + (1 - B2) * gm ** 2
        upd = c.gate_lr * w * (self.m / (1 - B1 ** t)) / (np.sqrt(self.v / (1 - B2 ** t)) + EPS)
        self.rho = np.maximum(0.0, self.rho - upd - c.gate_lr * w * c.gate_weight_decay *
                              self.rho)
        self.step += 1
        return G, grho / len(ids)

    # -- evaluation ---------------------------------------------------------------------------
    def accuracy(self, probe: dict, atomic: bool) -> float:
        s, R = self.stores, self.R
        ra, r1g, r2g, rI = self.gates()
        ok = 0
        n = len(probe["h"])
        for i in range(n):
            if atomic:
                ok += int(np.argmax(ra * s["A"][probe["h"][i] * R + probe["r"][i]]) ==
                          probe["t"][i])
                continue
            h, r1, r2, b, t = (int(probe[k][i]) for k in ("h", "r1", "r2", "b", "t"))
            z1 = r1g * s["A"][h * R + r1]
            if self.cfg.cot:
                if int(np.argmax(z1)) != b:
                    continue
                z = r2g * s["A"][b * R + r2] + s["S"][b * R + r2] + s["C"][h * R + r2] + \
                    s["D"][r1 * R + r2]
            else:
                q = _softmax(z1)
                j = int(probe["index"][i])
                z = s["M"][j].copy() if j >= 0 else np.zeros(self.E)
                for e in self.bridges(q, r2):
                    z += rI * q[e] * s["B"][e * R + r2]
            ok += int(np.argmax(z) == t)
        return ok / max(n, 1)
