"""Progress measures of docs/network.md ("Progress measures") (and the induction-head strength), from attention patterns
and logits.  Averages run over the IC set; with several heads the measure of the most
induction-like head (the maximum over heads) is reported."""

from __future__ import annotations

import numpy as np


def ila1(attn_first: np.ndarray, N: int) -> float:
    """⟨(1/N) Σ_j p¹_{2j+1, 2j}⟩: layer-1 attention a label pays to its own item.

    attn_first: (H, n, T, T) layer-1 patterns.  NaN when unavailable (one-layer networks).
    """
    if attn_first.size == 0:
        return float("nan")
    j = np.arange(N)
    per_head = attn_first[:, :, 2 * j + 1, 2 * j].mean(axis=(1, 2))
    return float(per_head.max())


def tila2(attn_last: np.ndarray, matches: np.ndarray) -> float:
    """⟨Σ_{j∈M} p²_{t*, 2j+1}⟩: last-layer target attention on the labels of matching items."""
    N = matches.shape[1]
    lab = attn_last[:, :, 1:2 * N:2]                      # (H, n, N)
    per_head = (lab * matches[None]).sum(-1).mean(-1)
    return float(per_head.max())


def tla2(attn_last: np.ndarray, N: int) -> float:
    """⟨Σ_j p²_{t*, 2j+1}⟩: last-layer target attention on all context labels."""
    per_head = attn_last[:, :, 1:2 * N:2].sum(-1).mean(-1)
    return float(per_head.max())


def ih_strength(attn_last: np.ndarray, matches: np.ndarray) -> float:
    """Mean attention on matching labels minus mean attention on non-matching labels."""
    N = matches.shape[1]
    lab = attn_last[:, :, 1:2 * N:2]
    m = matches[None].astype(float)
    on = (lab * m).sum(-1) / np.maximum(m.sum(-1), 1)
    off = (lab * (1 - m)).sum(-1) / np.maximum((1 - m).sum(-1), 1)
    return float((on - off).mean(-1).max())


def cla(logits: np.ndarray, context_labels: np.ndarray) -> float:
    """Fraction of sequences whose argmax label is one of the labels present in the context."""
    pred = logits.argmax(axis=1)
    return float((context_labels == pred[:, None]).any(axis=1).mean())


def accuracy_and_loss(logits: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(target)
    return float((logits.argmax(1) == target).mean()), float(-logp[np.arange(n), target].mean())
