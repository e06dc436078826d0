"""Named activations of the transformer and where the kernels keep them (docs/transformer.md).

Public names (0-based layer indices ``l``, readout layer ``m``), in computation order::

    embed                       (n, T, d)     token/continuous embedding (+ positions)
    L{l}.ln                     (n, T, d)     pre-LayerNorm output feeding attention (norm="pre")
    L{l}.q, L{l}.k, L{l}.v      (n, H, T, dh) queries/keys after RoPE; values
    L{l}.scores                 (n, H, T, T)  scaled scores (pre-softmax); −inf at masked keys
    L{l}.pattern                (n, H, T, T)  attention weights (0 at masked keys)
    L{l}.z                      (n, H, T, dh) per-head outputs before W_O
    L{l}.attn_out               (n, T, d)     what attention adds to the residual
    L{l}.mid                    (n, T, d)     residual between attention and MLP (mlp only)
    L{l}.ln2                    (n, T, d)     LayerNorm before the MLP (mlp and norm="pre")
    L{l}.mlp_pre, L{l}.mlp_post (n, T, d_mlp) MLP hidden units before/after the nonlinearity
    L{l}.mlp_out                (n, T, d)
    L{l}.out                    (n, T, d)     residual after layer l (the layer's output)
    ln_final                    (n, T, d)     final LayerNorm (norm="pre")
    readout.h{m}                (n, T, d)     scalar-bias ReLU readout layers (readout_mlp > 0)
    logits                      (n, T, n_out)

All activations of a pass live in one flat buffer; :func:`layout` gives each (kind, layer) its
offset.  Kinds ≥ ``N_PUBLIC`` are internal (LayerNorm statistics, the unclamped softmax of a
clamped pattern, the readout's pre-activations).
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import ConfigError, UnknownNameError

# activation kinds (the kernels index the offset table with these)
EMBED, LN1, Q, K, V, SCORES, PATTERN, Z, ATTN_OUT, MID, LN2, MLP_PRE, MLP_POST, MLP_OUT, OUT, \
    LNF, RHID, LOGITS, PRAW, RPRE, ST1, ST2, STF = range(23)
N_KINDS = 23
N_PUBLIC = 18

_LAYER_NAMES = {"ln": LN1, "q": Q, "k": K, "v": V, "scores": SCORES, "pattern": PATTERN,
                "z": Z, "attn_out": ATTN_OUT, "mid": MID, "ln2": LN2, "mlp_pre": MLP_PRE,
                "mlp_post": MLP_POST, "mlp_out": MLP_OUT, "out": OUT}
_KIND_NAME = {v: k for k, v in _LAYER_NAMES.items()}
_NAME_RE = re.compile(r"^L(\d+)\.([a-z_0-9]+)$|^readout\.h(\d+)$|^(embed|ln_final|logits)$")


def present(cfg) -> list[tuple[int, int]]:
    """(kind, index) of every public activation of a network, in computation order."""
    out = [(EMBED, 0)]
    for l in range(cfg.n_layers):
        if cfg.norm == "pre":
            out.append((LN1, l))
        out += [(Q, l), (K, l), (V, l), (SCORES, l), (PATTERN, l), (Z, l), (ATTN_OUT, l)]
        if cfg.mlp:
            out.append((MID, l))
            if cfg.norm == "pre":
                out.append((LN2, l))
            out += [(MLP_PRE, l), (MLP_POST, l), (MLP_OUT, l)]
        out.append((OUT, l))
    if cfg.norm == "pre":
        out.append((LNF, 0))
    out += [(RHID, m) for m in range(cfg.readout_mlp)]
    out.append((LOGITS, 0))
    return out


def name_of(kind: int, idx: int) -> str:
    if kind == EMBED:
        return "embed"
    if kind == LNF:
        return "ln_final"
    if kind == LOGITS:
        return "logits"
    if kind == RHID:
        return f"readout.h{idx}"
    return f"L{idx}.{_KIND_NAME[kind]}"


def names(cfg) -> list[str]:
    """Every public activation name of a network, in computation order."""
    return [name_of(k, i) for k, i in present(cfg)]


def parse(cfg, name: str) -> tuple[int, int]:
    """(kind, index) of a public activation name; unknown or absent names are errors."""
    if not isinstance(name, str):
        raise ConfigError("activation", name, "must be a string such as 'L0.pattern'")
    m = _NAME_RE.match(name)
    key = None
    if m:
        if m.group(1) is not None and m.group(2) in _LAYER_NAMES:
            key = (_LAYER_NAMES[m.group(2)], int(m.group(1)))
        elif m.group(3) is not None:
            key = (RHID, int(m.group(3)))
        elif m.group(4) is not None:
            key = ({"embed": EMBED, "ln_final": LNF, "logits": LOGITS}[m.group(4)], 0)
    if key is None or key not in present(cfg):
        raise UnknownNameError(f"unknown activation {name!r} for this network; available: "
                               f"{', '.join(names(cfg))}")
    return key


def shape(cfg, kind: int, n: int, T: int) -> tuple[int, ...]:
    """Shape of one instance (one layer) of an activation kind."""
    d, H, dh = cfg.d_model, cfg.heads, cfg.head_dim
    if kind in (Q, K, V, Z):
        return (n, H, T, dh)
    if kind in (SCORES, PATTERN, PRAW):
        return (n, H, T, T)
    if kind in (MLP_PRE, MLP_POST):
        return (n, T, cfg.mlp_dim)
    if kind == LOGITS:
        return (n, T, cfg.n_out)
    if kind in (ST1, ST2, STF):
        return (n, T, 2)
    return (n, T, d)


def counts(cfg) -> np.ndarray:
    """Instances of each kind (layers, readout layers or 1; 0 when absent)."""
    c = np.zeros(N_KINDS, np.int64)
    for k, i in present(cfg):
        c[k] = max(c[k], i + 1)
    c[PRAW] = cfg.n_layers
    c[RPRE] = cfg.readout_mlp
    if cfg.norm == "pre":
        c[ST1] = cfg.n_layers
        c[STF] = 1
        if cfg.mlp:
            c[ST2] = cfg.n_layers
    return c


def layout(cfg, n: int, T: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(offs, sizes, total): offs[kind, i] is the flat offset of instance i of a kind (−1 when
    absent), sizes[kind] the size of one instance."""
    c = counts(cfg)
    width = int(max(1, c.max()))
    offs = np.full((N_KINDS, width), -1, np.int64)
    sizes = np.zeros(N_KINDS, np.int64)
    pos = 0
    for kind in range(N_KINDS):
        size = int(np.prod(shape(cfg, kind, n, T)))
        sizes[kind] = size
        for i in range(int(c[kind])):
            offs[kind, i] = pos
            pos += size
    return offs, sizes, pos
