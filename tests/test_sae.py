"""Sparse autoencoder on attention outputs: kernels vs the NumPy reference and finite
differences, the decoder constraint, the data source, the reconstruction score through a real
transformer, and recovery of a planted dictionary (docs/sae.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minimal.config import Seeds
from minimal.errors import ConfigError
from minimal.sae import (ActivationData, SAEConfig, SAEDataConfig, SAEModel, SAERunConfig,
                         head_block_norms, reconstruction_score, train_sae)
from minimal.sae import _kernels as K
from minimal.sae import reference as ref
from minimal.sae.splice import rows_to_z, spliced_losses, zcat_rows
from minimal.training.config import OptimConfig, TrainConfig

EPS64 = np.finfo(np.float64).eps


@st.composite
def sae_case(draw):
    d = draw(st.integers(1, 7))
    exp = draw(st.integers(1, 4))
    n = draw(st.integers(1, 12))
    lam = draw(st.floats(0.0, 2.0))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    m = d * exp
    p = {"W_enc": rng.standard_normal((d, m)), "b_enc": 0.3 * rng.standard_normal(m),
         "W_dec": rng.standard_normal((m, d)), "b_dec": 0.3 * rng.standard_normal(d)}
    X = rng.standard_normal((n, d)) * draw(st.floats(0.1, 10.0))
    return SAEConfig(d_in=d, expansion=exp, l1=lam, dtype="float64", normalise=False), p, X


def _scale(p, X):
    """Magnitude of the terms entering the loss (for an absolute tolerance floor)."""
    F, Xh = ref.forward(X, **p)
    return (1.0 + np.abs(X).max() + np.abs(Xh).max()) ** 2 * (1.0 + np.abs(F).sum(1).max()
                                                              + np.abs(p["W_dec"]).max())


@settings(max_examples=150, deadline=None)
@given(sae_case())
def test_kernel_matches_reference(case):
    cfg, p, X = case
    lam = cfg.l1
    model = SAEModel(cfg, project_grads=False)
    loss, g, n_correct = model.loss_and_grads(p, X)
    tol = 64 * EPS64 * _scale(p, X) * (X.shape[1] * cfg.dict_size)
    assert abs(loss - ref.loss(X, **p, lam=lam)) <= tol
    gr = ref.grads(X, **p, lam=lam)
    for k in gr:
        np.testing.assert_allclose(g[k], gr[k], rtol=1e-9, atol=tol, err_msg=k)
    assert n_correct == 0


@settings(max_examples=80, deadline=None)
@given(sae_case())
def test_reference_gradient_equals_finite_differences(case):
    cfg, p, X = case
    lam = cfg.l1
    pre = (X - p["b_dec"]) @ p["W_enc"] + p["b_enc"]
    assume(np.abs(pre).min() > 1e-3)          # away from the ReLU kink
    gr = ref.grads(X, **p, lam=lam)
    for k in p:
        for idx in range(min(p[k].size, 4)):
            est = []
            for h in (1e-5, 2e-6):
                a = {kk: v.copy() for kk, v in p.items()}
                b = {kk: v.copy() for kk, v in p.items()}
                a[k].flat[idx] += h
                b[k].flat[idx] -= h
                est.append((ref.loss(X, **a, lam=lam) - ref.loss(X, **b, lam=lam)) / (2 * h))
            scale = _scale(p, X)
            assert abs(est[0] - est[1]) <= 1e-4 * scale      # no kink crossed in between
            assert abs(est[1] - gr[k].flat[idx]) <= 1e-5 * scale, (k, idx, est, gr[k].flat[idx])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_parallel_component_of_decoder_gradient_is_removed(m, d, seed):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((m, d))
    G = rng.standard_normal((m, d))
    P = G.copy()
    K._project_rows(W, P)
    along = (P * W).sum(1)
    assert np.all(np.abs(along) <= 1e3 * EPS64 * np.linalg.norm(G, axis=1)
                  * np.linalg.norm(W, axis=1))
    # what was removed is along W only: G − P is parallel to each row
    c = ((G - P) * W).sum(1) / (W * W).sum(1)
    np.testing.assert_allclose(G - P, c[:, None] * W, atol=1e3 * EPS64 * (1 + np.abs(G).max()))
    np.testing.assert_allclose(P, ref.project_rows(W, G), atol=1e3 * EPS64 * (1 + np.abs(G).max()))


def _planted(seed=1, d=16, k=48, s=3, n=20_000):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k, d))
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    idx = np.argsort(rng.random((n, k)), 1)[:, :s]
    C = np.zeros((n, k))
    np.put_along_axis(C, idx, rng.uniform(0.5, 1.5, (n, s)), 1)
    return A, (C @ A).astype(np.float32)


def _cfg(d, steps=3000, l1=1.0, expansion=8, eval_rows=2000, eval_every=500):
    return SAERunConfig(sae=SAEConfig(d_in=d, expansion=expansion, l1=l1),
                        data=SAEDataConfig(eval_rows=eval_rows),
                        optim=OptimConfig(name="adam", lr=3e-3, weight_decay=0.0),
                        train=TrainConfig(steps=steps, eval_every=eval_every))


def test_planted_sparse_dictionary_is_recovered_with_unit_rows():
    """Rows built from 3 of 48 unit atoms in 16 dims: the trained SAE's decoder contains (cos
    > 0.9) at least 90 % of the atoms, uses few features per row and stays on the unit sphere."""
    A, X = _planted()
    r = train_sae(_cfg(16), X, progress=False)
    W = r.params["W_dec"].astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), 1.0, atol=1e-5)
    best = np.abs(A @ W.T).max(1)
    assert (best > 0.9).mean() >= 0.9, np.sort(best)[:10]
    assert r.metrics["l0"][-1] < 20 and r.metrics["fvu"][-1] < 0.3
    # without the sparsity penalty the same SAE reconstructs better but uses far more features
    r0 = train_sae(_cfg(16, l1=0.0, steps=1000), X, progress=False)
    assert r0.metrics["l0"][-1] > 2 * r.metrics["l0"][-1]


def test_activation_data_split_scale_and_pure_batches():
    rng = np.random.default_rng(0)
    rows = (3.0 * rng.standard_normal((500, 6)) + 1.0).astype(np.float32)
    cfg = SAEDataConfig(batch_size=64, eval_rows=100)
    a = ActivationData(rows, cfg, Seeds(seed=3))
    b = ActivationData(rows, cfg, Seeds(seed=3))
    assert len(a.train_idx) == 400 and len(a.eval_idx) == 100
    assert not set(a.train_idx) & set(a.eval_idx)
    assert sorted(set(a.train_idx) | set(a.eval_idx)) == list(range(500))
    np.testing.assert_array_equal(a.batch(7), b.batch(7))
    assert not np.array_equal(a.batch(7), a.batch(8))
    train = rows[a.train_idx].astype(np.float64) * a.scale
    assert abs((train ** 2).sum(1).mean() - 6) < 1e-9 * 6
    ev = set(map(bytes, rows[a.eval_idx]))
    assert not any(bytes(r) in ev for r in a.batch(1)) or len(ev) < 100
    other = ActivationData(rows, cfg, Seeds(seed=4))
    assert not np.array_equal(a.eval_idx, other.eval_idx)


def test_head_block_norms():
    W = np.zeros((3, 8))
    W[0, 4:6] = [3.0, 4.0]            # head 2 of 4 (dh = 2)
    W[1] = 1.0
    W[2, 0] = W[2, 7] = 1.0
    h = head_block_norms(W, 4)
    np.testing.assert_allclose(h.sum(1), 1.0)
    np.testing.assert_allclose(h[0], [0, 0, 1, 0])
    np.testing.assert_allclose(h[1], [0.25] * 4)
    np.testing.assert_allclose(h[2], [0.5, 0, 0, 0.5])
    with pytest.raises(ConfigError, match="n_heads"):
        head_block_norms(W, 3)


def _toy_net():
    from minimal.transformer import Transformer, TransformerConfig
    from minimal.tasks.seq import SeqBatch
    cfg = TransformerConfig(n_layers=2, d_model=16, heads=4, vocab=12, d_in=0, n_out=12, max_len=10,
                            loss_positions=None, dtype="float64")
    net = Transformer(cfg)
    rng = np.random.default_rng(5)
    params = net.init(rng)
    tok = rng.integers(0, 12, (6, 10)).astype(np.int32)
    tg = np.roll(tok, -1, 1)
    tg[:, -1] = -1
    return net, params, SeqBatch(tok, None, tg.astype(np.int32), None)


def test_reconstruction_score_is_one_for_perfect_and_zero_for_zero_output():
    net, params, batch = _toy_net()
    rows = zcat_rows(net, params, batch, 1)
    assert rows.shape == (6 * 10, 4 * 4)
    z = net.forward(params, batch, record=["L1.z"], clamps=None)["L1.z"]
    np.testing.assert_array_equal(rows_to_z(rows, 6, 4, 10, 4), z)
    perfect = spliced_losses(net, params, batch, 1, lambda r: r)
    assert abs(perfect["score"] - 1.0) < 1e-9
    assert abs(perfect["loss_sae"] - perfect["loss_clean"]) < 1e-12
    zero = spliced_losses(net, params, batch, 1, np.zeros_like)
    assert abs(zero["score"]) < 1e-12
    half = spliced_losses(net, params, batch, 1, lambda r: 0.5 * r)
    assert half["loss_sae"] != perfect["loss_sae"]
    assert reconstruction_score(2.0, 3.0, 4.0) == 0.5
    with pytest.raises(ValueError, match="undefined"):
        reconstruction_score(1.0, 1.0, 1.0)


def test_run_directory_resume_equals_uninterrupted(tmp_path):
    A, X = _planted(n=3000)
    cfg = _cfg(16, steps=400, eval_every=100, eval_rows=500)
    full = train_sae(cfg, X, out=tmp_path / "full", progress=False)
    part = train_sae(cfg, X, out=tmp_path / "part", progress=False, stop_after=150)
    assert part.status == "interrupted"
    rest = train_sae(None, X, out=tmp_path / "part", resume=True, progress=False)
    assert rest.status == "completed"
    for k in full.params:
        np.testing.assert_array_equal(full.params[k], rest.params[k])
    run = json.loads((tmp_path / "full" / "run.json").read_text())
    assert run["resolved"]["sha256"] and run["resolved"]["dict_size"] == 128
    with pytest.raises(ConfigError, match="rows"):
        train_sae(None, X[::-1].copy(), out=tmp_path / "part", resume=True, progress=False)


def test_bad_inputs_are_one_line_errors():
    X = np.zeros((50, 4), np.float32)
    with pytest.raises(ConfigError, match="d_in"):
        train_sae(_cfg(5, eval_rows=10), X, progress=False)
    with pytest.raises(ConfigError, match="eval_rows"):
        train_sae(_cfg(4, eval_rows=50), X, progress=False)
    with pytest.raises(ConfigError, match="data.path"):
        train_sae(_cfg(4), None, progress=False)
    with pytest.raises(ConfigError, match="expansion"):
        SAEConfig(d_in=4096, expansion=256)
    with pytest.raises(ConfigError, match="l1"):
        SAEConfig(l1=-1.0)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match="finite"):
        ActivationData(bad, SAEDataConfig(eval_rows=10))
