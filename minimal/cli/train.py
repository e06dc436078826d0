"""``minimal train``: the attention-only network of Reddy (2024)."""

from __future__ import annotations

from ._common import (add_run_args, build_config, finish_training, print_presets, require_out,
                      resume_overrides, summarise_training)


def cmd_train(args) -> int:
    from ..nets.config import TRAIN_PRESETS
    from ..nets.train import train
    if args.list:
        return print_presets(TRAIN_PRESETS)
    require_out(args)
    cfg = build_config(args, TRAIN_PRESETS)
    result = train(cfg, args.out, resume=args.resume, force=args.force,
                   progress=not args.quiet, overrides=resume_overrides(args))
    summarise_training(result, args.out)
    return finish_training(result)


def register(sub, parser_class) -> None:
    tr = sub.add_parser("train", help="train the attention-only network into a run directory")
    add_run_args(tr, "reddy-default", "training preset (see --list)")
    tr.set_defaults(func=cmd_train)
