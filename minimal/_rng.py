"""Counter-based random numbers for compiled generators, and seed derivation.

Why our own generator: a training batch must be a pure function of (data seed, step), and every
sequence inside it should be reproducible on its own (so that a batch does not depend on how many
sequences were drawn before it, and sequences can later be generated in parallel).  Each sequence
therefore gets its own 64-bit key, and draws ``mix64(key + i·γ)`` for i = 1, 2, ... — SplitMix64,
a counter-based generator that passes BigCrush.  Keys are derived from NumPy ``SeedSequence``
entropy pools, never from global state.

The state of a stream is a one-element ``uint64`` array owned by the caller (explicit state).
Bulk normal draws (:func:`_fill_normal_ctr`) are counter-based — draw k is a pure function of
(key, k) — so that their loop vectorises.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53

_MASK = (1 << 64) - 1


@njit(cache=True)
def _mix64(z):
    """SplitMix64 finaliser (a bijection of uint64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def _next_u64(state):
    s = state[0] + GAMMA
    state[0] = s
    return _mix64(s)


@njit(cache=True)
def _uniform(state):
    """Uniform double on [0, 1) with 53 random bits."""
    return np.float64(_next_u64(state) >> _S11) * _INV53


@njit(cache=True)
def _randint(state, n):
    """Uniform integer on 0..n-1 (n < 2**31; bias < 2**-22, far below any test's resolution)."""
    return np.int64(_uniform(state) * n)


# Ziggurat tables (Marsaglia & Tsang 2000, in Doornik's 2005 "ZIGNOR" form, 128 layers).
_ZIG_C = 128
_ZIG_R = 3.442619855899
_ZIG_V = 9.91256303526217e-3


def _zig_tables():
    x = np.zeros(_ZIG_C + 1)
    f = math.exp(-0.5 * _ZIG_R * _ZIG_R)
    x[0] = _ZIG_V / f
    x[1] = _ZIG_R
    for i in range(2, _ZIG_C):
        x[i] = math.sqrt(-2.0 * math.log(_ZIG_V / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    x[_ZIG_C] = 0.0
    r = x[1:] / x[:-1]
    return x, r


_ZIG_X, _ZIG_RATIO = _zig_tables()
_LOW7 = np.uint64(0x7F)


@njit(cache=True)
def _normal_tail(state, negative):
    while True:
        x = math.log(1.0 - _uniform(state)) / _ZIG_R
        y = math.log(1.0 - _uniform(state))
        if -2.0 * y >= x * x:
            break
    return x - _ZIG_R if negative else _ZIG_R - x


@njit(cache=True)
def _normal_slow(state, r):
    """Ziggurat draw given a first word ``r`` whose rectangle test failed (rare path)."""
    while True:
        u = 2.0 * (np.float64(r >> _S11) * _INV53) - 1.0
        i = np.int64(r & _LOW7)
        if abs(u) < _ZIG_RATIO[i]:
            return u * _ZIG_X[i]
        if i == 0:
            return _normal_tail(state, u < 0.0)
        x = u * _ZIG_X[i]
        f0 = math.exp(-0.5 * (_ZIG_X[i] * _ZIG_X[i] - x * x))
        f1 = math.exp(-0.5 * (_ZIG_X[i + 1] * _ZIG_X[i + 1] - x * x))
        if f1 + _uniform(state) * (f0 - f1) < 1.0:
            return x
        r = _next_u64(state)


@njit(cache=True)
def _normal(state):
    """One N(0, 1) draw by the ziggurat method (≈98% of draws cost one 64-bit word)."""
    r = _next_u64(state)
    u = 2.0 * (np.float64(r >> _S11) * _INV53) - 1.0
    i = np.int64(r & _LOW7)
    if abs(u) < _ZIG_RATIO[i]:
        return u * _ZIG_X[i]
    return _normal_slow(state, r)


@njit(cache=True)
def _fill_normal(state, out, scale):
    """Fill ``out`` (1-D float64) with i.i.d. N(0, scale²) draws (fast path inlined)."""
    for k in range(out.shape[0]):
        r = _next_u64(state)
        u = 2.0 * (np.float64(r >> _S11) * _INV53) - 1.0
        i = np.int64(r & _LOW7)
        if abs(u) < _ZIG_RATIO[i]:
            out[k] = scale * (u * _ZIG_X[i])
        else:
            out[k] = scale * _normal_slow(state, r)


_REJECT_TAG = np.uint64(0x2545F4914F6CDD1D)


@njit(cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def _fill_normal_ctr(key, out, scale, offset):
    """Fill ``out`` with i.i.d. N(0, scale²) draws where ``out[k]`` is a pure function of
    (``key``, ``offset`` + k): counter-based, so the fast path has no loop-carried state and
    vectorises (SplitMix64 words, the ziggurat's rectangle test and table lookups become SIMD).

    Draw k uses the word w = mix64(key + (offset+k+1)·γ) exactly like :func:`_normal` uses its
    first word; the ≈2 % of draws whose rectangle test fails are finished in a second, scalar
    pass by the same wedge/tail algorithm, with further words from a private stream seeded by
    w.  The distribution is therefore that of :func:`_normal`; only the order of words differs.

    Call it from Python (or with a large ``out``): LLVM vectorises the loop in this function's
    own compiled body; inlined into another kernel it was measured at half the speed."""
    key = np.uint64(key)
    base = np.uint64(offset)
    n = out.shape[0]
    for k in range(n):                      # vectorised: no branches, no state
        z = key + (base + np.uint64(k + 1)) * GAMMA
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        r = z ^ (z >> _S31)
        u = 2.0 * (np.float64(r >> _S11) * _INV53) - 1.0
        i = np.int64(r & _LOW7)
        x = scale * (u * _ZIG_X[i])
        out[k] = x if abs(u) < _ZIG_RATIO[i] else np.nan
    state = np.empty(1, np.uint64)
    for k in range(n):                      # the rare rejected draws
        if out[k] != out[k]:
            r = _mix64(key + (base + np.uint64(k + 1)) * GAMMA)
            state[0] = _mix64(r ^ _REJECT_TAG)
            out[k] = scale * _normal_slow(state, r)


# ---------------------------------------------------------------------------------------------
# Python-side key derivation (pure integers, identical to the compiled mix)
# ---------------------------------------------------------------------------------------------

def mix64(z: int) -> int:
    z &= _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


#: purposes of the independent streams derived from one run seed
PURPOSES = {"world": 1, "eval": 2, "data": 3, "init": 4}


def stream_key(seed: int, purpose: str) -> int:
    """64-bit base key of the stream ``purpose`` for a seed (via NumPy SeedSequence)."""
    code = PURPOSES[purpose]
    ss = np.random.SeedSequence(int(seed), spawn_key=(code,))
    return int(ss.generate_state(1, np.uint64)[0])


def step_key(base: int, step: int) -> int:
    """Key of call number ``step`` of a stream: a pure function of (base, step)."""
    if step < 0:
        raise ValueError(f"step={step} is invalid: must be ≥ 0")
    return mix64(base ^ mix64((step * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & _MASK))


def generator(seed: int, purpose: str) -> np.random.Generator:
    """A NumPy Generator for a purpose stream (used for the world and initialisations)."""
    code = PURPOSES[purpose]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(code,))))
