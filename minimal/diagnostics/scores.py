"""Induction diagnostics as pure functions of attention patterns, token identities and weights
(docs/diagnostics.md).

Every score takes one layer's patterns ``A`` of shape (n, H, T, T) (row = query q, column = key
s; rows sum to 1 over s ≤ q for causal softmax heads) and returns an (H,) float64 array: one value
per head, averaged over the batch as stated.  ``ids`` (n, T) are token identities: two positions
"hold the same token" iff their ids are equal.  For token models the ids are the tokens; for the
Reddy and Singh tasks they are class ids at item positions and offset label ids at label positions
(:mod:`minimal.diagnostics.probes`).

Scores (the definitions of docs/diagnostics.md):

``induction``        mean of A[q, q − L + 1] over the L second-copy positions of the repeated-span
                     probe [BOS, r₁…r_L, r₁…r_L]
``induction_tl``     TransformerLens' average: the whole diagonal of offset 1 − L (it also counts
                     q = L − 1 and q = L, which are not induction positions)
``prefix``           mean over query rows of Σ_{s<q: x_{s−1} = x_q} A[q, s]
``duplicate``        mean over query rows of Σ_{s<q: x_s = x_q} A[q, s]
``prev``             mean over q ≥ 1 of A[q, q − 1]
``detect``           ``detect_head``: Σ(A ⊙ D) / Σ A per sequence, averaged over the batch, for a
                     detection pattern D (induction, duplicate or previous-token)
``prefix_len``       Kissane et al.'s long/short-prefix score: mean attention from the last
                     token of a span's second copy to the token after its first copy
                     (:func:`prefix_length_score`, on :func:`minimal.tasks.probes.prefix_probe`)
``anti``             anti-induction on [S SEP reverse(S)]: attention from the reversed-copy position
                     holding s_k to pos₁(s_k) − 1 (see :func:`anti_induction_score` for its caveat)
``copy_eig``         Σλ / Σ|λ| over the eigenvalues of the head's OV circuit W_E W_V W_O W_U
``copy_emp``         fraction of probe positions at which the head's direct logit contribution
                     to the correct next token exceeds its mean over the vocabulary
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

__all__ = ["induction_score", "induction_score_tl", "prefix_matching_score",
           "duplicate_token_score", "previous_token_score", "detect_head",
           "induction_detection_pattern", "duplicate_detection_pattern",
           "previous_detection_pattern", "anti_induction_score", "anti_induction_duplicate",
           "copying_score", "copying_score_empirical", "ov_circuit", "prefix_length_score"]


def _check_pattern(A) -> np.ndarray:
    A = np.asarray(A, np.float64)
    if A.ndim != 4 or A.shape[2] != A.shape[3]:
        raise ConfigError("pattern", getattr(A, "shape", None), "must be (n, H, T, T)")
    return A


def _check_ids(ids, A) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.shape != (A.shape[0], A.shape[2]):
        raise ConfigError("ids", ids.shape, f"must be (n, T) = ({A.shape[0]}, {A.shape[2]})")
    return ids


# ----------------------------------------------------------------------------------------------
# the repeated-span probe [BOS, r₁ … r_L, r₁ … r_L]
# ----------------------------------------------------------------------------------------------

def _span(A, L: int, start: int) -> int:
    T = A.shape[2]
    if not (1 <= L and start >= 0 and start + 2 * L <= T):
        raise ConfigError("span", L, f"needs start + 2L ≤ T = {T} (start={start})")
    return T


def induction_score(A, L: int, start: int = 1) -> np.ndarray:
    """(H,) mean of A[q, q − L + 1] over the second-copy positions q ∈ [start + L, start + 2L)
    of a repeated span that begins at ``start`` (1 after a BOS) and the batch."""
    A = _check_pattern(A)
    _span(A, L, start)
    q = np.arange(start + L, start + 2 * L)
    return A[:, :, q, q - L + 1].mean(axis=(0, 2))


def induction_score_tl(A, L: int, start: int = 1) -> np.ndarray:
    """(H,) TransformerLens' variant: the mean of the whole diagonal of offset 1 − L of the
    probe's [start − 1, start + 2L) block (for start = 1: q = L − 1 … 2L, which includes the two
    non-induction positions q = L − 1 and q = L)."""
    A = _check_pattern(A)
    _span(A, L, start)
    if start < 1:
        raise ConfigError("start", start, "must be ≥ 1 (the TransformerLens probe has a BOS)")
    lo = start - 1
    q = np.arange(lo + L - 1, start + 2 * L)
    return A[:, :, q, q - L + 1].mean(axis=(0, 2))


def prefix_length_score(A, query, key) -> np.ndarray:
    """(H,) mean over the batch of A[b, h, query[b], key[b]]: per sequence one query and one
    key (the prefix probe's a₂ + p − 1 and a₁ + p)."""
    A = _check_pattern(A)
    n, _, T, _ = A.shape
    q = np.asarray(query, np.int64)
    k = np.asarray(key, np.int64)
    if q.shape != (n,) or k.shape != (n,):
        raise ConfigError("query", q.shape, f"query and key must be ({n},) position arrays")
    if ((q < 0) | (q >= T) | (k < 0) | (k > q)).any():
        raise ConfigError("key", "", f"needs 0 ≤ key ≤ query < T = {T} in every row")
    return A[np.arange(n), :, q, k].mean(axis=0)


def _rows_mask(ids, rows):
    n, T = ids.shape
    m = np.zeros((n, T), bool)
    if rows is None:
        m[:] = True
    else:
        r = np.asarray(rows)
        if r.dtype == bool:
            m[:] = np.broadcast_to(r, (n, T))
        else:
            m[:, r] = True
    return m


def _match_sum(A, ids, rows, shift: int) -> np.ndarray:
    """Mean over the selected (sequence, row) pairs of Σ_{s<q: x_{s−shift} = x_q} A[q, s]."""
    A = _check_pattern(A)
    ids = _check_ids(ids, A)
    n, H, T, _ = A.shape
    src = np.full((n, T), np.iinfo(np.int64).min, np.int64)
    src[:, shift:] = ids[:, :T - shift] if shift else ids
    D = (src[:, None, :] == ids[:, :, None].astype(np.int64))       # D[b, q, s]
    D &= np.tril(np.ones((T, T), bool), -1)[None]                    # s < q
    m = _rows_mask(ids, rows)
    if not m.any():
        raise ConfigError("rows", rows, "select no query position")
    per = (A * D[:, None]).sum(-1)                                   # (n, H, T)
    return (per * m[:, None]).sum(axis=(0, 2)) / m.sum()


def prefix_matching_score(A, ids, rows=None) -> np.ndarray:
    """(H,) mean over query rows of Σ_{s<q: x_{s−1} = x_q} A[q, s] (the attention a row pays to
    tokens that follow an earlier occurrence of its own token).  ``rows``: query positions (an
    index array or an (n, T) boolean mask; None: every position)."""
    return _match_sum(A, ids, rows, 1)


def duplicate_token_score(A, ids, rows=None) -> np.ndarray:
    """(H,) mean over query rows of Σ_{s<q: x_s = x_q} A[q, s]."""
    return _match_sum(A, ids, rows, 0)


def previous_token_score(A, rows=None) -> np.ndarray:
    """(H,) mean over q ≥ 1 (or the given rows, all ≥ 1) and the batch of A[q, q − 1]."""
    A = _check_pattern(A)
    T = A.shape[2]
    q = np.arange(1, T) if rows is None else np.asarray(rows)
    if q.size == 0 or q.min() < 1 or q.max() >= T:
        raise ConfigError("rows", rows, f"must be positions in [1, {T})")
    return A[:, :, q, q - 1].mean(axis=(0, 2))


# ----------------------------------------------------------------------------------------------
# detect_head (TransformerLens)
# ----------------------------------------------------------------------------------------------

def duplicate_detection_pattern(ids) -> np.ndarray:
    """(n, T, T) D[q, s] = 1 iff x_s = x_q and s < q."""
    ids = np.asarray(ids)
    T = ids.shape[1]
    D = ids[:, :, None] == ids[:, None, :]
    return D & np.tril(np.ones((T, T), bool), -1)[None]


def induction_detection_pattern(ids) -> np.ndarray:
    """(n, T, T) D[q, s] = 1 iff x_{s−1} = x_q and 1 ≤ s ≤ q."""
    ids = np.asarray(ids)
    n, T = ids.shape
    D = np.zeros((n, T, T), bool)
    D[:, :, 1:] = ids[:, :, None] == ids[:, None, :T - 1]
    return D & np.tril(np.ones((T, T), bool), 0)[None]


def previous_detection_pattern(n: int, T: int) -> np.ndarray:
    """(n, T, T) D[q, q − 1] = 1."""
    return np.broadcast_to(np.eye(T, k=-1, dtype=bool), (n, T, T))


def detect_head(A, D, exclude_bos: bool = False, exclude_current: bool = False) -> np.ndarray:
    """(H,) ``detect_head`` score with the "mul" measure: per sequence Σ(A ⊙ D)/ΣA, then the
    batch mean.  ``exclude_bos`` / ``exclude_current`` zero column 0 / the diagonal of A first
    (TransformerLens' options)."""
    A = _check_pattern(A).copy()
    n, H, T, _ = A.shape
    D = np.broadcast_to(np.asarray(D, np.float64), (n, T, T))
    if exclude_bos:
        A[:, :, :, 0] = 0.0
    if exclude_current:
        idx = np.arange(T)
        A[:, :, idx, idx] = 0.0
    num = (A * D[:, None]).sum(axis=(2, 3))
    den = A.sum(axis=(2, 3))
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0).mean(0)


# ----------------------------------------------------------------------------------------------
# anti-induction on [S SEP reverse(S)]
# ----------------------------------------------------------------------------------------------

def _anti_rows(m: int, start: int, T: int):
    if m < 2 or start < 0 or start + 2 * m + 1 > T:
        raise ConfigError("span", m, f"needs 2 ≤ m and start + 2m + 1 ≤ T = {T}")
    k = np.arange(1, m)                       # s_k with k ≥ 1 (s_0 has no predecessor)
    q = start + 2 * m - k                     # reversed copy: position start + m + 1 + j holds
    return k, q                               # s_{m−1−j}, so s_k sits at start + 2m − k


def anti_induction_score(A, m: int, start: int = 0) -> np.ndarray:
    """(H,) mean attention from the reversed-copy position holding s_k (k ≥ 1) to
    pos₁(s_k) − 1 = start + k − 1, the token *before* s_k's first occurrence (which holds
    s_{k−1}, the token the reversed copy needs next), on [… S SEP reverse(S) …] with S of length
    m starting at ``start``.

    Causal caveat (docs/diagnostics.md): that key never holds s_k, so no query–key match can
    find it; a backward copier can instead attend to the duplicate (:func:`anti_induction_duplicate`)
    and read s_{k−1} from its value through a layer-0 previous-token head.  A score near 0 is
    therefore no evidence against reversed copying; read it beside the duplicate-token score and
    the reversed-span loss."""
    A = _check_pattern(A)
    k, q = _anti_rows(m, start, A.shape[2])
    return A[:, :, q, start + k - 1].mean(axis=(0, 2))


def anti_induction_duplicate(A, m: int, start: int = 0) -> np.ndarray:
    """(H,) the same rows' attention to the first occurrence of their own token (offset 0):
    the route a backward copier can actually use."""
    A = _check_pattern(A)
    k, q = _anti_rows(m, start, A.shape[2])
    return A[:, :, q, start + k].mean(axis=(0, 2))


# ----------------------------------------------------------------------------------------------
# copying
# ----------------------------------------------------------------------------------------------

def ov_circuit(W_E, W_V, W_O, W_U) -> np.ndarray:
    """(vocab, n_out) full OV circuit W_E W_V W_O W_U of one head (row vectors: token
    embedding → value → residual → logits)."""
    return np.asarray(W_E, np.float64) @ np.asarray(W_V, np.float64) @ \
        np.asarray(W_O, np.float64) @ np.asarray(W_U, np.float64)


def copying_score(M) -> float:
    """Σλ_i / Σ|λ_i| over the eigenvalues of a square OV circuit (Elhage et al. 2021): +1 for
    a pure copier (every eigenvalue positive real), −1 for a pure anti-copier; 0 when M = 0."""
    M = np.asarray(M, np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ConfigError("ov_circuit", getattr(M, "shape", None),
                          "must be square (input tokens = output classes)")
    lam = np.linalg.eigvals(M)
    den = float(np.abs(lam).sum())
    return float(lam.sum().real / den) if den > 0 else 0.0


def copying_score_empirical(contrib, targets, rows=None) -> np.ndarray:
    """(H,) fraction of (sequence, row) pairs at which a head's direct logit contribution
    ``contrib`` (n, H, T, n_out) to the correct next token ``targets`` (n, T) exceeds its mean
    over the vocabulary.  ``rows`` as in :func:`prefix_matching_score`; rows with a negative
    target are skipped."""
    c = np.asarray(contrib, np.float64)
    tg = np.asarray(targets)
    n, H, T, C = c.shape
    m = _rows_mask(tg, rows) & (tg >= 0)
    if not m.any():
        raise ConfigError("rows", rows, "select no position with a target")
    b, t = np.nonzero(m)
    at = c[b, :, t, tg[b, t]]                                 # (k, H)
    mean = c[b, :, t, :].mean(-1)
    return (at > mean).mean(0)
