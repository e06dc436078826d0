"""Measured vs expected statistical invariants of the task generator (docs/task.md, "Invariants").

:func:`exact_checks` verifies the per-sequence invariants (one boolean per sequence and rule);
:func:`task_statistics` measures the statistical ones on many sequences and returns rows of
(measured, expected, tolerance or p-value, verdict).  Tolerances are set for a false-alarm rate of
1e-6 per row (|z| ≤ 4.89 for means; p ≥ 1e-6 for χ² tests).

Overlap statistics are compared with their expectation *given this world* (e.g. E[‖x‖² | class k]
= (‖μ_k‖² + ε²)/(1+ε²)), which is exact for any finite D and K; the table also prints the
world-averaged value of docs/task.md (1, 1/(1+ε²), 0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

from ..env import check_memory

from .icl import KIND_BURSTY, KIND_NONBURSTY, KIND_NOVEL, Batch, ICLTask

Z_1E6 = 4.891638  # two-sided normal quantile for a 1e-6 false-alarm rate
P_MIN = 1e-6


@dataclass
class StatRow:
    name: str
    measured: float
    expected: float
    tol: float | None = None        # absolute tolerance (mean-type rows)
    p_value: float | None = None    # χ² rows
    ok: bool = True
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def exact_checks(task: ICLTask, batch: Batch) -> dict[str, np.ndarray]:
    """Per-sequence booleans for the exact invariants 1–4 of docs/task.md ("Invariants")."""
    c = task.config
    N, P, T, L = c.N, c.P, c.T, c.L
    tok = batch.tokens
    n = len(batch)
    s = task.split_settings(batch.split)
    pos = tok[:, :, :P]
    shift = batch.shift
    onehot = (np.count_nonzero(pos, axis=2) == 1).all(axis=1) & \
             (pos.max(axis=2) == 1.0).all(axis=1)
    expect_idx = shift[:, None] + np.arange(T)[None, :]
    consecutive = (pos.argmax(axis=2) == expect_idx).all(axis=1) & (shift >= 0) & \
                  (shift <= P - T)
    flip = 1 if s["flip"] else 0
    cls = batch.class_ids.astype(np.int64)
    lab_true = (cls % L + flip) % L
    label_rows = np.asarray(task.label_vectors, np.float32)[batch.label_ids[:, :N]]
    labels_exact = (tok[:, 1:2 * N:2, P:] == label_rows).all(axis=(1, 2)) & \
                   (batch.label_ids == lab_true).all(axis=1)
    target_ok = (batch.target == lab_true[:, N]) & (batch.target >= 0) & (batch.target < L)
    bursty = batch.kind != KIND_NONBURSTY
    bursty_ok = np.ones(n, bool)
    for b in np.flatnonzero(bursty):
        copies = c.B_novel if batch.kind[b] == KIND_NOVEL else s["B_exist"]
        ctx = cls[b, :N]
        u, cnt = np.unique(ctx, return_counts=True)
        lu, lcnt = np.unique(batch.label_ids[b, :N], return_counts=True)
        n_target = (ctx == cls[b, N]).sum()
        n_target_label = (batch.label_ids[b, :N] == batch.target[b]).sum()
        if c.no_repeats or batch.kind[b] == KIND_NOVEL:
            # n distinct classes and labels, B copies each, target among them B times
            ok = ((cnt == copies).all() and len(u) == N // copies and (lcnt == copies).all()
                  and len(lu) == N // copies and n_target == copies
                  and n_target_label == copies)
        else:
            # n classes i.i.d. (repeats allowed): counts are multiples of B
            ok = ((cnt % copies == 0).all() and n_target >= copies and n_target % copies == 0
                  and n_target_label >= n_target)
        bursty_ok[b] = ok
    novel_ids_ok = np.where(batch.kind == KIND_NOVEL,
                            ((cls >= c.K) & (cls < c.K + c.K_novel)).all(axis=1),
                            ((cls >= 0) & (cls < c.K)).all(axis=1))
    return {"positional one-hot": onehot, "consecutive positions": consecutive,
            "label tokens exact": labels_exact, "target label": target_ok,
            "bursty structure": bursty_ok, "class id ranges": novel_ids_ok}


def _mean_row(name, values, cond_expect, spec_value, note=""):
    """Compare mean(values) with mean(cond_expect); residuals are independent across rows."""
    values = np.asarray(values, np.float64)
    resid = values - np.asarray(cond_expect, np.float64)
    m = len(resid)
    if m < 2:
        return StatRow(name, float("nan"), spec_value, None, None, True, "too few samples")
    se = resid.std(ddof=1) / math.sqrt(m)
    tol = max(Z_1E6 * se, 1e-5)
    measured = float(values.mean())
    world = float(np.mean(cond_expect))
    ok = abs(measured - world) <= tol
    return StatRow(name, measured, spec_value, tol, None, bool(ok),
                   (note + "; " if note else "") + f"this world: {world:.5f}")


def _binom_row(name, hits, trials, p, note=""):
    hits, trials = int(hits), int(trials)
    if trials == 0:
        return StatRow(name, float("nan"), p, None, None, True, "no eligible sequences")
    if p in (0.0, 1.0):
        ok = hits == p * trials
        return StatRow(name, hits / trials, p, 0.0, None, bool(ok), note)
    pv = sps.binomtest(hits, trials, p).pvalue
    sd = math.sqrt(p * (1 - p) / trials)
    return StatRow(name, hits / trials, p, Z_1E6 * sd, float(pv), bool(pv >= P_MIN), note)


def _chi2_row(name, observed, probs, note=""):
    observed = np.asarray(observed, np.float64)
    total = observed.sum()
    if total == 0:
        return StatRow(name, float("nan"), 0.0, None, None, True, "no eligible samples")
    expected = np.asarray(probs, np.float64) * total
    # merge sparse categories (expected < 5) in frequency order so χ² is valid
    order = np.argsort(-expected)
    e, o = expected[order], observed[order]
    keep = e >= 5
    if keep.sum() < len(e):
        e = np.append(e[keep], e[~keep].sum())
        o = np.append(o[keep], o[~keep].sum())
        if e[-1] < 5 and len(e) > 1:
            e[-2] += e[-1]
            o[-2] += o[-1]
            e, o = e[:-1], o[:-1]
    if len(e) < 2:
        return StatRow(name, 0.0, 0.0, None, 1.0, True, "single category")
    chi2, pv = sps.chisquare(o, e * o.sum() / e.sum())
    return StatRow(name, float(chi2 / (len(e) - 1)), 1.0, None, float(pv), bool(pv >= P_MIN),
                   (note + "; " if note else "") + f"chi2/dof over {len(e)} bins")


def collect(task: ICLTask, split: str, n: int) -> Batch:
    """``n`` sequences of ``split``: consecutive training batches, or the evaluation generator."""
    if split != "train":
        return task.sample(split, n)
    parts, got, step = [], 0, 0
    bs = task.config.batch_size
    while got < n:
        parts.append(task.batch(step))
        got += bs
        step += 1
    b0 = parts[0]
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])[:n]
    return Batch(cat("content"), cat("target"), cat("class_ids"), cat("label_ids"), cat("kind"),
                 cat("shift"), b0.N, b0.P, b0.D, b0.L, b0.K, "train")


def task_statistics(task: ICLTask, n: int = 20_000, split: str = "train",
                    batch: Batch | None = None) -> list[StatRow]:
    """Measure the invariants of docs/task.md on ``n`` sequences of ``split``."""
    c = task.config
    per_seq = 2 * (c.bytes_per_sequence() + c.T * c.d * 4 + c.T * c.T * 8)
    check_memory("n", n, n * per_seq, f"measuring {n} sequences", per_unit=per_seq)
    b = collect(task, split, n) if batch is None else batch
    s = task.split_settings(b.split)
    N, _P, D, K, L = c.N, c.P, c.D, c.K, c.L
    rows: list[StatRow] = []

    # exact invariants
    for name, ok in exact_checks(task, b).items():
        rows.append(StatRow(f"exact: {name}", float(ok.mean()), 1.0, 0.0, None,
                            bool(ok.all()), f"{int((~ok).sum())} of {len(ok)} violate"))

    x = b.content[:, 0::2].astype(np.float64)          # (n, N+1, D) items, target last
    cls = b.class_ids.astype(np.int64)
    table = task.means
    n_seq = len(b)
    scale2 = 1.0 + c.eps ** 2
    existing = b.kind != KIND_NOVEL
    # item norms (existing classes: their means are known)
    xe, ce = x[existing], cls[existing]
    if len(xe):
        norms = (xe ** 2).sum(axis=2).ravel()
        cond = ((table[ce] ** 2).sum(axis=2).ravel() + c.eps ** 2) / scale2
        rows.append(_mean_row("E|x|^2 (items)", norms, cond, 1.0))
    # same-class overlap: target with its first matching context item (bursty existing)
    match = cls[:, :N] == cls[:, N:]
    sel = existing & match.any(axis=1)
    if sel.sum() >= 2:
        j = match[sel].argmax(axis=1)
        xq, xj = x[sel, N], x[sel][np.arange(sel.sum()), j]
        mu = table[cls[sel, N]]
        rows.append(_mean_row("x_q.x_j same class", (xq * xj).sum(1),
                              (mu * mu).sum(1) / scale2, 1.0 / scale2))
    # different-class overlap and item-label overlap: target with the first non-matching pair
    sel = existing & (~match).any(axis=1)
    if sel.sum() >= 2:
        j = (~match[sel]).argmax(axis=1)
        idx = np.arange(sel.sum())
        xq, xj = x[sel, N], x[sel][idx, j]
        mq, mj = table[cls[sel, N]], table[cls[sel][idx, j]]
        ov = (xq * xj).sum(1)
        rows.append(_mean_row("x_q.x_j different class", ov, (mq * mj).sum(1) / scale2, 0.0))
        # second moment: E[(x.x')^2 | classes] = ((mu.mu')^2 + eps^2(|mu|^2+|mu'|^2)/D
        # + eps^4/D) / (1+eps^2)^2, which averages to 1/D over worlds (sd 1/sqrt(D))
        e2 = c.eps ** 2
        cond2 = ((mq * mj).sum(1) ** 2 + e2 * ((mq ** 2).sum(1) + (mj ** 2).sum(1)) / D
                 + e2 * e2 / D) / scale2 ** 2
        rows.append(_mean_row("(x_q.x_j)^2 different class", ov ** 2, cond2, 1.0 / D,
                              "sd of the overlap = sqrt of this"))
        lab = task.label_vectors[b.label_ids[sel][idx, j]]
        rows.append(_mean_row("x_q.l_j (item-label)", (xq * lab).sum(1),
                              (mq * lab).sum(1) / math.sqrt(scale2), 0.0))
    # sequence-type frequencies
    rows.append(_binom_row("novel fraction", (b.kind == KIND_NOVEL).sum(), n_seq,
                           s["p_novel"]))
    rows.append(_binom_row("bursty fraction | existing", (b.kind == KIND_BURSTY).sum(),
                           existing.sum(), s["p_bursty"]))
    # non-bursty sequences: class marginal, target in context
    nb = b.kind == KIND_NONBURSTY
    if nb.any():
        pi = task.class_prob
        counts = np.bincount(cls[nb].ravel(), minlength=K)
        rows.append(_chi2_row("non-bursty class marginal ~ pi", counts, pi))
        p_in = float((pi * (1 - (1 - pi) ** N)).sum())
        rows.append(_binom_row("P(target class in context | non-bursty)",
                               match[nb].any(axis=1).sum(), nb.sum(), p_in,
                               "sum_k pi_k (1-(1-pi_k)^N)"))
    # bursty existing: uniform class and label marginals, target slot and shift uniformity
    be = b.kind == KIND_BURSTY
    if be.any() and c.no_repeats:
        # each context class appears exactly B times: count it once per sequence
        copies = s["B_exist"]
        rows.append(_chi2_row("bursty class marginal uniform over K",
                              np.bincount(cls[be, :N].ravel(), minlength=K) // copies,
                              np.full(K, 1 / K)))
        rows.append(_chi2_row("bursty label marginal uniform over L",
                              np.bincount(b.label_ids[be, :N].ravel(), minlength=L) // copies,
                              np.full(L, 1 / L), "conservative: labels drawn without "
                              "replacement within a sequence"))
    bur = b.kind != KIND_NONBURSTY
    if bur.any():
        slots = np.nonzero(match[bur])[1]
        rows.append(_chi2_row("target-class slot uniform over N", np.bincount(slots, minlength=N),
                              np.full(N, 1 / N)))
        if c.no_repeats or (b.kind[bur] == KIND_NOVEL).all():
            copies = np.where(b.kind[bur] == KIND_NOVEL, c.B_novel, s["B_exist"])
            score = (b.label_ids[bur, :N] == b.target[bur, None]).sum(axis=1) / N
            rows.append(StatRow("random-context-label accuracy (bursty)", float(score.mean()),
                                float((copies / N).mean()), 1e-12, None,
                                bool(abs(score.mean() - (copies / N).mean()) < 1e-12), "B/N"))
    n_shift = c.P - c.T + 1
    rows.append(_chi2_row("shift uniform on 0..P-T", np.bincount(b.shift, minlength=n_shift),
                          np.full(n_shift, 1 / n_shift)))
    return rows


def format_rows(rows: list[StatRow]) -> str:
    """Fixed-width table of statistic rows."""
    w = max(len(r.name) for r in rows)
    out = [f"{'statistic':<{w}}  {'measured':>10}  {'expected':>10}  {'tol / p':>10}  ok   note"]
    for r in rows:
        if r.p_value is not None and r.tol is None:
            t = f"p={r.p_value:.2g}"
        elif r.tol is not None:
            t = f"±{r.tol:.2g}"
        else:
            t = ""
        out.append(f"{r.name:<{w}}  {r.measured:>10.5f}  {r.expected:>10.5f}  {t:>10}  "
                   f"{'yes' if r.ok else 'NO '}  {r.note}")
    return "\n".join(out)
