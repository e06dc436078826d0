"""Linear-regression tasks for in-context learning (docs/lsa.md, "Data").

A task is w ~ N(0, I_d) and N + 1 inputs x_0, …, x_N with i.i.d. coordinates (U(−0.5, 0.5),
U(−1, 1) or N(0, 1), optionally rescaled to variance σ²) and noiseless targets y_t = wᵀx_t.
Rows 0 … N−1 are the context; row N is the query, whose target y_N is what the model predicts
and is never shown to it.

Randomness: every task has its own counter-based stream keyed by (stream key, call, index)
(:mod:`minimal._rng`), so a training batch is a pure function of (data seed, step), task i of a
batch does not depend on the batch size, and the held-out sets are fixed by the eval seed.
Training batches are fresh every step and stored in the training precision; the held-out sets
(evaluation and the GD line-search set) are float64.  Targets are computed in float64 from the
inputs *after* rounding them to the stored precision, so y = wᵀx holds for the stored values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .._rng import _mix64, _normal, _uniform, step_key
from ..config import Seeds, check_int
from ..errors import ConfigTypeError
from .config import LSAConfig

__all__ = ["LSABatch", "LSAEvalData", "LSATasks", "Spectrum", "GENERATOR_VERSION", "generate",
           "gram_spectrum"]

#: bumped whenever the streams change (recorded in run.json)
GENERATOR_VERSION = 1

_TASK_MULT = np.uint64(0xA24BAED4963EE407)
_EVAL_SET, _TUNE_SET = 0, 1


@njit(cache=True)
def _gen_tasks(X, Y, W, key, start, uniform, scale):
    """Fill ``X`` (n, N+1, d), ``Y`` (n, N+1) and ``W`` (n, d, float64) with tasks
    start, start+1, …: w ~ N(0, I), x coordinates scale·U(−1, 1) or scale·N(0, 1), y = wᵀx."""
    n, T, d = X.shape
    state = np.empty(1, np.uint64)
    for b in range(n):
        state[0] = _mix64(key ^ _mix64(np.uint64(start + b + 1) * _TASK_MULT))
        for a in range(d):
            W[b, a] = _normal(state)
        for t in range(T):
            s = 0.0
            for a in range(d):
                if uniform:
                    X[b, t, a] = scale * (2.0 * _uniform(state) - 1.0)
                else:
                    X[b, t, a] = scale * _normal(state)
                s += W[b, a] * np.float64(X[b, t, a])
            Y[b, t] = s


@dataclass
class LSABatch:
    """Tasks: ``X`` (n, N+1, d) inputs (row N the query), ``Y`` (n, N+1) targets, ``W`` (n, d)
    the task vectors (float64)."""

    X: np.ndarray
    Y: np.ndarray
    W: np.ndarray

    def __len__(self) -> int:
        return self.X.shape[0]

    @property
    def N(self) -> int:
        return self.X.shape[1] - 1

    @property
    def d(self) -> int:
        return self.X.shape[2]

    def subset(self, sl: slice) -> "LSABatch":
        return LSABatch(self.X[sl], self.Y[sl], self.W[sl])


@dataclass
class Spectrum:
    """A weighted sample of context Gram eigenvalues: ``lam`` and ``weight`` (the bulk of a
    large sorted sample merged into groups, each represented by its mean eigenvalue; the top
    ``tail`` eigenvalues kept exactly), the number of contexts ``n`` and the dimension ``d``.
    The GD / GD++ step sizes are fitted on it (docs/lsa.md, "Baselines")."""

    lam: np.ndarray
    weight: np.ndarray
    n: int
    d: int

    @classmethod
    def from_eigenvalues(cls, eig: np.ndarray, groups: int = 5000,
                         tail: int = 2000) -> "Spectrum":
        n, d = eig.shape
        flat = np.sort(np.asarray(eig, np.float64).reshape(-1))
        if flat.size <= 4 * (groups + tail):
            return cls(flat, np.ones(flat.size), n, d)
        parts = np.array_split(flat[:flat.size - tail], groups)
        lam = np.concatenate([[p.mean() for p in parts], flat[flat.size - tail:]])
        weight = np.concatenate([[float(p.size) for p in parts], np.ones(tail)])
        return cls(lam, weight, n, d)


def gram_spectrum(X) -> np.ndarray:
    """Eigenvalues (n, d) of each task's context Gram matrix C = Σ_{i<N} x_i x_iᵀ."""
    ctx = np.asarray(X, np.float64)[:, :-1]
    return np.linalg.eigvalsh(np.einsum("nia,nib->nab", ctx, ctx))


@dataclass
class LSAEvalData:
    """The fixed held-out data of a run: ``eval`` (losses and metrics) and ``spectrum`` (the
    Gram spectra of ``n_tune`` further contexts, on which the GD / GD++ step sizes are fitted;
    the baselines never see ``eval`` before they are fixed)."""

    eval: LSABatch
    spectrum: Spectrum
    config: LSAConfig

    def __len__(self) -> int:
        return len(self.eval)


def generate(cfg: LSAConfig, key: int, n: int, dtype=np.float64, start: int = 0,
             out: LSABatch | None = None) -> LSABatch:
    """``n`` tasks of the stream ``key`` (tasks start … start+n−1) in ``dtype``."""
    dtype = np.dtype(dtype)
    shape = (n, cfg.N + 1, cfg.d)
    if out is not None and out.X.shape == shape and out.X.dtype == dtype:
        X, Y, W = out.X, out.Y, out.W
    else:
        X = np.empty(shape, dtype)
        Y = np.empty(shape[:2], dtype)
        W = np.empty((n, cfg.d), np.float64)
    _gen_tasks(X, Y, W, np.uint64(key), np.int64(start), cfg.inputs != "normal",
               float(cfg.x_scale))
    return LSABatch(X, Y, W)


class LSATasks:
    """The training stream and held-out sets of a config (the training layer's Data)."""

    def __init__(self, cfg: LSAConfig, seeds: Seeds | int = 0):
        if not isinstance(cfg, LSAConfig):
            raise ConfigTypeError("cfg", type(cfg).__name__, "must be an LSAConfig")
        self.config = cfg
        self.seeds = seeds if isinstance(seeds, Seeds) else Seeds(seed=seeds)
        self.dtype = np.dtype(cfg.dtype)
        self._data_key = self.seeds.key("data")
        self._eval_key = self.seeds.key("eval")
        self._eval: LSAEvalData | None = None

    def batch(self, step: int, out: LSABatch | None = None,
              batch_size: int | None = None) -> LSABatch:
        """Training batch ``step`` (fresh tasks; a pure function of the data seed and step)."""
        step = check_int("step", step, lo=0, hi=2 ** 62)
        n = self.config.batch_size if batch_size is None else check_int(
            "batch_size", batch_size, 1, LSAConfig.LIMITS["batch_size"])
        return generate(self.config, step_key(self._data_key, step), n, self.dtype, out=out)

    def held_out(self, which: str = "eval", n: int | None = None) -> LSABatch:
        """The first ``n`` tasks of the held-out set ``eval`` (default ``n_eval``) or of the
        tuning contexts ``tune`` (float64)."""
        idx = {"eval": _EVAL_SET, "tune": _TUNE_SET}[which]
        n = n if n is not None else getattr(self.config, f"n_{which}")
        return generate(self.config, step_key(self._eval_key, idx), n, np.float64)

    def tune_spectrum(self, chunk: int = 50_000) -> Spectrum:
        """The Gram spectra of the ``n_tune`` tuning contexts (generated and diagonalised in
        chunks; cached on disk under the key of everything they depend on)."""
        c = self.config
        key = step_key(self._eval_key, _TUNE_SET)
        name = (f"lsa-spectrum-v{GENERATOR_VERSION}-{c.inputs}-{c.sigma2}-d{c.d}-N{c.N}-"
                f"n{c.n_tune}-{key:016x}")
        path = _spectrum_path(name) if c.n_tune >= 100_000 else None
        if path is not None and path.exists():
            try:
                with np.load(path) as z:
                    return Spectrum(z["lam"], z["weight"], int(z["n"]), int(z["d"]))
            except (OSError, ValueError, KeyError):
                pass                                   # unreadable: recompute and rewrite
        eig = np.empty((c.n_tune, c.d))
        for start in range(0, c.n_tune, chunk):
            m = min(chunk, c.n_tune - start)
            eig[start:start + m] = gram_spectrum(generate(c, key, m, start=start).X)
        spec = Spectrum.from_eigenvalues(eig)
        if path is not None:
            import io

            from ..runs import atomic_write_bytes
            buf = io.BytesIO()
            np.savez(buf, lam=spec.lam, weight=spec.weight, n=spec.n, d=spec.d)
            try:
                atomic_write_bytes(path, buf.getvalue())
            except OSError:
                pass
        return spec

    def eval_data(self) -> LSAEvalData:
        """The fixed held-out data (built once)."""
        if self._eval is None:
            self._eval = LSAEvalData(self.held_out("eval"), self.tune_spectrum(), self.config)
        return self._eval


def _spectrum_path(name: str):
    """Cache file of a spectrum (None when the cache directory is unusable)."""
    try:
        from ..theory._codegen import cache_dir
        return cache_dir() / f"{name}.npz"
    except OSError:
        return None
