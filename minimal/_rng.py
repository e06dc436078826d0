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
from numba import njit, types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import overload

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


def _low_byte(m):
    """Index of the lowest non-zero byte of a non-zero uint64 (a word of eight bool flags)."""
    m = int(m)
    return ((m & -m).bit_length() - 1) >> 3


@overload(_low_byte)
def _low_byte_impl(m):
    if isinstance(m, types.Integer):
        return lambda m: trailing_zeros(m) >> 3


@njit(cache=True)
def _ctr_rect(key, c):
    """Rectangle stage of counter draw ``c`` (1-based) of stream ``key``: returns (u, i, ok) with
    u ∈ (−1, 1) exact, i the layer and ok whether the draw is u·x_i (no further words needed)."""
    z = key + c * GAMMA
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    r = z ^ (z >> _S31)
    u = 2.0 * (np.float64(r >> _S11) * _INV53) - 1.0
    i = np.int64(r & _LOW7)
    return u, i, abs(u) < _ZIG_RATIO[i]


@njit(cache=True)
def _ctr_slow(key, c, scale, state):
    """``scale`` × counter draw ``c`` of stream ``key`` whose rectangle test failed: the wedge or
    tail of the ziggurat, with further words from a private stream seeded by the draw's word
    (``state`` is a one-element work array)."""
    r = _mix64(key + c * GAMMA)
    state[0] = _mix64(r ^ _REJECT_TAG)
    return scale * _normal_slow(state, r)


@njit(cache=True)
def _flagged(reject, idx):
    """Write the positions of the set flags of ``reject`` (length a multiple of 8) into ``idx``
    and return their number; the flags are scanned eight at a time."""
    words = reject.view(np.uint64)
    n = 0
    for w in range(words.shape[0]):
        m = words[w]
        while m:
            idx[n] = 8 * w + _low_byte(m)
            n += 1
            m &= m - np.uint64(1)
    return n


_BYTE_SUM = np.uint64(0x0101010101010101)
_S56 = np.uint64(56)


@njit(cache=True)
def _count_flags(reject):
    """Number of set flags of ``reject`` (length a multiple of 8, entries 0 or 1): the eight
    bytes of each word summed by one multiplication (their sum, ≤ 8, lands in the top byte)."""
    words = reject.view(np.uint64)
    n = 0
    for w in range(words.shape[0]):
        n += np.int64((words[w] * _BYTE_SUM) >> _S56)
    return n


#: exp(a) ≈ Σ_k _EXPC[k] a^k on |a| ≤ 1 (a Chebyshev fit, relative error < 1e-10 there; the
#: wedge tests below only ever evaluate |a| ≤ 0.732) — used for decisions, never for values
_EXPC = (0.9999999999989627, 1.0000000002742584, 0.50000000007467, 0.16666666118564583,
         0.041666665796064005, 0.008333363992269808, 0.001388892599710524,
         0.00019834275302693752, 2.479444297611114e-05, 2.825413580808544e-06,
         2.8190181927521655e-07)
_E0, _E1, _E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10 = _EXPC
#: a wedge decision f1 + U (f0 − f1) < 1 is taken from the polynomial only when its value is
#: farther than this from 1; the polynomial (< 1e-10) and the C library's exp (< 1 ulp) then
#: give the same answer, with a safety factor of 10⁴ (docs/performance.md)
_WEDGE_MARGIN = 1e-6


@njit(cache=True)
def _exp_poly(a):
    """exp(a) for |a| ≤ 1 to a relative 1e-10 (branch-free, vectorises; see ``_EXPC``)."""
    return (_E0 + a * (_E1 + a * (_E2 + a * (_E3 + a * (_E4 + a * (_E5 + a * (
        _E6 + a * (_E7 + a * (_E8 + a * (_E9 + a * _E10))))))))))


@njit(cache=True)
def _ctr_slow_many(key, base, idx, n, scale, out, margin=_WEDGE_MARGIN):
    """out[idx[q]] = :func:`_ctr_slow` (key, base + idx[q] + 1, scale) for q < n.

    The common case — a wedge test (layers 1–127), accepted at once or followed by a word that
    passes the rectangle test — is computed for all q in one branch-free loop that LLVM
    vectorises.  Its accept/reject decision f1 + U (f0 − f1) < 1 uses :func:`_exp_poly` for f0
    and f1 and is kept only when it is clear by ``margin`` (default ``_WEDGE_MARGIN``), where
    it provably equals the decision with ``math.exp``; the rest (the tail layer, a close call,
    or a rejected wedge followed by another rejection: ≈ 4 % of these draws) is redone by
    :func:`_ctr_slow`.  The words, the returned values and their arithmetic are those of
    :func:`_normal_slow`, so every value is bit-identical."""
    vals = np.empty(n, np.float64)
    hard = np.empty(n, np.bool_)
    for q in range(n):
        r = _mix64(key + (base + np.uint64(idx[q] + 1)) * GAMMA)
        s0 = _mix64(r ^ _REJECT_TAG)                                 # the private stream
        u = 2.0 * (np.float64(r >> _S11) * _INV53) - 1.0
        i = np.int64(r & _LOW7)
        x = u * _ZIG_X[i]
        a0 = -0.5 * (_ZIG_X[i] * _ZIG_X[i] - x * x)
        a1 = -0.5 * (_ZIG_X[i + 1] * _ZIG_X[i + 1] - x * x)
        uu = np.float64(_mix64(s0 + GAMMA) >> _S11) * _INV53        # its first uniform
        e = _exp_poly(a1) + uu * (_exp_poly(a0) - _exp_poly(a1))
        acc = e < 1.0
        clear = (abs(e - 1.0) > margin) & (abs(a0) <= 1.0) & (abs(a1) <= 1.0)
        r2 = _mix64(s0 + GAMMA + GAMMA)                              # its next word
        u2 = 2.0 * (np.float64(r2 >> _S11) * _INV53) - 1.0
        i2 = np.int64(r2 & _LOW7)
        ok2 = abs(u2) < _ZIG_RATIO[i2]
        vals[q] = scale * (x if acc else u2 * _ZIG_X[i2])
        hard[q] = (i == 0) | (not clear) | ((not acc) & (not ok2))
    state = np.empty(1, np.uint64)
    for q in range(n):
        out[idx[q]] = vals[q]
        if hard[q]:
            out[idx[q]] = _ctr_slow(key, base + np.uint64(idx[q] + 1), scale, state)


@njit(cache=True)
def _ctr_fast(key, base, scale, out, reject):
    """Rectangle stage of draws base+1 … base+n (n = len(out)): out[k] = (scale·x_i)·u and
    reject[k] marks the draws :func:`_ctr_slow` must redo.  Branch-free with constant tables, so
    LLVM vectorises it (8 lanes: SplitMix64 words, two table gathers); the product is written
    in the order of version 2 of the streams, scale·x_i first."""
    for k in range(out.shape[0]):
        u, i, ok = _ctr_rect(key, base + np.uint64(k + 1))
        out[k] = (scale * _ZIG_X[i]) * u
        reject[k] = not ok


@njit(cache=True)
def _fill_normal_ctr(key, out, scale, offset):
    """Fill ``out`` with i.i.d. N(0, scale²) draws where ``out[k]`` is a pure function of
    (``key``, ``offset`` + k): counter-based, so the common path has no loop-carried state and
    vectorises.

    Draw k uses the word w = mix64(key + (offset+k+1)·γ) exactly like :func:`_normal` uses its
    first word; the ≈2.8 % of draws whose rectangle test fails are finished afterwards by the
    same wedge/tail algorithm, with further words from a private stream seeded by w
    (:func:`_ctr_slow`).  The distribution is therefore that of :func:`_normal`; only the order
    of words differs.  The rejected draws are found by scanning their flags eight at a time and
    finished together (:func:`_ctr_slow_many`).
    (Bit-identical to the stream of generator version 2; pinned by hashes in the tests.)"""
    key = np.uint64(key)
    base = np.uint64(offset)
    n = out.shape[0]
    reject = np.zeros(((n + 7) // 8) * 8, np.bool_)
    _ctr_fast(key, base, scale, out, reject[:n])
    idx = np.empty(_count_flags(reject), np.int64)    # ~3 % of n: no large temporary per call
    _ctr_slow_many(key, base, idx, _flagged(reject, idx), scale, out)


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
