"""``minimal cot`` and ``minimal cot sweep`` (wired into :mod:`minimal.cli`)."""

from __future__ import annotations

import json
import sys

import numpy as np


def _config(args):
    from ..config import apply_overrides
    from .train import COT_PRESETS
    cfg = COT_PRESETS.get(args.preset)
    pairs = []
    if args.cot is not None:
        pairs.append(("model.cot", args.cot))
    if args.lam is not None:
        pairs.append(("world.lam", args.lam))
    if args.noise is not None:
        pairs.append(("world.noise", args.noise))
    if args.noise_hop is not None:
        pairs.append(("world.noise_hop", args.noise_hop))
    if args.steps is not None:
        pairs.append(("train.steps", args.steps))
    if args.seed is not None:
        pairs.append(("seeds.seed", args.seed))
    if pairs:
        cfg = apply_overrides(cfg, pairs)
    if args.overrides:
        cfg = apply_overrides(cfg, args.overrides)
    return cfg


def t50(steps, acc, level=0.5):
    hit = np.flatnonzero(np.asarray(acc) >= level)
    return int(np.asarray(steps)[hit[0]]) if hit.size else None


def summary(metrics) -> dict:
    out = {}
    for k in ("id_atomic", "ood_atomic", "train_inferred", "test_inferred_iid",
              "test_inferred_ood"):
        out[k] = float(metrics[k][-1])
        out[f"t50_{k}"] = t50(metrics["step"], metrics[k])
    out["max_test_inferred_ood"] = float(np.max(metrics["test_inferred_ood"]))
    out["max_test_inferred_iid"] = float(np.max(metrics["test_inferred_iid"]))
    return out


def cmd_cot(args) -> int:
    from ..cli import CLIError
    from .train import COT_PRESETS, train_cot
    if getattr(args, "cot_command", None):
        return args.sub_func(args)
    if args.list:
        for n, d in COT_PRESETS.describe():
            print(f"{n:<8} {d}")
        return 0
    if args.out is None:
        raise CLIError("--out is required: the run directory to write (or --list)")
    cfg = _config(args)
    model, m, status = train_cot(cfg, args.out, resume=args.resume, progress=not args.quiet)
    s = summary(m)
    print(f"final (step {int(m['step'][-1])}): " + ", ".join(
        f"{k} {s[k]:.3f}" for k in ("id_atomic", "ood_atomic", "train_inferred",
                                     "test_inferred_iid", "test_inferred_ood")))
    print("first step ≥ 0.5: " + ", ".join(f"{k} {s['t50_' + k]}" for k in (
        "id_atomic", "ood_atomic", "test_inferred_iid", "test_inferred_ood")))
    if cfg.model.cot:
        dep = model.stage2_dependence()
        print("stage-2 accuracy with a random replacement of: " +
              ", ".join(f"{k} {v:.3f}" for k, v in dep.items()))
    print(f"run directory: {args.out}")
    return 130 if status == "interrupted" else 0


def run_one(cfg, out=None, progress=False):
    """Sweep runner: train and return (metrics-like dict)."""
    from .train import train_cot
    model, m, status = train_cot(cfg, out, progress=progress)

    class R:
        pass
    r = R()
    r.metrics = m
    return r


def cot_summary(metrics, cfg) -> dict:
    return summary(metrics)


def cmd_sweep(args) -> int:
    from ..sweeps import run_sweep
    base = _config(args)
    axes = {}
    if args.lams:
        axes["world.lam"] = [float(x) for x in args.lams.split(",")]
    if args.noises:
        axes["world.noise"] = [float(x) for x in args.noises.split(",")]
    if args.cots:
        axes["model.cot"] = [x.strip().lower() in ("1", "true", "cot") for x in
                             args.cots.split(",")]
    if not axes:
        axes["world.noise"] = [0.05, 0.8]
    rows = run_sweep(base, axes, range(args.seed0, args.seed0 + args.seeds),
                     "minimal.cot.commands:run_one", "minimal.cot.commands:cot_summary",
                     args.sweep_out, args.workers, not args.quiet, args.resume, kind="cot-sweep")
    if args.json:
        print(json.dumps(rows, default=float))
        return 0
    keys = [k for k in rows[0] if not k.startswith("t50_") or k in (
        "t50_test_inferred_iid", "t50_test_inferred_ood")] if rows else []
    keys = [k for k in keys if k not in ("seconds",)]
    print("  ".join(f"{k[:14]:>14}" for k in keys))
    for r in rows:
        print("  ".join(f"{r[k]:>14.3f}" if isinstance(r[k], float) else f"{str(r[k]):>14}"
                        for k in keys))
    return 0


def register(sub, parser_class, positive_int, nonneg_int):
    p = sub.add_parser("cot", help="two-stage chain-of-thought circuit model (Level 1)")

    def common(q):
        q.add_argument("--preset", default="small", help="small (default), tiny or paper")
        q.add_argument("--cot", dest="cot", action="store_true", default=None,
                       help="CoT format (default)")
        q.add_argument("--no-cot", dest="cot", action="store_false", help="no-CoT format")
        q.add_argument("--lambda", dest="lam", type=float, default=None, help="two-hop ratio λ")
        q.add_argument("--noise", type=float, default=None, help="noise ratio ξ")
        q.add_argument("--noise-hop", choices=("first", "second", "both"), default=None)
        q.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="e.g. --set model.lr=0.05")
        q.add_argument("--steps", type=nonneg_int("--steps"), default=None)
        q.add_argument("--seed", type=nonneg_int("--seed"), default=None)
        q.add_argument("--quiet", action="store_true")
        q.add_argument("--resume", action="store_true")

    common(p)
    p.add_argument("--out", default=None, help="run directory")
    p.add_argument("--list", action="store_true", help="list presets")
    p.set_defaults(func=cmd_cot)
    csub = p.add_subparsers(dest="cot_command", metavar="SUBCOMMAND", parser_class=parser_class)
    s = csub.add_parser("sweep", help="grid over λ, ξ and the format in parallel processes")
    common(s)
    s.add_argument("--lams", default=None, help="comma-separated λ values")
    s.add_argument("--noises", default=None, help="comma-separated ξ values")
    s.add_argument("--cots", default=None, help="comma-separated true/false (CoT format)")
    s.add_argument("--seeds", type=positive_int("--seeds"), default=1)
    s.add_argument("--seed0", type=nonneg_int("--seed0"), default=0)
    s.add_argument("--workers", type=positive_int("--workers"), default=None)
    s.add_argument("--out", dest="sweep_out", default=None, help="results directory")
    s.add_argument("--json", action="store_true")
    s.set_defaults(sub_func=cmd_sweep)
