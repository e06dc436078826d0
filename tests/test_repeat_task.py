"""The repeated-data stream keeps f and |R| exactly (docs/repeat.md)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimal.errors import ConfigError
from minimal.tasks.repeat import RepeatTask, RepeatTaskConfig, copy_mask


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.37, 1.0]), st.integers(1, 70),
       st.integers(1, 300), st.integers(0, 2**31))
def test_pool_rows_per_batch_keep_f_exactly(f, B, pool, seed):
    cfg = RepeatTaskConfig(pool_size=pool, repeat_frac=f, batch_size=B, T=16, span=5,
                           vocab=16, n_eval=8)
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
        P, L = cfg.prefix_len, cfg.span
        np.testing.assert_array_equal(seqs[:, P:P + L], seqs[:, P + L:])
        assert all(len(set(r)) == L for r in seqs[:, P:P + L])


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


def test_span_tokens_are_uniform_and_copy_mask_marks_the_second_copy():
    cfg = RepeatTaskConfig(pool_size=4, repeat_frac=0.0, batch_size=4000)
    task = RepeatTask(cfg, 0, 1, 2)
    b = task.batch(0)
    P, L = cfg.prefix_len, cfg.span
    span = b.tokens[:, P:P + L]
    counts = np.bincount(span.ravel(), minlength=cfg.vocab)
    expected = span.size / cfg.vocab
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < cfg.vocab + 6 * math.sqrt(2 * cfg.vocab)      # ~ χ²(63), 6 sd
    m = copy_mask(cfg)
    assert m.sum() == L - 1
    # every masked target equals the token L positions earlier (copyable)
    seq = np.concatenate([b.tokens, b.targets[:, -1:]], 1)
    t = np.nonzero(m)[0]
    np.testing.assert_array_equal(seq[:, t + 1], seq[:, t + 1 - L])
    # and the target just before the mask is not copyable by the span's rule
    assert not m[P + L - 1]


def test_bad_configs_are_one_line_errors():
    with pytest.raises(ConfigError, match="span"):
        RepeatTaskConfig(T=10, span=6)
    with pytest.raises(ConfigError, match="repeat_frac"):
        RepeatTaskConfig(repeat_frac=1.5)
    with pytest.raises(ConfigError, match="pool_size"):
        RepeatTaskConfig(pool_size=0)
    with pytest.raises(ConfigError, match="pool_size"):
        RepeatTaskConfig(vocab=2, T=3, span=2, pool_size=3)     # only 2 sequences exist
    task = RepeatTask(RepeatTaskConfig(vocab=2, T=3, span=2, pool_size=2), 0, 1, 2)
    assert len(np.unique(task.pool, axis=0)) == 2
