"""``minimal biinduct``: the Bi-Induct toy (docs/biinduct.md).

Subcommands: ``train`` (one run of an arm's preset) and ``study`` (every arm × seed, the table
and the four hypotheses)."""

from __future__ import annotations

import json
import sys

from ._common import (CLIError, add_run_args, build_config, finish_training, nonneg_int,
                      positive_int, print_presets, require_out, resume_overrides,
                      summarise_training)


def cmd_train(args) -> int:
    from ..studies.biinduct import BIINDUCT_PRESETS, train_biinduct
    if args.list:
        return print_presets(BIINDUCT_PRESETS)
    require_out(args)
    cfg = build_config(args, BIINDUCT_PRESETS)
    res = train_biinduct(cfg, args.out, resume=args.resume, force=args.force,
                         progress=not args.quiet, overrides=resume_overrides(args))
    summarise_training(res, args.out)
    m = res.metrics
    if "loss" in m and len(m["loss"]):
        floor = res.run.manifest["resolved"]["chain_entropy_rate"] if res.run else None
        ind = max(m[c][-1] for c in m if c.endswith(".induction"))
        print(f"chain loss {m['loss'][-1]:.4f}" + (f" (floor {floor:.4f})" if floor else "") +
              f"; reversed-span loss {m['rev_loss'][-1]:.3f}; ICL probe accuracy "
              f"{m['icl_acc'][-1]:.3f}; largest induction score {ind:.3f}")
    return finish_training(res)


def _f(s, nd=3):
    if s is None or s.get("mean") is None:
        return "—"
    return f"{s['mean']:.{nd}f} ± {s['std']:.{nd}f}"


def _json_default(o):
    import numpy as np
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def cmd_study(args) -> int:
    from ..studies.biinduct import DEFAULT_STEPS, STUDY_ARMS, study
    require_out(args)
    arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
    bad = [a for a in arms if a not in STUDY_ARMS]
    if bad or not arms:
        raise CLIError(f"--arms={args.arms!r} is invalid: choose among "
                       f"{', '.join(STUDY_ARMS)}")
    seeds = tuple(range(args.seed, args.seed + args.seeds))
    steps = args.steps or (200 if args.quick else DEFAULT_STEPS)
    res = study(args.out, seeds=seeds, steps=steps, arms=arms, quick=args.quick,
                workers=args.workers, progress=not args.quiet, draws=args.draws)
    if args.json:
        slim = {k: v for k, v in res.items() if k != "per_run"}
        print(json.dumps(slim, default=_json_default))
        return 0
    cols = (("induction", "induction"), ("anti", "anti-ind."), ("duplicate", "dup-token"),
            ("chain_excess", "chain − floor"), ("rev_loss", "rev-span loss"),
            ("icl_acc", "ICL acc"),
            ("top_icl_drop", "top-k ICL drop"), ("random_icl_drop", "random ICL drop"))
    print(f"{'arm':<9} {'step':>6} " + " ".join(f"{h:>15}" for _, h in cols))
    for r in res["rows"]:
        print(f"{r['arm']:<9} {r['step']:>6} " + " ".join(f"{_f(r[k]):>15}" for k, _ in cols))
    floors = ", ".join(f"{f:.4f}" for f in res["rows"][0]["floors"])
    print(f"mean ± sd over seeds {res['seeds']}; max over heads for the scores; chain loss "
          f"minus its floor, the chain's entropy rate (per seed: {floors} nats); ln 64 = 4.159")
    for h in res["hypotheses"]:
        print(f"({h['id']}) {h['claim']}: {'supported' if h['supported'] else 'NOT supported'}")
    return 0


def register(sub, parser_class) -> None:
    p = sub.add_parser("biinduct", help="the Bi-Induct toy: forward/backward snippets in a "
                       "bigram-chain stream (train | study)")
    bsub = p.add_subparsers(dest="biinduct_command", metavar="SUBCOMMAND",
                            parser_class=parser_class)

    def no_sub(a):
        p.print_help(sys.stderr)
        return 2
    p.set_defaults(func=no_sub)
    t = bsub.add_parser("train", help="train one run (preset biinduct-<arm>)")
    add_run_args(t, "biinduct-forward", "run preset (see --list)")
    t.set_defaults(func=cmd_train)
    s = bsub.add_parser("study", help="every arm × seed: scores, losses, ICL probe, ablation, "
                        "the four hypotheses")
    s.add_argument("--out", default=None, help="study directory (finished runs are reused)")
    s.add_argument("--arms", default="natural,forward,backward,balanced,equal",
                   help="comma-separated arms (default all five)")
    s.add_argument("--seeds", type=positive_int("--seeds", 100), default=3)
    s.add_argument("--seed", type=nonneg_int("--seed", 10**6), default=0, help="first seed")
    s.add_argument("--steps", type=positive_int("--steps", 10**8), default=None,
                   help="steps of the snippet arms (default 4,000; --quick 200)")
    s.add_argument("--draws", type=positive_int("--draws", 1000), default=20,
                   help="random matched ablations (default 20)")
    s.add_argument("--workers", type=positive_int("--workers", 64), default=1,
                   help="training processes (default 1)")
    s.add_argument("--quick", action="store_true", help="a small network and short runs")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_study)
