"""The copy stream of the attention-output SAE study, with and without ambiguous matches
(docs/sae.md, "The prefix study").

A sequence has T + 1 tokens (inputs 0 … T − 1, next-token targets 1 … T).  Token 0 is BOS
(= ``vocab − 1``); tokens 1 … T are distinct content tokens drawn without replacement from
0 … vocab − 2.  A span S of m tokens (m uniform in [``span_min``, ``span_max``]) at a₁ is
copied to a₂ ≥ a₁ + m + 3, overwriting what was there, so the copy's tokens after its first are
predictable only by finding the earlier occurrence of the current token and reading its
successor (an induction head), not by their position (a₁, a₂ and m vary per sequence).

**Ambiguous matches.**  With probability ``ambiguous`` a sequence also gets a *distractor*:
one span token a = S[k] (k uniform in 1 … m − 2) is written a second time at a position d
before a₂ and outside S and its neighbours, where its successor differs from S[k + 1].  At the
copy's a (input position a₂ + k) the current token then has two earlier occurrences with
different successors; only the one at a₁ + k shares the longer prefix (S[k − 1], a).  A head
that matches the current token alone is right half the time there; one that matches a longer
prefix is always right.  ``ambiguous = 0`` is the control stream (no token has two different
successors, so one-token matching suffices).

Batches are pure functions of (data seed, step); the evaluation sets of the evaluation seed.
``meta`` of every batch: ``copy_mask`` (n, T) the predictable copy targets, ``amb_mask``
(n, T) the ambiguous query (empty for rows without a distractor), ``distractor_next`` (n,) the
distractor's successor token (−1 without one), ``span``, ``a1``, ``a2``, ``k``, ``d`` (n,).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import check_float, check_int, set_field
from ..errors import ConfigError
from .seq import SeqBatch

__all__ = ["AmbiguousCopyConfig", "AmbiguousCopyTask", "ambiguous_sequences",
           "GENERATOR_VERSION"]

GENERATOR_VERSION = 1
#: the smallest gap a₂ − (a₁ + m) (room for a distractor between the copies)
MIN_GAP = 3


@dataclass(frozen=True)
class AmbiguousCopyConfig:
    """The stream (defaults: vocabulary 64 with BOS = 63, length 32, spans of 4–10 tokens,
    every sequence ambiguous, 64 sequences a batch)."""

    vocab: int = 64
    T: int = 32
    span_min: int = 4
    span_max: int = 10
    ambiguous: float = 1.0    #: probability that a sequence has a distractor (0: control)
    batch_size: int = 64
    n_eval: int = 512

    def __post_init__(self):
        check_int("vocab", self.vocab, 9, 1 << 16)
        check_int("T", self.T, 8, 1 << 12)
        if self.T > self.vocab - 1:
            raise ConfigError("T", self.T, f"must be ≤ vocab − 1 = {self.vocab - 1} (BOS and T "
                              "distinct tokens)")
        check_int("span_max", self.span_max, 3, 1 << 12)
        check_int("span_min", self.span_min, 3, self.span_max)
        if 2 * self.span_max + MIN_GAP + 1 > self.T:
            raise ConfigError("span_max", self.span_max,
                              f"must be ≤ (T − {MIN_GAP + 1}) / 2 = "
                              f"{(self.T - MIN_GAP - 1) // 2} (two copies and a gap in T = "
                              f"{self.T})")
        set_field(self, "ambiguous", check_float("ambiguous", self.ambiguous, 0.0, 1.0))
        check_int("batch_size", self.batch_size, 1, 1 << 16)
        check_int("n_eval", self.n_eval, 1, 1 << 20)

    @property
    def bos(self) -> int:
        return self.vocab - 1


def ambiguous_sequences(rng: np.random.Generator, cfg: AmbiguousCopyConfig, n: int):
    """((n, T + 1) int32 sequences, dict of per-row facts: span, a1, a2, k, d (−1: none))."""
    T = cfg.T
    tok = np.empty((n, T + 1), np.int32)
    tok[:, 0] = cfg.bos
    tok[:, 1:] = np.argsort(rng.random((n, cfg.vocab - 1)), axis=1)[:, :T]
    m = rng.integers(cfg.span_min, cfg.span_max + 1, n)
    # a₁ ∈ [1, T + 1 − 2m − MIN_GAP], a₂ ∈ [a₁ + m + MIN_GAP, T + 1 − m]
    a1 = 1 + np.floor(rng.random(n) * (T + 1 - 2 * m - MIN_GAP)).astype(np.int64)
    lo = a1 + m + MIN_GAP
    a2 = lo + np.floor(rng.random(n) * (T + 2 - m - lo)).astype(np.int64)
    has = rng.random(n) < cfg.ambiguous
    k = 1 + np.floor(rng.random(n) * (m - 2)).astype(np.int64)
    u = rng.random(n)
    d = np.full(n, -1, np.int64)
    for b in range(n):
        mb, s, t = int(m[b]), int(a1[b]), int(a2[b])
        tok[b, t:t + mb] = tok[b, s:s + mb]
        if has[b]:
            # positions 1 … a₂ − 2 outside [a₁ − 1, a₁ + m]: the distractor's successor is then
            # an original (unrepeated) token and its predecessor is not S[k − 1]
            free = np.concatenate([np.arange(1, s - 1), np.arange(s + mb + 1, t - 1)])
            d[b] = free[int(u[b] * len(free))]
            tok[b, d[b]] = tok[b, s + k[b]]
    k = np.where(d >= 0, k, -1)
    return tok, {"span": m, "a1": a1, "a2": a2, "k": k, "d": d}


class AmbiguousCopyTask:
    """The training layer's ``Data`` for the stream, and its evaluation set."""

    def __init__(self, cfg: AmbiguousCopyConfig, data_seed: int, eval_seed: int):
        self.cfg = cfg
        self.data_seed, self.eval_seed = int(data_seed), int(eval_seed)

    def _batch(self, tok: np.ndarray, facts: dict) -> SeqBatch:
        n, T = len(tok), self.cfg.T
        t = np.arange(T)[None, :]
        a2, m, k, d = facts["a2"][:, None], facts["span"][:, None], facts["k"], facts["d"]
        copy = (t >= a2) & (t <= a2 + m - 2)
        amb = (t == a2 + k[:, None]) & (d >= 0)[:, None]
        nxt = np.where(d >= 0, tok[np.arange(n), np.maximum(d, 0) + 1], -1)
        meta = {"copy_mask": copy, "amb_mask": amb, "distractor_next": nxt.astype(np.int64),
                **facts}
        return SeqBatch(np.ascontiguousarray(tok[:, :-1]), None,
                        np.ascontiguousarray(tok[:, 1:]), meta=meta)

    def batch(self, step: int, out=None) -> SeqBatch:
        rng = np.random.default_rng([self.data_seed, int(step), GENERATOR_VERSION, 0xA3])
        return self._batch(*ambiguous_sequences(rng, self.cfg, self.cfg.batch_size))

    def eval_data(self) -> dict:
        """``eval``: n_eval sequences of the stream; ``amb``: n_eval sequences that all have a
        distractor (the same for every stream, so that a control network's behaviour at
        ambiguous queries is measured too)."""
        import dataclasses
        rng = np.random.default_rng([self.eval_seed, 1, GENERATOR_VERSION, 0xA3])
        amb_cfg = dataclasses.replace(self.cfg, ambiguous=1.0)
        rng_amb = np.random.default_rng([self.eval_seed, 2, GENERATOR_VERSION, 0xA3])
        return {"eval": self._batch(*ambiguous_sequences(rng, self.cfg, self.cfg.n_eval)),
                "amb": self._batch(*ambiguous_sequences(rng_amb, amb_cfg, self.cfg.n_eval))}
