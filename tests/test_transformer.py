"""The configurable transformer: kernels against the NumPy reference and finite differences for
every component, clamps (zero upstream gradient, gathered values, detach), named activations,
the Reddy cross-check and the Singh task generator."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from minimal.config import from_json, to_json
from minimal.errors import ConfigError, UnknownNameError
from minimal.tasks.seq import SeqBatch
from minimal.transformer import ClampSpec, Override, Transformer, TransformerConfig
from minimal.transformer import layout as LY
from minimal.transformer import reference as ref
from minimal.transformer._kernels import GEMM_MIN_T
from minimal.transformer.clamps import PassSpec, prev_token_pattern
from minimal.transformer.config import TRANSFORMER_PRESETS, TransformerRunConfig

from test_net import converged_fd


# ----------------------------------------------------------------------------------------------
# strategies
# ----------------------------------------------------------------------------------------------

@st.composite
def net_configs(draw, dtype="float64", long=False):
    """Small random networks covering every component.  ``long``: sequences of 16–20 tokens,
    which take the per-(batch, head) GEMM path of the attention kernels (GEMM_MIN_T)."""
    heads = draw(st.integers(1, 3))
    positions = draw(st.sampled_from(["none", "onehot", "learned", "rope"]))
    w_o = draw(st.booleans())
    dh = draw(st.sampled_from([2, 4]))
    T = draw(st.integers(GEMM_MIN_T, GEMM_MIN_T + 4) if long else st.integers(2, 6))
    max_len = T + draw(st.integers(0, 3))
    if w_o:
        d = draw(st.integers(4, 12) if not long or positions != "onehot"
                 else st.integers(max_len + 2, max_len + 8))
    else:
        d = heads * dh
    if positions == "onehot":
        if long and not w_o:
            positions = "learned"
        else:
            assume(d > max_len + 1 or not w_o)
            if not w_o:
                assume(d > max_len)
    P1 = max_len if positions == "onehot" else 0
    inputs = draw(st.sampled_from(["tokens", "continuous", "mixed"]))
    vocab = draw(st.integers(2, 6)) if inputs != "continuous" else 0
    in_proj = draw(st.booleans()) if inputs == "continuous" else True
    d_in = (d - P1 if not in_proj else draw(st.integers(1, 5))) if inputs != "tokens" else 0
    loss_positions = draw(st.sampled_from([(-1,), None, (0, -1)]))
    cfg = TransformerConfig(
        n_layers=draw(st.integers(1, 3)), d_model=d, heads=heads, d_head=dh, w_o=w_o,
        norm=draw(st.sampled_from(["none", "pre"])), mlp=draw(st.booleans()),
        d_mlp=draw(st.integers(2, 6)), mlp_act=draw(st.sampled_from(["relu", "gelu"])),
        positions=positions, max_len=max_len, attention=draw(st.sampled_from(["softmax",
                                                                               "linear"])),
        causal=draw(st.booleans()), qk_scale=draw(st.sampled_from([None, 1.0, 0.3])),
        vocab=vocab, d_in=d_in, in_proj=in_proj, in_bias=draw(st.booleans()),
        n_out=draw(st.integers(2, 5)), unembed_bias=draw(st.booleans()),
        readout_mlp=draw(st.integers(0, 2)), loss_positions=loss_positions,
        momentum=draw(st.sampled_from([0.0, 0.0, 0.4, 1.0, -0.6])),
        smear_keys=draw(st.booleans()), dtype=dtype)
    return cfg, T, draw(st.integers(1, 4)), draw(st.integers(0, 2**16))


def make_batch(cfg, n, T, rng, targets_everywhere=True):
    tok = x = pos = None
    if cfg.vocab:
        tok = rng.integers(0, cfg.vocab, (n, T)).astype(np.int32)
        if cfg.d_in:
            tok[rng.random((n, T)) < 0.5] = -1
    if cfg.d_in:
        x = rng.standard_normal((n, T, cfg.d_in)).astype(np.float32)
        if tok is not None:
            x[tok >= 0] = 0.0
    tg = np.full((n, T), -1, np.int32)
    rows = list(cfg.positions_for(T))
    tg[:, rows] = rng.integers(0, cfg.n_out, (n, len(rows)))
    if not targets_everywhere and len(rows) > 1:
        tg[0, rows[0]] = -1
    if cfg.positions != "none":
        start = rng.integers(0, cfg.max_len - T + 1, n)
        pos = (start[:, None] + np.arange(T)).astype(np.int64)
    return SeqBatch(tok, x, tg, pos)


def setup(case, jitter=0.3):
    cfg, T, n, seed = case
    rng = np.random.default_rng(seed)
    net = Transformer(cfg)
    params = net.init(rng)
    # move off the symmetric initialisation (LayerNorm gains 1, zero biases)
    params = {k: (v + jitter * rng.standard_normal(v.shape)).astype(v.dtype)
              for k, v in params.items()}
    return cfg, net, params, make_batch(cfg, n, T, rng, targets_everywhere=bool(seed % 2)), rng


def assert_grads_close(g, rg, rtol=1e-8, atol_rel=1e-9):
    scale = max([float(np.abs(v).max()) for v in rg.values() if v.size] + [1.0])
    for k in rg:
        np.testing.assert_allclose(g[k], rg[k], rtol=rtol, atol=1e-12 + atol_rel * scale,
                                   err_msg=k)


def finite_acts(a):
    return np.where(np.isfinite(a), a, 0.0)


def loss_tol(logits) -> float:
    """Absolute tolerance of a cross-entropy computed from ``logits`` by two implementations:
    the logits agree to a few ulps of their own magnitude, and the loss is a difference of
    terms of that magnitude (log-sum-exp minus the target's logit).  Linear attention over three
    layers reaches logits of ~1e12 (hypothesis seed 404: kernel and reference logits agree to
    1.1e-15 relative, the losses to 2.7e-6 absolute), so a fixed 1e-12 is not a bound."""
    return 1e-12 + 64 * np.finfo(np.float64).eps * (1.0 + float(np.abs(finite_acts(logits)).max()))


# ----------------------------------------------------------------------------------------------
# every component: kernels vs reference vs finite differences
# ----------------------------------------------------------------------------------------------

@settings(max_examples=60)
@given(net_configs())
@example((TransformerConfig(n_layers=3, d_model=6, heads=3, d_head=2, w_o=False, norm="none",
                            mlp=False, d_mlp=2, mlp_act="relu", positions="none", max_len=2,
                            attention="linear", causal=False, vocab=3, d_in=1, in_proj=True,
                            in_bias=True, n_out=2, unembed_bias=True, readout_mlp=2,
                            loss_positions=(-1,), dtype="float64"), 2, 3, 196))
def test_kernels_match_reference(case):
    cfg, net, params, batch, _ = setup(case)
    loss, g, correct = net.loss_and_grads(params, batch)
    ps = ref.forward(cfg, params, batch)
    rloss, rg, _, rcorrect = ref.backward(cfg, params, batch, ps)
    assert loss == pytest.approx(rloss, rel=1e-10, abs=loss_tol(ps.acts["logits"]))
    assert correct == rcorrect
    assert_grads_close(g, rg)
    acts = net.forward(params, batch, record=net.activation_names())
    for name, a in acts.items():
        r = ps.acts[name]
        assert np.array_equal(np.isfinite(a), np.isfinite(r)), name
        np.testing.assert_allclose(finite_acts(a), finite_acts(r), rtol=1e-9,
                                   atol=1e-12 * (1 + np.abs(finite_acts(r)).max()), err_msg=name)


@settings(max_examples=30)
@given(net_configs(), st.integers(0, 2**16))
def test_gradients_match_central_differences(case, dseed):
    """Directional derivative of the reference loss equals the kernel's g·v (float64); the
    difference quotient must agree between two step sizes (ReLU kinks excluded)."""
    cfg, net, params, batch, _ = setup(case)
    _, g, _ = net.loss_and_grads(params, batch)
    rng = np.random.default_rng(dseed)
    v = {k: rng.standard_normal(p.shape) for k, p in params.items()}

    def f(t):
        return ref.loss_only(cfg, {k: params[k] + t * v[k] for k in params}, batch)
    fd = converged_fd(f, scale=abs(f(0.0)) + 1.0)
    assume(fd is not None)
    an = sum(float((g[k] * v[k]).sum()) for k in params)
    assert fd == pytest.approx(an, rel=1e-5, abs=1e-7)


@settings(max_examples=20)
@given(net_configs(dtype="float32"))
def test_float32_kernels_track_float64(case):
    cfg, net, params, batch, _ = setup(case)
    loss32, g32, _ = net.loss_and_grads(params, batch)
    ps = ref.forward(cfg, params, batch)
    rloss, rg, _, _ = ref.backward(cfg, params, batch, ps)
    assert loss32 == pytest.approx(rloss, rel=2e-4, abs=1e-5)
    scale = max(float(np.abs(v).max()) for v in rg.values() if v.size)
    for k in rg:
        assert np.abs(g32[k] - rg[k]).max() <= 2e-3 * scale + 1e-5, k


@settings(max_examples=15, deadline=None)
@given(net_configs(long=True))
def test_long_sequences_match_reference(case):
    """The GEMM attention path (T ≥ GEMM_MIN_T, every row computed) equals the reference."""
    test_kernels_match_reference.hypothesis.inner_test(case)


@settings(max_examples=8, deadline=None)
@given(net_configs(long=True), st.integers(0, 2**16))
def test_long_sequences_gradients_match_differences(case, dseed):
    test_gradients_match_central_differences.hypothesis.inner_test(case, dseed)


@settings(max_examples=8, deadline=None)
@given(net_configs(dtype="float32", long=True))
def test_long_sequences_float32_track_float64(case):
    test_float32_kernels_track_float64.hypothesis.inner_test(case)


# ----------------------------------------------------------------------------------------------
# clamps
# ----------------------------------------------------------------------------------------------

def ref_plan(cfg, params, batch, plan):
    """Multi-pass reference: forward every pass, then backward with gathered-value gradients
    routed into the passes they were read from (detached ones dropped)."""
    n, T = batch.targets.shape
    passes, ovs = {}, {}
    for ps in plan:
        ov = {}
        for o in ps.overrides:
            kind, _ = LY.parse(cfg, o.act)
            shp = LY.shape(cfg, kind, n, T)
            mask = np.broadcast_to(np.asarray(o.mask, bool), shp)
            val = np.broadcast_to(np.asarray(o.value, float), shp)
            if o.source is not None:
                src = passes[o.source[0]].acts[o.source[1]].reshape(-1)
                idx = np.broadcast_to(o.index, shp)
                val = np.where(idx >= 0, src[np.maximum(idx, 0)], val)
            if o.act in ov:
                m0, v0 = ov[o.act]
                ov[o.act] = (m0 | mask, np.where(mask, val, v0))
            else:
                ov[o.act] = (mask, val)
        passes[ps.name] = ref.forward(cfg, params, batch, ov)
        ovs[ps.name] = ov
    total = None
    inject: dict = {}
    loss = 0.0
    for ps in reversed(plan):
        main = ps.name == "main"
        if not main and not inject.get(ps.name):
            continue
        lo, g, dvals, _ = ref.backward(cfg, params, batch, passes[ps.name], ovs[ps.name],
                                       inject.get(ps.name), loss=main)
        if main:
            loss = lo
        total = g if total is None else {k: total[k] + g[k] for k in g}
        later: dict = {}
        for o in reversed(ps.overrides):
            kind, _ = LY.parse(cfg, o.act)
            shp = LY.shape(cfg, kind, n, T)
            mask = np.broadcast_to(np.asarray(o.mask, bool), shp)
            hidden = later.get(o.act)
            later[o.act] = mask if hidden is None else mask | hidden
            if o.source is None or o.detach:
                continue
            idx = np.broadcast_to(o.index, shp)
            sel = mask & (idx >= 0) & (True if hidden is None else ~hidden)
            sp, sa = o.source
            d = inject.setdefault(sp, {}).setdefault(
                sa, np.zeros_like(passes[sp].acts[sa]))
            np.add.at(d.reshape(-1), idx[sel], dvals[o.act][sel])
    return loss, total, passes


@st.composite
def override_cases(draw, long=False):
    case = draw(net_configs(long=long))
    cfg, T, n, seed = case
    names = LY.names(cfg)
    k = draw(st.integers(1, 3))
    acts = [draw(st.sampled_from(names)) for _ in range(k)]
    return case, acts, draw(st.integers(0, 2**16)), draw(st.booleans()), draw(st.booleans())


def random_overrides(cfg, n, T, acts, rng, sourced, detach):
    """Random element masks on the chosen activations; values constant or gathered from an
    unclamped reference pass ("ref")."""
    out = []
    allowed = np.tril(np.ones((T, T), bool)) if cfg.causal else np.ones((T, T), bool)
    for a in acts:
        kind, _ = LY.parse(cfg, a)
        shp = LY.shape(cfg, kind, n, T)
        mask = rng.random(shp) < 0.4
        if kind in (LY.PATTERN, LY.SCORES):
            mask &= allowed
        value = rng.standard_normal(shp) * (0.3 if kind == LY.PATTERN else 1.0)
        if sourced:
            size = int(np.prod(shp))
            index = rng.integers(0, size, shp)
            index[rng.random(shp) < 0.3] = -1
            out.append(Override(a, mask, value, source=("ref", a), index=index, detach=detach))
        else:
            out.append(Override(a, mask, value))
    return out


@settings(max_examples=40)
@given(override_cases())
def test_clamped_gradients_match_reference_and_differences(ov_case):
    """Random clamps (constant or gathered from a reference pass, detached or not): the kernels
    give the reference's loss and gradients, and those are the derivative of the clamped loss
    (gathered values move with the parameters unless detached)."""
    case, acts, oseed, sourced, detach = ov_case
    cfg, net, params, batch, _ = setup(case)
    n, T = batch.targets.shape
    rng = np.random.default_rng(oseed)
    ovs = random_overrides(cfg, n, T, acts, rng, sourced, detach)
    plan = ([PassSpec("ref"), PassSpec("main", ovs)] if sourced else [PassSpec("main", ovs)])
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    _, (loss, _, _) = net._run(params, batch, (), overrides=ovs, grads=grads)
    rloss, rg, passes = ref_plan(cfg, params, batch, plan)
    assert loss == pytest.approx(rloss, rel=1e-10, abs=loss_tol(passes["main"].acts["logits"]))
    assert_grads_close(grads, rg)
    v = {k: rng.standard_normal(p.shape) for k, p in params.items()}
    frozen = passes.get("ref")

    def f(t):
        p = {k: params[k] + t * v[k] for k in params}
        if sourced and detach:      # gathered values held at the base parameters
            fixed = [Override(o.act, o.mask, np.where(
                np.broadcast_to(o.index, np.shape(o.value)) >= 0,
                frozen.acts[o.source[1]].reshape(-1)[np.maximum(o.index, 0)], o.value))
                for o in ovs]
            return ref_plan(cfg, p, batch, [PassSpec("main", fixed)])[0]
        return ref_plan(cfg, p, batch, plan)[0]
    fd = converged_fd(f, scale=abs(f(0.0)) + 1.0)
    assume(fd is not None)
    an = sum(float((grads[k] * v[k]).sum()) for k in params)
    assert fd == pytest.approx(an, rel=1e-5, abs=1e-7)


@settings(max_examples=10, deadline=None)
@given(override_cases(long=True))
@example(((TransformerConfig(n_layers=1, d_model=2, heads=1, d_head=2, w_o=False, norm="none",
                             mlp=False, positions="none", max_len=16, attention="linear",
                             causal=True, vocab=2, d_in=0, in_bias=False, n_out=2,
                             unembed_bias=False, readout_mlp=0, loss_positions=(-1,),
                             dtype="float64"), 16, 1, 0), ["L0.scores"], 0, True, False))
def test_long_clamped_gradients_match_reference_and_differences(ov_case):
    """Clamps (scores, patterns, head outputs …) on the GEMM attention path.  The example
    (hypothesis seed 3741320965): values gathered from a reference pass inject gradient at
    masked keys (j > i) of causal linear scores, which the GEMM backward once let through."""
    test_clamped_gradients_match_reference_and_differences.hypothesis.inner_test(ov_case)


@settings(max_examples=25)
@given(net_configs(), st.integers(0, 2**16))
def test_clamped_elements_pass_exactly_zero_gradient(case, oseed):
    """Clamp every element of one layer's output: nothing upstream of it (that layer and the
    ones below, the embeddings) receives any gradient; a partial clamp's upstream gradient is
    the reference's masked one."""
    cfg, net, params, batch, _ = setup(case)
    n, T = batch.targets.shape
    layer = np.random.default_rng(oseed).integers(0, cfg.n_layers)
    full = Override(f"L{layer}.out", True, 0.5)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    net._run(params, batch, (), overrides=[full], grads=grads)
    upstream = ["W_E", "W_in", "b_in", "W_pos"]
    for k, g in grads.items():
        if k in upstream:
            assert not g.any(), k
        elif k in ("W_Q", "W_K", "W_V", "W_O", "ln1_w", "ln1_b", "ln2_w", "ln2_b", "W_1",
                   "b_1", "W_2", "b_2"):
            assert not g[: layer + 1].any(), k


def test_named_activation_errors():
    cfg = TransformerConfig(vocab=5, d_in=4, n_out=5)
    net = Transformer(cfg)
    with pytest.raises(UnknownNameError):
        LY.parse(cfg, "L2.pattern")
    with pytest.raises(UnknownNameError):
        LY.parse(cfg, "L0.mlp_pre")          # attention-only
    assert "L1.z" in net.activation_names()
    assert net.activation_names()[0] == "embed" and net.activation_names()[-1] == "logits"


# ----------------------------------------------------------------------------------------------
# the registry's clamps
# ----------------------------------------------------------------------------------------------

def singh_setup(seed=0, n=6, dtype="float64", **model):
    from minimal.tasks.singh import SinghTask
    cfg = TransformerRunConfig(model=TransformerConfig(dtype=dtype, **model))
    task = SinghTask(cfg.task, seed)
    return cfg, task, task.batch(0, batch_size=n)


@given(st.floats(0.0, 1.0), st.integers(0, 7), st.booleans(), st.integers(0, 100))
def test_prev_token_clamp_equals_its_definition(s, head, only_labels, seed):
    cfg, task, batch = singh_setup(seed)
    spec = ClampSpec("prev_token", {"layer": 0, "head": head, "strength": s,
                                    "only_labels": only_labels})
    net = Transformer(cfg.net_config(), [spec])
    params = net.init(np.random.default_rng(seed))
    A = net.forward(params, batch, ["L0.pattern"])["L0.pattern"]
    free = net.forward(params, batch, ["L0.pattern"], clamps=None)["L0.pattern"]
    want = prev_token_pattern(5, s)
    rows = [1, 3] if only_labels else range(5)
    for i in range(5):
        if i in rows:
            np.testing.assert_allclose(A[:, head, i], np.broadcast_to(want[i], (len(batch), 5)),
                                       atol=1e-15)
        else:
            np.testing.assert_array_equal(A[:, head, i], free[:, head, i])
    assert want[0, 0] == 1 and all(want[i, i - 1] == s and want[i, i] == 1 - s
                                   for i in range(1, 5))
    others = [h for h in range(8) if h != head]
    np.testing.assert_array_equal(A[:, others], free[:, others])


@given(st.floats(0.0, 1.0), st.integers(0, 7), st.integers(0, 100))
def test_induction_match_clamp_sets_the_strength(s, head, seed):
    from minimal.transformer.singh import induction_strength
    cfg, task, batch = singh_setup(seed)
    net = Transformer(cfg.net_config(), [ClampSpec("induction_match",
                                                   {"layer": 1, "head": head, "strength": s})])
    params = net.init(np.random.default_rng(seed))
    A = net.forward(params, batch, ["L1.pattern"])["L1.pattern"]
    assert induction_strength(A, batch)[head] == pytest.approx(2 * s - 1, abs=1e-12)
    np.testing.assert_allclose(A[:, head, 4].sum(-1), 1.0, atol=1e-12)


def test_perfect_copy_logits_are_the_heads_scores():
    cfg, task, batch = singh_setup(3)
    net = Transformer(cfg.net_config(), [ClampSpec("perfect_copy", {"layer": 1, "head": 2})])
    params = net.init(np.random.default_rng(0))
    lg = net.forward(params, batch, ["logits"])["logits"][:, 4]
    S = net.forward(params, batch, ["L1.scores"], clamps=None)["L1.scores"]
    ids = batch.meta["label_ids"]
    for b in range(len(batch)):
        for k, t in enumerate((1, 3)):
            assert lg[b, ids[b, k]] == S[b, 2, 4, t]
        absent = [c for c in range(5) if c not in ids[b]]
        assert np.all(lg[b, absent] == -1e9)


def test_perfect_layer1_patterns_come_from_the_shifted_embeddings():
    cfg, task, batch = singh_setup(4)
    net = Transformer(cfg.net_config(), [ClampSpec("perfect_layer1")])
    params = net.init(np.random.default_rng(1))
    free = net.forward(params, batch, ["embed"], clamps=None)["embed"]
    out = net.forward(params, batch, ["L0.out", "L1.pattern"])
    np.testing.assert_array_equal(out["L0.out"], free)          # values read the embeddings
    shifted = free[:, [0, 0, 1, 2, 4]]                            # (e0, e0, l0, e1, q)
    want = net.forward(params, batch, ["L1.pattern"], clamps=None,
                       overrides=[Override("L0.out", True, shifted)])["L1.pattern"]
    np.testing.assert_allclose(out["L1.pattern"], want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("preset", TRANSFORMER_PRESETS.names())
def test_study_presets_match_the_multipass_reference(preset):
    """Each study run's clamps (one or three passes) give the reference's loss and gradients."""
    from minimal.transformer.clamps import build_plan
    base = TRANSFORMER_PRESETS.get(preset)
    cfg = TransformerRunConfig(model=TransformerConfig(d_model=16, heads=4, dtype="float64"),
                               clamps=base.clamps)
    from minimal.tasks.singh import SinghTask
    batch = SinghTask(cfg.task, 0).batch(0, batch_size=4)
    net = Transformer(cfg.net_config(), cfg.clamps)
    rng = np.random.default_rng(2)
    params = {k: v + 0.2 * rng.standard_normal(v.shape)
              for k, v in net.init(rng).items()}
    loss, g, _ = net.loss_and_grads(params, batch)
    rloss, rg, _ = ref_plan(cfg.net_config(), params, batch,
                            build_plan(cfg.net_config(), cfg.clamps, batch))
    assert loss == pytest.approx(rloss, rel=1e-10)
    assert_grads_close(g, rg)


def test_clamps_round_trip_through_json():
    for name in TRANSFORMER_PRESETS.names():
        cfg = TRANSFORMER_PRESETS.get(name)
        back = from_json(TransformerRunConfig, to_json(cfg))
        assert back == cfg
        assert json.loads(to_json(cfg))["clamps"] == [
            {"kind": s.kind, "params": s.params, "detach": s.detach} for s in cfg.clamps]
    spec = ClampSpec("prev_token", {"head": 3, "strength": 0.25}, detach=True)
    assert spec.params == {"layer": 0, "head": 3, "strength": 0.25, "only_labels": False}


@pytest.mark.parametrize("bad, match", [
    (dict(kind="nope"), "clamp kind"),
    (dict(kind="prev_token", params={"head": 1, "colour": 2}), "unknown parameter"),
    (dict(kind="prev_token", params={}), "is required"),
    (dict(kind="prev_token", params={"head": 1, "strength": "x"}), "real number"),
])
def test_bad_clamp_specs_are_one_line_errors(bad, match):
    with pytest.raises(ConfigError, match=match):
        ClampSpec(**bad)


def test_clamp_ranges_checked_against_the_network():
    with pytest.raises(ConfigError, match="head"):
        TransformerRunConfig(clamps=(ClampSpec("prev_token", {"head": 8}),))
    with pytest.raises(ConfigError, match="layer"):
        TransformerRunConfig(clamps=(ClampSpec("induction_match", {"layer": 2, "head": 0}),))


# ----------------------------------------------------------------------------------------------
# cross-check with the Reddy network
# ----------------------------------------------------------------------------------------------

@settings(max_examples=15)
@given(st.integers(1, 3), st.integers(0, 3), st.integers(1, 6), st.integers(0, 2**16))
def test_reddy_configuration_reproduces_the_attention_net(n_layers, depth, nb, seed):
    """One head per layer, no W_O, no LayerNorm, no 1/√k scaling, one-hot positions and the
    3-layer scalar-bias MLP read at the target: the same loss and gradients as AttentionNet."""
    from minimal.nets.attention import AttentionNet
    from minimal.nets.config import NetConfig
    from minimal.tasks.icl import ICLTask, TaskConfig
    task_cfg = TaskConfig(K=16, L=8, N=4, N_max=5, D=7, B=1, K_novel=8, p_novel=0.5)
    d = task_cfg.d
    net = AttentionNet(NetConfig(n_layers=n_layers, k_dim=d, mlp_depth=depth,
                                 dtype="float64"), task_cfg)
    task = ICLTask(task_cfg, seed, warn=False)
    p = net.init(np.random.default_rng(seed))
    batch = task.batch(0, batch_size=nb)
    loss, g, _ = net.loss_and_grads(p, batch)
    cfg = TransformerConfig(n_layers=n_layers, d_model=d, heads=1, d_head=d, w_o=False,
                            norm="none", positions="onehot", max_len=task_cfg.P, qk_scale=1.0,
                            vocab=0, d_in=task_cfg.D, in_proj=False, n_out=task_cfg.L,
                            unembed_bias=False, readout_mlp=depth, dtype="float64")
    tf = Transformer(cfg)
    tp = {"W_Q": p["W_Q"].transpose(0, 2, 1)[:, None].copy(),
          "W_K": p["W_K"].transpose(0, 2, 1)[:, None].copy(),
          "W_V": p["W_V"].transpose(0, 2, 1)[:, None].copy(), "W_U": p["W_out"].T.copy()}
    if depth:
        tp["R_W"], tp["R_b"] = p["mlp_W"], p["mlp_b"]
    T = task_cfg.T
    tg = np.full((nb, T), -1, np.int32)
    tg[:, -1] = batch.target
    sb = SeqBatch(None, batch.content, tg, batch.positions)
    tloss, tg_, _ = tf.loss_and_grads(tp, sb)
    assert tloss == pytest.approx(loss, rel=1e-12, abs=1e-13)
    back = {"W_Q": tg_["W_Q"][:, 0].transpose(0, 2, 1), "W_K": tg_["W_K"][:, 0].transpose(0, 2, 1),
            "W_V": tg_["W_V"][:, 0].transpose(0, 2, 1), "W_out": tg_["W_U"].T}
    if depth:
        back["mlp_W"], back["mlp_b"] = tg_["R_W"], tg_["R_b"]
    assert_grads_close(back, {k: g[k] for k in back}, rtol=1e-9, atol_rel=1e-11)


# ----------------------------------------------------------------------------------------------
# the Singh task
# ----------------------------------------------------------------------------------------------

@given(st.integers(0, 2**20), st.integers(0, 1000), st.sampled_from(
    ["train", "heldout_pairs", "heldout_ex", "test"]))
def test_singh_generator_matches_its_reference(seed, step, split):
    from minimal._rng import step_key
    from minimal.tasks import singh_reference as R
    from minimal.tasks.singh import SinghTask
    task = SinghTask(seeds=seed)
    key = step_key(task._data_key, step)
    b = task._generate(key, 17, split)
    r = R.generate(task, key, 17, split)
    for k in ("tokens", "x", "targets"):
        np.testing.assert_array_equal(getattr(b, k), r[k])
    for k in ("label_ids", "correct", "class_ids"):
        np.testing.assert_array_equal(b.meta[k], r[k])


def test_singh_generator_statistics():
    from minimal.tasks.singh import SinghTask
    task = SinghTask(seeds=1)
    c = task.config
    b = task._generate(12345, 40_000, "train")
    lab = b.meta["label_ids"]
    pairs = {tuple(sorted(p)) for p in lab.tolist()}
    assert pairs == {tuple(p) for p in task.train_pairs.tolist()}          # training pairs only
    assert not pairs & {tuple(p) for p in task.heldout_pairs.tolist()}
    cls = b.meta["class_ids"]
    assert np.all(cls[:, 0] != cls[:, 1]) and np.all(cls < c.n_classes)
    corr = b.meta["correct"]
    assert np.all(cls[np.arange(len(cls)), corr] == cls[:, 2])             # the query's class
    assert np.all(b.targets[:, 4] == lab[np.arange(len(lab)), corr])
    # query class uniform over the training classes; the matching pair first half the time;
    # either label of the pair goes to the query (binomial 4-sigma bounds)
    counts = np.bincount(cls[:, 2], minlength=c.n_classes)
    m = len(cls) / c.n_classes
    assert np.all(np.abs(counts - m) < 5 * np.sqrt(m))
    assert abs(corr.mean() - 0.5) < 4 * 0.5 / np.sqrt(len(corr))
    first = (np.minimum(lab[:, 0], lab[:, 1]) == lab[np.arange(len(lab)), corr]).mean()
    assert abs(first - 0.5) < 4 * 0.5 / np.sqrt(len(corr))
    # the training exemplar of a class is identical in context and query; held-out exemplars
    # are exemplars 1.. of the class
    np.testing.assert_array_equal(b.x[np.arange(len(cls)), 2 * corr], b.x[:, 4])
    h = task._generate(7, 2000, "heldout_ex")
    q = h.meta["class_ids"][:, 2]
    ex = task.exemplars
    assert all(any(np.array_equal(h.x[i, 4], ex[q[i], e]) for e in range(1, c.n_exemplars))
               for i in range(0, 2000, 97))
    t = task._generate(9, 2000, "test")
    assert np.all(t.meta["class_ids"] >= c.n_classes)
    # exemplars are (μ + εζ)/√(1+ε²) with μ, ζ ~ N(0, I/D): squared norm ≈ 1
    norms = (ex ** 2).sum(-1)
    assert abs(norms.mean() - 1.0) < 4 * np.sqrt(2.0 / c.D_f / norms.size) + 0.01
