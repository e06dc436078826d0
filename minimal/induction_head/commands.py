"""``minimal ih ...`` command line (wired into :mod:`minimal.cli`)."""

from __future__ import annotations

import json
import sys

from ..errors import ConfigError


def _config(args):
    from ..config import apply_overrides
    from .model import IH_PRESETS
    cfg = IH_PRESETS.get(args.preset)
    pairs = [("ih.variant", args.variant), ("ih.classifier", args.classifier)]
    if args.seed is not None:
        pairs.append(("seeds.seed", args.seed))
    if args.steps is not None:
        pairs.append(("train.steps", args.steps))
    cfg = apply_overrides(cfg, pairs)
    if args.overrides:
        cfg = apply_overrides(cfg, args.overrides)
    return cfg


def cmd_ih(args) -> int:
    from ..cli import CLIError, _print_presets, _summarise_run
    from .model import IH_PRESETS
    from .train import train_ih
    if getattr(args, "ih_command", None):
        return args.sub_func(args)
    if args.list:
        return _print_presets(IH_PRESETS)
    if args.out is None:
        raise CLIError("--out is required: the run directory to write (or --list)")
    cfg = _config(args)
    res = train_ih(cfg, args.out, resume=args.resume, progress=not args.quiet)
    _summarise_run(res, args.out)
    m = res.metrics
    if "beta1" in m and len(m["beta1"]):
        print(f"parameters: beta1 {m['beta1'][-1]:.3f}, alpha {m['alpha'][-1]:.3f}, beta2 "
              f"{m['beta2'][-1]:.3f}, xi {m['xi'][-1]:.3f}")
    if res.status == "interrupted":
        print(f"interrupted at step {res.step}; continue with --resume", file=sys.stderr)
        return 130
    return 0


def _parse_list(name, text, conv=float):
    try:
        return [conv(x) for x in text.split(",") if x != ""]
    except ValueError:
        raise ConfigError(name, text, "must be a comma-separated list of numbers") from None


def cmd_sweep(args) -> int:
    from . import experiments as E
    seeds = range(args.seed, args.seed + args.seeds)
    common = dict(out=args.out, workers=args.workers, progress=not args.quiet,
                  resume=args.resume)
    if args.kind == "data":
        rows = E.data_dependence(args.variant, args.classifier or "mlp3", seeds=seeds,
                                 steps=args.steps or 20_000, quick=args.quick, **common)
        table = E.fraction_table(rows, ("axis", "value"))
    elif args.kind == "saddle":
        Ns = _parse_list("--Ns", args.Ns, int)
        rows = E.saddle_experiment(args.variant, Ns=Ns, seeds=seeds,
                                   steps=args.steps or 20_000,
                                   classifier=args.classifier or "linear", **common)
        table = E.fraction_table(rows, ("task.N", "task.L"))
    else:
        rows = E.init_dependence(seeds=seeds, steps=args.steps or 20_000,
                                 classifier=args.classifier or "linear", **common)
        table = E.fraction_table(rows, ("variant", "ih.beta1_0", "ih.alpha_0"))
    if args.json:
        print(json.dumps({"kind": args.kind, "table": table}))
        return 0
    keys = list(table[0]) if table else []
    print("  ".join(f"{k:>12}" for k in keys))
    for r in table:
        print("  ".join(f"{r[k]:>12.3f}" if isinstance(r[k], float) else f"{str(r[k]):>12}"
                        for k in keys))
    if args.out:
        print(f"results: {args.out}")
    return 0


def register(sub, parser_class, positive_int, nonneg_int):
    p = sub.add_parser("ih", help="minimal induction-head models (train; 'ih sweep' for grids)")
    p.add_argument("--variant", default="ih3", choices=("ih3", "ih2", "ih2-labels"))
    p.add_argument("--classifier", default="linear", choices=("linear", "mlp3"))
    p.add_argument("--preset", default="reddy-fig3", help="task preset (see --list)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field, e.g. --set ih.lr_attn=0.05 --set task.K=512")
    p.add_argument("--steps", type=nonneg_int("--steps"), default=None)
    p.add_argument("--seed", type=nonneg_int("--seed"), default=None)
    p.add_argument("--out", default=None, help="run directory")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--list", action="store_true", help="list presets")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_ih)
    isub = p.add_subparsers(dest="ih_command", metavar="SUBCOMMAND", parser_class=parser_class)
    s = isub.add_parser("sweep", help="grids of runs in parallel processes (one thread each)")
    s.add_argument("--kind", choices=("data", "saddle", "init"), default="data",
                   help="data dependence, L = N saddle, or initialisation dependence")
    s.add_argument("--variant", default=None, choices=("ih3", "ih2", "ih2-labels"))
    s.add_argument("--classifier", default=None, choices=("linear", "mlp3"))
    s.add_argument("--Ns", default="2,4,8", help="saddle: context sizes (L = N, 2N, 4N)")
    s.add_argument("--seeds", type=positive_int("--seeds"), default=None)
    s.add_argument("--seed", type=nonneg_int("--seed"), default=0, help="first seed")
    s.add_argument("--steps", type=positive_int("--steps"), default=None)
    s.add_argument("--workers", type=positive_int("--workers"), default=None)
    s.add_argument("--quick", action="store_true")
    s.add_argument("--out", default=None, help="results directory (results.csv + run.json)")
    s.add_argument("--resume", action="store_true", help="skip runs already in results.csv")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true")

    def sweep_defaults(a):
        if a.variant is None:
            a.variant = {"data": "ih3", "saddle": "ih2-labels", "init": "ih3"}[a.kind]
        if a.seeds is None:
            a.seeds = {"data": 2, "saddle": 6, "init": 3}[a.kind]
        return cmd_sweep(a)

    s.set_defaults(sub_func=sweep_defaults)
