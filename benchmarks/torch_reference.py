"""Plain PyTorch (eager, CPU) implementation of the network of network.md, for benchmarking.

Written the way a researcher would write it: dense one-hot positional tokens, every position in
every layer, autograd for the backward pass, ``torch.optim.SGD`` plus the spec's multiplicative
weight decay.  Only the target position is read out, as in the author code.  Optional extra:
``pip install torch==2.13.0`` (CPU).  Used by ``minimal bench net`` when torch is importable.
"""

from __future__ import annotations

import numpy as np


def build(params: dict, heads: int = 1, lr: float = 0.01, weight_decay: float = 1e-6,
          threads: int = 1):
    """Return ``step(tokens, target) -> loss`` training a torch copy of ``params``."""
    import torch

    torch.set_num_threads(threads)
    P = {k: torch.nn.Parameter(torch.tensor(np.asarray(v, np.float32))) for k, v in params.items()}
    opt = torch.optim.SGD(list(P.values()), lr=lr)
    n_layers = P["W_Q"].shape[0]

    def forward(U):
        b, T, d = U.shape
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        kh = P["W_Q"].shape[1] // heads
        dv = d // heads
        for l in range(n_layers):
            Q = U @ P["W_Q"][l].T
            K = U @ P["W_K"][l].T
            V = U @ P["W_V"][l].T
            outs = []
            for h in range(heads):
                q = Q[..., h * kh:(h + 1) * kh]
                k = K[..., h * kh:(h + 1) * kh]
                s = (q @ k.transpose(1, 2)).masked_fill(~mask, float("-inf"))
                outs.append(torch.softmax(s, dim=-1) @ V[..., h * dv:(h + 1) * dv])
            U = U + torch.cat(outs, dim=-1)
        h = U[:, -1]
        for m in range(P["mlp_W"].shape[0]):
            h = torch.relu(h @ P["mlp_W"][m].T + P["mlp_b"][m])
        return h @ P["W_out"].T

    def step(tokens: np.ndarray, target: np.ndarray) -> float:
        U = torch.from_numpy(tokens)
        y = torch.from_numpy(target.astype(np.int64))
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(forward(U), y)
        loss.backward()
        with torch.no_grad():
            for p in P.values():
                p.mul_(1.0 - weight_decay)
        opt.step()
        return loss.item()

    return step
