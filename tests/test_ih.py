"""Minimal induction-head models: gradients vs the NumPy reference and finite differences,
attention invariants, permutation invariance, alignment measure, and learning ICL."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from minimal.config import apply_overrides
from minimal.induction_head import reference as R
from minimal.induction_head.config import FROZEN, VARIANTS
from minimal.induction_head.model import IHConfig, IHModel, IH_PRESETS
from minimal.tasks.icl import ICLTask, TaskConfig

CASES = [(v, c) for v in VARIANTS for c in ("linear", "mlp3")]


def _setup(variant, clf, N=4, D=9, nb=6, seed=0, th=(-2.0, 0.0, 0.0), dtype="float64"):
    cfg = TaskConfig(K=32, L=8, N=N, N_max=N, D=D, B=1, K_novel=8, p_novel=0.5, eps=0.3)
    task = ICLTask(cfg, seed, warn=False)
    ih = IHConfig(variant=variant, classifier=clf, dtype=dtype, linear_init_std=0.3,
                  beta1_0=th[0], alpha_0=th[1], beta2_0=0.0 if variant == "ih2" else th[2])
    model = IHModel(ih, cfg, task.label_vectors)
    return task, model, model.init(np.random.default_rng(seed)), task.batch(seed,
                                                                            batch_size=nb)


def _relu_pattern(params, content, variant, clf):
    """Which hidden units of the mlp3 classifier are active (None for the linear one)."""
    if clf != "mlp3":
        return None
    pre = R.forward(params, content, variant, clf)["pre"]
    return np.concatenate([(z > 0).ravel() for z in pre])


def _central_difference(shifted, batch, variant, clf, h=1e-6):
    """(L(p(h)) − L(p(−h))) / 2h for the parameters ``shifted(h)``.  The loss is smooth except
    where a ReLU of the mlp3 classifier switches: when p(h) and p(−h) lie on different sides of
    such a kink the difference is not the derivative, so h is shrunk (and the example dropped
    if even h = 1e-9 straddles one)."""
    for _ in range(4):
        pp, pm = shifted(h), shifted(-h)
        a = _relu_pattern(pp, batch.content, variant, clf)
        b = _relu_pattern(pm, batch.content, variant, clf)
        if a is None or np.array_equal(a, b):
            return (R.loss(pp, batch.content, batch.target, variant, clf) -
                    R.loss(pm, batch.content, batch.target, variant, clf)) / (2 * h)
        h /= 10
    assume(False)


@settings(max_examples=30)
@given(st.sampled_from(CASES), st.floats(-8, 8), st.floats(-12, 12), st.floats(-10, 10),
       st.integers(0, 1000))
@example(case=("ih2-labels", "mlp3"), b1=0.0, al=0.005, b2=0.0, seed=607)  # a ReLU kink at ±h
def test_gradients_match_reference_finite_differences(case, b1, al, b2, seed):
    """Including large |α|, |β| where the softmaxes saturate."""
    variant, clf = case
    task, model, p, batch = _setup(variant, clf, seed=seed, th=(b1, al, b2))
    loss, g, _ = model.loss_and_grads(p, batch)
    ref = R.loss(p, batch.content, batch.target, variant, clf)
    assert loss == pytest.approx(ref, rel=1e-10, abs=1e-12)

    def theta_shift(i):
        def shifted(d):
            q = {k: v.copy() for k, v in p.items()}
            q["theta"][i] += d
            return q
        return shifted

    for i in range(3):
        fd = _central_difference(theta_shift(i), batch, variant, clf)
        if i in FROZEN[variant]:
            fd = 0.0                         # a factor this variant does not learn
        assert g["theta"][i] == pytest.approx(fd, rel=1e-5, abs=1e-8), i
    # classifier: directional derivative
    rng = np.random.default_rng(seed)
    v = {k: rng.standard_normal(x.shape) for k, x in p.items() if k != "theta"}
    fd = _central_difference(lambda d: {k: (x + d * v[k] if k in v else x)
                                        for k, x in p.items()}, batch, variant, clf)
    an = sum(float((g[k] * v[k]).sum()) for k in v)
    assert an == pytest.approx(fd, rel=1e-5, abs=1e-8)


@given(st.sampled_from(CASES), st.integers(0, 100))
def test_forward_matches_reference(case, seed):
    variant, clf = case
    task, model, p, batch = _setup(variant, clf, seed=seed, th=(0.5, 2.0, 1.0))
    out = model.forward(p, batch)
    ref = R.forward(p, batch.content, variant, clf)
    np.testing.assert_allclose(out["logits"], ref["logits"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["attn"], ref["attn"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(out["attn"].sum(1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
def test_zero_alpha_beta2_gives_uniform_attention(variant):
    task, model, p, batch = _setup(variant, "linear", th=(1.3, 0.0, 0.0))
    A = model.forward(p, batch)["attn"]
    N = 4
    if variant in ("ih2-labels", "ih1-alpha", "ih1-beta1"):
        np.testing.assert_allclose(A[:, N:], 1 / N)
        assert (A[:, :N] == 0).all()                       # no attention on items at all
    else:
        np.testing.assert_allclose(A, 1 / (2 * N))


@given(st.floats(-5, 5), st.floats(-10, 10), st.floats(-5, 5))
def test_ih2_labels_never_attends_to_items(b1, al, b2):
    task, model, p, batch = _setup("ih2-labels", "linear", th=(b1, al, b2))
    assert (model.forward(p, batch)["attn"][:, :4] == 0).all()


@settings(max_examples=20)
@given(st.sampled_from(CASES), st.integers(0, 1000), st.floats(-4, 4), st.floats(-6, 6))
def test_loss_invariant_under_permutation_of_context_pairs(case, seed, b1, al):
    variant, clf = case
    task, model, p, batch = _setup(variant, clf, seed=seed, th=(b1, al, 0.0))
    perm = np.random.default_rng(seed).permutation(4)
    c2 = batch.copy()
    idx = np.concatenate([np.ravel(np.column_stack([2 * perm, 2 * perm + 1])), [8]])
    c2.content[:] = batch.content[:, idx]
    a = model.loss_and_grads(p, batch)
    b = model.loss_and_grads(p, c2)
    assert a[0] == pytest.approx(b[0], rel=1e-12)
    for k in a[1]:
        np.testing.assert_allclose(a[1][k], b[1][k], rtol=1e-9, atol=1e-13)


def test_alignment_measure():
    task, model, p, batch = _setup("ih3", "linear")
    p["W"] = np.zeros_like(p["W"])
    assert model.alignment(p) == 0.0
    p["W"] = task.label_vectors.copy()              # reads label l as ℓ_l·ℓ_l' ≈ δ_ll'
    L = 8
    G = task.label_vectors @ task.label_vectors.T
    expected = np.mean(np.diag(G) - (G.sum(1) - np.diag(G)) / (L - 1))
    assert model.alignment(p) == pytest.approx(expected, rel=1e-10)


def test_float32_kernel_tracks_float64():
    for variant, clf in CASES:
        _, m64, p, batch = _setup(variant, clf, th=(0.3, 3.0, 1.0))
        _, m32, _, _ = _setup(variant, clf, th=(0.3, 3.0, 1.0), dtype="float32")
        p32 = {k: (v if k == "theta" else v.astype(np.float32)) for k, v in p.items()}
        l64, g64, _ = m64.loss_and_grads(p, batch)
        l32, g32, _ = m32.loss_and_grads(p32, batch)
        assert l32 == pytest.approx(l64, rel=1e-5)
        scale = max(np.abs(v).max() for v in g64.values())
        for k in g64:
            assert np.abs(g32[k] - g64[k]).max() <= 1e-3 * scale, (variant, clf, k)


def test_short_fig3_run_learns_icl():
    """ih3 + linear classifier on reddy-fig3: IC accuracy near chance during the slow phase,
    then the abrupt jump, with w = σ(β₁) and TILA2 jumping together."""
    from minimal.induction_head.train import train_ih
    cfg = apply_overrides(IH_PRESETS.get("reddy-fig3"), [
        "train.steps=6000", "train.eval_every=500", "task.n_eval=500", "ih.lr_attn=0.1",
        "ih.lr_clf=0.1"])
    m = train_ih(cfg, None, progress=False).metrics
    ic = m["ic_acc"]
    assert ic[2] < 0.2 and ic[-1] > 0.8
    assert m["ila1"][-1] > 0.7 > m["ila1"][0] and m["tila2"][-1] > 0.8
    assert m["cla"][2] > m["cla"][0]                        # CLA rises in the slow phase


def test_ih_resume_equals_uninterrupted(tmp_path):
    from minimal.induction_head.train import train_ih
    from minimal.runs import read_metrics
    cfg = apply_overrides(IH_PRESETS.get("reddy-fig3"), [
        "train.steps=300", "train.eval_every=100", "task.n_eval=200", "ih.classifier=mlp3"])
    train_ih(cfg, tmp_path / "a", progress=False)
    train_ih(cfg, tmp_path / "b", progress=False, stop_after=150)
    train_ih(cfg, tmp_path / "b", resume=True, progress=False)
    a = read_metrics(tmp_path / "a" / "metrics.csv")
    b = read_metrics(tmp_path / "b" / "metrics.csv")
    for k in a:
        if k != "wall_s":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert list(a["step"]) == [0, 100, 200, 300]


def test_config_rules():
    from minimal.errors import ConfigError
    with pytest.raises(ConfigError, match="variant"):
        IHConfig(variant="ih4")
    with pytest.raises(ConfigError, match="beta2_0"):
        IHConfig(variant="ih2", beta2_0=1.0)
    with pytest.raises(ConfigError, match="classifier"):
        IHConfig(classifier="mlp2")
