"""Repeated-data stream for the Hernandez et al. toy (docs/repeat.md).

A sequence has T + 1 tokens (inputs 0 … T − 1, targets 1 … T): a uniform random prefix of
P = T + 1 − 2L tokens, then a span S of L distinct tokens (drawn without replacement from the
vocabulary), then S again.  L is uniform in [``span_min``, ``span``] per sequence, so the distance
between the copies varies and a fixed-offset positional head cannot solve the copy: the second
copy is predictable only by in-context matching (an induction head).  Its predictable targets
(all but the copy's first token, whose predecessor is the end of the first copy) are marked in
``copy_mask`` (n, T).

A training batch of B sequences holds exactly ``n_pool(t) = ⌊(t+1)·f·B⌋ − ⌊t·f·B⌋`` rows from
the fixed pool R (|R| = ``pool_size`` distinct sequences made once from the world seed, drawn
uniformly with replacement), the rest fresh.  So over any steps 0 … t − 1 exactly ⌊t·f·B⌋ rows are
repeats (f is read as an exact decimal), and every batch has ⌊f·B⌋ or ⌈f·B⌉ of them.  Batches are
a pure function of (data seed, step); the pool of (world seed); the evaluation sets of (eval
seed) and of the pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..config import check_float, check_int, set_field
from ..errors import ConfigError
from .seq import SeqBatch

__all__ = ["RepeatTaskConfig", "RepeatTask", "GENERATOR_VERSION", "MAX_POOL"]

GENERATOR_VERSION = 1
#: largest pool (memory and the |R| grid of the study, 2⁴ … 2¹⁴, with room)
MAX_POOL = 1 << 20


@dataclass(frozen=True)
class RepeatTaskConfig:
    """The stream (defaults: vocabulary 64, length 32, spans 6–12, |R| = 1024, f = 0.1)."""

    vocab: int = 64
    T: int = 32                 #: input length (a sequence has T + 1 tokens)
    span: int = 12              #: longest repeated span S
    span_min: int = 6           #: shortest span (L is uniform in [span_min, span] per sequence)
    pool_size: int = 1024       #: |R|
    repeat_frac: float = 0.1    #: f, the fraction of training rows drawn from R
    batch_size: int = 64
    n_eval: int = 512           #: fresh evaluation sequences (and pool sequences, at most |R|)

    def __post_init__(self):
        check_int("vocab", self.vocab, 2, 4096)
        check_int("T", self.T, 3, 4096)
        check_int("span", self.span, 1, min(self.vocab, (self.T + 1) // 2))
        check_int("span_min", self.span_min, 1, self.span)
        check_int("pool_size", self.pool_size, 1, MAX_POOL)
        set_field(self, "repeat_frac", check_float("repeat_frac", self.repeat_frac, 0.0, 1.0))
        check_int("batch_size", self.batch_size, 1, 1 << 16)
        check_int("n_eval", self.n_eval, 1, 1 << 20)
        n_distinct = sum(self.vocab ** (self.T + 1 - 2 * L) * math.perm(self.vocab, L)
                         for L in range(self.span_min, self.span + 1))
        if n_distinct < self.pool_size:
            raise ConfigError("pool_size", self.pool_size,
                              f"must be ≤ {n_distinct}, the number of distinct sequences of "
                              "this vocabulary, length and span")

    @property
    def frac(self) -> Fraction:
        """f as an exact decimal fraction (0.1 is 1/10, not the nearest binary float)."""
        return Fraction(repr(self.repeat_frac))


def _sequences(rng: np.random.Generator, cfg: RepeatTaskConfig, n: int) -> np.ndarray:
    """(n, T + 1) int32 sequences: random prefix, span, span (span length per row)."""
    out = rng.integers(0, cfg.vocab, (n, cfg.T + 1)).astype(np.int32)
    Ls = rng.integers(cfg.span_min, cfg.span + 1, n)
    # distinct span tokens: the first L of a random permutation per row
    perm = np.argsort(rng.random((n, cfg.vocab)), axis=1)
    for b in range(n):
        L = int(Ls[b])
        P = cfg.T + 1 - 2 * L
        out[b, P:P + L] = perm[b, :L]
        out[b, P + L:] = perm[b, :L]
    return out


def span_lengths(cfg: RepeatTaskConfig, seqs: np.ndarray) -> np.ndarray:
    """(n,) the span length L of each (T + 1)-token sequence: the largest L in the allowed
    range whose last 2L tokens are two equal copies of L distinct tokens."""
    n = seqs.shape[0]
    out = np.zeros(n, np.int64)
    for L in range(cfg.span_min, cfg.span + 1):
        a, b = seqs[:, -2 * L:-L], seqs[:, -L:]
        ok = (a == b).all(1) & (np.sort(a, 1)[:, 1:] != np.sort(a, 1)[:, :-1]).all(1)
        out[ok] = L
    return out


def copy_mask(cfg: RepeatTaskConfig, seqs: np.ndarray) -> np.ndarray:
    """(n, T) bool over targets: the second copy's tokens after its first (target index t
    predicts token t + 1)."""
    Ls = span_lengths(cfg, seqs)
    t = np.arange(cfg.T)[None, :]
    return t >= (cfg.T + 1 - Ls)[:, None]


class RepeatTask:
    """Training stream with repeats and its evaluation sets (the training layer's ``Data``)."""

    def __init__(self, cfg: RepeatTaskConfig, world_seed: int, data_seed: int, eval_seed: int):
        self.cfg = cfg
        self.data_seed = int(data_seed)
        self.eval_seed = int(eval_seed)
        self.pool = self._make_pool(int(world_seed))

    def _make_pool(self, seed: int) -> np.ndarray:
        cfg = self.cfg
        rng = np.random.default_rng([seed, 0x5EED, GENERATOR_VERSION])
        pool = np.unique(_sequences(rng, cfg, cfg.pool_size), axis=0)
        for _ in range(100):                    # top up until |R| distinct sequences
            if len(pool) >= cfg.pool_size:
                break
            more = _sequences(rng, cfg, cfg.pool_size - len(pool))
            pool = np.unique(np.concatenate([pool, more]), axis=0)
        if len(pool) < cfg.pool_size:
            raise ConfigError("pool_size", cfg.pool_size, "exceeds the distinct sequences the "
                              "vocabulary and span allow")
        return rng.permutation(pool)[: cfg.pool_size]

    def n_pool_rows(self, step: int) -> int:
        """Pool rows in the batch of ``step``."""
        c = self.cfg.frac * self.cfg.batch_size
        return int((c * (step + 1)).__floor__() - (c * step).__floor__())

    def _batch(self, tok: np.ndarray, meta: dict) -> SeqBatch:
        return SeqBatch(np.ascontiguousarray(tok[:, :-1]), None,
                        np.ascontiguousarray(tok[:, 1:]), meta=meta)

    def batch(self, step: int, out=None) -> SeqBatch:
        cfg = self.cfg
        rng = np.random.default_rng([self.data_seed, int(step), GENERATOR_VERSION])
        k = self.n_pool_rows(step)
        idx = rng.integers(0, cfg.pool_size, k)
        fresh = _sequences(rng, cfg, cfg.batch_size - k)
        tok = np.concatenate([self.pool[idx], fresh])
        from_pool = np.zeros(cfg.batch_size, bool)
        from_pool[:k] = True
        return self._batch(tok, {"from_pool": from_pool, "pool_index": idx})

    def eval_data(self) -> dict:
        """``fresh``: n_eval fresh sequences; ``pool``: the first min(n_eval, |R|) of R.  Each
        carries ``copy_mask`` (T,) for the loss on the predictable second copy."""
        cfg = self.cfg
        rng = np.random.default_rng([self.eval_seed, 1, GENERATOR_VERSION])
        fresh = _sequences(rng, cfg, cfg.n_eval)
        pool = self.pool[: min(cfg.n_eval, cfg.pool_size)]
        return {"fresh": self._batch(fresh, {"copy_mask": copy_mask(cfg, fresh)}),
                "pool": self._batch(pool, {"copy_mask": copy_mask(cfg, pool)})}
