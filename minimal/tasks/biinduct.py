"""The Bi-Induct toy stream (docs/biinduct.md): a sparse random bigram Markov chain as "natural
text", with forward [S SEP S] and backward [S SEP reverse(S)] snippets mixed in at an annealed
rate.

* The chain: ``vocab`` tokens (ids 0 … vocab − 1; SEP = vocab), each with ``successors`` distinct
  successors drawn uniformly and transition weights ~ Dirichlet(1).  It is redrawn (with the next
  sub-seed) until it is irreducible, so its stationary distribution π is unique.  Its entropy
  rate H = −Σ_i π_i Σ_j P_ij ln P_ij (nats) is the loss floor of next-token prediction on the
  stationary chain (:meth:`BigramChain.entropy_rate`).
* A training sequence has T + 1 tokens (inputs 0 … T − 1, targets 1 … T).  The natural stream
  starts from π and runs through the whole sequence; snippets *replace* stretches of it (the chain
  continues after a snippet from the token before it).  The number of snippets is
  min(Poisson(m(t)·(T + 1)/len), cap), m(t) = mix·max(0, 1 − t/t_end), len = 2·span + 1, cap =
  ⌊(T + 1)/len⌋; they are placed uniformly among the non-overlapping placements.  So the
  expected fraction of snippet tokens is len·E[min(N, cap)]/(T + 1) ≈ m(t) (below it by the cap).
* Arms: ``natural`` (m = 0), ``forward``, ``backward``, ``balanced`` (each snippet forward or
  backward with probability ½).

Every batch is a pure function of (data seed, step); the chain of (chain seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.sparse.csgraph import connected_components

from ..config import check_choice, check_float, check_int, set_field
from ..errors import ConfigError
from .seq import SeqBatch

__all__ = ["BiInductTaskConfig", "BigramChain", "BiInductTask", "ARMS", "SNIPPET_KINDS",
           "expected_snippet_fraction", "mix_at", "GENERATOR_VERSION"]

ARMS = ("natural", "forward", "backward", "balanced")
SNIPPET_KINDS = ("forward", "backward")
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class BiInductTaskConfig:
    """The stream (defaults: vocabulary 64 + SEP, 4 successors, span 8, length 64, mix 0.5)."""

    arm: str = "natural"        #: natural | forward | backward | balanced
    vocab: int = 64             #: chain tokens (SEP is token id ``vocab``)
    successors: int = 4         #: successors per token (sparse chain)
    span: int = 8               #: |S| (distinct uniform chain tokens)
    T: int = 64                 #: sequence length (inputs)
    mix: float = 0.5            #: initial snippet fraction m(0)
    anneal_steps: int = 2000    #: t_end: m(t) falls linearly to 0 here
    batch_size: int = 32
    n_eval: int = 256           #: sequences per evaluation probe

    def __post_init__(self):
        check_choice("arm", self.arm, ARMS)
        check_int("vocab", self.vocab, 2, 4096)
        check_int("successors", self.successors, 2, self.vocab)
        check_int("span", self.span, 2, self.vocab)
        check_int("T", self.T, 4, 4096)
        set_field(self, "mix", check_float("mix", self.mix, 0.0, 1.0))
        check_int("anneal_steps", self.anneal_steps, 1, 10**9)
        check_int("batch_size", self.batch_size, 1, 100_000)
        check_int("n_eval", self.n_eval, 1, 100_000)
        if self.snippet_len > self.T + 1:
            raise ConfigError("span", self.span, f"a snippet of 2·span + 1 = {self.snippet_len} "
                              f"tokens must fit in T + 1 = {self.T + 1}")

    @property
    def snippet_len(self) -> int:
        return 2 * self.span + 1

    @property
    def sep(self) -> int:
        return self.vocab

    @property
    def n_tokens(self) -> int:
        """Embedding rows and output classes: the chain tokens and SEP."""
        return self.vocab + 1


def mix_at(cfg: BiInductTaskConfig, step: int) -> float:
    """m(t) of the config's arm (0 for the natural arm)."""
    if cfg.arm == "natural":
        return 0.0
    return cfg.mix * max(0.0, 1.0 - step / cfg.anneal_steps)


def expected_snippet_fraction(cfg: BiInductTaskConfig, m: float) -> float:
    """Exact expected fraction of the T + 1 tokens that lie in snippets at mix m."""
    if m <= 0:
        return 0.0
    length = cfg.snippet_len
    cap = (cfg.T + 1) // length
    lam = m * (cfg.T + 1) / length
    k = np.arange(cap)
    e = float((k * stats.poisson.pmf(k, lam)).sum() + cap * stats.poisson.sf(cap - 1, lam))
    return length * e / (cfg.T + 1)


class BigramChain:
    """The sparse random bigram chain (see the module docstring)."""

    def __init__(self, vocab: int, successors: int, seed: int):
        self.vocab, self.successors = int(vocab), int(successors)
        ss = np.random.SeedSequence([int(seed), 0xB1])
        for attempt in range(1000):
            rng = np.random.default_rng(ss.spawn(1)[0] if attempt else ss)
            succ = np.stack([rng.choice(vocab, successors, replace=False)
                             for _ in range(vocab)])
            w = rng.dirichlet(np.ones(successors), size=vocab)
            P = np.zeros((vocab, vocab))
            P[np.arange(vocab)[:, None], succ] = w
            ncomp, _ = connected_components(P > 0, directed=True, connection="strong")
            if ncomp == 1:
                break
        else:
            raise ConfigError("successors", successors, "no irreducible chain found in 1000 "
                              "draws (use more successors)")
        self.attempts = attempt + 1
        self.succ = succ.astype(np.int64)
        self.w = w
        self.cum = np.cumsum(w, axis=1)
        self.cum[:, -1] = 1.0
        self.P = P
        self.pi = self._stationary(P)
        self.cum_pi = np.cumsum(self.pi)
        self.cum_pi[-1] = 1.0

    @staticmethod
    def _stationary(P):
        V = P.shape[0]
        A = P.T - np.eye(V)
        A[-1] = 1.0
        b = np.zeros(V)
        b[-1] = 1.0
        pi = np.linalg.solve(A, b)
        pi = np.clip(pi, 0.0, None)
        return pi / pi.sum()

    def entropy_rate(self) -> float:
        """H = −Σ_i π_i Σ_j P_ij ln P_ij (nats per token): the loss floor."""
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = np.where(self.P > 0, np.log(np.where(self.P > 0, self.P, 1.0)), 0.0)
        return float(-(self.pi[:, None] * self.P * lp).sum())

    def sample(self, rng: np.random.Generator, n: int, length: int, start=None) -> np.ndarray:
        """(n, length) chain paths, first token from π (or ``start``)."""
        out = np.empty((n, length), np.int64)
        cur = (np.searchsorted(self.cum_pi, rng.random(n), side="right") if start is None
               else np.asarray(start, np.int64))
        cur = np.minimum(cur, self.vocab - 1)
        out[:, 0] = cur
        u = rng.random((n, length - 1))
        for t in range(1, length):
            j = (u[:, t - 1, None] > self.cum[cur]).sum(1)
            cur = self.succ[cur, np.minimum(j, self.successors - 1)]
            out[:, t] = cur
        return out

    def continue_from(self, rng, prev: np.ndarray, length: int) -> np.ndarray:
        """(n, length) chain continuations after the tokens ``prev``."""
        n = len(prev)
        out = np.empty((n, length), np.int64)
        cur = np.asarray(prev, np.int64)
        u = rng.random((n, length))
        for t in range(length):
            j = (u[:, t, None] > self.cum[cur]).sum(1)
            cur = self.succ[cur, np.minimum(j, self.successors - 1)]
            out[:, t] = cur
        return out


class BiInductTask:
    """Training stream and evaluation probes of one arm (the training layer's ``Data``)."""

    def __init__(self, cfg: BiInductTaskConfig, chain_seed: int, data_seed: int,
                 eval_seed: int | None = None):
        self.cfg = cfg
        self.chain = BigramChain(cfg.vocab, cfg.successors, chain_seed)
        self.data_seed = int(data_seed)
        self.eval_seed = int(data_seed + 7919 if eval_seed is None else eval_seed)
        self.last_counts = None

    # -- training stream ------------------------------------------------------------------------
    def sequences(self, rng: np.random.Generator, n: int, m: float, arm: str | None = None):
        """(tokens (n, T + 1), snippet mask (n, T + 1) bool, counts {"forward", "backward"})."""
        c = self.cfg
        arm = c.arm if arm is None else arm
        L = c.T + 1
        nat = self.chain.sample(rng, n, L)
        mask = np.zeros((n, L), bool)
        counts = {"forward": 0, "backward": 0}
        if m <= 0 or arm == "natural":
            return nat, mask, counts
        length = c.snippet_len
        cap = L // length
        lam = m * L / length
        ks = np.minimum(rng.poisson(lam, n), cap)
        toks = nat
        for b in range(n):
            k = int(ks[b])
            if k == 0:
                continue
            # uniform non-overlapping placement: k gaps summing to L − k·length
            free = L - k * length
            cuts = np.sort(rng.integers(0, free + 1, k))
            starts = cuts + np.arange(k) * length
            row = toks[b]
            last = None                      # the last natural token before the snippet
            for s in starts:
                if last is None and s > 0:
                    last = row[s - 1]
                S = rng.choice(c.vocab, c.span, replace=False)
                kind = arm if arm != "balanced" else SNIPPET_KINDS[int(rng.random() < 0.5)]
                counts[kind] += 1
                snip = np.concatenate([S, [c.sep], S if kind == "forward" else S[::-1]])
                row[s:s + length] = snip
                mask[b, s:s + length] = True
                after = s + length
                nxt = starts[starts > s]
                end = int(nxt[0]) if len(nxt) else L
                if end > after:
                    # the chain resumes from the last natural token before the snippet
                    if last is None:
                        row[after:end] = self.chain.sample(rng, 1, end - after)[0]
                    else:
                        row[after:end] = self.chain.continue_from(rng, np.array([last]),
                                                                  end - after)[0]
                    last = row[end - 1]
        return toks, mask, counts

    def batch(self, step: int, out=None) -> SeqBatch:
        rng = np.random.default_rng([self.data_seed, int(step), GENERATOR_VERSION])
        m = mix_at(self.cfg, step)
        tok, mask, counts = self.sequences(rng, self.cfg.batch_size, m)
        self.last_counts = counts
        return SeqBatch(np.ascontiguousarray(tok[:, :-1], np.int32), None,
                        np.ascontiguousarray(tok[:, 1:], np.int32),
                        meta={"snippet_mask": mask[:, 1:], "mix": m})

    # -- evaluation -----------------------------------------------------------------------------
    def chain_batch(self, n: int, seed_offset: int = 0) -> SeqBatch:
        """Natural-only sequences (the chain loss)."""
        rng = np.random.default_rng([self.eval_seed, 1, seed_offset])
        tok = self.chain.sample(rng, n, self.cfg.T + 1)
        return SeqBatch(np.ascontiguousarray(tok[:, :-1], np.int32), None,
                        np.ascontiguousarray(tok[:, 1:], np.int32))

    def prefix_fn(self):
        chain = self.chain

        def fill(rng, n, k):
            return chain.sample(rng, n, k)
        return fill

    def probes(self, n: int | None = None) -> dict:
        """The diagnostic probes (docs/diagnostics.md): ``repeat`` (a random token, then a span
        of ⌊(T − 1)/2⌋ distinct chain tokens twice), ``reverse`` (chain prefix, [S SEP
        reverse(S)] at the end), ``kv`` (chain prefix, then 8 key→value pairs twice)."""
        from .probes import kv_probe, repeat_probe, reverse_probe
        c = self.cfg
        n = c.n_eval if n is None else n
        toks = np.arange(c.vocab)
        L = min((c.T - 1) // 2, c.vocab)
        rng = np.random.default_rng([self.eval_seed, 2])
        bos = int(rng.integers(0, c.vocab))
        rep = repeat_probe(rng, n, L, toks, bos=bos, T=c.T)
        rev = reverse_probe(np.random.default_rng([self.eval_seed, 3]), n, c.span, toks, c.sep,
                            c.T, prefix=self.prefix_fn())
        pairs = min(8, c.T // 4)
        kv = kv_probe(np.random.default_rng([self.eval_seed, 4]), n, pairs, toks, toks, c.T,
                      prefix=self.prefix_fn())
        return {"repeat": rep, "reverse": rev, "kv": kv}

    def eval_data(self) -> dict:
        return {"chain": self.chain_batch(self.cfg.n_eval), "probes": self.probes()}


def chain_entropy_estimate(chain: BigramChain, rng, n: int, length: int) -> float:
    """Monte-Carlo −mean ln P(x_{t+1} | x_t) on stationary paths (tests)."""
    x = chain.sample(rng, n, length)
    p = chain.P[x[:, :-1], x[:, 1:]]
    return float(-np.log(p).mean())

