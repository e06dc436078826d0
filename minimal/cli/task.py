"""``minimal task sample | stats | presets``: the bursty in-context classification task."""

from __future__ import annotations

import json
import sys

from ._common import CLIError, nonneg_int, positive_int, print_presets


def _config(args):
    from ..config import Seeds, apply_overrides
    from ..tasks.config import TASK_PRESETS, TaskRunConfig
    cfg = TaskRunConfig(task=TASK_PRESETS.get(args.preset), seeds=Seeds())
    if args.seed is not None:
        cfg = apply_overrides(cfg, [("seeds.seed", args.seed)])
    if args.overrides:
        cfg = apply_overrides(cfg, args.overrides)
    return cfg


def _split(args):
    from ..tasks.icl import SPLITS
    if args.split not in SPLITS:
        raise CLIError(f"--split={args.split!r} is invalid: choose one of {', '.join(SPLITS)}")


def cmd_sample(args) -> int:
    from ..config import to_dict
    from ..tasks.icl import ICLTask, format_sequence
    _split(args)
    cfg = _config(args)
    task = ICLTask(cfg.task, cfg.seeds, warn=not args.json)
    batch = task.sample(args.split, args.n, step=args.step)
    if args.json:
        obj = batch.to_json_dict()
        obj["config"] = to_dict(cfg)
        obj["step"] = args.step if args.split == "train" else None
        json.dump(obj, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(task.describe())
    where = f"training batch at step {args.step}" if args.split == "train" else \
        f"evaluation set {args.split.upper()}"
    print(f"\n{args.n} sequence(s) from the {where}:")
    for i in range(len(batch)):
        print()
        print(format_sequence(batch, i))
    return 0


def cmd_stats(args) -> int:
    from ..tasks.icl import ICLTask
    from ..tasks.icl_stats import format_rows, task_statistics
    _split(args)
    cfg = _config(args)
    task = ICLTask(cfg.task, cfg.seeds, warn=not args.json)
    rows = task_statistics(task, n=args.n, split=args.split)
    ok = all(r.ok for r in rows)
    if args.json:
        json.dump({"split": args.split, "n": args.n, "all_ok": ok,
                   "rows": [r.to_dict() for r in rows]}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"{args.n} sequences of split '{args.split}' "
              f"(preset {args.preset}; false-alarm rate 1e-6 per row)\n")
        print(format_rows(rows))
        print("\nall invariants hold" if ok else "\nSOME INVARIANTS FAIL (rows marked NO)")
    return 0 if ok else 1


def cmd_presets(args) -> int:
    from ..tasks.config import TASK_PRESETS
    return print_presets(TASK_PRESETS)


def _task_args(p):
    p.add_argument("--preset", default="reddy-default", help="task preset (task presets)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field, e.g. --set task.B=4 (repeatable)")
    p.add_argument("--seed", type=nonneg_int("--seed"), default=None, help="run seed")
    p.add_argument("--split", default="train", help="train, test, ic, ic2 or iw")


def register(sub, parser_class) -> None:
    t = sub.add_parser("task", help="the in-context classification task")
    tsub = t.add_subparsers(dest="task_command", metavar="SUBCOMMAND", parser_class=parser_class)
    ts = tsub.add_parser("sample", help="print a few sequences readably (or as JSON)")
    _task_args(ts)
    ts.add_argument("--n", type=positive_int("--n", 10_000, "sequences to print"), default=3,
                    help="sequences (default 3, at most 10,000)")
    ts.add_argument("--step", type=nonneg_int("--step", 10**12), default=0,
                    help="training step of the batch (split train)")
    ts.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ts.set_defaults(func=cmd_sample)
    st = tsub.add_parser("stats", help="measure the statistical invariants (measured vs "
                         "expected)")
    _task_args(st)
    st.add_argument("--n", type=positive_int("--n", 2_000_000, "the generated sequences are "
                                             "held in memory"), default=20000,
                    help="sequences (default 20000, at most 2,000,000)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_stats)
    tp = tsub.add_parser("presets", help="list the task presets")
    tp.set_defaults(func=cmd_presets)
    t.set_defaults(func=lambda a: (t.print_help(), 2)[1])
