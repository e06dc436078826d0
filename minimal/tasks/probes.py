"""Probe batches for the induction diagnostics (docs/diagnostics.md; used by
:mod:`minimal.diagnostics`).

* :func:`repeat_probe` — [BOS, r₁…r_L, r₁…r_L] (TransformerLens' induction probe); the span is
  drawn without replacement when L ≤ the number of usable tokens, so that every second-copy token
  has exactly one earlier occurrence (then the induction score equals prefix matching).
* :func:`reverse_probe` — [prefix, S, SEP, reverse(S)] for the anti-induction score and the
  reversed-span loss.
* :func:`kv_probe` — the ICL probe: random key→value pairs, then the keys again in a new order;
  the prediction at each repeated key is scored against its value.
* :func:`prefix_probe` — Kissane et al.'s long- vs short-prefix probe: BOS, distinct random
  tokens, a span of length p copied from a₁ to a₂ > a₁ + p; the score reads the attention from
  a₂ + p − 1 (the copy's last token) to a₁ + p (the token after the first copy).
* :func:`reddy_ids` — token identities of the Reddy task (class ids at items, offset label ids at
  labels) so that the token-based scores apply to it.

A probe is a :class:`Probe`: token ids (n, T), next-token targets (−1 where unscored) and the
positions the scores read.  Probes are pure functions of their generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import check_int
from ..errors import ConfigError

__all__ = ["Probe", "repeat_probe", "reverse_probe", "kv_probe", "prefix_probe", "reddy_ids"]


@dataclass(frozen=True, eq=False)
class Probe:
    tokens: np.ndarray           #: (n, T) int32 token ids
    targets: np.ndarray          #: (n, T) int32 next token where scored, else −1
    kind: str                    #: "repeat", "reverse" or "kv"
    info: dict = field(default_factory=dict)   #: L/start (repeat), m/start/sep (reverse), …

    def __len__(self):
        return self.tokens.shape[0]

    @property
    def T(self) -> int:
        return self.tokens.shape[1]


def _draw_span(rng, n, L, tokens):
    tokens = np.asarray(tokens)
    if L <= len(tokens):
        return np.stack([rng.choice(tokens, L, replace=False) for _ in range(n)])
    return rng.choice(tokens, (n, L))


def repeat_probe(rng: np.random.Generator, n: int, L: int, tokens, bos: int | None = None,
                 T: int | None = None, fill=None) -> Probe:
    """[BOS, r₁…r_L, r₁…r_L] (BOS omitted when ``bos`` is None: the span then starts at 0).

    ``tokens``: the token ids the span draws from.  ``T``: total length; positions after the
    probe are filled by ``fill(rng, n, k)`` (default: uniform draws from ``tokens``).  Targets:
    the next token at every second-copy position except the last (whose successor is not part of
    the span)."""
    check_int("probe.n", n, 1, 100_000)
    check_int("probe.L", L, 1, 4096)
    start = 0 if bos is None else 1
    T = start + 2 * L if T is None else T
    if start + 2 * L > T:
        raise ConfigError("probe.L", L, f"needs {start} + 2L ≤ T = {T}")
    r = _draw_span(rng, n, L, tokens)
    tok = np.empty((n, T), np.int32)
    if bos is not None:
        tok[:, 0] = bos
    tok[:, start:start + L] = r
    tok[:, start + L:start + 2 * L] = r
    if T > start + 2 * L:
        k = T - start - 2 * L
        tok[:, start + 2 * L:] = (fill(rng, n, k) if fill is not None
                                  else rng.choice(np.asarray(tokens), (n, k)))
    tg = np.full((n, T), -1, np.int32)
    q = np.arange(start + L, start + 2 * L - 1)
    tg[:, q] = tok[:, q + 1]
    return Probe(tok, tg, "repeat", {"L": L, "start": start})


def reverse_probe(rng: np.random.Generator, n: int, m: int, tokens, sep: int, T: int,
                  prefix=None) -> Probe:
    """[prefix, S, SEP, reverse(S)] ending at T − 1 (S: m distinct tokens).  ``prefix(rng, n, k)``
    fills the first k = T − 2m − 1 positions (default: uniform draws).  Targets: inside the
    reversed copy, the next reversed token (the reversed-span loss)."""
    check_int("probe.m", m, 2, 4096)
    start = T - 2 * m - 1
    if start < 0:
        raise ConfigError("probe.m", m, f"needs 2m + 1 ≤ T = {T}")
    S = _draw_span(rng, n, m, tokens)
    tok = np.empty((n, T), np.int32)
    if start:
        tok[:, :start] = (prefix(rng, n, start) if prefix is not None
                          else rng.choice(np.asarray(tokens), (n, start)))
    tok[:, start:start + m] = S
    tok[:, start + m] = sep
    tok[:, start + m + 1:] = S[:, ::-1]
    tg = np.full((n, T), -1, np.int32)
    q = np.arange(start + m + 1, T - 1)
    tg[:, q] = tok[:, q + 1]
    return Probe(tok, tg, "reverse", {"m": m, "start": start, "sep": sep})


def kv_probe(rng: np.random.Generator, n: int, pairs: int, keys, values, T: int,
             prefix=None) -> Probe:
    """The ICL probe: [prefix, k₁ v₁ … k_p v_p, k_π1 v_π1 … k_πp v_πp] (keys distinct, values
    uniform, π a random order) ending at T − 1.  Targets: the value at each repeated key."""
    check_int("probe.pairs", pairs, 1, 2048)
    start = T - 4 * pairs
    if start < 0:
        raise ConfigError("probe.pairs", pairs, f"needs 4·pairs ≤ T = {T}")
    k = _draw_span(rng, n, pairs, keys)
    v = rng.choice(np.asarray(values), (n, pairs))
    perm = np.argsort(rng.random((n, pairs)), axis=1)
    b = np.arange(n)[:, None]
    tok = np.empty((n, T), np.int32)
    if start:
        tok[:, :start] = (prefix(rng, n, start) if prefix is not None
                          else rng.choice(np.asarray(keys), (n, start)))
    tok[:, start:start + 2 * pairs:2] = k
    tok[:, start + 1:start + 2 * pairs:2] = v
    s2 = start + 2 * pairs
    tok[:, s2::2] = k[b, perm]
    tok[:, s2 + 1::2] = v[b, perm]
    tg = np.full((n, T), -1, np.int32)
    tg[:, s2::2] = v[b, perm]
    return Probe(tok, tg, "kv", {"pairs": pairs, "start": start})


def prefix_probe(rng: np.random.Generator, n: int, p: int, tokens, bos: int, T: int) -> Probe:
    """[BOS, x₁ … x_{T−1}] with distinct x drawn from ``tokens`` (without replacement), then the
    span x[a₁ : a₁ + p] copied to a₂, a₁ uniform in [1, T − 2p − 1] and a₂ uniform in
    [a₁ + p + 1, T − p].  ``info``: p, a1, a2 (n,), query = a₂ + p − 1 and key = a₁ + p (n,).
    Target at the query: the token after the first copy (what prefix matching predicts)."""
    check_int("probe.n", n, 1, 100_000)
    check_int("probe.p", p, 1, 4096)
    tokens = np.asarray(tokens)
    if T - 1 > len(tokens):
        raise ConfigError("probe.T", T, f"needs T − 1 ≤ {len(tokens)} distinct tokens")
    if 2 * p + 2 > T:
        raise ConfigError("probe.p", p, f"needs 2p + 2 ≤ T = {T}")
    tok = np.empty((n, T), np.int32)
    tok[:, 0] = bos
    tok[:, 1:] = _draw_span(rng, n, T - 1, tokens)
    a1 = rng.integers(1, T - 2 * p, n)                     # [1, T − 2p − 1]
    a2 = a1 + p + 1 + np.floor(rng.random(n) * (T - 2 * p - a1)).astype(np.int64)
    for b in range(n):
        tok[b, a2[b]:a2[b] + p] = tok[b, a1[b]:a1[b] + p]
    q, k = a2 + p - 1, a1 + p
    tg = np.full((n, T), -1, np.int32)
    tg[np.arange(n), q] = tok[np.arange(n), k]
    return Probe(tok, tg, "prefix", {"p": p, "a1": a1, "a2": a2, "query": q, "key": k})


def reddy_ids(batch) -> np.ndarray:
    """(n, T) token identities of a Reddy-task batch (docs/task.md): the item at 2j and the
    target at 2N hold their class id; the label at 2j + 1 holds K_max + its label id, where
    K_max exceeds every class id in the batch (so labels never equal items)."""
    N = batch.N
    cls = np.asarray(batch.class_ids, np.int64)
    lab = np.asarray(batch.label_ids, np.int64)
    off = int(cls.max()) + 1
    ids = np.empty((len(batch), 2 * N + 1), np.int64)
    ids[:, 0:2 * N:2] = cls[:, :N]
    ids[:, 1:2 * N:2] = off + lab[:, :N]
    ids[:, 2 * N] = cls[:, N]
    return ids
