"""Two-hop generator invariants (including the noise-leak guard), Level-1 gradients against a
NumPy reference, the product law, and no-CoT OOD at chance."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from minimal.config import apply_overrides
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


# --- Level 1: kernels against the float64 reference ----------------------------------------

from minimal.cot import _kernels as K                      # noqa: E402
from minimal.cot.config import COT_PRESETS, TSAMConfig     # noqa: E402
from minimal.cot.model import TSAM, order_for              # noqa: E402
from minimal.cot.reference import RefModel                 # noqa: E402


def dense_view(model):
    """Every key of every store of a TSAM as a dense float64 array at the model's step."""
    st = model.stores
    out = {}
    buf = np.empty(model.E)
    for sid, name in enumerate(K.STORE_NAMES):
        tab, tail = (model.tab_m, model.tail_m) if name == "M" else (model.tab, model.tail)
        sc = np.empty(model.E, st.rows[name].dtype)
        arr = np.empty((len(st.idx[name]), model.E))
        for key in range(len(arr)):
            row, f = K._peek(st.idx[name], st.rows[name], st.last[name], sid, key, model.step,
                             tab, tail, model.init_key, model.cfg.init_std, buf, sc)
            arr[key] = f * row
        out[name] = arr
    return out


@st.composite
def level1_cases(draw, exact_mixture=True):
    E = draw(st.integers(6, 24))
    R = draw(st.integers(2, 5))
    k = draw(st.integers(1, R))
    noise = draw(st.sampled_from([0.0, 0.3, 0.9]))
    wcfg = TwoHopConfig(n_entities=E, n_relations=R, k_out=k, ood_ratio=0.2, lam=0.0,
                        probe_cap=60, noise=noise,
                        noise_hop=draw(st.sampled_from(["second", "first", "both"])))
    seed = draw(st.integers(0, 10_000))
    w = TwoHopWorld(wcfg, seed, warn=False)
    pool = len(w.train_pool)
    n_two = draw(st.integers(0, min(pool, 12)))
    lam = n_two / max(w.n_id_atomic, 1)
    if n_two:
        w = TwoHopWorld(TwoHopConfig(**{**dataclasses.asdict(wcfg), "lam": lam}), seed,
                        warn=False)
    cfg = TSAMConfig(
        cot=draw(st.booleans()), lr=draw(st.floats(0.01, 1.0)),
        weight_decay=draw(st.sampled_from([0.0, 1e-3, 0.02])),
        m_decay_ratio=draw(st.sampled_from([1.0, 10.0])),
        m_lr_ratio=draw(st.sampled_from([1.0, 3.0])),
        s2_lr_scale=draw(st.sampled_from([0.0, 1.0, 4.0])),
        rho0=draw(st.floats(0.05, 2.0)), gate_lr=draw(st.sampled_from([0.0, 0.01, 0.2])),
        gate_weight_decay=draw(st.sampled_from([0.0, 0.5])),
        gates=draw(st.sampled_from(["lookup", "separate"])),
        warmup_steps=draw(st.sampled_from([0, 1, 3, 50])),
        init_std=draw(st.sampled_from([0.0, 0.1, 0.7])),
        bridge_topk=E if exact_mixture else draw(st.integers(1, 4)),
        batch_size=draw(st.integers(1, 9)))
    return w, cfg, draw(st.integers(1, 4))


def _run_both(w, cfg, n_steps, dtype=np.float64):
    model = TSAM(cfg, w, dtype=dtype)
    ref = RefModel(cfg, w, model.init_key)
    bs = cfg.batch_size
    grads = []
    for step in range(n_steps):
        order, p0 = order_for(w.seeds, model.n_items, step * bs, bs)
        model.train(order, p0, 1)
        _, g = ref.train_step(order[p0:p0 + bs])
        grads.append((model.last_gate_grad.copy(), g))
    return model, ref, grads


@settings(max_examples=40, deadline=None)
@given(level1_cases())
def test_level1_steps_equal_the_dense_reference(case):
    """The sparse float64 kernel reproduces the dense NumPy reference step by step: stores
    (lazily decayed), gate gradients and Adam-updated gates."""
    w, cfg, n = case
    model, ref, grads = _run_both(w, cfg, n)
    dv = dense_view(model)
    for k, arr in dv.items():
        scale = 1.0 + float(np.abs(ref.stores[k]).max(initial=0.0))
        # float64, fastmath reassociation: a few hundred ulps of the magnitudes involved
        np.testing.assert_allclose(arr, ref.stores[k], rtol=0, atol=1e-12 * scale * (n + 1) * 64,
                                   err_msg=k)
    for gk, gr in grads:
        np.testing.assert_allclose(gk, gr, rtol=1e-9, atol=1e-12)
    # Adam divides by √v: where a gate gradient is at rounding level its step is arbitrary
    ok = np.abs(np.array([g for _, g in grads])).min(0) > 1e-8
    np.testing.assert_allclose(model.rho[ok], ref.rho[ok], rtol=1e-7, atol=1e-10)


def test_level1_topk_mixture_equals_reference():
    """A truncated no-CoT mixture (top-2 bridges, random initial rows: no ties)."""
    w = TwoHopWorld(small_world(n_entities=20, n_relations=4, k_out=3, lam=1.0), 5, warn=False)
    cfg = TSAMConfig(cot=False, lr=0.3, init_std=0.5, bridge_topk=2, batch_size=8,
                     warmup_steps=0, gate_lr=0.05)
    model, ref, _ = _run_both(w, cfg, 4)
    dv = dense_view(model)
    for k in dv:
        np.testing.assert_allclose(dv[k], ref.stores[k], atol=1e-10, err_msg=k)
    for name in ("train_inferred", "test_inferred_iid", "id_atomic"):
        assert model.probe_accuracy()[name] == ref.accuracy(w.probe(name),
                                                            name.endswith("atomic"))


def _fd(f, x, i, h):
    old = x[i]
    x[i] = old + h
    up = f()
    x[i] = old - h
    dn = f()
    x[i] = old
    return (up - dn) / (2 * h)


@settings(max_examples=25, deadline=None)
@given(level1_cases(), st.integers(0, 2**31 - 1))
def test_reference_gradients_equal_finite_differences(case, pick):
    """∂L/∂θ of the reference (exact bridge mixture: no kinks) against central differences at
    two step sizes; stores and gates."""
    w, cfg, _ = case
    ref = RefModel(cfg, w, 12345)
    ref.rho = ref.rho * np.array([1.0, 1.3, 0.8, 1.1])
    bs = cfg.batch_size
    n_items = len(w.atomic) + len(w.train_items)
    order, p0 = order_for(w.seeds, n_items, 0, bs)
    ids = order[p0:p0 + bs]
    G, grho = ref.grads(ids)
    rng = np.random.default_rng(pick)

    def check(f, x, i, g):
        fd1, fd2 = _fd(f, x, i, 1e-4), _fd(f, x, i, 1e-5)
        mag = 1.0 + abs(f())
        assert abs(fd1 - fd2) < 1e-5 * mag          # smooth here (no kink between the steps)
        assert g == pytest.approx(fd2, abs=2e-6 * mag), (fd1, fd2, g)

    loss = lambda: ref.batch_loss(ids)             # noqa: E731
    for k, rows in ref.stores.items():
        used = np.flatnonzero(np.abs(G[k]).sum(1) > 0)
        for rw in rng.choice(used, size=min(2, len(used)), replace=False) if len(used) else []:
            for e in rng.choice(ref.E, size=2, replace=False):
                flat = rows.reshape(-1)
                check(loss, flat, rw * ref.E + e, G[k][rw, e])
    for i in range(4):
        check(loss, ref.rho, i, grho[i])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=1, max_size=40), st.integers(1, 8),
       st.integers(0, 2**31 - 1))
def test_topk_valid_selects_the_largest_valid_entries(vals, k, seed):
    """_topk_valid = the k largest q among valid entries, ties to the smaller index."""
    q = np.round(np.array(vals), 1)                      # rounding creates ties on purpose
    R = 3
    valid = np.random.default_rng(seed).random(len(q) * R) < 0.6
    bridges = np.array([e for r in range(R) for e in range(len(q)) if valid[e * R + r]],
                       np.int64)
    ptr = np.cumsum([0] + [int(valid[r::R].sum()) for r in range(R)])
    out = np.empty(k, np.int64)
    val = np.empty(k)
    for r2 in range(R):
        n = K._topk_valid(q, k, out, val, bridges, ptr[r2], ptr[r2 + 1])
        cand = sorted((e for e in range(len(q)) if valid[e * R + r2]), key=lambda e: (-q[e], e))
        assert sorted(out[:n].tolist()) == sorted(cand[:k])
        np.testing.assert_array_equal(val[:n], q[out[:n]])


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 30), st.integers(1, 6), st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_bridge_lists_are_the_facts_by_relation(E, R, k_out, seed):
    """bridges[ptr[r]:ptr[r+1]] = the e, ascending, with (e, r) an atomic fact (duplicates once)."""
    from types import SimpleNamespace
    from minimal.cot.stores import bridge_lists
    rng = np.random.default_rng(seed)
    atomic = np.stack([rng.integers(0, E, k_out * E), rng.integers(0, R, k_out * E),
                       rng.integers(0, E, k_out * E)], 1)
    world = SimpleNamespace(atomic=atomic, cfg=SimpleNamespace(n_entities=E, n_relations=R))
    bridges, ptr = bridge_lists(world)
    assert ptr[0] == 0 and ptr[-1] == len(bridges)
    facts = {(int(e), int(r)) for e, r, _ in atomic}
    for r in range(R):
        assert bridges[ptr[r]:ptr[r + 1]].tolist() == sorted(e for e in range(E) if (e, r) in facts)


def test_initial_rows_are_a_pure_function_of_the_key():
    """Row initial values: reproducible per (key, store), independent across keys, N(0, σ²)."""
    E = 4000
    a, b, c = np.empty(E), np.empty(E), np.empty(E, np.float32)
    buf = np.empty(E)
    K._init_row(np.uint64(7), 2, 123, a, 0.5, buf)
    K._init_row(np.uint64(7), 2, 123, c, 0.5, buf)
    np.testing.assert_array_equal(a.astype(np.float32), c)
    K._init_row(np.uint64(7), 2, 124, b, 0.5, buf)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / math.sqrt(E)
    assert sps.kstest(a / 0.5, "norm").pvalue > 1e-6
    K._init_row(np.uint64(7), 2, 123, a, 0.0, buf)
    assert not a.any()


def test_sparse_and_dense_layouts_give_identical_runs():
    """Same kernels, different key → slot maps: bit-identical metrics and rows (tiny world)."""
    from minimal.cot.train import train_cot
    base = apply_overrides(COT_PRESETS.get("tiny"), {"train.steps": 120, "train.eval_every": 40,
                                                     "world.noise": 0.3,
                                                     "model.warmup_steps": 30})
    for cot in (True, False):
        cfg = apply_overrides(base, {"model.cot": cot})
        runs = [train_cot(apply_overrides(cfg, {"model.layout": lay}), None, progress=False)
                for lay in ("sparse", "dense")]
        for key in runs[0].metrics:
            if key != "wall_s":
                np.testing.assert_array_equal(runs[0].metrics[key], runs[1].metrics[key],
                                              err_msg=key)
        ds, dd = (dense_view(r.learner) for r in runs)
        for k in ds:
            np.testing.assert_array_equal(ds[k], dd[k], err_msg=k)
        sp, de = runs[0].learner.stores, runs[1].learner.stores
        assert sp.nbytes < de.nbytes


def test_paper_world_fits_only_in_the_sparse_layout():
    from minimal.cot.stores import store_bytes
    w = TwoHopWorld(COT_WORLDS.get("paper"), 0, warn=False)
    for cot in (True, False):
        assert store_bytes(w, cot, "sparse") < 2.8 * 2**30
    with pytest.raises(ConfigError, match="GiB"):
        TSAM(TSAMConfig(layout="dense"), w)


# --- Level 1: phenomena on the tiny world -------------------------------------------------------

def _tiny(steps, every, **over):
    from minimal.cot.train import train_cot
    cfg = apply_overrides(COT_PRESETS.get("tiny"), {"train.steps": steps,
                                                    "train.eval_every": every,
                                                    "model.warmup_steps": 0, **over})
    return cfg, train_cot(cfg, None, progress=False)


@pytest.fixture(scope="module")
def clean_cot_run():
    return _tiny(4000, 100)


def test_product_law_before_memorisation(clean_cot_run):
    """T1: while atomic facts are being learned, ID two-hop ≈ (ID atomic)²."""
    _, res = clean_cot_run
    m = res.metrics
    a, iid = m["id_atomic"], m["test_inferred_iid"]
    rising = np.flatnonzero((a >= 0.2) & (a <= 0.9))
    assert len(rising) >= 2
    for j in rising:
        assert abs(iid[j] - a[j] ** 2) < 0.15, (a[j], iid[j])
    assert iid[-1] > 0.97


def test_clean_cot_reaches_ood_one_later_than_id(clean_cot_run):
    """T2 with ξ = 0: OOD two-hop reaches 1 (every OOD test query), after ID two-hop."""
    _, res = clean_cot_run
    m = res.metrics
    assert m["test_inferred_ood"][-1] == 1.0
    first = lambda k, v: int(np.flatnonzero(m[k] >= v)[0])      # noqa: E731
    assert first("test_inferred_ood", 0.5) > first("test_inferred_iid", 0.5)


def test_stage2_reads_only_b_and_r2(clean_cot_run):
    """T5: replacing h or r1 leaves stage 2 intact; replacing b or r2 breaks it."""
    _, res = clean_cot_run
    dep = res.learner.stage2_dependence()
    assert dep["unchanged"] > 0.97
    assert dep["h"] > dep["unchanged"] - 0.03 and dep["r1"] > dep["unchanged"] - 0.03
    assert dep["b"] < 0.1 and dep["r2"] < 0.2


def test_no_cot_memorises_and_stays_at_chance_ood(clean_cot_run):
    cfg, res = clean_cot_run
    _, res2 = _tiny(4000, 200, **{"model.cot": False})
    m, m2 = res.metrics, res2.metrics
    # chance is 1/|E| = 0.005; with ~50 OOD test queries a few hits are luck (binomial bound)
    n_ood = len(TwoHopWorld(cfg.world, cfg.seeds, warn=False).probe_index["test_inferred_ood"])
    assert m2["test_inferred_ood"].max() * n_ood <= sps.binom.ppf(1 - 1e-4, n_ood, 1 / 200)
    assert m2["train_inferred"][-1] > 0.9                              # memorised
    t50 = lambda mm: int(np.flatnonzero(mm["test_inferred_iid"] >= 0.5)[0])  # noqa: E731
    assert m2["test_inferred_iid"].max() < 0.5 or t50(m2) > t50(m)    # ID generalisation later


def test_cot_resume_equals_uninterrupted(tmp_path):
    from minimal.cot.train import train_cot
    from minimal.runs import read_metrics
    cfg = apply_overrides(COT_PRESETS.get("tiny"), {"train.steps": 120, "train.eval_every": 40,
                                                    "world.noise": 0.2,
                                                    "model.warmup_steps": 50})
    train_cot(cfg, tmp_path / "a", progress=False)
    train_cot(cfg, tmp_path / "b", progress=False, stop_after=50)
    train_cot(cfg, tmp_path / "b", resume=True, progress=False)
    a = read_metrics(tmp_path / "a" / "metrics.csv")
    b = read_metrics(tmp_path / "b" / "metrics.csv")
    for key in a:
        if key != "wall_s":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# --- Level 0 (calibrated description) ----------------------------------------------------------

def test_level0_calibration_regression():
    """Level 0 is a description fitted to the two T4 rows: this guards the fitting code (it
    converges to a small residual) and the closed form's structure, not any anchor value."""
    from minimal.cot import level0 as L0
    c = L0.calibrate()
    assert c["rms_residual"] < 0.05
    p = c["values"]
    t = np.linspace(0, 20_000, 11)
    clean = L0.curves(p, 0.0, 7.2, t)
    # structure: f(0) = 1 and c(0) = 0, so without noise A = ρ² a² exactly
    np.testing.assert_allclose(clean["A_OOD"], clean["rho"] ** 2 * clean["a_OOD"] ** 2,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(clean["A_ID"], clean["rho"] ** 2 * clean["a_ID"] ** 2,
                               rtol=1e-12, atol=1e-15)
    # the lambdified closed form equals the SymPy expression it came from
    (ts, xi, lam), syms, exprs = L0.symbolic()
    sub = {**dict(zip(syms, p)), ts: 7000.0, xi: 0.3, lam: 7.2}
    num = L0.curves(p, 0.3, 7.2, [7000.0])
    for k in ("A_ID", "A_OOD", "train"):
        assert float(exprs[k].evalf(subs=sub)) == pytest.approx(float(num[k][0]), rel=1e-10)


# --- the calibration (ID observables only) and its command ------------------------------------

def test_id_mismatch_reads_no_ood_quantity():
    """The calibration score depends on ID and training observables only: changing every OOD
    observable leaves it unchanged; changing an ID one changes it."""
    from minimal.cot import calibration as C
    obs = {xi: {**t, "test_inferred_ood@20k": 0.5, "max_test_inferred_ood": 0.5,
                "t50_ood_atomic": 5000.0} for xi, t in C.ID_TARGETS.items()}
    assert C.id_mismatch(obs) == 0.0
    worse = {xi: {**o, "test_inferred_ood@20k": 0.0, "max_test_inferred_ood": 1.0,
                  "t50_ood_atomic": 1.0} for xi, o in obs.items()}
    assert C.id_mismatch(worse) == 0.0
    off = {xi: dict(o) for xi, o in obs.items()}
    off[0.8]["test_inferred_iid@20k"] += 0.1
    assert C.id_mismatch(off) == pytest.approx(0.01)
    off[0.05]["t50_id_atomic"] = None                     # never reached: counts as 1
    assert C.id_mismatch(off) == pytest.approx(1.01)
    assert not set(C.ID_TARGETS[0.05]) & set(C.OOD_REFERENCE[0.05])


def test_calibrate_command(capsys):
    from minimal.cli import main
    assert main(["cot", "calibrate", "--grid", "world.lam=1,2"]) == 2
    assert "only model.* fields" in capsys.readouterr().err
    assert main(["cot", "calibrate", "--grid", "model.s2_lr_scale=-1"]) == 2
    assert "s2_lr_scale=-1.0 is invalid" in capsys.readouterr().err
    code = main(["cot", "calibrate", "--preset", "tiny", "--steps", "40", "--set",
                 "train.eval_every=20", "--grid", "model.s2_lr_scale=1,5", "--workers", "1",
                 "--quiet", "--json"])
    ranked = json.loads(capsys.readouterr().out)
    assert code == 0 and len(ranked) == 2
    assert ranked[0]["id_mismatch"] <= ranked[1]["id_mismatch"]
    assert set(ranked[0]["observables"]) == {"0.05", "0.8"}
