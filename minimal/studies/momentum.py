"""Momentum attention at toy scale (Maitra 2026; docs/momentum.md).

**Four arms** (:func:`arms_study`): one attention layer (with the direct path) on period-16
repeats of 16 distinct tokens out of 64, length 32, a loss at every position:

    rope        γ = 0 with RoPE
    momentum    momentum shear γ on queries and keys, no positions
    mom+rope    momentum shear γ with RoPE
    smear       keys-only smeared key k̂_s = σ(α_h) k_s + (1 − σ(α_h)) k_{s−1}, with RoPE

Metrics (each evaluation, on held-out sequences): ``loss``/``acc`` on the second half
(positions T/2 … T − 1, every target predictable by copying), ``all_loss`` at every position,
``target_attn``: the largest (over heads of the last layer) mean attention of a second-half query
t on its induction target, key i + 1 with i = t − P the earlier copy of its token; for that head
``mirror_attn`` (key i − 1) and ``prev_attn`` (key t − 1), the keys the content-only mirror term
ties with the target.

**Associative recall** (:func:`recall_study`): γ × depth at a fixed budget; γ* per depth is the
grid point with the lowest final loss (mean over seeds), refined by the vertex of the parabola
through it and its two neighbours; :func:`fit_gamma_star` fits γ* = a · N^(−b) with the fit
registry's ``power-law`` model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import PresetRegistry, Seeds, check_float
from ..errors import ConfigError
from ..tasks.recall import (GENERATOR_VERSION, PeriodicTask, PeriodicTaskConfig, RecallTask,
                            RecallTaskConfig)
from ..training import GradientLearner, TrainResult, resume_config, run_learner
from ..training.config import OptimConfig, TrainConfig
from ..transformer import Transformer, TransformerConfig
from ._lm import LMTransformer, TaskData, ce_acc, check_lm_config, check_sections

__all__ = ["ArmRunConfig", "RecallRunConfig", "MOMENTUM_PRESETS", "ARMS", "arm_model",
           "recall_model", "recall_tables", "PeriodicNet", "fit_points",
           "train_arm", "train_recall", "arm_summary", "recall_summary", "arms_study",
           "recall_study", "gamma_star", "fit_gamma_star", "arms_table", "arms_hypotheses",
           "ARM_STEPS", "RECALL_STEPS", "GAMMA_GRID", "DEPTHS", "ARM_GAMMA", "train_momentum"]

ARM_KIND, RECALL_KIND = "momentum-arms", "momentum-recall"
ARM_STEPS, RECALL_STEPS = 1500, 1500
#: γ of the momentum arms
ARM_GAMMA = 1.0
GAMMA_GRID = (0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
DEPTHS = (1, 2, 3, 4)
ARMS = ("rope", "momentum", "mom+rope", "smear")
#: the paper's fit (abstract): γ* = 4.17 · N^(−0.74)
PAPER_A, PAPER_B = 4.17, 0.74


def arm_model(arm: str, gamma: float = ARM_GAMMA) -> TransformerConfig:
    """The network of one arm: 1 layer, d 64, 4 heads, attention only with W_O, pre-LN, a
    loss at every position."""
    if arm not in ARMS:
        raise ConfigError("arm", arm, f"must be one of {', '.join(ARMS)}")
    gamma = check_float("gamma", gamma, -1.0, 100.0)
    base = dict(n_layers=1, d_model=64, heads=4, norm="pre", mlp=False, max_len=32,
                loss_positions=None)
    pos = "none" if arm == "momentum" else "rope"
    mom = gamma if arm in ("momentum", "mom+rope") else 0.0
    return TransformerConfig(positions=pos, momentum=mom, smear_keys=arm == "smear", **base)


def arm_of(net: TransformerConfig) -> str:
    """The arm a network belongs to (``other`` when it matches none)."""
    if net.smear_keys:
        return "smear" if net.momentum == 0 else "other"
    if net.momentum == 0:
        return "rope" if net.positions != "none" else "other"
    return "mom+rope" if net.positions != "none" else "momentum"


def _adam(lr=1e-3):
    return OptimConfig(name="adam", lr=lr, weight_decay=0.0)


@dataclass(frozen=True)
class ArmRunConfig:
    """One run of the four-arm study (default: the mom+rope arm)."""

    task: PeriodicTaskConfig = dataclasses.field(default_factory=PeriodicTaskConfig)
    model: TransformerConfig = dataclasses.field(default_factory=lambda: arm_model("mom+rope"))
    optim: OptimConfig = dataclasses.field(default_factory=_adam)
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=ARM_STEPS, eval_every=50, eval_chunk=256))
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        check_sections(self, PeriodicTaskConfig)
        check_lm_config(self.net_config(), self.task.T)

    def net_config(self) -> TransformerConfig:
        v = self.task.vocab
        return self.model.resolve(vocab=v, d_in=0, n_out=v)


def recall_model(depth: int = 2, gamma: float = 0.0) -> TransformerConfig:
    """The recall network: ``depth`` attention layers, d 64, 4 heads, RoPE, pre-LN, loss at
    the last position."""
    return TransformerConfig(n_layers=depth, d_model=64, heads=4, norm="pre", mlp=False,
                             positions="rope", max_len=32, momentum=gamma,
                             loss_positions=(-1,))


@dataclass(frozen=True)
class RecallRunConfig:
    """One associative-recall run (default: depth 2, γ = 0)."""

    task: RecallTaskConfig = dataclasses.field(default_factory=RecallTaskConfig)
    model: TransformerConfig = dataclasses.field(default_factory=recall_model)
    optim: OptimConfig = dataclasses.field(default_factory=_adam)
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=RECALL_STEPS, eval_every=100,
                                            eval_chunk=1024))
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        check_sections(self, RecallTaskConfig)
        net = self.net_config()
        if net.positions != "none" and net.max_len < self.task.T:
            raise ConfigError("model.max_len", net.max_len, f"must be ≥ {self.task.T} "
                              f"(2 × task.pairs + 1)")

    def net_config(self) -> TransformerConfig:
        v = self.task.vocab
        return self.model.resolve(vocab=v, d_in=0, n_out=v)


MOMENTUM_PRESETS = PresetRegistry("momentum")
for _arm in ARMS:
    MOMENTUM_PRESETS.register(
        f"arm-{_arm}", (lambda a: lambda: ArmRunConfig(model=arm_model(a)))(_arm),
        f"four-arm study, arm {_arm} ({ARM_STEPS} Adam steps of 64 period-16 sequences)")
MOMENTUM_PRESETS.register(
    "recall", RecallRunConfig,
    f"associative recall, 8 pairs, depth 2, γ = 0 ({RECALL_STEPS} Adam steps of 64)")
MOMENTUM_PRESETS.register("arm-quick", lambda: ArmRunConfig(
    train=TrainConfig(steps=60, eval_every=20, eval_chunk=256)), "60 steps (tests)")


class PeriodicNet(LMTransformer):
    """:class:`LMTransformer` with the four-arm study's evaluation (module docstring)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.columns = ("step", "loss", "acc", "all_loss", "target_attn", "mirror_attn",
                        "prev_attn")

    def evaluate(self, params, data, chunk=256):
        ev = data["eval"]
        n, T = ev.targets.shape
        half = ev.meta["second_half"]
        last = f"L{self.cfg.n_layers - 1}.pattern"
        lgs = []
        att = np.zeros((3, self.cfg.heads))      # target i + 1, mirror i − 1, previous t − 1
        t = np.arange(T // 2, T)
        P = np.asarray(ev.meta["period"])
        for s in range(0, n, chunk):
            sub = ev.subset(slice(s, s + chunk))
            a = self.forward(params, sub, ("logits", last), clamps=None, full=True)
            lgs.append(a["logits"])
            pat = a[last]                                   # (b, H, T, T)
            b = np.arange(pat.shape[0])[:, None]
            i = t[None, :] - P[s:s + pat.shape[0], None]    # earlier copy of the query's token
            for k, key in enumerate((i + 1, i - 1, np.broadcast_to(t - 1, i.shape))):
                a_k = pat[b, :, t[None, :], np.maximum(key, 0)]         # (b, len t, H)
                att[k] += np.where((key >= 0)[..., None], a_k, 0.0).sum(axis=(0, 1))
        att /= n * len(t)
        lg = np.concatenate(lgs)
        row = {}
        row["loss"], row["acc"] = ce_acc(lg, ev.targets, half)
        row["all_loss"], _ = ce_acc(lg, ev.targets)
        h = int(np.argmax(att[0]))
        row["target_attn"], row["mirror_attn"], row["prev_attn"] = (float(v) for v in att[:, h])
        return row


def _train(cls, kind, task_cls, make_net, postfix, desc, cfg, out, resume, force, progress,
           stop_after, callback, overrides) -> TrainResult:
    """One run of either study: config (read back when resuming), task, network, loop."""
    if cfg is None:
        cfg = resume_config(out, cls, overrides, kind) if resume else cls()
    s = cfg.seeds
    task = task_cls(cfg.task, s.key("data"), s.key("eval"))
    net = cfg.net_config()
    model = make_net(net)
    learner = GradientLearner(model, TaskData(task), cfg.optim, s.generator("init"),
                              chunk=cfg.train.eval_chunk)
    resolved = {"model": {"vocab": cfg.task.vocab, "n_out": cfg.task.vocab},
                "n_params": model.n_params()}
    if cls is ArmRunConfig:
        resolved["arm"] = arm_of(net)
    return run_learner(learner, cfg.train, kind=kind, config=cfg, seeds=s, out=out,
                       resume=resume, force=force, progress=progress, stop_after=stop_after,
                       callback=callback, resolved=resolved,
                       extra={"generators": {"recall": GENERATOR_VERSION}},
                       postfix=postfix, desc=desc(net))


def train_arm(cfg: ArmRunConfig | None = None, out: str | Path | None = None,
              resume: bool = False, force: bool = False, progress: bool = True,
              stop_after: int | None = None, callback=None, overrides=()) -> TrainResult:
    """Train one run of the four-arm study (``out=None``: in memory)."""
    return _train(ArmRunConfig, ARM_KIND, PeriodicTask, PeriodicNet, ("loss", "target_attn"),
                  lambda n: f"momentum {arm_of(n)}", cfg, out, resume, force, progress,
                  stop_after, callback, overrides)


def train_recall(cfg: RecallRunConfig | None = None, out: str | Path | None = None,
                 resume: bool = False, force: bool = False, progress: bool = True,
                 stop_after: int | None = None, callback=None, overrides=()) -> TrainResult:
    """Train one associative-recall run (``out=None``: in memory)."""
    return _train(RecallRunConfig, RECALL_KIND, RecallTask, Transformer, ("loss", "acc"),
                  lambda n: f"recall N={n.n_layers} γ={n.momentum:g}", cfg, out, resume, force,
                  progress, stop_after, callback, overrides)


# ----------------------------------------------------------------------------------------------
# summaries and the studies
# ----------------------------------------------------------------------------------------------

def _tail_mean(v, k=3) -> float:
    v = np.asarray(v, float)
    return float(v[-k:].mean())


def arm_summary(metrics: dict, cfg: ArmRunConfig, manifest: dict | None = None) -> dict:
    """Final (mean of the last three evaluations) second-half loss, accuracy and target
    attention, and the arm's name."""
    return {"arm": arm_of(cfg.net_config()), "loss": _tail_mean(metrics["loss"]),
            "acc": _tail_mean(metrics["acc"]), "target_attn": _tail_mean(metrics["target_attn"]),
            "mirror_attn": _tail_mean(metrics["mirror_attn"]),
            "prev_attn": _tail_mean(metrics["prev_attn"]),
            "loss_min": float(np.min(metrics["loss"])), "steps": int(metrics["step"][-1])}


def recall_summary(metrics: dict, cfg: RecallRunConfig, manifest: dict | None = None) -> dict:
    """Final (mean of the last three evaluations) recall loss and accuracy."""
    return {"loss": _tail_mean(metrics["loss"]), "acc": _tail_mean(metrics["acc"]),
            "steps": int(metrics["step"][-1])}


def _resume_flag(out) -> bool:
    from ..runs import is_run_dir
    return out is not None and Path(out).exists() and is_run_dir(Path(out))


def arms_study(out, seeds=(0, 1, 2), steps=ARM_STEPS, gamma=ARM_GAMMA,
               period_min: int | None = None, workers: int | None = 1,
               progress: bool = True) -> dict:
    """The four arms × seeds through the sweep engine (resumable); ``period_min``: periods
    uniform in [period_min, 16] instead of 16 for every sequence.  Returns {"table",
    "hypotheses", "rows", "status", "exit_status", "steps", "seeds", "gamma"}."""
    from ..sweeps import run_sweep
    gamma = check_float("gamma", gamma, -1.0, 100.0)
    if gamma == 0.0:
        raise ConfigError("gamma", gamma, "must be ≠ 0 in [-1, 100] (γ = 0 is the rope arm)")
    base = ArmRunConfig()
    base = dataclasses.replace(base, train=dataclasses.replace(base.train, steps=int(steps)),
                               task=dataclasses.replace(base.task, period_min=period_min))
    pts = [(m.positions, m.momentum, m.smear_keys) for m in (arm_model(a, gamma) for a in ARMS)]
    res = run_sweep(base, {"model.positions,model.momentum,model.smear_keys": pts},
                    list(seeds), "minimal.studies.momentum:train_arm",
                    "minimal.studies.momentum:arm_summary", out, workers=workers,
                    progress=progress, resume=_resume_flag(out), kind="sweep-momentum-arms",
                    rows_only=False)
    rows = [dict(r) for r in res.rows]
    done = [r for r in rows if r.get("status") == "completed"]
    return {"table": arms_table(done), "hypotheses": arms_hypotheses(done) if done else [],
            "rows": rows, "status": res.status, "exit_status": res.exit_status,
            "steps": int(steps), "seeds": list(seeds), "gamma": float(gamma),
            "period_min": period_min}


def _ms(v) -> tuple[float, float]:
    v = np.asarray(v, float)
    return (float(v.mean()) if v.size else float("nan"),
            float(v.std(ddof=1)) if v.size > 1 else 0.0)


def arms_table(rows: list[dict]) -> list[dict]:
    """Per arm: seeds and mean/sd of the final second-half loss, accuracy, target attention."""
    out = []
    for arm in ARMS:
        sel = [r for r in rows if r.get("arm") == arm]
        out.append({"arm": arm, "n": len(sel),
                    **{k: _ms([r[k] for r in sel]) for k in ("loss", "acc", "target_attn",
                                                            "mirror_attn", "prev_attn")}})
    return out


def arms_hypotheses(rows: list[dict], near_zero: float = 0.1) -> list[dict]:
    """The project hypotheses of docs/momentum.md on the seed means: mom+rope and smear reach
    a second-half loss below ``near_zero`` nats; rope does not; momentum (no positions) keeps
    ≤ 1/3 of its attention on the target."""
    t = {r["arm"]: r for r in arms_table(rows)}
    out = []

    def add(name, ok, value):
        out.append({"hypothesis": name, "supported": bool(ok), "value": value})
    for arm in ("mom+rope", "smear"):
        v = t[arm]["loss"][0]
        add(f"{arm}: second-half loss < {near_zero} nats", v < near_zero, v)
    v = t["rope"]["loss"][0]
    add(f"rope (γ = 0): second-half loss stays ≥ {near_zero} nats", v >= near_zero, v)
    v = t["momentum"]["target_attn"][0]
    add("momentum without positions: attention on the target ≤ 1/3", v <= 1 / 3, v)
    return out


def recall_study(out, gammas=GAMMA_GRID, depths=DEPTHS, seeds=(0, 1, 2), steps=RECALL_STEPS,
                 workers: int | None = 1, progress: bool = True) -> dict:
    """γ × depth × seeds through the sweep engine (resumable); returns {"table" (per depth and
    γ), "gamma_star" (per depth), "fit", "rows", "status", "exit_status", …}."""
    from ..sweeps import run_sweep
    for name, vals in (("gammas", gammas), ("depths", depths), ("seeds", seeds)):
        if len(set(vals)) != len(vals):
            raise ConfigError(name, list(vals), "has a repeated value")
    base = RecallRunConfig()
    base = dataclasses.replace(base, train=dataclasses.replace(base.train, steps=int(steps)))
    res = run_sweep(base, {"model.n_layers": list(depths), "model.momentum": list(gammas)},
                    list(seeds), "minimal.studies.momentum:train_recall",
                    "minimal.studies.momentum:recall_summary", out, workers=workers,
                    progress=progress, resume=_resume_flag(out), kind="sweep-momentum-recall",
                    rows_only=False)
    rows = [dict(r) for r in res.rows]
    done = [r for r in rows if r.get("status") == "completed"]
    table, stars = recall_tables(done, n_gammas=len(gammas), n_seeds=len(seeds))
    fit = None
    ok = fit_points(stars)
    if len(ok) >= 3:
        fit = fit_gamma_star([s["depth"] for s in ok], [s["gamma_star"] for s in ok])
    return {"table": table, "gamma_star": stars, "fit": fit, "rows": rows,
            "status": res.status, "exit_status": res.exit_status, "steps": int(steps),
            "seeds": list(seeds)}


def gamma_star(gammas, losses) -> tuple[float, bool]:
    """(γ*, refined): the grid γ with the lowest loss, moved to the vertex of the parabola
    through it and its two neighbours when it is an inner point and the parabola opens upward
    (the vertex then lies between the neighbours); an edge minimum is returned as is."""
    g = np.asarray(gammas, float)
    L = np.asarray(losses, float)
    if g.shape != L.shape or g.size == 0 or not np.all(np.diff(g) > 0):
        raise ConfigError("gammas", list(g), "must be increasing and match the losses")
    i = int(np.argmin(L))
    if i == 0 or i == g.size - 1:
        return float(g[i]), False
    x = g[i - 1:i + 2]
    c2, c1, _ = np.polyfit(x, L[i - 1:i + 2], 2)
    if not c2 > 0:
        return float(g[i]), False
    v = -c1 / (2 * c2)
    return float(np.clip(v, x[0], x[2])), True


def recall_tables(rows: list[dict], n_gammas: int | None = None, n_seeds: int | None = None):
    """(table, stars): mean/sd of the final loss per (depth, γ); γ* per depth from the seed
    means, with the spread of the per-seed γ*.  A depth whose grid is incomplete (fewer than
    ``n_gammas`` γ values or ``n_seeds`` seeds finished) gets no γ* (``complete`` False): a
    minimum over part of the grid would only be the last finished point."""
    table, stars = [], []
    depths = sorted({int(r["model.n_layers"]) for r in rows})
    for N in depths:
        sel = [r for r in rows if int(r["model.n_layers"]) == N]
        gs = sorted({float(r["model.momentum"]) for r in sel})
        means, counts = [], []
        for gm in gs:
            rr = [r for r in sel if float(r["model.momentum"]) == gm]
            ls, ac = _ms([r["loss"] for r in rr]), _ms([r["acc"] for r in rr])
            means.append(ls[0])
            counts.append(len(rr))
            table.append({"depth": N, "gamma": gm, "n": len(rr), "loss": ls, "acc": ac})
        complete = ((n_gammas is None or len(gs) >= n_gammas) and
                    (n_seeds is None or min(counts) >= n_seeds))
        if not complete:
            stars.append({"depth": N, "gamma_star": None, "refined": False, "edge": False,
                          "complete": False, "seed_gamma_star": [], "sd": 0.0})
            continue
        star, refined = gamma_star(gs, means)
        per_seed = []
        for sd in sorted({r["seed"] for r in sel}):
            rr = {float(r["model.momentum"]): r["loss"] for r in sel if r["seed"] == sd}
            if len(rr) == len(gs):
                per_seed.append(gamma_star(gs, [rr[gm] for gm in gs])[0])
        stars.append({"depth": N, "gamma_star": star, "refined": refined, "complete": True,
                      "edge": not refined and star in (gs[0], gs[-1]),
                      "seed_gamma_star": per_seed,
                      "sd": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0})
    return table, stars


def fit_points(stars: list[dict]) -> list[dict]:
    """The γ* that enter the power-law fit: complete depths whose minimum is inside the grid
    (an edge minimum only bounds γ*, and γ* = 0 has no power law)."""
    return [s for s in stars if s["complete"] and not s["edge"] and s["gamma_star"] > 0]


def fit_gamma_star(depths, stars):
    """γ* = a · N^(−b) by least squares with the fit registry's ``power-law`` model; returns
    {"a", "b", "a_se", "b_se", "r2", "b_ci95", "paper_b"}."""
    from ..fit import make_model
    from ..fit.curves import Curve
    x = np.asarray(depths, float)
    y = np.asarray(stars, float)
    res = make_model("power-law", quantity="loss").fit(Curve(x, y, "depth", "gamma_star",
                                                             "<recall study>"))
    b, bse = res.params["exponent"], res.stderr["exponent"]
    dof = max(len(x) - 2, 1)
    from scipy.stats import t as student
    q = float(student.ppf(0.975, dof))
    ci = ((b - q * bse, b + q * bse) if bse is not None and math.isfinite(bse) and len(x) > 2
          else None)
    return {"a": res.params["scale"], "b": b, "a_se": res.stderr["scale"], "b_se": bse,
            "b_ci95": ci, "r2": res.r2, "n": len(x), "paper_a": PAPER_A, "paper_b": PAPER_B}


def train_momentum(cfg=None, out=None, resume: bool = False, **kw) -> TrainResult:
    """Train an arm or a recall run by the config's type; resuming without a config reads the
    run's kind from its run.json."""
    if isinstance(cfg, RecallRunConfig):
        return train_recall(cfg, out, resume=resume, **kw)
    if isinstance(cfg, ArmRunConfig):
        return train_arm(cfg, out, resume=resume, **kw)
    if cfg is None and resume and out is not None:
        import json
        from ..errors import RunDirError
        from ..runs import MANIFEST
        try:
            kind = json.loads((Path(out) / MANIFEST).read_text()).get("kind")
        except (OSError, ValueError):
            raise RunDirError(f"{out} holds no readable {MANIFEST} to resume") from None
        if kind == RECALL_KIND:
            return train_recall(None, out, resume=True, **kw)
        if kind == ARM_KIND:
            return train_arm(None, out, resume=True, **kw)
        raise RunDirError(f"{out} is a {kind!r} run, not a momentum run")
    raise ConfigError("config", type(cfg).__name__, "must be an ArmRunConfig or RecallRunConfig")
