"""Configurations and presets of the data generators: the bursty in-context classification
task (docs/task.md) and the two-hop knowledge graph of the CoT model (docs/cot.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from ..config import (PresetRegistry, Seeds, check_bool, check_choice, check_float, check_int,
                      set_field)
from ..errors import ConfigError

__all__ = ["TaskConfig", "TaskRunConfig", "TASK_PRESETS", "TwoHopConfig", "COT_WORLDS",
           "NOISE_MODES", "SinghTaskConfig"]

# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskConfig:
    """Parameters of the bursty classification task (defaults: Reddy Fig. 1d, K = 512, B = 2).

    Field names follow the glossary of docs/task.md.  Its validation rules V1–V15 are
    enforced on construction and raise a one-line ``ConfigError`` (``ConfigTypeError`` for a
    wrong type).
    """

    K: int = 512            #: training classes (multiple of L)
    L: int = 32             #: labels
    N: int = 8              #: item–label pairs in a context
    D: int = 63             #: content dimension
    N_max: int = 32         #: longest context the positional code supports (P = 2 N_max + 1)
    K_novel: int = 128      #: fresh novel classes per generator call (multiple of L)
    B: int = 2              #: burstiness (0 = non-bursty special case)
    eps: float = 0.1        #: within-class noise ε
    zipf_alpha: float = 0.0  #: Zipf exponent α_Z of the class frequencies
    p_bursty: float = 1.0   #: P(bursty | existing classes)
    p_novel: float = 0.0    #: P(novel classes)
    no_repeats: bool = True  #: bursty contexts use n distinct labels (the author's setting)
    batch_size: int = 128   #: training sequences per step
    n_eval: int = 10_000    #: sequences per evaluation set

    LIMITS: ClassVar[dict] = {"K": 10_000_000, "L": 100_000, "N_max": 4096, "D": 100_000,
                              "K_novel": 10_000_000, "batch_size": 10_000_000,
                              "n_eval": 10_000_000}

    def __post_init__(self):
        lim = self.LIMITS
        # V1, V6, V14: integer sizes
        for name, lo in (("L", 2), ("K", 1), ("N", 1), ("D", 1), ("N_max", 1), ("K_novel", 1),
                         ("batch_size", 1), ("n_eval", 1)):
            check_int(name, getattr(self, name), lo=lo, hi=lim.get(name))
        L, K, N = self.L, self.K, self.N
        # V3: balanced class→label map
        if K < L or K % L:
            raise ConfigError("K", K, f"must be a positive multiple of L={L} "
                              f"(K ≥ L and K mod L = 0, e.g. {L}, {2 * L}, {4 * L}, ...)")
        # V4
        if self.K_novel < L or self.K_novel % L:
            raise ConfigError("K_novel", self.K_novel, f"must be a positive multiple of L={L} "
                              "(K_novel ≥ L and K_novel mod L = 0)")
        # V5
        if N > self.N_max:
            raise ConfigError("N", N, f"must be in [1, N_max={self.N_max}] "
                              "(the positional one-hot has 2 N_max + 1 slots)")
        # V7
        check_int("B", self.B, lo=0)
        if self.B >= N:
            raise ConfigError("B", self.B, f"must be in [0, N-1] = [0, {N - 1}] "
                              "(B = N would leave a single label in the context)")
        if self.B >= 1:
            # V8
            if N % self.B:
                raise ConfigError("B", self.B, f"must divide N={N} (n = N/B copies-per-class "
                                  "layout); allowed: " +
                                  ", ".join(str(b) for b in range(1, N) if N % b == 0))
            # V9 (stricter than the letter of the rule: the IC set always draws n distinct
            # novel labels, so n ≤ L is needed even without no_repeats)
            if N // self.B > L:
                raise ConfigError("B", self.B, f"gives n = N/B = {N // self.B} distinct labels "
                                  f"per context, more than L={L}; need N/B ≤ L")
        else:
            # V10
            if N < 2 or N % 2:
                raise ConfigError("N", N, "must be even and ≥ 2 when B = 0 "
                                  "(novel and IC/IC2 sequences then use B_novel = N/2)")
        # V11–V13
        # upper bounds: beyond them items are pure noise (ε) or one class takes all the mass
        # (α_Z), and ε² or (k+1)^(−α_Z) would leave the float range
        set_field(self, "eps", check_float("eps", self.eps, lo=0.0, hi=1e6))
        set_field(self, "zipf_alpha", check_float("zipf_alpha", self.zipf_alpha, lo=0.0,
                                                  hi=100.0))
        set_field(self, "p_bursty", check_float("p_bursty", self.p_bursty, lo=0.0, hi=1.0))
        set_field(self, "p_novel", check_float("p_novel", self.p_novel, lo=0.0, hi=1.0))
        # V15
        check_bool("no_repeats", self.no_repeats)

    # -- derived sizes ------------------------------------------------------------------------
    @property
    def P(self) -> int:
        """Positional one-hot dimension 2 N_max + 1."""
        return 2 * self.N_max + 1

    @property
    def d(self) -> int:
        """Token dimension P + D."""
        return self.P + self.D

    @property
    def T(self) -> int:
        """Sequence length 2N + 1 (target at position 2N)."""
        return 2 * self.N + 1

    @property
    def B_novel(self) -> int:
        """Copies per class in novel-class sequences (N/2 when B = 0)."""
        return self.B if self.B >= 1 else self.N // 2

    @property
    def B_eval(self) -> int:
        """Burstiness of the IC and IC2 sets (N/2 when B = 0)."""
        return self.B_novel

    @property
    def n(self) -> int:
        """Distinct classes in a bursty context of the training distribution (N / B_novel)."""
        return self.N // self.B_novel

    @property
    def p_bursty_effective(self) -> float:
        """p_B actually used: 0 when B = 0 (the author code's substitution)."""
        return 0.0 if self.B == 0 else self.p_bursty

    def resolved(self) -> dict:
        """Derived values and substitutions, recorded in run manifests."""
        notes = []
        if self.B == 0:
            notes.append(f"B = 0: p_bursty {self.p_bursty} -> 0 for existing classes; novel, IC "
                         f"and IC2 sequences use B_novel = N/2 = {self.N // 2}")
        return {"P": self.P, "d": self.d, "T": self.T, "n": self.n, "B_novel": self.B_novel,
                "B_eval": self.B_eval, "p_bursty_effective": self.p_bursty_effective,
                "notes": notes}

    def bytes_per_sequence(self) -> int:
        """Memory of one generated sequence (float32 contents, int32 metadata)."""
        return self.T * self.D * 4 + 2 * (self.N + 1) * 4 + 16

    def memory_bytes(self) -> int:
        """Planned memory of a run on this task: the world (float64 class means), the four
        evaluation sets, a training batch and the novel means of one generator call."""
        noise = 8 * (self.N + 1) * self.D * max(self.n_eval, self.batch_size)  # transient
        return (8 * self.D * (self.K + self.L + self.K_novel) + 8 * self.K + noise
                + self.bytes_per_sequence() * (4 * self.n_eval + 2 * self.batch_size))

    def warnings(self) -> list[str]:
        """Valid-but-suspicious settings (docs/task.md, "Validation")."""
        out = []
        if self.B == 0 and self.p_bursty > 0:
            out.append(f"B = 0 with p_bursty = {self.p_bursty}: existing-class sequences are "
                       "made non-bursty (p_bursty -> 0), as in the author code")
        if self.zipf_alpha > 0 and self.p_bursty_effective == 1.0 and self.no_repeats:
            out.append(f"zipf_alpha = {self.zipf_alpha} has no effect on training data when "
                       "p_bursty = 1 and no_repeats (bursty contexts ignore π); use p_bursty < 1")
        if self.B == 0 and self.p_novel == 0:
            out.append("B = 0 with p_novel = 0: no training sequence rewards in-context learning")
        return out


TASK_PRESETS = PresetRegistry("task")
TASK_PRESETS.register("reddy-default", lambda: TaskConfig(),
                      "Reddy Fig. 1d: K=512, B=2, p_B=1, p_C=0")
TASK_PRESETS.register("reddy-fig3", lambda: TaskConfig(K=256, B=1, p_bursty=1.0, p_novel=0.8),
                      "Reddy Fig. 3 (mechanistic): K=256, B=1, p_B=1, p_C=0.8")
TASK_PRESETS.register("reddy-iwl", lambda: TaskConfig(K=128, B=1, eps=0.0, p_novel=0.0),
                      "in-weights regime: few noiseless classes (K=128, eps=0), B=1, p_C=0")
TASK_PRESETS.register("reddy-coexist",
                      lambda: TaskConfig(K=512, B=2, p_bursty=0.5, p_novel=0.5),
                      "coexistence (Fig. A.1): K=512, B=2, p_B=p_C=0.5")
TASK_PRESETS.register("reddy-zipf",
                      lambda: TaskConfig(K=512, B=2, zipf_alpha=1.0, p_bursty=0.5),
                      "Zipfian classes: K=512, B=2, alpha_Z=1, p_B=0.5")



@dataclass(frozen=True)
class TaskRunConfig:
    """What ``minimal task ...`` commands configure: the task and the seeds."""

    task: TaskConfig = dataclasses.field(default_factory=TaskConfig)
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        if not isinstance(self.task, TaskConfig):
            raise ConfigError("task", self.task, "must be a TaskConfig")
        if not isinstance(self.seeds, Seeds):
            raise ConfigError("seeds", self.seeds, "must be a Seeds")


# ----------------------------------------------------------------------------------------------
# Two-hop knowledge graph (CoT)
# ----------------------------------------------------------------------------------------------

NOISE_MODES = ("none", "second", "first", "both")


@dataclass(frozen=True)
class TwoHopConfig:
    n_entities: int = 400
    n_relations: int = 40
    k_out: int = 16
    ood_ratio: float = 0.05
    lam: float = 7.2            #: training two-hop items per ID atomic fact (λ)
    noise: float = 0.0          #: noise ratio ξ of corrupted reasoning steps
    noise_hop: str = "second"   #: which hop(s) the noise corrupts: second, first or both
    probe_cap: int = 3000       #: items per evaluation probe
    train_pool_frac: float = 0.995

    def __post_init__(self):
        check_int("n_entities", self.n_entities, 2, 10**6, rule="|E| must be ≥ 2")
        check_int("n_relations", self.n_relations, 1, 10**5)
        check_int("k_out", self.k_out, 1, self.n_relations,
                  rule=f"k_out must be in [1, |R| = {self.n_relations}]")
        set_field(self, "ood_ratio", check_float("ood_ratio", self.ood_ratio, 0.0, 1.0,
                                                 lo_open=True, hi_open=True))
        set_field(self, "lam", check_float("lam", self.lam, 0.0, 1e6))
        set_field(self, "noise", check_float("noise", self.noise, 0.0, 1.0))
        check_choice("noise_hop", self.noise_hop, NOISE_MODES)
        check_int("probe_cap", self.probe_cap, 1, 10**8)
        set_field(self, "train_pool_frac", check_float("train_pool_frac", self.train_pool_frac,
                                                       0.0, 1.0, lo_open=True))
        # feasibility of λ: expected train pool ≈ frac · |E| k_out · (1-ood)·k_out·(1-ood)
        n_atomic = self.n_entities * self.k_out
        n_id = n_atomic - int(round(self.ood_ratio * n_atomic))
        pool = self.train_pool_frac * n_id * self.k_out * (1 - self.ood_ratio)
        if round(self.lam * n_id) > pool * 1.02 + 10:
            raise ConfigError("lam", self.lam, f"needs {round(self.lam * n_id)} training "
                              f"two-hop items but the training pool holds about {int(pool)}; "
                              f"the feasible maximum is about {pool / n_id:.2f}")

    @property
    def mode(self) -> str:
        return "none" if self.noise == 0.0 else self.noise_hop


COT_WORLDS = PresetRegistry("twohop")
COT_WORLDS.register("tiny", lambda: TwoHopConfig(200, 20, 10, 0.05, 3.6),
                    "unit tests: |E|=200, |R|=20, k_out=10, λ=3.6")
COT_WORLDS.register("small", lambda: TwoHopConfig(400, 40, 16, 0.05, 7.2),
                    "fast CPU default: |E|=400, |R|=40, k_out=16, λ=7.2")
COT_WORLDS.register("paper", lambda: TwoHopConfig(2000, 200, 20, 0.05, 7.2),
                    "paper scale: |E|=2000, |R|=200, k_out=20, λ=7.2")


# ----------------------------------------------------------------------------------------------
# Singh et al.'s few-shot task, synthetic stand-in (docs/clamping.md)
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SinghTaskConfig:
    """Synthetic stand-in for Singh et al.'s Omniglot task (2 context pairs + query).

    Classes are Gaussian prototypes μ_c ~ N(0, I/D_f) with fixed exemplars
    (μ_c + ε ζ)/√(1 + ε²); exemplar 0 of each class is the training exemplar, the others are held
    out.  Every sequence draws a query class and a distinct distractor class, a label pair from
    the training pairs (a fraction ``pair_split`` of all unordered pairs of the ``n_labels``
    labels), assigns the two labels to the two classes at random and shuffles the order of the
    two context pairs."""

    n_classes: int = 50          #: training classes
    n_test_classes: int = 100    #: held-out classes (the test set)
    n_labels: int = 5            #: label set size
    D_f: int = 64                #: feature dimension of the exemplars
    eps: float = 0.3             #: within-class exemplar spread ε
    n_exemplars: int = 5         #: exemplars per class (1 for training, the rest held out)
    pair_split: float = 0.8      #: fraction of label pairs used in training
    batch_size: int = 32
    n_eval: int = 1000           #: sequences per evaluation set

    def __post_init__(self):
        check_int("n_classes", self.n_classes, 2, 100_000)
        check_int("n_test_classes", self.n_test_classes, 2, 100_000)
        check_int("n_labels", self.n_labels, 3, 1000)
        check_int("D_f", self.D_f, 1, 100_000)
        set_field(self, "eps", check_float("eps", self.eps, 0.0, 1e3))
        check_int("n_exemplars", self.n_exemplars, 2, 1000)
        set_field(self, "pair_split", check_float("pair_split", self.pair_split, 0.0, 1.0,
                                                  lo_open=True, hi_open=True))
        check_int("batch_size", self.batch_size, 1, 10**6)
        check_int("n_eval", self.n_eval, 1, 10**7)
        P = self.n_pairs
        k = self.n_train_pairs
        if not 1 <= k < P:
            raise ConfigError("pair_split", self.pair_split, f"keeps {k} of the {P} label "
                              "pairs for training; need at least one training and one "
                              "held-out pair")

    @property
    def n_pairs(self) -> int:
        return self.n_labels * (self.n_labels - 1) // 2

    @property
    def n_train_pairs(self) -> int:
        return int(round(self.pair_split * self.n_pairs))

    @property
    def T(self) -> int:
        return 5
