"""Plain NumPy implementation of the task generator (slow, obviously correct).

It follows the generator of docs/task.md step by step with a NumPy ``Generator``: a Python loop over sequences
for the sampling structure (``rng.choice``, ``rng.permutation``) and vectorised token assembly.
It draws from a different random stream than the compiled kernel, so the tests compare the two
through exact invariants and distributions, and the benchmark uses it as the speed reference.
"""

from __future__ import annotations

import math

import numpy as np

from .icl import KIND_BURSTY, KIND_NONBURSTY, KIND_NOVEL, Batch, ICLTask


def generate_reference(task: ICLTask, split: str, n: int, rng: np.random.Generator) -> Batch:
    """``n`` sequences of ``split`` drawn with ``rng`` (one generator call: one novel draw)."""
    c = task.config
    s = task.split_settings(split)
    L, K, N, D, P, T = c.L, c.K, c.N, c.D, c.P, c.T
    pi = task.class_prob
    novel_means = (rng.standard_normal((c.K_novel, D)) / math.sqrt(D)
                   if s["p_novel"] > 0 else np.zeros((0, D)))

    kind = np.empty(n, np.int8)
    classes = np.empty((n, N + 1), np.int64)     # novel class c is stored as K + c
    for b in range(n):
        if rng.random() < s["p_novel"]:
            kind[b], pool, copies, offset = KIND_NOVEL, c.K_novel, c.B_novel, K
        elif rng.random() < s["p_bursty"]:
            kind[b], pool, copies, offset = KIND_BURSTY, K, s["B_exist"], 0
        else:
            kind[b] = KIND_NONBURSTY
        if kind[b] == KIND_NONBURSTY:
            classes[b, :N] = rng.choice(K, size=N, p=pi)
            classes[b, N] = rng.choice(K, p=pi)
            continue
        n_distinct = N // copies
        if kind[b] == KIND_NOVEL or c.no_repeats:
            labels = rng.choice(L, size=n_distinct, replace=False)
            chosen = labels + L * rng.integers(0, pool // L, size=n_distinct)
        else:
            chosen = rng.choice(K, size=n_distinct, p=pi)
        classes[b, :N] = rng.permutation(np.repeat(chosen, copies)) + offset
        classes[b, N] = rng.choice(chosen) + offset

    shift = rng.integers(0, P - T + 1, size=n)
    table = np.concatenate([task.means, novel_means])
    noise = rng.standard_normal((n, N + 1, D)) / math.sqrt(D)
    items = (table[classes] + c.eps * noise) / math.sqrt(1.0 + c.eps ** 2)
    label_ids = (classes % L + (1 if s["flip"] else 0)) % L    # (K + c) mod L = c mod L

    content = np.zeros((n, T, D), np.float32)
    content[:, 0::2] = items
    content[:, 1:2 * N:2] = task.label_vectors[label_ids[:, :N]]
    return Batch(content, label_ids[:, N].astype(np.int32), classes.astype(np.int32),
                 label_ids.astype(np.int32), kind, shift.astype(np.int32), N, P, D, L, K, split)
