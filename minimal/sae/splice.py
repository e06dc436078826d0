"""Attention outputs of the configurable transformer as SAE rows, and the reconstruction score
of an SAE spliced back into the network (docs/sae.md).

z_cat of layer l is the per-head output before W_O, ``L{l}.z`` (n, H, T, dh), laid out per
token as [head 0 | head 1 | …] (n·T rows of H·dh): head h owns columns h·dh … (h+1)·dh − 1.
"""

from __future__ import annotations

import numpy as np

from ..tasks.seq import SeqBatch
from ..transformer.clamps import Override
from .model import reconstruction_score

__all__ = ["zcat_rows", "rows_to_z", "spliced_losses"]


def zcat_rows(net, params: dict, batch: SeqBatch, layer: int) -> np.ndarray:
    """(n·T, H·dh) rows of layer ``layer``'s concatenated head outputs (0-based layer)."""
    z = net.forward(params, batch, record=[f"L{layer}.z"], clamps=None)[f"L{layer}.z"]
    n, H, T, dh = z.shape
    return np.ascontiguousarray(z.transpose(0, 2, 1, 3).reshape(n * T, H * dh))


def rows_to_z(rows: np.ndarray, n: int, H: int, T: int, dh: int) -> np.ndarray:
    """Inverse of :func:`zcat_rows`' layout."""
    return np.ascontiguousarray(np.asarray(rows).reshape(n, T, H, dh).transpose(0, 2, 1, 3))


def _loss(logits: np.ndarray, targets: np.ndarray) -> float:
    has = targets >= 0
    lg = logits[has].astype(np.float64)
    t = targets[has].astype(np.int64)
    z = lg - lg.max(1, keepdims=True)
    return float((np.log(np.exp(z).sum(1)) - z[np.arange(len(t)), t]).mean())


def spliced_losses(net, params: dict, batch: SeqBatch, layer: int, reconstruct) -> dict:
    """Cross-entropy (at the positions with targets) of the clean network, with layer
    ``layer``'s z replaced by ``reconstruct(z_cat rows)``, and with it zero-ablated; plus the
    reconstruction score (L_zero − L_SAE)/(L_zero − L_clean)."""
    name = f"L{layer}.z"
    out = net.forward(params, batch, record=[name, "logits"], clamps=None)
    z = out[name]
    n, H, T, dh = z.shape
    rows = np.ascontiguousarray(z.transpose(0, 2, 1, 3).reshape(n * T, H * dh))
    zhat = rows_to_z(reconstruct(rows), n, H, T, dh).astype(z.dtype)
    clean = _loss(out["logits"], batch.targets)
    sae = _loss(net.forward(params, batch, record=["logits"], clamps=None,
                            overrides=[Override(name, True, zhat)])["logits"], batch.targets)
    zero = _loss(net.forward(params, batch, record=["logits"], clamps=None,
                             overrides=[Override(name, True, 0.0)])["logits"], batch.targets)
    return {"loss_clean": clean, "loss_sae": sae, "loss_zero": zero,
            "score": reconstruction_score(clean, sae, zero)}
