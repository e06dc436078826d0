"""Plain-Python reference of the Singh task generator (slow, obviously correct): the same
counter-based draws as :func:`minimal.tasks.singh._gen`, one sequence at a time."""

from __future__ import annotations

import numpy as np

from .._rng import GAMMA, mix64

_MASK = (1 << 64) - 1
_SEQ_MULT = 0xD6E8FEB86659FD93


class _Stream:
    def __init__(self, key: int, index: int):
        self.s = mix64(key ^ mix64((index * _SEQ_MULT) & _MASK))

    def uniform(self) -> float:
        self.s = (self.s + int(GAMMA)) & _MASK
        return (mix64(self.s) >> 11) * 2.0 ** -53

    def randint(self, n: int) -> int:
        return int(self.uniform() * n)


def generate(task, key: int, n: int, split: str) -> dict:
    """Sequences 0..n−1 of a call as plain arrays (tokens, x, targets, label_ids, correct,
    class_ids)."""
    s = task.settings(split)
    ex = task.exemplars
    n_ex = ex.shape[1]
    out = {"tokens": np.full((n, 5), -1), "x": np.zeros((n, 5, ex.shape[2]), np.float32),
           "targets": np.full((n, 5), -1), "label_ids": np.zeros((n, 2), int),
           "correct": np.zeros(n, int), "class_ids": np.zeros((n, 3), int)}
    for b in range(n):
        r = _Stream(key, b + 1)
        c = r.randint(s["class_n"])
        c2 = r.randint(s["class_n"] - 1)
        c2 += c2 >= c
        a, bb = (int(v) for v in s["pairs"][r.randint(len(s["pairs"]))])
        swap = r.uniform() < 0.5
        first = r.uniform() < 0.5
        lab_q, lab_d = (bb, a) if swap else (a, bb)
        if s["heldout_ex"]:
            e_qc, e_dc, e_q = (1 + r.randint(n_ex - 1) for _ in range(3))
        else:
            e_qc = e_dc = e_q = 0
        cq, cd = s["class_lo"] + c, s["class_lo"] + c2
        kq = 0 if first else 1
        kd = 1 - kq
        out["tokens"][b, 2 * kq + 1] = lab_q
        out["tokens"][b, 2 * kd + 1] = lab_d
        out["targets"][b, 4] = lab_q
        out["x"][b, 2 * kq] = ex[cq, e_qc]
        out["x"][b, 2 * kd] = ex[cd, e_dc]
        out["x"][b, 4] = ex[cq, e_q]
        out["label_ids"][b, kq], out["label_ids"][b, kd] = lab_q, lab_d
        out["correct"][b] = kq
        out["class_ids"][b] = (cq, cd, cq) if kq == 0 else (cd, cq, cq)
    return out
