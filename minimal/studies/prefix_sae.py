"""Attention-output SAEs and long- vs short-prefix induction heads at toy scale (Kissane et al.
2024; docs/sae.md, "The prefix study").

**Network.** 2 layers, 4 heads, d 32, attention only with W_O, pre-LayerNorm, learned positions,
a loss at every position, Adam 1e-3, batches of 64, on the copy stream of
:mod:`minimal.tasks.ambiguous` — with ambiguous matches (``task.ambiguous = 1``) or without
(the control, ``0``).

Metrics (each evaluation, held-out sequences of the run's own stream)::

    copy_loss, copy_acc      next-token loss/accuracy on the predictable copy targets
    amb_acc                  accuracy at the ambiguous query (the right successor), on a set
                             where every sequence has a distractor (the same for every stream)
    amb_distractor           how often the prediction there is the distractor's successor
    L1H{h}.p{p}              layer-2 head h's prefix score for span length p = 1 … 5: the mean
                             attention from a₂ + p − 1 to a₁ + p on the prefix probe (400
                             sequences per p)
    L{l}H{h}.induction/prev/duplicate   every head's scores on [BOS, r₁…r₁₅, r₁…r₁₅, x]

A layer-2 head is **long-prefix** when its score is < 0.3 at p = 1 and > 0.6 at every p ≥ 3,
**short-prefix** when it is > 0.6 at p = 1 (the spec's thresholds).

**SAE** (:func:`analyse_sae`): an attention-output SAE (:mod:`minimal.sae`) on the layer-2
z_cat of the trained network, on rows of its own stream; its reconstruction score; its
*induction features* (active on ≥ 10 % of the second-copy positions of the repeat probe, with a
mean activation there at least 5 × that at the same positions of sequences without a repeat)
and, for each, the head block that holds most of its decoder norm.

:func:`study` runs both streams × seeds through the sweep engine, then the SAE of every finished
network (``<out>/sae/<job>``) with its heads' attention at the ambiguous query (to the key after
the occurrence that shares the longer prefix, and to the key after the distractor), and judges
the three hypotheses.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import PresetRegistry, Seeds, check_float, from_dict
from ..diagnostics.heads import ScoreEvaluator
from ..diagnostics.scores import prefix_length_score
from ..errors import ConfigError, RunDirError
from ..tasks.ambiguous import GENERATOR_VERSION, AmbiguousCopyConfig, AmbiguousCopyTask
from ..tasks.ambiguous import ambiguous_sequences
from ..tasks.probes import prefix_probe, repeat_probe
from ..tasks.seq import SeqBatch
from ..training import GradientLearner, TrainResult, resume_config, run_learner
from ..training.config import OptimConfig, TrainConfig
from ..transformer import TransformerConfig
from ._lm import LMTransformer, TaskData, ce_acc, check_lm_config, check_sections

__all__ = ["PrefixRunConfig", "PREFIX_PRESETS", "PrefixNet", "train_prefix", "summary",
           "classify_heads", "analyse_sae", "induction_features", "study", "hypotheses",
           "study_table", "P_VALUES", "DEFAULT_STEPS", "SAE_STEPS", "SAE_L1", "RUN_KIND",
           "LONG_P1_MAX", "LONG_MIN", "SHORT_P1_MIN", "AMBIGUITIES", "arm_name",
           "ambiguity_attention", "load_network"]

RUN_KIND = "sae-prefix"
DEFAULT_STEPS = 15_000
SAE_STEPS = 5000
#: the study's SAE penalty λ: the smallest of {0.3, 1, 3} tried on the seed-0 networks, the one
#: whose reconstruction score is ≥ 0.9 on all three (docs/sae.md)
SAE_L1 = 0.3
P_VALUES = (1, 2, 3, 4, 5)
N_PROBE = 400
#: the repeat probe's span: [BOS, r₁…r₁₅, r₁…r₁₅, x] fills 32 positions
PROBE_L = 15
#: the spec's thresholds: long-prefix = score(1) < 0.3 and score(p ≥ 3) > 0.6; short: score(1) > 0.6
LONG_P1_MAX, LONG_MIN, SHORT_P1_MIN = 0.3, 0.6, 0.6
#: induction features: active on ≥ 10 % of second-copy positions, mean there ≥ 5 × that at the
#: same positions without a repeat
IND_FREQ_MIN, IND_RATIO_MIN = 0.10, 5.0
#: a feature "sits in one head block" when that block holds ≥ 80 % of its decoder norm²
BLOCK_SHARE_MIN = 0.8
PROGRESS_KEYS = ("copy_acc", "amb_acc")
#: the study's streams: every sequence ambiguous, half of them, none (control)
AMBIGUITIES = (1.0, 0.5, 0.0)


def default_model() -> TransformerConfig:
    """2 layers, 4 heads, d 32, attention only with W_O, pre-LayerNorm, learned positions over
    32, a loss at every position."""
    return TransformerConfig(n_layers=2, d_model=32, heads=4, positions="learned", max_len=32,
                             norm="pre", mlp=False, loss_positions=None)


@dataclass(frozen=True)
class PrefixRunConfig:
    """One network of the study: stream, network (vocab and n_out from the stream), Adam, loop."""

    task: AmbiguousCopyConfig = dataclasses.field(default_factory=AmbiguousCopyConfig)
    model: TransformerConfig = dataclasses.field(default_factory=default_model)
    optim: OptimConfig = dataclasses.field(
        default_factory=lambda: OptimConfig(name="adam", lr=1e-3, weight_decay=0.0))
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=DEFAULT_STEPS, eval_every=500,
                                            eval_chunk=256))
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        check_sections(self, AmbiguousCopyConfig)
        net = self.net_config()
        check_lm_config(net, self.task.T)
        if net.n_layers < 2:
            raise ConfigError("model.n_layers", net.n_layers, "must be ≥ 2 (the study reads "
                              "the heads of layer 2)")
        if 2 * max(P_VALUES) + 2 > self.task.T or 2 * PROBE_L + 1 > self.task.T:
            raise ConfigError("task.T", self.task.T, f"must be ≥ {2 * PROBE_L + 1} (the probes)")

    def net_config(self) -> TransformerConfig:
        v = self.task.vocab
        return self.model.resolve(vocab=v, d_in=0, n_out=v)


PREFIX_PRESETS = PresetRegistry("sae-prefix")
PREFIX_PRESETS.register("prefix-ambiguous", PrefixRunConfig,
                        f"copy stream with ambiguous matches, {DEFAULT_STEPS} Adam steps of 64")
PREFIX_PRESETS.register("prefix-control", lambda: PrefixRunConfig(
    task=AmbiguousCopyConfig(ambiguous=0.0)),
    f"copy stream without ambiguous matches (control), {DEFAULT_STEPS} Adam steps of 64")
PREFIX_PRESETS.register("prefix-quick", lambda: PrefixRunConfig(
    train=TrainConfig(steps=200, eval_every=100, eval_chunk=256)), "200 steps (tests)")


def _probes(cfg: PrefixRunConfig) -> dict:
    """The prefix probes (p = 1 … 5, 400 sequences each) and the repeat probe, from the run's
    evaluation seed."""
    t = cfg.task
    rng = cfg.seeds.generator("eval")
    content = np.arange(t.vocab - 1)
    out = {p: prefix_probe(rng, N_PROBE, p, content, t.bos, t.T) for p in P_VALUES}
    out["repeat"] = repeat_probe(rng, 128, PROBE_L, content, bos=t.bos, T=t.T)
    return out


def _probe_batch(probe) -> SeqBatch:
    return SeqBatch(probe.tokens, None, probe.targets)


class PrefixNet(LMTransformer):
    """:class:`LMTransformer` with the study's evaluation (module docstring)."""

    def __init__(self, cfg, probes):
        super().__init__(cfg)
        self.probes = probes
        last = cfg.n_layers - 1
        self.columns = ("step", "copy_loss", "copy_acc", "amb_acc", "amb_distractor",
                        *(f"L{last}H{h}.p{p}" for h in range(cfg.heads) for p in P_VALUES))

    def prefix_scores(self, params) -> np.ndarray:
        """(len(P_VALUES), H) the last layer's prefix scores."""
        last = f"L{self.cfg.n_layers - 1}.pattern"
        out = []
        for p in P_VALUES:
            pr = self.probes[p]
            A = self.forward(params, _probe_batch(pr), (last,), clamps=None)[last]
            out.append(prefix_length_score(A, pr.info["query"], pr.info["key"]))
        return np.array(out)

    def evaluate(self, params, data, chunk=256):
        ev = data["eval"]
        lg = self.record_chunked(params, ev, "logits", chunk)
        row = {}
        row["copy_loss"], row["copy_acc"] = ce_acc(lg, ev.targets, ev.meta["copy_mask"])
        amb = data["amb"]                 # every sequence with a distractor, for every stream
        lg = self.record_chunked(params, amb, "logits", chunk)
        b, t = np.nonzero(amb.meta["amb_mask"])
        pred = lg[b, t].argmax(1)
        row["amb_acc"] = float((pred == amb.targets[b, t]).mean())
        row["amb_distractor"] = float((pred == amb.meta["distractor_next"][b]).mean())
        sc = self.prefix_scores(params)
        last = self.cfg.n_layers - 1
        for i, p in enumerate(P_VALUES):
            for h in range(self.cfg.heads):
                row[f"L{last}H{h}.p{p}"] = float(sc[i, h])
        return row


def arm_name(ambiguous: float) -> str:
    """"control" for a stream without distractors, else "ambiguous" with its rate unless 1."""
    a = float(ambiguous)
    return "control" if a == 0 else ("ambiguous" if a == 1 else f"ambiguous {a:g}")


def _net(cfg: PrefixRunConfig) -> PrefixNet:
    return PrefixNet(cfg.net_config(), _probes(cfg))


def train_prefix(cfg: PrefixRunConfig | None = None, out: str | Path | None = None,
                 resume: bool = False, force: bool = False, progress: bool = True,
                 stop_after: int | None = None, callback=None, overrides=()) -> TrainResult:
    """Train one network of the study (``out=None``: in memory)."""
    if cfg is None:
        cfg = resume_config(out, PrefixRunConfig, overrides, RUN_KIND) if resume \
            else PrefixRunConfig()
    s = cfg.seeds
    task = AmbiguousCopyTask(cfg.task, s.key("data"), s.key("eval"))
    model = _net(cfg)
    net = model.cfg
    ev = ScoreEvaluator("transformer", net.n_layers, net.heads, {"repeat": model.probes["repeat"]},
                        names=("induction", "prev", "duplicate"))
    learner = GradientLearner(model, TaskData(task), cfg.optim, s.generator("init"),
                              evaluators=[ev], chunk=cfg.train.eval_chunk)
    resolved = {"model": {"vocab": cfg.task.vocab, "n_out": cfg.task.vocab},
                "n_params": model.n_params()}
    arm = arm_name(cfg.task.ambiguous)
    return run_learner(learner, cfg.train, kind=RUN_KIND, config=cfg, seeds=s, out=out,
                       resume=resume, force=force, progress=progress, stop_after=stop_after,
                       callback=callback, resolved=resolved,
                       extra={"generators": {"ambiguous": GENERATOR_VERSION}},
                       postfix=PROGRESS_KEYS, desc=f"prefix {arm}")


# ----------------------------------------------------------------------------------------------
# per-run summary
# ----------------------------------------------------------------------------------------------

def classify_heads(scores: np.ndarray) -> list[str]:
    """Per head ("long", "short" or "other") from its (len(P_VALUES),) prefix scores: long =
    score(1) < 0.3 and score(p) > 0.6 for every p ≥ 3; short = score(1) > 0.6."""
    s = np.asarray(scores, float)
    if s.ndim != 2 or s.shape[0] != len(P_VALUES):
        raise ConfigError("scores", s.shape, f"must be ({len(P_VALUES)}, H)")
    i3 = [i for i, p in enumerate(P_VALUES) if p >= 3]
    out = []
    for h in range(s.shape[1]):
        if s[0, h] < LONG_P1_MAX and (s[i3, h] > LONG_MIN).all():
            out.append("long")
        elif s[0, h] > SHORT_P1_MIN:
            out.append("short")
        else:
            out.append("other")
    return out


def _score_matrix(metrics: dict, layer: int, heads: int, i: int = -1) -> np.ndarray:
    return np.array([[float(metrics[f"L{layer}H{h}.p{p}"][i]) for h in range(heads)]
                     for p in P_VALUES])


def summary(metrics: dict, cfg: PrefixRunConfig, manifest: dict | None = None) -> dict:
    """One network reduced: final copy and ambiguity metrics, the layer-2 prefix scores
    (``h{h}_p{p}``), head classes, the largest induction score, and the first evaluation
    step with copy accuracy ≥ 0.5 (``t_copy``; None if never)."""
    net = cfg.net_config()
    last = net.n_layers - 1
    S = _score_matrix(metrics, last, net.heads)
    classes = classify_heads(S)
    acc = np.asarray(metrics["copy_acc"], float)
    hit = np.flatnonzero(acc >= 0.5)
    ind = [float(metrics[f"L{l}H{h}.induction"][-1]) for l in range(net.n_layers)
           for h in range(net.heads) if f"L{l}H{h}.induction" in metrics]
    out = {"arm": arm_name(cfg.task.ambiguous),
           "copy_loss": float(metrics["copy_loss"][-1]), "copy_acc": float(acc[-1]),
           "amb_acc": float(metrics["amb_acc"][-1]),
           "amb_distractor": float(metrics["amb_distractor"][-1]),
           "n_long": classes.count("long"), "n_short": classes.count("short"),
           "classes": ",".join(classes), "ind_max": max(ind) if ind else float("nan"),
           "t_copy": int(metrics["step"][hit[0]]) if hit.size else None,
           "steps": int(metrics["step"][-1])}
    for i, p in enumerate(P_VALUES):
        for h in range(net.heads):
            out[f"h{h}_p{p}"] = float(S[i, h])
    from ..sweeps import run_collapsed
    out["collapsed"] = run_collapsed(manifest)
    return out


# ----------------------------------------------------------------------------------------------
# the SAE on layer-2 z_cat
# ----------------------------------------------------------------------------------------------

def load_network(path) -> tuple[PrefixRunConfig, PrefixNet, dict]:
    """(config, network, final parameters) of a finished network run directory."""
    from ..runs import Run
    run = Run.open(path)
    if run.manifest.get("kind") != RUN_KIND:
        raise RunDirError(f"{path}: a {run.manifest.get('kind')!r} run, not a {RUN_KIND!r} run")
    cfg = from_dict(PrefixRunConfig, run.manifest["config"])
    ck = run.load_checkpoint()
    params = {k[6:]: np.asarray(v) for k, v in ck.arrays.items() if k.startswith("param.")}
    return cfg, _net(cfg), params


def ambiguity_attention(net, params, cfg: PrefixRunConfig) -> dict:
    """Per last-layer head, the mean attention of the ambiguous query (a₂ + k, every sequence
    with a distractor) to the two keys one-token matching finds: ``right`` = a₁ + k + 1 (the
    successor of the occurrence that shares the longer prefix) and ``wrong`` = d + 1 (the
    distractor's successor); the same held-out set as the ``amb_*`` metrics."""
    task = AmbiguousCopyTask(cfg.task, cfg.seeds.key("data"), cfg.seeds.key("eval"))
    amb = task.eval_data()["amb"]
    last = f"L{net.cfg.n_layers - 1}.pattern"
    A = net.record_chunked(params, amb, last, 256)
    b, t = np.nonzero(amb.meta["amb_mask"])
    right = amb.meta["a1"][b] + amb.meta["k"][b] + 1
    wrong = amb.meta["d"][b] + 1
    return {"right": A[b, :, t, right].mean(0).tolist(),
            "wrong": A[b, :, t, wrong].mean(0).tolist()}


def induction_features(acts_repeat: np.ndarray, acts_plain: np.ndarray,
                       second: slice) -> np.ndarray:
    """Indices of the induction features of SAE codes (n, T, m): on the repeat probe's
    second-copy positions ``second`` active (> 0) on ≥ 10 % of them, with a mean activation at
    least 5 × that at the same positions of sequences without a repeat (``acts_plain``), so a
    feature that only tracks the position is not counted."""
    a2 = acts_repeat[:, second]
    a0 = acts_plain[:, second]
    freq = (a2 > 0).mean(axis=(0, 1))
    m2, m0 = a2.mean(axis=(0, 1)), a0.mean(axis=(0, 1))
    return np.flatnonzero((freq >= IND_FREQ_MIN) & (m2 >= IND_RATIO_MIN * m0) & (m2 > 0))


def analyse_sae(path, out=None, steps: int = SAE_STEPS, l1: float = SAE_L1, n_seqs: int = 2048,
                progress: bool = False, resume: bool = False) -> dict:
    """Train the SAE on the layer-2 z_cat of the network in ``path`` (rows: every position of
    ``n_seqs`` sequences of its stream) into ``out`` (None: in memory), and measure it:
    reconstruction score (held-out sequences), L0, FVU, dead fraction, the induction features
    and their head blocks."""
    from ..sae import SAEConfig, SAERunConfig, train_sae
    from ..sae.config import SAEDataConfig
    from ..sae.model import head_block_norms
    from ..sae.splice import spliced_losses, zcat_rows
    cfg, net, params = load_network(path)
    layer = net.cfg.n_layers - 1
    key = cfg.seeds.key("data")
    batch = AmbiguousCopyTask(cfg.task, key, key)._batch(
        *ambiguous_sequences(np.random.default_rng([key, 0x5AE]), cfg.task, n_seqs))
    rows = np.concatenate([zcat_rows(net, params, batch.subset(slice(s, s + 512)), layer)
                           for s in range(0, n_seqs, 512)])
    H = net.cfg.heads
    scfg = SAERunConfig(sae=SAEConfig(d_in=rows.shape[1], l1=l1),
                        data=SAEDataConfig(eval_rows=min(4096, max(1, len(rows) // 4))),
                        train=TrainConfig(steps=int(steps), eval_every=max(1, int(steps) // 10)),
                        seeds=cfg.seeds)
    res = train_sae(scfg, rows, out=None if out is None else str(out), resume=resume,
                    force=not resume, progress=progress)
    if res.status != "completed":
        return {"status": res.status}
    model, sae = res.learner.model, res.params
    held = AmbiguousCopyTask(cfg.task, key, key)._batch(
        *ambiguous_sequences(np.random.default_rng([key, 0x5AF]), cfg.task, 512))
    rec = spliced_losses(net, params, held, layer, lambda r: model.reconstruct(sae, r))
    probe = _probes(cfg)["repeat"]
    st = probe.info["start"]
    # the same positions without a repeat: BOS, then distinct random tokens
    rng = np.random.default_rng([key, 0x5B0])
    plain = np.empty_like(probe.tokens)
    plain[:, 0] = cfg.task.bos
    plain[:, 1:] = np.argsort(rng.random((len(probe), cfg.task.vocab - 1)), 1)[:, :probe.T - 1]

    def codes(tokens):
        r = zcat_rows(net, params, SeqBatch(tokens, None, np.full(tokens.shape, -1, np.int32)),
                      layer)
        return np.asarray(model.encode(sae, r)).reshape(len(tokens), probe.T, -1)
    second = slice(st + PROBE_L, st + 2 * PROBE_L)
    ind = induction_features(codes(probe.tokens), codes(plain), second)
    blocks = head_block_norms(np.asarray(sae["W_dec"]), H)
    top = blocks[ind].argmax(1) if ind.size else np.zeros(0, int)
    share = blocks[ind].max(1) if ind.size else np.zeros(0)
    counts = np.bincount(top, minlength=H)
    last = {k: float(v[-1]) for k, v in res.metrics.items()
            if k in ("mse", "fvu", "l0", "dead_frac") and len(v)}
    return {"status": "completed", "layer": layer, "rows": int(rows.shape[0]),
            "dict_size": int(scfg.sae.dict_size), "l1": float(l1), "steps": int(steps),
            **last, **rec, "n_induction": int(ind.size),
            "induction_features": ind.tolist(), "top_head": top.tolist(),
            "top_share": share.tolist(), "head_counts": counts.tolist(),
            "frac_in_one_block": float((share >= BLOCK_SHARE_MIN).mean()) if ind.size else None,
            "main_head": int(counts.argmax()) if ind.size else None,
            "main_head_frac": float(counts.max() / ind.size) if ind.size else None,
            "block_mean": blocks[ind].mean(0).tolist() if ind.size else None}


# ----------------------------------------------------------------------------------------------
# the study
# ----------------------------------------------------------------------------------------------

def _ms(v) -> tuple[float, float]:
    v = np.asarray([x for x in v if x is not None], float)
    v = v[np.isfinite(v)]
    return (float(v.mean()) if v.size else float("nan"),
            float(v.std(ddof=1)) if v.size > 1 else 0.0)


def _arms(rows: list[dict]) -> list[str]:
    names = {r["arm"] for r in rows if "arm" in r}
    amb = sorted((n for n in names if n != "control"),
                 key=lambda n: -float(n.split()[1]) if " " in n else -1.0)
    return amb + (["control"] if "control" in names else [])


def _done(rows, arm):
    return [r for r in rows if r.get("arm") == arm and r.get("status") == "completed"
            and not r.get("collapsed")]


def study_table(rows: list[dict]) -> list[dict]:
    """Per arm: seeds, mean ± sd of the final copy/ambiguity metrics, long/short head counts
    and (where analysed) the SAE's reconstruction score and induction features."""
    out = []
    for arm in _arms(rows):
        sel = _done(rows, arm)
        row = {"arm": arm, "n": len(sel)}
        for k in ("copy_acc", "amb_acc", "amb_distractor", "ind_max", "n_long", "n_short",
                  "t_copy", "amb_right", "amb_wrong", "sae_score", "sae_l0", "sae_fvu",
                  "n_induction",
                  "frac_in_one_block", "main_head_frac"):
            row[k] = _ms([r.get(k) for r in sel])
        out.append(row)
    return out


def hypotheses(rows: list[dict]) -> list[dict]:
    """The three project hypotheses, judged per seed (a majority of the seeds decides):

    1. with ambiguity (each ambiguous arm), one layer-2 head is long-prefix and another
       short-prefix;
    2. without ambiguity, no layer-2 head is long-prefix;
    3. the induction features' decoder norm sits in one head block (≥ 80 % of them have
       ≥ 80 % of their norm² in one block, and one head holds ≥ 80 % of them)."""
    out = []
    arms = _arms(rows)
    for arm in arms:
        if arm == "control":
            continue
        sel = _done(rows, arm)
        k1 = [r for r in sel if r["n_long"] >= 1 and r["n_short"] >= 1]
        out.append({"hypothesis": f"{arm}: one long-prefix and one short-prefix head",
                    "seeds_for": len(k1), "seeds": len(sel),
                    "supported": bool(sel) and 2 * len(k1) > len(sel)})
    ctl = _done(rows, "control")
    k2 = [r for r in ctl if r["n_long"] == 0]
    out.append({"hypothesis": "control: no long-prefix head",
                "seeds_for": len(k2), "seeds": len(ctl),
                "supported": bool(ctl) and 2 * len(k2) > len(ctl)})
    an = [r for arm in arms for r in _done(rows, arm) if r.get("n_induction")]
    k3 = [r for r in an if r["frac_in_one_block"] >= BLOCK_SHARE_MIN
          and r["main_head_frac"] >= BLOCK_SHARE_MIN]
    out.append({"hypothesis": "induction features sit in one head block",
                "seeds_for": len(k3), "seeds": len(an),
                "supported": bool(an) and 2 * len(k3) > len(an)})
    return out


def _analysis(out: Path, job: str, steps: int, l1: float, progress: bool) -> dict:
    """The SAE analysis of one network and its heads' attention at the ambiguous query, cached
    in ``<out>/sae/<job>/analysis.json``."""
    from ..runs import atomic_write_json
    d = out / "sae" / job
    cache = d / "analysis.json"
    res = None
    if cache.exists():
        got = json.loads(cache.read_text())
        if got.get("steps") == steps and got.get("l1") == l1:
            res = got
    if res is None:
        d.mkdir(parents=True, exist_ok=True)
        res = analyse_sae(out / "runs" / job, d / "run", steps=steps, l1=l1, progress=progress)
        if res.get("status") != "completed":
            return res
    if "amb_attention" not in res:
        cfg, net, params = load_network(out / "runs" / job)
        res["amb_attention"] = ambiguity_attention(net, params, cfg)
    atomic_write_json(cache, res)
    return res


def study(out, seeds=(0, 1, 2), steps: int = DEFAULT_STEPS, sae_steps: int = SAE_STEPS,
          l1: float = SAE_L1, workers: int | None = 1, progress: bool = True,
          ambiguities=AMBIGUITIES) -> dict:
    """The streams (distractor rates ``ambiguities``) × seeds through the sweep engine
    (resumable), then the SAE of every finished network.  Returns {"table", "hypotheses",
    "rows", "status", "exit_status", ...}."""
    from ..runs import is_run_dir
    from ..sweeps import run_sweep
    out = Path(out)
    base = PREFIX_PRESETS.get("prefix-ambiguous")
    base = dataclasses.replace(base, train=dataclasses.replace(base.train, steps=int(steps)))
    amb = sorted({check_float("ambiguous", a, 0.0, 1.0) for a in ambiguities}, reverse=True)
    if len(amb) != len(list(ambiguities)):
        raise ConfigError("ambiguities", list(ambiguities), "has a repeated value")
    res = run_sweep(base, {"task.ambiguous": amb}, list(seeds),
                    "minimal.studies.prefix_sae:train_prefix",
                    "minimal.studies.prefix_sae:summary", out, workers=workers,
                    progress=progress, resume=out.exists() and is_run_dir(out),
                    kind="sweep-sae-prefix", rows_only=False)
    rows = [dict(r) for r in res.rows]
    for r in rows:
        if r.get("status") != "completed":
            continue
        a = _analysis(out, r["job"], int(sae_steps), float(l1), progress)
        if a.get("status") == "completed":
            att = a["amb_attention"]
            h = int(np.argmax(np.subtract(att["right"], att["wrong"])))
            r.update({"amb_right": att["right"][h], "amb_wrong": att["wrong"][h],
                      "sae_score": a["score"], "sae_l0": a.get("l0"), "sae_fvu": a.get("fvu"),
                      "n_induction": a["n_induction"],
                      "frac_in_one_block": a["frac_in_one_block"],
                      "main_head": a["main_head"], "main_head_frac": a["main_head_frac"]})
    done = [r for r in rows if r.get("status") == "completed"]
    return {"table": study_table(done), "hypotheses": hypotheses(done) if done else [],
            "rows": rows, "status": res.status, "exit_status": res.exit_status,
            "steps": int(steps), "sae_steps": int(sae_steps), "l1": float(l1),
            "seeds": list(seeds), "ambiguities": amb}
