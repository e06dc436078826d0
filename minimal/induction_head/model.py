"""Minimal induction-head models (minimal_models.md §a): ih3, ih2 and ih2-labels.

Inputs are the content parts of the task's tokens (items x_j, labels ℓ_j, target x_q).

* Layer 1 (hard-wired previous-token copy): ũ_j^lab = ℓ_j + w x_j with w = σ(β₁); items unchanged.
* Layer 2: the target attends over the 2N context tokens (ih3, ih2) or the N label tokens
  (ih2-labels) with logits a_s = α (x_q · ũ_s) + β₂ [s is a label]; u = x_q + Σ_s p_s ũ_s.
* Classifier: ``linear`` z = W u (the ICL path only) or ``mlp3``, the 3-layer ReLU MLP with scalar
  biases and bias-free readout of network.md applied to u (the in-weights path through x_q).

ih2 keeps β₂ ≡ 0 (its gradient is discarded); in ih2-labels β₂ shifts every logit equally and
has no effect.  Forward and backward are one Numba kernel per step; :mod:`.reference` holds the
NumPy reference the tests compare against.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..config import PresetRegistry, Seeds, check_bool, check_choice, check_float, set_field
from ..errors import ConfigError
from ..nets.config import OptimConfig, TrainConfig
from ..nets._kernels import _FM, _axpy, _cross_entropy, _dot, _relu_layer, _relu_layer_bwd
from ..tasks.icl import TASK_PRESETS, Batch, TaskConfig

VARIANTS = ("ih3", "ih2", "ih2-labels")
CLASSIFIERS = ("linear", "mlp3")
_VARIANT_CODE = {"ih3": 0, "ih2": 1, "ih2-labels": 2}
HIDDEN = 128                       # width of the mlp3 classifier (network.md)


@dataclass(frozen=True)
class IHConfig:
    """Variant, classifier, learning rates and initialisation of a minimal model."""

    variant: str = "ih3"
    classifier: str = "linear"
    lr_attn: float = 0.03          #: learning rate of (β₁, α, β₂) (× optim.lr, default 1)
    lr_clf: float = 0.03           #: learning rate of the classifier (× optim.lr)
    beta1_0: float = -2.0
    alpha_0: float = 0.0
    beta2_0: float = 0.0
    init_spread: float = 0.0       #: std of Gaussian noise added to (β₁, α, β₂) per seed
    linear_init_std: float = 0.0   #: std of the linear classifier's initial W (0: zeros)
    dtype: str = "float32"

    def __post_init__(self):
        check_choice("variant", self.variant, VARIANTS)
        check_choice("classifier", self.classifier, CLASSIFIERS)
        for name in ("lr_attn", "lr_clf"):
            set_field(self, name, check_float(name, getattr(self, name), 0.0, 1e4))
        for name in ("beta1_0", "alpha_0", "beta2_0"):
            set_field(self, name, check_float(name, getattr(self, name), -1e3, 1e3))
        set_field(self, "init_spread", check_float("init_spread", self.init_spread, 0.0, 1e3))
        set_field(self, "linear_init_std",
                  check_float("linear_init_std", self.linear_init_std, 0.0, 1e3))
        check_choice("dtype", self.dtype, ("float32", "float64"))
        if self.variant == "ih2" and self.beta2_0 != 0.0:
            raise ConfigError("beta2_0", self.beta2_0, "must be 0 for ih2 (beta2 is fixed at 0)")


@dataclass(frozen=True)
class IHRunConfig:
    """Everything ``minimal ih`` needs."""

    task: TaskConfig = dataclasses.field(default_factory=lambda: TASK_PRESETS.get("reddy-fig3"))
    ih: IHConfig = dataclasses.field(default_factory=IHConfig)
    optim: OptimConfig = dataclasses.field(
        default_factory=lambda: OptimConfig(lr=1.0, weight_decay=0.0))
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=20_000, eval_every=500))
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        for name, cls in (("task", TaskConfig), ("ih", IHConfig), ("optim", OptimConfig),
                          ("train", TrainConfig), ("seeds", Seeds)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, getattr(self, name), f"must be a {cls.__name__}")


IH_PRESETS = PresetRegistry("ih")
for _name in TASK_PRESETS.names():
    IH_PRESETS.register(_name, (lambda n: lambda: IHRunConfig(task=TASK_PRESETS.get(n)))(_name),
                        "task preset " + dict(TASK_PRESETS.describe())[_name])


# ----------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _attend(C, th, variant, P_out, U_out, dx, dl):
    """Attention of every sequence: P_out (nb, 2N) [items 0..N-1, labels N..2N-1], U_out (nb, D),
    and the overlaps dx_j = x_q·x_j, dl_j = x_q·ℓ_j."""
    nb, T, D = C.shape
    N = (T - 1) // 2
    b1, al, b2 = th[0], th[1], th[2]
    w = 1.0 / (1.0 + math.exp(-b1))
    for b in range(nb):
        Cb = C[b]
        xq = Cb[T - 1]
        for j in range(N):
            dx[b, j] = _dot(xq, Cb[2 * j])
            dl[b, j] = _dot(xq, Cb[2 * j + 1])
        row = P_out[b]
        mx = -1e300
        for j in range(N):
            s_lab = al * (dl[b, j] + w * dx[b, j]) + b2
            row[N + j] = s_lab
            if s_lab > mx:
                mx = s_lab
            if variant != 2:
                s_it = al * dx[b, j]
                row[j] = s_it
                if s_it > mx:
                    mx = s_it
        tot = 0.0
        for j in range(N):
            e1 = math.exp(row[N + j] - mx)
            row[N + j] = e1
            tot += e1
            if variant != 2:
                e0 = math.exp(row[j] - mx)
                row[j] = e0
                tot += e0
            else:
                row[j] = 0.0
        inv = 1.0 / tot
        for j in range(2 * N):
            row[j] *= inv
        u = U_out[b]
        u[:] = xq
        for j in range(N):
            _axpy(u, row[j] + w * row[N + j], Cb[2 * j])
            _axpy(u, row[N + j], Cb[2 * j + 1])
    return w


@njit(cache=True, fastmath=_FM)
def _attend_backward(C, th, variant, Pm, dU, dx, dl, w):
    """Gradients of (β₁, α, β₂) given dU = ∂ℒ/∂u (already divided by the batch size)."""
    nb, T, D = C.shape
    N = (T - 1) // 2
    al = th[1]
    g_al = 0.0
    g_b2 = 0.0
    g_w = 0.0
    dpx = np.empty(N)
    dpl = np.empty(N)
    for b in range(nb):
        du = dU[b]
        Cb = C[b]
        row = Pm[b]
        tot = 0.0
        for j in range(N):
            ux = _dot(du, Cb[2 * j])
            ul = _dot(du, Cb[2 * j + 1])
            g_w += row[N + j] * ux                 # u depends on w through p_lab w x_j
            dpx[j] = ux
            dpl[j] = ul + w * ux
            tot += row[N + j] * dpl[j]
            if variant != 2:
                tot += row[j] * dpx[j]
        for j in range(N):
            ds_l = row[N + j] * (dpl[j] - tot)
            g_al += ds_l * (dl[b, j] + w * dx[b, j])
            g_b2 += ds_l
            g_w += ds_l * al * dx[b, j]
            if variant != 2:
                ds_x = row[j] * (dpx[j] - tot)
                g_al += ds_x * dx[b, j]
    g = np.empty(3)
    g[0] = g_w * w * (1.0 - w)
    g[1] = g_al
    g[2] = g_b2 if variant == 0 else 0.0
    return g


@njit(cache=True)
def _step_linear(C, y, th, W, variant, gth, gW, P, U, dx, dl):
    w = _attend(C, th, variant, P, U, dx, dl)
    logits = np.dot(U, W.T)
    loss, dlog, ok = _cross_entropy(logits, y)
    gW[:, :] = np.dot(dlog.T, U)
    dU = np.dot(dlog, W)
    gth[:] = _attend_backward(C, th, variant, P, dU, dx, dl, w)
    return loss, ok.sum()


@njit(cache=True, fastmath=_FM)
def _mlp3_fwd(U, W1, Wh, bias, Wout, Hs, Z):
    """The network's MLP layers with a first layer of input width D (Hs[m] = ReLU(Z[m]))."""
    _relu_layer(U, W1, bias[0], Z[0], Hs[0])
    for m in range(1, 3):
        _relu_layer(Hs[m - 1], Wh[m - 1], bias[m], Z[m], Hs[m])
    return np.dot(Hs[2], Wout.T)


@njit(cache=True, fastmath=_FM)
def _mlp3_bwd(U, dlog, W1, Wh, Wout, Hs, Z, gW1, gWh, gbias, gWout):
    gWout[:, :] = np.dot(dlog.T, Hs[2])
    dh = np.dot(dlog, Wout)
    for m in range(2, 0, -1):
        dh, gbias[m] = _relu_layer_bwd(dh, Z[m], Hs[m - 1], Wh[m - 1], gWh[m - 1])
    dh, gbias[0] = _relu_layer_bwd(dh, Z[0], U, W1, gW1)
    return dh


@njit(cache=True)
def _step_mlp(C, y, th, W1, Wh, bias, Wout, variant, gth, gW1, gWh, gbias, gWout, P, U, dx,
              dl, Hs, Z):
    w = _attend(C, th, variant, P, U, dx, dl)
    logits = _mlp3_fwd(U, W1, Wh, bias, Wout, Hs, Z)
    loss, dlog, ok = _cross_entropy(logits, y)
    dU = _mlp3_bwd(U, dlog, W1, Wh, Wout, Hs, Z, gW1, gWh, gbias, gWout)
    gth[:] = _attend_backward(C, th, variant, P, dU, dx, dl, w)
    return loss, ok.sum()


# ----------------------------------------------------------------------------------------------
# model object
# ----------------------------------------------------------------------------------------------

class IHModel:
    """A minimal induction-head model bound to a task's shapes and label vectors."""

    extra_columns = ("beta1", "alpha", "beta2", "xi")

    def __init__(self, cfg: IHConfig, task_cfg: TaskConfig, label_vectors: np.ndarray):
        self.cfg = cfg
        self.task = task_cfg
        self.D, self.L, self.N = task_cfg.D, task_cfg.L, task_cfg.N
        self.dtype = np.dtype(cfg.dtype)
        self.variant = _VARIANT_CODE[cfg.variant]
        self.label_vectors = np.asarray(label_vectors, np.float64)
        self._ws: dict = {}

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
        else:   # network.md initialisation, first layer reading the D content dims
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
        C = batch.content
        if C.dtype != self.dtype or not C.flags.c_contiguous:
            C = np.ascontiguousarray(C, self.dtype)
        if C.shape[2] != self.D or batch.N != self.N:
            raise ConfigError("batch", C.shape, f"does not match the model (N={self.N}, "
                              f"D={self.D})")
        return C

    def loss_and_grads(self, params: dict, batch: Batch, grads: dict | None = None):
        C = self._content(batch)
        y = batch.target.astype(np.int64)
        if grads is None:
            grads = {k: np.empty_like(v) for k, v in params.items()}
        P, U, dx, dl, Hs, Z = self._work(len(batch))
        if self.cfg.classifier == "linear":
            loss, nc = _step_linear(C, y, params["theta"], params["W"], self.variant,
                                    grads["theta"], grads["W"], P, U, dx, dl)
        else:
            loss, nc = _step_mlp(C, y, params["theta"], params["W1"], params["Wh"],
                                 params["bias"], params["Wout"], self.variant, grads["theta"],
                                 grads["W1"], grads["Wh"], grads["bias"], grads["Wout"], P, U,
                                 dx, dl, Hs, Z)
        return float(loss), grads, int(nc)

    def forward(self, params: dict, batch: Batch) -> dict:
        """Logits (n, L), attention (n, 2N: items then labels) and the residual u (n, D)."""
        C = self._content(batch)
        n = len(batch)
        P = np.empty((n, 2 * self.N), self.dtype)
        U = np.empty((n, self.D), self.dtype)
        dx = np.empty((n, self.N), self.dtype)
        dl = np.empty((n, self.N), self.dtype)
        _attend(C, params["theta"], self.variant, P, U, dx, dl)
        return {"logits": self.classify(params, U), "attn": P, "u": U}

    def classify(self, params: dict, U: np.ndarray) -> np.ndarray:
        U = np.ascontiguousarray(U, self.dtype)
        if self.cfg.classifier == "linear":
            return U @ params["W"].T
        n = len(U)
        Hs = np.empty((3, n, HIDDEN), self.dtype)
        Z = np.empty((3, n, HIDDEN), self.dtype)
        return _mlp3_fwd(U, params["W1"], params["Wh"], params["bias"], params["Wout"], Hs, Z)

    def alignment(self, params: dict) -> float:
        """ξ: mean over labels of the correct-label logit minus the mean other-label logit when
        the classifier reads a pure label vector."""
        z = np.asarray(self.classify(params, self.label_vectors), np.float64)
        L = self.L
        correct = np.diag(z)
        others = (z.sum(1) - correct) / (L - 1)
        return float((correct - others).mean())

    def evaluate(self, params: dict, sets: dict, chunk: int = 1000) -> dict:
        from ..nets import measures as M
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
