"""Singh et al.'s few-shot task with synthetic classes (docs/clamping.md), compiled with Numba.

Sequences are (e₀, ℓ₀, e₁, ℓ₁, q) at positions 0–4: two exemplar–label pairs and a query
exemplar whose class is one of the two context classes.  In a :class:`~minimal.tasks.seq.SeqBatch`
exemplars are continuous inputs (``tokens = −1``) and labels are tokens; the loss is at the
query (position 4).  ``meta``: ``label_pos`` (n, 2) = (1, 3), ``label_ids`` (n, 2),
``correct`` (n,) index of the context pair whose class is the query's, ``class_ids`` (n, 3)
(context classes, then the query's), ``query_pos`` = 4.

Randomness: one counter-based stream per sequence keyed by (stream key, call, index), so a
training batch is a pure function of (data seed, step).  The world (prototypes, exemplars, the
label-pair split) comes from the world seed.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._rng import _mix64, _randint, _uniform, step_key
from ..config import Seeds, check_int, check_seed
from ..errors import UnknownNameError
from .config import SinghTaskConfig
from .seq import SeqBatch

__all__ = ["SinghTask", "SinghTaskConfig", "EVAL_SETS"]

#: evaluation sets in generation order: training distribution, held-out label pairs, held-out
#: exemplars, held-out (test) classes
EVAL_SETS = ("train", "heldout_pairs", "heldout_ex", "test")
_SEQ_MULT = np.uint64(0xD6E8FEB86659FD93)


@njit(cache=True)
def _gen(key, start, class_lo, class_n, pairs, heldout_ex, exemplars, tokens, x, targets,
         label_ids, correct, class_ids):
    """Fill ``tokens.shape[0]`` sequences (indices start, start + 1, ...)."""
    nb = tokens.shape[0]
    n_ex = exemplars.shape[1]
    D = exemplars.shape[2]
    P = pairs.shape[0]
    state = np.empty(1, np.uint64)
    for b in range(nb):
        state[0] = _mix64(key ^ _mix64(np.uint64(start + b + 1) * _SEQ_MULT))
        c = _randint(state, class_n)
        c2 = _randint(state, class_n - 1)
        if c2 >= c:
            c2 += 1
        pr = _randint(state, P)
        swap = _uniform(state) < 0.5
        first = _uniform(state) < 0.5
        lab_q = pairs[pr, 1] if swap else pairs[pr, 0]
        lab_d = pairs[pr, 0] if swap else pairs[pr, 1]
        if heldout_ex:
            ex_q_ctx = 1 + _randint(state, n_ex - 1)
            ex_d_ctx = 1 + _randint(state, n_ex - 1)
            ex_q = 1 + _randint(state, n_ex - 1)
        else:
            ex_q_ctx = 0
            ex_d_ctx = 0
            ex_q = 0
        cq = class_lo + c
        cd = class_lo + c2
        k_q = 0 if first else 1
        k_d = 1 - k_q
        for t in range(5):
            tokens[b, t] = -1
            targets[b, t] = -1
        tokens[b, 2 * k_q + 1] = lab_q
        tokens[b, 2 * k_d + 1] = lab_d
        targets[b, 4] = lab_q
        for e in range(D):
            x[b, 2 * k_q, e] = exemplars[cq, ex_q_ctx, e]
            x[b, 2 * k_d, e] = exemplars[cd, ex_d_ctx, e]
            x[b, 4, e] = exemplars[cq, ex_q, e]
            x[b, 1, e] = 0.0
            x[b, 3, e] = 0.0
        label_ids[b, k_q] = lab_q
        label_ids[b, k_d] = lab_d
        correct[b] = k_q
        class_ids[b, k_q] = cq
        class_ids[b, k_d] = cd
        class_ids[b, 2] = cq


def make_world(cfg: SinghTaskConfig, rng: np.random.Generator):
    """(exemplars (C + C_test, n_exemplars, D_f) float32, train pairs (k, 2), held-out pairs)."""
    C = cfg.n_classes + cfg.n_test_classes
    D = cfg.D_f
    proto = rng.standard_normal((C, D)) / math.sqrt(D)
    zeta = rng.standard_normal((C, cfg.n_exemplars, D)) / math.sqrt(D)
    ex = (proto[:, None, :] + cfg.eps * zeta) / math.sqrt(1.0 + cfg.eps ** 2)
    L = cfg.n_labels
    pairs = np.array([(a, b) for a in range(L) for b in range(a + 1, L)], np.int64)
    pairs = pairs[rng.permutation(len(pairs))]
    k = cfg.n_train_pairs
    return np.ascontiguousarray(ex, np.float32), pairs[:k].copy(), pairs[k:].copy()


class SinghTask:
    """World plus data streams (the training layer's data protocol)."""

    def __init__(self, config: SinghTaskConfig | None = None, seeds: Seeds | int = 0):
        self.config = SinghTaskConfig() if config is None else config
        if not isinstance(self.config, SinghTaskConfig):
            raise TypeError(f"config must be a SinghTaskConfig, got {type(config).__name__}")
        self.seeds = seeds if isinstance(seeds, Seeds) else Seeds(seed=check_seed("seed", seeds))
        self.exemplars, self.train_pairs, self.heldout_pairs = make_world(
            self.config, self.seeds.generator("world"))
        self._data_key = self.seeds.key("data")
        self._eval_key = self.seeds.key("eval")
        self._eval_cache: dict[str, SeqBatch] = {}

    def settings(self, split: str) -> dict:
        c = self.config
        if split in ("train", "heldout_pairs", "heldout_ex"):
            lo, num = 0, c.n_classes
        elif split == "test":
            lo, num = c.n_classes, c.n_test_classes
        else:
            raise UnknownNameError(f"unknown split {split!r}; choose one of "
                                   f"{', '.join(EVAL_SETS)}")
        pairs = self.heldout_pairs if split == "heldout_pairs" else self.train_pairs
        return {"class_lo": lo, "class_n": num, "pairs": pairs,
                "heldout_ex": split == "heldout_ex"}

    def _generate(self, key: int, n: int, split: str) -> SeqBatch:
        D = self.config.D_f
        tokens = np.empty((n, 5), np.int32)
        x = np.empty((n, 5, D), np.float32)
        targets = np.empty((n, 5), np.int32)
        label_ids = np.empty((n, 2), np.int32)
        correct = np.empty(n, np.int64)
        class_ids = np.empty((n, 3), np.int32)
        s = self.settings(split)
        _gen(np.uint64(key), 0, s["class_lo"], s["class_n"], s["pairs"], s["heldout_ex"],
             self.exemplars, tokens, x, targets, label_ids, correct, class_ids)
        meta = {"label_pos": np.broadcast_to(np.array([1, 3], np.int64), (n, 2)).copy(),
                "label_ids": label_ids, "correct": correct, "class_ids": class_ids,
                "query_pos": 4, "split": split}
        return SeqBatch(tokens, x, targets, None, meta)

    def batch(self, step: int, out=None, batch_size: int | None = None) -> SeqBatch:
        """Training batch number ``step`` (a pure function of the data seed and the step)."""
        step = check_int("step", step, 0, 2**62)
        n = self.config.batch_size if batch_size is None else check_int(
            "batch_size", batch_size, 1, 10**7)
        return self._generate(step_key(self._data_key, step), n, "train")

    def eval_set(self, name: str) -> SeqBatch:
        if name not in EVAL_SETS:
            raise UnknownNameError(f"unknown evaluation set {name!r}; choose one of "
                                   f"{', '.join(EVAL_SETS)}")
        if name not in self._eval_cache:
            key = step_key(self._eval_key, EVAL_SETS.index(name))
            self._eval_cache[name] = self._generate(key, self.config.n_eval, name)
        return self._eval_cache[name]

    def eval_data(self) -> dict[str, SeqBatch]:
        return {name: self.eval_set(name) for name in EVAL_SETS}
