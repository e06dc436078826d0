"""The attention-only network: kernel gradients vs the NumPy reference and finite differences,
attention invariants, optimiser steps, progress measures, resume, and the ICL transition."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from numba import njit

from minimal._numerics import _gemm
from minimal.config import Seeds, apply_overrides
from minimal.tasks import icl_measures as M
from minimal.nets import reference as ref
from minimal.nets.attention import AttentionNet
from minimal.nets.config import NetConfig, OptimConfig, TrainConfig, TrainRunConfig
from minimal.training.optim import make_optimizer
from minimal.tasks.icl import ICLTask, TaskConfig


@st.composite
def net_cases(draw, dtype="float64"):
    """Small task + network configs with d = P + D divisible by the number of heads."""
    heads = draw(st.sampled_from([1, 2, 4]))
    N = draw(st.sampled_from([2, 4]))
    N_max = draw(st.integers(N, N + 3))
    P = 2 * N_max + 1
    D = draw(st.integers(1, 9))
    assume((P + D) % heads == 0)
    L = draw(st.sampled_from([4, 8]))
    B = draw(st.sampled_from([b for b in (1, 2) if N % b == 0 and N // b <= L and b < N]))
    task = TaskConfig(K=2 * L, L=L, N=N, N_max=N_max, D=D, B=B, K_novel=L,
                      p_novel=draw(st.sampled_from([0.0, 0.5])), eps=0.2)
    k_dim = heads * draw(st.integers(1, 3))
    net = NetConfig(n_layers=draw(st.integers(1, 4)), heads=heads, k_dim=k_dim,
                    mlp_depth=draw(st.integers(0, 3)), dtype=dtype,
                    attn_init_scale=draw(st.sampled_from([0.5, 1.0, 3.0])),
                    fused=draw(st.booleans()))
    return task, net, draw(st.integers(1, 6)), draw(st.integers(0, 2**16))


def converged_fd(f, scale, steps=(1e-4, 1e-5, 1e-6, 1e-7)):
    """Fourth-order central difference f'(0), taken at the largest step whose estimate agrees
    with the next smaller one.  A stencil that straddles a ReLU kink gives a value that changes
    with h (seen: 278.93 at h = 1e-5 against 278.726 at h ≤ 1e-6 for a 3-layer net at init
    scale 3), so agreement of two steps certifies that the window is smooth.  Returns None when
    no two consecutive steps agree (the function is not smooth near 0 at any probed scale).
    Agreement is judged to 1e-7 relative plus the round-off of the stencil, ~1e-15·scale/h."""
    est = [(8 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12 * h) for h in steps]
    for (h1, a), (h2, b) in zip(zip(steps, est), zip(steps[1:], est[1:])):
        if abs(a - b) <= 1e-7 * max(abs(a), abs(b)) + 3e-15 * scale / h2:
            return b
    return None


def _input_scale(params, batch, task_cfg, net_cfg) -> float:
    """Largest gradient entry (float64 reference) with every target moved to another label:
    the size of the terms that the true gradient sums, even when those cancel (a confident,
    correct prediction has p − onehot ≈ 0).  At least 1e-30 (an all-zero net)."""
    p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    flipped = (batch.target + 1) % task_cfg.L
    _, g = ref.loss_and_grads(p64, batch.content, batch.shift, task_cfg.P, flipped,
                              net_cfg.heads)
    return max([1e-30] + [float(np.abs(v).max()) for v in g.values() if v.size])


def _setup(task_cfg, net_cfg, nb, seed):
    task = ICLTask(task_cfg, seed, warn=False)
    net = AttentionNet(net_cfg, task_cfg)
    params = net.init(np.random.default_rng(seed))
    return task, net, params, task.batch(0, batch_size=nb)


@given(net_cases())
def test_kernel_gradients_match_reference(case):
    task_cfg, net_cfg, nb, seed = case
    task, net, params, batch = _setup(task_cfg, net_cfg, nb, seed)
    loss, g, _ = net.loss_and_grads(params, batch)
    rloss, rg = ref.loss_and_grads(params, batch.content, batch.shift, task_cfg.P, batch.target,
                                   net_cfg.heads)
    assert loss == pytest.approx(rloss, rel=1e-10, abs=1e-10)
    # float64 round-off: gradients of saturated softmaxes are differences of O(1) terms, so
    # float64 round-off of a gradient entry is ~eps64 times the terms summed into it, not
    # times the entry itself (saturated softmax rows cancel: p − 1 ≈ 1e-12): the absolute floor
    # is 1e-12 (≈ 10⁴ eps64) of the input scale, plus 1e-7 of the array's own largest entry
    floor = 1e-12 * _input_scale(params, batch, task_cfg, net_cfg)
    for k in rg:
        scale = np.abs(rg[k]).max() if rg[k].size else 0.0
        np.testing.assert_allclose(g[k], rg[k], rtol=1e-7, atol=floor + 1e-7 * scale,
                                   err_msg=k)


@settings(max_examples=20)
@given(net_cases(), st.integers(0, 2**16))
@example(case=(TaskConfig(K=8, L=4, N=2, D=3, N_max=2, K_novel=4, B=1, eps=0.2),
               NetConfig(n_layers=3, heads=1, k_dim=3, mlp_depth=3, attn_init_scale=3.0,
                         dtype="float64", fused=False), 2, 3), dseed=194)   # a kink at h = 1e-5
def test_gradients_match_central_differences(case, dseed):
    """Directional derivative along a random direction equals g·v (float64)."""
    task_cfg, net_cfg, nb, seed = case
    task, net, params, batch = _setup(task_cfg, net_cfg, nb, seed)
    _, g, _ = net.loss_and_grads(params, batch)
    rng = np.random.default_rng(dseed)
    v = {k: rng.standard_normal(p.shape) for k, p in params.items()}

    def f(t):
        return net.loss_and_grads({k: params[k] + t * v[k] for k in params}, batch)[0]
    fd = converged_fd(f, scale=abs(f(0.0)) + 1.0)
    assume(fd is not None)        # a ReLU kink within every probe window: FD is undefined there
    an = sum(float((g[k] * v[k]).sum()) for k in params)
    assert fd == pytest.approx(an, rel=1e-5, abs=1e-7)


@settings(max_examples=15)
@given(net_cases(dtype="float32"))
def test_float32_kernel_tracks_float64(case):
    task_cfg, net_cfg, nb, seed = case
    task, net, params, batch = _setup(task_cfg, net_cfg, nb, seed)
    loss32, g32, _ = net.loss_and_grads(params, batch)
    rloss, rg = ref.loss_and_grads(params, batch.content, batch.shift, task_cfg.P, batch.target,
                                   net_cfg.heads)
    # float32 round-off is relative to the magnitudes that enter each sum, not to the result:
    # a saturated softmax gives a loss and gradients near 0 (seen: gradients ~5e-11) computed
    # from terms of ordinary size.  The loss floor is 1e-4 (≈ 800 eps32) of its typical logit
    # size; the gradient floor 2e-4 (≈ 1700 eps32, room for sums over ~10³ terms) of the input
    # scale, the gradient the same inputs give with every target changed.
    p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    logit_scale = 1.0 + float(np.abs(ref.forward_full(
        p64, ref.dense_tokens(np.asarray(batch.content, np.float64), batch.shift, task_cfg.P),
        net_cfg.heads)["logits"]).max())
    assert loss32 == pytest.approx(rloss, rel=1e-4, abs=1e-4 * logit_scale)
    floor = 2e-4 * _input_scale(params, batch, task_cfg, net_cfg)
    scale = max(np.abs(v).max() for v in rg.values() if v.size)
    for k in rg:
        if rg[k].size:
            assert np.abs(g32[k] - rg[k]).max() <= 1e-3 * scale + floor, k


def test_fused_and_general_paths_agree_at_default_size():
    cfg = TaskConfig()
    task = ICLTask(cfg, 0)
    batch = task.batch(0, batch_size=16)
    fused = AttentionNet(NetConfig(dtype="float64"), cfg)
    general = AttentionNet(NetConfig(dtype="float64", fused=False), cfg)
    params = fused.init(np.random.default_rng(1))
    l1, g1, _ = fused.loss_and_grads(params, batch)
    l2, g2, _ = general.loss_and_grads(params, batch)
    assert l1 == pytest.approx(l2, rel=1e-12)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-9, atol=1e-12)
    o1, o2 = fused.forward(params, batch), general.forward(params, batch)
    for k in o1:
        np.testing.assert_allclose(o1[k], o2[k], rtol=1e-9, atol=1e-12)


@settings(max_examples=20)
@given(net_cases())
def test_attention_rows_are_causal_distributions(case):
    task_cfg, net_cfg, nb, seed = case
    task, net, params, batch = _setup(task_cfg, net_cfg, nb, seed)
    out = net.forward(params, batch)
    first, last = out["attn_first"], out["attn_last"]
    np.testing.assert_allclose(last.sum(-1), 1.0, rtol=1e-12)
    assert (last >= 0).all()
    if first.size:
        np.testing.assert_allclose(first.sum(-1), 1.0, rtol=1e-12)
        T = task_cfg.T
        upper = np.triu(np.ones((T, T), bool), 1)
        assert (first[..., upper] == 0.0).all()            # masked entries are exactly zero
    # the reference patterns agree with the kernel's
    U0 = ref.dense_tokens(batch.content.astype(np.float64), batch.shift, task_cfg.P)
    acts = ref.forward_full(params, U0, net_cfg.heads)
    np.testing.assert_allclose(acts["P"][-1][:, :, -1, :], last, rtol=1e-9, atol=1e-12)
    if first.size:
        np.testing.assert_allclose(acts["P"][0], first, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(acts["logits"], out["logits"], rtol=1e-9, atol=1e-10)


@settings(max_examples=15)
@given(net_cases(), st.integers(0, 2**16))
def test_outputs_do_not_depend_on_future_tokens(case, pseed):
    """Every layer's output at position i is unchanged when tokens after i change."""
    task_cfg, net_cfg, nb, seed = case
    task, net, params, batch = _setup(task_cfg, net_cfg, nb, seed)
    U0 = ref.dense_tokens(batch.content.astype(np.float64), batch.shift, task_cfg.P)
    T = task_cfg.T
    i = np.random.default_rng(pseed).integers(0, T - 1)
    U1 = U0.copy()
    U1[:, i + 1:] += np.random.default_rng(pseed).normal(0, 1, U1[:, i + 1:].shape)
    a, b = ref.forward_full(params, U0, net_cfg.heads), ref.forward_full(params, U1,
                                                                        net_cfg.heads)
    for Ua, Ub in zip(a["U"], b["U"]):
        np.testing.assert_allclose(Ua[:, : i + 1], Ub[:, : i + 1], rtol=1e-12, atol=1e-12)
    # and the kernel's layer-1 rows up to i are unchanged when the content after i changes
    if net_cfg.n_layers > 1:
        c2 = batch.copy()
        c2.content[:, i + 1:] += 1.0
        f1 = net.forward(params, batch)["attn_first"][:, :, : i + 1]
        f2 = net.forward(params, c2)["attn_first"][:, :, : i + 1]
        np.testing.assert_allclose(f1, f2, rtol=1e-12, atol=1e-14)


def test_permuting_heads_permutes_nothing_observable():
    """Relabelling heads (with their value rows) is a symmetry: the loss is unchanged."""
    cfg = TaskConfig(K=64, N=4, N_max=4, D=7, L=8, B=1, K_novel=8)   # d = 16
    net = AttentionNet(NetConfig(heads=2, k_dim=4, dtype="float64", fused=False), cfg)
    params = net.init(np.random.default_rng(0))
    batch = ICLTask(cfg, 0).batch(0, batch_size=8)
    base = net.loss_and_grads(params, batch)[0]
    # swapping heads also swaps which residual rows they write: permute W_V rows and the
    # residual coordinates consistently is not a symmetry (positions are fixed), so instead
    # check the query/key symmetry W_Q -> R W_Q, W_K -> R^-T W_K within one head
    R = np.random.default_rng(3).normal(size=(2, 2)) + 2 * np.eye(2)
    p2 = {k: v.copy() for k, v in params.items()}
    for l in range(2):
        for h in range(2):
            s = slice(2 * h, 2 * h + 2)
            p2["W_Q"][l, s] = R @ params["W_Q"][l, s]
            p2["W_K"][l, s] = np.linalg.inv(R).T @ params["W_K"][l, s]
    assert net.loss_and_grads(p2, batch)[0] == pytest.approx(base, rel=1e-10)


# --- optimiser ---------------------------------------------------------------------------------

def test_one_sgd_step_matches_reference():
    cfg = TaskConfig()
    net = AttentionNet(NetConfig(dtype="float64"), cfg)
    params = net.init(np.random.default_rng(0))
    batch = ICLTask(cfg, 0).batch(0, batch_size=32)
    expected = {}
    _, rg = ref.loss_and_grads(params, batch.content, batch.shift, cfg.P, batch.target, 1)
    for k, v in params.items():
        expected[k] = (1 - 1e-6) * v - 0.01 * rg[k]
    p = {k: v.copy() for k, v in params.items()}
    _, g, _ = net.loss_and_grads(p, batch)
    make_optimizer(OptimConfig(), p).step(p, g)
    for k in p:
        np.testing.assert_allclose(p[k], expected[k], rtol=1e-12, atol=1e-14)


@given(st.floats(1e-4, 0.5), st.floats(0, 0.01), st.integers(1, 5))
@settings(max_examples=20)
def test_adam_matches_textbook(lr, wd, n):
    cfg = OptimConfig(name="adam", lr=lr, weight_decay=wd)
    rng = np.random.default_rng(0)
    p = {"a": rng.normal(size=7)}
    q = p["a"].copy()
    opt = make_optimizer(cfg, p)
    m = v = np.zeros(7)
    for t in range(1, n + 1):
        g = rng.normal(size=7)
        opt.step(p, {"a": g})
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        q = (1 - wd) * q - lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(p["a"], q, rtol=1e-12, atol=1e-14)
    st_ = opt.state()
    opt2 = make_optimizer(cfg, {"a": p["a"].copy()})
    opt2.load_state(st_)
    assert opt2.t == n and np.array_equal(opt2.m["a"], opt.m["a"])


# --- progress measures -------------------------------------------------------------------------

def test_measures_on_known_patterns():
    N, T, n = 4, 9, 5
    uniform = np.tril(np.ones((T, T)))
    uniform /= uniform.sum(1, keepdims=True)
    first = np.broadcast_to(uniform, (1, n, T, T))
    assert M.ila1(first, N) == pytest.approx(np.mean([1 / (2 * j + 2) for j in range(N)]))
    prev = np.zeros((T, T))
    prev[0, 0] = 1
    for i in range(1, T):
        prev[i, i - 1] = 1
    assert M.ila1(np.broadcast_to(prev, (1, n, T, T)), N) == 1.0
    matches = np.zeros((n, N), bool)
    matches[:, 1] = True
    last = np.full((1, n, T), 1 / T)
    assert M.tila2(last, matches) == pytest.approx(1 / T)
    assert M.tla2(last, N) == pytest.approx(N / T)
    perfect = np.zeros((1, n, T))
    perfect[:, :, 3] = 1.0                                 # label of pair 1
    assert M.tila2(perfect, matches) == 1.0 and M.ih_strength(perfect, matches) == 1.0
    logits = np.zeros((2, 6))
    logits[0, 2] = 1
    logits[1, 5] = 1
    assert M.cla(logits, np.array([[2, 3], [1, 3]])) == 0.5


def test_initial_measures_match_spec_values():
    """At initialisation ILA1 ≈ mean 1/(2j+2), TILA2 ≈ B/T, TLA2 ≈ N/T, CLA ≈ n/L (network.md)."""
    cfg = TaskConfig(K=256, B=1, p_novel=0.8, n_eval=2000)
    task = ICLTask(cfg, 0)
    net = AttentionNet(NetConfig(), cfg)
    params = net.init(np.random.default_rng(0))
    row = net.evaluate(params, {"ic": task.eval_set("ic")})
    assert row["ila1"] == pytest.approx(np.mean([1 / (2 * j + 2) for j in range(8)]), abs=0.02)
    assert row["tila2"] == pytest.approx(1 / 17, abs=0.02)
    assert row["tla2"] == pytest.approx(8 / 17, abs=0.05)
    assert row["cla"] == pytest.approx(8 / 32, abs=0.05)


# --- training loop -----------------------------------------------------------------------------

def _tiny_run_config(steps=60):
    return TrainRunConfig(
        task=TaskConfig(K=64, L=8, N=4, N_max=4, D=7, B=1, K_novel=8, p_novel=0.5,
                        batch_size=16, n_eval=64),
        net=NetConfig(k_dim=16),
        train=TrainConfig(steps=steps, eval_every=20), seeds=Seeds(seed=3))


def test_resume_equals_uninterrupted(tmp_path):
    from minimal.nets.train import train
    from minimal.runs import read_metrics
    cfg = _tiny_run_config()
    full = train(cfg, tmp_path / "full", progress=False)
    assert full.status == "completed" and full.step == 60
    part = train(cfg, tmp_path / "part", progress=False, stop_after=33)
    assert part.status == "interrupted" and part.step == 33
    again = train(cfg, tmp_path / "part", resume=True, progress=False)
    assert again.status == "completed" and again.step == 60
    a = read_metrics(tmp_path / "full" / "metrics.csv")
    b = read_metrics(tmp_path / "part" / "metrics.csv")
    assert list(a) == list(b)
    for k in a:
        if k != "wall_s":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    for k in full.params:
        np.testing.assert_array_equal(full.params[k], again.params[k])


def test_resume_with_more_steps_and_config_guard(tmp_path):
    from minimal.errors import RunDirError
    from minimal.nets.train import train
    cfg = _tiny_run_config(steps=20)
    train(cfg, tmp_path / "r", progress=False)
    more = apply_overrides(cfg, ["train.steps=40"])
    res = train(more, tmp_path / "r", resume=True, progress=False)
    assert res.step == 40 and list(res.metrics["step"]) == [40]
    with pytest.raises(RunDirError, match="task.B"):
        train(apply_overrides(more, ["task.B=2"]), tmp_path / "r", resume=True, progress=False)


def test_metrics_columns_and_manifest(tmp_path):
    import json
    from minimal.nets.train import train
    from minimal.runs import read_metrics
    from minimal.tasks.icl import METRIC_COLUMNS as COLUMNS
    train(_tiny_run_config(steps=20), tmp_path / "r", progress=False)
    m = read_metrics(tmp_path / "r" / "metrics.csv")
    assert tuple(m)[: len(COLUMNS)] == COLUMNS
    assert list(m["step"]) == [0, 20]
    man = json.loads((tmp_path / "r" / "run.json").read_text())
    assert man["status"] == "completed" and man["checkpoint_step"] == 20
    for key in ("warmup_s", "step_s", "eval_s", "data_s"):
        assert key in man["timings"]
    assert man["resolved"]["n_params"] == AttentionNet(NetConfig(k_dim=16),
                                                      _tiny_run_config().task).n_params()


def test_default_parameter_count():
    assert AttentionNet(NetConfig(), TaskConfig()).n_params() == 151_555


def test_no_slow_fallbacks_in_kernels():
    """Every np.dot in the kernels gets contiguous operands (no NumbaPerformanceWarning)."""
    from numba.core.errors import NumbaPerformanceWarning
    from minimal.nets import _kernels as K
    cfg = TaskConfig(K=64, L=8, N=4, N_max=4, D=7, B=1, K_novel=8)
    batch = ICLTask(cfg, 0).batch(0, batch_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NumbaPerformanceWarning)
        for fused, nl in ((True, 2), (False, 3)):
            net = AttentionNet(NetConfig(n_layers=nl, k_dim=8, heads=2, fused=fused,
                                         dtype="float32"), cfg)
            p = net.init(np.random.default_rng(0))
            net.loss_and_grads(p, batch)
            net.forward(p, batch)
        assert K._step_fused2.signatures


def test_bad_configs_are_rejected():
    from minimal.errors import ConfigError
    with pytest.raises(ConfigError, match="net.heads"):
        TrainRunConfig(net=NetConfig(heads=3, k_dim=6))
    with pytest.raises(ConfigError, match="n_layers"):
        NetConfig(n_layers=5)
    with pytest.raises(ConfigError, match="k_dim"):
        NetConfig(heads=2, k_dim=3)
    with pytest.raises(ConfigError, match="lr"):
        OptimConfig(lr=0)
    with pytest.raises(ConfigError, match="name"):
        OptimConfig(name="rmsprop")


@pytest.mark.slow
@pytest.mark.ci
def test_fig3_run_shows_abrupt_icl_transition(tmp_path):
    """reddy-fig3 (lr raised to 0.05 to shorten the plateau ~5×): IC accuracy sits near
    B/N = 1/8 while CLA rises, then jumps together with ILA1 and TILA2."""
    from minimal.nets.config import TRAIN_PRESETS
    from minimal.nets.train import train
    cfg = apply_overrides(TRAIN_PRESETS.get("reddy-fig3"), [
        "optim.lr=0.05", "train.steps=9000", "train.eval_every=500", "task.n_eval=600"])
    m = train(cfg, None, progress=False).metrics
    ic, step = m["ic_acc"], m["step"]
    early = ic[(step >= 1000) & (step <= 3000)]
    assert early.max() < 0.25                          # plateau near B/N = 0.125
    assert m["cla"][step == 3000][0] > m["cla"][0] + 0.2   # CLA rises during the plateau
    assert ic[-1] > 0.8                                # ... then ICL is learned
    jump = np.flatnonzero(ic >= 0.5)[0]
    assert m["ila1"][-1] > m["ila1"][0] + 0.3 and m["tila2"][-1] > 0.5
    # abrupt: from < 0.3 to > 0.8 within 2,000 steps
    assert step[np.flatnonzero(ic > 0.8)[0]] - step[np.flatnonzero(ic < 0.3)[-1]] <= 2000
    assert 3000 < step[jump] < 9000


# --- performance machinery: the BLAS helper and the phase kernels ------------------------------

@njit(cache=True)
def _gemm_call(ta, tb, alpha, A, B, beta, C):
    _gemm(ta, tb, alpha, A, B, beta, C)


@settings(max_examples=40)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.booleans(), st.booleans(),
       st.sampled_from([0.0, 1.0, -0.5]), st.sampled_from(["float32", "float64"]),
       st.integers(0, 3), st.integers(0, 2**16))
def test_gemm_on_sub_blocks_matches_numpy(m, n, k, ta, tb, beta, dtype, pad, seed):
    """_gemm on strided sub-blocks (row strides larger than the row), with transposes and
    accumulation, equals the NumPy product; entries outside the output block are untouched."""
    rng = np.random.default_rng(seed)
    big = lambda r, c: rng.standard_normal((r + pad + 1, c + pad + 2)).astype(dtype)
    Ab, Bb, Cb = big(*((k, m) if ta else (m, k))), big(*((n, k) if tb else (k, n))), big(m, n)
    A = Ab[1:1 + (k if ta else m), pad:pad + (m if ta else k)]
    B = Bb[pad:pad + (n if tb else k), 1:1 + (k if tb else n)]
    C = Cb[pad:pad + m, 2:2 + n]
    before = Cb.copy()
    want = 1.5 * ((A.T if ta else A).astype(np.float64) @ (B.T if tb else B).astype(np.float64)) \
        + beta * C.astype(np.float64)
    _gemm_call(ta, tb, 1.5, A, B, beta, C)
    eps = np.finfo(dtype).eps
    scale = (np.abs(A).max() * np.abs(B).max() * k * 1.5 + abs(beta) * np.abs(before).max())
    np.testing.assert_allclose(C, want, rtol=0, atol=8 * k * eps * scale + 1e-300)
    mask = np.ones(Cb.shape, bool)
    mask[pad:pad + m, 2:2 + n] = False
    np.testing.assert_array_equal(Cb[mask], before[mask])


def test_phase_kernels_compose_to_the_step():
    """The phases the roofline times, called one after another, are the training step: same
    loss and bit-identical gradients; the FLOP model covers exactly those phases."""
    from minimal.nets import _kernels as K
    cfg = TaskConfig()
    task = ICLTask(cfg, 0)
    net = AttentionNet(NetConfig(), cfg)
    p = net.init(np.random.default_rng(3))
    b = task.batch(0, batch_size=32)
    loss, g, nc = net.loss_and_grads(p, b)
    C, pos, y = net._inputs(b)
    ws = net._workspace(32)
    H = net.net.heads
    gg = {k: np.empty_like(v) for k, v in p.items()}
    K._fused2_form_A(p["W_Q"], p["W_K"], H, ws[K._I_A])
    K._fused2_layer1(C, pos, net.P, p["W_V"], H, ws)
    K._fused2_layer2(pos, net.P, p["W_V"], H, ws)
    loss2, dlog, nc2 = K._fused2_mlp_loss(p["mlp_W"], p["mlp_b"], p["W_out"], y, ws)
    dh0 = K._fused2_mlp_bwd(dlog, p["mlp_W"], p["W_out"], gg["mlp_W"], gg["mlp_b"],
                            gg["W_out"], ws)
    ws[K._I_DA][:] = 0.0
    gg["W_V"][:] = 0.0
    K._fused2_layer2_bwd(pos, net.P, p["W_V"], H, dh0, gg["W_V"], ws)
    K._fused2_layer1_bwd(C, pos, net.P, p["W_V"], H, gg["W_V"], ws)
    K._qk_grads(p["W_Q"], p["W_K"], ws[K._I_DA], H, gg["W_Q"], gg["W_K"])
    assert loss2 == loss and nc2 == nc
    for k in g:
        np.testing.assert_array_equal(gg[k], g[k], err_msg=k)
    flops = net.phase_flops(128)
    assert set(flops) == {"form_A", "layer1", "layer2", "mlp_loss", "mlp_bwd", "layer2_bwd",
                          "layer1_bwd", "qk_grads"}
    assert net.flops_per_step(128) == pytest.approx(sum(flops.values()))
    # the dominant terms: 30 products of d × d by the batch and the layer-1 content blocks
    d, T, nb = cfg.d, cfg.T, 128
    assert 0.9 < net.flops_per_step(nb) / (30 * 2 * nb * d * d + 2 * 2 * nb * T * 64 * 64
                                           + 4 * 2 * nb * T * T * 64) < 1.1
