"""Config validation (task.md §6), JSON round trips and dotted overrides."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimal.config import (Seeds, apply_overrides, from_dict, from_json, parse_override,
                            to_dict, to_json)
from minimal.errors import ConfigError, ConfigTypeError, UnknownNameError
from minimal.tasks.icl import TASK_PRESETS, TaskConfig, TaskRunConfig
from strategies import task_configs, valid_bursts


def rejects(field, exc=ConfigError, **kw):
    with pytest.raises(exc) as info:
        TaskConfig(**kw)
    msg = str(info.value)
    assert msg.startswith(f"{field}="), msg
    assert "\n" not in msg
    return msg


# --- every rule rejects what it must -------------------------------------------------------

@pytest.mark.parametrize("field", ["K", "L", "N", "D", "N_max", "K_novel", "batch_size",
                                   "n_eval", "B"])
@pytest.mark.parametrize("bad", [8.0, True, "8", None])
def test_v1_sizes_must_be_ints(field, bad):
    msg = rejects(field, ConfigTypeError, **{field: bad})
    assert "integer" in msg
    # ConfigTypeError is both a ValueError (one family) and a TypeError (the spec)
    with pytest.raises(TypeError):
        TaskConfig(**{field: bad})


def test_v2_at_least_two_labels():
    rejects("L", L=1, K=8, K_novel=8)
    TaskConfig(L=2, K=2, K_novel=2, N=2, B=1)   # boundary accepted


@pytest.mark.parametrize("K", [31, 33, 500, 16])
def test_v3_balanced_class_label_map(K):
    msg = rejects("K", K=K)
    assert "multiple of L=32" in msg


def test_v3_boundary():
    assert TaskConfig(K=32).K == 32


@pytest.mark.parametrize("Kc", [16, 100, 129])
def test_v4_novel_pool(Kc):
    rejects("K_novel", K_novel=Kc)
    assert TaskConfig(K_novel=32).K_novel == 32


def test_v5_context_fits_positional_code():
    msg = rejects("N", N=33, B=1)
    assert "N_max=32" in msg
    rejects("N", N=0)
    c = TaskConfig(N=32, B=1)
    assert c.T == 65 == c.P                      # N = N_max: shift always 0


def test_v6_content_dimension():
    rejects("D", D=0)
    assert TaskConfig(D=1).d == 66


@pytest.mark.parametrize("B", [-1, 8, 9])
def test_v7_burstiness_range(B):
    msg = rejects("B", B=B)
    assert "[0, 7]" in msg or "≥ 0" in msg


@pytest.mark.parametrize("B", [3, 5, 6, 7])
def test_v8_b_divides_n(B):
    msg = rejects("B", B=B)
    assert "divide N=8" in msg and "1, 2, 4" in msg


def test_v9_n_distinct_labels():
    rejects("B", N=8, B=1, L=4, K=8, K_novel=8)        # n = 8 > L = 4
    TaskConfig(N=8, B=2, L=4, K=8, K_novel=8)           # n = 4 = L: boundary accepted


@pytest.mark.parametrize("N", [3, 5, 7])
def test_v10_b0_needs_even_n(N):
    rejects("N", N=N, B=0)
    c = TaskConfig(N=2, B=0)
    assert c.B_novel == 1 and c.p_bursty_effective == 0.0


@pytest.mark.parametrize("field", ["eps", "zipf_alpha"])
@pytest.mark.parametrize("bad", [-0.1, math.inf, math.nan])
def test_v11_v12_nonnegative_finite(field, bad):
    rejects(field, **{field: bad})
    assert getattr(TaskConfig(**{field: 0}), field) == 0.0   # boundary, int accepted as float


@pytest.mark.parametrize("field", ["p_bursty", "p_novel"])
@pytest.mark.parametrize("bad", [-1e-9, 1.0000001, math.nan, math.inf])
def test_v13_probabilities(field, bad):
    msg = rejects(field, **{field: bad})
    assert "[0.0, 1.0]" in msg
    TaskConfig(**{field: 0.0})
    TaskConfig(**{field: 1.0})


@pytest.mark.parametrize("field", ["batch_size", "n_eval"])
def test_v14_sizes_positive(field):
    rejects(field, **{field: 0})
    assert getattr(TaskConfig(**{field: 1}), field) == 1


@pytest.mark.parametrize("bad", [1, 0, "yes", None])
def test_v15_no_repeats_is_bool(bad):
    rejects("no_repeats", ConfigTypeError, no_repeats=bad)


@pytest.mark.parametrize("field", ["seed", "world", "eval", "data", "init"])
@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_v16_seeds(field, bad):
    with pytest.raises(ConfigError) as info:
        Seeds(**{field: bad})
    assert str(info.value).startswith(f"{field}=")
    assert Seeds(**{field: 0}).value(field if field != "seed" else "data") == 0


@given(st.integers(2, 40), st.sampled_from([2, 3, 4, 8, 32]))
def test_burst_rule_matches_enumeration(N, L):
    """Exactly the B values of the spec's rules construct; every other B in 0..N is rejected."""
    ok = set(valid_bursts(N, L))
    for B in range(0, N + 1):
        kw = dict(N=N, N_max=max(N, 2), L=L, K=L, K_novel=L, B=B)
        if B in ok:
            assert TaskConfig(**kw).B == B
        else:
            with pytest.raises(ConfigError):
                TaskConfig(**kw)


def test_warnings_for_suspicious_settings():
    assert any("p_bursty" in w for w in TaskConfig(B=0, p_bursty=0.5).warnings())
    assert any("zipf" in w for w in TaskConfig(zipf_alpha=1.0).warnings())
    assert any("in-context" in w for w in TaskConfig(B=0, p_novel=0.0).warnings())
    assert TaskConfig().warnings() == []
    r = TaskConfig(B=0, p_bursty=0.7).resolved()
    assert r["p_bursty_effective"] == 0.0 and r["B_novel"] == 4 and r["notes"]


# --- JSON round trip, overrides, presets ---------------------------------------------------

@given(task_configs(), st.integers(0, 2**31), st.one_of(st.none(), st.integers(0, 99)))
def test_json_round_trip(cfg, seed, data_seed):
    run = TaskRunConfig(task=cfg, seeds=Seeds(seed=seed, data=data_seed))
    back = from_json(TaskRunConfig, to_json(run))
    assert back == run
    assert to_dict(back) == to_dict(run)


def test_from_dict_is_strict_and_partial():
    assert from_dict(TaskConfig, {"B": 4}) == TaskConfig(B=4)
    with pytest.raises(ConfigError, match="unknown field"):
        from_dict(TaskConfig, {"b": 4})
    with pytest.raises(ConfigError) as info:
        from_dict(TaskRunConfig, {"task": {"B": 3}})
    assert str(info.value).startswith("task.B=3")
    with pytest.raises(ConfigError):
        from_json(TaskConfig, "{not json")


@pytest.mark.parametrize("text,expected", [
    ("task.B=4", ("task.B", 4)), ("task.eps=0.25", ("task.eps", 0.25)),
    ("task.no_repeats=false", ("task.no_repeats", False)), ("seeds.data=None", ("seeds.data", None)),
    ("name=abc", ("name", "abc")), ("x= 1e-3 ", ("x", 1e-3))])
def test_parse_override(text, expected):
    assert parse_override(text) == expected


def test_apply_overrides():
    run = TaskRunConfig()
    new = apply_overrides(run, ["task.B=4", "task.K=256", "seeds.seed=7"])
    assert new.task.B == 4 and new.task.K == 256 and new.seeds.seed == 7
    assert run.task.B == 2                                   # frozen original untouched
    with pytest.raises(ConfigError) as info:
        apply_overrides(run, ["task.B=3"])
    assert str(info.value).startswith("task.B=3")
    with pytest.raises(UnknownNameError):
        apply_overrides(run, ["task.Q=3"])
    with pytest.raises(UnknownNameError):
        apply_overrides(run, ["task.B.x=3"])
    with pytest.raises(ConfigError):
        apply_overrides(run, ["task=3"])
    with pytest.raises(ConfigError):
        apply_overrides(run, ["noequals"])
    with pytest.raises(ConfigTypeError):
        apply_overrides(run, ["task.K=256.5"])


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TaskConfig().B = 4


def test_presets():
    assert TASK_PRESETS.get("reddy-default") == TaskConfig()
    fig3 = TASK_PRESETS.get("reddy-fig3")
    assert (fig3.K, fig3.B, fig3.p_bursty, fig3.p_novel, fig3.eps) == (256, 1, 1.0, 0.8, 0.1)
    with pytest.raises(UnknownNameError, match="available"):
        TASK_PRESETS.get("nope")
