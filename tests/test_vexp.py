"""The vectorisable exponential used by the CoT kernels, against np.exp."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from minimal._numerics import _like, _vexp


@njit(cache=False)
def _call(x, shift, out, scratch):
    _vexp(x, shift, out, scratch)


@njit(cache=False)
def _like_type(arr, v):
    return _like(arr, v)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.floats(-60.0, 60.0), st.floats(0.1, 30.0), st.integers(0, 2**31))
def test_float32_matches_exp_within_relative_bound(n, centre, spread, seed):
    rng = np.random.default_rng(seed)
    x = (centre + spread * rng.standard_normal(n)).clip(-200, 150).astype(np.float32)
    shift = float(x.max()) if rng.random() < 0.5 else float(rng.uniform(-20, 20))
    out = np.empty(n, np.float32)
    _call(x, shift, out, np.empty(n, np.int32))
    arg = x.astype(np.float64) - np.float32(shift)
    ok = arg <= 88.0                                   # documented domain: x - shift ≤ 88
    want = np.exp(np.maximum(arg, -126 * math.log(2)))    # clamped at the smallest normal
    rel = np.abs(out.astype(np.float64) - want) / want
    bound = 3e-7 + 1.2e-7 * np.abs(arg)
    assert (rel[ok] <= bound[ok]).all(), (arg[ok][rel[ok] > bound[ok]], rel[ok].max())
    assert np.isfinite(out[ok]).all() and (out[ok] > 0).all()


def test_clamps_at_both_ends_and_is_monotone():
    x = np.linspace(-120, 120, 40001).astype(np.float32)
    out = np.empty_like(x)
    _call(x, 0.0, out, np.empty(len(x), np.int32))
    assert out.min() == pytest.approx(np.finfo(np.float32).tiny, rel=1e-6)
    assert np.isfinite(out).all() and out.max() == pytest.approx(2.0 ** 127, rel=1e-6)
    assert (np.diff(out.astype(np.float64)) >= 0).all()
    assert out[np.searchsorted(x, 0.0)] == pytest.approx(1.0, abs=1e-7)


def test_float64_path_is_libm_exp():
    x = np.random.default_rng(1).normal(0, 10, 257)
    out = np.empty_like(x)
    _call(x, 1.5, out, np.empty(len(x), np.int32))
    # the float64 path is the C library's exp; NumPy's own exp is a different implementation
    # (SIMD on AVX-512 builds) and may differ in the last bit: both are correctly rounded to
    # within 1 ulp, so they agree to 2 ulp (seen: 1 ulp on this machine)
    np.testing.assert_array_max_ulp(out, np.exp(x - 1.5), maxulp=2)
    np.testing.assert_array_equal(out, [math.exp(v - 1.5) for v in x])   # exactly libm
    assert _like_type(np.zeros(2, np.float32), 0.1) == float(np.float32(0.1)) != 0.1
    assert _like_type(np.zeros(2), 0.1) == 0.1
