"""The two-layer attention-only network of Reddy (2024) and its generalisations.

Public, validating wrappers around the Numba kernels of :mod:`._kernels`::

    net = AttentionNet(NetConfig(), task_config)
    params = net.init(seeds.generator("init"))
    loss, grads, n_correct = net.loss_and_grads(params, batch)
    out = net.forward(params, batch)          # logits, layer-1 patterns, last-layer target row

Parameters are a dict of stacked arrays: ``W_Q``, ``W_K`` (n_layers, k_dim, d), ``W_V``
(n_layers, d, d), ``mlp_W`` (mlp_depth, d, d), ``mlp_b`` (mlp_depth,), ``W_out`` (L, d).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError, ConfigTypeError
from ..training.params import check_arrays, check_grads
from ..tasks.icl import METRIC_COLUMNS, Batch, TaskConfig
from . import _kernels as _K
from .config import NetConfig

PARAM_NAMES = ("W_Q", "W_K", "W_V", "mlp_W", "mlp_b", "W_out")


class AttentionNet:
    """Model object: shapes, initialisation, loss/gradients and forward passes (the training
    layer's model protocol, docs/architecture.md)."""

    columns = METRIC_COLUMNS

    def __init__(self, net: NetConfig | None = None, task: TaskConfig | None = None):
        self.net = NetConfig() if net is None else net
        self.task = TaskConfig() if task is None else task
        self.net.check_task(self.task)
        self.dtype = np.dtype(self.net.dtype)
        t = self.task
        self.P, self.D, self.d, self.L, self.T = t.P, t.D, t.d, t.L, t.T
        self.fused = self.net.fused and self.net.n_layers == 2
        self.chance_loss = math.log(self.L)    #: loss of a uniform prediction (collapse check)

    # -- parameters ---------------------------------------------------------------------------
    def shapes(self) -> dict[str, tuple]:
        n, d, k, M = self.net.n_layers, self.d, self.net.k_dim, self.net.mlp_depth
        return {"W_Q": (n, k, d), "W_K": (n, k, d), "W_V": (n, d, d), "mlp_W": (M, d, d),
                "mlp_b": (M,), "W_out": (self.L, d)}

    def n_params(self) -> int:
        return int(sum(np.prod(s) for s in self.shapes().values()))

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Initialisation of docs/network.md, "Initialisation" (attention std scaled by ``attn_init_scale``)."""
        s = self.shapes()
        a = self.net.attn_init_scale / math.sqrt(self.D)
        d = self.d
        params = {
            "W_Q": rng.normal(0.0, a, s["W_Q"]),
            "W_K": rng.normal(0.0, a, s["W_K"]),
            "W_V": rng.normal(0.0, a, s["W_V"]),
            "mlp_W": rng.normal(0.0, math.sqrt(2.0 / d), s["mlp_W"]),
            "mlp_b": rng.normal(0.0, math.sqrt(1.0 / d), s["mlp_b"]),
            "W_out": rng.normal(0.0, math.sqrt(1.0 / d), s["W_out"]),
        }
        return {k: np.ascontiguousarray(v, self.dtype) for k, v in params.items()}

    def check_params(self, params: dict) -> dict:
        """Validate a parameter dict (shapes, floating dtype); arrays of another float dtype
        or layout are converted to the network's."""
        return check_arrays("params", params, self.shapes(), self.dtype)

    # -- inputs -------------------------------------------------------------------------------
    def _inputs(self, batch: Batch):
        if not isinstance(batch, Batch):
            raise ConfigTypeError("batch", type(batch).__name__, "must be a minimal Batch "
                                  "(ICLTask.batch or ICLTask.sample)")
        if batch.N != self.task.N or batch.D != self.D or batch.P != self.P:
            raise ConfigError("batch", f"N={batch.N}, P={batch.P}, D={batch.D}",
                              f"does not match the network (N={self.task.N}, P={self.P}, "
                              f"D={self.D})")
        C = batch.content
        if C.dtype != self.dtype or not C.flags.c_contiguous:
            C = np.ascontiguousarray(C, self.dtype)
        pos = batch.positions
        y = batch.target.astype(np.int64)
        return C, pos, y

    # -- compute ------------------------------------------------------------------------------
    def loss_and_grads(self, params: dict, batch: Batch, grads: dict | None = None):
        """Mean cross-entropy on ``batch``, its gradients (written into ``grads`` when given)
        and the number of correct predictions."""
        p = self.check_params(params)
        if grads is None:
            grads = {k: np.empty_like(v) for k, v in p.items()}
        else:
            check_grads(grads, p)
        C, pos, y = self._inputs(batch)
        args = (C, pos, self.P, p["W_Q"], p["W_K"], p["W_V"], p["mlp_W"], p["mlp_b"],
                p["W_out"], y, self.net.heads, grads["W_Q"], grads["W_K"], grads["W_V"],
                grads["mlp_W"], grads["mlp_b"], grads["W_out"])
        if self.fused:
            loss, n_correct = _K._step_fused2(*args, self._workspace(len(batch)))
        else:
            loss, n_correct = _K._step_general(*args)
        return float(loss), grads, int(n_correct)

    def _workspace(self, nb: int):
        """Buffers of the fused kernel, allocated once per batch size and reused."""
        ws = self.__dict__.setdefault("_ws", {})
        if nb not in ws:
            if len(ws) > 4:
                ws.clear()
            ws[nb] = _K.alloc_fused2_workspace(self.net.heads, nb, self.T, self.D, self.d,
                                              self.net.mlp_depth, self.L, self.dtype)
        return ws[nb]

    def forward(self, params: dict, batch: Batch) -> dict:
        """Logits (n, L), layer-1 patterns (H, n, T, T; empty for one layer) and the last
        layer's target-row patterns (H, n, T)."""
        p = self.check_params(params)
        C, pos, _ = self._inputs(batch)
        args = (C, pos, self.P, p["W_Q"], p["W_K"], p["W_V"], p["mlp_W"], p["mlp_b"],
                p["W_out"], self.net.heads)
        if self.fused:
            logits, first, last = _K._forward_eval_fused2(*args, self._workspace(len(batch)))
        else:
            logits, first, last = _K._forward_eval_general(*args)
        return {"logits": logits, "attn_first": first, "attn_last": last}

    def phase_flops(self, batch_size: int) -> dict[str, float]:
        """Floating-point operations of each phase of one training step of the fused two-layer
        kernel (multiply-adds count 2; GEMMs as executed, the content block padded to Dp
        columns), for the roofline of ``minimal bench roofline`` (docs/performance.md)."""
        if not self.fused:
            raise ConfigError("net.fused", self.net.fused, "phase FLOP counts exist for the "
                              "fused two-layer kernel only (n_layers = 2, fused = true)")
        nb, T, d, D, L, H = batch_size, self.T, self.d, self.D, self.L, self.net.heads
        M, k = self.net.mlp_depth, self.net.k_dim
        Dp = _K._pad16(D)
        mm = 2.0 * nb * d * d                       # one batched d × d product
        tok = 2.0 * nb * T * Dp                     # one per-sequence dot or mix over tokens
        tri = nb * T * (T + 1) / 2.0                # causal pairs
        return {
            "form_A": 4.0 * k * d * d,
            "layer1": H * (2.0 * nb * T * Dp * Dp + 2 * 2.0 * nb * T * T * Dp + tok
                           + 4.0 * tri) + mm,
            "layer2": H * (2 * mm + 2 * tok + 6.0 * tri) + H * H * (tok + 2.0 * tri + tok)
                      + H * mm + mm,
            "mlp_loss": M * mm + 2.0 * nb * d * L + 4.0 * nb * L,
            "mlp_bwd": 2 * M * mm + 2 * 2.0 * nb * d * L,
            "layer2_bwd": 2 * mm + H * (2 * mm + 4 * mm) + (H + H * H) * 2 * tok
                          + H * H * 4.0 * tri,
            "layer1_bwd": 2 * mm + H * tok + H * (2 * 2.0 * nb * T * T * Dp
                                                  + 2.0 * nb * T * Dp * Dp + 6.0 * H * tri),
            "qk_grads": 8.0 * k * d * d,
        }

    def flops_per_step(self, batch_size: int) -> float:
        """Floating-point operations of one training step of the fused two-layer kernel (the
        sum of :meth:`phase_flops`), for reporting achieved GFLOP/s."""
        return float(sum(self.phase_flops(batch_size).values()))

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, params: dict, sets: dict, chunk: int = 1000) -> dict:
        """Accuracy and loss on each evaluation set plus the progress measures on IC.

        Returns the metrics-row fields: ``loss`` (Test-set loss), ``{ic,ic2,iw,test}_acc``,
        ``{ic,ic2,iw}_loss``, ``ila1, tila2, tla2, cla`` and ``ih_strength``.
        """
        from ..tasks import icl_measures as M
        row = {}
        for name, batch in sets.items():
            logits, first, last = [], [], []
            for s in range(0, len(batch), chunk):
                out = self.forward(params, batch.subset(slice(s, s + chunk)))
                logits.append(out["logits"])
                if name == "ic":
                    first.append(out["attn_first"])
                    last.append(out["attn_last"])
            logits = np.concatenate(logits)
            acc, loss = M.accuracy_and_loss(logits, batch.target)
            row[f"{name}_acc"] = acc
            row["loss" if name == "test" else f"{name}_loss"] = loss
            if name == "ic":
                N = batch.N
                first = np.concatenate(first, axis=1) if first[0].size else first[0]
                last = np.concatenate(last, axis=1)
                row["ila1"] = M.ila1(first, N)
                row["tila2"] = M.tila2(last, batch.matches)
                row["tla2"] = M.tla2(last, N)
                row["ih_strength"] = M.ih_strength(last, batch.matches)
                row["cla"] = M.cla(logits, batch.label_ids[:, :N])
        return row

