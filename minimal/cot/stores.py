"""Row stores of the Level-1 CoT model: which keys get a slot, and the memory they need
(docs/cot.md, "Sparse stores").

Every store maps an integer key to a logit row in R^{|E|}.  The training data fixes, before any
step, every key a store can be asked for during training:

* A[e, r]: the atomic facts (atomic items, CoT stage 1, the no-CoT first hop) and, with CoT,
  the stage-2 pairs (b, r2) of the training items (b is the stored, possibly noisy, bridge);
* S[b, r2], C[h, r2], D[r1, r2]: the pairs of the training items (CoT only);
* B[e, r]: the atomic facts (no CoT; the implicit second hop only mixes bridges e for which
  (e, r2) is a fact);
* M[i]: the training items (no CoT).

The *sparse* layout gives slots to exactly those keys; the *dense* layout gives every key of the
key space a slot (|E|·|R| rows for A, B, S, C).  Both run the same kernels and give identical
results; keys without a slot (read only at evaluation, e.g. C[h, r2] of a test query) are
generated on demand from their initial value.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from . import _kernels as _K

LAYOUTS = ("sparse", "dense")


def key_spaces(E: int, R: int, n_train: int) -> dict[str, int]:
    """Number of possible keys of every store."""
    return {"A": E * R, "B": E * R, "S": E * R, "C": E * R, "D": R * R, "M": n_train}


def training_keys(world, cot: bool) -> dict[str, np.ndarray]:
    """The sorted keys each store can be asked for during training (empty: store unused)."""
    R = world.cfg.n_relations
    at, it = world.atomic, world.train_items
    facts = np.unique(at[:, 0] * R + at[:, 1])
    empty = np.zeros(0, np.int64)
    if cot:
        pair_b = it[:, 3] * R + it[:, 2]
        return {"A": np.union1d(facts, pair_b), "B": empty, "S": np.unique(pair_b),
                "C": np.unique(it[:, 0] * R + it[:, 2]), "D": np.unique(it[:, 1] * R + it[:, 2]),
                "M": empty}
    return {"A": facts, "B": facts, "S": empty, "C": empty, "D": empty,
            "M": np.arange(len(it), dtype=np.int64)}


def bridge_lists(world) -> tuple[np.ndarray, np.ndarray]:
    """(bridges, ptr): ``bridges[ptr[r]:ptr[r + 1]]`` are the entities e, ascending, for which
    (e, r) is an atomic fact — the candidates of the no-CoT mixture for second relation r."""
    R = world.cfg.n_relations
    keys = np.unique(world.atomic[:, 1].astype(np.int64) * world.cfg.n_entities
                     + world.atomic[:, 0])                    # sorted by (r, e)
    ptr = np.zeros(R + 1, np.int64)
    np.cumsum(np.bincount(keys // world.cfg.n_entities, minlength=R), out=ptr[1:])
    return keys % world.cfg.n_entities, ptr


def slot_counts(world, cot: bool, layout: str) -> dict[str, int]:
    """Rows each store allocates in ``layout``."""
    if layout not in LAYOUTS:
        raise ConfigError("model.layout", layout, f"must be one of {', '.join(LAYOUTS)}")
    keys = training_keys(world, cot)
    if layout == "sparse":
        return {k: len(v) for k, v in keys.items()}
    space = key_spaces(world.cfg.n_entities, world.cfg.n_relations, len(world.train_items))
    return {k: (space[k] if len(keys[k]) else 0) for k in keys}


def store_bytes(world, cot: bool, layout: str, itemsize: int = 4) -> int:
    """Bytes of the rows of every store (the dominant memory of a run)."""
    E = world.cfg.n_entities
    return sum(slot_counts(world, cot, layout).values()) * E * itemsize


class Stores:
    """The six stores of a TSAM: per store a key → slot map, the rows and the decay clocks.

    Rows are allocated with ``np.zeros`` (pages are committed only when a row is first written,
    at its first use); ``last = −1`` marks a row that still holds its initial value.
    """

    def __init__(self, world, cot: bool, layout: str = "sparse", dtype=np.float32):
        E = world.cfg.n_entities
        R = world.cfg.n_relations
        space = key_spaces(E, R, len(world.train_items))
        keys = training_keys(world, cot)
        self.layout = layout
        self.idx, self.rows, self.last, self.keys = {}, {}, {}, {}
        counts = slot_counts(world, cot, layout)
        for name in _K.STORE_NAMES:
            n = counts[name]
            idx = np.full(space[name], -1, np.int32)
            if layout == "dense" and n:
                k = np.arange(space[name], dtype=np.int64)
            else:
                k = keys[name]
            idx[k] = np.arange(len(k), dtype=np.int32)
            self.idx[name] = idx
            self.keys[name] = k
            self.rows[name] = np.zeros((n, E), dtype)
            self.last[name] = np.full(n, -1, np.int64)
        self.bridges, self.bridge_ptr = bridge_lists(world)

    def reset(self) -> None:
        for v in self.last.values():
            v[...] = -1

    def tuples(self):
        """(idx, rows, last) tuples in kernel store order."""
        n = _K.STORE_NAMES
        return (tuple(self.idx[k] for k in n), tuple(self.rows[k] for k in n),
                tuple(self.last[k] for k in n))

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.rows.values())
