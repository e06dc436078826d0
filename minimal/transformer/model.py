"""The configurable tiny transformer: public, validating wrapper around the Numba kernels.

::

    net = Transformer(cfg, clamps=[ClampSpec("keep_heads", {"layer": 1, "heads": [0]})])
    params = net.init(rng)
    loss, grads, n_correct = net.loss_and_grads(params, batch)      # the training clamps apply
    acts = net.forward(params, batch, record=["L0.pattern", "L1.z", "logits"])
    acts = net.forward(params, batch, record=["logits"], clamps=None,
                       overrides=[Override("L1.z", mask, 0.0)])      # a zero-ablation

It implements the training layer's model protocol (docs/architecture.md).  Parameters
(TransformerLens-style shapes, layers stacked on the first axis)::

    W_E (vocab, d_e)   W_in (d_in, d_e)  b_in (d_e,)   W_pos (max_len, d)
    ln1_w, ln1_b (L, d)   W_Q, W_K, W_V (L, H, d, dh)   W_O (L, H, dh, d)
    ln2_w, ln2_b (L, d)   W_1 (L, d, d_mlp)  b_1 (L, d_mlp)  W_2 (L, d_mlp, d)  b_2 (L, d)
    lnf_w, lnf_b (d,)     R_W (M, d, d) (out × in)  R_b (M,) scalars
    W_U (d, n_out)  b_U (n_out,)      smear (L, H) smeared-key logits α (smear_keys only)

with d_e = d − (one-hot position dims).  Absent components have no entry.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError, ConfigTypeError
from ..tasks.seq import SeqBatch
from ..training.params import check_arrays, check_grads
import minimal.transformer._kernels as _K
import minimal.transformer.layout as LY
from .clamps import (ClampSpec, Override, PassSpec, build_plan, check_override_targets,
                     validate_specs, MAIN)
from .config import TransformerConfig
from .reference import rope_tables

PARAM_ORDER = ("W_E", "W_in", "b_in", "W_pos", "ln1_w", "ln1_b", "W_Q", "W_K", "W_V", "W_O",
               "ln2_w", "ln2_b", "W_1", "b_1", "W_2", "b_2", "lnf_w", "lnf_b", "R_W", "R_b",
               "W_U", "b_U", "smear")
_NDIM = {"W_E": 2, "W_in": 2, "b_in": 1, "W_pos": 2, "ln1_w": 2, "ln1_b": 2, "W_Q": 4,
         "W_K": 4, "W_V": 4, "W_O": 4, "ln2_w": 2, "ln2_b": 2, "W_1": 3, "b_1": 2, "W_2": 3,
         "b_2": 2, "lnf_w": 1, "lnf_b": 1, "R_W": 3, "R_b": 1, "W_U": 2, "b_U": 1,
         "smear": 2}
_POS_CODE = {"none": _K.POS_NONE, "onehot": _K.POS_ONEHOT, "learned": _K.POS_LEARNED,
             "rope": _K.POS_ROPE}
#: largest batch × length the kernels accept in one call (memory: every activation is kept)
MAX_TOKENS = 2_000_000


class _Work:
    """Buffers of one pass for one (n, T)."""

    def __init__(self, total, dtype, offs_shape):
        self.buf = np.zeros(total, dtype)
        self.dbuf = np.zeros(total, dtype)
        self.inj = np.zeros(total, dtype)
        self.dval = np.zeros(total, dtype)
        self.cmask = np.zeros(total, np.bool_)
        self.cval = np.zeros(total, dtype)
        self.cflag = np.zeros(offs_shape, np.bool_)
        self.iflag = np.zeros(offs_shape, np.bool_)
        self.touched: list[tuple[int, int]] = []

    def reset_clamps(self):
        for o, s in self.touched:
            self.cmask[o:o + s] = False
        self.touched = []
        self.cflag[:] = False
        self.iflag[:] = False


class Transformer:
    """Model object: shapes, initialisation, loss and gradients with clamps, named activations.

    ``clamps``: the training clamps (:class:`ClampSpec`), applied in every training step and,
    by default, in evaluation.  ``eval_names``: names of the evaluation sets whose loss and
    accuracy :meth:`evaluate` reports (the metrics columns)."""

    def __init__(self, cfg: TransformerConfig, clamps=(), eval_names=("eval",)):
        if not isinstance(cfg, TransformerConfig):
            raise ConfigTypeError("model", type(cfg).__name__, "must be a TransformerConfig")
        if not cfg.resolved_ok:
            raise ConfigError("model", f"vocab={cfg.vocab}, d_in={cfg.d_in}, n_out={cfg.n_out}",
                              "vocab, d_in and n_out must be set (resolve the config against "
                              "a task first)")
        if cfg.vocab == 0 and cfg.d_in == 0:
            raise ConfigError("model.vocab", 0, "the network needs token or continuous inputs")
        self.cfg = cfg
        self.clamps = tuple(clamps)
        validate_specs(cfg, self.clamps)
        self.dtype = np.dtype(cfg.dtype)
        self.eval_names = tuple(eval_names)
        cols = ["step", "loss", "acc"]
        for nm in self.eval_names[1:]:
            cols += [f"{nm}_loss", f"{nm}_acc"]
        self.columns = tuple(cols)
        self.chance_loss = math.log(cfg.n_out) if cfg.n_out > 1 else None
        c = cfg
        ci = np.zeros(_K.N_CI, np.int64)
        ci[_K.CI_LAYERS], ci[_K.CI_H], ci[_K.CI_DH] = c.n_layers, c.heads, c.head_dim
        ci[_K.CI_LN] = c.norm == "pre"
        ci[_K.CI_MLP], ci[_K.CI_GELU] = c.mlp, c.mlp_act == "gelu"
        ci[_K.CI_POS], ci[_K.CI_P1] = _POS_CODE[c.positions], c.onehot_dims
        ci[_K.CI_LINEAR], ci[_K.CI_CAUSAL] = c.attention == "linear", c.causal
        ci[_K.CI_VOCAB], ci[_K.CI_DIN] = c.vocab, c.d_in
        ci[_K.CI_INPROJ], ci[_K.CI_INBIAS] = c.in_proj, c.in_bias
        ci[_K.CI_UBIAS], ci[_K.CI_NREAD] = c.unembed_bias, c.readout_mlp
        ci[_K.CI_D], ci[_K.CI_DM], ci[_K.CI_C] = c.d_model, c.mlp_dim if c.mlp else 0, c.n_out
        ci[_K.CI_WO], ci[_K.CI_SMEAR] = c.w_o, c.smear_keys
        self._ci = ci
        self._cf = np.array([c.ln_eps, c.scale, c.momentum], np.float64)
        if c.positions == "rope":
            cos, sin = rope_tables(c)
        else:
            cos = sin = np.zeros((0, 0))
        self._cos = np.ascontiguousarray(cos, self.dtype)
        self._sin = np.ascontiguousarray(sin, self.dtype)
        self._ws: dict = {}
        self._layouts: dict = {}
        self._empty = {k: np.zeros((0,) * nd, self.dtype) for k, nd in _NDIM.items()}
        self._plan_cache: dict = {}

    # -- parameters ---------------------------------------------------------------------------
    def shapes(self) -> dict[str, tuple]:
        c = self.cfg
        Ly, d, H, dh, de = c.n_layers, c.d_model, c.heads, c.head_dim, c.d_embed
        s = {}
        if c.vocab:
            s["W_E"] = (c.vocab, de)
        if c.d_in and c.in_proj:
            s["W_in"] = (c.d_in, de)
            if c.in_bias:
                s["b_in"] = (de,)
        if c.positions == "learned":
            s["W_pos"] = (c.max_len, d)
        if c.norm == "pre":
            s["ln1_w"] = s["ln1_b"] = (Ly, d)
        s["W_Q"] = s["W_K"] = s["W_V"] = (Ly, H, d, dh)
        if c.w_o:
            s["W_O"] = (Ly, H, dh, d)
        if c.mlp:
            if c.norm == "pre":
                s["ln2_w"] = s["ln2_b"] = (Ly, d)
            s["W_1"], s["b_1"] = (Ly, d, c.mlp_dim), (Ly, c.mlp_dim)
            s["W_2"], s["b_2"] = (Ly, c.mlp_dim, d), (Ly, d)
        if c.norm == "pre":
            s["lnf_w"] = s["lnf_b"] = (d,)
        if c.readout_mlp:
            s["R_W"], s["R_b"] = (c.readout_mlp, d, d), (c.readout_mlp,)
        s["W_U"] = (d, c.n_out)
        if c.unembed_bias:
            s["b_U"] = (c.n_out,)
        if c.smear_keys:
            s["smear"] = (Ly, H)
        return s

    def n_params(self) -> int:
        return int(sum(np.prod(s) for s in self.shapes().values()))

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Weight matrices N(0, 1/fan_in) (or ``init_std``²), embeddings N(0, embed_std²),
        LayerNorm gains 1, biases and smeared-key logits 0 (an even mix σ(0) = ½); the Reddy readout as in docs/network.md (He-normal
        weights, N(0, 1/d) scalar biases)."""
        c = self.cfg
        out = {}
        for k, shp in self.shapes().items():
            if k in ("W_E", "W_pos"):
                v = rng.normal(0.0, c.embed_std, shp) if c.embed_std > 0 else np.zeros(shp)
            elif k in ("ln1_w", "ln2_w", "lnf_w"):
                v = np.ones(shp)
            elif k in ("b_in", "ln1_b", "ln2_b", "b_1", "b_2", "lnf_b", "b_U", "smear"):
                v = np.zeros(shp)
            elif k == "R_W":
                v = rng.normal(0.0, math.sqrt(2.0 / c.d_model), shp)
            elif k == "R_b":
                v = rng.normal(0.0, math.sqrt(1.0 / c.d_model), shp)
            else:
                fan_in = {"W_in": c.d_in, "W_O": c.heads * c.head_dim, "W_2": c.mlp_dim}.get(
                    k, c.d_model)
                std = c.init_std if c.init_std is not None else 1.0 / math.sqrt(fan_in)
                v = rng.normal(0.0, std, shp)
            out[k] = np.ascontiguousarray(v, self.dtype)
        return out

    def check_params(self, params: dict) -> dict:
        return check_arrays("params", params, self.shapes(), self.dtype)

    def _pargs(self, p: dict) -> tuple:
        return tuple(p.get(k, self._empty[k]) for k in PARAM_ORDER)

    # -- inputs -------------------------------------------------------------------------------
    def _inputs(self, batch: SeqBatch):
        c = self.cfg
        if not isinstance(batch, SeqBatch):
            raise ConfigTypeError("batch", type(batch).__name__, "must be a SeqBatch")
        n, T = batch.targets.shape
        if n < 1 or T < 1 or n * T > MAX_TOKENS:
            raise ConfigError("batch", f"{n}×{T}", f"needs 1 ≤ n·T ≤ {MAX_TOKENS}")
        if batch.positions is None:
            pos = np.broadcast_to(np.arange(T, dtype=np.int64), (n, T))
        else:
            pos = batch.positions
        pos = np.ascontiguousarray(pos, np.int64)
        if c.positions != "none" and (pos.min() < 0 or pos.max() >= c.max_len):
            raise ConfigError("batch.positions", f"{pos.min()}..{pos.max()}",
                              f"must lie in [0, max_len={c.max_len})")
        if batch.tokens is None:
            tok = np.full((n, T), -1, np.int64)
        else:
            tok = np.ascontiguousarray(batch.tokens, np.int64)
        if c.vocab:
            if tok.max() >= c.vocab:
                raise ConfigError("batch.tokens", int(tok.max()), f"must be < vocab={c.vocab}")
            if not c.d_in and tok.min() < 0:
                raise ConfigError("batch.tokens", int(tok.min()), "must be ≥ 0 (the network "
                                  "has no continuous inputs)")
        if c.d_in:
            if batch.x is None or batch.x.shape[2] != c.d_in:
                raise ConfigError("batch.x", None if batch.x is None else batch.x.shape,
                                  f"must be (n, T, d_in={c.d_in})")
            X = batch.x
            if X.dtype != self.dtype or not X.flags.c_contiguous:
                X = np.ascontiguousarray(X, self.dtype)
        else:
            X = np.zeros((n, T, 0), self.dtype)
        tg = np.ascontiguousarray(batch.targets, np.int64)
        if tg.max() >= c.n_out:
            raise ConfigError("batch.targets", int(tg.max()), f"must be < n_out={c.n_out}")
        rows = np.asarray(c.positions_for(T), np.int64)
        if c.loss_positions is not None:
            off = np.ones(T, bool)
            off[rows] = False
            if np.any(tg[:, off] >= 0):
                raise ConfigError("batch.targets", "targets outside loss_positions",
                                  f"only positions {list(rows)} may carry a target")
        return n, T, tok, X, pos, tg, rows

    def _layout(self, n, T):
        key = (n, T)
        if key not in self._layouts:
            if len(self._layouts) > 8:
                self._layouts.clear()
                self._ws.clear()
            self._layouts[key] = LY.layout(self.cfg, n, T)
        return self._layouts[key]

    def _work(self, n, T, name):
        key = (n, T, name)
        if key not in self._ws:
            offs, _, total = self._layout(n, T)
            self._ws[key] = _Work(total, self.dtype, offs.shape)
        return self._ws[key]

    def _segment(self, n, T, act):
        kind, idx = LY.parse(self.cfg, act)
        offs, sizes, _ = self._layout(n, T)
        o, s = int(offs[kind, idx]), int(sizes[kind])
        return kind, idx, o, s, LY.shape(self.cfg, kind, n, T)

    # -- passes -------------------------------------------------------------------------------
    def _apply_overrides(self, ps: PassSpec, w: _Work, n, T, works):
        w.reset_clamps()
        for ov in ps.overrides:
            kind, idx, o, s, shp = self._segment(n, T, ov.act)
            try:
                mask = np.broadcast_to(np.asarray(ov.mask, bool), shp)
                val = np.broadcast_to(np.asarray(ov.value, self.dtype), shp)
            except ValueError:
                raise ConfigError("override", ov.act, f"mask/value do not broadcast to the "
                                  f"activation's shape {shp}") from None
            if ov.source is not None:
                sp, sa = ov.source
                if sp not in works:
                    raise ConfigError("override", ov.act, f"reads pass {sp!r}, which is not "
                                      "computed before it")
                _, _, so, ss, _ = self._segment(n, T, sa)
                src = works[sp].buf[so:so + ss]
                index = np.broadcast_to(np.asarray(ov.index, np.int64), shp)
                if index.max(initial=-1) >= ss:
                    raise ConfigError("override", ov.act, "gather index outside the source")
                val = np.where(index >= 0, src[np.maximum(index, 0)], val)
            check_override_targets(self.cfg, kind, ov.act, mask, val)
            seg_m = w.cmask[o:o + s].reshape(shp)
            seg_v = w.cval[o:o + s].reshape(shp)
            np.copyto(seg_v, val, where=mask)
            seg_m |= mask
            w.cflag[kind, idx] = True
            w.touched.append((o, s))

    def _forward_pass(self, pargs, inputs, w: _Work, n, T, rows, upto):
        tok, X, pos = inputs
        offs = self._layout(n, T)[0]
        _K._forward(self._ci, self._cf, tok, X, pos, self._cos, self._sin, *pargs,
                    w.buf, offs, w.cmask, w.cval, w.cflag, rows, self._all_rows(T), upto)

    def _depth(self, kind: int, idx: int) -> int:
        """Layers a forward pass must compute to produce activation (kind, idx)."""
        if kind == LY.EMBED:
            return 0
        if kind in (LY.LNF, LY.RHID, LY.LOGITS):
            return self.cfg.n_layers
        return idx + 1

    def _all_rows(self, T):
        key = ("rows", T)
        if key not in self._plan_cache:
            self._plan_cache[key] = np.arange(T, dtype=np.int64)
        return self._plan_cache[key]

    def _plan(self, specs, batch, overrides) -> list[PassSpec]:
        plan = build_plan(self.cfg, specs, batch) if specs else [PassSpec(MAIN)]
        if overrides:
            plan[-1] = PassSpec(MAIN, list(plan[-1].overrides) + list(overrides))
            for ov in overrides:
                if ov.source is not None and ov.source[0] not in [p.name for p in plan]:
                    plan.insert(0, PassSpec(ov.source[0]))
        return plan

    def _run(self, params, batch, specs, overrides=(), grads=None, record=None, full=False):
        """Forward (and with ``grads`` backward) through every pass of the plan."""
        p = self.check_params(params)
        n, T, tok, X, pos, tg, rows = self._inputs(batch)
        inputs = (tok, X, pos)
        pargs = self._pargs(p)
        plan = self._plan(specs, batch, overrides)
        all_rows = self._all_rows(T)
        works = {}
        nl = self.cfg.n_layers
        # a reference pass only runs as deep as the activations later passes read from it
        need = {ps.name: 0 for ps in plan}
        for ps in plan:
            for ov in ps.overrides:
                if ov.source is not None and ov.source[0] in need:
                    need[ov.source[0]] = max(need[ov.source[0]], self._depth(
                        *LY.parse(self.cfg, ov.source[1])))
        for ps in plan:
            w = self._work(n, T, ps.name)
            self._apply_overrides(ps, w, n, T, works)
            main = ps.name == MAIN
            r = rows if (main and not full) else all_rows
            self._forward_pass(pargs, inputs, w, n, T, r, nl if main else need[ps.name])
            works[ps.name] = w
        out = {}
        if record:
            w = works[MAIN]
            for name in record:
                _, _, o, s, shp = self._segment(n, T, name)
                out[name] = w.buf[o:o + s].reshape(shp).copy()
        if grads is None:
            return out, (n, T, tg, rows)
        check_grads(grads, p)
        gargs = tuple(grads.get(k, self._empty[k]) for k in PARAM_ORDER)
        for g in grads.values():
            g.fill(0.0)
        offs = self._layout(n, T)[0]
        loss = correct = cnt = 0
        for ps in reversed(plan):
            w = works[ps.name]
            main = ps.name == MAIN
            if not main and not w.iflag.any():
                continue
            r = rows if (main and not full) else all_rows
            if main:
                head, top = True, nl - 1
            else:
                kinds, idxs = np.nonzero(w.iflag)
                head = bool(np.isin(kinds, (LY.LNF, LY.RHID, LY.LOGITS)).any())
                depth = [self._depth(k, i) for k, i in zip(kinds, idxs)]
                top = nl - 1 if head else max(depth) - 1
            lo, co, ct = _K._backward(self._ci, self._cf, tok, X, pos, self._cos, self._sin, tg,
                                      main, *pargs, *gargs, w.buf, w.dbuf, w.inj, offs,
                                      w.cmask, w.cflag, w.iflag, w.dval, r, all_rows, head,
                                      top)
            if main:
                loss, correct, cnt = lo, co, ct
            later: dict[str, np.ndarray] = {}      # union of the masks of later overrides
            for ov in reversed(ps.overrides):
                kind, idx, o, s, shp = self._segment(n, T, ov.act)
                mask = np.broadcast_to(np.asarray(ov.mask, bool), shp)
                hidden = later.get(ov.act)
                later[ov.act] = mask if hidden is None else (mask | hidden)
                if ov.source is None or ov.detach:
                    continue
                index = np.broadcast_to(np.asarray(ov.index, np.int64), shp)
                sel = mask & (index >= 0)
                if hidden is not None:
                    sel = sel & ~hidden
                skind, sidx, so, ss, _ = self._segment(n, T, ov.source[1])
                src = works[ov.source[0]]
                if not src.iflag[skind, sidx]:
                    src.inj[so:so + ss] = 0.0
                    src.iflag[skind, sidx] = True
                dv = w.dval[o:o + s].reshape(shp)
                src.inj[so:so + ss] += np.bincount(index[sel], weights=dv[sel],
                                                   minlength=ss).astype(self.dtype)
        return out, (float(loss), int(correct), int(cnt))

    # -- public API ---------------------------------------------------------------------------
    def loss_and_grads(self, params: dict, batch: SeqBatch, grads: dict | None = None):
        """Mean cross-entropy over the positions with a target (training clamps applied), its
        gradients (written into ``grads`` when given) and the number of correct predictions."""
        if grads is None:
            grads = {k: np.empty(s, self.dtype) for k, s in self.shapes().items()}
        _, (loss, correct, _) = self._run(params, batch, self.clamps, grads=grads)
        return loss, grads, correct

    def forward(self, params: dict, batch: SeqBatch, record=("logits",), clamps="train",
                overrides=(), full: bool | None = None) -> dict[str, np.ndarray]:
        """Named activations of the main pass (copies).  ``clamps``: "train" (the model's
        training clamps), None (none) or a list of :class:`ClampSpec`; ``overrides``: extra
        :class:`Override` clamps of the main pass (applied after the clamps).  ``full``: compute
        every row of the last layer (default: unless only ``logits`` are recorded)."""
        specs = self.clamps if clamps == "train" else tuple(clamps or ())
        if specs is not self.clamps:
            validate_specs(self.cfg, specs)
        record = list(record or ())
        for name in record:
            LY.parse(self.cfg, name)
        if full is None:
            full = any(r != "logits" for r in record)
        out, _ = self._run(params, batch, specs, overrides, record=record, full=full)
        return out

    def activation_names(self) -> list[str]:
        return LY.names(self.cfg)

    def evaluate(self, params: dict, sets: dict, chunk: int = 1000) -> dict:
        """Loss and accuracy (at the positions with targets) on each evaluation set, under the
        training clamps; the first set's are ``loss`` and ``acc``."""
        row = {}
        for i, name in enumerate(self.eval_names):
            batch = sets[name]
            tot = cor = cnt = 0.0
            for s in range(0, len(batch), chunk):
                sub = batch.subset(slice(s, s + chunk))
                lg = self.forward(params, sub, ("logits",), full=False)["logits"]
                lo, c, k = _ce(lg, sub.targets)
                tot += lo * k
                cor += c
                cnt += k
            key = "" if i == 0 else f"{name}_"
            row[f"{key}loss"] = tot / max(cnt, 1)
            row[f"{key}acc"] = cor / max(cnt, 1)
        return row

    def flops_per_step(self, n: int, T: int) -> float:
        """Multiply-adds × 2 of one unclamped training step (forward + backward), counting the
        matrix products and attention at the rows the kernels compute."""
        c = self.cfg
        d, H, dh = c.d_model, c.heads, c.head_dim
        nr = len(c.positions_for(T))
        rows = [T] * (c.n_layers - 1) + [nr]
        f = 0.0
        if c.d_in and c.in_proj:
            f += 2 * n * T * c.d_in * c.d_embed * 2          # forward + weight gradient
        for r in rows:
            f += 2 * n * T * d * 3 * H * dh * 3               # QKV: forward, dW, dX
            causal_pairs = (r * (r + 1) / 2) if (c.causal and r == T) else r * T
            f += 2 * n * H * causal_pairs * dh * 2 * 3        # scores and mixing, fwd + bwd
            if c.w_o:
                f += 2 * n * r * H * dh * d * 3
            if c.mlp:
                f += 2 * n * r * d * c.mlp_dim * 2 * 3
        f += 2 * n * nr * d * d * c.readout_mlp * 3
        f += 2 * n * nr * d * c.n_out * 3
        return f


def _ce(logits, targets):
    has = targets >= 0
    cnt = int(has.sum())
    if cnt == 0:
        return 0.0, 0, 0
    lg = logits[has].astype(np.float64)
    t = targets[has].astype(np.int64)
    z = lg - lg.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1))
    loss = float((lse - z[np.arange(len(t)), t]).mean())
    correct = int((lg.argmax(1) == t).sum())
    return loss, correct, cnt


__all__ = ["Transformer", "ClampSpec", "Override", "PARAM_ORDER"]
