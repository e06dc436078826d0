"""Two-hop knowledge graph of Yao et al. / Wang et al. (docs/cot.md).

World: entities E, relations R; every head h has k_out distinct relations, each (h, r) a tail
uniform on E (self-loops allowed), giving the atomic fact map F(h, r) = t.  A fraction of the
atomic facts is OOD (never inside a training two-hop item).  Two-hop queries (h, r1, r2) have
bridge b = F(h, r1) and answer t = F(b, r2); both-ID queries go to the training pool (0.995) or
the ID test pool, both-OOD ones to the OOD test pool, mixed ones are discarded.  λ·|ID atomic|
training items are subsampled from the training pool.

Noise (ratio ξ) corrupts *training* items only, drawn per item into fresh variables: second hop
(t → uniform entity, b kept), first hop (b → uniform, t kept) or both.  The fact table, the pools
and every test label are never touched (the released generator's leak is not replicated).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..config import Seeds
from ..errors import ConfigError, ConfigWarning
from .config import COT_WORLDS, NOISE_MODES, TwoHopConfig  # noqa: F401 (re-exported)

PROBES = ("id_atomic", "ood_atomic", "train_inferred", "test_inferred_iid", "test_inferred_ood")
SPECIALS = ("<mask>", "<sep>", "<a>", "</a>", "<q>", "</q>", "<b>")


class TwoHopWorld:
    """Facts, pools, noisy training items and evaluation probes (all integer arrays)."""

    def __init__(self, cfg: TwoHopConfig, seeds: Seeds | int = 0, warn: bool = True):
        self.cfg = cfg
        self.seeds = seeds if isinstance(seeds, Seeds) else Seeds(seed=int(seeds))
        E, R, k = cfg.n_entities, cfg.n_relations, cfg.k_out
        rng = self.seeds.generator("world")
        # atomic facts: F[h, r] = t, or -1 when h does not have relation r
        F = np.full((E, R), -1, np.int64)
        rels = np.empty((E, k), np.int64)
        for h in range(E):
            rels[h] = rng.choice(R, size=k, replace=False)
        F[np.arange(E)[:, None], rels] = rng.integers(0, E, size=(E, k))
        self.F = F
        self.rels = rels
        heads = np.repeat(np.arange(E), k)
        atom_r = rels.reshape(-1)
        n_atomic = len(heads)
        is_ood = np.zeros(n_atomic, bool)
        is_ood[rng.choice(n_atomic, size=int(round(cfg.ood_ratio * n_atomic)),
                          replace=False)] = True
        self.atomic = np.stack([heads, atom_r, F[heads, atom_r]], 1)      # (h, r, t)
        self.atomic_ood = is_ood
        ood_map = np.zeros((E, R), bool)
        ood_map[heads[is_ood], atom_r[is_ood]] = True
        self.ood_map = ood_map
        # two-hop queries: (h, r1) × every relation r2 of b
        h2 = np.repeat(heads, k)
        r1 = np.repeat(atom_r, k)
        b_atom = F[heads, atom_r]
        b = np.repeat(b_atom, k)
        r2 = rels[b_atom].reshape(-1)                 # the k relations of each bridge
        t = F[b, r2]
        o1, o2 = ood_map[h2, r1], ood_map[b, r2]
        both_id, both_ood = ~o1 & ~o2, o1 & o2
        u = rng.random(len(h2))
        self.queries = np.stack([h2, r1, r2, b, t], 1)                     # (h, r1, r2, b, t)
        train_pool = np.flatnonzero(both_id & (u < cfg.train_pool_frac))
        self.test_iid = np.flatnonzero(both_id & (u >= cfg.train_pool_frac))
        self.test_ood = np.flatnonzero(both_ood)
        self.train_pool = train_pool
        n_id = int((~is_ood).sum())
        self.n_id_atomic = n_id
        n_train = int(round(cfg.lam * n_id))
        if n_train > len(train_pool):
            raise ConfigError("lam", cfg.lam, f"needs {n_train} training two-hop items but the "
                              f"training pool holds {len(train_pool)}; the feasible maximum "
                              f"is {len(train_pool) / n_id:.3f}")
        drng = self.seeds.generator("data")
        chosen = drng.choice(train_pool, size=n_train, replace=False) if n_train else \
            np.zeros(0, np.int64)
        self.train_queries = np.sort(chosen)
        # noisy copies of the labels (fresh arrays; the fact table is never written)
        q = self.queries[self.train_queries]
        b_lab, t_lab = q[:, 3].copy(), q[:, 4].copy()
        noisy = np.zeros(len(q), bool)
        mode = cfg.mode
        if mode in ("second", "both"):
            m2 = drng.random(len(q)) < cfg.noise
            t_lab[m2] = drng.integers(0, E, size=int(m2.sum()))
            noisy |= m2
        if mode in ("first", "both"):
            m1 = drng.random(len(q)) < cfg.noise
            b_lab[m1] = drng.integers(0, E, size=int(m1.sum()))
            noisy |= m1
        self.train_items = np.stack([q[:, 0], q[:, 1], q[:, 2], b_lab, t_lab], 1)
        self.train_noisy = noisy
        if warn and len(self.test_ood) < 20:
            warnings.warn(f"only {len(self.test_ood)} OOD two-hop test queries (< 20): OOD "
                          "accuracies will be coarse", ConfigWarning, stacklevel=2)
        # probes (capped by sampling, from the eval stream)
        erng = self.seeds.generator("eval")
        cap = cfg.probe_cap

        def pick(idx):
            return idx if len(idx) <= cap else np.sort(erng.choice(idx, size=cap, replace=False))

        self.probe_index = {
            "id_atomic": pick(np.flatnonzero(~is_ood)),
            "ood_atomic": pick(np.flatnonzero(is_ood)),
            "train_inferred": pick(np.arange(len(self.train_items))),
            "test_inferred_iid": pick(self.test_iid),
            "test_inferred_ood": pick(self.test_ood),
        }

    # -- summaries ----------------------------------------------------------------------------
    def counts(self) -> dict:
        return {"entities": self.cfg.n_entities, "relations": self.cfg.n_relations,
                "atomic": len(self.atomic), "ood_atomic": int(self.atomic_ood.sum()),
                "id_atomic": self.n_id_atomic, "queries": len(self.queries),
                "train_pool": len(self.train_pool), "train_two_hop": len(self.train_items),
                "test_iid": len(self.test_iid), "test_ood": len(self.test_ood),
                "noisy_train_items": int(self.train_noisy.sum()),
                "max_lambda": len(self.train_pool) / max(self.n_id_atomic, 1)}

    def probe(self, name: str) -> dict:
        """Items of a probe: arrays h, r (atomic) or h, r1, r2, b, t (two-hop) plus
        ``index`` (training-item index for train_inferred, else -1)."""
        idx = self.probe_index[name]
        if name in ("id_atomic", "ood_atomic"):
            a = self.atomic[idx]
            return {"h": a[:, 0], "r": a[:, 1], "t": a[:, 2]}
        if name == "train_inferred":
            it = self.train_items[idx]
            return {"h": it[:, 0], "r1": it[:, 1], "r2": it[:, 2], "b": it[:, 3], "t": it[:, 4],
                    "index": idx}
        q = self.queries[idx]
        return {"h": q[:, 0], "r1": q[:, 1], "r2": q[:, 2], "b": q[:, 3], "t": q[:, 4],
                "index": np.full(len(idx), -1)}

    # -- token sequences (docs/cot.md) ----------------------------------------------------------
    def vocab_size(self) -> int:
        return self.cfg.n_entities + self.cfg.n_relations + len(SPECIALS)

    def tok_rel(self, r):
        return self.cfg.n_entities + np.asarray(r)

    def tok_special(self, name):
        return self.cfg.n_entities + self.cfg.n_relations + SPECIALS.index(name)

    def sequences(self, kind: str, cot: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Token sequences and loss masks: ``atomic`` → h r t </a>; ``two_hop`` → h r1 r2 [b] t
        </a> (the loss covers the tokens after the input prefix, </a> included)."""
        end = self.tok_special("</a>")
        if kind == "atomic":
            a = self.atomic
            seq = np.stack([a[:, 0], self.tok_rel(a[:, 1]), a[:, 2], np.full(len(a), end)], 1)
            mask = np.array([False, False, True, True])
        elif kind == "two_hop":
            it = self.train_items
            cols = [it[:, 0], self.tok_rel(it[:, 1]), self.tok_rel(it[:, 2])]
            cols += [it[:, 3]] if cot else []
            cols += [it[:, 4], np.full(len(it), end)]
            seq = np.stack(cols, 1)
            mask = np.array([False, False, False] + [True] * (3 if cot else 2))
        else:
            raise ConfigError("kind", kind, "must be atomic or two_hop")
        return seq, np.broadcast_to(mask, seq.shape).copy()
