"""Two-hop generator invariants (including the noise-leak guard), Level-1 gradients against a
NumPy reference, the product law, and no-CoT OOD at chance."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from minimal.config import Seeds, apply_overrides
from minimal.errors import ConfigError
from minimal.tasks.twohop import COT_WORLDS, TwoHopConfig, TwoHopWorld


def small_world(**kw):
    base = dict(n_entities=60, n_relations=8, k_out=4, ood_ratio=0.1, lam=2.0, probe_cap=500)
    base.update(kw)
    return TwoHopConfig(**base)


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 80), st.integers(1, 10), st.floats(0.02, 0.5), st.integers(0, 1000))
def test_generator_invariants(E, R, ood, seed):
    k = min(R, 3)
    try:
        cfg = TwoHopConfig(n_entities=E, n_relations=R, k_out=k, ood_ratio=ood, lam=0.5,
                           probe_cap=100)
    except ConfigError:
        return                                       # λ infeasible for a tiny world
    try:
        w = TwoHopWorld(cfg, seed, warn=False)
    except ConfigError as err:                       # this seed's training pool is too small
        assert "training pool holds" in str(err)
        return
    # counts and the fact map
    assert len(w.atomic) == E * k
    assert int(w.atomic_ood.sum()) == int(round(ood * E * k))
    pairs = w.atomic[:, 0] * R + w.atomic[:, 1]
    assert len(np.unique(pairs)) == len(pairs)                  # each (h, r) has one tail
    for h in range(E):
        assert len(set(w.rels[h])) == k
    assert (w.F[w.atomic[:, 0], w.atomic[:, 1]] == w.atomic[:, 2]).all()
    # two-hop composition and pools
    q = w.queries
    assert (w.F[q[:, 0], q[:, 1]] == q[:, 3]).all() and (w.F[q[:, 3], q[:, 2]] == q[:, 4]).all()
    train = w.queries[w.train_queries]
    assert not w.ood_map[train[:, 0], train[:, 1]].any()        # no OOD fact inside training
    assert not w.ood_map[train[:, 3], train[:, 2]].any()
    ood_q = w.queries[w.test_ood]
    assert w.ood_map[ood_q[:, 0], ood_q[:, 1]].all() and w.ood_map[ood_q[:, 3], ood_q[:, 2]].all()
    assert len(set(w.train_queries) & set(w.test_iid)) == 0
    assert len(w.train_items) == round(0.5 * w.n_id_atomic)


@pytest.mark.parametrize("hop", ["second", "first", "both"])
def test_noise_touches_only_training_labels_at_rate_xi(hop):
    clean = TwoHopWorld(small_world(noise=0.0), 3, warn=False)
    noisy = TwoHopWorld(small_world(noise=0.3, noise_hop=hop), 3, warn=False)
    # the fact table, the pools and every test label are untouched (no leak)
    np.testing.assert_array_equal(clean.F, noisy.F)
    np.testing.assert_array_equal(clean.queries, noisy.queries)
    np.testing.assert_array_equal(clean.train_queries, noisy.train_queries)
    for name in ("test_inferred_iid", "test_inferred_ood", "id_atomic", "ood_atomic"):
        a, b = clean.probe(name), noisy.probe(name)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    q = noisy.queries[noisy.train_queries]
    items = noisy.train_items
    flagged = noisy.train_noisy
    # clean items keep the clean composition; corrupted fields only where flagged
    np.testing.assert_array_equal(items[~flagged, 3], q[~flagged, 3])
    np.testing.assert_array_equal(items[~flagged, 4], q[~flagged, 4])
    if hop == "second":
        np.testing.assert_array_equal(items[:, 3], q[:, 3])      # bridge kept
    if hop == "first":
        np.testing.assert_array_equal(items[:, 4], q[:, 4])      # answer kept
    # the corrupted fraction is ξ (1 − (1 − ξ)² for both hops)
    p = 0.3 if hop != "both" else 1 - 0.7 ** 2
    n = len(items)
    assert sps.binomtest(int(flagged.sum()), n, p).pvalue > 1e-6


def test_formats_and_masks():
    w = TwoHopWorld(COT_WORLDS.get("tiny"), 0, warn=False)
    seq, mask = w.sequences("atomic")
    assert seq.shape == (len(w.atomic), 4) and mask[0].tolist() == [False, False, True, True]
    assert (seq[:, 3] == w.tok_special("</a>")).all()
    seq, mask = w.sequences("two_hop", cot=True)
    assert seq.shape[1] == 6 and mask[0].tolist() == [False, False, False, True, True, True]
    np.testing.assert_array_equal(seq[:, 3], w.train_items[:, 3])     # the bridge
    seq, mask = w.sequences("two_hop", cot=False)
    assert seq.shape[1] == 5 and mask[0].sum() == 2
    assert seq.max() < w.vocab_size()


@pytest.mark.parametrize("kw,needle", [
    ({"n_entities": 1}, "n_entities"), ({"k_out": 0}, "k_out"), ({"k_out": 9}, "k_out"),
    ({"ood_ratio": 0.0}, "ood_ratio"), ({"ood_ratio": 1.0}, "ood_ratio"),
    ({"lam": 50.0}, "feasible maximum"), ({"lam": -1.0}, "lam"), ({"noise": 1.5}, "noise"),
    ({"noise_hop": "third"}, "noise_hop"), ({"probe_cap": 0}, "probe_cap")])
def test_validation(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        small_world(**kw)


def test_probes_capped_and_exact_match_scored():
    w = TwoHopWorld(small_world(probe_cap=40), 1, warn=False)
    for name, idx in w.probe_index.items():
        assert len(idx) <= 40
    p = w.probe("train_inferred")
    assert (p["index"] >= 0).all()


# --- Level 1 -----------------------------------------------------------------------------------

def _ref_loss(model, items_atomic, items_two, cot):
    """Summed cross-entropy of a batch with the current stores (float64, exact mixture)."""
    s = {k: v.astype(np.float64) for k, v in model.stores.items()}
    R = model.R
    rho = model.rho
    L = 0.0

    def ce(z, t):
        z = z - z.max()
        return float(np.log(np.exp(z).sum()) - z[t])

    for h, r, t in items_atomic:
        L += ce(rho[0] * s["A"][h * R + r], t)
    for j, (h, r1, r2, b, t) in items_two:
        if cot:
            L += ce(rho[1] * s["A"][h * R + r1], b)
            L += ce(rho[2] * (s["A"][b * R + r2] + s["S"][b * R + r2]) + s["C"][h * R + r2] +
                    s["D"][r1 * R + r2], t)
        else:
            a = s["A"][h * R + r1]
            q = np.exp(a - a.max())
            q /= q.sum()
            rows = s["B"][np.arange(model.E) * R + r2]
            L += ce(rho[3] * q @ rows + s["M"][j], t)
    return L


@pytest.mark.parametrize("cot", [True, False])
def test_level1_step_matches_reference_gradients(cot):
    from minimal.cot.train import TSAM, order_for
    from minimal.cot.config import TSAMConfig
    wcfg = small_world(n_entities=12, n_relations=4, k_out=3, lam=1.0)
    w = TwoHopWorld(wcfg, 2, warn=False)
    cfg = TSAMConfig(cot=cot, lr=1e-3, weight_decay=0.0, init_std=0.5, rho0=0.7,
                     bridge_topk=12, batch_size=6, cd_lr_scale=1.0, m_lr_ratio=1.0)
    model = TSAM(cfg, w)
    for k in model.stores:                               # exact float64 stores
        model.stores[k] = model.stores[k].astype(np.float64)
    model.rho[:] = [0.7, 0.6, 0.5, 0.4]
    n_items = len(w.atomic) + len(w.train_items)
    order, p0 = order_for(Seeds(seed=0), n_items, 0, 6)
    ids = order[p0:p0 + 6]
    na = len(w.atomic)
    atomic = [tuple(w.atomic[i]) for i in ids if i < na]
    two = [(i - na, tuple(w.train_items[i - na])) for i in ids if i >= na]
    before = {k: v.copy() for k, v in model.stores.items()}
    rho0 = model.rho.copy()
    L0 = _ref_loss(model, atomic, two, cot)
    model.train(order, p0, 1)
    after = {k: v.copy() for k, v in model.stores.items()}
    rho1 = model.rho.copy()
    model.stores = {k: v.copy() for k, v in before.items()}   # FD at the starting point
    model.rho[:] = rho0
    rng = np.random.default_rng(0)
    checked = 0
    for k in model.stores:
        diff = (before[k] - after[k]) / cfg.lr                 # = dL/dθ (SGD, no decay)
        rows = np.flatnonzero(np.abs(diff).sum(1) > 0)
        for rw in rows[:3]:
            for e in rng.choice(w.cfg.n_entities, 3, replace=False):
                h = 1e-6
                model.stores[k][rw, e] += h
                up = _ref_loss(model, atomic, two, cot)
                model.stores[k][rw, e] -= 2 * h
                dn = _ref_loss(model, atomic, two, cot)
                model.stores[k][rw, e] += h
                fd = (up - dn) / (2 * h)
                scale = cfg.m_lr_ratio if k == "M" else cfg.cd_lr_scale if k in "CD" else 1.0
                assert diff[rw, e] == pytest.approx(fd * scale, rel=1e-4, abs=1e-7), (k, rw, e)
                checked += 1
    assert checked >= 6
    # gates: Δρ = lr · (dL/dρ) / batch  (batch-mean gate gradient; clamped at 0)
    for i in range(4):
        h = 1e-6
        model.rho[:] = rho0
        model.rho[i] += h
        up = _ref_loss(model, atomic, two, cot)
        model.rho[i] -= 2 * h
        dn = _ref_loss(model, atomic, two, cot)
        fd = (up - dn) / (2 * h)
        scale = cfg.rhoI_lr_scale if i == 3 else cfg.rho_lr_scale
        expected = max(0.0, rho0[i] - cfg.lr * scale * fd / cfg.batch_size)
        assert rho1[i] == pytest.approx(expected, rel=1e-6, abs=1e-9), i
    assert L0 > 0


@pytest.mark.slow
@pytest.mark.ci
def test_product_law_and_cot_vs_nocot():
    from minimal.cot.train import COT_PRESETS, train_cot
    cfg = apply_overrides(COT_PRESETS.get("tiny"), {"train.steps": 900, "train.eval_every": 50})
    m = train_cot(cfg, None, progress=False).metrics
    a, iid = m["id_atomic"], m["test_inferred_iid"]
    k = int(np.flatnonzero(a >= 0.5)[0])                 # early checkpoint: atomic crosses ½
    for j in (k, k + 1):
        assert abs(iid[j] - a[j] ** 2) < 0.15, (a[j], iid[j])
    assert iid[-1] > 0.9
    cfg2 = apply_overrides(cfg, {"model.cot": False, "train.steps": 900})
    m2 = train_cot(cfg2, None, progress=False).metrics
    # chance is 1/|E| = 0.005; with 53 OOD test queries a few hits are luck (binomial bound)
    n_ood = len(TwoHopWorld(cfg.world, cfg.seeds, warn=False).probe_index["test_inferred_ood"])
    assert m2["test_inferred_ood"].max() * n_ood <= sps.binom.ppf(1 - 1e-4, n_ood, 1 / 200)
    assert m2["train_inferred"][-1] > 0.9                  # memorised
    assert m2["test_inferred_iid"][-1] < iid[-1]          # ID generalisation is delayed


def test_cot_resume_equals_uninterrupted(tmp_path):
    from minimal.cot.train import COT_PRESETS, train_cot
    from minimal.runs import read_metrics
    cfg = apply_overrides(COT_PRESETS.get("tiny"), {"train.steps": 120, "train.eval_every": 40,
                                                    "world.noise": 0.2})
    train_cot(cfg, tmp_path / "a", progress=False)
    train_cot(cfg, tmp_path / "b", progress=False, stop_after=50)
    train_cot(cfg, tmp_path / "b", resume=True, progress=False)
    a = read_metrics(tmp_path / "a" / "metrics.csv")
    b = read_metrics(tmp_path / "b" / "metrics.csv")
    for key in a:
        if key != "wall_s":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_level0_calibration_anchors():
    from minimal.cot import level0 as L0
    c = L0.calibrate()
    assert c["rms_residual"] < 0.05
    pred = L0.predict_ood_vs_noise([0.05, 0.4, 0.8], params=c["values"])
    assert pred[0] > pred[1] > pred[2]                    # OOD accuracy falls with ξ
    assert abs(pred[2] - 0.148) < 0.05
