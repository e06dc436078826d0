"""``minimal ih`` (train a minimal induction-head model; the two-parameter ih2-labels by
default), ``minimal ih sweep`` (data dependence, L = N saddle, initialisation dependence),
``minimal ih ceiling`` (IC accuracy of an ideal induction head vs ε) and ``minimal ih bridge``
(fit the minimal model's time scale to network IC curves and predict transition steps)."""

from __future__ import annotations

import json

from ._common import (CLIError, add_run_args, build_config, finish_training, nonneg_int,
                      parse_list, positive_int, print_presets, require_out, resume_overrides,
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
        variant = (cfg.ih.variant if cfg is not None else
                   res.run.manifest["config"]["ih"]["variant"])
        print(f"{variant}: beta1 {m['beta1'][-1]:.3f}, alpha {m['alpha'][-1]:.3f}, "
              f"beta2 {m['beta2'][-1]:.3f}, xi {m['xi'][-1]:.3f}")
    return finish_training(res)


def _print_table(table: list[dict]) -> None:
    keys = list(table[0]) if table else []
    print("  ".join(f"{k:>12}" for k in keys))
    for r in table:
        print("  ".join(f"{r[k]:>12.4g}" if isinstance(r[k], float) else f"{str(r[k]):>12}"
                        for k in keys))


def cmd_sweep(args) -> int:
    from ..induction_head import experiments as E
    seeds = range(args.seed, args.seed + args.seeds)
    common = dict(out=args.out, workers=args.workers, progress=not args.quiet,
                  resume=args.resume, quick=args.quick, scheduler=args.scheduler)
    extra = {}
    if args.kind == "data":
        rows = E.data_dependence(args.variant, args.classifier or "mlp3", seeds=seeds,
                                 steps=args.steps, **common)
        table = E.data_table(rows)
    elif args.kind == "saddle":
        Ns = parse_list("--Ns", args.Ns, int, lo=1, hi=32)
        rows = E.saddle_experiment(args.variant, Ns=Ns, seeds=seeds, steps=args.steps,
                                   classifier=args.classifier or "linear", **common)
        table = E.fraction_table(rows, ("task.N", "task.L"))
    else:
        variants = E.INIT_VARIANTS if args.variant is None else (args.variant,)
        rows = E.init_dependence(variants, seeds=seeds, steps=args.steps,
                                 classifier=args.classifier or "linear", **common)
        table = E.escape_table(rows)
        extra["verdict"] = E.init_verdict(table)
    if args.json:
        print(json.dumps({"kind": args.kind, "table": table, **extra}))
        return 0
    _print_table(table)
    for v in extra.get("verdict", []):
        print(f"{v['reduced']} (reduces {v['parent']}): of {v['inits']} initialisations, "
              f"succeeds from {len(v['succeed'])}, fails from {len(v['fail'])} where "
              f"{v['parent']} succeeds, both fail at {len(v['parent_fails'])}, mixed at "
              f"{len(v['mixed'])} -> initialisation dependence "
              f"{'holds' if v['holds'] else 'does not hold'}")
    if args.out:
        print(f"results: {args.out}")
    return 0


def cmd_ceiling(args) -> int:
    from ..induction_head.experiments import ic_ceiling
    eps = parse_list("--eps", args.eps, float, lo=0.0, hi=100.0)
    if len(eps) > 64:
        raise CLIError(f"--eps has {len(eps)} values: at most 64")
    table = ic_ceiling(eps, n=args.n, seed=args.seed)
    if args.json:
        print(json.dumps({"table": table}))
        return 0
    _print_table(table)
    return 0


def _setting(text: str) -> dict:
    out = {}
    for item in parse_list("--fit-on", text, str):
        key, sep, val = item.partition("=")
        if not sep or key.strip() not in ("K", "B", "N", "L"):
            raise CLIError(f"--fit-on={text!r} is invalid: entries are K=…, B=…, N=… or L=…")
        try:
            out[key.strip()] = int(val)
        except ValueError:
            raise CLIError(f"--fit-on={text!r} is invalid: {key.strip()} needs an "
                           "integer") from None
    return out


def cmd_bridge(args) -> int:
    from pathlib import Path

    from ..studies.ih_bridge import fit_bridge, network_curves
    fit_on = _setting(args.fit_on)
    grid = tuple(parse_list("--beta1-grid", args.beta1_grid, float, lo=-10.0, hi=6.0))
    if not Path(args.net).is_dir():
        raise CLIError(f"--net={args.net!r} is invalid: not a directory (a network sweep or "
                       "run directory)")
    curves = network_curves(args.net)
    res = fit_bridge(curves, fit_on, classifier=args.classifier or "mlp3",
                     sim_steps=args.sim_steps, beta1_grid=grid, seed=args.seed)
    if args.json:
        res = {k: v for k, v in res.items() if k != "sims"}
        print(json.dumps(res))
        return 0
    print(f"fit on {fit_on}: time scale s = {res['scale']:.4g} network steps per minimal-model "
          f"step (log10 s = {res['log10_scale']:.4f} ± {res['log10_scale_se']:.4f}), "
          f"beta1(0) = {res['beta1_0']:g}, R² = {res['r2']:.4f}")
    _print_table(res["rows"])
    return 0


def register(sub, parser_class) -> None:
    from ..induction_head.config import CLASSIFIERS, HEADLINE, VARIANTS
    from ..induction_head.experiments import DATA_STEPS, INIT_STEPS
    p = sub.add_parser("ih", help=f"minimal induction-head models (default {HEADLINE}; 'ih "
                                  "sweep', 'ih ceiling', 'ih bridge')")
    p.add_argument("--variant", default=None, choices=VARIANTS,
                   help=f"model variant (default: the preset's, {HEADLINE})")
    p.add_argument("--classifier", default=None, choices=CLASSIFIERS,
                   help="classifier (default: the preset's)")
    add_run_args(p, "reddy-fig3", "task preset (see --list)")
    p.set_defaults(func=cmd_ih)
    isub = p.add_subparsers(dest="ih_command", metavar="SUBCOMMAND", parser_class=parser_class)
    s = isub.add_parser("sweep", help="grids of runs in parallel processes (one thread each)")
    s.add_argument("--kind", choices=("data", "saddle", "init"), default="data",
                   help="data dependence, L = N saddle, or initialisation dependence")
    s.add_argument("--variant", default=None, choices=VARIANTS,
                   help=f"data/saddle: the model (default {HEADLINE}); init: one variant only "
                        "(default: the two-parameter model and its reductions)")
    s.add_argument("--classifier", default=None, choices=CLASSIFIERS)
    s.add_argument("--Ns", default="2,4,8", help="saddle: context sizes (L = N, 2N, 4N)")
    s.add_argument("--seeds", type=positive_int("--seeds", 1000), default=None)
    s.add_argument("--seed", type=nonneg_int("--seed"), default=0, help="first seed")
    s.add_argument("--steps", type=positive_int("--steps", 10**9), default=None,
                   help=f"steps per run (default: data {DATA_STEPS:,}, init {INIT_STEPS:,}, "
                        "saddle 20,000)")
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
        if a.variant is None and a.kind != "init":
            a.variant = HEADLINE
        if a.seeds is None:
            a.seeds = ({"data": 3, "saddle": 6, "init": 3} if not a.quick else
                       {"data": 1, "saddle": 2, "init": 1})[a.kind]
        if a.steps is None:
            a.steps = (4000 if a.quick else
                       {"data": DATA_STEPS, "saddle": 20_000, "init": INIT_STEPS}[a.kind])
        return cmd_sweep(a)

    s.set_defaults(sub_func=sweep_defaults)

    c = isub.add_parser("ceiling", help="IC accuracy of an ideal induction head vs ε")
    c.add_argument("--eps", default="0,0.1,0.4,0.8,1.6,3.2",
                   help="comma-separated ε values (≤ 64 of them)")
    c.add_argument("--n", type=positive_int("--n", 100_000, "sequences per set"), default=4000,
                   help="IC sequences per ε")
    c.add_argument("--seed", type=nonneg_int("--seed"), default=0)
    c.add_argument("--json", action="store_true")
    c.set_defaults(sub_func=cmd_ceiling)

    b = isub.add_parser("bridge", help="fit the minimal model's time scale to network IC "
                                       "curves and predict transition steps")
    b.add_argument("--net", required=True, help="a network sweep directory (runs/*) or run")
    b.add_argument("--fit-on", default="K=256,B=1",
                   help="the setting whose curve is fitted (default K=256,B=1: reddy-fig3)")
    b.add_argument("--classifier", default=None, choices=CLASSIFIERS,
                   help="minimal model's classifier (default mlp3)")
    b.add_argument("--sim-steps", type=positive_int("--sim-steps", 10**7), default=20_000,
                   help="minimal-model steps per simulation")
    b.add_argument("--beta1-grid", default="-3,-2,-1", help="initial β₁ values tried")
    b.add_argument("--seed", type=nonneg_int("--seed"), default=0)
    b.add_argument("--json", action="store_true")
    b.set_defaults(sub_func=cmd_bridge)
