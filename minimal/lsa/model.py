"""Linear self-attention trained on in-context linear regression: the training layer's Model
(docs/lsa.md).

Parameters ``WK, WQ, WV, P`` of shape (layers, heads, d+1, d+1) — (1, heads, d+1, d+1) for a
recurrent model, whose one set of weights is applied in every layer; the kernels see the
products M = W_Kᵀ W_Q and V = P W_V, and the gradients are carried back to the four matrices
here.

Evaluation (on the run's fixed held-out tasks, float64) compares the model with the GD
predictor of the same depth whose step sizes minimise the loss over separate held-out tuning
contexts (:mod:`.gd`), and with GD++ (its best η and ν); a model with separate layers is
compared with per-step (η_l, ν_l), a recurrent one with a single shared (η, ν):

* ``loss`` ½ mean (y_q − ŷ)²; ``gd_loss``, ``gdpp_loss`` the baselines' losses on the same tasks;
* ``preds_diff`` mean |ŷ − ŷ_GD|; ``model_cos`` mean cosine between the sensitivities ∂ŷ/∂x_q
  of the model and of GD; ``model_diff`` mean ‖∂ŷ/∂x_q − ∂ŷ_GD/∂x_q‖₂ (``gdpp_*`` the same
  against GD++ for two or more layers);
* ``eff_step`` the last layer's effective step tr(A)/d with A = −Σ_h (P W_V)_h,yy (W_Kᵀ W_Q)_h,xx
  (for one head: (QK scale)·(−(P W_V)_yy), to be compared with η*/N); ``qk_scale`` the QK scale
  tr((W_Kᵀ W_Q)_xx)/d of head 0; ``qk_dev`` ‖A − (tr A/d) I‖_F / ‖A‖_F (0 when A ∝ I);
  ``L{l}.eff_step`` the same for the earlier layers.

``train_acc`` (written by the training layer for every model) has no meaning for regression and
stays 0.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ConfigTypeError
from ..training.params import check_arrays, check_grads
from . import _kernels as _K
from .config import LSAConfig
from .data import LSABatch, LSAEvalData

NAMES = ("WK", "WQ", "WV", "P")


def _cos_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    den = na * nb
    return np.where(den > 0, np.einsum("na,na->n", a, b) / np.where(den > 0, den, 1.0), 0.0)


class LSAModel:
    """K-layer multi-head linear self-attention bound to a config."""

    def __init__(self, cfg: LSAConfig):
        if not isinstance(cfg, LSAConfig):
            raise ConfigTypeError("cfg", type(cfg).__name__, "must be an LSAConfig")
        self.cfg = cfg
        self.dtype = np.dtype(cfg.dtype)
        L = cfg.layers
        cols = ["step", "loss", "gd_loss", "gdpp_loss", "preds_diff", "model_cos",
                "model_diff"]
        if L > 1:
            cols += ["gdpp_preds_diff", "gdpp_model_cos", "gdpp_model_diff"]
        cols += ["eff_step", "qk_scale", "qk_dev"] + [f"L{l}.eff_step" for l in range(L - 1)]
        self.columns = tuple(cols)
        #: the zero predictor's loss ½ σ² d (collapse detection)
        self.chance_loss = 0.5 * cfg.d * cfg.x_var
        self._yq0: dict = {}
        self._baselines: tuple | None = None

    # -- parameters ---------------------------------------------------------------------------
    def shapes(self) -> dict:
        c = self.cfg
        return {k: (1 if c.recurrent else c.layers, c.heads, c.D1, c.D1) for k in NAMES}

    def n_params(self) -> int:
        return int(sum(np.prod(s) for s in self.shapes().values()))

    def check_params(self, params: dict, dtype=None) -> dict:
        return check_arrays("params", params, self.shapes(), dtype or self.dtype)

    def init(self, rng: np.random.Generator) -> dict:
        """Entries i.i.d. N(0, init_scale²) (init_scale 0: all zeros, a saddle)."""
        s = self.cfg.init_scale
        return {k: np.ascontiguousarray(rng.normal(0.0, 1.0, shp) * s, self.dtype)
                for k, shp in self.shapes().items()}

    def _param_dtype(self, params) -> np.dtype:
        """float32 or float64 parameters run in their own precision; anything else is
        converted to the config's dtype."""
        v = params.get("WK") if isinstance(params, dict) else None
        dt = getattr(v, "dtype", None)
        return dt if dt in (np.float32, np.float64) else self.dtype

    def products(self, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """(M, V) = (W_Kᵀ W_Q, P W_V) per layer and head (a recurrent model's one set of
        weights repeated over the layers)."""
        M = np.matmul(np.swapaxes(params["WK"], -1, -2), params["WQ"])
        V = np.matmul(params["P"], params["WV"])
        L = self.cfg.layers
        if M.shape[0] != L:
            M = np.broadcast_to(M, (L,) + M.shape[1:])
            V = np.broadcast_to(V, (L,) + V.shape[1:])
        return np.ascontiguousarray(M), np.ascontiguousarray(V)

    # -- training -----------------------------------------------------------------------------
    def _batch(self, batch, dtype) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(batch, LSABatch):
            raise ConfigTypeError("batch", type(batch).__name__, "must be an LSABatch")
        if batch.N != self.cfg.N or batch.d != self.cfg.d:
            raise ConfigError("batch", batch.X.shape, f"does not match the model (N={self.cfg.N},"
                              f" d={self.cfg.d})")
        X, Y = batch.X, batch.Y
        if X.dtype != dtype or not X.flags.c_contiguous:
            X = np.ascontiguousarray(X, dtype)
        if Y.dtype != dtype or not Y.flags.c_contiguous:
            Y = np.ascontiguousarray(Y, dtype)
        return X, Y

    def _zeros(self, n: int, dtype) -> np.ndarray:
        key = (n, np.dtype(dtype).str)
        if key not in self._yq0:
            if len(self._yq0) > 4:
                self._yq0.clear()
            self._yq0[key] = np.zeros(n, dtype)
        return self._yq0[key]

    def loss_and_grads(self, params: dict, batch: LSABatch, grads: dict | None = None,
                       yq0=None):
        """Mean loss ½ mean (y_q − ŷ)² on ``batch``, its gradients (written into ``grads``
        when given) and 0 (no accuracy for regression).  ``yq0``: the query's initial y slot
        (default 0)."""
        params = self.check_params(params, self._param_dtype(params))
        dtype = params["WK"].dtype
        X, Y = self._batch(batch, dtype)
        yq0 = self._zeros(len(batch), dtype) if yq0 is None else np.ascontiguousarray(yq0,
                                                                                     dtype)
        if grads is None:
            grads = {k: np.empty_like(v) for k, v in params.items()}
        else:
            check_grads(grads, params)
        M, V = self.products(params)
        gM = np.empty_like(M)
        gV = np.empty_like(V)
        loss = _K._lsa_loss_grads(X, Y, yq0, M, V, gM, gV)
        if self.cfg.recurrent:
            gM = gM.sum(axis=0, keepdims=True)
            gV = gV.sum(axis=0, keepdims=True)
        np.matmul(params["WQ"], np.swapaxes(gM, -1, -2), out=grads["WK"])
        np.matmul(params["WK"], gM, out=grads["WQ"])
        np.matmul(gV, np.swapaxes(params["WV"], -1, -2), out=grads["P"])
        np.matmul(np.swapaxes(params["P"], -1, -2), gV, out=grads["WV"])
        return float(loss), grads, 0

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, params: dict, batch: LSABatch, sensitivity: bool = False,
                chunk: int = 20_000, yq0=None):
        """ŷ (n,) in float64, and with ``sensitivity`` also ∂ŷ/∂x_q (n, d)."""
        p64 = self.check_params(params, np.float64)
        X, Y = self._batch(batch, np.float64)
        M, V = self.products(p64)
        n = len(batch)
        yq0 = np.zeros(n) if yq0 is None else np.ascontiguousarray(yq0, np.float64)
        yhat = np.empty(n)
        sens = np.empty((n, self.cfg.d)) if sensitivity else np.empty((1, self.cfg.d))
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            _K._lsa_forward(X[s:e], Y[s:e], yq0[s:e], M, V, yhat[s:e],
                            sens[s:e] if sensitivity else sens, sensitivity)
        return (yhat, sens) if sensitivity else yhat

    # -- evaluation ---------------------------------------------------------------------------
    def baselines(self, data: LSAEvalData) -> dict:
        """GD (K steps, best η per step) and GD++ (best η, ν) fitted on the tuning contexts'
        Gram spectra, their predictions and sensitivities on ``data.eval``, their population
        losses as estimated on the tuning spectra, and the one-step theory (cached)."""
        if self._baselines is not None and self._baselines[0] is data:
            return self._baselines[1]
        from ..theory import lsa as theory
        from .gd import fit_gd, fit_gdpp, gd_predict, gdpp_predict, mean_loss, spectral_loss
        c = self.cfg
        ev, spec = data.eval, data.spectrum
        yq = ev.Y[:, -1]
        s2, N, K = c.x_var, c.N, c.layers
        etas = fit_gd(spec, K, N, s2, shared=c.recurrent, search=c.baseline_search)
        gd_y, gd_s = gd_predict(ev.X, ev.Y, etas)
        out = {"gd_etas": etas, "gd_yhat": gd_y, "gd_sens": gd_s,
               "gd_loss": mean_loss(gd_y, yq),
               "gd_tune_loss": spectral_loss(spec, etas, np.zeros(K), N, s2)}
        if K > 1:
            pe, pn = fit_gdpp(spec, K, N, s2, shared=c.recurrent, search=c.baseline_search)
            pp_y, pp_s = gdpp_predict(ev.X, ev.Y, pe, pn)
            out.update({"gdpp_etas": pe, "gdpp_nus": pn, "gdpp_yhat": pp_y, "gdpp_sens": pp_s,
                        "gdpp_loss": mean_loss(pp_y, yq),
                        "gdpp_tune_loss": spectral_loss(spec, pe, pn, N, s2)})
        else:   # one layer: GD++'s input update never reaches the readout
            out.update({"gdpp_etas": etas, "gdpp_nus": np.zeros(1), "gdpp_loss": out["gd_loss"],
                        "gdpp_tune_loss": out["gd_tune_loss"]})
        out["theory"] = theory.summary(s2, c.kurtosis, N, c.d)
        out["zero_loss"] = mean_loss(np.zeros_like(yq), yq)
        self._baselines = (data, out)
        return out

    def alignment(self, params: dict) -> dict:
        """Effective step and QK proportionality per layer (see the module docstring)."""
        p = self.check_params(params, np.float64)
        M, V = self.products(p)
        d = self.cfg.d
        out = {}
        L = self.cfg.layers
        for layer in range(L):
            A = -np.einsum("h,hab->ab", V[layer, :, d, d], M[layer, :, :d, :d])
            step = float(np.trace(A) / d)
            nrm = float(np.linalg.norm(A))
            dev = float(np.linalg.norm(A - step * np.eye(d)) / nrm) if nrm > 0 else 1.0
            key = "" if layer == L - 1 else f"L{layer}."
            out[f"{key}eff_step"] = step
            if layer == L - 1:
                out["qk_dev"] = dev
                out["qk_scale"] = float(np.trace(M[layer, 0, :d, :d]) / d)
        return out

    def evaluate(self, params: dict, eval_data: LSAEvalData, chunk: int = 20_000) -> dict:
        if not isinstance(eval_data, LSAEvalData):
            raise ConfigTypeError("eval_data", type(eval_data).__name__,
                                  "must be an LSAEvalData")
        base = self.baselines(eval_data)
        ev = eval_data.eval
        yhat, sens = self.predict(params, ev, sensitivity=True, chunk=chunk)
        yq = ev.Y[:, -1]
        row = {"loss": float(0.5 * np.mean((yq - yhat) ** 2)), "gd_loss": base["gd_loss"],
               "gdpp_loss": base["gdpp_loss"]}
        refs = [("", "gd")] + ([("gdpp_", "gdpp")] if self.cfg.layers > 1 else [])
        for prefix, ref in refs:
            row[f"{prefix}preds_diff"] = float(np.mean(np.abs(yhat - base[f"{ref}_yhat"])))
            row[f"{prefix}model_cos"] = float(np.mean(_cos_rows(sens, base[f"{ref}_sens"])))
            row[f"{prefix}model_diff"] = float(np.mean(np.linalg.norm(
                sens - base[f"{ref}_sens"], axis=1)))
        row.update(self.alignment(params))
        return row

    def final_report(self, params: dict, eval_data: LSAEvalData) -> dict:
        """The evaluation row plus the baselines' step sizes and the theory (for summaries)."""
        row = self.evaluate(params, eval_data)
        base = self.baselines(eval_data)
        th = base["theory"]
        row.update({"gd_etas": [float(e) for e in base["gd_etas"]],
                    "gdpp_etas": [float(e) for e in base["gdpp_etas"]],
                    "gdpp_nus": [float(v) for v in base["gdpp_nus"]],
                    "zero_loss": base["zero_loss"], "n_eval": len(eval_data.eval),
                    "gd_tune_loss": base["gd_tune_loss"],
                    "gdpp_tune_loss": base["gdpp_tune_loss"]})
        if self.cfg.layers == 1:
            row.update({"eta_star": th["eta_star"], "eta_star_over_N": th["eta_star_over_N"],
                        "loss_star": th["loss_star"]})
        return row
