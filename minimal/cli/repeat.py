"""``minimal repeat``: the repeated-data toy (docs/repeat.md).

Subcommands: ``train`` (one run) and ``study`` (f × |R| × seeds: the table and the three
hypotheses)."""

from __future__ import annotations

import sys

from ._common import (add_run_args, add_study_args, build_config, finish_training, parse_list,
                      print_presets, require_out, resume_overrides, summarise_training)


def cmd_train(args) -> int:
    from ..studies.repeat import REPEAT_PRESETS, train_repeat
    if args.list:
        return print_presets(REPEAT_PRESETS)
    require_out(args)
    cfg = build_config(args, REPEAT_PRESETS)
    res = train_repeat(cfg, args.out, resume=args.resume, force=args.force,
                       progress=not args.quiet, overrides=resume_overrides(args))
    summarise_training(res, args.out)
    m = res.metrics
    if "fresh_loss" in m and len(m["fresh_loss"]):
        print(f"fresh second-copy loss {m['fresh_loss'][-1]:.3f}; pool loss "
              f"{m['pool_loss'][-1]:.3f} (fresh, all positions {m['fresh_all_loss'][-1]:.3f}); "
              f"largest induction score {m['ind_max'][-1]:.3f}")
    return finish_training(res)


def _ms(v, nd=3):
    return f"{v[0]:.{nd}f} ± {v[1]:.{nd}f}"


def cmd_study(args) -> int:
    from ..studies.repeat import DEFAULT_STEPS, FRAC_GRID, POOL_GRID, study
    require_out(args)
    fracs = parse_list("--fracs", args.fracs, float, 0.0, 1.0) if args.fracs else FRAC_GRID
    pools = parse_list("--pools", args.pools, int, 1, 1 << 20) if args.pools else POOL_GRID
    seeds = tuple(range(args.seed, args.seed + args.seeds))
    res = study(args.out, fracs, pools, seeds, args.steps or DEFAULT_STEPS, args.workers,
                progress=not args.quiet)
    print(f"{'f':>4} {'|R|':>6} {'n':>2} {'epochs':>8} {'fresh loss':>15} {'ind. score':>15} "
          f"{'pool loss':>15} {'DD rise':>15} {'DD fall':>15}")
    for r in res["table"]:
        print(f"{r['f']:>4} {r['pool']:>6} {r['n']:>2} {r['epochs']:>8.2f} "
              f"{_ms(r['fresh_loss']):>15} {_ms(r['ind_max']):>15} {_ms(r['pool_loss']):>15} "
              f"{_ms(r['dd_rise']):>15} {_ms(r['dd_fall']):>15}")
    print(f"final values after {res['steps']} steps, mean ± sd over seeds {res['seeds']}; fresh "
          "loss on the predictable second copy (nats); induction score: largest over heads")
    for h in res["hypotheses"]:
        print(f"f = {h['f']}: worst fresh loss at |R| = {h['worst_pool']}, lowest induction at "
              f"|R| = {h['lowest_induction_pool']}; (1) non-monotone: "
              f"{'supported' if h['h1_nonmonotone'] else 'NOT supported'}; (2) induction lowest "
              f"there: {'supported' if h['h2_induction_lowest_there'] else 'NOT supported'}; "
              f"(3) double descent there: "
              f"{'supported' if h['h3_double_descent_there'] else 'NOT supported'}")
    return res["exit_status"]


def register(sub, parser_class) -> None:
    p = sub.add_parser("repeat", help="the repeated-data toy: fresh vs repeated sequences "
                       "(train | study)")
    rsub = p.add_subparsers(dest="repeat_command", metavar="SUBCOMMAND",
                            parser_class=parser_class)

    def no_sub(a):
        p.print_help(sys.stderr)
        return 2
    p.set_defaults(func=no_sub)
    t = rsub.add_parser("train", help="train one run (preset repeat-toy)")
    add_run_args(t, "repeat-toy", "run preset (see --list)")
    t.set_defaults(func=cmd_train)
    s = rsub.add_parser("study", help="f × |R| × seeds: fresh loss, induction score, pool "
                        "loss, double descent, the three hypotheses")
    add_study_args(s, "training steps per run (default 15,000)")
    s.add_argument("--fracs", default=None, help="repeat fractions f (default 0.1,0.5)")
    s.add_argument("--pools", default=None,
                   help="pool sizes |R| (default every power of two from 16 to 16384)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_study)
