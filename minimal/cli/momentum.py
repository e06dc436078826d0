"""``minimal momentum``: momentum attention at toy scale (docs/momentum.md).

Subcommands: ``train`` (one run: an arm of the four-arm study or an associative-recall run),
``arms`` (the four arms × seeds: table and hypotheses) and ``recall`` (γ × depth × seeds: γ* per
depth and the power-law fit)."""

from __future__ import annotations

import sys

from ._common import (add_run_args, add_study_args, build_config, finish_training, parse_list,
                      positive_int, print_presets, require_out, resume_overrides,
                      summarise_training)


def cmd_train(args) -> int:
    from ..studies.momentum import MOMENTUM_PRESETS, train_momentum
    if args.list:
        return print_presets(MOMENTUM_PRESETS)
    require_out(args)
    cfg = build_config(args, MOMENTUM_PRESETS)
    res = train_momentum(cfg, args.out, resume=args.resume, force=args.force,
                         progress=not args.quiet, overrides=resume_overrides(args))
    summarise_training(res, args.out)
    m = res.metrics
    if "target_attn" in m and len(m["target_attn"]):
        print(f"second-half loss {m['loss'][-1]:.3f}, accuracy {m['acc'][-1]:.3f}; attention on "
              f"the induction target {m['target_attn'][-1]:.3f} (best head)")
    elif "loss" in m and len(m["loss"]):
        print(f"recall loss {m['loss'][-1]:.3f}, accuracy {m['acc'][-1]:.3f}")
    return finish_training(res)


def _ms(v, nd=3):
    return f"{v[0]:.{nd}f} ± {v[1]:.{nd}f}"


def _seeds(args):
    return tuple(range(args.seed, args.seed + args.seeds))


def cmd_arms(args) -> int:
    from ..studies.momentum import ARM_GAMMA, ARM_STEPS, arms_study
    require_out(args)
    res = arms_study(args.out, _seeds(args), args.steps or ARM_STEPS,
                     ARM_GAMMA if args.gamma is None else args.gamma, args.period_min,
                     args.workers, progress=not args.quiet)
    print(f"{'arm':<9} {'n':>2} {'2nd-half loss':>15} {'accuracy':>15} {'attn i+1':>15} "
          f"{'attn i-1':>15} {'attn t-1':>15}")
    for r in res["table"]:
        print(f"{r['arm']:<9} {r['n']:>2} {_ms(r['loss']):>15} {_ms(r['acc']):>15} "
              f"{_ms(r['target_attn']):>15} {_ms(r['mirror_attn']):>15} "
              f"{_ms(r['prev_attn']):>15}")
    per = ("16" if res["period_min"] is None else f"uniform in [{res['period_min']}, 16]")
    print(f"final values (mean of the last 3 evaluations) after {res['steps']} steps, mean ± sd "
          f"over seeds {res['seeds']}; γ = {res['gamma']:g}; period {per}; attention of a "
          "second-half query t (its token's earlier copy at i) on keys i+1 (the induction "
          "target), i-1 and t-1, for the head with the most on i+1")
    for h in res["hypotheses"]:
        print(f"{h['hypothesis']}: {'supported' if h['supported'] else 'NOT supported'} "
              f"({h['value']:.3f})")
    return res["exit_status"]


def cmd_recall(args) -> int:
    from ..studies.momentum import DEPTHS, GAMMA_GRID, RECALL_STEPS, recall_study
    require_out(args)
    gammas = (tuple(sorted(parse_list("--gammas", args.gammas, float, -1.0, 100.0)))
              if args.gammas else GAMMA_GRID)
    depths = (tuple(sorted(parse_list("--depths", args.depths, int, 1, 8))) if args.depths
              else DEPTHS)
    res = recall_study(args.out, gammas, depths, _seeds(args), args.steps or RECALL_STEPS,
                       args.workers, progress=not args.quiet)
    print(f"{'depth':>5} {'γ':>6} {'n':>2} {'loss':>15} {'accuracy':>15}")
    for r in res["table"]:
        print(f"{r['depth']:>5} {r['gamma']:>6g} {r['n']:>2} {_ms(r['loss']):>15} "
              f"{_ms(r['acc']):>15}")
    print(f"final recall loss (mean of the last 3 evaluations) after {res['steps']} steps, "
          f"mean ± sd over seeds {res['seeds']}")
    for s in res["gamma_star"]:
        if not s["complete"]:
            print(f"depth {s['depth']}: γ* not computed (its γ × seed grid is incomplete)")
            continue
        how = ("parabola vertex" if s["refined"] else
               "grid edge: only a bound, not fitted" if s["edge"] else "grid point")
        per = ", ".join(f"{v:.3g}" for v in s["seed_gamma_star"])
        print(f"depth {s['depth']}: γ* = {s['gamma_star']:.3f} ({how}; per seed {per})")
    f = res["fit"]
    if f is None:
        print("power law not fitted: fewer than 3 complete depths with γ* > 0 inside the grid")
    else:
        ci = (f"[{f['b_ci95'][0]:.2f}, {f['b_ci95'][1]:.2f}]" if f["b_ci95"] else "n/a")
        se = f"{f['b_se']:.3f}" if f["b_se"] is not None else "n/a"
        print(f"γ* = {f['a']:.3g} · N^(−b), b = {f['b']:.3f} ± {se} (95 % {ci}), "
              f"R² {f['r2']:.3f}; the paper: {f['paper_a']} · N^(−{f['paper_b']})")
    return res["exit_status"]


def _study_args(s):
    add_study_args(s, "training steps per run (default 1,500)")
    s.add_argument("--quiet", action="store_true")


def register(sub, parser_class) -> None:
    p = sub.add_parser("momentum", help="momentum attention: four-arm induction study and "
                       "associative recall (train | arms | recall)")
    msub = p.add_subparsers(dest="momentum_command", metavar="SUBCOMMAND",
                            parser_class=parser_class)

    def no_sub(a):
        p.print_help(sys.stderr)
        return 2
    p.set_defaults(func=no_sub)
    t = msub.add_parser("train", help="train one run (preset arm-mom+rope; see --list)")
    add_run_args(t, "arm-mom+rope", "run preset (see --list)")
    t.set_defaults(func=cmd_train)
    a = msub.add_parser("arms", help="the four arms × seeds on period-16 repeats: "
                        "second-half loss, target attention, the hypotheses")
    _study_args(a)
    a.add_argument("--gamma", type=float, default=None,
                   help="γ of the momentum arms (default 1.0)")
    a.add_argument("--period-min", type=positive_int("--period-min", 16), default=None,
                   help="periods uniform in [PERIOD_MIN, 16] per sequence (default: all 16)")
    a.set_defaults(func=cmd_arms)
    r = msub.add_parser("recall", help="associative recall: γ × depth × seeds, γ* per depth, "
                        "the power-law fit")
    _study_args(r)
    r.add_argument("--gammas", default=None,
                   help="γ grid (default 0,0.1,0.2,0.4,0.8,1.6,3.2)")
    r.add_argument("--depths", default=None, help="depths (default 1,2,3,4)")
    r.set_defaults(func=cmd_recall)
