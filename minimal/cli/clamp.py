"""``minimal clamp``: the configurable transformer on Singh et al.'s task with clamps.

Subcommands: ``train`` (one run of a preset, extra clamps with ``--clamp``), ``table`` (the
subcircuit clamps A, B, C), ``sweep`` (labels and classes), ``heads`` (redundancy, additivity,
heads alone, progress measures).  docs/clamping.md describes the study.
"""

from __future__ import annotations

import json
import sys

from ._common import (CLIError, add_run_args, build_config, finish_training, nonneg_int,
                      parse_list, positive_int, print_presets, require_out, resume_overrides,
                      summarise_training)


def _extra_clamps(args) -> list:
    from ..config import from_dict
    from ..transformer.clamps import ClampSpec
    out = []
    for text in args.clamp or ():
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CLIError(f"--clamp={text!r} is invalid: not JSON ({exc.msg}); e.g. "
                           '\'{"kind": "prev_token", "params": {"head": 2}}\'') from None
        if not isinstance(data, dict):
            raise CLIError(f"--clamp={text!r} is invalid: must be a JSON object "
                           "{kind, params, detach}")
        out.append(from_dict(ClampSpec, data, prefix="--clamp"))
    return out


def cmd_train(args) -> int:
    from ..transformer.clamps import CLAMPS
    from ..transformer.config import TRANSFORMER_PRESETS, TransformerRunConfig
    from ..transformer.train import train_transformer
    if args.list:
        return print_presets(TRANSFORMER_PRESETS)
    if args.list_clamps:
        for name, e in CLAMPS.items():
            params = ", ".join(f"{k}" + ("" if d is None else f"={d}")
                               for k, (_, d) in e.params.items())
            print(f"{name:<18} {{{params}}}  {e.doc}")
        return 0
    require_out(args)
    extra = _extra_clamps(args)
    cfg = build_config(args, TRANSFORMER_PRESETS)
    if extra:
        if cfg is None:
            raise CLIError("--clamp cannot change the clamps of a run being resumed")
        import dataclasses
        cfg = dataclasses.replace(cfg, clamps=tuple(cfg.clamps) + tuple(extra))
        TransformerRunConfig.__post_init__(cfg)
    res = train_transformer(cfg, args.out, resume=args.resume, force=args.force,
                            progress=not args.quiet, overrides=resume_overrides(args))
    summarise_training(res, args.out)
    m = res.metrics
    if "loss" in m and len(m["loss"]):
        from ..studies.clamping import summarise
        s = summarise(m)
        t10 = "not reached" if s["t10"] is None else f"step {s['t10']:.0f}"
        print(f"loss {s['final_loss']:.4f} (initial {s['L0']:.3f}); 10 % of the initial "
              f"excess over the floor 0: {t10}; plateau: {'yes' if s['plateau'] else 'no'}")
    return finish_training(res)


def _fmt(v, nd=0):
    if v is None:
        return "—"
    return f"{v:.{nd}f}"


def _spread(s, nd=0):
    if s["n"] == 0:
        return f"not reached (0/{s['n_total']})"
    txt = f"{_fmt(s['mean'], nd)} [{_fmt(s['min'], nd)}, {_fmt(s['max'], nd)}]"
    return txt if s["n"] == s["n_total"] else txt + f" ({s['n']}/{s['n_total']} reached)"


def _common(args) -> dict:
    seeds = tuple(range(args.seed, args.seed + args.seeds))
    return dict(seeds=seeds, quick=args.quick, workers=args.workers, progress=not args.quiet)


def _json_default(o):
    import numpy as np
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def cmd_table(args) -> int:
    from ..studies.clamping import table
    require_out(args)
    res = table(args.out, steps=args.steps or (300 if args.quick else 8000), **_common(args))
    if args.json:
        print(json.dumps({"rows": [{k: v for k, v in r.items()} for r in res["rows"]],
                          "seeds": res["seeds"], "steps": res["steps"]},
                         default=_json_default))
        return 0
    print(f"{'run':<13} {'steps to 10% of initial excess (mean [min, max])':<48} "
          f"plateau (per seed)   initial loss")
    for r in res["rows"]:
        print(f"{r['run']:<13} {_spread(r['t10']):<48} "
              f"{' '.join('yes' if p else 'no' for p in r['plateau']):<20} "
              f"{_fmt(r['L0']['mean'], 3)}")
    print(f"seeds {res['seeds']}, {res['steps']} steps; floor 0, plateau criterion in "
          "docs/clamping.md")
    return 0


def cmd_sweep(args) -> int:
    from ..studies.clamping import sweep
    require_out(args)
    labels = parse_list("--labels", args.labels, int, lo=3, hi=100)
    classes = parse_list("--classes", args.classes, int, lo=2, hi=100_000)
    res = sweep(args.out, steps=args.steps or (300 if args.quick else 8000), labels=labels,
                classes=classes, **_common(args))
    if args.json:
        print(json.dumps(res, default=_json_default))
        return 0
    print(f"{'setting':<12} {'unclamped plateau length':<34} {'C evolution t10 (match clamped)':<34}"
          f" {'B evolution t10 (A, C clamped)':<34}")
    for r in sorted(res["rows"], key=lambda r: (r["axis"], r["value"])):
        print(f"{r['axis'] + '=' + str(r['value']):<12} "
              f"{_spread(r['unclamped']['plateau_length']):<34} {_spread(r['B']['t10']):<34} "
              f"{_spread(r['B-evolution']['t10']):<34}")
    print(f"seeds {res['seeds']}, {res['steps']} steps")
    return 0


def cmd_heads(args) -> int:
    from ..studies.clamping import heads
    require_out(args)
    res = heads(args.out, steps=args.steps or (300 if args.quick else 8000), **_common(args))
    if args.json:
        slim = {"full": {s: {k: v for k, v in d.items() if k not in ("metrics", "progress")}
                         for s, d in res["full"].items()},
                "alone": {h: d["summary"] for h, d in res["alone"].items()}}
        print(json.dumps(slim, default=_json_default))
        return 0
    for s, d in res["full"].items():
        ab = d["ablation"]
        print(f"seed {s}: final S_h " + " ".join(f"{v:+.2f}" for v in d["S_final"]))
        print(f"  loss: intact {ab['base']:.4f}; one head ablated " +
              " ".join(f"{v:.3f}" for v in ab["single"]) + f"; all ablated {ab['all']:.4f}")
        print("  keeping the top-k heads by S, k = 1..H: " +
              " ".join(f"{v:.3f}" for v in ab["keep_top_k"]))
        print(f"  escape (loss ≤ ln2/2) of the 8-head run: {_fmt(d['summary']['t_escape'])}")
    print("heads trained alone (others ablated throughout): escape step " +
          ", ".join(f"h{h} {_fmt(d['summary']['t_escape'])}" for h, d in res["alone"].items()))
    return 0


def register(sub, parser_class) -> None:
    p = sub.add_parser("clamp", help="the tiny transformer on Singh et al.'s task: clamps, "
                       "subcircuits, heads (train | table | sweep | heads)")
    csub = p.add_subparsers(dest="clamp_command", metavar="SUBCOMMAND",
                            parser_class=parser_class)

    def no_sub(a):
        p.print_help(sys.stderr)
        return 2
    p.set_defaults(func=no_sub)
    t = csub.add_parser("train", help="train one run (a preset plus optional --clamp entries)")
    add_run_args(t, "singh-full", "run preset (see --list)")
    t.add_argument("--clamp", action="append", default=[], metavar="JSON",
                   help='an extra clamp, e.g. \'{"kind": "prev_token", "params": {"head": 2}}\''
                        " (repeatable; see --list-clamps)")
    t.add_argument("--list-clamps", action="store_true", help="list the clamp registry")
    t.set_defaults(func=cmd_train)
    for name, fn, hlp in (("table", cmd_table, "unclamped vs clamps A, B, C (+ B evolution)"),
                          ("sweep", cmd_sweep, "labels {5,10,15} and classes {50,100,200}"),
                          ("heads", cmd_heads, "redundancy, additivity, heads alone, "
                                               "progress measures")):
        s = csub.add_parser(name, help=hlp)
        s.add_argument("--out", default=None, help="study directory (run directories inside; "
                       "finished runs are reused)")
        s.add_argument("--seeds", type=positive_int("--seeds", 100),
                       default=1 if name == "sweep" else 3)
        s.add_argument("--seed", type=nonneg_int("--seed", 10**6), default=0,
                       help="first seed")
        s.add_argument("--steps", type=positive_int("--steps", 10**8), default=None,
                       help="steps per run (default 8,000; "
                            "--quick 300)")
        s.add_argument("--workers", type=positive_int("--workers", 64), default=None)
        s.add_argument("--quick", action="store_true",
                       help="a small network and short runs (seconds; a smoke test)")
        s.add_argument("--json", action="store_true", help="print one JSON object")
        s.add_argument("--quiet", action="store_true")
        if name == "sweep":
            s.add_argument("--labels", default="5,10,15")
            s.add_argument("--classes", default="50,100,200")
        s.set_defaults(func=fn)
