"""The repeated-data stream keeps f and |R| exactly (docs/repeat.md)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimal.errors import ConfigError
from minimal.tasks.repeat import RepeatTask, RepeatTaskConfig, copy_mask, span_lengths


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.37, 1.0]), st.integers(1, 70),
       st.integers(1, 300), st.integers(0, 2**31), st.integers(1, 5))
def test_pool_rows_per_batch_keep_f_exactly(f, B, pool, seed, span_min):
    cfg = RepeatTaskConfig(pool_size=pool, repeat_frac=f, batch_size=B, T=16, span=5,
                           span_min=span_min, vocab=16, n_eval=8)
    task = RepeatTask(cfg, seed, seed + 1, seed + 2)
    assert len(task.pool) == pool and len(np.unique(task.pool, axis=0)) == pool
    exact = Fraction(str(f)) * B
    total = 0
    for t in range(40):
        b = task.batch(t)
        k = int(b.meta["from_pool"].sum())
        assert k in (math.floor(exact), math.ceil(exact))
        total += k
        assert total == math.floor(exact * (t + 1))
        # pool rows are members of R, fresh rows follow the structure
        seqs = np.concatenate([b.tokens, b.targets[:, -1:]], 1)
        for row, idx in zip(seqs[:k], b.meta["pool_index"]):
            np.testing.assert_array_equal(row, task.pool[idx])
        Ls = span_lengths(cfg, seqs)
        assert ((Ls >= span_min) & (Ls <= 5)).all()
        for row, L in zip(seqs, Ls):
            np.testing.assert_array_equal(row[-2 * L:-L], row[-L:])
            assert len(set(row[-L:])) == L


def test_every_pool_member_is_used_and_batches_are_pure():
    cfg = RepeatTaskConfig(pool_size=16, repeat_frac=0.5, batch_size=32)
    a = RepeatTask(cfg, 1, 2, 3)
    b = RepeatTask(cfg, 1, 2, 3)
    seen = set()
    for t in range(20):
        x, y = a.batch(t), b.batch(t)
        np.testing.assert_array_equal(x.tokens, y.tokens)
        seen |= set(x.meta["pool_index"].tolist())
    assert seen == set(range(16))
    assert not np.array_equal(a.batch(0).tokens, a.batch(1).tokens)
    other = RepeatTask(cfg, 9, 2, 3)
    assert not np.array_equal(a.pool, other.pool)


def test_span_tokens_and_lengths_are_uniform_and_copy_mask_marks_the_second_copy():
    cfg = RepeatTaskConfig(pool_size=4, repeat_frac=0.0, batch_size=4000)
    task = RepeatTask(cfg, 0, 1, 2)
    b = task.batch(0)
    seq = np.concatenate([b.tokens, b.targets[:, -1:]], 1)
    Ls = span_lengths(cfg, seq)
    k = cfg.span - cfg.span_min + 1
    counts = np.bincount(Ls - cfg.span_min, minlength=k)
    chi2 = ((counts - len(Ls) / k) ** 2 / (len(Ls) / k)).sum()
    assert chi2 < k + 6 * math.sqrt(2 * k)                       # lengths uniform
    span = np.concatenate([row[-L:] for row, L in zip(seq, Ls)])
    counts = np.bincount(span, minlength=cfg.vocab)
    expected = span.size / cfg.vocab
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < cfg.vocab + 6 * math.sqrt(2 * cfg.vocab)      # tokens uniform (χ²(63), 6 sd)
    m = copy_mask(cfg, seq)
    np.testing.assert_array_equal(m.sum(1), Ls - 1)
    # every masked target equals the token L positions earlier (copyable) ...
    for row, mr, L in zip(seq[:200], m[:200], Ls[:200]):
        t = np.nonzero(mr)[0]
        np.testing.assert_array_equal(row[t + 1], row[t + 1 - L])
        # ... and the copy's first token (target just before the mask) is not marked
        assert not mr[cfg.T - L]


def test_bad_configs_are_one_line_errors():
    with pytest.raises(ConfigError, match="span"):
        RepeatTaskConfig(T=10, span=6, span_min=3)
    with pytest.raises(ConfigError, match="repeat_frac"):
        RepeatTaskConfig(repeat_frac=1.5)
    with pytest.raises(ConfigError, match="span_min"):
        RepeatTaskConfig(span_min=13)
    with pytest.raises(ConfigError, match="pool_size"):
        RepeatTaskConfig(pool_size=0)
    with pytest.raises(ConfigError, match="pool_size"):
        RepeatTaskConfig(vocab=2, T=3, span=2, span_min=2, pool_size=3)     # only 2 sequences exist
    task = RepeatTask(RepeatTaskConfig(vocab=2, T=3, span=2, span_min=2, pool_size=2), 0, 1, 2)
    assert len(np.unique(task.pool, axis=0)) == 2
