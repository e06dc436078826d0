"""``minimal diagnose RUN``: per-head induction scores and top-k vs random head ablation of a
trained run of any family with attention patterns (docs/diagnostics.md).

Families and what applies (0-based layers and heads):

``biinduct``  (the transformer language model) every token score on the run's own probes
              ([BOS r r], [prefix S SEP reverse(S)]), copying scores; ablation of z (zero or
              mean): loss = chain loss, ICL = the key→value probe's accuracy
``clamp``     (the transformer on Singh's task) previous token (layer rows q ≥ 1), prefix
              matching and duplicate token at the query with class/label identities; ablation
              of z: loss = training-distribution query loss, ICL = held-out-class accuracy
``train``     (the Reddy network) previous token and ILA1 (layer 0), prefix matching (= TILA2)
              and duplicate token at the target; zero ablation through the value rows:
              loss = Test-set loss, ICL = IC accuracy
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, RunDirError
from ..runs import Run

__all__ = ["diagnose", "SUPPORTED_KINDS"]

SUPPORTED_KINDS = ("biinduct", "clamp", "train")


def _params(run: Run, path: Path, step: int | None) -> tuple[dict, int]:
    if step is not None and (path / "snapshots.npz").exists():
        with np.load(path / "snapshots.npz") as z:
            got = {k.split("/", 1)[1]: z[k] for k in z.files
                   if k.split("/", 1)[0] == str(step)}
        if got:
            return got, step
    ck = run.load_checkpoint()
    if step is not None and step != ck.step:
        raise ConfigError("--step", step, f"the run has a checkpoint at step {ck.step} only"
                          + (" and no snapshot at that step" if (path / "snapshots.npz").exists()
                             else ""))
    return {k[6:]: np.asarray(v) for k, v in ck.arrays.items() if k.startswith("param.")}, \
        ck.step


def _singh_ids(batch) -> np.ndarray:
    cls = np.asarray(batch.meta["class_ids"], np.int64)
    lab = np.asarray(batch.meta["label_ids"], np.int64)
    off = int(cls.max()) + 1
    return np.stack([cls[:, 0], off + lab[:, 0], cls[:, 1], off + lab[:, 1], cls[:, 2]], 1)


def _id_scores(net, params, batch, ids, rows) -> dict:
    from ..diagnostics import scores as S
    c = net.cfg
    rec = [f"L{l}.pattern" for l in range(c.n_layers)]
    a = net.forward(params, batch, rec, clamps=None, full=True)
    out = {}
    for l in range(c.n_layers):
        A = a[f"L{l}.pattern"]
        for name, v in (("prev", S.previous_token_score(A)),
                        ("induction", S.prefix_matching_score(A, ids, rows)),
                        ("duplicate", S.duplicate_token_score(A, ids, rows))):
            for h, x in enumerate(v):
                out[f"L{l}H{h}.{name}"] = float(x)
    return out


def _induction_matrix(scores: dict, layers: int, heads: int) -> np.ndarray:
    out = np.full((layers, heads), -np.inf)
    for l in range(layers):
        for h in range(heads):
            k = f"L{l}H{h}.induction"
            if k in scores:
                out[l, h] = scores[k]
    return out


def diagnose(path, step: int | None = None, mode: str = "zero", draws: int = 20,
             seed: int = 0) -> dict:
    """Scores of every head and the top-k vs random ablation of the run in ``path`` at its
    checkpoint (or at ``step`` when snapshots.npz holds it)."""
    from ..config import from_dict
    from ..diagnostics.ablation import (MODES, reddy_measure, top_vs_random,
                                        transformer_measure)
    if mode not in MODES:
        raise ConfigError("--mode", mode, f"must be one of {', '.join(MODES)}")
    path = Path(path)
    if not (path / "run.json").exists():
        raise RunDirError(f"{path} is not a run directory (no run.json)")
    run = Run.open(path)
    kind = run.manifest.get("kind")
    if kind not in SUPPORTED_KINDS:
        raise ConfigError("RUN", str(path), f"is a {kind!r} run; diagnose supports runs with "
                          f"attention patterns: {', '.join(SUPPORTED_KINDS)}")
    if kind == "train" and mode != "zero":
        raise ConfigError("--mode", mode, "the Reddy network (a 'train' run) supports zero "
                          "ablation only")
    params, at = _params(run, path, step)
    rng = np.random.default_rng(seed)
    notes = []
    if kind == "biinduct":
        from .biinduct import BiInductNet, BiInductRunConfig, make_task
        from ..diagnostics.heads import transformer_scores
        cfg = from_dict(BiInductRunConfig, run.config)
        net = BiInductNet(cfg.net_config())
        params = net.check_params(params)
        task = make_task(cfg)
        data = task.eval_data()
        pr = data["probes"]
        scores = transformer_scores(net, params, {"repeat": pr["repeat"],
                                                  "reverse": pr["reverse"]})
        measure = transformer_measure(net, params, data["chain"], pr["kv"], mode=mode)
        layers, heads = net.cfg.n_layers, net.cfg.heads
        notes.append("probes: [BOS r r] with a distinct span of "
                     f"{pr['repeat'].info['L']} tokens, [prefix S SEP reverse(S)] with "
                     f"|S| = {pr['reverse'].info['m']}; loss = chain loss, ICL = key→value "
                     "probe accuracy")
        notes.append("anti-induction: its key never holds the query's token; read it beside "
                     "anti_dup (attention to the duplicate) and the reversed-span loss")
    elif kind == "clamp":
        from ..tasks.singh import SinghTask
        from ..transformer.config import TransformerRunConfig
        from ..transformer.singh import SinghNet
        cfg = from_dict(TransformerRunConfig, run.config)
        net = SinghNet(cfg.net_config(), ())
        params = net.check_params(params)
        task = SinghTask(cfg.task, cfg.seeds)
        sets = task.eval_data()
        tr = sets["train"]
        scores = _id_scores(net, params, tr, _singh_ids(tr), np.array([4]))
        layers, heads = net.cfg.n_layers, net.cfg.heads
        base = transformer_measure(net, params, tr, tr, mode=mode)
        test = sets["test"]
        test_measure = transformer_measure(net, params, test, test, mode=mode)

        def measure(hs):
            a = base(hs)
            b = test_measure(hs)
            return {"loss": a["loss"], "icl": b["icl"], "icl_loss": b["icl_loss"]}
        notes.append("identities: exemplars by class, labels by label id; prefix matching "
                     "(= induction) and duplicate token at the query (position 4); the run's "
                     "training clamps are not applied")
    else:
        from ..nets.attention import AttentionNet
        from ..nets.config import TrainRunConfig
        from ..tasks.icl import ICLTask
        from ..diagnostics.heads import reddy_scores
        cfg = from_dict(TrainRunConfig, run.config)
        net = AttentionNet(cfg.net, cfg.task)
        params = net.check_params(params)
        sets = ICLTask(cfg.task, cfg.seeds).eval_data()
        scores = reddy_scores(net, params, sets["ic"])
        measure = reddy_measure(net, params, sets, mode=mode)
        layers, heads = cfg.net.n_layers, cfg.net.heads
        notes.append("Reddy network on its IC set: prev/ila1 (layer 0), induction = prefix "
                     "matching at the target (= TILA2 per head), duplicate = attention to "
                     "same-class items; copying and anti-induction do not apply (MLP readout; "
                     "no reversed spans)")
    ind = _induction_matrix(scores, layers, heads)
    if not np.isfinite(ind).all():
        ind = np.where(np.isfinite(ind), ind, -1.0)
        notes.append("heads without an induction score rank last")
    abl = top_vs_random(measure, ind, draws=draws, rng=rng)
    return {"run": str(path), "kind": kind, "step": at, "mode": mode, "layers": layers,
            "heads": heads, "scores": scores, "ablation": abl, "notes": notes}

