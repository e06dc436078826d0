"""Per-head score tables of trained networks (docs/diagnostics.md).

:func:`transformer_scores` computes every score that applies to the configurable transformer
on token probes; :func:`reddy_scores` the ones that apply to the Reddy network on its IC set.
Both return a flat dict ``{"L{l}H{h}.<score>": value}`` (0-based layers and heads, the metrics
column names).  :class:`ScoreEvaluator` records such a dict at every evaluation of a training run
(the training layer's ``Evaluator`` protocol), so the scores land in metrics.csv.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from . import scores as S
from ..tasks.probes import Probe, reddy_ids

__all__ = ["transformer_scores", "reddy_scores", "ScoreEvaluator", "TRANSFORMER_SCORES",
           "REDDY_SCORES", "head_contributions", "copying_eigen_scores", "score_names",
           "score_columns", "as_table"]

#: scores computed on token models, in column order
TRANSFORMER_SCORES = ("induction", "induction_tl", "prefix", "duplicate", "prev",
                      "detect_induction", "detect_duplicate", "detect_prev", "anti",
                      "anti_dup", "copy_eig", "copy_emp")
#: scores that apply to the Reddy network (docs/diagnostics.md, "Which scores apply where")
REDDY_SCORES = ("prev", "ila1", "induction", "duplicate")


def _seq_batch(probe: Probe):
    from ..tasks.seq import SeqBatch
    return SeqBatch(np.ascontiguousarray(probe.tokens, np.int32), None,
                    np.full(probe.tokens.shape, -1, np.int32))


def _lm_batch(probe: Probe, cfg):
    """The probe as a SeqBatch whose targets respect the network's loss positions."""
    from ..tasks.seq import SeqBatch
    return SeqBatch(np.ascontiguousarray(probe.tokens, np.int32), None,
                    np.full(probe.tokens.shape, -1, np.int32))


def head_contributions(net, params, z: np.ndarray, layer: int) -> np.ndarray | None:
    """(n, H, T, n_out) direct logit contribution of each head of ``layer`` from its outputs z
    (n, H, T, dh): z W_O through the final LayerNorm's linear part (centring and gain; its
    positive 1/σ factor is dropped, it never changes a sign) and the unembedding.  None when
    the readout is not linear (``readout_mlp`` > 0)."""
    c = net.cfg
    if c.readout_mlp:
        return None
    n, H, T, dh = z.shape
    if c.w_o:
        out = np.einsum("nhte,hed->nhtd", z, params["W_O"][layer].astype(np.float64))
    else:
        out = np.zeros((n, H, T, c.d_model))
        for h in range(H):
            out[:, h, :, h * dh:(h + 1) * dh] = z[:, h]
    if c.norm == "pre":
        out = (out - out.mean(-1, keepdims=True)) * params["lnf_w"].astype(np.float64)
    return out @ params["W_U"].astype(np.float64)


def copying_eigen_scores(net, params) -> np.ndarray | None:
    """(layers, H) eigenvalue copying score of every head (None when W_E W_V W_O W_U is not a
    square map of tokens to classes through a linear readout).  LayerNorms are left out (as in
    Elhage et al. and TransformerLens' weight-based scores); one-hot position dims carry no
    token."""
    c = net.cfg
    if not c.vocab or c.vocab != c.n_out or c.readout_mlp:
        return None
    P1 = c.onehot_dims
    W_E = np.zeros((c.vocab, c.d_model))
    W_E[:, P1:] = params["W_E"]
    out = np.zeros((c.n_layers, c.heads))
    dh = c.head_dim
    for l in range(c.n_layers):
        for h in range(c.heads):
            if c.w_o:
                W_O = params["W_O"][l, h]
            else:
                W_O = np.zeros((dh, c.d_model))
                W_O[:, h * dh:(h + 1) * dh] = np.eye(dh)
            out[l, h] = S.copying_score(S.ov_circuit(W_E, params["W_V"][l, h], W_O,
                                                     params["W_U"]))
    return out


def _put(out, name, arr_lh):
    arr = np.asarray(arr_lh)
    for l in range(arr.shape[0]):
        for h in range(arr.shape[1]):
            out[f"L{l}H{h}.{name}"] = float(arr[l, h])


def transformer_scores(net, params, probes: dict, overrides=()) -> dict:
    """Every score of :data:`TRANSFORMER_SCORES` that the probes allow, for every head.

    ``probes``: ``{"repeat": Probe, "reverse": Probe}`` (either may be missing; the scores
    needing it are then left out).  The network runs without its training clamps (diagnostics
    describe the network, not the clamp) and with ``overrides`` (e.g. an ablation)."""
    c = net.cfg
    nl = c.n_layers
    pats = [f"L{l}.pattern" for l in range(nl)]
    out: dict = {}
    acc = {name: [] for name in TRANSFORMER_SCORES}
    rep = probes.get("repeat")
    if rep is not None:
        if rep.T > c.max_len and c.positions != "none":
            raise ConfigError("probe.T", rep.T, f"must be ≤ the network's max_len={c.max_len}")
        L, st = rep.info["L"], rep.info["start"]
        rec = pats + [f"L{l}.z" for l in range(nl)]
        a = net.forward(params, _seq_batch(rep), rec, clamps=None, overrides=overrides,
                        full=True)
        second = np.arange(st + L, st + 2 * L)
        ids = rep.tokens
        Dind = S.induction_detection_pattern(ids)
        Ddup = S.duplicate_detection_pattern(ids)
        Dprev = S.previous_detection_pattern(len(rep), rep.T)
        for l in range(nl):
            A = a[f"L{l}.pattern"]
            acc["induction"].append(S.induction_score(A, L, st))
            if st >= 1:
                acc["induction_tl"].append(S.induction_score_tl(A, L, st))
            acc["prefix"].append(S.prefix_matching_score(A, ids, second))
            acc["duplicate"].append(S.duplicate_token_score(A, ids, second))
            acc["prev"].append(S.previous_token_score(A))
            acc["detect_induction"].append(S.detect_head(A, Dind))
            acc["detect_duplicate"].append(S.detect_head(A, Ddup))
            acc["detect_prev"].append(S.detect_head(A, Dprev))
            contrib = head_contributions(net, params, a[f"L{l}.z"].astype(np.float64), l)
            if contrib is not None:
                acc["copy_emp"].append(S.copying_score_empirical(contrib, rep.targets))
    rev = probes.get("reverse")
    if rev is not None:
        m, st = rev.info["m"], rev.info["start"]
        a = net.forward(params, _seq_batch(rev), pats, clamps=None, overrides=overrides,
                        full=True)
        for l in range(nl):
            acc["anti"].append(S.anti_induction_score(a[f"L{l}.pattern"], m, st))
            acc["anti_dup"].append(S.anti_induction_duplicate(a[f"L{l}.pattern"], m, st))
    ce = copying_eigen_scores(net, params)
    if ce is not None:
        acc["copy_eig"] = list(ce)
    for name in TRANSFORMER_SCORES:
        if len(acc[name]) == nl:
            _put(out, name, np.stack(acc[name]))
    return out


def reddy_scores(net, params, batch) -> dict:
    """The scores that apply to the Reddy network, on an IC batch (docs/diagnostics.md):

    ``L0H{h}.prev``       previous-token score of layer 0 over every position q ≥ 1
    ``L0H{h}.ila1``       its restriction to the label rows (ILA1 of docs/network.md, per head)
    ``L{l}H{h}.induction`` prefix matching at the target row: attention to the labels that follow
                          items of the target's class (TILA2 per head for the last layer)
    ``L{l}H{h}.duplicate`` attention of the target row to items of its own class

    (the kernels expose the last layer's target row only, so both target-row scores are read
    there for every layer; previous-token is defined for layer 0, whose whole pattern exists)."""
    out = net.forward(params, batch)
    first = np.asarray(out["attn_first"], np.float64)          # (H, n, T, T) layer 0
    last = np.asarray(out["attn_last"], np.float64)            # (H, n, T) last layer, target row
    ids = reddy_ids(batch)
    N = batch.N
    T = 2 * N + 1
    nl = net.net.n_layers
    res: dict = {}
    rows_t = np.array([T - 1])
    layer_rows = {}
    if first.size:
        A0 = first.transpose(1, 0, 2, 3)                        # (n, H, T, T)
        layer_rows[0] = A0
        res.update({f"L0H{h}.prev": float(v)
                    for h, v in enumerate(S.previous_token_score(A0))})
        res.update({f"L0H{h}.ila1": float(v) for h, v in
                    enumerate(S.previous_token_score(A0, np.arange(1, 2 * N, 2)))})
    AL = np.zeros((last.shape[1], last.shape[0], T, T))
    AL[:, :, T - 1, :] = last.transpose(1, 0, 2)
    layer_rows[nl - 1] = AL
    for l, A in sorted(layer_rows.items()):
        for name, fn in (("induction", S.prefix_matching_score),
                         ("duplicate", S.duplicate_token_score)):
            for h, v in enumerate(fn(A, ids, rows_t)):
                res[f"L{l}H{h}.{name}"] = float(v)
    return res


def score_names(result: dict) -> list[str]:
    """The score names present in a flat result (in first-seen order)."""
    seen = []
    for k in result:
        s = k.split(".", 1)[1]
        if s not in seen:
            seen.append(s)
    return seen


def as_table(result: dict) -> tuple[list[str], list[str], np.ndarray]:
    """(heads "L{l}H{h}", score names, values (heads × scores), NaN where absent)."""
    heads, names = [], score_names(result)
    for k in result:
        hd = k.split(".", 1)[0]
        if hd not in heads:
            heads.append(hd)
    vals = np.full((len(heads), len(names)), np.nan)
    for k, v in result.items():
        hd, s = k.split(".", 1)
        vals[heads.index(hd), names.index(s)] = v
    return heads, names, vals


def score_columns(n_layers: int, heads: int, names) -> tuple[str, ...]:
    return tuple(f"L{l}H{h}.{s}" for s in names for l in range(n_layers) for h in range(heads))


class ScoreEvaluator:
    """Training-time recorder of every score of every head (the ``Evaluator`` protocol of
    :mod:`minimal.training.protocol`): ``GradientLearner(..., evaluators=[ScoreEvaluator(...)])``
    appends ``L{l}H{h}.<score>`` columns to each metrics row.

    ``kind``: "transformer" (``probes`` = {"repeat": …, "reverse": …}) or "reddy" (``probes`` =
    {"ic": an IC batch}).  ``names``: the scores to record (default: all that apply)."""

    def __init__(self, kind: str, n_layers: int, heads: int, probes: dict, names=None):
        if kind not in ("transformer", "reddy"):
            raise ConfigError("kind", kind, "must be 'transformer' or 'reddy'")
        self.kind = kind
        self.probes = probes
        if names is None:
            if kind == "reddy":
                names = REDDY_SCORES
            else:
                names = [s for s in TRANSFORMER_SCORES
                         if (s not in ("anti", "anti_dup") or "reverse" in probes)
                         and (s in ("anti", "anti_dup", "copy_eig") or "repeat" in probes)]
        self.names = tuple(names)
        cols = score_columns(n_layers, heads, self.names)
        if kind == "reddy":     # ila1/prev exist for layer 0 only; induction/duplicate where read
            cols = tuple(c for c in cols if not (c.split(".")[1] in ("prev", "ila1")
                                                 and not c.startswith("L0")))
            cols = tuple(c for c in cols if c.split(".")[1] in ("prev", "ila1")
                         or c.startswith("L0") or c.startswith(f"L{n_layers - 1}"))
        self.columns = cols

    def __call__(self, model, params) -> dict:
        if self.kind == "reddy":
            res = reddy_scores(model, params, self.probes["ic"])
        else:
            res = transformer_scores(model, params, self.probes)
        return {c: res.get(c, float("nan")) for c in self.columns}
