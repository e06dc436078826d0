"""Plain PyTorch (eager, CPU) implementation of the configurable transformer, for benchmarking.

Written the way a researcher would: ``nn.Linear``-style matrix products on every position,
rotary positions on each head, pre-LayerNorm, autograd for the backward pass and
``torch.optim.Adam``.  It takes the same parameter dict as :class:`minimal.transformer.Transformer`
(so one step on the same batch gives the same loss) and supports the benchmark settings: token
and/or continuous inputs, RoPE or learned positions, optional W_O, attention-only, loss at the
positions with a target.  Optional extra: ``pip install torch==2.13.0`` (CPU).  Used by
``minimal bench transformer`` when torch is importable; never imported by the package itself.
"""

from __future__ import annotations

import numpy as np


def build(params: dict, cfg, lr: float = 1e-4, threads: int = 1):
    """Return ``step(batch) -> loss``: one Adam step of a torch copy of ``params``."""
    import torch

    torch.set_num_threads(threads)
    P = {k: torch.nn.Parameter(torch.tensor(np.asarray(v, np.float32))) for k, v in params.items()}
    opt = torch.optim.Adam(list(P.values()), lr=lr)
    H, dh, d = cfg.heads, cfg.head_dim, cfg.d_model
    scale = cfg.scale
    if cfg.positions == "rope":
        half = dh // 2
        inv = cfg.rope_base ** (-2.0 * np.arange(half) / dh)
        ang = np.arange(cfg.max_len)[:, None] * inv[None, :]
        cos_t = torch.tensor(np.cos(ang), dtype=torch.float32)
        sin_t = torch.tensor(np.sin(ang), dtype=torch.float32)

    def rope(x, T):                         # x: (n, H, T, dh), pairs (2m, 2m+1)
        c, s = cos_t[:T], sin_t[:T]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)

    def ln(x, w, b):
        return torch.nn.functional.layer_norm(x, (d,), w, b, cfg.ln_eps)

    def forward(tokens, x, T):
        n = tokens.shape[0]
        E = torch.zeros(n, T, d)
        if cfg.vocab:
            is_tok = tokens >= 0
            E = E + torch.where(is_tok[..., None], P["W_E"][tokens.clamp(min=0)], 0.0)
        if cfg.d_in:
            c = x @ P["W_in"] + P["b_in"]
            cont = (tokens < 0) if cfg.vocab else torch.ones(n, T, dtype=torch.bool)
            E = E + torch.where(cont[..., None], c, 0.0)
        if cfg.positions == "learned":
            E = E + P["W_pos"][:T]
        R = E
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        for l in range(cfg.n_layers):
            A = ln(R, P["ln1_w"][l], P["ln1_b"][l]) if cfg.norm == "pre" else R
            # one fused projection, as nn.Linear(d, 3 H dh) would do
            Wqkv = torch.cat([P[w][l].permute(1, 0, 2).reshape(d, H * dh)
                              for w in ("W_Q", "W_K", "W_V")], dim=1)
            qkv = (A @ Wqkv).view(n, T, 3, H, dh).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            if cfg.positions == "rope":
                q, k = rope(q, T), rope(k, T)
            s = (q @ k.transpose(-1, -2)) * scale
            s = s.masked_fill(~mask, float("-inf"))
            z = torch.softmax(s, dim=-1) @ v
            if cfg.w_o:
                out = z.transpose(1, 2).reshape(n, T, H * dh) @ P["W_O"][l].reshape(H * dh, d)
            else:
                out = z.transpose(1, 2).reshape(n, T, H * dh)
            R = R + out
        h = ln(R, P["lnf_w"], P["lnf_b"]) if cfg.norm == "pre" else R
        logits = h @ P["W_U"]
        if cfg.unembed_bias:
            logits = logits + P["b_U"]
        return logits

    def step(batch) -> float:
        T = batch.T
        tokens = torch.from_numpy(np.asarray(batch.tokens if batch.tokens is not None else
                                             np.full(batch.targets.shape, -1), np.int64))
        x = torch.from_numpy(np.asarray(batch.x, np.float32)) if batch.x is not None else None
        tg = torch.from_numpy(np.asarray(batch.targets, np.int64))
        opt.zero_grad(set_to_none=True)
        logits = forward(tokens, x, T)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 tg.reshape(-1), ignore_index=-1)
        loss.backward()
        opt.step()
        return loss.item()

    return step
