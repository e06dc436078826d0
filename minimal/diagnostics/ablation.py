"""Head ablation (docs/diagnostics.md): zero or mean ablation of heads' outputs z, and the
top-k-by-induction-score versus matched-random comparison of Sabry & Belz.

A *measure* is a function ``measure(heads) -> {"loss": …, "icl": …}`` evaluating the network
with the given heads ``[(layer, head), …]`` ablated (the empty list: the clean network).
:func:`transformer_measure` and :func:`reddy_measure` build one for the two families.

Drops are reported as ``ablated − clean`` for the loss (a rise is a cost) and ``clean −
ablated`` for the ICL accuracy (a fall is a cost); relative drops divide by the clean value.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..config import check_int
from ..errors import ConfigError

__all__ = ["k_per_layer", "z_ablation_overrides", "transformer_measure", "reddy_measure",
           "reddy_ablated_params", "top_vs_random", "MODES"]

MODES = ("zero", "mean")


def k_per_layer(H: int, frac: float = 0.02) -> int:
    """Heads ablated per layer: max(1, round(frac · H)) (Python's round: half to even)."""
    return max(1, int(round(frac * H)))


def z_ablation_overrides(net, heads, mode: str = "zero", means: dict | None = None, n=None,
                         T=None):
    """Override list replacing the z of each (layer, head) by 0 (``zero``) or by its mean
    (``mean``: ``means[layer]`` of shape (H, T, dh), the batch mean per position)."""
    from ..transformer.clamps import Override
    if mode not in MODES:
        raise ConfigError("mode", mode, f"must be one of {', '.join(MODES)}")
    c = net.cfg
    by_layer: dict = {}
    for l, h in heads:
        if not (0 <= l < c.n_layers and 0 <= h < c.heads):
            raise ConfigError("head", f"L{l}H{h}", f"layers 0..{c.n_layers - 1}, heads "
                              f"0..{c.heads - 1}")
        by_layer.setdefault(l, []).append(h)
    out = []
    for l, hs in by_layer.items():
        mask = np.zeros((1, c.heads, 1, 1), bool)
        mask[0, hs] = True
        if mode == "zero":
            out.append(Override(f"L{l}.z", mask, 0.0))
        else:
            if means is None or l not in means:
                raise ConfigError("means", None, "mean ablation needs the heads' mean z")
            val = means[l][None]                                   # (1, H, T, dh)
            out.append(Override(f"L{l}.z", np.broadcast_to(mask, val.shape), val))
    return out


def _lm_loss(logits, targets):
    m = targets >= 0
    if not m.any():
        return float("nan"), float("nan")
    lg = logits[m].astype(np.float64)
    t = targets[m].astype(np.int64)
    z = lg - lg.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1))
    return float((lse - z[np.arange(len(t)), t]).mean()), float((lg.argmax(1) == t).mean())


def transformer_measure(net, params, loss_batch, icl_probe, mode: str = "zero",
                        mean_batch=None):
    """Measure for the transformer: ``loss`` = mean cross-entropy on ``loss_batch`` (a SeqBatch
    with targets), ``icl`` = accuracy at the scored positions of the ICL probe (a
    :class:`~minimal.tasks.probes.Probe`, or a SeqBatch scored at its targets), ``icl_loss``
    its loss.  Mean ablation uses the
    per-position batch mean of z on ``mean_batch`` (default: ``loss_batch``)."""
    from ..tasks.seq import SeqBatch
    c = net.cfg
    means = None
    if mode == "mean":
        mb = loss_batch if mean_batch is None else mean_batch
        rec = [f"L{l}.z" for l in range(c.n_layers)]
        a = net.forward(params, mb, rec, clamps=None, full=True)
        means = {l: a[f"L{l}.z"].mean(0) for l in range(c.n_layers)}
    if isinstance(icl_probe, SeqBatch):          # e.g. a held-out evaluation set
        icl_batch, icl_targets = icl_probe, icl_probe.targets
    else:
        icl_batch = SeqBatch(np.ascontiguousarray(icl_probe.tokens, np.int32), None,
                             np.full(icl_probe.tokens.shape, -1, np.int32))
        icl_targets = icl_probe.targets

    def measure(heads):
        T1 = loss_batch.targets.shape[1]
        ov = z_ablation_overrides(net, heads, mode, means)
        lg = net.forward(params, loss_batch, ["logits"], clamps=None, overrides=ov,
                         full=True)["logits"]
        loss, _ = _lm_loss(lg, loss_batch.targets)
        ov2 = ov
        if mode == "mean" and icl_batch.T != T1:
            raise ConfigError("icl_probe.T", icl_probe.T, f"must equal the loss batch's T={T1} "
                              "for mean ablation (the means are per position)")
        lg2 = net.forward(params, icl_batch, ["logits"], clamps=None, overrides=ov2,
                          full=True)["logits"]
        icl_loss, icl = _lm_loss(lg2, icl_targets)
        return {"loss": loss, "icl": icl, "icl_loss": icl_loss}
    return measure


def reddy_ablated_params(params, net, heads):
    """Parameters of the Reddy network with the value rows of each (layer, head) zeroed: the
    head's output z = P V is then exactly 0 (zero ablation)."""
    p = {k: np.array(v) for k, v in params.items()}
    H = net.net.heads
    d = net.d
    dv = d // H
    for l, h in heads:
        if not (0 <= l < net.net.n_layers and 0 <= h < H):
            raise ConfigError("head", f"L{l}H{h}", f"layers 0..{net.net.n_layers - 1}, heads "
                              f"0..{H - 1}")
        p["W_V"][l, h * dv:(h + 1) * dv, :] = 0.0
    return p


def reddy_measure(net, params, sets, mode: str = "zero", chunk: int = 1000):
    """Measure for the Reddy network: ``loss`` = Test-set loss, ``icl`` = IC accuracy (zero
    ablation only: the network's kernels take no activation overrides, so a head is ablated by
    zeroing its value rows)."""
    if mode != "zero":
        raise ConfigError("mode", mode, "the Reddy network supports zero ablation only")

    def measure(heads):
        p = reddy_ablated_params(params, net, heads) if heads else params
        row = net.evaluate(p, {k: sets[k] for k in ("test", "ic")}, chunk)
        return {"loss": row["loss"], "icl": row["ic_acc"], "icl_loss": row["ic_loss"]}
    return measure


def _drops(clean, abl):
    out = {}
    for key in clean:
        c, a = clean[key], abl[key]
        d = (a - c) if key.endswith("loss") else (c - a)
        out[f"{key}_drop"] = d
        out[f"{key}_rel_drop"] = d / abs(c) if c else float("nan")
    return out


def top_vs_random(measure, induction: np.ndarray, k: int | None = None, draws: int = 20,
                  rng: np.random.Generator | None = None) -> dict:
    """Ablate the top-k heads of every layer by induction score (ties: lower head index first)
    and compare with matched random ablations (k random heads in every layer): ``draws``
    random choices, or every matched choice when there are at most ``draws`` of them.

    ``induction``: (layers, H) scores.  Returns the clean measure, the top-k heads and measure,
    every random draw's heads and measure, and drops (absolute and relative) of each."""
    ind = np.asarray(induction, np.float64)
    if ind.ndim != 2:
        raise ConfigError("induction", ind.shape, "must be (layers, heads)")
    nl, H = ind.shape
    k = k_per_layer(H) if k is None else check_int("k", k, 1, H)
    check_int("draws", draws, 1, 10_000)
    clean = measure([])
    top = [(l, int(h)) for l in range(nl) for h in np.argsort(-ind[l], kind="stable")[:k]]
    top_m = measure(top)
    per_layer = list(itertools.combinations(range(H), k))
    total = len(per_layer) ** nl
    if total <= draws:
        choices = [sum(([(l, h) for h in combo] for l, combo in enumerate(cs)), [])
                   for cs in itertools.product(per_layer, repeat=nl)]
        exhaustive = True
    else:
        rng = np.random.default_rng(0) if rng is None else rng
        choices = [[(l, int(h)) for l in range(nl)
                    for h in np.sort(rng.choice(H, k, replace=False))] for _ in range(draws)]
        exhaustive = False
    rand = [measure(ch) for ch in choices]
    res = {"k": k, "clean": clean, "top_heads": top, "top": top_m, "top_drop": _drops(clean, top_m),
           "random_heads": choices, "random": rand,
           "random_drop": [_drops(clean, r) for r in rand], "exhaustive": exhaustive,
           "n_random": len(choices), "n_matched_choices": total}
    for key in clean:
        for kind in ("drop", "rel_drop"):
            vals = np.array([d[f"{key}_{kind}"] for d in res["random_drop"]])
            res.setdefault("random_summary", {})[f"{key}_{kind}"] = {
                "mean": float(np.mean(vals)), "std": float(np.std(vals)),
                "min": float(np.min(vals)), "max": float(np.max(vals)),
                "top_minus_mean": float(res["top_drop"][f"{key}_{kind}"] - np.mean(vals)),
                "frac_random_below_top": float(np.mean(vals < res["top_drop"][f"{key}_{kind}"]))}
    return res
