"""The task generator: exact and statistical invariants of task.md §7, seeds, evaluation sets,
agreement with the plain NumPy reference and with the kernel's own Python source."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from minimal.config import Seeds
from minimal.tasks import icl
from minimal.tasks.icl import (KIND_BURSTY, KIND_NONBURSTY, KIND_NOVEL, ICLTask, TaskConfig)
from minimal.tasks.icl_reference import generate_reference
from minimal.tasks.icl_stats import exact_checks, task_statistics
from strategies import seeds, task_configs

P_MIN = 1e-6        # false-alarm rate per statistical assertion (task.md §7)


def assert_exact(task: ICLTask, b, split):
    """Exact per-sequence invariants, written out independently of icl_stats."""
    c = task.config
    N, P, D, L, K, T = c.N, c.P, c.D, c.L, c.K, c.T
    s = task.split_settings(split)
    assert b.tokens.shape == (len(b), T, P + D) and b.tokens.dtype == np.float32
    pos = b.tokens[:, :, :P]
    assert set(np.unique(pos)) <= {0.0, 1.0}
    assert (pos.sum(axis=2) == 1).all()                                   # one-hot
    assert ((pos.argmax(axis=2) - np.arange(T)) == b.shift[:, None]).all()  # consecutive
    assert (b.shift >= 0).all() and (b.shift <= P - T).all()
    flip = 1 if s["flip"] else 0
    for i in range(len(b)):
        cls = b.class_ids[i].astype(int)
        novel = b.kind[i] == KIND_NOVEL
        base = cls - K if novel else cls
        assert ((base >= 0) & (base < (c.K_novel if novel else K))).all()
        labels = (base % L + flip) % L
        assert (b.label_ids[i] == labels).all()
        assert b.target[i] == labels[N]
        # label tokens are exact rows of the label table
        np.testing.assert_array_equal(b.tokens[i, 1:2 * N:2, P:],
                                      task.label_vectors[labels[:N]].astype(np.float32))
        if b.kind[i] != KIND_NONBURSTY:
            copies = c.B_novel if novel else s["B_exist"]
            u, cnt = np.unique(cls[:N], return_counts=True)
            if novel or c.no_repeats:
                assert len(u) == N // copies and (cnt == copies).all()
                assert len(set(labels[:N])) == N // copies
                assert (labels[:N] == labels[N]).sum() == copies
            else:
                assert (cnt % copies == 0).all()
            assert (cls[:N] == cls[N]).sum() >= copies
        if c.eps == 0 and not novel:
            # noise-free items equal their class mean exactly (up to float32 rounding)
            np.testing.assert_allclose(b.tokens[i, 0::2, P:], task.means[cls], atol=1e-6)


@pytest.mark.nojit
@given(task_configs(), seeds, st.integers(0, 10**6))
def test_exact_invariants_training(cfg, seed, step):
    task = ICLTask(cfg, seed, warn=False)
    b = task.batch(step)
    assert len(b) == cfg.batch_size
    assert_exact(task, b, "train")
    assert all(v.all() for v in exact_checks(task, b).values())


@pytest.mark.nojit
@given(task_configs(n_eval=48), seeds, st.sampled_from(["ic", "ic2", "iw", "test"]))
def test_exact_invariants_eval_sets(cfg, seed, split):
    task = ICLTask(cfg, seed, warn=False)
    b = task.eval_set(split)
    assert len(b) == cfg.n_eval
    assert_exact(task, b, split)
    if split == "ic":
        assert (b.kind == KIND_NOVEL).all()
    if split == "ic2":
        assert (b.kind == KIND_BURSTY).all()
        # the memorised answer label(class) is never the correct one
        assert ((b.class_ids[:, cfg.N] % cfg.L) != b.target).all()
    if split == "iw":
        assert (b.kind == KIND_NONBURSTY).all()


@settings(max_examples=25)
@given(task_configs(max_N=8, max_D=12, batch_size=128), seeds)
def test_statistical_invariants(cfg, seed):
    """Every row of the §7 statistics holds at a 1e-6 false-alarm rate on 3,000 sequences."""
    task = ICLTask(cfg, seed, warn=False)
    rows = task_statistics(task, n=3000, split="train")
    bad = [r for r in rows if not r.ok]
    assert not bad, bad


@settings(max_examples=15)
@given(task_configs(max_N=8, max_D=8, n_eval=2000), seeds,
       st.sampled_from(["ic", "ic2", "iw"]))
def test_statistical_invariants_eval(cfg, seed, split):
    task = ICLTask(cfg, seed, warn=False)
    bad = [r for r in task_statistics(task, split=split, batch=task.eval_set(split)) if not r.ok]
    assert not bad, bad


@settings(max_examples=20)
@given(task_configs(batch_size=64), seeds)
def test_sequence_type_frequencies(cfg, seed):
    """Novel fraction ≈ p_C, bursty fraction of existing ≈ p_B (exactly 0 when B = 0)."""
    task = ICLTask(cfg, seed, warn=False)
    kinds = np.concatenate([task.batch(s).kind for s in range(40)])
    n_novel = int((kinds == KIND_NOVEL).sum())
    assert sps.binomtest(n_novel, len(kinds), cfg.p_novel).pvalue > P_MIN \
        if 0 < cfg.p_novel < 1 else n_novel == cfg.p_novel * len(kinds)
    existing = kinds != KIND_NOVEL
    n_bursty = int((kinds[existing] == KIND_BURSTY).sum())
    p = cfg.p_bursty_effective
    if cfg.B == 0:
        assert n_bursty == 0
    elif 0 < p < 1 and existing.sum():
        assert sps.binomtest(n_bursty, int(existing.sum()), p).pvalue > P_MIN
    else:
        assert n_bursty == p * existing.sum()


@given(task_configs(zipf_alpha=1.0, p_bursty=0.0, p_novel=0.0, batch_size=64, K=64, L=8),
       seeds)
def test_nonbursty_classes_follow_pi_and_target_is_independent(cfg, seed):
    task = ICLTask(cfg, seed, warn=False)
    cls = np.concatenate([task.batch(s).class_ids for s in range(60)])
    pi = task.class_prob
    for col in (0, cfg.N):                                # a context slot and the target
        counts = np.bincount(cls[:, col], minlength=cfg.K)
        top = 10                                          # frequent classes + a tail bin
        obs = np.append(counts[:top], counts[top:].sum())
        exp = np.append(pi[:top], pi[top:].sum()) * len(cls)
        assert sps.chisquare(obs, exp).pvalue > P_MIN
    # target independent of context: P(target class in context) = Σ π_k (1 - (1-π_k)^N)
    p_in = float((pi * (1 - (1 - pi) ** cfg.N)).sum())
    hits = int((cls[:, :cfg.N] == cls[:, cfg.N:]).any(axis=1).sum())
    assert sps.binomtest(hits, len(cls), p_in).pvalue > P_MIN


def test_item_norm_and_overlaps_world_averaged():
    """E|x|^2 = 1 and same-class overlap 1/(1+eps^2), averaged over many worlds (§7 items 8–9)."""
    norms, same, diff = [], [], []
    cfg = TaskConfig(K=64, L=32, N=8, B=2, eps=0.5, batch_size=64)
    for w in range(40):
        task = ICLTask(cfg, Seeds(seed=0, world=w), warn=False)
        b = task.batch(0)
        x = b.content.astype(np.float64)
        norms.append((x[:, 0::2] ** 2).sum(-1).mean())
        m = b.matches
        j = m.argmax(1)
        k = (~m).argmax(1)
        xq = x[:, -1]
        same.append((xq * x[np.arange(len(b)), 2 * j]).sum(-1).mean())
        diff.append((xq * x[np.arange(len(b)), 2 * k]).sum(-1).mean())
    for vals, target in ((norms, 1.0), (same, 1 / 1.25), (diff, 0.0)):
        vals = np.array(vals)
        se = vals.std(ddof=1) / math.sqrt(len(vals))
        assert abs(vals.mean() - target) < 5 * se + 1e-3, (vals.mean(), target, se)


@pytest.mark.nojit
def test_novel_means_shared_within_call_fresh_across_calls():
    cfg = TaskConfig(K=32, L=4, K_novel=8, N=4, B=1, eps=0.0, p_novel=1.0, batch_size=256)
    task = ICLTask(cfg, 3, warn=False)
    P = cfg.P

    def vectors(b):
        out = {}
        for i in range(len(b)):
            for j in range(cfg.N + 1):
                v = b.tokens[i, 2 * j, P:]
                c = int(b.class_ids[i, j])
                if c in out:
                    np.testing.assert_array_equal(out[c], v)   # same mean within the call
                out[c] = v.copy()
        return out

    a, b = vectors(task.batch(0)), vectors(task.batch(1))
    common = set(a) & set(b)
    assert len(common) == cfg.K_novel
    assert all(not np.allclose(a[c], b[c]) for c in common)   # fresh means in each call


def test_target_slot_and_shift_uniform():
    cfg = TaskConfig(K=256, B=1, batch_size=128)
    task = ICLTask(cfg, 1, warn=False)
    bs = [task.batch(s) for s in range(80)]
    slots = np.concatenate([np.nonzero(b.matches)[1] for b in bs])
    assert sps.chisquare(np.bincount(slots, minlength=cfg.N)).pvalue > P_MIN
    shifts = np.concatenate([b.shift for b in bs])
    assert sps.chisquare(np.bincount(shifts, minlength=cfg.P - cfg.T + 1)).pvalue > P_MIN
    assert shifts.min() == 0 and shifts.max() == cfg.P - cfg.T


# --- seeds and purity -------------------------------------------------------------------------

@given(task_configs(), seeds, st.integers(0, 2**40))
def test_batch_is_pure_function_of_seed_and_step(cfg, seed, step):
    a = ICLTask(cfg, seed, warn=False).batch(step)
    t2 = ICLTask(cfg, seed, warn=False)
    t2.batch(step + 1)                       # other calls in between change nothing
    b = t2.batch(step)
    for name in ("tokens", "target", "class_ids", "label_ids", "kind", "shift"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = t2.batch(step + 1)
    assert not np.array_equal(a.tokens, c.tokens)
    # sequence i does not depend on the batch size
    small = t2.batch(step, batch_size=max(1, cfg.batch_size // 2))
    np.testing.assert_array_equal(small.tokens, a.tokens[: len(small)])


@pytest.mark.nojit
def test_streams_are_independent():
    cfg = TaskConfig(K=64, n_eval=16, batch_size=16)
    base = ICLTask(cfg, Seeds(seed=5))
    other_data = ICLTask(cfg, Seeds(seed=5, data=6))
    other_eval = ICLTask(cfg, Seeds(seed=5, eval=6))
    other_world = ICLTask(cfg, Seeds(seed=5, world=6))
    np.testing.assert_array_equal(base.eval_set("ic").tokens, other_data.eval_set("ic").tokens)
    assert not np.array_equal(base.batch(0).tokens, other_data.batch(0).tokens)
    np.testing.assert_array_equal(base.batch(0).tokens, other_eval.batch(0).tokens)
    assert not np.array_equal(base.eval_set("test").tokens, other_eval.eval_set("test").tokens)
    assert not np.array_equal(base.means, other_world.means)
    np.testing.assert_array_equal(base.batch(0).class_ids, other_world.batch(0).class_ids)
    # same integer for two purposes still gives different streams
    s = Seeds(seed=1)
    assert len({s.key(p) for p in ("world", "eval", "data", "init")}) == 4


def test_eval_sets_fixed_and_prefix_consistent():
    task = ICLTask(TaskConfig(n_eval=100, K=64), 2)
    full = task.eval_set("ic2")
    assert task.eval_set("ic2") is full
    fresh = ICLTask(TaskConfig(n_eval=100, K=64), 2)
    np.testing.assert_array_equal(fresh.sample("ic2", 10).tokens, full.tokens[:10])
    assert set(task.eval_sets()) == {"ic", "ic2", "iw", "test"}


def test_common_random_numbers_across_probabilities():
    """Changing p_novel only flips some sequences' type; the uniforms behind it are shared."""
    a = ICLTask(TaskConfig(p_novel=0.3), 0).batch(0)
    b = ICLTask(TaskConfig(p_novel=0.6), 0).batch(0)
    assert ((a.kind == KIND_NOVEL) <= (b.kind == KIND_NOVEL)).all()


# --- agreement with references ------------------------------------------------------------------

@settings(max_examples=15)
@given(task_configs(max_N=6, max_D=6, batch_size=8), seeds, st.integers(0, 1000),
       st.sampled_from(["train", "ic", "ic2", "iw"]))
def test_kernel_matches_its_python_source(cfg, seed, step, split):
    """The compiled kernel and its own interpreted Python source give identical batches."""
    task = ICLTask(cfg, seed, warn=False)
    key = np.uint64(icl.step_key(task._data_key, step))
    s = task.split_settings(split)
    outs = []
    for fn in (icl._gen_batch, icl._gen_batch.py_func):
        n = cfg.batch_size
        arrs = [np.empty((n, cfg.T, cfg.D), np.float32), np.empty(n, np.int32),
                np.empty((n, cfg.N + 1), np.int32), np.empty((n, cfg.N + 1), np.int32),
                np.empty(n, np.int8), np.empty(n, np.int32)]
        novel, noise = icl._draw_gaussians(key, n, 0, cfg, s["p_novel"] > 0, {})
        with np.errstate(over="ignore"):
            fn(*arrs, task.means, task.label_vectors, task._cum_pi, novel, noise, key, 0, cfg.P,
               cfg.N, s["B_exist"], cfg.B_novel, s["p_novel"], s["p_bursty"], cfg.eps,
               cfg.no_repeats, s["flip"], task._uniform_pi)
        outs.append(arrs)
    for x, y in zip(*outs):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)
        assert x.dtype == y.dtype


@settings(max_examples=10)
@given(task_configs(max_N=8, max_D=10, K=64, L=8), seeds)
def test_reference_satisfies_same_invariants(cfg, seed):
    task = ICLTask(cfg, seed, warn=False)
    b = generate_reference(task, "train", 2000, np.random.default_rng(seed))
    assert_exact(task, b.subset(slice(0, 200)), "train")
    bad = [r for r in task_statistics(task, batch=b) if not r.ok]
    assert not bad, bad


@pytest.mark.parametrize("cfg", [TaskConfig(), TaskConfig(K=256, B=1, p_novel=0.8),
                                 TaskConfig(K=64, B=0, p_novel=0.5, zipf_alpha=1.0)])
def test_kernel_and_reference_distributions_agree(cfg):
    """Two-sample tests between the compiled generator and the NumPy reference."""
    task = ICLTask(cfg, 4, warn=False)
    n = 4000
    fast = task.sample("train", 1)
    fast_parts = [task.batch(s) for s in range(n // cfg.batch_size)]
    ref = generate_reference(task, "train", n, np.random.default_rng(9))

    def summary(batches):
        kinds = np.concatenate([b.kind for b in batches])
        inctx = np.concatenate([b.matches.any(1) for b in batches])
        shift = np.concatenate([b.shift for b in batches])
        lab = np.concatenate([b.target for b in batches])
        ov = np.concatenate([(b.content[:, -1].astype(float) * b.content[:, 0].astype(float))
                             .sum(-1) for b in batches])
        return kinds, inctx, shift, lab, ov

    a, b = summary(fast_parts), summary([ref])
    def same_proportions(xa, xb, categories):
        table = np.array([np.bincount(xa, minlength=categories),
                          np.bincount(xb, minlength=categories)])
        table = table[:, table.sum(0) > 0]
        if table.shape[1] > 1:
            assert sps.chi2_contingency(table).pvalue > P_MIN
        else:                      # a single category observed: both must be all of it
            assert table.all()

    same_proportions(a[0], b[0], 3)                                  # sequence kinds
    same_proportions(a[1].astype(int), b[1].astype(int), 2)          # target class in context
    same_proportions(a[3], b[3], cfg.L)                              # target labels
    assert sps.ks_2samp(a[2], b[2]).pvalue > P_MIN
    assert sps.ks_2samp(a[4], b[4]).pvalue > P_MIN
    assert fast.tokens.shape[1:] == ref.tokens.shape[1:]


def test_stats_detect_a_broken_generator():
    """The statistics can fail: shuffled label tokens and a biased shift are caught."""
    task = ICLTask(TaskConfig(K=256, B=1), 0)
    b = task.batch(0, batch_size=2000)
    broken = b.copy()
    broken.label_ids[:, 0] = (broken.label_ids[:, 0] + 1) % 32
    names = {r.name for r in task_statistics(task, batch=broken) if not r.ok}
    assert "exact: label tokens exact" in names
    biased = b.copy()
    biased.shift[:] = np.minimum(biased.shift, 10)
    names = {r.name for r in task_statistics(task, batch=biased) if not r.ok}
    assert "shift uniform on 0..P-T" in names


@pytest.mark.nojit
def test_random_context_label_reference_level():
    """§7.15: a uniformly random context label scores B/N on IC and IC2."""
    for B in (1, 2, 4):
        task = ICLTask(TaskConfig(B=B, n_eval=500), 0)
        for split in ("ic", "ic2"):
            b = task.eval_set(split)
            score = (b.label_ids[:, :8] == b.target[:, None]).mean()
            assert score == pytest.approx(B / 8, abs=1e-12)


def test_rejects_bad_arguments():
    task = ICLTask(TaskConfig(), 0)
    with pytest.raises(ValueError, match="step"):
        task.batch(-1)
    with pytest.raises(ValueError, match="split"):
        task.sample("nope", 3)
    with pytest.raises(ValueError, match="n="):
        task.sample("ic", 0)
    with pytest.raises(ValueError, match="evaluation set"):
        task.eval_set("train")


# --- frozen random streams (generator version 2) ------------------------------------------------

#: sha256 prefixes of whole batches (content bytes, target, class and label ids, kind, shift)
#: of generator version 2, recorded on x86-64 Linux before any speed work on the generator.
#: Runs of long sweeps depend on these streams: a faster generator must reproduce them bit for
#: bit.  The rare ziggurat wedge/tail draws call the C library's exp/log, so another libm could
#: change a few low bits; the platform-independent guarantee is
#: ``test_fast_generator_equals_reference_bit_for_bit``.
FROZEN_V2 = {
    "default": (dict(), 0, [0, 1, 77_777],
                ["b98104c4eabfafc0", "0b9abcc7f8205715", "315f4b930f95ceca",
                 "376b6acd8b95a219", "34b00f0653678c79"]),
    "fig3": (dict(K=256, B=1, p_novel=0.8), 3, [0, 5, 60_000],
             ["54db7bad405b9c0d", "eae5498634d15cb6", "6440df5df3372755",
              "2fe4cff8db84ca9b", "2d902da18e755fef"]),
    "zipf-b0": (dict(K=64, L=8, B=0, p_novel=0.5, zipf_alpha=1.0, p_bursty=0.3, eps=0.5,
                     no_repeats=False), 11, [0, 2],
                ["91146d12c495fc66", "9783b318d4e3a53e", "5da4f6557b8145c4",
                 "7cc5154268f3313f"]),
    "noise-free": (dict(K=128, B=1, eps=0.0, N=4, D=20, batch_size=50, p_novel=0.3), 5, [0, 9],
                   ["c4999765c17e7d10", "83f419a86fe8a914", "7031214921637807",
                    "d8d49c53925f589c"]),
}


def _digest(b) -> str:
    import hashlib
    h = hashlib.sha256()
    for a in (b.content, b.target, b.class_ids, b.label_ids, b.kind, b.shift):
        h.update(np.ascontiguousarray(a).tobytes())
        h.update(str(a.dtype).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(FROZEN_V2))
def test_generator_v2_streams_are_frozen(name):
    """Training batches and evaluation sets (IC, IW) hash to the recorded values."""
    kw, seed, steps, want = FROZEN_V2[name]
    assert icl.GENERATOR_VERSION == 2
    task = ICLTask(TaskConfig(n_eval=300, **kw), seed, warn=False)
    got = [_digest(task.batch(s)) for s in steps] + [_digest(task.eval_set(e))
                                                     for e in ("ic", "iw")]
    assert got == want
