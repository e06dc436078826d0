"""Repeated-data stream for the Hernandez et al. toy (docs/repeat.md).

A sequence has T + 1 tokens (inputs 0 … T − 1, targets 1 … T): BOS (= vocab − 1), then
distinct random tokens, in which a span S of L tokens (L uniform in [``span_min``, ``span``])
at a₁ is copied to a₂ ≥ a₁ + L + 3 — the copy stream of :mod:`minimal.tasks.ambiguous` without
distractors.  a₁, a₂ and L vary per sequence, so a fixed-offset positional head cannot solve
the copy, and because every other token is distinct, a token seen once carries no hint of what
follows: the copy's tokens after its first are predictable only by in-context matching (an
induction head).  (Version 1 put the two copies back to back after a random prefix; the network
learned to predict the span's not-yet-repeated tokens without matching and no induction head
formed: docs/repeat.md.)  The copy is the only repetition, so a sequence alone tells its copy:
``copy_mask`` (n, T) marks the targets t whose input token and target token both occurred
earlier.

A training batch of B sequences holds exactly ``n_pool(t) = ⌊(t+1)·f·B⌋ − ⌊t·f·B⌋`` rows from
the fixed pool R (|R| = ``pool_size`` distinct sequences made once from the world seed, drawn
uniformly with replacement), the rest fresh.  So over any steps 0 … t − 1 exactly ⌊t·f·B⌋ rows are
repeats (f is read as an exact decimal), and every batch has ⌊f·B⌋ or ⌈f·B⌉ of them.  Batches are
a pure function of (data seed, step); the pool of (world seed); the evaluation sets of (eval
seed) and of the pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..config import check_float, check_int, set_field
from ..errors import ConfigError
from .ambiguous import AmbiguousCopyConfig, ambiguous_sequences
from .seq import SeqBatch

__all__ = ["RepeatTaskConfig", "RepeatTask", "GENERATOR_VERSION", "MAX_POOL", "copy_mask",
           "span_lengths"]

GENERATOR_VERSION = 2
#: largest pool (memory and the |R| grid of the study, 2⁴ … 2¹⁴, with room)
MAX_POOL = 1 << 20


@dataclass(frozen=True)
class RepeatTaskConfig:
    """The stream (defaults: vocabulary 64 with BOS = 63, length 32, spans 4–10, |R| = 1024,
    f = 0.1)."""

    vocab: int = 64
    T: int = 32                 #: input length (a sequence has T + 1 tokens)
    span: int = 10              #: longest repeated span S
    span_min: int = 4           #: shortest span (L is uniform in [span_min, span] per sequence)
    pool_size: int = 1024       #: |R|
    repeat_frac: float = 0.1    #: f, the fraction of training rows drawn from R
    batch_size: int = 64
    n_eval: int = 512           #: fresh evaluation sequences (and pool sequences, at most |R|)

    def __post_init__(self):
        check_int("pool_size", self.pool_size, 1, MAX_POOL)
        set_field(self, "repeat_frac", check_float("repeat_frac", self.repeat_frac, 0.0, 1.0))
        # vocab, T and the spans are checked by the copy stream; it has more distinct
        # sequences than MAX_POOL for every valid setting (T ≥ 10 distinct tokens)
        try:
            self.stream()
        except ConfigError as err:          # the stream calls the longest span span_max
            if err.name != "span_max":
                raise
            raise type(err)("span", err.value, err.rule) from None

    def stream(self) -> AmbiguousCopyConfig:
        """The copy stream behind the fresh and the pool sequences (no distractors)."""
        return AmbiguousCopyConfig(vocab=self.vocab, T=self.T, span_min=self.span_min,
                                   span_max=self.span, ambiguous=0.0,
                                   batch_size=self.batch_size, n_eval=self.n_eval)

    @property
    def frac(self) -> Fraction:
        """f as an exact decimal fraction (0.1 is 1/10, not the nearest binary float)."""
        return Fraction(repr(self.repeat_frac))


def _sequences(rng: np.random.Generator, cfg: RepeatTaskConfig, n: int) -> np.ndarray:
    """(n, T + 1) int32 sequences of the copy stream."""
    return ambiguous_sequences(rng, cfg.stream(), n)[0]


def span_lengths(cfg: RepeatTaskConfig, seqs: np.ndarray) -> np.ndarray:
    """(n,) the span length L of each (T + 1)-token sequence: the number of positions whose
    token occurred earlier (the copy is the only repetition)."""
    return _seen_before(seqs).sum(1)


def _seen_before(seqs: np.ndarray) -> np.ndarray:
    """(n, T + 1) bool: the token at t occurred at some s < t."""
    seqs = np.asarray(seqs)
    eq = seqs[:, :, None] == seqs[:, None, :]                      # (n, t, s)
    return np.tril(eq, k=-1).any(axis=2)


def copy_mask(cfg: RepeatTaskConfig, seqs: np.ndarray) -> np.ndarray:
    """(n, T) bool over targets: t is marked when its input token and its target token (token
    t + 1) both occurred earlier — the copy's tokens after its first."""
    seen = _seen_before(seqs)
    return seen[:, :-1] & seen[:, 1:]


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
        carries ``copy_mask`` (n, T) for the loss on the predictable second copy."""
        cfg = self.cfg
        rng = np.random.default_rng([self.eval_seed, 1, GENERATOR_VERSION])
        fresh = _sequences(rng, cfg, cfg.n_eval)
        pool = self.pool[: min(cfg.n_eval, cfg.pool_size)]
        return {"fresh": self._batch(fresh, {"copy_mask": copy_mask(cfg, fresh)}),
                "pool": self._batch(pool, {"copy_mask": copy_mask(cfg, pool)})}
