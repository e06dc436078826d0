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
       st.integers(1, 300), st.integers(0, 2**31), st.integers(3, 5))
def test_pool_rows_per_batch_keep_f_exactly(f, B, pool, seed, span_min):
    cfg = RepeatTaskConfig(pool_size=pool, repeat_frac=f, batch_size=B, T=16, span=5,
                           span_min=span_min, vocab=17, n_eval=8)
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
            # BOS, then distinct tokens except one copied span of L tokens
            assert row[0] == cfg.vocab - 1 and (row[1:] < cfg.vocab - 1).all()
            assert len(set(row[1:].tolist())) == cfg.T - L
            dup = np.flatnonzero([row[t] in row[:t] for t in range(len(row))])
            assert len(dup) == L and (np.diff(dup) == 1).all()
            first = int(np.flatnonzero(row == row[dup[0]])[0])
            np.testing.assert_array_equal(row[first:first + L], row[dup])
            assert dup[0] >= first + L + 3


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
    span = np.concatenate([row[[t for t in range(len(row)) if row[t] in row[:t]]]
                           for row in seq])
    v = cfg.vocab - 1                                            # content tokens (not BOS)
    counts = np.bincount(span, minlength=v)
    expected = span.size / v
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert len(counts) == v and chi2 < v + 6 * math.sqrt(2 * v)  # tokens uniform (χ²(62), 6 sd)
    m = copy_mask(cfg, seq)
    np.testing.assert_array_equal(m.sum(1), Ls - 1)
    # every masked target is the successor of the earlier occurrence of its input token (an
    # induction head's prediction), and that occurrence is unique
    for row, mr in zip(seq[:300], m[:300]):
        for t in np.nonzero(mr)[0]:
            earlier = [s for s in range(t) if row[s] == row[t]]
            assert len(earlier) == 1 and row[earlier[0] + 1] == row[t + 1]
        # the copy's first token (its predecessor is not a repeat) is not marked
        t0 = np.nonzero(mr)[0][0]
        assert not mr[t0 - 1]


def test_bad_configs_are_one_line_errors():
    with pytest.raises(ConfigError, match="span"):
        RepeatTaskConfig(T=10, span=6, span_min=3)
    with pytest.raises(ConfigError, match="repeat_frac"):
        RepeatTaskConfig(repeat_frac=1.5)
    with pytest.raises(ConfigError, match="span_min"):
        RepeatTaskConfig(span_min=13)
    with pytest.raises(ConfigError, match="pool_size"):
        RepeatTaskConfig(pool_size=0)
    with pytest.raises(ConfigError, match="T=64"):
        RepeatTaskConfig(T=64)              # BOS and 64 distinct tokens need vocab ≥ 65
