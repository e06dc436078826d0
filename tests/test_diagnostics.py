"""Induction diagnostics: every score on hand-built attention patterns with a known answer,
invariance to head permutation, the Reddy mapping (prefix matching = TILA2, previous token on
labels = ILA1), head ablation (an unused head changes nothing), top-k vs random bookkeeping and
the training-time recorder."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minimal.diagnostics import scores as S
from minimal.diagnostics.ablation import (k_per_layer, top_vs_random, transformer_measure,
                                          z_ablation_overrides)
from minimal.diagnostics.heads import (ScoreEvaluator, copying_eigen_scores, reddy_scores,
                                       transformer_scores)
from minimal.errors import ConfigError
from minimal.tasks.probes import kv_probe, reddy_ids, repeat_probe, reverse_probe
from minimal.tasks.seq import SeqBatch

EPS = np.finfo(np.float64).eps


def _probe(n, L, vocab=50, seed=0, bos=None):
    rng = np.random.default_rng(seed)
    return repeat_probe(rng, n, L, np.arange(vocab), bos=vocab if bos is None else bos)


def _causal_uniform(n, H, T):
    A = np.tril(np.ones((T, T)))
    A /= A.sum(1, keepdims=True)
    return np.broadcast_to(A, (n, H, T, T)).copy()


def _self_attention(n, H, T):
    return np.broadcast_to(np.eye(T), (n, H, T, T)).copy()


def perfect_induction(n, H, L, start=1):
    T = start + 2 * L
    A = _self_attention(n, H, T)
    for q in range(start + L, start + 2 * L):
        A[:, :, q, :] = 0.0
        A[:, :, q, q - L + 1] = 1.0
    return A


def previous_token_head(n, H, T):
    A = np.zeros((n, H, T, T))
    A[:, :, 0, 0] = 1.0
    for q in range(1, T):
        A[:, :, q, q - 1] = 1.0
    return A


# ----------------------------------------------------------------------------------------------
# hand-built patterns
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("L", [2, 5, 25])
def test_perfect_induction_head(L):
    pr = _probe(3, L)
    A = perfect_induction(3, 2, L)
    assert np.allclose(S.induction_score(A, L), 1.0)
    assert np.allclose(S.prefix_matching_score(A, pr.tokens, np.arange(1 + L, 1 + 2 * L)), 1.0)
    assert np.allclose(S.duplicate_token_score(A, pr.tokens, np.arange(1 + L, 1 + 2 * L)), 0.0)
    # TransformerLens also averages q = L − 1 and q = L (self-attending here): L / (L + 2)
    assert np.allclose(S.induction_score_tl(A, L), L / (L + 2))
    # detect_head: L matched rows out of 2L + 1 rows of weight 1
    D = S.induction_detection_pattern(pr.tokens)
    assert np.allclose(S.detect_head(A, D), L / (2 * L + 1))


def test_previous_token_head_scores_one():
    T = 11
    A = previous_token_head(2, 3, T)
    assert np.allclose(S.previous_token_score(A), 1.0)
    assert np.allclose(S.detect_head(A, S.previous_detection_pattern(2, T)), (T - 1) / T)
    # without column 0 the rows 0 and 1 carry no weight; every remaining row is matched
    assert np.allclose(S.detect_head(A, S.previous_detection_pattern(2, T), exclude_bos=True),
                       1.0)
    assert np.allclose(S.induction_score(A, 5), 0.0)


@pytest.mark.parametrize("L", [3, 8])
def test_uniform_attention_analytic_values(L):
    n, H = 2, 2
    T = 2 * L + 1
    pr = _probe(n, L)
    A = _causal_uniform(n, H, T)
    second = np.arange(1 + L, 1 + 2 * L)
    want = np.mean(1.0 / (second + 1))                    # one matching key per second-copy row
    assert np.allclose(S.induction_score(A, L), want)
    assert np.allclose(S.prefix_matching_score(A, pr.tokens, second), want)
    assert np.allclose(S.duplicate_token_score(A, pr.tokens, second), want)
    assert np.allclose(S.previous_token_score(A), np.mean(1.0 / (np.arange(1, T) + 1)))
    prev_det = np.sum(1.0 / (np.arange(1, T) + 1)) / T
    assert np.allclose(S.detect_head(A, S.previous_detection_pattern(n, T)), prev_det)
    # TL average over the whole diagonal q = L − 1 … 2L
    q = np.arange(L - 1, 2 * L + 1)
    assert np.allclose(S.induction_score_tl(A, L), np.mean(1.0 / (q + 1)))


def test_anti_induction_on_hand_built_heads():
    m, start = 5, 3
    T = start + 2 * m + 1
    n, H = 2, 2
    anti = _self_attention(n, H, T)
    dup = _self_attention(n, H, T)
    for k in range(1, m):
        q = start + 2 * m - k
        anti[:, :, q, :] = 0.0
        anti[:, :, q, start + k - 1] = 1.0
        dup[:, :, q, :] = 0.0
        dup[:, :, q, start + k] = 1.0
    assert np.allclose(S.anti_induction_score(anti, m, start), 1.0)
    assert np.allclose(S.anti_induction_duplicate(anti, m, start), 0.0)
    assert np.allclose(S.anti_induction_score(dup, m, start), 0.0)
    assert np.allclose(S.anti_induction_duplicate(dup, m, start), 1.0)
    # on the probe's tokens the offsets point where the docstring says
    pr = reverse_probe(np.random.default_rng(0), n, m, np.arange(40), 40, T)
    tok = pr.tokens
    for k in range(1, m):
        q = start + 2 * m - k
        assert np.all(tok[:, q] == tok[:, start + k])               # s_k's duplicate
        assert np.all(tok[:, start + k - 1] == tok[:, q + 1])       # holds the next token


def test_copying_scores():
    I = np.eye(6)
    assert S.copying_score(I) == pytest.approx(1.0)
    assert S.copying_score(-2 * I) == pytest.approx(-1.0)
    R = np.array([[0.0, -1.0], [1.0, 0.0]])                         # eigenvalues ±i
    assert abs(S.copying_score(R)) < 1e-12
    assert S.copying_score(np.zeros((3, 3))) == 0.0
    with pytest.raises(ConfigError):
        S.copying_score(np.ones((2, 3)))
    n, H, T, C = 2, 3, 4, 5
    tg = np.random.default_rng(0).integers(0, C, (n, T))
    c = np.zeros((n, H, T, C))
    b, t = np.meshgrid(np.arange(n), np.arange(T), indexing="ij")
    c[b, 0, t, tg] = 1.0                    # head 0 raises the correct token: score 1
    c[b, 1, t, tg] = -1.0                   # head 1 lowers it: 0; head 2 is flat: 0
    assert np.allclose(S.copying_score_empirical(c, tg), [1.0, 0.0, 0.0])


@st.composite
def random_patterns(draw):
    n = draw(st.integers(1, 3))
    H = draw(st.integers(1, 4))
    L = draw(st.integers(2, 8))
    seed = draw(st.integers(0, 2**16))
    return n, H, L, seed


def _random_causal(rng, n, H, T, sharp=3.0):
    z = rng.standard_normal((n, H, T, T)) * sharp
    z = np.where(np.tril(np.ones((T, T), bool)), z, -np.inf)
    z -= z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


@settings(max_examples=60)
@given(random_patterns())
@example((1, 1, 2, 0))
def test_scores_permute_with_heads_and_stay_in_range(case):
    n, H, L, seed = case
    rng = np.random.default_rng(seed)
    pr = _probe(n, L, seed=seed)
    T = pr.T
    A = _random_causal(rng, n, H, T)
    perm = rng.permutation(H)
    second = np.arange(1 + L, 1 + 2 * L)
    fns = [lambda X: S.induction_score(X, L), lambda X: S.induction_score_tl(X, L),
           lambda X: S.prefix_matching_score(X, pr.tokens, second),
           lambda X: S.duplicate_token_score(X, pr.tokens, second),
           lambda X: S.previous_token_score(X),
           lambda X: S.detect_head(X, S.induction_detection_pattern(pr.tokens))]
    for fn in fns:
        a = fn(A)
        b = fn(A[:, perm])
        np.testing.assert_allclose(b, a[perm], rtol=0, atol=16 * EPS)
        assert np.all(a >= -16 * EPS) and np.all(a <= 1 + 16 * EPS)
    # a distinct span (and a BOS outside it): prefix matching equals the induction score
    np.testing.assert_allclose(S.prefix_matching_score(A, pr.tokens, second),
                               S.induction_score(A, L), rtol=0, atol=64 * EPS)


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(ConfigError):
        S.induction_score(np.zeros((1, 1, 5, 5)), 3)          # 1 + 2L > T
    with pytest.raises(ConfigError):
        S.induction_score(np.zeros((1, 5, 5)), 2)             # not 4-D
    with pytest.raises(ConfigError):
        S.prefix_matching_score(np.zeros((1, 1, 5, 5)), np.zeros((1, 4)))
    with pytest.raises(ConfigError):
        S.anti_induction_score(np.zeros((1, 1, 5, 5)), 3)


# ----------------------------------------------------------------------------------------------
# probes
# ----------------------------------------------------------------------------------------------

def test_probes_have_their_structure():
    rng = np.random.default_rng(1)
    pr = repeat_probe(rng, 50, 10, np.arange(30), bos=30, T=25)
    assert pr.T == 25 and np.all(pr.tokens[:, 0] == 30)
    assert np.array_equal(pr.tokens[:, 1:11], pr.tokens[:, 11:21])
    assert all(len(set(r)) == 10 for r in pr.tokens[:, 1:11])       # without replacement
    q = np.flatnonzero(pr.targets[0] >= 0)
    assert list(q) == list(range(11, 20))
    kv = kv_probe(rng, 20, 4, np.arange(10), np.arange(10, 20), 24)
    toks, tg = kv.tokens, kv.targets
    st_ = kv.info["start"]
    for b in range(20):
        first = dict(zip(toks[b, st_:st_ + 8:2], toks[b, st_ + 1:st_ + 8:2]))
        for qpos in np.flatnonzero(tg[b] >= 0):
            assert tg[b, qpos] == first[toks[b, qpos]]
            assert toks[b, qpos + 1] == tg[b, qpos]


# ----------------------------------------------------------------------------------------------
# the transformer: scores of a network, ablation
# ----------------------------------------------------------------------------------------------

def _lm_net(seed=0, **kw):
    from minimal.transformer import Transformer, TransformerConfig
    cfg = TransformerConfig(n_layers=2, d_model=16, heads=4, positions="learned", max_len=24,
                            vocab=12, d_in=0, n_out=12, loss_positions=None, dtype="float64",
                            **kw)
    net = Transformer(cfg)
    rng = np.random.default_rng(seed)
    params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in net.init(rng).items()}
    return net, params


def _lm_batch(n, T, vocab, seed):
    tok = np.random.default_rng(seed).integers(0, vocab, (n, T + 1)).astype(np.int32)
    return SeqBatch(tok[:, :-1].copy(), None, tok[:, 1:].copy())


def test_transformer_scores_match_direct_computation_and_permute():
    net, params = _lm_net()
    rng = np.random.default_rng(3)
    probes = {"repeat": repeat_probe(rng, 8, 10, np.arange(11), bos=11, T=24),
              "reverse": reverse_probe(rng, 8, 5, np.arange(11), 11, 24)}
    res = transformer_scores(net, params, probes)
    assert len(res) == 12 * 8
    A = net.forward(params, SeqBatch(probes["repeat"].tokens, None,
                                     np.full((8, 24), -1, np.int32)),
                    ["L1.pattern"], clamps=None, full=True)["L1.pattern"]
    ind = S.induction_score(A, 10)
    assert [res[f"L1H{h}.induction"] for h in range(4)] == pytest.approx(list(ind), abs=1e-12)
    # permuting the heads of layer 1 (W_Q, W_K, W_V, W_O together) permutes their scores
    perm = np.array([2, 0, 3, 1])
    p2 = {k: v.copy() for k, v in params.items()}
    for k in ("W_Q", "W_K", "W_V", "W_O"):
        p2[k][1] = params[k][1][perm]
    res2 = transformer_scores(net, p2, probes)
    for name in ("induction", "prefix", "duplicate", "prev", "anti", "copy_eig", "copy_emp",
                 "detect_induction"):
        a = np.array([res[f"L1H{h}.{name}"] for h in range(4)])
        b = np.array([res2[f"L1H{h}.{name}"] for h in range(4)])
        np.testing.assert_allclose(b, a[perm], rtol=1e-9, atol=1e-12, err_msg=name)
    ce = copying_eigen_scores(net, params)
    assert ce.shape == (2, 4) and np.all(np.abs(ce) <= 1 + 1e-12)


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_ablating_an_unused_head_leaves_the_loss_unchanged(mode):
    net, params = _lm_net(1)
    params["W_O"][1, 2] = 0.0          # head L1H2 writes nothing into the residual
    batch = _lm_batch(6, 24, 12, 0)
    icl = kv_probe(np.random.default_rng(0), 6, 3, np.arange(6), np.arange(6, 12), 24)
    measure = transformer_measure(net, params, batch, icl, mode=mode)
    clean = measure([])
    unused = measure([(1, 2)])
    assert unused["loss"] == pytest.approx(clean["loss"], rel=0, abs=1e-12)
    assert unused["icl_loss"] == pytest.approx(clean["icl_loss"], rel=0, abs=1e-12)
    used = measure([(1, 0)])           # a head that writes: the loss moves
    assert abs(used["loss"] - clean["loss"]) > 1e-6


def test_zero_ablation_zeroes_exactly_that_head():
    net, params = _lm_net(2)
    batch = _lm_batch(3, 24, 12, 1)
    z = net.forward(params, batch, ["L0.z", "L1.z"], clamps=None, full=True,
                    overrides=z_ablation_overrides(net, [(0, 1), (1, 3)]))
    assert not z["L0.z"][:, 1].any() and not z["L1.z"][:, 3].any()
    assert z["L0.z"][:, 0].any() and z["L1.z"][:, 0].any()


def test_k_per_layer():
    assert [k_per_layer(H) for H in (1, 4, 25, 26, 50, 75, 100, 1000)] == \
        [1, 1, 1, 1, 1, 2, 2, 20]


def test_top_vs_random_enumerates_matched_choices():
    ind = np.array([[0.1, 0.9, 0.2, 0.0], [0.3, 0.1, 0.0, 0.8]])
    calls = []

    def measure(heads):
        calls.append(tuple(heads))
        # loss rises by 1 per ablated head 1 of layer 0; ICL falls by 0.1 for L1H3
        return {"loss": 1.0 + sum(h == (0, 1) for h in heads),
                "icl": 0.9 - 0.1 * sum(h == (1, 3) for h in heads)}
    res = top_vs_random(measure, ind)
    assert res["k"] == 1 and res["top_heads"] == [(0, 1), (1, 3)]
    assert res["exhaustive"] and res["n_random"] == 16 and res["n_matched_choices"] == 16
    assert res["top_drop"]["loss_drop"] == pytest.approx(1.0)
    assert res["top_drop"]["icl_drop"] == pytest.approx(0.1)
    assert res["top_drop"]["icl_rel_drop"] == pytest.approx(0.1 / 0.9)
    # 4 of the 16 random choices ablate L0H1: mean loss drop 0.25
    assert res["random_summary"]["loss_drop"]["mean"] == pytest.approx(0.25)
    res2 = top_vs_random(measure, np.zeros((3, 4)), draws=20,
                         rng=np.random.default_rng(0))
    assert not res2["exhaustive"] and res2["n_random"] == 20 and res2["n_matched_choices"] == 64


def test_score_evaluator_records_columns_through_training():
    from minimal.studies.biinduct import study_config, train_biinduct
    cfg = study_config("forward", 0, 4, quick=True, eval_every=2)
    res = train_biinduct(cfg, progress=False)
    cols = [c for c in res.learner.columns if c.startswith("L")]
    assert "L0H3.induction" in cols and "L1H0.anti" in cols and "L1H2.copy_eig" in cols
    for c in cols:
        assert len(res.metrics[c]) == 3 and np.all(np.isfinite(res.metrics[c]))


# ----------------------------------------------------------------------------------------------
# the Reddy network: which scores apply, and that they are its progress measures per head
# ----------------------------------------------------------------------------------------------

def test_reddy_scores_are_its_progress_measures():
    from minimal.nets.attention import AttentionNet
    from minimal.nets.config import NetConfig
    from minimal.tasks import icl_measures as M
    from minimal.tasks.config import TaskConfig
    from minimal.tasks.icl import ICLTask
    from minimal.config import Seeds
    task_cfg = TaskConfig(K=64, n_eval=200, B=2)
    net = AttentionNet(NetConfig(heads=2, k_dim=128), task_cfg)
    rng = np.random.default_rng(0)
    params = {k: (v * 4).astype(v.dtype) for k, v in net.init(rng).items()}
    sets = ICLTask(task_cfg, Seeds(0)).eval_data()
    ic = sets["ic"]
    res = reddy_scores(net, params, ic)
    out = net.forward(params, ic)
    N = ic.N
    for h in range(2):
        want_ila = out["attn_first"][h][:, 2 * np.arange(N) + 1, 2 * np.arange(N)].mean()
        assert res[f"L0H{h}.ila1"] == pytest.approx(want_ila, rel=1e-6)
        want_tila = M.tila2(out["attn_last"][h:h + 1], ic.matches)
        assert res[f"L1H{h}.induction"] == pytest.approx(want_tila, rel=1e-5, abs=1e-7)
    # identities: labels never equal items, items share ids iff they share a class
    ids = reddy_ids(ic)
    assert not np.intersect1d(ids[:, 0::2], ids[:, 1:2 * N:2]).size
    ev = ScoreEvaluator("reddy", 2, 2, {"ic": ic})
    row = ev(net, params)
    assert set(row) == set(ev.columns) and "L0H1.ila1" in row and "L1H0.induction" in row
    assert "L1H0.ila1" not in row


def test_reddy_ablation_zeroes_a_heads_output():
    from minimal.diagnostics.ablation import reddy_ablated_params
    from minimal.nets.attention import AttentionNet
    from minimal.nets.config import NetConfig
    from minimal.nets.reference import dense_tokens, forward_full
    from minimal.tasks.config import TaskConfig
    from minimal.tasks.icl import ICLTask
    from minimal.config import Seeds
    task_cfg = TaskConfig(K=64, n_eval=20)
    net = AttentionNet(NetConfig(heads=2, k_dim=128, dtype="float64"), task_cfg)
    params = net.init(np.random.default_rng(0))
    p = reddy_ablated_params(params, net, [(1, 0)])
    ic = ICLTask(task_cfg, Seeds(0)).eval_data()["ic"]
    U0 = dense_tokens(ic.content.astype(np.float64), ic.shift, ic.P)
    acts = forward_full(p, U0, 2)
    dv = net.d // 2
    assert not acts["O"][1][..., :dv].any() and acts["O"][1][..., dv:].any()
