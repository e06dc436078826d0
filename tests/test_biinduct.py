"""The Bi-Induct stream: the chain's empirical entropy matches its analytic rate, π is
stationary, snippets are well formed and keep the requested mix, the natural stream between
snippets is the chain, batches are pure functions of (seed, step); the study's arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimal.errors import ConfigError
from minimal.tasks.biinduct import (BigramChain, BiInductTask, BiInductTaskConfig,
                                    chain_entropy_estimate, expected_snippet_fraction, mix_at)


@settings(max_examples=20)
@given(st.integers(2, 40), st.integers(2, 6), st.integers(0, 2**20))
def test_chain_is_irreducible_and_pi_is_stationary(V, k, seed):
    """With 2 successors an irreducible draw is rare for large V (every token needs an
    in-edge: ≈ (1 − e⁻²)^V), so k = 2 is drawn only up to V = 12; larger sparse chains are
    refused with a one-line error (test below)."""
    k = min(k, V)
    if k == 2:
        V = min(V, 12)
    ch = BigramChain(V, k, seed)
    assert np.allclose(ch.P.sum(1), 1.0, atol=1e-12)
    assert np.all((ch.P > 0).sum(1) == k)
    np.testing.assert_allclose(ch.pi @ ch.P, ch.pi, atol=1e-10)
    assert ch.pi.min() > 0 and abs(ch.pi.sum() - 1) < 1e-12
    assert 0.0 <= ch.entropy_rate() <= math.log(k) + 1e-12


def test_too_sparse_chain_is_a_one_line_error():
    """Found by hypothesis: 34 tokens with 2 successors, seed 909, has no irreducible draw in
    1000 attempts; the generator says so instead of looping or returning a reducible chain."""
    with pytest.raises(ConfigError) as e:
        BigramChain(34, 2, 909)
    assert "\n" not in str(e.value) and "successors" in str(e.value)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_empirical_entropy_matches_the_analytic_rate(seed):
    """−mean ln P(x_{t+1}|x_t) on stationary paths → H; 5 standard errors (the per-step terms
    are correlated along a path, so the error uses the variance of per-path means)."""
    ch = BigramChain(64, 4, seed)
    rng = np.random.default_rng(seed)
    x = ch.sample(rng, 2000, 65)
    per_path = -np.log(ch.P[x[:, :-1], x[:, 1:]]).mean(1)
    se = per_path.std(ddof=1) / math.sqrt(len(per_path))
    assert abs(per_path.mean() - ch.entropy_rate()) < 5 * se + 1e-12
    # and the helper agrees
    assert abs(chain_entropy_estimate(ch, rng, 2000, 65) - ch.entropy_rate()) < 5 * se + 1e-3


def test_first_token_is_stationary():
    ch = BigramChain(16, 3, 5)
    x = ch.sample(np.random.default_rng(0), 40_000, 1)[:, 0]
    freq = np.bincount(x, minlength=16) / len(x)
    assert np.abs(freq - ch.pi).max() < 5 * math.sqrt(ch.pi.max() / len(x))


def _task(arm="forward", **kw):
    return BiInductTask(BiInductTaskConfig(arm=arm, **kw), 3, 4, 5)


def _snippets(tok, mask, c):
    """(start, kind) of each maximal masked run (consecutive snippets split by length)."""
    out = []
    L = c.snippet_len
    for b in range(tok.shape[0]):
        idx = np.flatnonzero(mask[b])
        assert len(idx) % L == 0
        for s in idx[::L]:
            seg = tok[b, s:s + L]
            S, sep, C = seg[:c.span], seg[c.span], seg[c.span + 1:]
            assert sep == c.sep and len(set(S)) == c.span and S.max() < c.vocab
            kind = "forward" if np.array_equal(S, C) else (
                "backward" if np.array_equal(S[::-1], C) else None)
            assert kind is not None
            out.append((b, s, kind))
    return out


@pytest.mark.parametrize("m", [0.1, 0.25, 0.5])
def test_snippet_insertion_keeps_the_requested_mix(m):
    t = _task("balanced")
    c = t.cfg
    rng = np.random.default_rng(0)
    tok, mask, counts = t.sequences(rng, 4000, m)
    frac = mask.mean()
    want = expected_snippet_fraction(c, m)
    # per-sequence fractions are i.i.d.: 5 standard errors
    se = mask.mean(1).std(ddof=1) / math.sqrt(len(mask))
    assert abs(frac - want) < 5 * se
    assert abs(want - m) < 0.05                      # the cap truncates the Poisson a little
    sn = _snippets(tok, mask, c)
    nf = sum(k == "forward" for *_, k in sn)
    assert counts["forward"] == nf and counts["backward"] == len(sn) - nf
    assert abs(nf / len(sn) - 0.5) < 5 * 0.5 / math.sqrt(len(sn))


def test_arms_insert_only_their_kind_and_natural_none():
    for arm in ("forward", "backward"):
        t = _task(arm)
        tok, mask, _ = t.sequences(np.random.default_rng(1), 300, 0.5)
        assert {k for *_, k in _snippets(tok, mask, t.cfg)} == {arm}
    t = _task("natural")
    tok, mask, _ = t.sequences(np.random.default_rng(1), 50, 0.5)
    assert not mask.any()


def test_natural_text_between_snippets_follows_the_chain():
    t = _task("balanced")
    tok, mask, _ = t.sequences(np.random.default_rng(2), 500, 0.5)
    P = t.chain.P
    for b in range(len(tok)):
        nat = np.flatnonzero(~mask[b])
        for i, j in zip(nat[:-1], nat[1:]):
            # consecutive natural tokens (possibly across a snippet) are a chain transition
            assert P[tok[b, i], tok[b, j]] > 0


def test_batches_are_pure_functions_of_seed_and_step_and_follow_the_anneal():
    t1, t2 = _task("forward", anneal_steps=100), _task("forward", anneal_steps=100)
    a, b = t1.batch(7), t2.batch(7)
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.targets, b.targets)
    assert np.array_equal(a.targets[:, :-1], a.tokens[:, 1:])
    assert not np.array_equal(t1.batch(8).tokens, a.tokens)
    assert mix_at(t1.cfg, 0) == 0.5 and mix_at(t1.cfg, 50) == 0.25 and mix_at(t1.cfg, 100) == 0
    assert not t1.batch(150).meta["snippet_mask"].any()


def test_config_errors():
    with pytest.raises(ConfigError):
        BiInductTaskConfig(arm="sideways")
    with pytest.raises(ConfigError):
        BiInductTaskConfig(span=40, T=64)
    with pytest.raises(ConfigError):
        BiInductTaskConfig(mix=1.5)


def test_natural_steps_match_the_mean_snippet_fraction():
    from minimal.studies.biinduct import mean_snippet_fraction, natural_steps
    c = BiInductTaskConfig(arm="forward", anneal_steps=500)
    f = mean_snippet_fraction(c, 1000)
    # m falls linearly from 0.5 to 0 over the first half: f̄ ≈ ½ · ½ · 0.5 (a little less: cap)
    assert 0.10 < f < 0.125
    assert natural_steps(c, 1000) == round(1000 * (1 - f))


def test_probes_fit_the_sequence():
    t = _task()
    pr = t.probes(16)
    assert pr["repeat"].T == pr["reverse"].T == pr["kv"].T == t.cfg.T
    rev = pr["reverse"]
    m, s0 = rev.info["m"], rev.info["start"]
    assert np.all(rev.tokens[:, s0 + m] == t.cfg.sep)
    assert np.array_equal(rev.tokens[:, s0:s0 + m][:, ::-1], rev.tokens[:, s0 + m + 1:])
