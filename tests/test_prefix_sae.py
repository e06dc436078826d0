"""The prefix study of the attention-output SAEs (docs/sae.md, "The prefix study"): the copy
stream with and without ambiguous matches, the prefix probe and score, head classes, induction
features, and a short run of the whole pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minimal.diagnostics.scores import prefix_length_score
from minimal.errors import ConfigError
from minimal.studies import prefix_sae as ps
from minimal.studies._lm import LMTransformer
from minimal.tasks.ambiguous import (MIN_GAP, AmbiguousCopyConfig, AmbiguousCopyTask,
                                     ambiguous_sequences)
from minimal.tasks.probes import prefix_probe


def _earlier_successors(row, t):
    """Successors of the earlier occurrences (positions s < t) of the token at t."""
    return {int(row[s + 1]) for s in range(t) if row[s] == row[t]}


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 40), st.integers(3, 6), st.integers(0, 4),
       st.sampled_from([0.0, 1.0]))
def test_stream_facts(seed, n, span_min, extra, amb):
    cfg = AmbiguousCopyConfig(span_min=span_min, span_max=span_min + extra, ambiguous=amb)
    tok, f = ambiguous_sequences(np.random.default_rng(seed), cfg, n)
    T, bos = cfg.T, cfg.bos
    assert tok.shape == (n, T + 1) and (tok[:, 0] == bos).all()
    assert ((tok[:, 1:] >= 0) & (tok[:, 1:] < bos)).all()
    batch = AmbiguousCopyTask(cfg, 0, 0)._batch(tok, f)
    for b in range(n):
        m, a1, a2, k, d = (int(f[x][b]) for x in ("span", "a1", "a2", "k", "d"))
        row = tok[b]
        assert span_min <= m <= span_min + extra and a1 >= 1
        assert a2 >= a1 + m + MIN_GAP and a2 + m <= T + 1
        np.testing.assert_array_equal(row[a2:a2 + m], row[a1:a1 + m])
        # every token occurs once, the span's twice, the distractor's three times
        want = np.ones(T, int)
        counts = np.bincount(row[1:], minlength=bos)
        S = row[a1:a1 + m]
        assert (counts[S] == (2 + (S == row[d]) * (d >= 0))).all()
        assert counts.sum() == T and (counts <= 3).all() and want.sum() == T
        assert (d >= 0) == (amb == 1.0) and (k >= 0) == (d >= 0)
        copy = np.flatnonzero(batch.meta["copy_mask"][b])
        np.testing.assert_array_equal(copy, np.arange(a2, a2 + m - 1))
        amb_q = np.flatnonzero(batch.meta["amb_mask"][b])
        for t in copy:
            succ = _earlier_successors(row, t)
            if t in amb_q:
                # the ambiguous query: two successors, one prefix of length 2 decides
                assert t == a2 + k and succ == {int(row[t + 1]), int(row[d + 1])}
                assert len(succ) == 2 and batch.meta["distractor_next"][b] == row[d + 1]
                two = [s for s in range(1, t) if row[s] == row[t] and row[s - 1] == row[t - 1]]
                assert two == [a1 + k]
            else:
                assert succ == {int(row[t + 1])}       # one-token matching suffices
        if d < 0:
            assert amb_q.size == 0 and batch.meta["distractor_next"][b] == -1


def test_stream_rates_and_reproducibility():
    cfg = AmbiguousCopyConfig(ambiguous=0.3, batch_size=4000)
    task = AmbiguousCopyTask(cfg, 11, 12)
    b0 = task.batch(5)
    has = b0.meta["d"] >= 0
    # the distractor rate is the configured probability (binomial, 5 standard deviations)
    assert abs(has.mean() - 0.3) < 5 * np.sqrt(0.3 * 0.7 / 4000)
    # span lengths are uniform over span_min … span_max (each within 5 sd of its share)
    c = np.bincount(b0.meta["span"], minlength=cfg.span_max + 1)[cfg.span_min:]
    p = 1 / len(c)
    assert (np.abs(c / 4000 - p) < 5 * np.sqrt(p * (1 - p) / 4000)).all()
    b1 = AmbiguousCopyTask(cfg, 11, 12).batch(5)
    np.testing.assert_array_equal(b0.tokens, b1.tokens)
    assert not np.array_equal(task.batch(6).tokens, b0.tokens)
    np.testing.assert_array_equal(b0.targets[:, :-1], b0.tokens[:, 1:])


def test_stream_config_errors():
    with pytest.raises(ConfigError, match="span_max"):
        AmbiguousCopyConfig(span_max=15)
    with pytest.raises(ConfigError, match="span_min"):
        AmbiguousCopyConfig(span_min=2)
    with pytest.raises(ConfigError, match="ambiguous"):
        AmbiguousCopyConfig(ambiguous=1.5)
    with pytest.raises(ConfigError, match="T"):
        AmbiguousCopyConfig(T=64)                 # 64 distinct tokens need vocab ≥ 65


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 8), st.integers(18, 40))
def test_prefix_probe_copies_a_span_among_distinct_tokens(seed, p, T):
    if 2 * p + 2 > T:
        with pytest.raises(ConfigError, match="probe.p"):
            prefix_probe(np.random.default_rng(seed), 3, p, np.arange(60), 60, T)
        return
    pr = prefix_probe(np.random.default_rng(seed), 30, p, np.arange(60), 60, T)
    a1, a2, q, k = (pr.info[x] for x in ("a1", "a2", "query", "key"))
    assert (a1 >= 1).all() and (a2 > a1 + p).all() and (q == a2 + p - 1).all()
    assert (q <= T - 1).all() and (k == a1 + p).all() and (k < a2).all()
    for b in range(30):
        row = pr.tokens[b]
        assert row[0] == 60
        np.testing.assert_array_equal(row[a2[b]:a2[b] + p], row[a1[b]:a1[b] + p])
        # apart from the copy, every token is distinct
        rest = np.delete(row[1:], np.arange(a2[b], a2[b] + p) - 1)
        assert len(np.unique(rest)) == len(rest)
        # the query's token occurs once before it, at k − 1, with the successor at k
        assert [s for s in range(q[b]) if row[s] == row[q[b]]] == [k[b] - 1]
        assert pr.targets[b, q[b]] == row[k[b]] and (pr.targets[b] >= 0).sum() == 1


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 6), st.integers(1, 4), st.integers(2, 12))
def test_prefix_length_score_is_the_mean_of_the_read_entries(seed, n, H, T):
    rng = np.random.default_rng(seed)
    A = rng.random((n, H, T, T))
    q = rng.integers(0, T, n)
    k = np.array([rng.integers(0, qq + 1) for qq in q])
    want = np.zeros(H)
    for b in range(n):
        for h in range(H):
            want[h] += A[b, h, q[b], k[b]] / n
    np.testing.assert_allclose(prefix_length_score(A, q, k), want, rtol=1e-12)
    if n > 0:
        bad = k.copy()
        bad[0] = q[0] + 1
        with pytest.raises(ConfigError):
            prefix_length_score(A, q, bad)


def test_head_classes_follow_the_thresholds():
    S = np.array([[0.1, 0.9, 0.5, 0.29, 0.3],       # p = 1
                  [0.3, 0.9, 0.5, 0.5, 0.9],
                  [0.7, 0.9, 0.5, 0.61, 0.9],       # p = 3
                  [0.8, 0.9, 0.5, 0.6, 0.9],
                  [0.9, 0.9, 0.5, 0.9, 0.9]])
    # head 3 misses long at p = 4 (0.6 is not > 0.6); head 4 misses at p = 1 (0.3 is not < 0.3)
    assert ps.classify_heads(S) == ["long", "short", "other", "other", "other"]
    with pytest.raises(ConfigError):
        ps.classify_heads(S[:3])


def test_induction_features_need_repeat_specific_activity():
    n, T, m = 50, 31, 5
    rep, plain = np.zeros((n, T, m)), np.zeros((n, T, m))
    second = slice(16, 31)
    rep[:, second, 0] = 1.0                      # on the second copy only: induction
    rep[:, second, 1] = plain[:, second, 1] = 1.0    # the same without a repeat: position
    rep[:, 16, 2] = 1.0                          # one position in 15: active on 6.7 % < 10 %
    rep[:, second, 3] = 1.0
    plain[:, second, 3] = 0.19                   # ratio 5.3 ≥ 5: induction
    rep[:, second, 4] = 1.0
    plain[:, second, 4] = 0.21                   # ratio 4.8 < 5: not
    assert ps.induction_features(rep, plain, second).tolist() == [0, 3]


def test_hypotheses_on_constructed_rows():
    def row(arm, n_long, n_short, frac=None, main=None, n_ind=0):
        return {"arm": arm, "status": "completed", "n_long": n_long, "n_short": n_short,
                "n_induction": n_ind, "frac_in_one_block": frac, "main_head_frac": main}
    rows = [row("ambiguous", 1, 1, 0.9, 0.9, 5), row("ambiguous", 1, 1, 0.9, 0.5, 5),
            row("ambiguous", 0, 2), row("control", 0, 3, 0.85, 0.8, 3), row("control", 1, 0)]
    rows.append(row("ambiguous 0.5", 0, 1))
    h = {x["hypothesis"].split(":")[0]: x for x in ps.hypotheses(rows)}
    assert not h["ambiguous 0.5"]["supported"] and h["ambiguous 0.5"]["seeds"] == 1
    assert h["ambiguous"]["supported"] and h["ambiguous"]["seeds_for"] == 2
    assert not h["control"]["supported"] and h["control"]["seeds_for"] == 1
    blk = h["induction features sit in one head block"]
    assert blk["seeds"] == 3 and blk["seeds_for"] == 2 and blk["supported"]
    assert [t["arm"] for t in ps.study_table(rows)] == ["ambiguous", "ambiguous 0.5", "control"]
    assert ps.arm_name(0.25) == "ambiguous 0.25" and ps.arm_name(0.0) == "control"


def test_short_run_and_sae_analysis(tmp_path):
    cfg = ps.PREFIX_PRESETS.get("prefix-quick")
    res = ps.train_prefix(cfg, tmp_path / "net", progress=False)
    assert res.status == "completed"
    m = res.metrics
    for h in range(4):
        for p in ps.P_VALUES:
            v = np.asarray(m[f"L1H{h}.p{p}"])
            assert ((v >= 0) & (v <= 1)).all()
    s = ps.summary(m, cfg)
    assert s["arm"] == "ambiguous" and 0 <= s["amb_acc"] <= 1 and len(s["classes"].split(",")) == 4
    a = ps.analyse_sae(tmp_path / "net", tmp_path / "sae", steps=60, n_seqs=64)
    assert a["status"] == "completed" and a["rows"] == 64 * 32 and a["dict_size"] == 32 * 32
    assert np.isfinite(a["score"]) and a["loss_zero"] >= 0
    assert sum(a["head_counts"]) == a["n_induction"]


def test_ambiguity_attention_reads_the_right_and_the_distractor_keys():
    """A stand-in network whose head 0 attends only to the successor of the occurrence that
    shares the longer prefix and head 1 only to the distractor's successor."""
    cfg = ps.PREFIX_PRESETS.get("prefix-quick")

    class Fake:
        class cfg:
            n_layers, heads = 2, 3

        record_chunked = LMTransformer.record_chunked

        def forward(self, params, batch, record, clamps=None, full=False):
            n, T = batch.tokens.shape
            A = np.zeros((n, 3, T, T))
            A[:, 2] = 1.0 / T
            for b in range(n):
                t = np.flatnonzero(batch.meta["amb_mask"][b])
                if t.size:
                    t = t[0]
                    A[b, 0, t, batch.meta["a1"][b] + batch.meta["k"][b] + 1] = 1.0
                    A[b, 1, t, batch.meta["d"][b] + 1] = 1.0
            return {record[0]: A}

    att = ps.ambiguity_attention(Fake(), {}, cfg)
    np.testing.assert_allclose(att["right"], [1.0, 0.0, 1 / cfg.task.T])
    np.testing.assert_allclose(att["wrong"], [0.0, 1.0, 1 / cfg.task.T])


def test_cli_default_penalty_is_the_study_constant(capsys):
    """The CLI states the study's λ in its help without importing the study; they agree."""
    from minimal.cli import main
    assert main(["sae", "fit", "--help"]) == 0
    assert f"the study's, {ps.SAE_L1:g}" in " ".join(capsys.readouterr().out.split())
