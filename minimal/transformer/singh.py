"""The transformer on Singh et al.'s task: evaluation metrics and induction measures
(docs/clamping.md).

Metrics columns (0-based layers and heads; "layer 2" of the paper is layer index 1)::

    loss, acc                  query cross-entropy and accuracy on the training distribution
    ctx_acc, ctx_prob          accuracy among the two context labels; probability mass on them
    heldout_pairs_{loss,acc}   held-out label pairs
    heldout_ex_{loss,acc}      held-out exemplars of the training classes
    test_{loss,acc}            held-out classes
    L1H{h}.S                   induction strength of head h: mean over sequences of
                               A_h[q, correct label] − A_h[q, other label] ∈ [−1, 1]
    L0H{h}.prev                mean attention of the two label positions to their exemplars

All are measured under the run's training clamps (a clamped pattern shows its clamp).
"""

from __future__ import annotations

import numpy as np

from ..tasks.singh import EVAL_SETS
from .model import Transformer

__all__ = ["SinghNet", "induction_strength", "prev_token_score", "context_scores"]


def induction_strength(pattern: np.ndarray, batch) -> np.ndarray:
    """(H,) S_h from a layer's pattern (n, H, T, T) at the query row."""
    q = int(batch.meta.get("query_pos", batch.T - 1))
    lp = np.asarray(batch.meta["label_pos"])
    corr = np.asarray(batch.meta["correct"])
    b = np.arange(len(batch))
    row = pattern[:, :, q, :]                                   # (n, H, T)
    good = row[b, :, lp[b, corr]]                               # (n, H)
    bad = row[b, :, lp[b, 1 - corr]]
    return (good - bad).mean(0)


def prev_token_score(pattern: np.ndarray, batch) -> np.ndarray:
    """(H,) mean attention from each context label to the exemplar before it."""
    lp = np.asarray(batch.meta["label_pos"])[0]
    return np.mean([pattern[:, :, t, t - 1].mean(0) for t in lp], axis=0)


def context_scores(logits: np.ndarray, batch) -> tuple[float, float]:
    """(accuracy among the context labels, mean probability mass on them) at the query."""
    q = int(batch.meta.get("query_pos", batch.T - 1))
    lg = logits[:, q, :].astype(np.float64)
    ids = np.asarray(batch.meta["label_ids"])
    b = np.arange(len(batch))[:, None]
    pick = lg[b, ids]
    target = batch.targets[:, q]
    acc = float((ids[np.arange(len(batch)), pick.argmax(1)] == target).mean())
    z = lg - lg.max(1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(1, keepdims=True)
    return acc, float(p[b, ids].sum(1).mean())


class SinghNet(Transformer):
    """:class:`Transformer` with the Singh metrics as its evaluation (the model protocol)."""

    def __init__(self, cfg, clamps=()):
        super().__init__(cfg, clamps, eval_names=EVAL_SETS)
        self.ind_layer = min(1, cfg.n_layers - 1)
        cols = list(self.columns[:3]) + ["ctx_acc", "ctx_prob"] + list(self.columns[3:])
        cols += [f"L{self.ind_layer}H{h}.S" for h in range(cfg.heads)]
        if cfg.n_layers > 1:
            cols += [f"L0H{h}.prev" for h in range(cfg.heads)]
        self.columns = tuple(cols)

    def evaluate(self, params: dict, sets: dict, chunk: int = 1000) -> dict:
        row = super().evaluate(params, sets, chunk)
        batch = sets["train"]
        rec = ["logits", f"L{self.ind_layer}.pattern"] + (["L0.pattern"]
                                                           if self.cfg.n_layers > 1 else [])
        acc = {k: [] for k in rec}
        for s in range(0, len(batch), chunk):
            out = self.forward(params, batch.subset(slice(s, s + chunk)), rec)
            for k in rec:
                acc[k].append(out[k])
        acts = {k: np.concatenate(v) for k, v in acc.items()}
        row["ctx_acc"], row["ctx_prob"] = context_scores(acts["logits"], batch)
        S = induction_strength(acts[f"L{self.ind_layer}.pattern"], batch)
        for h, v in enumerate(S):
            row[f"L{self.ind_layer}H{h}.S"] = float(v)
        if self.cfg.n_layers > 1:
            pt = prev_token_score(acts["L0.pattern"], batch)
            for h, v in enumerate(pt):
                row[f"L0H{h}.prev"] = float(v)
        return row
