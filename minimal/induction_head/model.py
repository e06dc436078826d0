"""Minimal induction-head models (docs/induction_head.md): ih3, ih2 and ih2-labels.

Inputs are the content parts of the task's tokens (items x_j, labels ℓ_j, target x_q).

* Layer 1 (hard-wired previous-token copy): ũ_j^lab = ℓ_j + w x_j with w = σ(β₁); items unchanged.
* Layer 2: the target attends over the 2N context tokens (ih3, ih2) or the N label tokens
  (ih2-labels) with logits a_s = α (x_q · ũ_s) + β₂ [s is a label]; u = x_q + Σ_s p_s ũ_s.
* Classifier: ``linear`` z = W u (the ICL path only) or ``mlp3``, the 3-layer ReLU MLP with scalar
  biases and bias-free readout of docs/network.md applied to u (the in-weights path through x_q).

ih2 keeps β₂ ≡ 0 (its gradient is discarded); in ih2-labels β₂ shifts every logit equally and
has no effect.  Forward and backward are one Numba kernel per step; :mod:`.reference` holds the
NumPy reference the tests compare against.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError, ConfigTypeError
from ..training.params import check_arrays, check_grads
from ..tasks.icl import METRIC_COLUMNS, Batch, TaskConfig
from . import _kernels as _K
from .config import HIDDEN, IH_PRESETS, IHConfig, IHRunConfig  # noqa: F401 (re-exported)

_VARIANT_CODE = {"ih3": 0, "ih2": 1, "ih2-labels": 2}


# ----------------------------------------------------------------------------------------------
# model object
# ----------------------------------------------------------------------------------------------

class IHModel:
    """A minimal induction-head model bound to a task's shapes and label vectors."""

    columns = METRIC_COLUMNS + ("beta1", "alpha", "beta2", "xi")

    def __init__(self, cfg: IHConfig, task_cfg: TaskConfig, label_vectors: np.ndarray):
        self.cfg = cfg
        self.task = task_cfg
        self.D, self.L, self.N = task_cfg.D, task_cfg.L, task_cfg.N
        self.dtype = np.dtype(cfg.dtype)
        self.variant = _VARIANT_CODE[cfg.variant]
        self.label_vectors = np.asarray(label_vectors, np.float64)
        self._ws: dict = {}
        self.chance_loss = math.log(self.L)    #: loss of a uniform prediction (collapse check)

    @property
    def lr_scale(self) -> dict:
        """Per-array learning rates (the optimiser's lr multiplies these)."""
        out = {"theta": self.cfg.lr_attn}
        for k in self.shapes():
            if k != "theta":
                out[k] = self.cfg.lr_clf
        return out

    def shapes(self) -> dict:
        if self.cfg.classifier == "linear":
            return {"theta": (3,), "W": (self.L, self.D)}
        return {"theta": (3,), "W1": (HIDDEN, self.D), "Wh": (2, HIDDEN, HIDDEN),
                "bias": (3,), "Wout": (self.L, HIDDEN)}

    def n_params(self) -> int:
        return int(sum(np.prod(s) for s in self.shapes().values()))

    def check_params(self, params: dict) -> dict:
        """Validate shapes and dtypes (θ is float64, the classifier the model's dtype)."""
        shapes = self.shapes()
        th = check_arrays("params", params, {"theta": shapes.pop("theta")}, np.float64)
        rest = check_arrays("params", {k: v for k, v in params.items() if k != "theta"},
                            shapes, self.dtype)
        return {**th, **rest}

    def init(self, rng: np.random.Generator) -> dict:
        c = self.cfg
        th = np.array([c.beta1_0, c.alpha_0, c.beta2_0], np.float64)
        if c.init_spread > 0:
            noise = rng.normal(0.0, c.init_spread, 3)
            if c.variant == "ih2":
                noise[2] = 0.0
            th = th + noise
        p = {"theta": th}
        if c.classifier == "linear":
            W = rng.normal(0.0, c.linear_init_std, (self.L, self.D)) if c.linear_init_std > 0 \
                else np.zeros((self.L, self.D))
            p["W"] = W
        else:   # docs/network.md initialisation, first layer reading the D content dims
            p["W1"] = rng.normal(0.0, math.sqrt(2.0 / HIDDEN), (HIDDEN, self.D))
            p["Wh"] = rng.normal(0.0, math.sqrt(2.0 / HIDDEN), (2, HIDDEN, HIDDEN))
            p["bias"] = rng.normal(0.0, math.sqrt(1.0 / HIDDEN), 3)
            p["Wout"] = rng.normal(0.0, math.sqrt(1.0 / HIDDEN), (self.L, HIDDEN))
        return {k: np.ascontiguousarray(v, np.float64 if k == "theta" else self.dtype)
                for k, v in p.items()}

    def _work(self, nb):
        if nb not in self._ws:
            if len(self._ws) > 4:
                self._ws.clear()
            N, D, dt = self.N, self.D, self.dtype
            self._ws[nb] = (np.empty((nb, 2 * N), dt), np.empty((nb, D), dt),
                            np.empty((nb, N), dt), np.empty((nb, N), dt),
                            np.empty((3, nb, HIDDEN), dt), np.empty((3, nb, HIDDEN), dt))
        return self._ws[nb]

    def _content(self, batch: Batch):
        if not isinstance(batch, Batch):
            raise ConfigTypeError("batch", type(batch).__name__, "must be a minimal Batch")
        C = batch.content
        if C.dtype != self.dtype or not C.flags.c_contiguous:
            C = np.ascontiguousarray(C, self.dtype)
        if C.shape[2] != self.D or batch.N != self.N:
            raise ConfigError("batch", C.shape, f"does not match the model (N={self.N}, "
                              f"D={self.D})")
        return C

    def loss_and_grads(self, params: dict, batch: Batch, grads: dict | None = None):
        """Mean cross-entropy on ``batch``, its gradients (written into ``grads`` when given)
        and the number of correct predictions."""
        params = self.check_params(params)
        C = self._content(batch)
        y = batch.target.astype(np.int64)
        if grads is None:
            grads = {k: np.empty_like(v) for k, v in params.items()}
        else:
            check_grads(grads, params)
        P, U, dx, dl, Hs, Z = self._work(len(batch))
        if self.cfg.classifier == "linear":
            loss, nc = _K._step_linear(C, y, params["theta"], params["W"], self.variant,
                                       grads["theta"], grads["W"], P, U, dx, dl)
        else:
            loss, nc = _K._step_mlp(C, y, params["theta"], params["W1"], params["Wh"],
                                    params["bias"], params["Wout"], self.variant,
                                    grads["theta"], grads["W1"], grads["Wh"], grads["bias"],
                                    grads["Wout"], P, U, dx, dl, Hs, Z)
        return float(loss), grads, int(nc)

    def forward(self, params: dict, batch: Batch) -> dict:
        """Logits (n, L), attention (n, 2N: items then labels) and the residual u (n, D)."""
        C = self._content(batch)
        n = len(batch)
        P = np.empty((n, 2 * self.N), self.dtype)
        U = np.empty((n, self.D), self.dtype)
        dx = np.empty((n, self.N), self.dtype)
        dl = np.empty((n, self.N), self.dtype)
        _K._attend(C, params["theta"], self.variant, P, U, dx, dl)
        return {"logits": self.classify(params, U), "attn": P, "u": U}

    def classify(self, params: dict, U: np.ndarray) -> np.ndarray:
        U = np.ascontiguousarray(U, self.dtype)
        if self.cfg.classifier == "linear":
            return U @ params["W"].T
        n = len(U)
        Hs = np.empty((3, n, HIDDEN), self.dtype)
        Z = np.empty((3, n, HIDDEN), self.dtype)
        return _K._mlp3_fwd(U, params["W1"], params["Wh"], params["bias"], params["Wout"], Hs, Z)

    def alignment(self, params: dict) -> float:
        """ξ: mean over labels of the correct-label logit minus the mean other-label logit when
        the classifier reads a pure label vector."""
        z = np.asarray(self.classify(params, self.label_vectors), np.float64)
        L = self.L
        correct = np.diag(z)
        others = (z.sum(1) - correct) / (L - 1)
        return float((correct - others).mean())

    def evaluate(self, params: dict, sets: dict, chunk: int = 1000) -> dict:
        from ..tasks import icl_measures as M
        row = {}
        for name, batch in sets.items():
            logits, attn = [], []
            for s in range(0, len(batch), chunk):
                out = self.forward(params, batch.subset(slice(s, s + chunk)))
                logits.append(out["logits"])
                attn.append(out["attn"])
            logits = np.concatenate(logits)
            acc, loss = M.accuracy_and_loss(logits, batch.target)
            row[f"{name}_acc"] = acc
            row["loss" if name == "test" else f"{name}_loss"] = loss
            if name == "ic":
                A = np.concatenate(attn).astype(np.float64)
                N = self.N
                lab = A[:, N:]
                m = batch.matches
                row["tila2"] = float((lab * m).sum(1).mean())
                row["tla2"] = float(lab.sum(1).mean())
                on = (lab * m).sum(1) / np.maximum(m.sum(1), 1)
                off = (lab * ~m).sum(1) / np.maximum((~m).sum(1), 1)
                row["ih_strength"] = float((on - off).mean())
                row["cla"] = M.cla(logits, batch.label_ids[:, :N])
        th = params["theta"]
        row["ila1"] = float(1.0 / (1.0 + math.exp(-th[0])))
        row["beta1"], row["alpha"], row["beta2"] = (float(v) for v in th)
        row["xi"] = self.alignment(params)
        return row
