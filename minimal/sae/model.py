"""The sparse autoencoder as a model of the training layer, and its activation data source
(docs/sae.md).

::

    data = ActivationData(rows, SAEDataConfig(batch_size=256), seeds)
    model = SAEModel(SAEConfig(d_in=rows.shape[1]), data.mean, data.scale)
    params = model.init(rng)
    loss, grads, _ = model.loss_and_grads(params, data.batch(0))
    model.after_step(params)                         # decoder rows back to unit norm
    codes, recon = model.encode(params, rows), model.reconstruct(params, rows)

Parameters: ``W_enc`` (d_in, m), ``b_enc`` (m,), ``W_dec`` (m, d_in) with unit-norm rows,
``b_dec`` (d_in,), all in normalised input units (x ↦ x · scale).
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..config import Seeds
from ..errors import ConfigError, ConfigTypeError
from ..training.params import check_arrays, check_grads
import minimal.sae._kernels as _K
from .config import SAEConfig, SAEDataConfig

__all__ = ["SAEModel", "ActivationData", "reconstruction_score", "head_block_norms"]

#: rows the data source accepts (memory: the rows are held in float32)
MAX_ROWS = 50_000_000


def reconstruction_score(loss_clean: float, loss_sae: float, loss_zero: float) -> float:
    """(L_zero − L_SAE) / (L_zero − L_clean): 1 when splicing the reconstruction in costs
    nothing, 0 when it is as bad as zero-ablating the activation (docs/sae.md)."""
    den = loss_zero - loss_clean
    if not np.isfinite(den) or abs(den) <= 1e-12 * max(abs(loss_zero), abs(loss_clean), 1.0):
        raise ValueError("zero ablation does not change the loss: the reconstruction score "
                         f"is undefined (L_zero = {loss_zero}, L_clean = {loss_clean})")
    return float((loss_zero - loss_sae) / den)


def head_block_norms(W_dec: np.ndarray, n_heads: int) -> np.ndarray:
    """(m, n_heads) share of each decoder row's squared norm in each head's block of z_cat
    (columns h·dh … (h+1)·dh − 1); rows sum to 1."""
    W = np.asarray(W_dec, np.float64)
    m, d = W.shape
    if n_heads < 1 or d % n_heads:
        raise ConfigError("n_heads", n_heads, f"must divide the input width {d}")
    sq = (W * W).reshape(m, n_heads, d // n_heads).sum(2)
    tot = sq.sum(1, keepdims=True)
    return np.divide(sq, tot, out=np.zeros_like(sq), where=tot > 0)


class ActivationData:
    """Rows of activations as the training layer's data source.

    A seeded permutation splits the rows: the last ``cfg.eval_rows`` are the fixed evaluation
    rows, the rest are sampled with replacement for training; the batch of step t is a pure
    function of (data seed, t) (a Philox stream keyed by both).  ``mean`` and ``scale`` are
    measured on the training rows (``scale`` makes E‖x‖² = d_in)."""

    def __init__(self, rows: np.ndarray, cfg: SAEDataConfig | None = None,
                 seeds: Seeds | None = None):
        cfg = cfg if cfg is not None else SAEDataConfig()
        seeds = seeds if seeds is not None else Seeds()
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[1] < 1:
            raise ConfigError("rows", rows.shape, "must be a 2-D array (rows × d_in)")
        if rows.dtype.kind != "f":
            raise ConfigError("rows", rows.dtype, "must hold floating-point activations")
        n = rows.shape[0]
        if n > MAX_ROWS:
            raise ConfigError("rows", n, f"must be ≤ {MAX_ROWS} rows")
        if n < cfg.eval_rows + 1:
            raise ConfigError("data.eval_rows", cfg.eval_rows,
                              f"must be < the number of rows ({n}) to leave training rows")
        if not np.isfinite(rows).all():
            raise ConfigError("rows", "non-finite", "activations must be finite")
        self.cfg = cfg
        self.rows = np.ascontiguousarray(rows, np.float32)
        self.sha256 = hashlib.sha256(self.rows.tobytes()).hexdigest()
        perm = seeds.generator("data").permutation(n)
        self.train_idx = np.sort(perm[: n - cfg.eval_rows])
        self.eval_idx = np.sort(perm[n - cfg.eval_rows:])
        train = self.rows[self.train_idx].astype(np.float64)
        self.mean = train.mean(0)
        ms = float((train * train).sum(1).mean())
        self.scale = float(np.sqrt(rows.shape[1] / ms)) if ms > 0 else 1.0
        self._key = seeds.key("data")

    @property
    def d_in(self) -> int:
        return self.rows.shape[1]

    def batch(self, step: int, out=None) -> np.ndarray:
        g = np.random.Generator(np.random.Philox(key=[self._key, int(step)]))
        pick = self.train_idx[g.integers(0, len(self.train_idx), self.cfg.batch_size)]
        return self.rows[pick]

    def eval_data(self) -> np.ndarray:
        return self.rows[self.eval_idx]

    def resolved(self) -> dict:
        return {"rows": int(self.rows.shape[0]), "d_in": self.d_in, "sha256": self.sha256,
                "train_rows": int(len(self.train_idx)), "eval_rows": int(len(self.eval_idx)),
                "input_scale": self.scale}


class SAEModel:
    """The SAE of ``cfg`` (training-layer model protocol, docs/architecture.md).

    ``mean`` (raw units) initialises ``b_dec``; ``scale`` multiplies every input row before the
    SAE sees it (1 when ``cfg.normalise`` is false).  ``project_grads`` removes the component
    of each decoder row's gradient along the row (the row stays on the unit sphere to first
    order); :meth:`after_step` renormalises the rows after the optimiser step."""

    def __init__(self, cfg: SAEConfig, mean=None, scale: float = 1.0,
                 project_grads: bool = True):
        if not isinstance(cfg, SAEConfig):
            raise ConfigTypeError("cfg", type(cfg).__name__, "must be an SAEConfig")
        self.cfg = cfg
        self.dtype = np.dtype(cfg.dtype)
        self.scale = float(scale) if cfg.normalise else 1.0
        if not np.isfinite(self.scale) or self.scale <= 0:
            raise ConfigError("scale", scale, "must be a finite positive number")
        self.mean = (np.zeros(cfg.d_in) if mean is None
                     else np.asarray(mean, np.float64).reshape(-1))
        if self.mean.shape != (cfg.d_in,):
            raise ConfigError("mean", self.mean.shape, f"must have d_in = {cfg.d_in} entries")
        self.project_grads = bool(project_grads)
        self.columns = ("step", "loss", "mse", "fvu", "l0", "l1", "dead_frac")
        self._work: dict = {}
        #: loss of a dead SAE (every code zero, x̂ = b_dec = mean): E‖x − mean‖² in normalised
        #: units, set by :func:`minimal.sae.train_sae` from the data (collapse detection)
        self.chance_loss = None

    # -- parameters ---------------------------------------------------------------------------
    def shapes(self) -> dict:
        d, m = self.cfg.d_in, self.cfg.dict_size
        return {"W_enc": (d, m), "b_enc": (m,), "W_dec": (m, d), "b_dec": (d,)}

    def n_params(self) -> int:
        return int(sum(np.prod(s) for s in self.shapes().values()))

    def init(self, rng: np.random.Generator) -> dict:
        """Unit-norm random decoder rows, encoder = decoderᵀ, b_enc = 0, b_dec = data mean."""
        d, m = self.cfg.d_in, self.cfg.dict_size
        W = rng.standard_normal((m, d))
        W /= np.linalg.norm(W, axis=1, keepdims=True)
        return {"W_enc": np.ascontiguousarray(W.T, self.dtype),
                "b_enc": np.zeros(m, self.dtype),
                "W_dec": W.astype(self.dtype),
                "b_dec": (self.mean * self.scale).astype(self.dtype)}

    def check_params(self, params: dict, dtype=None) -> dict:
        return check_arrays("params", params, self.shapes(), dtype or self.dtype)

    def _buffers(self, n: int, dtype):
        key = (n, np.dtype(dtype).str)
        w = self._work.get(key)
        if w is None:
            d, m = self.cfg.d_in, self.cfg.dict_size
            w = (np.empty((n, d), dtype), np.empty((n, m), dtype), np.empty((n, d), dtype),
                 np.empty((n, m), dtype))
            self._work = {key: w}
        return w

    def _rows(self, X, dtype) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.cfg.d_in:
            raise ConfigError("rows", X.shape, f"must be (n, {self.cfg.d_in})")
        return np.ascontiguousarray(X * self.scale, dtype)

    # -- training -----------------------------------------------------------------------------
    def loss_and_grads(self, params: dict, batch, grads: dict | None = None):
        """(loss, gradients, 0): loss = mean ‖x̂ − x‖² + λ mean ‖f‖₁ in normalised units; the
        decoder gradient has its component along each row removed when ``project_grads``."""
        params = self.check_params(params, params["W_enc"].dtype)
        dtype = params["W_enc"].dtype
        X = self._rows(batch, dtype)
        if grads is None:
            grads = {k: np.empty_like(v) for k, v in params.items()}
        else:
            check_grads(grads, params)
        Xc, F, R, dpre = self._buffers(X.shape[0], dtype)
        loss, _, _ = _K._loss_grads(X, params["W_enc"], params["b_enc"], params["W_dec"],
                                    params["b_dec"], self.cfg.l1, Xc, F, R, dpre,
                                    grads["W_enc"], grads["b_enc"], grads["W_dec"],
                                    grads["b_dec"])
        if self.project_grads:
            _K._project_rows(params["W_dec"], grads["W_dec"])
        return float(loss), grads, 0

    def after_step(self, params: dict) -> None:
        """Decoder rows back to unit norm (called by the training layer after each step)."""
        _K._normalise_rows(params["W_dec"])

    # -- use ----------------------------------------------------------------------------------
    def encode(self, params: dict, X) -> np.ndarray:
        """Feature activations f (n, m) of raw rows X."""
        dtype = params["W_enc"].dtype
        Xs = self._rows(X, dtype)
        Xc = np.empty_like(Xs)
        F = np.empty((Xs.shape[0], self.cfg.dict_size), dtype)
        _K._encode(Xs, params["W_enc"], params["b_enc"], params["b_dec"], Xc, F)
        return F

    def reconstruct(self, params: dict, X) -> np.ndarray:
        """x̂ of raw rows X, in raw units (the input scale undone)."""
        F = self.encode(params, X)
        Xh = np.empty((F.shape[0], self.cfg.d_in), F.dtype)
        _K._decode(F, params["W_dec"], params["b_dec"], Xh)
        return Xh / self.scale

    def evaluate(self, params: dict, eval_rows: np.ndarray, chunk: int = 4096) -> dict:
        """loss, mse (mean ‖x̂ − x‖², normalised units), fvu (fraction of variance
        unexplained), l0 (mean active features), l1, dead_frac (features never active on
        the evaluation rows)."""
        m = self.cfg.dict_size
        active = np.zeros(m, bool)
        sq = l0 = l1 = 0.0
        n = eval_rows.shape[0]
        X = np.asarray(eval_rows, np.float64) * self.scale
        var = float(((X - X.mean(0)) ** 2).sum())
        for s in range(0, n, chunk):
            xs = eval_rows[s:s + chunk]
            F = self.encode(params, xs).astype(np.float64)
            Xh = self.reconstruct(params, xs).astype(np.float64) * self.scale
            sq += float(((Xh - X[s:s + chunk]) ** 2).sum())
            nz = F > 0
            l0 += float(nz.sum())
            l1 += float(F.sum())
            active |= nz.any(0)
        mse = sq / n
        return {"loss": mse + self.cfg.l1 * l1 / n, "mse": mse,
                "fvu": sq / var if var > 0 else float("nan"), "l0": l0 / n, "l1": l1 / n,
                "dead_frac": 1.0 - float(active.mean())}
