"""``minimal ih`` (train a minimal induction-head model) and ``minimal ih sweep``."""

from __future__ import annotations

import json

from ._common import (add_run_args, build_config, finish_training, nonneg_int, parse_list,
                      positive_int, print_presets, require_out, resume_overrides,
                      summarise_training)


def _pairs(args) -> list:
    pairs = []
    if args.variant is not None:
        pairs.append(("ih.variant", args.variant))
    if args.classifier is not None:
        pairs.append(("ih.classifier", args.classifier))
    return pairs


def cmd_ih(args) -> int:
    from ..induction_head.config import IH_PRESETS
    from ..induction_head.train import train_ih
    if getattr(args, "ih_command", None):
        return args.sub_func(args)
    if args.list:
        return print_presets(IH_PRESETS)
    require_out(args)
    cfg = build_config(args, IH_PRESETS, _pairs(args))
    res = train_ih(cfg, args.out, resume=args.resume, force=args.force,
                   progress=not args.quiet, overrides=resume_overrides(args, _pairs(args)))
    summarise_training(res, args.out)
    m = res.metrics
    if "beta1" in m and len(m["beta1"]):
        print(f"parameters: beta1 {m['beta1'][-1]:.3f}, alpha {m['alpha'][-1]:.3f}, beta2 "
              f"{m['beta2'][-1]:.3f}, xi {m['xi'][-1]:.3f}")
    return finish_training(res)


def cmd_sweep(args) -> int:
    from ..induction_head import experiments as E
    seeds = range(args.seed, args.seed + args.seeds)
    common = dict(out=args.out, workers=args.workers, progress=not args.quiet,
                  resume=args.resume, quick=args.quick, scheduler=args.scheduler)
    if args.kind == "data":
        rows = E.data_dependence(args.variant, args.classifier or "mlp3", seeds=seeds,
                                 steps=args.steps, **common)
        table = E.fraction_table(rows, ("axis", "value"))
    elif args.kind == "saddle":
        Ns = parse_list("--Ns", args.Ns, int, lo=1, hi=32)
        rows = E.saddle_experiment(args.variant, Ns=Ns, seeds=seeds, steps=args.steps,
                                   classifier=args.classifier or "linear", **common)
        table = E.fraction_table(rows, ("task.N", "task.L"))
    else:
        rows = E.init_dependence(seeds=seeds, steps=args.steps,
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


def register(sub, parser_class) -> None:
    from ..induction_head.config import CLASSIFIERS, VARIANTS
    p = sub.add_parser("ih", help="minimal induction-head models (train; 'ih sweep' for grids)")
    p.add_argument("--variant", default=None, choices=VARIANTS,
                   help="model variant (default: the preset's)")
    p.add_argument("--classifier", default=None, choices=CLASSIFIERS,
                   help="classifier (default: the preset's)")
    add_run_args(p, "reddy-fig3", "task preset (see --list)")
    p.set_defaults(func=cmd_ih)
    isub = p.add_subparsers(dest="ih_command", metavar="SUBCOMMAND", parser_class=parser_class)
    s = isub.add_parser("sweep", help="grids of runs in parallel processes (one thread each)")
    s.add_argument("--kind", choices=("data", "saddle", "init"), default="data",
                   help="data dependence, L = N saddle, or initialisation dependence")
    s.add_argument("--variant", default=None, choices=VARIANTS)
    s.add_argument("--classifier", default=None, choices=CLASSIFIERS)
    s.add_argument("--Ns", default="2,4,8", help="saddle: context sizes (L = N, 2N, 4N)")
    s.add_argument("--seeds", type=positive_int("--seeds", 1000), default=None)
    s.add_argument("--seed", type=nonneg_int("--seed"), default=0, help="first seed")
    s.add_argument("--steps", type=positive_int("--steps", 10**9), default=None,
                   help="steps per run (default 20,000; --quick 4,000)")
    s.add_argument("--workers", type=positive_int("--workers", 256), default=None)
    s.add_argument("--scheduler", default=None, metavar="local|local-dask|tcp://HOST:PORT",
                   help="where the runs go (see minimal sweep --help)")
    s.add_argument("--quick", action="store_true",
                   help="a small grid, few seeds and steps (every kind)")
    s.add_argument("--out", default=None, help="results directory (results.csv + run.json)")
    s.add_argument("--resume", action="store_true", help="skip runs already in results.csv")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true")

    def sweep_defaults(a):
        if a.variant is None:
            a.variant = {"data": "ih3", "saddle": "ih2-labels", "init": "ih3"}[a.kind]
        if a.seeds is None:
            a.seeds = ({"data": 2, "saddle": 6, "init": 3} if not a.quick else
                       {"data": 1, "saddle": 2, "init": 1})[a.kind]
        if a.steps is None:
            a.steps = 4000 if a.quick else 20_000
        return cmd_sweep(a)

    s.set_defaults(sub_func=sweep_defaults)
