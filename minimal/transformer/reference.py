"""Plain NumPy float64 reference of the transformer (slow, obviously correct).

Every position of every layer, full arrays, the textbook backward pass of each component.  A
clamp (``overrides[name] = (mask, value)``) replaces an activation element-wise right after it
is computed: a ← where(mask, value, a).  In the backward pass the gradient reaching a clamped
element is reported (``dvalues[name]``, the gradient with respect to the clamp value) and stops
there; gradients injected from other passes (``inject[name]``) add to the activation's gradient
before that split.  The tests compare the Numba kernels with this module and both with finite
differences.
"""

from __future__ import annotations

import math

import numpy as np

import minimal.transformer.layout as LY

try:
    from scipy.special import erf as _erf
except ImportError:  # pragma: no cover
    _erf = np.vectorize(math.erf)


def _p(params):
    return {k: np.asarray(v, np.float64) for k, v in params.items()}


def rope_tables(cfg) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin of the rotation angles, (max_len, d_head/2): pair m of position p turns by
    p · base^(−2m/d_head)."""
    half = cfg.head_dim // 2
    inv = cfg.rope_base ** (-2.0 * np.arange(half) / cfg.head_dim)
    ang = np.arange(cfg.max_len)[:, None] * inv[None, :]
    return np.cos(ang), np.sin(ang)


def _rope(x, pos, cos, sin, inverse=False):
    """Rotate pairs (2m, 2m+1) of the last axis of x (n, H, T, dh) by the angle of pos (n, T)."""
    c = cos[pos][:, None]          # (n, 1, T, half)
    s = sin[pos][:, None]
    if inverse:
        s = -s
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def shear_matrix(T: int, gamma: float) -> np.ndarray:
    """(T, T) matrix M of the momentum shear along the sequence: x̂ = M x with x̂_t =
    (1+γ) x_t − γ x_{t−1} for t ≥ 1 and x̂_0 = x_0."""
    M = np.eye(T) * (1.0 + gamma)
    M[0, 0] = 1.0
    M[np.arange(1, T), np.arange(T - 1)] = -gamma
    return M


def smear_matrices(T: int, alpha) -> np.ndarray:
    """(H, T, T) matrices of the smeared keys: k̂_t = σ k_t + (1 − σ) k_{t−1} (t ≥ 1),
    k̂_0 = k_0, σ = 1/(1 + e^{−α_h})."""
    sig = 1.0 / (1.0 + np.exp(-np.asarray(alpha, np.float64)))
    S = np.zeros((len(sig), T, T))
    for h, sg in enumerate(sig):
        S[h] = np.eye(T) * sg
        S[h, 0, 0] = 1.0
        S[h, np.arange(1, T), np.arange(T - 1)] = 1.0 - sg
    return S


def _ln(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps)
    xh = (x - mu) * r
    return xh * w + b, (xh, r)


def _ln_bwd(dy, w, cache):
    xh, r = cache
    dxh = dy * w
    dx = r * (dxh - dxh.mean(-1, keepdims=True) - xh * (dxh * xh).mean(-1, keepdims=True))
    return dx, (dy * xh).reshape(-1, xh.shape[-1]).sum(0), dy.reshape(-1, dy.shape[-1]).sum(0)


def _act(cfg, x):
    if cfg.mlp_act == "relu":
        return np.maximum(x, 0.0)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _act_grad(cfg, x):
    if cfg.mlp_act == "relu":
        return (x > 0).astype(np.float64)
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def allowed_keys(cfg, T: int) -> np.ndarray:
    """(T, T) bool: query i may attend to key j."""
    return np.tril(np.ones((T, T), bool)) if cfg.causal else np.ones((T, T), bool)


class _Pass:
    """Activations of one forward pass (dict name → array) plus the caches of the backward."""

    def __init__(self):
        self.acts: dict[str, np.ndarray] = {}
        self.cache: dict = {}


def _inputs(cfg, batch):
    n, T = batch.targets.shape
    pos = (np.broadcast_to(np.arange(T), (n, T)) if batch.positions is None
           else np.asarray(batch.positions))
    tok = (np.full((n, T), -1) if batch.tokens is None else np.asarray(batch.tokens))
    x = None if batch.x is None else np.asarray(batch.x, np.float64)
    return n, T, pos.astype(np.int64), tok.astype(np.int64), x


def forward(cfg, params, batch, overrides=None) -> _Pass:
    """All activations of one pass with the clamps ``overrides`` (name → (mask, value))."""
    p = _p(params)
    ov = overrides or {}
    n, T, pos, tok, x = _inputs(cfg, batch)
    d, H, dh, P1 = cfg.d_model, cfg.heads, cfg.head_dim, cfg.onehot_dims
    ps = _Pass()

    def put(name, value):
        if name in ov:
            mask, val = ov[name]
            value = np.where(mask, val, value)
        ps.acts[name] = value
        return value

    E = np.zeros((n, T, d))
    if P1:
        inside = (pos >= 0) & (pos < P1)
        b_i, t_i = np.nonzero(inside)
        E[b_i, t_i, pos[b_i, t_i]] = 1.0
    is_tok = tok >= 0
    if cfg.vocab:
        E[..., P1:] += np.where(is_tok[..., None], p["W_E"][np.maximum(tok, 0)], 0.0)
    if cfg.d_in:
        cont = ~is_tok if cfg.vocab else np.ones((n, T), bool)
        c = x @ p["W_in"] if cfg.in_proj else x.copy()
        if cfg.in_proj and cfg.in_bias:
            c = c + p["b_in"]
        E[..., P1:] += np.where(cont[..., None], c, 0.0)
    if cfg.positions == "learned":
        E += p["W_pos"][pos]
    R = put("embed", E)
    if cfg.positions == "rope":
        cos, sin = rope_tables(cfg)
    allowed = allowed_keys(cfg, T)
    scale = cfg.scale
    for l in range(cfg.n_layers):
        if cfg.norm == "pre":
            y, c = _ln(R, p["ln1_w"][l], p["ln1_b"][l], cfg.ln_eps)
            ps.cache[f"ln1_{l}"] = c
            A = put(f"L{l}.ln", y)
        else:
            A = R
        q = np.einsum("btd,hde->bhte", A, p["W_Q"][l])
        k = np.einsum("btd,hde->bhte", A, p["W_K"][l])
        v = np.einsum("btd,hde->bhte", A, p["W_V"][l])
        if cfg.positions == "rope":
            q = _rope(q, pos, cos, sin)
            k = _rope(k, pos, cos, sin)
        if cfg.momentum != 0.0:
            M = shear_matrix(T, cfg.momentum)
            q = np.einsum("ts,bhse->bhte", M, q)
            k = np.einsum("ts,bhse->bhte", M, k)
        if cfg.smear_keys:
            ps.cache[f"kpre_{l}"] = k
            k = np.einsum("hts,bhse->bhte", smear_matrices(T, p["smear"][l]), k)
        q = put(f"L{l}.q", q)
        k = put(f"L{l}.k", k)
        v = put(f"L{l}.v", v)
        s = scale * np.einsum("bhie,bhje->bhij", q, k)
        if cfg.attention == "softmax":
            s = np.where(allowed, s, -np.inf)
        else:
            s = np.where(allowed, s, 0.0)
        s = put(f"L{l}.scores", s)
        if cfg.attention == "softmax":
            sm = np.where(allowed, s, -np.inf)
            mx = np.max(sm, -1, keepdims=True)
            mx = np.where(np.isfinite(mx), mx, 0.0)
            e = np.where(allowed, np.exp(sm - mx), 0.0)
            tot = e.sum(-1, keepdims=True)
            raw = np.where(tot > 0, e / np.where(tot > 0, tot, 1.0), 0.0)
        else:
            raw = np.where(allowed, s, 0.0)
        ps.cache[f"praw_{l}"] = raw
        pat = put(f"L{l}.pattern", raw)
        z = put(f"L{l}.z", np.einsum("bhij,bhje->bhie", pat, v))
        if cfg.w_o:
            ao = np.einsum("bhte,hed->btd", z, p["W_O"][l])
        else:
            ao = z.transpose(0, 2, 1, 3).reshape(n, T, H * dh)
        ao = put(f"L{l}.attn_out", ao)
        if cfg.mlp:
            mid = put(f"L{l}.mid", R + ao)
            if cfg.norm == "pre":
                y2, c2 = _ln(mid, p["ln2_w"][l], p["ln2_b"][l], cfg.ln_eps)
                ps.cache[f"ln2_{l}"] = c2
                a2 = put(f"L{l}.ln2", y2)
            else:
                a2 = mid
            pre = put(f"L{l}.mlp_pre", a2 @ p["W_1"][l] + p["b_1"][l])
            post = put(f"L{l}.mlp_post", _act(cfg, pre))
            mo = put(f"L{l}.mlp_out", post @ p["W_2"][l] + p["b_2"][l])
            R = put(f"L{l}.out", mid + mo)
        else:
            R = put(f"L{l}.out", R + ao)
    if cfg.norm == "pre":
        y, c = _ln(R, p["lnf_w"], p["lnf_b"], cfg.ln_eps)
        ps.cache["lnf"] = c
        h = put("ln_final", y)
    else:
        h = R
    for m in range(cfg.readout_mlp):
        pre = h @ p["R_W"][m].T + p["R_b"][m]
        ps.cache[f"rpre_{m}"] = pre
        h = put(f"readout.h{m}", np.maximum(pre, 0.0))
    logits = h @ p["W_U"]
    if cfg.unembed_bias:
        logits = logits + p["b_U"]
    put("logits", logits)
    return ps


def cross_entropy(logits, targets):
    """(mean loss over positions with a target, d loss / d logits, correct count, count)."""
    targets = np.asarray(targets)
    has = targets >= 0
    cnt = int(has.sum())
    z = logits - logits.max(-1, keepdims=True)
    lse = np.log(np.exp(z).sum(-1, keepdims=True))
    logp = z - lse
    t = np.maximum(targets, 0)
    picked = np.take_along_axis(logp, t[..., None], -1)[..., 0]
    loss = float(-(picked * has).sum() / max(cnt, 1))
    dl = np.exp(logp)
    np.put_along_axis(dl, t[..., None], np.take_along_axis(dl, t[..., None], -1) - 1.0, -1)
    dl = dl * has[..., None] / max(cnt, 1)
    correct = int(((logits.argmax(-1) == targets) & has).sum())
    return loss, dl, correct, cnt


def backward(cfg, params, batch, ps: _Pass, overrides=None, inject=None, loss=True):
    """Gradients of one pass: returns (loss, grads, dvalues, correct).

    ``loss``: the pass carries the cross-entropy at ``batch.targets``; ``inject`` (name → array)
    adds gradients from other passes.  ``dvalues[name]`` is the gradient with respect to the
    clamp value of ``name`` (zero outside its mask)."""
    p = _p(params)
    ov = overrides or {}
    inj = inject or {}
    n, T, pos, tok, x = _inputs(cfg, batch)
    d, H, dh, P1 = cfg.d_model, cfg.heads, cfg.head_dim, cfg.onehot_dims
    a = ps.acts
    g = {k: np.zeros_like(v) for k, v in p.items()}
    dvals = {}

    def fin(name, grad):
        if name in inj:
            grad = grad + inj[name]
        if name in ov:
            mask = np.broadcast_to(ov[name][0], grad.shape)
            dvals[name] = np.where(mask, grad, 0.0)
            grad = np.where(mask, 0.0, grad)
        return grad

    lossv, correct = 0.0, 0
    if loss:
        lossv, dlog, correct, _ = cross_entropy(a["logits"], batch.targets)
    else:
        dlog = np.zeros_like(a["logits"])
    dlog = fin("logits", dlog)
    h_last = (a[f"readout.h{cfg.readout_mlp - 1}"] if cfg.readout_mlp else
              a["ln_final"] if cfg.norm == "pre" else a[f"L{cfg.n_layers - 1}.out"])
    g["W_U"] = np.einsum("btd,btc->dc", h_last, dlog)
    if cfg.unembed_bias:
        g["b_U"] = dlog.sum((0, 1))
    dh_ = dlog @ p["W_U"].T
    for m in reversed(range(cfg.readout_mlp)):
        dh_ = fin(f"readout.h{m}", dh_)
        pre = ps.cache[f"rpre_{m}"]
        dz = dh_ * (pre > 0)
        h_in = (a[f"readout.h{m - 1}"] if m else
                a["ln_final"] if cfg.norm == "pre" else a[f"L{cfg.n_layers - 1}.out"])
        g["R_W"][m] = np.einsum("btj,bti->ji", dz, h_in)
        g["R_b"][m] = dz.sum()
        dh_ = dz @ p["R_W"][m]
    if cfg.norm == "pre":
        dh_ = fin("ln_final", dh_)
        dR, g["lnf_w"], g["lnf_b"] = _ln_bwd(dh_, p["lnf_w"], ps.cache["lnf"])
    else:
        dR = dh_
    allowed = allowed_keys(cfg, T)
    scale = cfg.scale
    if cfg.positions == "rope":
        cos, sin = rope_tables(cfg)
    for l in reversed(range(cfg.n_layers)):
        dR = fin(f"L{l}.out", dR)
        R_in = a[f"L{l - 1}.out"] if l else a["embed"]
        if cfg.mlp:
            dmo = fin(f"L{l}.mlp_out", dR)
            g["W_2"][l] = np.einsum("btj,btd->jd", a[f"L{l}.mlp_post"], dmo)
            g["b_2"][l] = dmo.sum((0, 1))
            dpost = fin(f"L{l}.mlp_post", dmo @ p["W_2"][l].T)
            dpre = fin(f"L{l}.mlp_pre", dpost * _act_grad(cfg, a[f"L{l}.mlp_pre"]))
            a2 = a[f"L{l}.ln2"] if cfg.norm == "pre" else a[f"L{l}.mid"]
            g["W_1"][l] = np.einsum("btd,btj->dj", a2, dpre)
            g["b_1"][l] = dpre.sum((0, 1))
            da2 = dpre @ p["W_1"][l].T
            if cfg.norm == "pre":
                da2 = fin(f"L{l}.ln2", da2)
                da2, g["ln2_w"][l], g["ln2_b"][l] = _ln_bwd(da2, p["ln2_w"][l],
                                                            ps.cache[f"ln2_{l}"])
            dmid = fin(f"L{l}.mid", dR + da2)
        else:
            dmid = dR
        dao = fin(f"L{l}.attn_out", dmid)
        z, v, q, k = a[f"L{l}.z"], a[f"L{l}.v"], a[f"L{l}.q"], a[f"L{l}.k"]
        pat = a[f"L{l}.pattern"]
        if cfg.w_o:
            g["W_O"][l] = np.einsum("bhte,btd->hed", z, dao)
            dz = np.einsum("btd,hed->bhte", dao, p["W_O"][l])
        else:
            dz = dao.reshape(n, T, H, dh).transpose(0, 2, 1, 3)
        dz = fin(f"L{l}.z", dz)
        dpat = fin(f"L{l}.pattern", np.where(allowed, np.einsum("bhie,bhje->bhij", dz, v), 0.0))
        dv = fin(f"L{l}.v", np.einsum("bhij,bhie->bhje", pat, dz))
        if cfg.attention == "softmax":
            raw = ps.cache[f"praw_{l}"]
            ds = raw * (dpat - (raw * dpat).sum(-1, keepdims=True))
        else:
            ds = dpat
        ds = fin(f"L{l}.scores", np.where(allowed, ds, 0.0))
        ds = np.where(allowed, ds, 0.0)
        dq = fin(f"L{l}.q", scale * np.einsum("bhij,bhje->bhie", ds, k))
        dk = fin(f"L{l}.k", scale * np.einsum("bhij,bhie->bhje", ds, q))
        if cfg.smear_keys:
            kp = ps.cache[f"kpre_{l}"]
            sig = 1.0 / (1.0 + np.exp(-p["smear"][l]))
            g["smear"][l] = sig * (1 - sig) * np.einsum(
                "bhte,bhte->h", dk[:, :, 1:], kp[:, :, 1:] - kp[:, :, :-1])
            dk = np.einsum("hts,bhte->bhse", smear_matrices(T, p["smear"][l]), dk)
        if cfg.momentum != 0.0:
            M = shear_matrix(T, cfg.momentum)
            dq = np.einsum("ts,bhte->bhse", M, dq)
            dk = np.einsum("ts,bhte->bhse", M, dk)
        if cfg.positions == "rope":
            dq = _rope(dq, pos, cos, sin, inverse=True)
            dk = _rope(dk, pos, cos, sin, inverse=True)
        A = a[f"L{l}.ln"] if cfg.norm == "pre" else R_in
        g["W_Q"][l] = np.einsum("btd,bhte->hde", A, dq)
        g["W_K"][l] = np.einsum("btd,bhte->hde", A, dk)
        g["W_V"][l] = np.einsum("btd,bhte->hde", A, dv)
        dA = (np.einsum("bhte,hde->btd", dq, p["W_Q"][l]) +
              np.einsum("bhte,hde->btd", dk, p["W_K"][l]) +
              np.einsum("bhte,hde->btd", dv, p["W_V"][l]))
        if cfg.norm == "pre":
            dA = fin(f"L{l}.ln", dA)
            dA, g["ln1_w"][l], g["ln1_b"][l] = _ln_bwd(dA, p["ln1_w"][l], ps.cache[f"ln1_{l}"])
        dR = dmid + dA
    dE = fin("embed", dR)
    is_tok = tok >= 0
    if cfg.vocab:
        np.add.at(g["W_E"], tok[is_tok], dE[..., P1:][is_tok])
    if cfg.d_in and cfg.in_proj:
        cont = ~is_tok if cfg.vocab else np.ones((n, T), bool)
        dc = dE[..., P1:] * cont[..., None]
        g["W_in"] = np.einsum("bti,btj->ij", x, dc)
        if cfg.in_bias:
            g["b_in"] = dc.sum((0, 1))
    if cfg.positions == "learned":
        np.add.at(g["W_pos"], pos.reshape(-1), dE.reshape(-1, d))
    return lossv, g, dvals, correct


def loss_only(cfg, params, batch, overrides=None) -> float:
    ps = forward(cfg, params, batch, overrides)
    return cross_entropy(ps.acts["logits"], batch.targets)[0]


__all__ = ["forward", "backward", "loss_only", "cross_entropy", "rope_tables", "shear_matrix",
           "smear_matrices", "allowed_keys",
           "LY"]
