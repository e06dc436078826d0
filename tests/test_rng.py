"""The counter-based generator behind the compiled task: exactness of the mix, distribution
of uniforms, integers and ziggurat normals (including the rare tail and wedge paths)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from scipy import stats as sps

from minimal import _rng

P_MIN = 1e-6


@njit
def _draw(seed, n, what, k):
    state = np.empty(1, np.uint64)
    state[0] = seed
    out = np.empty(n)
    for i in range(n):
        if what == 0:
            out[i] = _rng._uniform(state)
        elif what == 1:
            out[i] = _rng._randint(state, k)
        else:
            out[i] = _rng._normal(state)
    return out


@given(st.integers(0, 2**64 - 1))
def test_python_and_compiled_mix_agree(z):
    assert _rng.mix64(z) == int(_rng._mix64(np.uint64(z)))


def test_mix_is_a_bijection_sample():
    xs = np.arange(200_000, dtype=np.uint64)
    ys = np.array([_rng._mix64(x) for x in xs[:2000]])
    assert len(np.unique(ys)) == 2000


def test_uniform_distribution():
    u = _draw(np.uint64(1), 400_000, 0, 0)
    assert u.min() >= 0 and u.max() < 1
    assert sps.kstest(u, "uniform").pvalue > P_MIN


@pytest.mark.parametrize("k", [1, 2, 7, 32, 49, 1000])
def test_randint_uniform(k):
    r = _draw(np.uint64(2), 100_000, 1, k).astype(int)
    assert r.min() >= 0 and r.max() <= k - 1
    if k > 1:
        assert sps.chisquare(np.bincount(r, minlength=k)).pvalue > P_MIN


def test_normal_distribution_and_tails():
    x = _draw(np.uint64(3), 2_000_000, 2, 0)
    assert sps.kstest(x, "norm").pvalue > P_MIN
    # tail beyond the ziggurat's base strip (R = 3.44): served by the exponential tail sampler
    for thr in (2.0, _rng._ZIG_R, 4.0):
        hits = int((np.abs(x) > thr).sum())
        assert sps.binomtest(hits, len(x), 2 * sps.norm.sf(thr)).pvalue > P_MIN
    # a mid-range bin of the wedge (rejection) region
    hits = int(((x > 1.5) & (x < 1.52)).sum())
    p = sps.norm.cdf(1.52) - sps.norm.cdf(1.5)
    assert sps.binomtest(hits, len(x), p).pvalue > P_MIN
    assert abs(x.mean()) < 5 / np.sqrt(len(x))
    assert abs(x.var() - 1) < 5 * np.sqrt(2 / len(x))


def test_fill_normal_scale_and_stream_continuity():
    s = np.array([7], np.uint64)
    a = np.empty(100_001)
    _rng._fill_normal(s, a, 0.5)
    assert sps.kstest(a / 0.5, "norm").pvalue > P_MIN
    s1, s2 = np.array([9], np.uint64), np.array([9], np.uint64)
    b1, b2, b3 = np.empty(10), np.empty(5), np.empty(5)
    _rng._fill_normal(s1, b1, 1.0)
    _rng._fill_normal(s2, b2, 1.0)
    _rng._fill_normal(s2, b3, 1.0)
    np.testing.assert_array_equal(b1, np.concatenate([b2, b3]))   # pure function of state


def test_step_keys():
    base = _rng.stream_key(0, "data")
    keys = {_rng.step_key(base, s) for s in range(100_000)}
    assert len(keys) == 100_000
    assert _rng.step_key(base, 5) == _rng.step_key(base, 5)
    with pytest.raises(ValueError):
        _rng.step_key(base, -1)
    assert _rng.stream_key(0, "data") != _rng.stream_key(0, "eval")
    assert _rng.stream_key(0, "data") != _rng.stream_key(1, "data")


def _ctr(key, n, scale=1.0, offset=0):
    out = np.empty(n)
    _rng._fill_normal_ctr(np.uint64(key), out, scale, np.uint64(offset))
    return out


def test_counter_normal_distribution_tails_and_wedge():
    """The vectorised counter-based ziggurat draws the same distribution as the sequential one:
    N(0, 1) overall, the exponential tail beyond R and the wedge (rejection) region included."""
    x = np.concatenate([_ctr(k, 200_000) for k in range(10)])
    assert np.isfinite(x).all()
    assert sps.kstest(x, "norm").pvalue > P_MIN
    for thr in (2.0, _rng._ZIG_R, 4.0):
        hits = int((np.abs(x) > thr).sum())
        assert sps.binomtest(hits, len(x), 2 * sps.norm.sf(thr)).pvalue > P_MIN
    hits = int(((x > 1.5) & (x < 1.52)).sum())
    p = sps.norm.cdf(1.52) - sps.norm.cdf(1.5)
    assert sps.binomtest(hits, len(x), p).pvalue > P_MIN
    assert abs(x.mean()) < 5 / np.sqrt(len(x))
    assert abs(x.var() - 1) < 5 * np.sqrt(2 / len(x))
    # neighbouring draws are uncorrelated (lag 1 and lag 2)
    for lag in (1, 2):
        r = np.corrcoef(x[:-lag], x[lag:])[0, 1]
        assert abs(r) < 5 / np.sqrt(len(x))


@given(st.integers(0, 2**64 - 1), st.integers(1, 300), st.integers(0, 300),
       st.floats(0.01, 10.0))
@settings(max_examples=50)
def test_counter_normal_is_a_pure_function_of_key_and_index(key, n, m, scale):
    a = _ctr(key, n + m, scale)
    np.testing.assert_array_equal(a[:n], _ctr(key, n, scale))       # prefix property
    np.testing.assert_array_equal(a[n:], _ctr(key, m, scale, offset=n))   # any window
    np.testing.assert_allclose(a, scale * _ctr(key, n + m, 1.0), rtol=1e-15, atol=0)
    assert np.isfinite(a).all()
    assert not np.array_equal(_ctr(key, 8), _ctr((key + 1) % 2**64, 8))


def test_counter_normal_stream_is_frozen():
    """The counter-based normal stream behind generator version 2, pinned by a hash (recorded
    on x86-64 Linux; the wedge/tail draws use the C library's exp/log)."""
    import hashlib
    x = np.empty(5000)
    _rng._fill_normal_ctr(np.uint64(123456789), x, 0.7, np.uint64(31))
    assert hashlib.sha256(x.tobytes()).hexdigest()[:16] == "3354e5e46006bc74"


@njit
def _ctr_one_by_one(key, n, scale, offset):
    """The definition of the counter-based stream, one draw at a time: the rectangle test on
    the draw's word, else the wedge/tail algorithm on a private stream seeded by that word."""
    out = np.empty(n)
    state = np.empty(1, np.uint64)
    for k in range(n):
        r = _rng._mix64(key + np.uint64(offset + k + 1) * _rng.GAMMA)
        u = 2.0 * (np.float64(r >> np.uint64(11)) * _rng._INV53) - 1.0
        i = np.int64(r & np.uint64(127))
        if abs(u) < _rng._ZIG_RATIO[i]:
            out[k] = (scale * _rng._ZIG_X[i]) * u
        else:
            state[0] = _rng._mix64(r ^ _rng._REJECT_TAG)
            out[k] = scale * _rng._normal_slow(state, r)
    return out


@given(st.integers(0, 2**64 - 1), st.integers(1, 3000), st.integers(0, 2**40),
       st.floats(1e-3, 10.0))
@settings(max_examples=60)
def test_vectorised_counter_normals_equal_the_definition_bit_for_bit(key, n, offset, scale):
    """The vectorised fill (rectangle stage in SIMD, rejected draws found by flag words and
    finished together with a polynomial-exp wedge decision) reproduces the one-by-one
    definition exactly — the platform-independent guarantee behind the frozen streams."""
    got = _ctr(key, n, scale, offset)
    want = _ctr_one_by_one(np.uint64(key), n, scale, offset)
    np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))


def test_vectorised_counter_normals_equal_the_definition_on_many_rejections():
    """≈ 11,000 rectangle rejections (wedges of every layer, tail draws, double rejections)."""
    for key in (1, 2**63 + 5, 987654321):
        want = _ctr_one_by_one(np.uint64(key), 131_072, 0.37, 7)
        got = _ctr(key, 131_072, 0.37, 7)
        np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))


@given(st.integers(0, 400), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
@settings(max_examples=60)
def test_flag_count_equals_the_number_of_set_flags(n_words, density, seed):
    """_count_flags (bytes of each flag word summed by one multiplication) counts the flags
    exactly, all-set words (eight per word, the largest byte sum) included."""
    rng = np.random.default_rng(seed)
    flags = rng.random(8 * n_words) < density
    if n_words:
        flags[:8] = True                      # one all-set word in every example
    assert _rng._count_flags(flags) == int(flags.sum())
    idx = np.empty(_rng._count_flags(flags), np.int64)
    assert _rng._flagged(flags, idx) == len(idx)
    np.testing.assert_array_equal(idx, np.flatnonzero(flags))


def test_wedge_polynomial_exp_is_accurate_where_used():
    """_exp_poly is within 1e-10 (relative) of exp on [−1, 1] (the wedge arguments lie in
    [−0.732, 0.732]), far inside the decision margin of 1e-6."""
    X = _rng._ZIG_X
    span = 0.5 * (X[1:127] ** 2 - X[2:128] ** 2)
    assert span.max() < 0.74
    a = np.linspace(-1.0, 1.0, 2_000_001)
    p = np.array([_rng._exp_poly(v) for v in a[::1000]])          # the compiled function
    np.testing.assert_array_equal(p, _rng._exp_poly.py_func(a[::1000]))
    rel = np.abs(_rng._exp_poly.py_func(a) / np.exp(a) - 1.0)
    assert rel.max() < 1e-10
    assert _rng._WEDGE_MARGIN >= 1e3 * (3 * rel.max() + 1e-15)


@pytest.mark.parametrize("margin", [0.0, 10.0])
def test_wedge_shortcut_and_its_fallback_agree(margin):
    """Margin 0 takes every wedge decision from the polynomial, margin 10 sends every rejected
    draw to the exact one-by-one path: both give the definition's values."""
    key, n, scale = np.uint64(424242), 40_000, 1.3
    out = np.empty(n)
    reject = np.zeros(n, np.bool_)
    _rng._ctr_fast(key, np.uint64(0), scale, out, reject)
    idx = np.empty(n, np.int64)
    m = _rng._flagged(reject, idx)
    assert 900 < m < 1400                               # ≈ 2.8 % of the draws
    _rng._ctr_slow_many(key, np.uint64(0), idx, m, scale, out, margin)
    want = _ctr_one_by_one(key, n, scale, 0)
    np.testing.assert_array_equal(out.view(np.uint64), want.view(np.uint64))
