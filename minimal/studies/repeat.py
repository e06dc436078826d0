"""Repeated data at toy scale (Hernandez et al. 2022; docs/repeat.md): a 2-layer, 4-head,
width-32 transformer on fresh copy sequences (distinct tokens, a span copied after a gap), a
fraction f of every batch drawn from a fixed pool R.

Metrics columns (each evaluation)::

    fresh_loss, fresh_acc    next-token loss/accuracy on the predictable second copy of fresh
                             held-out sequences (the in-context copying the toy measures)
    fresh_all_loss           loss at every position of the fresh sequences
    pool_loss, pool_acc      loss/accuracy at every position of pool sequences (memorisation:
                             a network that has not memorised R cannot beat the fresh loss)
    ind_max                  the largest induction score over all heads (repeat probe
                             [BOS, r₁…r₁₅, r₁…r₁₅, x])
    L{l}H{h}.induction, .prev, .duplicate   every head's scores (docs/diagnostics.md)

:func:`run_study` runs f × |R| × seeds through the sweep engine; :func:`summary` reduces one
run (final and extreme values, the double-descent rise and fall); :func:`hypotheses` judges the
three project hypotheses on the study table.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import PresetRegistry, Seeds
from ..diagnostics.heads import ScoreEvaluator
from ..diagnostics.scores import induction_score
from ..errors import ConfigError
from ._lm import LMTransformer, TaskData, ce_acc, check_lm_config, check_sections
from ..tasks.probes import repeat_probe
from ..tasks.repeat import GENERATOR_VERSION, RepeatTask, RepeatTaskConfig
from ..training import GradientLearner, TrainResult, resume_config, run_learner
from ..training.config import OptimConfig, TrainConfig
from ..transformer import TransformerConfig

__all__ = ["RepeatRunConfig", "REPEAT_PRESETS", "RepeatNet", "train_repeat", "summary",
           "run_study", "hypotheses", "POOL_GRID", "FRAC_GRID", "DEFAULT_STEPS", "RUN_KIND"]

RUN_KIND = "repeat"
DEFAULT_STEPS = 15_000
POOL_GRID = tuple(2 ** k for k in range(4, 15))         # 16, 32, … 16384
FRAC_GRID = (0.1, 0.5)
PROGRESS_KEYS = ("fresh_loss", "pool_loss", "ind_max")
#: the repeat probe's span ([BOS, r₁…r₁₅, r₁…r₁₅, x] fills the 32 positions)
PROBE_L = 15


def default_model() -> TransformerConfig:
    """2 layers, 4 heads, d 32, attention only with W_O, pre-LayerNorm, learned positions over
    32, a loss at every position."""
    return TransformerConfig(n_layers=2, d_model=32, heads=4, positions="learned", max_len=32,
                             norm="pre", mlp=False, loss_positions=None)


@dataclass(frozen=True)
class RepeatRunConfig:
    """One run of the toy: stream, network (vocab and n_out from the stream), Adam, loop."""

    task: RepeatTaskConfig = dataclasses.field(default_factory=RepeatTaskConfig)
    model: TransformerConfig = dataclasses.field(default_factory=default_model)
    optim: OptimConfig = dataclasses.field(
        default_factory=lambda: OptimConfig(name="adam", lr=1e-3, weight_decay=0.0))
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=DEFAULT_STEPS, eval_every=100,
                                            eval_chunk=256))
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        check_sections(self, RepeatTaskConfig)
        check_lm_config(self.net_config(), self.task.T)
        if 2 * PROBE_L + 1 > self.task.T:
            raise ConfigError("task.T", self.task.T, f"must be ≥ {2 * PROBE_L + 1} (the probe)")

    def net_config(self) -> TransformerConfig:
        v = self.task.vocab
        return self.model.resolve(vocab=v, d_in=0, n_out=v)


REPEAT_PRESETS = PresetRegistry("repeat")
REPEAT_PRESETS.register("repeat-toy", RepeatRunConfig,
                        f"|R| = 1024, f = 0.1, {DEFAULT_STEPS} Adam steps of 64 sequences")
REPEAT_PRESETS.register("repeat-quick", lambda: RepeatRunConfig(
    train=TrainConfig(steps=300, eval_every=50, eval_chunk=256)), "300 steps (tests)")




class RepeatNet(LMTransformer):
    """:class:`LMTransformer` with the study's evaluation (see the module docstring)."""

    def __init__(self, cfg, probe):
        super().__init__(cfg)
        self.probe = probe
        self.columns = ("step", "fresh_loss", "fresh_acc", "fresh_all_loss", "pool_loss",
                        "pool_acc", "ind_max")

    def evaluate(self, params, data, chunk=256):
        row = {}
        fresh = data["fresh"]
        lg = self.record_chunked(params, fresh, "logits", chunk)
        row["fresh_loss"], row["fresh_acc"] = ce_acc(lg, fresh.targets, fresh.meta["copy_mask"])
        row["fresh_all_loss"], _ = ce_acc(lg, fresh.targets)
        pool = data["pool"]
        row["pool_loss"], row["pool_acc"] = ce_acc(
            self.record_chunked(params, pool, "logits", chunk), pool.targets)
        from ..tasks.seq import SeqBatch
        pb = SeqBatch(self.probe.tokens, None, self.probe.targets)
        names = [f"L{layer}.pattern" for layer in range(self.cfg.n_layers)]
        acts = self.forward(params, pb, names, clamps=None)
        row["ind_max"] = float(max(induction_score(acts[n], PROBE_L, start=1).max()
                                   for n in names))
        return row




def _probe(cfg: RepeatRunConfig):
    rng = cfg.seeds.generator("eval")
    v = cfg.task.vocab
    return repeat_probe(rng, 128, PROBE_L, np.arange(v - 1), bos=v - 1, T=cfg.task.T)


def train_repeat(cfg: RepeatRunConfig | None = None, out: str | Path | None = None,
                 resume: bool = False, force: bool = False, progress: bool = True,
                 stop_after: int | None = None, callback=None, overrides=()) -> TrainResult:
    """Train one run of the toy (``out=None``: in memory); every evaluation records the study's
    metrics and every head's induction, previous-token and duplicate-token scores."""
    if cfg is None:
        cfg = (resume_config(out, RepeatRunConfig, overrides, RUN_KIND) if resume
               else RepeatRunConfig())
    s = cfg.seeds
    task = RepeatTask(cfg.task, s.key("world"), s.key("data"), s.key("eval"))
    probe = _probe(cfg)
    net = cfg.net_config()
    model = RepeatNet(net, probe)
    ev = ScoreEvaluator("transformer", net.n_layers, net.heads, {"repeat": probe},
                        names=("induction", "prev", "duplicate"))
    learner = GradientLearner(model, TaskData(task), cfg.optim, s.generator("init"),
                              evaluators=[ev], chunk=cfg.train.eval_chunk)
    t = cfg.task
    resolved = {"model": {"vocab": t.vocab, "n_out": t.vocab}, "n_params": model.n_params(),
                "pool_rows_seen": int(math.floor(t.frac * t.batch_size * cfg.train.steps)),
                "epochs_over_pool": float(t.frac * t.batch_size * cfg.train.steps
                                          / t.pool_size)}
    return run_learner(learner, cfg.train, kind=RUN_KIND, config=cfg, seeds=s, out=out,
                       resume=resume, force=force, progress=progress, stop_after=stop_after,
                       callback=callback, resolved=resolved,
                       extra={"generators": {"repeat": GENERATOR_VERSION}},
                       postfix=PROGRESS_KEYS, desc="repeat")


# ----------------------------------------------------------------------------------------------
# the study
# ----------------------------------------------------------------------------------------------

def summary(metrics: dict, cfg: RepeatRunConfig, manifest: dict | None = None) -> dict:
    """One run reduced: final fresh/pool loss and ind_max, the lowest fresh loss, and the
    epoch-wise double-descent measures ``dd_rise`` (largest rise of the fresh loss above its
    running minimum) and ``dd_fall`` (how far it falls again after that peak, to the end)."""
    f = np.asarray(metrics["fresh_loss"], float)
    steps = np.asarray(metrics["step"], int)
    run_min = np.minimum.accumulate(f)
    rise = f - run_min
    peak = int(np.argmax(rise))
    out = {"fresh_loss": float(f[-1]), "fresh_min": float(f.min()),
           "pool_loss": float(metrics["pool_loss"][-1]),
           "ind_max": float(metrics["ind_max"][-1]),
           "ind_peak": float(np.max(metrics["ind_max"])),
           "dd_rise": float(rise[peak]), "dd_peak_step": int(steps[peak]),
           "dd_fall": float(f[peak:].max() - f[-1]) if rise[peak] > 0 else 0.0,
           "epochs": float(cfg.task.frac * cfg.task.batch_size * cfg.train.steps
                           / cfg.task.pool_size),
           "steps": int(steps[-1])}
    from ..sweeps import run_collapsed
    out["collapsed"] = run_collapsed(manifest)
    return out


def run_study(out, fracs=FRAC_GRID, pools=POOL_GRID, seeds=(0, 1, 2), steps=DEFAULT_STEPS,
              workers: int | None = 1, progress: bool = True, resume: bool = False):
    """f × |R| × seeds through the sweep engine (resumable); returns its SweepResult."""
    from ..sweeps import run_sweep
    base = REPEAT_PRESETS.get("repeat-toy")
    base = dataclasses.replace(base, train=dataclasses.replace(base.train, steps=int(steps)))
    return run_sweep(base, {"task.repeat_frac": list(fracs), "task.pool_size": list(pools)},
                     list(seeds), "minimal.studies.repeat:train_repeat",
                     "minimal.studies.repeat:summary", out, workers=workers,
                     progress=progress, resume=resume, kind="sweep-repeat", rows_only=False)


def hypotheses(rows: list[dict], margin: float = 0.05) -> list[dict]:
    """The three project hypotheses per f, judged on seed means of the study rows.

    1. fresh loss non-monotone in |R|, worst at an intermediate |R| (the worst mean lies
       strictly inside the grid and exceeds both ends by ``margin`` nats);
    2. the induction score (final ind_max) is lowest at that |R|;
    3. there, the fresh loss rises and falls during training (dd_rise and dd_fall > margin
       in the seed mean)."""
    out = []
    for f in sorted({r["task.repeat_frac"] for r in rows}):
        sel = [r for r in rows if r["task.repeat_frac"] == f and not r.get("collapsed")
               and r.get("status", "completed") == "completed"]
        pools = sorted({r["task.pool_size"] for r in sel})
        mean = {p: {k: float(np.mean([r[k] for r in sel if r["task.pool_size"] == p]))
                    for k in ("fresh_loss", "ind_max", "dd_rise", "dd_fall")} for p in pools}
        fl = [mean[p]["fresh_loss"] for p in pools]
        worst = pools[int(np.argmax(fl))]
        inner = worst not in (pools[0], pools[-1])
        h1 = inner and max(fl) > max(fl[0], fl[-1]) + margin
        low_ind = pools[int(np.argmin([mean[p]["ind_max"] for p in pools]))]
        h2 = h1 and low_ind == worst
        h3 = mean[worst]["dd_rise"] > margin and mean[worst]["dd_fall"] > margin
        out.append({"f": f, "worst_pool": worst, "fresh_loss_by_pool": dict(zip(pools, fl)),
                    "lowest_induction_pool": low_ind, "h1_nonmonotone": bool(h1),
                    "h2_induction_lowest_there": bool(h2), "h3_double_descent_there": bool(h3),
                    "dd_rise": mean[worst]["dd_rise"], "dd_fall": mean[worst]["dd_fall"]})
    return out


TABLE_METRICS = ("fresh_loss", "fresh_min", "ind_max", "pool_loss", "dd_rise", "dd_fall")


def study_table(rows: list[dict]) -> list[dict]:
    """Per (f, |R|): seeds, epochs over the pool, and mean/sd of :data:`TABLE_METRICS` over
    the completed, non-collapsed seeds."""
    out = []
    keys = sorted({(r["task.repeat_frac"], r["task.pool_size"]) for r in rows})
    for f, p in keys:
        sel = [r for r in rows if r["task.repeat_frac"] == f and r["task.pool_size"] == p
               and r.get("status", "completed") == "completed" and not r.get("collapsed")]
        row = {"f": f, "pool": p, "n": len(sel),
               "epochs": sel[0]["epochs"] if sel else float("nan")}
        for k in TABLE_METRICS:
            v = np.array([r[k] for r in sel], float)
            row[k] = (float(v.mean()) if v.size else float("nan"),
                      float(v.std(ddof=1)) if v.size > 1 else 0.0)
        out.append(row)
    return out


def study(out, fracs=FRAC_GRID, pools=POOL_GRID, seeds=(0, 1, 2), steps=DEFAULT_STEPS,
          workers: int | None = 1, progress: bool = True) -> dict:
    """Run (or resume) the study and return {"table", "hypotheses", "rows", "status"}."""
    from ..runs import is_run_dir
    resume = Path(out).exists() and is_run_dir(Path(out))
    res = run_study(out, fracs, pools, seeds, steps, workers, progress, resume)
    rows = [dict(r) for r in res.rows]
    done = [r for r in rows if r.get("status") == "completed"]
    return {"table": study_table(done), "hypotheses": hypotheses(done) if done else [],
            "rows": rows, "status": res.status, "exit_status": res.exit_status,
            "steps": int(steps), "seeds": list(seeds)}
