"""The bursty in-context classification task of Reddy (2024), compiled with Numba.

Semantics follow the author's JAX code as described in docs/task.md:

* a world of K Gaussian class means μ_k and L fixed label vectors ℓ_l (entries N(0, 1/D)), a
  balanced class→label map ``label(k) = k mod L`` and class frequencies π_k ∝ (k+1)^(−α_Z);
* items x = (μ_k + ε η)/√(1+ε²) with fresh noise η ~ N(0, I/D) for every occurrence, noise-free
  label tokens, layout x_0, ℓ_0, …, x_{N−1}, ℓ_{N−1}, x_q, a positional one-hot with a random
  per-sequence offset in dims 0..P−1 and the content in dims P..P+D−1;
* per sequence: novel classes with probability p_C (always bursty, fresh K_c means per generator
  call), otherwise bursty with probability p_B (n = N/B distinct labels, B copies each, shuffled,
  target from the context classes) or non-bursty (N context classes and the target i.i.d. from π);
* B = 0: every existing-class sequence is non-bursty and novel sequences use B_novel = N/2.

Randomness: each sequence has its own counter-based stream keyed by (stream key, call, index), so
a training batch is a pure function of (data seed, step) and sequence i of an evaluation set does
not depend on how many sequences are drawn.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np
from numba import njit

from .._rng import _fill_normal_ctr, _mix64, _randint, _uniform, mix64, step_key
from ..config import Seeds, check_int, check_seed
from ..env import check_memory
from ..errors import ConfigTypeError, ConfigWarning, UnknownNameError
from .config import TASK_PRESETS, TaskConfig, TaskRunConfig  # noqa: F401 (re-exported)

__all__ = ["TaskConfig", "TaskRunConfig", "ICLTask", "Batch", "SPLITS", "EVAL_SETS", "TASK_PRESETS",
           "KIND_BURSTY", "KIND_NONBURSTY", "KIND_NOVEL"]

KIND_BURSTY = 0      #: existing classes, bursty
KIND_NONBURSTY = 1   #: existing classes, i.i.d. from π
KIND_NOVEL = 2       #: novel classes (always bursty)
KIND_NAMES = ("bursty", "non-bursty", "novel")

#: the standard metric columns of a model trained on this task (docs/architecture.md), in order
METRIC_COLUMNS = ("step", "loss", "ic_acc", "ic2_acc", "iw_acc", "test_acc", "ila1", "tila2",
                  "tla2", "cla", "wall_s", "train_loss", "train_acc", "ic_loss", "ic2_loss",
                  "iw_loss", "ih_strength")
#: evaluation sets in generation order (the order fixes their stream keys)
EVAL_SETS = ("ic", "ic2", "iw", "test")
#: every split a user can sample
SPLITS = ("train",) + EVAL_SETS


# ----------------------------------------------------------------------------------------------
# Compiled generator
# ----------------------------------------------------------------------------------------------

_NOVEL_TAG = np.uint64(0x5851F42D4C957F2D)
_SEQ_MULT = np.uint64(0xD6E8FEB86659FD93)
_NOISE_TAG = np.uint64(0x3C6EF372FE94F82B)
#: version of the random streams of this generator (recorded in run.json; bumped whenever a
#: change makes the same seed give different data).  2: counter-based item noise.
GENERATOR_VERSION = 2


def stream_versions() -> dict:
    """The generator behind every random stream of a run on this task (for run.json)."""
    icl = f"minimal-icl/{GENERATOR_VERSION}"
    return {"world": "numpy-PCG64", "init": "numpy-PCG64", "data": icl, "eval": icl}


@njit(cache=True)
def _sample_class(state, cum_pi, uniform_pi, K):
    if uniform_pi:
        return _randint(state, K)
    u = _uniform(state)
    k = np.searchsorted(cum_pi, u, side="right")
    if k >= K:
        k = K - 1
    return k


@njit(cache=True)
def _sample_sequence(state, classes, perm, chosen, K, L, Kc, N, B_exist, B_novel, p_novel,
                     p_bursty, no_repeats, cum_pi, uniform_pi, n_shift):
    """The discrete draws of one sequence from its stream ``state``: its kind, the classes of the
    N context items and of the target (``classes[:N]``, ``classes[N]``; novel classes as
    0..K_c−1) and its positional shift.  Returns (kind, shift)."""
    u_novel = _uniform(state)
    u_bursty = _uniform(state)
    if u_novel < p_novel:
        k = 2
    elif u_bursty < p_bursty:
        k = 0
    else:
        k = 1
    if k != 1:
        bk = B_novel if k == 2 else B_exist
        pool = Kc if k == 2 else K
        nlab = N // bk
        if k == 2 or no_repeats:
            for i in range(L):
                perm[i] = i
            for i in range(nlab):          # partial Fisher–Yates: n distinct labels
                j = i + _randint(state, L - i)
                tmp = perm[i]
                perm[i] = perm[j]
                perm[j] = tmp
                chosen[i] = perm[i] + L * _randint(state, pool // L)
        else:                              # no_repeats = False: classes i.i.d. from π
            for i in range(nlab):
                chosen[i] = _sample_class(state, cum_pi, uniform_pi, K)
        for i in range(N):
            classes[i] = chosen[i // bk]
        for i in range(N - 1, 0, -1):      # uniform shuffle of the N context slots
            j = _randint(state, i + 1)
            tmp = classes[i]
            classes[i] = classes[j]
            classes[j] = tmp
        classes[N] = chosen[_randint(state, nlab)]
    else:
        for i in range(N):
            classes[i] = _sample_class(state, cum_pi, uniform_pi, K)
        classes[N] = _sample_class(state, cum_pi, uniform_pi, K)
    return k, _randint(state, n_shift)


@njit(cache=True)
def _write_labels(b, k, classes, content, target, class_ids, label_ids, label_vecs, K, flip):
    """Class and label ids of sequence b, its target label and its (noise-free) label tokens."""
    N = classes.shape[0] - 1
    L, D = label_vecs.shape
    offset = K if k == 2 else 0
    tb = content[b]
    for j in range(N + 1):
        c = classes[j]
        lab = c % L
        if flip:
            lab = (lab + 1) % L
        class_ids[b, j] = c + offset
        label_ids[b, j] = lab
        if j < N:
            row = tb[2 * j + 1]
            lv = label_vecs[lab]
            for e in range(D):
                row[e] = lv[e]
        else:
            target[b] = lab


@njit(cache=True)
def _gen_batch(content, target, class_ids, label_ids, kind, shift,
               means, label_vecs, cum_pi, novel_means, noise, key, start, P,
               N, B_exist, B_novel, p_novel, p_bursty, eps, no_repeats, flip, uniform_pi):
    """Fill one generator call of ``content.shape[0]`` sequences (indices start, start+1, ...).

    content (nb, 2N+1, D) float32 token contents; the positional one-hot of token t sits at
    index shift + t of a P-dim block (not materialised here).  target (nb,); class_ids /
    label_ids (nb, N+1) with the target in column N (novel classes are reported as K + c);
    kind (nb,); shift (nb,).  ``novel_means`` (K_c, D) and ``noise`` (nb, (N+1)·D, already
    scaled by ε/√D; item j of sequence b uses noise[b, jD:(j+1)D]) are drawn by the caller
    (:func:`_draw_gaussians`): one vectorised fill for the whole call, then this loop.
    ``label_vecs`` may be the float64 table or its float32 rounding (the tokens are float32).
    """
    nb = content.shape[0]
    T = content.shape[1]
    D = means.shape[1]
    K = means.shape[0]
    L = label_vecs.shape[0]
    Kc = novel_means.shape[0]
    scale = 1.0 / math.sqrt(1.0 + eps * eps)
    state = np.empty(1, np.uint64)
    perm = np.empty(L, np.int64)
    classes = np.empty(N + 1, np.int64)
    chosen = np.empty(N, np.int64)
    n_shift = P - T + 1
    for b in range(nb):
        state[0] = _mix64(key ^ _mix64(np.uint64(start + b + 1) * _SEQ_MULT))
        k, s = _sample_sequence(state, classes, perm, chosen, K, L, Kc, N, B_exist, B_novel,
                                p_novel, p_bursty, no_repeats, cum_pi, uniform_pi, n_shift)
        kind[b] = k
        shift[b] = s
        tb = content[b]
        for j in range(N + 1):
            row = tb[2 * j]
            mu = novel_means[classes[j]] if k == 2 else means[classes[j]]
            nz = noise[b, j * D:(j + 1) * D]
            for e in range(D):
                row[e] = (mu[e] + nz[e]) * scale
        _write_labels(b, k, classes, content, target, class_ids, label_ids, label_vecs, K, flip)


def _noise_key(key: int) -> np.uint64:
    """Key of the item-noise stream of the generator call ``key``."""
    return np.uint64(mix64(int(key) ^ int(_NOISE_TAG)))


def _draw_novel_means(key: int, c, draw_novel: bool) -> np.ndarray:
    """The call's novel class means (K_c × D, N(0, 1/D)); a 1 × D placeholder when the split
    has no novel sequences."""
    novel = np.empty((c.K_novel if draw_novel else 1, c.D), np.float64)
    if draw_novel:
        _fill_normal_ctr(np.uint64(mix64(int(key) ^ int(_NOVEL_TAG))), novel.reshape(-1),
                         1.0 / math.sqrt(c.D), np.uint64(0))
    return novel


def _draw_gaussians(key: int, n: int, start: int, c, draw_novel: bool, buffers: dict):
    """The Gaussian draws of one generator call for :func:`_gen_batch`: the call's novel
    class means (K_c × D, N(0, 1/D)) and the item noise of sequences
    start … start+n−1 (N(0, ε²/D)).  Noise entry j of sequence i is draw i·(N+1)·D + j of a
    counter-based stream of the call key, so a sequence does not depend on how many others are
    drawn."""
    M = (c.N + 1) * c.D
    noise = buffers.get(("noise", n, M))
    if noise is None:
        noise = np.empty((n, M), np.float64)
        if n <= 4096:
            if len(buffers) > 8:
                buffers.clear()
            buffers[("noise", n, M)] = noise
    _fill_normal_ctr(_noise_key(key), noise.reshape(n * M), c.eps / math.sqrt(c.D),
                     np.uint64(start * M))
    return _draw_novel_means(key, c, draw_novel), noise


# ----------------------------------------------------------------------------------------------
# Batches and the task object
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Batch:
    """A block of sequences with the metadata progress measures need.

    Attributes
    ----------
    content : (n, 2N+1, D) float32 token contents (C-contiguous).  The full token vectors
        (positional one-hot at index shift + t, then the content) are :attr:`tokens`.
    target : (n,) int32 target label y (flipped in IC2).
    class_ids : (n, N+1) int32 class of each context item and (column N) of the target;
        novel classes are reported as K + c, c in 0..K_novel−1 (fresh in every generator call).
    label_ids : (n, N+1) int32 label shown after each context item; column N is the target label.
    kind : (n,) int8, 0 bursty / 1 non-bursty / 2 novel.
    shift : (n,) int32 positional offset (token t has its one-hot at shift + t).
    """

    content: np.ndarray
    target: np.ndarray
    class_ids: np.ndarray
    label_ids: np.ndarray
    kind: np.ndarray
    shift: np.ndarray
    N: int
    P: int
    D: int
    L: int
    K: int
    split: str

    def __len__(self) -> int:
        return self.content.shape[0]

    @property
    def T(self) -> int:
        return 2 * self.N + 1

    @functools.cached_property
    def tokens(self) -> np.ndarray:
        """(n, T, P+D) float32 full token vectors, built on first access."""
        n, T = len(self), self.T
        tok = np.zeros((n, T, self.P + self.D), np.float32)
        tok[:, :, self.P:] = self.content
        t = np.arange(T)
        tok[np.arange(n)[:, None], t[None, :], self.shift[:, None] + t[None, :]] = 1.0
        return tok

    @property
    def positions(self) -> np.ndarray:
        """(n, T) int64 index of each token's positional one-hot (shift + t)."""
        return self.shift.astype(np.int64)[:, None] + np.arange(self.T)[None, :]

    @property
    def matches(self) -> np.ndarray:
        """(n, N) bool: context pair j has the target's class (the pairs an induction head uses)."""
        return self.class_ids[:, : self.N] == self.class_ids[:, self.N:]

    @property
    def is_label(self) -> np.ndarray:
        """(T,) bool: positions holding label tokens (odd positions < 2N)."""
        t = np.arange(self.T)
        return (t % 2 == 1)

    @property
    def is_item(self) -> np.ndarray:
        """(T,) bool: positions holding items (even positions, target included)."""
        return ~self.is_label

    @property
    def target_in_context(self) -> np.ndarray:
        """(n,) bool: the target's label appears among the context labels."""
        return (self.label_ids[:, : self.N] == self.target[:, None]).any(axis=1)

    def subset(self, idx) -> "Batch":
        """A Batch of the selected sequences (index, slice or boolean mask)."""
        return dataclasses.replace(
            self, content=np.ascontiguousarray(self.content[idx]), target=self.target[idx],
            class_ids=self.class_ids[idx], label_ids=self.label_ids[idx], kind=self.kind[idx],
            shift=self.shift[idx])

    def copy(self) -> "Batch":
        """A deep copy (arrays copied)."""
        return dataclasses.replace(
            self, content=self.content.copy(), target=self.target.copy(),
            class_ids=self.class_ids.copy(), label_ids=self.label_ids.copy(),
            kind=self.kind.copy(), shift=self.shift.copy())

    def to_json_dict(self) -> dict:
        """Plain-JSON view for users' scripts (``minimal task sample --json``)."""
        return {
            "split": self.split, "P": self.P, "D": self.D, "N": self.N, "L": self.L,
            "tokens": self.tokens.tolist(),
            "target": self.target.tolist(),
            "class_ids": self.class_ids.tolist(),
            "label_ids": self.label_ids.tolist(),
            "is_label": self.is_label.tolist(),
            "matches": self.matches.tolist(),
            "kind": [KIND_NAMES[k] for k in self.kind.tolist()],
            "shift": self.shift.tolist(),
        }


class ICLTask:
    """A world (class means, label vectors, class frequencies) plus its data streams.

    ``task.batch(step)`` is the training batch at ``step`` (a pure function of the data seed and
    the step); ``task.eval_set(name)`` returns the fixed IC, IC2, IW or Test set (generated once
    from the eval seed and cached).

    Parameters
    ----------
    config : TaskConfig
    seeds : Seeds or int
        An int is shorthand for ``Seeds(seed=value)``.
    warn : bool
        Emit :class:`~minimal.errors.ConfigWarning` for suspicious-but-valid settings.
    """

    def __init__(self, config: TaskConfig | None = None, seeds: Seeds | int = 0, warn=True):
        config = TaskConfig() if config is None else config
        if not isinstance(config, TaskConfig):
            raise ConfigTypeError("config", type(config).__name__, "must be a TaskConfig")
        if isinstance(seeds, Seeds):
            self.seeds = seeds
        else:
            self.seeds = Seeds(seed=check_seed("seed", seeds))
        self.config = config
        check_memory("task", f"K={config.K}, n_eval={config.n_eval}, batch_size="
                     f"{config.batch_size}", config.memory_bytes(), "the world and the four "
                     "evaluation sets")
        if warn:
            for msg in config.warnings():
                warnings.warn(msg, ConfigWarning, stacklevel=2)
        c = config
        rng = self.seeds.generator("world")
        self.means = rng.standard_normal((c.K, c.D)) / math.sqrt(c.D)
        self.label_vectors = rng.standard_normal((c.L, c.D)) / math.sqrt(c.D)
        self._labels32 = self.label_vectors.astype(np.float32)   # the label tokens' values
        self._buffers: dict = {}
        w = (np.arange(c.K) + 1.0) ** (-c.zipf_alpha)
        self.class_prob = w / w.sum()
        cum = np.cumsum(self.class_prob)
        cum[-1] = 1.0
        self._cum_pi = cum
        self._uniform_pi = c.zipf_alpha == 0.0
        self._data_key = self.seeds.key("data")
        self._eval_key = self.seeds.key("eval")
        self._eval_cache: dict[str, Batch] = {}

    # -- split settings -----------------------------------------------------------------------
    def split_settings(self, split: str) -> dict:
        """Generator settings of a split (docs/task.md, "Evaluation sets")."""
        c = self.config
        b_exist = c.B if c.B >= 1 else c.N // 2
        if split in ("train", "test"):
            return dict(p_novel=c.p_novel, p_bursty=c.p_bursty_effective, B_exist=b_exist,
                        flip=False)
        if split == "ic":
            return dict(p_novel=1.0, p_bursty=1.0, B_exist=b_exist, flip=False)
        if split == "ic2":
            return dict(p_novel=0.0, p_bursty=1.0, B_exist=c.B_eval, flip=True)
        if split == "iw":
            return dict(p_novel=0.0, p_bursty=0.0, B_exist=b_exist, flip=False)
        raise UnknownNameError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")

    def _generate(self, key: int, n: int, settings: dict, split: str, start: int = 0,
                  out: Batch | None = None) -> Batch:
        c = self.config
        if out is not None and out.content.shape == (n, c.T, c.D) and out.N == c.N \
                and (out.P, out.L, out.K) == (c.P, c.L, c.K):
            content, target, cls, lab = out.content, out.target, out.class_ids, out.label_ids
            kind, shift = out.kind, out.shift
        else:
            content = np.empty((n, c.T, c.D), np.float32)
            target = np.empty(n, np.int32)
            cls = np.empty((n, c.N + 1), np.int32)
            lab = np.empty((n, c.N + 1), np.int32)
            kind = np.empty(n, np.int8)
            shift = np.empty(n, np.int32)
        novel, noise = _draw_gaussians(key, n, start, c, settings["p_novel"] > 0.0,
                                       self._buffers)
        _gen_batch(content, target, cls, lab, kind, shift, self.means, self._labels32,
                   self._cum_pi, novel, noise, np.uint64(key), start, c.P, c.N,
                   settings["B_exist"], c.B_novel, settings["p_novel"], settings["p_bursty"],
                   c.eps, c.no_repeats, settings["flip"], self._uniform_pi)
        if out is not None and content is out.content and out.split == split:
            return out                       # filled in place; same metadata
        return Batch(content, target, cls, lab, kind, shift, c.N, c.P, c.D, c.L, c.K, split)

    # -- public API ---------------------------------------------------------------------------
    def batch(self, step: int, batch_size: int | None = None, out: Batch | None = None) -> Batch:
        """Training batch number ``step`` (pure function of the data seed and ``step``).

        Sequence i of the batch does not depend on ``batch_size``; the novel class means are
        drawn once per step.  ``out`` (a Batch of the same size) is reused to avoid allocation.
        """
        step = check_int("step", step, lo=0, hi=2**62)
        n = self.config.batch_size if batch_size is None else check_int(
            "batch_size", batch_size, lo=1, hi=TaskConfig.LIMITS["batch_size"])
        settings = self.__dict__.get("_train_settings")
        if settings is None:
            settings = self._train_settings = self.split_settings("train")
        return self._generate(step_key(self._data_key, step), n, settings, "train", out=out)

    def sample(self, split: str, n: int, step: int = 0) -> Batch:
        """``n`` sequences of a split.

        ``train`` returns the first n sequences of the training batch at ``step``; an
        evaluation split returns the first n sequences of that (fixed) evaluation set.
        """
        n = check_int("n", n, lo=1, hi=TaskConfig.LIMITS["n_eval"])
        check_memory("n", n, n * self.config.bytes_per_sequence(), f"{n} sequences",
                     per_unit=self.config.bytes_per_sequence())
        if split == "train":
            return self.batch(step, batch_size=n)
        settings = self.split_settings(split)
        if split in self._eval_cache and n <= len(self._eval_cache[split]):
            return self._eval_cache[split].subset(slice(0, n))
        return self._generate(self._eval_set_key(split), n, settings, split)

    def _eval_set_key(self, split: str) -> int:
        return step_key(self._eval_key, EVAL_SETS.index(split))

    def eval_set(self, name: str) -> Batch:
        """The fixed evaluation set ``name`` (ic, ic2, iw, test) of ``n_eval`` sequences."""
        if name not in EVAL_SETS:
            raise UnknownNameError(f"unknown evaluation set {name!r}; choose one of "
                                   f"{', '.join(EVAL_SETS)}")
        if name not in self._eval_cache:
            self._eval_cache[name] = self._generate(
                self._eval_set_key(name), self.config.n_eval, self.split_settings(name), name)
        return self._eval_cache[name]

    def eval_sets(self) -> dict[str, Batch]:
        """All four evaluation sets, generated in the order IC, IC2, IW, Test."""
        return {name: self.eval_set(name) for name in EVAL_SETS}

    def eval_data(self) -> dict[str, Batch]:
        """The training layer's name for :meth:`eval_sets` (the data protocol)."""
        return self.eval_sets()

    def label_of(self, classes) -> np.ndarray:
        """Label of training classes (k mod L)."""
        return np.asarray(classes) % self.config.L

    def describe(self) -> str:
        """Multi-line human description of the task and its derived quantities."""
        c = self.config
        r = c.resolved()
        lines = [
            "bursty in-context classification task (Reddy 2024)",
            f"  world: K={c.K} classes, L={c.L} labels (label = k mod L, {c.K // c.L} classes per "
            f"label), D={c.D}, eps={c.eps}, zipf_alpha={c.zipf_alpha}",
            f"  context: N={c.N} pairs, T={c.T} tokens of dim {c.d} (P={c.P} positional + D={c.D})",
            f"  sampling: p_novel={c.p_novel}, p_bursty={c.p_bursty_effective} "
            f"(configured {c.p_bursty}), B={c.B}, B_novel={c.B_novel}, n={c.n}, "
            f"no_repeats={c.no_repeats}",
            f"  batches of {c.batch_size}; evaluation sets IC, IC2, IW, Test of {c.n_eval} each",
            f"  seeds: {self.seeds.resolved()}",
            f"  reference levels: chance 1/L = {1 / c.L:.4f}; random context label B/N = "
            f"{c.B_eval / c.N:.4f}",
        ]
        lines += [f"  note: {n}" for n in r["notes"]]
        return "\n".join(lines)


def format_sequence(batch: "Batch", i: int) -> str:
    """A readable table of sequence ``i`` of ``batch``: classes, labels, matches and the
    overlaps x_j·x_q of the items with the target."""
    N = batch.N
    cls, lab = batch.class_ids[i], batch.label_ids[i]
    match = batch.matches[i]
    x = batch.content[i].astype("float64")
    xq = x[2 * N]
    over = [float(x[2 * j] @ xq) for j in range(N)]
    kind = KIND_NAMES[batch.kind[i]]
    w = max(7, max(len(str(v)) for v in cls) + 2)
    head = (f"seq {i}: {kind}, shift {batch.shift[i]}, target class {cls[N]} -> label "
            f"{batch.target[i]} ({int(match.sum())} matching pair(s))")
    cells = lambda vals: "".join(f"{v:>{w}}" for v in vals)
    lines = [head,
             f"  {'pair':<8}{cells(range(N))}   | target",
             f"  {'class':<8}{cells(cls[:N])}   | {cls[N]}",
             f"  {'label':<8}{cells(lab[:N])}   | {lab[N]}",
             f"  {'match':<8}{cells(['*' if m else '.' for m in match])}   |",
             f"  {'x_j.x_q':<8}{''.join(f'{v:>{w}.2f}' for v in over)}   | "
             f"{float(xq @ xq):.2f}"]
    return "\n".join(lines)
