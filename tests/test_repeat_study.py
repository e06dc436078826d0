"""The repeated-data study: a short run records its metrics and scores; the double-descent
measures and the hypothesis judgements on constructed inputs (docs/repeat.md)."""

from __future__ import annotations

import dataclasses

import numpy as np

from minimal.studies.repeat import (REPEAT_PRESETS, RepeatRunConfig, hypotheses, summary,
                                    train_repeat)
from minimal.tasks.repeat import RepeatTaskConfig
from minimal.training.config import TrainConfig


def _metrics(fresh):
    n = len(fresh)
    return {"step": np.arange(n) * 100, "fresh_loss": np.asarray(fresh, float),
            "pool_loss": np.linspace(4, 1, n), "ind_max": np.linspace(0, 0.5, n)}


def test_summary_measures_rise_and_fall_of_the_fresh_loss():
    cfg = RepeatRunConfig(task=RepeatTaskConfig(pool_size=64, repeat_frac=0.5, batch_size=64))
    s = summary(_metrics([4.0, 3.0, 2.0, 2.5, 3.2, 2.9, 2.1]), cfg)
    assert abs(s["dd_rise"] - 1.2) < 1e-12 and s["dd_peak_step"] == 400
    assert abs(s["dd_fall"] - 1.1) < 1e-12
    assert s["fresh_min"] == 2.0 and s["fresh_loss"] == 2.1
    assert s["epochs"] == 0.5 * 64 * cfg.train.steps / 64
    mono = summary(_metrics([4.0, 3.0, 2.0, 1.0]), cfg)
    assert mono["dd_rise"] == 0.0 and mono["dd_fall"] == 0.0


def _rows(f, fresh_by_pool, ind_by_pool, rise=0.0, fall=0.0):
    rows = []
    for p, v in fresh_by_pool.items():
        for seed, eps in enumerate((-0.01, 0.0, 0.01)):
            rows.append({"task.repeat_frac": f, "task.pool_size": p, "seed": seed,
                         "fresh_loss": v + eps, "ind_max": ind_by_pool[p], "dd_rise": rise,
                         "dd_fall": fall, "status": "completed", "collapsed": False})
    return rows


def test_hypotheses_on_constructed_tables():
    bump = _rows(0.5, {16: 1.0, 256: 2.0, 4096: 1.1}, {16: 0.5, 256: 0.1, 4096: 0.4},
                 rise=0.3, fall=0.2)
    flat = _rows(0.1, {16: 1.0, 256: 1.02, 4096: 1.0}, {16: 0.5, 256: 0.4, 4096: 0.1})
    h = {r["f"]: r for r in hypotheses(bump + flat)}
    assert h[0.5]["worst_pool"] == 256 and h[0.5]["h1_nonmonotone"]
    assert h[0.5]["h2_induction_lowest_there"] and h[0.5]["h3_double_descent_there"]
    assert not h[0.1]["h1_nonmonotone"] and not h[0.1]["h2_induction_lowest_there"]
    edge = _rows(0.5, {16: 3.0, 256: 2.0, 4096: 1.0}, {16: 0.1, 256: 0.2, 4096: 0.3})
    assert not hypotheses(edge)[0]["h1_nonmonotone"]           # worst at the grid's end


def test_short_run_records_metrics_and_head_scores():
    cfg = REPEAT_PRESETS.get("repeat-quick")
    cfg = dataclasses.replace(cfg, task=dataclasses.replace(cfg.task, pool_size=16,
                                                            repeat_frac=0.5),
                              train=TrainConfig(steps=120, eval_every=60, eval_chunk=256))
    r = train_repeat(cfg, progress=False)
    m = r.metrics
    assert list(m["step"]) == [0, 60, 120]
    for k in ("fresh_loss", "pool_loss", "ind_max", "L0H0.prev", "L1H3.induction"):
        assert np.all(np.isfinite(m[k])), k
    # at initialisation every loss is near ln(64): nothing is learned yet
    assert abs(m["fresh_loss"][0] - np.log(64)) < 0.6
    # the training rows include the pool (f = 0.5 of 16 sequences): they are learned first
    assert m["pool_loss"][-1] < m["pool_loss"][0]
    ind = max(m[c][-1] for c in m if c.endswith(".induction"))
    assert abs(ind - m["ind_max"][-1]) < 1e-9
