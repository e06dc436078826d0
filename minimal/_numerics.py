"""Numba helpers shared by every model family: the vectorisable exponential ``_vexp``, short
dot/axpy loops, the scalar-bias ReLU layer of the MLP classifiers and the cross-entropy.

The vectorisable exponential for float32 rows inside Numba kernels:

The PyPI build of llvmlite has no SVML, so ``math.exp`` in a Numba loop is a scalar libm call
(~9 ns each); the softmax rows of the CoT stores spent most of their time there.  ``_vexp``
computes exponentials element-wise with only multiplies, adds, ``floor`` and an integer shift,
which LLVM turns into SIMD code (~0.4 ns per element on 400-wide float32 rows):

    exp(x) = 2^t,  t = x·log2(e) = n + f,  n = floor(t),  f ∈ [0, 1)
    2^f ≈ p(f)  (degree-5 polynomial, relative error ≤ 1.5e-7 on [0, 1]),
    2^n        = the float32 whose exponent field is n + 127.

The coefficients are a relative-error near-minimax fit of 2^f on [0, 1] (iteratively reweighted
least squares on Chebyshev nodes, constant term pinned to 1).  Arguments below −87.3 are clamped,
so the result is ≥ 2^−126 (the smallest normal float) instead of 0; above 88 the result saturates
at 2^127 instead of overflowing (softmax arguments are ≤ 0, far from either end).  With float32 inputs the total
relative error is ≲ 1.5e-7 + 6e-8·|x| (the rounding of x·log2 e).  float64 arrays use math.exp.

``_vexp(x, shift, out, scratch)`` writes ``exp(x - shift)``: the shift folds the softmax's
max-subtraction into the same pass.  ``out`` must not be ``x``: LLVM's runtime alias check then
fails and the loop runs scalar (about 6x slower).  It is a Numba overload: kernels call it on
float32 or float64 arrays; the pure-Python body (used with ``NUMBA_DISABLE_JIT=1``) is ``np.exp``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

# Floating-point reductions (dot products over D or d) vectorise only when LLVM may reassociate;
# no-NaN/no-Inf assumptions are *not* granted, so the max-subtracted softmax stays exact.
# (Shared by every kernel module.)
_FM = {"reassoc", "contract", "nsz", "arcp"}

_LOG2E = np.float32(1.4426950408889634)
_TMIN = np.float32(-126.0)
_TMAX = np.float32(127.0)
_C0 = np.float32(1.0)
_C1 = np.float32(0.6931530833244324)
_C2 = np.float32(0.24015362560749054)
_C3 = np.float32(0.05582631751894951)
_C4 = np.float32(0.00898934155702591)
_C5 = np.float32(0.0018775764619931579)
_BIAS = np.int32(127)
_SHIFT = np.int32(23)


def _vexp(x, shift, out, scratch):
    """out[:] = exp(x - shift) (``scratch`` is an int32 work array of the same length)."""
    np.exp(x - shift, out=out)


@overload(_vexp, jit_options={"fastmath": _FM})
def _vexp_impl(x, shift, out, scratch):
    if isinstance(x, types.Array) and x.dtype == types.float32:
        def impl32(x, shift, out, scratch):
            n_el = x.shape[0]
            s = np.float32(shift)
            for e in range(n_el):
                t = min(max((x[e] - s) * _LOG2E, _TMIN), _TMAX)
                n = np.floor(t)
                f = t - n
                p = _C5 * f + _C4
                p = p * f + _C3
                p = p * f + _C2
                p = p * f + _C1
                p = p * f + _C0
                scratch[e] = (np.int32(n) + _BIAS) << _SHIFT
                out[e] = p
            scale = scratch.view(np.float32)
            for e in range(n_el):
                out[e] *= scale[e]
        return impl32

    def impl64(x, shift, out, scratch):
        for e in range(x.shape[0]):
            out[e] = math.exp(x[e] - shift)
    return impl64


def _like(arr, v):
    """``v`` as a scalar of ``arr``'s dtype (so float32 loops stay float32 and vectorise)."""
    return arr.dtype.type(v)


@overload(_like)
def _like_impl(arr, v):
    if isinstance(arr, types.Array) and arr.dtype == types.float32:
        return lambda arr, v: np.float32(v)
    return lambda arr, v: np.float64(v)


# ----------------------------------------------------------------------------------------------
# small shared kernels
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _dot(a, c):
    """a · c over len(c), accumulated in the arrays' precision (vectorises: 1-D views only)."""
    s = c.dtype.type(0)
    for e in range(c.shape[0]):
        s += a[e] * c[e]
    return s


@njit(cache=True, fastmath=_FM)
def _axpy(out, alpha, c):
    """out[:len(c)] += alpha · c (alpha cast to the arrays' precision)."""
    a = c.dtype.type(alpha)
    for e in range(c.shape[0]):
        out[e] += a * c[e]


@njit(cache=True, fastmath=_FM)
def _relu_layer(X, W, bias, Zm, Hm):
    """One MLP layer with a scalar bias: Zm = X Wᵀ + bias, Hm = ReLU(Zm)."""
    z = np.dot(X, W.T)
    nb, w = z.shape
    for b in range(nb):
        for e in range(w):
            v = z[b, e] + bias
            Zm[b, e] = v
            Hm[b, e] = v if v > 0.0 else 0.0


@njit(cache=True, fastmath=_FM)
def _relu_layer_bwd(dH, Zm, X, W, gW):
    """Backward of :func:`_relu_layer`: gW = dZᵀ X; returns (∂/∂X, ∂/∂bias)."""
    nb, w = dH.shape
    dz = np.empty_like(dH)
    sb = 0.0
    for b in range(nb):
        for e in range(w):
            v = dH[b, e] if Zm[b, e] > 0.0 else 0.0
            dz[b, e] = v
            sb += v
    gW[:, :] = np.dot(dz.T, X)
    return np.dot(dz, W), sb


@njit(cache=True, fastmath=_FM)
def _cross_entropy(logits, y):
    """Mean cross-entropy, d(loss)/d(logits) and per-sequence correctness."""
    nb, L = logits.shape
    dlog = np.empty_like(logits)
    correct = np.zeros(nb, np.bool_)
    scratch = np.empty(L, np.int32)
    inv_nb = _like(dlog, 1.0 / nb)
    total = 0.0
    for b in range(nb):
        row = logits[b]
        mx = row[0]
        am = 0
        for c in range(1, L):
            if row[c] > mx:
                mx = row[c]
                am = c
        correct[b] = am == y[b]
        d = dlog[b]
        _vexp(row, mx, d, scratch)                 # exp(z - max), SIMD for float32
        tot = 0.0
        for c in range(L):
            tot += d[c]
        total += math.log(tot) - (row[y[b]] - mx)
        f = _like(d, 1.0 / (tot * nb))
        for c in range(L):
            d[c] *= f
        d[y[b]] -= inv_nb
    return total / nb, dlog, correct


# ----------------------------------------------------------------------------------------------
# direct BLAS matrix products
# ----------------------------------------------------------------------------------------------
#
# ``np.dot`` inside Numba needs contiguous operands and a fresh or contiguous output; the
# network kernels need products of sub-blocks (a column range of a weight matrix, the rows of
# one sequence) and accumulation into gradients.  ``_gemm`` calls the BLAS entry point Numba's
# own ``np.dot`` uses (``numba_xxgemm``, SciPy's BLAS) with explicit leading dimensions and
# α, β; it is an external symbol, so the kernels that use it stay cacheable.

def _gemm(ta, tb, alpha, A, B, beta, C):
    """C ← α op(A) op(B) + β C for 2-D arrays with unit stride along their rows (op = transpose
    when ``ta`` / ``tb``); the row strides may be anything (sub-blocks of larger arrays).
    Shapes must agree (checked).  Pure-NumPy body for ``NUMBA_DISABLE_JIT=1``."""
    a = A.T if ta else A
    b = B.T if tb else B
    if a.shape[1] != b.shape[0] or C.shape != (a.shape[0], b.shape[1]):
        raise ValueError("_gemm: shapes do not agree")
    C[...] = alpha * (a @ b) + (beta * C if beta != 0 else 0.0)


@overload(_gemm, jit_options={"fastmath": _FM})
def _gemm_impl(ta, tb, alpha, A, B, beta, C):
    from numba.np.linalg import _BLAS
    xxgemm = _BLAS().numba_xxgemm(C.dtype)
    f32 = C.dtype == types.float32
    kind = ord("s") if f32 else ord("d")
    sdt = np.float32 if f32 else np.float64

    def impl(ta, tb, alpha, A, B, beta, C):
        m, n = C.shape
        k = A.shape[0] if ta else A.shape[1]
        if (A.shape[1] if ta else A.shape[0]) != m or (B.shape[0] if tb else B.shape[1]) != n \
                or (B.shape[1] if tb else B.shape[0]) != k:
            raise ValueError("_gemm: shapes do not agree")
        if m == 0 or n == 0:
            return
        isz = C.itemsize
        if A.strides[1] != isz or B.strides[1] != isz or C.strides[1] != isz:
            raise ValueError("_gemm: rows must have unit stride")
        sv = np.empty(2, sdt)
        sv[0] = alpha
        sv[1] = beta
        # row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ: swap the operands
        xxgemm(kind, ord("t") if tb else ord("n"), ord("t") if ta else ord("n"), n, m, k,
               sv[0:].ctypes, B.ctypes, max(B.strides[0] // isz, B.shape[1], 1),
               A.ctypes, max(A.strides[0] // isz, A.shape[1], 1), sv[1:].ctypes, C.ctypes,
               max(C.strides[0] // isz, n, 1))
    return impl


@njit(cache=True, fastmath=_FM)
def _relu_layer_to(X, W, bias, Zm, Hm):
    """:func:`_relu_layer` writing the product straight into ``Zm`` (BLAS, no temporaries)."""
    _gemm(False, True, 1.0, X, W, 0.0, Zm)
    nb, w = Zm.shape
    for b in range(nb):
        z = Zm[b]
        h = Hm[b]
        for e in range(w):
            v = z[e] + bias
            z[e] = v
            h[e] = v if v > 0.0 else 0.0


@njit(cache=True, fastmath=_FM)
def _relu_layer_bwd_to(dH, Zm, X, W, gW, dX):
    """Backward of :func:`_relu_layer_to`: dH is overwritten by ∂ℒ/∂Z, gW = dZᵀ X and
    dX = dZ W are written in place; returns ∂ℒ/∂bias."""
    nb, w = dH.shape
    sb = 0.0
    for b in range(nb):
        dz = dH[b]
        z = Zm[b]
        for e in range(w):
            v = dz[e] if z[e] > 0.0 else 0.0
            dz[e] = v
            sb += v
    _gemm(True, False, 1.0, dH, X, 0.0, gW)
    _gemm(False, False, 1.0, dH, W, 0.0, dX)
    return sb
