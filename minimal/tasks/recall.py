"""Token streams of the momentum-attention study (docs/momentum.md).

**Periodic repeats** (:class:`PeriodicTask`): a sequence is a span r₁ … r_P of P distinct
tokens (drawn without replacement from the vocabulary) repeated to fill T + 1 tokens, so token
t equals token t − P.  P is ``period`` for every sequence, or uniform in [``period_min``,
``period``] per sequence (then no fixed-offset attention can copy).  Inputs are tokens 0 … T − 1,
targets 1 … T; every target from position P − 1 on is predictable by copying (the token after
the previous occurrence of the current one).  ``second_half`` marks positions T/2 … T − 1, where
the study measures the loss and the attention on the induction target (key t − P + 1 for the
query at t); ``period`` holds each sequence's P.

**Associative recall** (:class:`RecallTask`): ``pairs`` key–value pairs k₁ v₁ … k_m v_m
followed by one of the keys; the target at the last position is that key's value.  Keys are
distinct within a sequence and drawn from tokens [0, n_keys), values from [n_keys, n_keys +
n_values) (repeats allowed), so the vocabulary is n_keys + n_values and T = 2m + 1.

Both are pure functions of (seed, step) (the training layer's ``Data``) and of the evaluation
seed for their evaluation sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import check_int
from ..errors import ConfigError
from .seq import SeqBatch

__all__ = ["PeriodicTaskConfig", "PeriodicTask", "RecallTaskConfig", "RecallTask",
           "GENERATOR_VERSION", "periodic_sequences", "recall_sequences"]

GENERATOR_VERSION = 1


def _distinct(rng: np.random.Generator, n: int, k: int, vocab: int) -> np.ndarray:
    """(n, k) rows of k distinct tokens from [0, vocab): the first k of a random permutation."""
    return np.argsort(rng.random((n, vocab)), axis=1)[:, :k].astype(np.int32)


@dataclass(frozen=True)
class PeriodicTaskConfig:
    """Period-P repeats (defaults: vocabulary 64, period 16, length 32, 64 sequences a batch)."""

    vocab: int = 64
    period: int = 16
    period_min: int | None = None   #: None: every sequence has period P = ``period``
    T: int = 32
    batch_size: int = 64
    n_eval: int = 512

    def __post_init__(self):
        check_int("vocab", self.vocab, 2, 1 << 16)
        check_int("period", self.period, 1, self.vocab)
        if self.period_min is not None:
            check_int("period_min", self.period_min, 1, self.period)
        check_int("T", self.T, 2, 4096)
        if self.T < 2 * self.period:
            raise ConfigError("T", self.T, f"must be ≥ 2 × period = {2 * self.period} (the "
                              "second half must repeat the first)")
        check_int("batch_size", self.batch_size, 1, 1 << 16)
        check_int("n_eval", self.n_eval, 1, 1 << 20)


def periodic_sequences(rng: np.random.Generator, cfg: PeriodicTaskConfig, n: int):
    """((n, T + 1) int32 sequences, (n,) periods): a span of P distinct tokens, repeated."""
    span = _distinct(rng, n, cfg.period, cfg.vocab)
    lo = cfg.period if cfg.period_min is None else cfg.period_min
    P = (np.full(n, cfg.period, np.int64) if lo == cfg.period
         else rng.integers(lo, cfg.period + 1, n))
    t = np.arange(cfg.T + 1)
    idx = t[None, :] % P[:, None]
    return np.take_along_axis(span, idx, axis=1).astype(np.int32), P


class PeriodicTask:
    def __init__(self, cfg: PeriodicTaskConfig, data_seed: int, eval_seed: int):
        self.cfg = cfg
        self.data_seed, self.eval_seed = int(data_seed), int(eval_seed)

    def _batch(self, seqs, P):
        T = self.cfg.T
        half = np.zeros((len(seqs), T), bool)
        half[:, T // 2:] = True
        return SeqBatch(np.ascontiguousarray(seqs[:, :-1]), None,
                        np.ascontiguousarray(seqs[:, 1:]),
                        meta={"second_half": half, "period": P})

    def batch(self, step: int, out=None) -> SeqBatch:
        rng = np.random.default_rng([self.data_seed, int(step), GENERATOR_VERSION, 0x9E])
        return self._batch(*periodic_sequences(rng, self.cfg, self.cfg.batch_size))

    def eval_data(self) -> dict:
        rng = np.random.default_rng([self.eval_seed, 1, GENERATOR_VERSION, 0x9E])
        return {"eval": self._batch(*periodic_sequences(rng, self.cfg, self.cfg.n_eval))}


@dataclass(frozen=True)
class RecallTaskConfig:
    """Associative recall (defaults: 8 pairs, 32 keys, 32 values, 64 sequences a batch)."""

    pairs: int = 8
    n_keys: int = 32
    n_values: int = 32
    batch_size: int = 64
    n_eval: int = 1024

    def __post_init__(self):
        check_int("pairs", self.pairs, 1, 1024)
        check_int("n_keys", self.n_keys, self.pairs, 1 << 15)
        check_int("n_values", self.n_values, 1, 1 << 15)
        check_int("batch_size", self.batch_size, 1, 1 << 16)
        check_int("n_eval", self.n_eval, 1, 1 << 20)

    @property
    def vocab(self) -> int:
        return self.n_keys + self.n_values

    @property
    def T(self) -> int:
        return 2 * self.pairs + 1


def recall_sequences(rng: np.random.Generator, cfg: RecallTaskConfig, n: int):
    """(tokens (n, T), queried pair index (n,), target value (n,))."""
    m = cfg.pairs
    keys = _distinct(rng, n, m, cfg.n_keys)
    vals = rng.integers(cfg.n_keys, cfg.vocab, (n, m)).astype(np.int32)
    which = rng.integers(0, m, n)
    tok = np.empty((n, cfg.T), np.int32)
    tok[:, 0:2 * m:2] = keys
    tok[:, 1:2 * m:2] = vals
    rows = np.arange(n)
    tok[:, -1] = keys[rows, which]
    return tok, which, vals[rows, which]


class RecallTask:
    def __init__(self, cfg: RecallTaskConfig, data_seed: int, eval_seed: int):
        self.cfg = cfg
        self.data_seed, self.eval_seed = int(data_seed), int(eval_seed)

    def _batch(self, tok, which, val):
        tg = np.full(tok.shape, -1, np.int32)
        tg[:, -1] = val
        return SeqBatch(tok, None, tg, meta={"which": which})

    def batch(self, step: int, out=None) -> SeqBatch:
        rng = np.random.default_rng([self.data_seed, int(step), GENERATOR_VERSION, 0xA5])
        return self._batch(*recall_sequences(rng, self.cfg, self.cfg.batch_size))

    def eval_data(self) -> dict:
        rng = np.random.default_rng([self.eval_seed, 1, GENERATOR_VERSION, 0xA5])
        return {"eval": self._batch(*recall_sequences(rng, self.cfg, self.cfg.n_eval))}
