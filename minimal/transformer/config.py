"""Configuration of the configurable tiny transformer (docs/transformer.md).

:class:`TransformerConfig` describes one network: layers of multi-head attention (softmax or
linear), optional MLP blocks, optional output projection W_O, optional pre-LayerNorm, positions
(none / one-hot / learned / RoPE), token and/or continuous inputs, an optional Reddy-style
scalar-bias ReLU readout, and the positions at which the loss is taken.

``vocab``, ``d_in`` and ``n_out`` may be left ``None`` in a run config: the task then sets them
(:meth:`TransformerConfig.resolve`).  A network is only built from a resolved config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..config import check_bool, check_choice, check_float, check_int, set_field
from ..errors import ConfigError

__all__ = ["TransformerConfig", "POSITIONS", "ATTENTION", "NORMS", "MLP_ACTS"]

POSITIONS = ("none", "onehot", "learned", "rope")
ATTENTION = ("softmax", "linear")
NORMS = ("none", "pre")
MLP_ACTS = ("relu", "gelu")

#: largest sizes accepted (the kernels hold every activation of a batch in memory)
MAX_LAYERS = 8
MAX_WIDTH = 4096
MAX_HEADS = 64
MAX_LEN = 4096


@dataclass(frozen=True)
class TransformerConfig:
    """One network (defaults: Singh et al.'s 2-layer, 8-head, d = 64, RoPE, pre-LN,
    attention-only model with W_O, loss at the last position)."""

    n_layers: int = 2            #: attention layers (1–8)
    d_model: int = 64            #: residual width d
    heads: int = 8               #: heads per layer H
    d_head: int | None = None    #: head width (None: d_model // heads)
    w_o: bool = True             #: output projection; without it head h writes dims [h dh, (h+1) dh)
    norm: str = "pre"            #: "pre": LayerNorm before every block and before the readout
    ln_eps: float = 1e-5
    mlp: bool = False            #: an MLP block after each attention block
    d_mlp: int | None = None     #: MLP width (None: 4 d_model)
    mlp_act: str = "gelu"        #: relu or gelu (exact, erf form)
    positions: str = "rope"      #: none | onehot (dims [0, max_len) of the residual) | learned | rope
    max_len: int = 32            #: positions supported (one-hot width, learned table, RoPE table)
    rope_base: float = 10000.0
    momentum: float = 0.0        #: momentum shear γ of queries and keys after RoPE (Maitra 2026):
    #: q̂_t = q_t + γ(q_t − q_{t−1}), k̂ likewise, q_{−1} := q_0; 0: off; −1: the previous q
    smear_keys: bool = False     #: keys k̂_t = σ(α_h) k_t + (1 − σ(α_h)) k_{t−1}, α learned per head
    attention: str = "softmax"   #: softmax or linear (pattern = scaled scores, no normalisation)
    causal: bool = True
    qk_scale: float | None = None  #: score scale (None: 1/√d_head)
    vocab: int | None = None     #: token embedding rows (0: no tokens; None: set by the task)
    d_in: int | None = None      #: continuous input width (0: none; None: set by the task)
    in_proj: bool = True         #: continuous inputs through a learned linear map (else placed as is)
    in_bias: bool = True         #: bias of that map (applied at continuous positions only)
    n_out: int | None = None     #: logits per position (None: set by the task)
    unembed_bias: bool = True
    readout_mlp: int = 0         #: ReLU layers (width d, one scalar bias each) before the unembedding
    loss_positions: tuple[int, ...] | None = (-1,)  #: positions with a loss (negative: from the
    #: end); None: every position (a language model)
    init_std: float | None = None  #: std of the weight matrices (None: 1/√fan_in)
    embed_std: float = 0.02      #: std of the token and learned positional embeddings
    dtype: str = "float32"

    def __post_init__(self):
        check_int("n_layers", self.n_layers, 1, MAX_LAYERS)
        check_int("d_model", self.d_model, 1, MAX_WIDTH)
        check_int("heads", self.heads, 1, MAX_HEADS)
        if self.d_head is not None:
            check_int("d_head", self.d_head, 1, MAX_WIDTH)
        elif self.d_model % self.heads:
            raise ConfigError("heads", self.heads, f"must divide d_model={self.d_model} when "
                              "d_head is not given")
        check_bool("w_o", self.w_o)
        check_choice("norm", self.norm, NORMS)
        set_field(self, "ln_eps", check_float("ln_eps", self.ln_eps, 0.0, 1.0, lo_open=True))
        check_bool("mlp", self.mlp)
        if self.d_mlp is not None:
            check_int("d_mlp", self.d_mlp, 1, 4 * MAX_WIDTH)
        check_choice("mlp_act", self.mlp_act, MLP_ACTS)
        check_choice("positions", self.positions, POSITIONS)
        check_int("max_len", self.max_len, 1, MAX_LEN)
        set_field(self, "rope_base", check_float("rope_base", self.rope_base, 1.0, 1e9))
        set_field(self, "momentum", check_float("momentum", self.momentum, -1.0, 100.0))
        check_bool("smear_keys", self.smear_keys)
        check_choice("attention", self.attention, ATTENTION)
        check_bool("causal", self.causal)
        if self.qk_scale is not None:
            set_field(self, "qk_scale", check_float("qk_scale", self.qk_scale, 0.0, 1e6,
                                                    lo_open=True))
        for name in ("vocab", "d_in"):
            v = getattr(self, name)
            if v is not None:
                check_int(name, v, 0, 10**6)
        if self.n_out is not None:
            check_int("n_out", self.n_out, 1, 10**6)
        check_bool("in_proj", self.in_proj)
        check_bool("in_bias", self.in_bias)
        check_bool("unembed_bias", self.unembed_bias)
        check_int("readout_mlp", self.readout_mlp, 0, 4)
        if self.loss_positions is not None:
            if not isinstance(self.loss_positions, tuple) or not self.loss_positions:
                raise ConfigError("loss_positions", self.loss_positions,
                                  "must be a non-empty list of positions or null (every "
                                  "position)")
            for p in self.loss_positions:
                check_int("loss_positions", p, -MAX_LEN, MAX_LEN - 1)
        if self.init_std is not None:
            set_field(self, "init_std", check_float("init_std", self.init_std, 0.0, 100.0,
                                                    lo_open=True))
        set_field(self, "embed_std", check_float("embed_std", self.embed_std, 0.0, 100.0))
        check_choice("dtype", self.dtype, ("float32", "float64"))
        # cross-field rules
        dh = self.head_dim
        if not self.w_o and self.heads * dh != self.d_model:
            raise ConfigError("w_o", False, f"without an output projection the heads must tile "
                              f"the residual: heads × d_head = {self.heads} × {dh} ≠ d_model = "
                              f"{self.d_model}")
        if self.positions == "rope" and dh % 2:
            raise ConfigError("d_head", dh, "must be even with RoPE (rotations act on pairs)")
        if self.positions == "onehot" and self.max_len >= self.d_model:
            raise ConfigError("max_len", self.max_len, f"must be < d_model={self.d_model} with "
                              "one-hot positions (they occupy dims [0, max_len) of the "
                              "residual)")
        if self.vocab is not None and self.d_in is not None:
            if self.vocab == 0 and self.d_in == 0:
                raise ConfigError("vocab", 0, "the network needs inputs: vocab > 0 (tokens) "
                                  "and/or d_in > 0 (continuous inputs)")
        if self.d_in and not self.in_proj and self.d_in != self.d_embed:
            raise ConfigError("d_in", self.d_in, f"must equal the embedding width "
                              f"{self.d_embed} (d_model minus one-hot positions) when "
                              "in_proj is false (inputs are placed into the residual as is)")

    # -- derived sizes ------------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.d_head if self.d_head is not None else self.d_model // self.heads

    @property
    def mlp_dim(self) -> int:
        return self.d_mlp if self.d_mlp is not None else 4 * self.d_model

    @property
    def onehot_dims(self) -> int:
        """Residual dims holding the one-hot position (0 unless positions == onehot)."""
        return self.max_len if self.positions == "onehot" else 0

    @property
    def d_embed(self) -> int:
        """Width of the token/continuous embedding (the residual minus one-hot positions)."""
        return self.d_model - self.onehot_dims

    @property
    def scale(self) -> float:
        return self.qk_scale if self.qk_scale is not None else 1.0 / math.sqrt(self.head_dim)

    @property
    def resolved_ok(self) -> bool:
        return None not in (self.vocab, self.d_in, self.n_out)

    def resolve(self, vocab: int | None = None, d_in: int | None = None,
                n_out: int | None = None, prefix: str = "model") -> "TransformerConfig":
        """The config with the task-given sizes filled in; an explicit value that differs from
        the task's is an error (it could not be trained on that task)."""
        new = {}
        for name, v in (("vocab", vocab), ("d_in", d_in), ("n_out", n_out)):
            cur = getattr(self, name)
            if v is None:
                continue
            if cur is not None and cur != v:
                raise ConfigError(f"{prefix}.{name}", cur, f"does not match the task, which "
                                  f"needs {v} (leave it null to take the task's value)")
            new[name] = v
        try:
            return replace(self, **new)
        except ConfigError as err:
            raise err.with_prefix(prefix) from None

    def positions_for(self, T: int) -> tuple[int, ...]:
        """The loss positions for sequences of length T (sorted, non-negative)."""
        if self.loss_positions is None:
            return tuple(range(T))
        out = set()
        for p in self.loss_positions:
            q = p + T if p < 0 else p
            if not 0 <= q < T:
                raise ConfigError("loss_positions", p, f"is outside sequences of length {T}")
            out.add(q)
        return tuple(sorted(out))


# ----------------------------------------------------------------------------------------------
# run configs and presets (the Singh task; docs/clamping.md)
# ----------------------------------------------------------------------------------------------

import dataclasses  # noqa: E402

from ..config import PresetRegistry, Seeds  # noqa: E402
from ..tasks.config import SinghTaskConfig  # noqa: E402
from ..training.config import OptimConfig, TrainConfig  # noqa: E402
from .clamps import ClampSpec  # noqa: E402

#: the learning rate of the study (docs/clamping.md explains the choice; the paper used 1e-5)
SINGH_LR = 1e-4


@dataclass(frozen=True)
class TransformerRunConfig:
    """Everything ``minimal clamp train`` needs: task, network, training clamps, optimiser,
    loop and seeds.  The network's vocab (= labels), d_in (= D_f) and n_out (= labels) come
    from the task unless set."""

    task: SinghTaskConfig = dataclasses.field(default_factory=SinghTaskConfig)
    model: TransformerConfig = dataclasses.field(default_factory=TransformerConfig)
    clamps: tuple[ClampSpec, ...] = ()
    optim: OptimConfig = dataclasses.field(
        default_factory=lambda: OptimConfig(name="adam", lr=SINGH_LR, weight_decay=0.0))
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=100_000, eval_every=1000, eval_chunk=1000))
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        for name, cls in (("task", SinghTaskConfig), ("model", TransformerConfig),
                          ("optim", OptimConfig), ("train", TrainConfig), ("seeds", Seeds)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, getattr(self, name), f"must be a {cls.__name__}")
        if not isinstance(self.clamps, tuple):
            raise ConfigError("clamps", self.clamps, "must be a list of clamp entries")
        net = self.net_config()
        for i, s in enumerate(self.clamps):
            if not isinstance(s, ClampSpec):
                raise ConfigError(f"clamps[{i}]", s, "must be a clamp entry {kind, params}")
            try:
                s.check(net)
            except ConfigError as err:
                raise err.with_prefix(f"clamps[{i}]") from None
        if 5 > net.max_len and net.positions != "none":
            raise ConfigError("model.max_len", net.max_len, "must be ≥ 5 (the sequence length)")

    def net_config(self) -> TransformerConfig:
        """The network with the task's sizes filled in."""
        t = self.task
        return self.model.resolve(vocab=t.n_labels, d_in=t.D_f, n_out=t.n_labels)


def keep_one(head: int = 0, layer: int = 1) -> ClampSpec:
    return ClampSpec("keep_heads", {"layer": layer, "heads": [head]})


#: the clamps of each study run (subcircuits A, B, C of docs/clamping.md), one layer-2 head kept
STUDY_CLAMPS = {
    "full": (),
    "unclamped": (keep_one(),),
    "A": (ClampSpec("perfect_layer1"), keep_one()),
    "B": (ClampSpec("induction_match", {"layer": 1, "head": 0}), keep_one()),
    "C": (ClampSpec("perfect_copy", {"layer": 1, "head": 0}),),
    "B-evolution": (ClampSpec("perfect_layer1"), ClampSpec("perfect_copy", {"layer": 1, "head": 0}),
                    keep_one()),
}
_DESC = {
    "full": "all 8 layer-2 heads, no clamp (the phase change and the head measures)",
    "unclamped": "one layer-2 head kept (head 0), no other clamp: the baseline of A/B/C",
    "A": "subcircuit A clamped: perfect layer 1 (previous-token copy), one layer-2 head",
    "B": "subcircuit B clamped: perfect induction match on head 0 (= C evolution)",
    "C": "subcircuit C clamped: perfect copy from head 0's scores",
    "B-evolution": "A and C clamped: the match subcircuit B evolves alone",
}

TRANSFORMER_PRESETS = PresetRegistry("clamp")
for _name, _cl in STUDY_CLAMPS.items():
    TRANSFORMER_PRESETS.register(
        f"singh-{_name}", (lambda c: lambda: TransformerRunConfig(clamps=c))(_cl), _DESC[_name])
