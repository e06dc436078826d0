"""Clamps ("artificial optogenetics", Singh et al. 2024) for the transformer (docs/transformer.md).

A clamp replaces an activation element-wise during the forward pass, a ← where(mask, value, a):
downstream computation sees the clamped value and the clamped elements pass no gradient
upstream.  A value is a constant or is gathered from an activation of an earlier *reference
pass* of the same network (same parameters, same batch).  Unless the clamp is ``detach``-ed, the
gradient reaching a gathered value flows back into that reference pass (the author code stops no
gradient there).

Two levels:

* :class:`Override` — the primitive (activation name, mask, value or gather map) used by
  ``Transformer.forward(..., overrides=...)`` for diagnostics and ablations;
* :class:`ClampSpec` — a named, JSON-serialisable entry of the clamp registry (``kind`` +
  ``params``) that a run config lists and run.json records.  :func:`build_plan` turns a list of
  specs into the passes of a training step for one batch.

Registry (0-based layers and heads; positions of the Singh task: e₀ ℓ₀ e₁ ℓ₁ q = 0..4):

``ablate_heads``    {layer, heads}: the heads' values ← 0
``keep_heads``      {layer, heads}: every other head of the layer ablated
``prev_token``      {layer, head, strength s, only_labels}: pattern rows i ≥ 1 put s on i − 1 and
                    1 − s on i; row 0 on itself
``induction_match`` {layer, head, strength s}: the query row puts s on the correct context label,
                    1 − s spread over the other labels, 0 elsewhere
``perfect_copy``    {layer, head}: the query's logits ← the head's pre-softmax scores on the
                    context labels (−10⁹ for labels absent from the context)
``perfect_layer1``  {}: layer-1 patterns computed from the layer-0 output (e₀, e₀, ℓ₀, e₁, q) and
                    clamped; the layer-0 output itself ← the raw embeddings
``preserve_pattern`` {layer}: the layer's patterns ← those of an unclamped reference pass
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..config import check_bool, check_choice, check_float, check_int
from ..errors import ConfigError, ConfigTypeError
import minimal.transformer.layout as LY

__all__ = ["Override", "ClampSpec", "PassSpec", "CLAMPS", "build_plan", "validate_specs",
           "REF", "L1PATTERN", "MAIN"]

REF, L1PATTERN, MAIN = "ref", "l1pattern", "main"
PASS_ORDER = (REF, L1PATTERN, MAIN)
NEG = -1e9


@dataclass
class Override:
    """One element-wise clamp of activation ``act`` (see the module docstring).

    ``mask`` and ``value`` broadcast to the activation's shape.  With ``source = (pass, name)``
    the value at element e is ``source_activation.flat[index.flat[e]]`` where ``index ≥ 0``
    (``value`` elsewhere)."""

    act: str
    mask: np.ndarray | bool
    value: np.ndarray | float = 0.0
    source: tuple[str, str] | None = None
    index: np.ndarray | None = None
    detach: bool = False


@dataclass
class PassSpec:
    name: str
    overrides: list = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# the registry
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    params: dict              #: name -> (kind, default) ; kind in int, float, bool, int_list
    check: Callable           #: check(cfg, params) -> None (layer/head ranges)
    build: Callable           #: build(cfg, params, batch, ctx) -> list[(pass, Override)]
    doc: str


CLAMPS: dict[str, _Entry] = {}


def _layer(cfg, name, layer, min_layers=1):
    check_int(f"clamp {name}: layer", layer, 0, cfg.n_layers - 1)


def _head(cfg, name, head):
    check_int(f"clamp {name}: head", head, 0, cfg.heads - 1)


def _meta(batch, key, what):
    if key not in batch.meta:
        raise ConfigError("clamp", what, f"needs a task that reports batch.meta[{key!r}] "
                          "(the positions/ids of the context labels; the Singh task does)")
    return np.asarray(batch.meta[key])


def _query_pos(batch) -> int:
    return int(batch.meta.get("query_pos", batch.T - 1))


def _shape(cfg, act, n, T):
    kind, _ = LY.parse(cfg, act)
    return LY.shape(cfg, kind, n, T)


# ablate_heads / keep_heads -----------------------------------------------------------------

def _check_heads(cfg, p, name):
    _layer(cfg, name, p["layer"])
    heads = p["heads"]
    if not heads:
        raise ConfigError(f"clamp {name}: heads", heads, "must list at least one head")
    for h in heads:
        _head(cfg, name, h)


def _build_ablate(cfg, p, batch, ctx, heads=None):
    heads = list(p["heads"] if heads is None else heads)
    mask = np.zeros((1, cfg.heads, 1, 1), bool)
    mask[:, heads] = True
    return [(MAIN, Override(f"L{p['layer']}.v", mask, 0.0))]


def _build_keep(cfg, p, batch, ctx):
    others = [h for h in range(cfg.heads) if h not in set(p["heads"])]
    return _build_ablate(cfg, p, batch, ctx, others) if others else []


# prev_token -----------------------------------------------------------------------------------

def prev_token_pattern(T: int, s: float) -> np.ndarray:
    """(T, T): row i ≥ 1 puts s on i − 1 and 1 − s on i; row 0 attends to itself."""
    A = np.eye(T) * (1.0 - s)
    A[np.arange(1, T), np.arange(T - 1)] = s
    A[0, 0] = 1.0
    return A


def _check_prev(cfg, p, name):
    _layer(cfg, name, p["layer"])
    _head(cfg, name, p["head"])
    check_float(f"clamp {name}: strength", p["strength"], 0.0, 1.0)
    if not cfg.causal:
        raise ConfigError(f"clamp {name}", "causal=false", "needs causal attention")


def _build_prev(cfg, p, batch, ctx):
    n, T = len(batch), batch.T
    A = prev_token_pattern(T, p["strength"])
    mask = np.zeros((1, cfg.heads, T, 1), bool)
    if p["only_labels"]:
        lp = _meta(batch, "label_pos", "prev_token with only_labels")
        mask = np.zeros((n, cfg.heads, T, 1), bool)
        mask[np.arange(n)[:, None], p["head"], lp, 0] = True
    else:
        mask[:, p["head"]] = True
    return [(MAIN, Override(f"L{p['layer']}.pattern", mask, A[None, None]))]


# induction_match ------------------------------------------------------------------------------

def _check_match(cfg, p, name):
    _layer(cfg, name, p["layer"])
    _head(cfg, name, p["head"])
    check_float(f"clamp {name}: strength", p["strength"], 0.0, 1.0)


def induction_pattern_row(batch, s: float) -> np.ndarray:
    """(n, T) query row of a perfect match: s on the correct label, 1 − s over the others."""
    lp = _meta(batch, "label_pos", "induction_match")
    corr = _meta(batch, "correct", "induction_match")
    n, k = lp.shape
    row = np.zeros((n, batch.T))
    other = (1.0 - s) / (k - 1) if k > 1 else 0.0
    b = np.arange(n)
    row[b[:, None], lp] = other
    row[b, lp[b, corr]] = s
    return row


def _build_match(cfg, p, batch, ctx):
    n, T = len(batch), batch.T
    q = _query_pos(batch)
    mask = np.zeros((1, cfg.heads, T, 1), bool)
    mask[0, p["head"], q, 0] = True
    val = np.zeros((n, cfg.heads, T, T))
    val[:, p["head"], q] = induction_pattern_row(batch, p["strength"])
    return [(MAIN, Override(f"L{p['layer']}.pattern", mask, val))]


# perfect_copy ---------------------------------------------------------------------------------

def _check_copy(cfg, p, name):
    _layer(cfg, name, p["layer"])
    _head(cfg, name, p["head"])


def _build_copy(cfg, p, batch, ctx):
    n, T = len(batch), batch.T
    q = _query_pos(batch)
    lp = _meta(batch, "label_pos", "perfect_copy")
    ids = _meta(batch, "label_ids", "perfect_copy")
    C = cfg.n_out
    if ids.max(initial=0) >= C:
        raise ConfigError("clamp perfect_copy", int(ids.max()), f"label id outside the {C} "
                          "logits")
    src = L1PATTERN if ctx.get("perfect_layer1") else REF
    layer, head = p["layer"], p["head"]
    H = cfg.heads
    mask = np.zeros((1, T, 1), bool)
    mask[0, q] = True
    index = np.full((n, T, C), -1, np.int64)
    b = np.arange(n)[:, None]
    # flat index of scores[b, head, q, lp[b, k]] in an (n, H, T, T) array
    index[b, q, ids] = ((b * H + head) * T + q) * T + lp
    return [(MAIN, Override("logits", mask, NEG, source=(src, f"L{layer}.scores"),
                            index=index, detach=ctx.get("detach", False)))]


# perfect_layer1 -------------------------------------------------------------------------------

def _check_l1(cfg, p, name):
    if cfg.n_layers < 2:
        raise ConfigError(f"clamp {name}", cfg.n_layers, "needs a network of ≥ 2 layers")


def _row_index(n, T, d, src_rows):
    """Flat indices into an (n, T, d) array that copy row src_rows[t] to row t."""
    b = np.arange(n)[:, None, None]
    t = np.asarray(src_rows)[None, :, None]
    e = np.arange(d)[None, None, :]
    return (b * T + t) * d + e


def _build_l1(cfg, p, batch, ctx):
    n, T, d = len(batch), batch.T, cfg.d_model
    shifted = [t - 1 if 1 <= t <= T - 2 else t for t in range(T)]
    det = ctx.get("detach", False)
    return [
        (L1PATTERN, Override("L0.out", True, 0.0, source=(REF, "embed"),
                             index=_row_index(n, T, d, shifted), detach=det)),
        (MAIN, Override("L0.out", True, 0.0, source=(REF, "embed"),
                        index=_row_index(n, T, d, range(T)), detach=det)),
        (MAIN, Override("L1.pattern", True, 0.0, source=(L1PATTERN, "L1.pattern"),
                        index=np.arange(n * cfg.heads * T * T).reshape(n, cfg.heads, T, T),
                        detach=det)),
    ]


# preserve_pattern -----------------------------------------------------------------------------

def _check_preserve(cfg, p, name):
    _layer(cfg, name, p["layer"])


def _build_preserve(cfg, p, batch, ctx):
    n, T, H = len(batch), batch.T, cfg.heads
    return [(MAIN, Override(f"L{p['layer']}.pattern", True, 0.0,
                            source=(REF, f"L{p['layer']}.pattern"),
                            index=np.arange(n * H * T * T).reshape(n, H, T, T),
                            detach=ctx.get("detach", False)))]


def _register(name, params, check, build, doc):
    CLAMPS[name] = _Entry(params, check, build, doc)


_register("ablate_heads", {"layer": (int, None), "heads": (list, None)},
          lambda c, p: _check_heads(c, p, "ablate_heads"), _build_ablate,
          "the listed heads' values ← 0")
_register("keep_heads", {"layer": (int, None), "heads": (list, None)},
          lambda c, p: _check_heads(c, p, "keep_heads"), _build_keep,
          "every head of the layer except the listed ones ablated (values ← 0)")
_register("prev_token", {"layer": (int, 0), "head": (int, None), "strength": (float, 1.0),
                         "only_labels": (bool, False)},
          lambda c, p: _check_prev(c, p, "prev_token"), _build_prev,
          "previous-token pattern of strength s on one head")
_register("induction_match", {"layer": (int, 1), "head": (int, None), "strength": (float, 1.0)},
          lambda c, p: _check_match(c, p, "induction_match"), _build_match,
          "query row: s on the correct context label, 1 − s on the others")
_register("perfect_copy", {"layer": (int, 1), "head": (int, None)},
          lambda c, p: _check_copy(c, p, "perfect_copy"), _build_copy,
          "query logits ← the head's scores on the context labels (−1e9 elsewhere)")
_register("perfect_layer1", {}, lambda c, p: _check_l1(c, p, "perfect_layer1"), _build_l1,
          "layer-1 patterns from the perfect previous-token layer-0 output; layer-0 output ← "
          "embeddings")
_register("preserve_pattern", {"layer": (int, None)},
          lambda c, p: _check_preserve(c, p, "preserve_pattern"), _build_preserve,
          "the layer's patterns ← those of an unclamped reference pass")


# ----------------------------------------------------------------------------------------------
# specs (JSON entries of run configs)
# ----------------------------------------------------------------------------------------------

def _norm_param(kind_name, pname, typ, value):
    where = f"clamp {kind_name}: {pname}"
    if typ is int:
        return check_int(where, value, 0, 10**6)
    if typ is float:
        return check_float(where, value)
    if typ is bool:
        return check_bool(where, value)
    if not isinstance(value, (list, tuple)):
        raise ConfigTypeError(where, value, "must be a list of integers")
    return tuple(check_int(where, v, 0, 10**6) for v in value)


@dataclass(frozen=True)
class ClampSpec:
    """A named clamp of the registry with its JSON parameters (recorded in run.json)."""

    kind: str
    params: dict = field(default_factory=dict)
    detach: bool = False         #: stop the gradient into the reference pass

    def __post_init__(self):
        check_choice("clamp kind", self.kind, tuple(CLAMPS))
        check_bool("clamp detach", self.detach)
        if not isinstance(self.params, dict):
            raise ConfigTypeError(f"clamp {self.kind}: params", self.params, "must be a mapping")
        spec = CLAMPS[self.kind].params
        unknown = sorted(set(self.params) - set(spec))
        if unknown:
            raise ConfigError(f"clamp {self.kind}: {unknown[0]}", self.params[unknown[0]],
                              f"unknown parameter; known: {', '.join(spec) or 'none'}")
        full = {}
        for pname, (typ, default) in spec.items():
            if pname in self.params:
                full[pname] = _norm_param(self.kind, pname, typ, self.params[pname])
            elif default is None:
                raise ConfigError(f"clamp {self.kind}: {pname}", None, "is required")
            else:
                full[pname] = default
        object.__setattr__(self, "params", {k: list(v) if isinstance(v, tuple) else v
                                            for k, v in full.items()})

    def check(self, cfg) -> None:
        """Check the parameters against a network (layer and head ranges)."""
        p = {k: tuple(v) if isinstance(v, list) else v for k, v in self.params.items()}
        CLAMPS[self.kind].check(cfg, p)


def validate_specs(cfg, specs) -> None:
    for s in specs:
        if not isinstance(s, ClampSpec):
            raise ConfigTypeError("clamps", s, "must be ClampSpec entries")
        s.check(cfg)


def build_plan(cfg, specs, batch) -> list[PassSpec]:
    """The passes of one step: reference passes first, the main (loss) pass last."""
    ctx = {"perfect_layer1": any(s.kind == "perfect_layer1" for s in specs)}
    passes = {MAIN: PassSpec(MAIN)}
    for s in specs:
        ctx["detach"] = s.detach
        for pname, ov in CLAMPS[s.kind].build(cfg, s.params, batch, ctx):
            passes.setdefault(pname, PassSpec(pname)).overrides.append(ov)
            if ov.source is not None:
                passes.setdefault(ov.source[0], PassSpec(ov.source[0]))
    return [passes[p] for p in PASS_ORDER if p in passes]


def pattern_allowed(cfg, T: int) -> np.ndarray:
    return np.tril(np.ones((T, T), bool)) if cfg.causal else np.ones((T, T), bool)


def check_override_targets(cfg, kind: int, act: str, mask_full: np.ndarray,
                           value_full: np.ndarray) -> None:
    """Attention to keys a query cannot see is structurally zero: a pattern clamp may not put
    weight there (clamped scores there are ignored by the softmax)."""
    if kind == LY.PATTERN and cfg.causal:
        T = mask_full.shape[-1]
        bad = mask_full & ~pattern_allowed(cfg, T) & (value_full != 0)
        if np.any(bad):
            raise ConfigError("clamp", act, "puts attention weight above the causal diagonal "
                              "(on keys a query cannot attend to)")


__all__ += ["prev_token_pattern", "induction_pattern_row", "pattern_allowed"]
