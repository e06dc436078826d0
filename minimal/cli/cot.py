"""``minimal cot`` (Level 1 of the CoT circuit model), ``minimal cot sweep`` and
``minimal cot calibrate``."""

from __future__ import annotations

import json

from ._common import (add_run_args, build_config, finish_training, float_arg, nonneg_int,
                      parse_list, positive_int, print_presets, require_out, resume_overrides)


def _pairs(args) -> list:
    pairs = []
    if args.cot is not None:
        pairs.append(("model.cot", args.cot))
    if args.lam is not None:
        pairs.append(("world.lam", args.lam))
    if args.noise is not None:
        pairs.append(("world.noise", args.noise))
    if args.noise_hop is not None:
        pairs.append(("world.noise_hop", args.noise_hop))
    return pairs


def cmd_cot(args) -> int:
    from ..cot.config import COT_PRESETS
    from ..cot.experiments import ACCURACIES, summary
    from ..cot.train import train_cot
    if getattr(args, "cot_command", None):
        return args.sub_func(args)
    if args.list:
        return print_presets(COT_PRESETS)
    require_out(args)
    cfg = build_config(args, COT_PRESETS, _pairs(args))
    res = train_cot(cfg, args.out, resume=args.resume, force=args.force,
                    progress=not args.quiet, overrides=resume_overrides(args, _pairs(args)))
    m = res.metrics
    if m and len(m.get("step", [])):
        s = summary(m)
        print(f"final (step {int(m['step'][-1])}): " +
              ", ".join(f"{k} {s[k]:.3f}" for k in ACCURACIES))
        print("first step ≥ 0.5: " + ", ".join(f"{k} {s['t50_' + k]}" for k in (
            "id_atomic", "ood_atomic", "test_inferred_iid", "test_inferred_ood")))
    if res.learner.cfg.cot and res.status == "completed":
        dep = res.learner.stage2_dependence()
        print("stage-2 accuracy with a random replacement of: " +
              ", ".join(f"{k} {v:.3f}" for k, v in dep.items()))
    print(f"run directory: {args.out}")
    return finish_training(res)


def cmd_sweep(args) -> int:
    from ..cot.config import COT_PRESETS
    from ..sweeps import run_sweep
    cfg = build_config(args, COT_PRESETS, _pairs(args), resume=False)
    axes = {}
    if args.lams is not None:
        axes["world.lam"] = parse_list("--lams", args.lams, float, lo=0.0)
    if args.noises is not None:
        axes["world.noise"] = parse_list("--noises", args.noises, float, lo=0.0, hi=1.0)
    if args.cots is not None:
        axes["model.cot"] = parse_list("--cots", args.cots, bool)
    if not axes:
        axes["world.noise"] = [0.05, 0.8]
    rows = run_sweep(cfg, axes, range(args.seed0, args.seed0 + args.seeds),
                     "minimal.cot.train:train_cot", "minimal.cot.experiments:summary",
                     args.sweep_out, args.workers, not args.quiet, args.resume, kind="cot-sweep",
                     scheduler=args.scheduler)
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


def _grid(entries, base) -> dict:
    """``--grid model.FIELD=v1,v2`` entries → {field: values}, each value checked on ``base``
    before any run starts."""
    from ..config import apply_overrides
    from ._common import CLIError
    grid = {}
    for text in entries:
        if "=" not in text:
            raise CLIError(f"--grid={text!r} is invalid: must be model.FIELD=v1,v2,...")
        key, vals = text.split("=", 1)
        key = key.strip()
        if not key.startswith("model."):
            raise CLIError(f"--grid={text!r} is invalid: only model.* fields are calibrated "
                           "(the world, λ and ξ are the observables' settings)")
        try:
            values = parse_list(f"--grid {key}", vals, float)
        except Exception:
            values = [v.strip() for v in vals.split(",") if v.strip()]
        for v in values:
            apply_overrides(base, [(key, v)])
        grid[key] = values
    if not grid:
        raise CLIError("--grid is required (e.g. --grid model.s2_lr_scale=2,3,5)")
    return grid


def cmd_calibrate(args) -> int:
    from ..cot import calibration as C
    from ..cot.config import COT_PRESETS
    base = build_config(args, COT_PRESETS, [], resume=False)
    grid = _grid(args.grid, base)
    ranked = C.scan(base, grid, range(args.seed0, args.seed0 + args.seeds), args.sweep_out,
                    args.workers, not args.quiet)
    if args.json:
        print(json.dumps(ranked, default=float))
        return 0
    idk = [k for k in C.ID_TARGETS[0.05]]
    odk = [k for k in C.OOD_REFERENCE[0.05]]
    print("ranked by the ID mismatch (ID and training observables only); OOD columns are "
          "predictions, not used")
    for r in ranked:
        head = ", ".join(f"{k}={r[k]}" for k in grid) + f": mismatch {r['id_mismatch']:.4f}"
        print(head)
        for xi in C.XIS:
            o = r["observables"][xi]
            fmt = lambda v: "never" if v is None else f"{v:.4g}"     # noqa: E731
            print(f"  ξ={xi}: ID " + ", ".join(f"{k} {fmt(o.get(k))}" for k in idk) +
                  " | OOD (predicted) " + ", ".join(f"{k} {fmt(o.get(k))}" for k in odk))
    print("targets: " + json.dumps(C.ID_TARGETS))
    return 0


def _common(q, sweep: bool = False):
    q.add_argument("--cot", dest="cot", action="store_true", default=None,
                   help="CoT format (the default)")
    q.add_argument("--no-cot", dest="cot", action="store_false", help="no-CoT format")
    q.add_argument("--lambda", dest="lam", type=float_arg("--lambda", 0.0, 1e6), default=None,
                   help="two-hop ratio λ")
    q.add_argument("--noise", type=float_arg("--noise", 0.0, 1.0), default=None,
                   help="noise ratio ξ")
    q.add_argument("--noise-hop", choices=("first", "second", "both"), default=None)


def register(sub, parser_class) -> None:
    p = sub.add_parser("cot", help="two-stage chain-of-thought circuit model (Level 1)")
    _common(p)
    add_run_args(p, "small", "world preset: small, tiny or paper")
    p.set_defaults(func=cmd_cot)
    csub = p.add_subparsers(dest="cot_command", metavar="SUBCOMMAND", parser_class=parser_class)
    s = csub.add_parser("sweep", help="grid over λ, ξ and the format in parallel processes")
    _common(s)
    s.add_argument("--preset", default=None, help="world preset (default small)")
    s.set_defaults(preset_default="small")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--steps", type=nonneg_int("--steps", 10**9), default=None)
    s.add_argument("--lams", default=None, help="comma-separated λ values")
    s.add_argument("--noises", default=None, help="comma-separated ξ values")
    s.add_argument("--cots", default=None, help="comma-separated true/false (CoT format)")
    s.add_argument("--seeds", type=positive_int("--seeds", 1000), default=1)
    s.add_argument("--seed0", type=nonneg_int("--seed0"), default=0)
    s.add_argument("--workers", type=positive_int("--workers", 256), default=None)
    s.add_argument("--scheduler", default=None, metavar="local|local-dask|tcp://HOST:PORT",
                   help="where the runs go (see minimal sweep --help)")
    s.add_argument("--out", dest="sweep_out", default=None, help="results directory")
    s.add_argument("--resume", action="store_true", help="skip jobs already finished")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(sub_func=cmd_sweep, seed=None)
    c = csub.add_parser("calibrate", help="set Level-1 rates from the ID and training "
                        "observables of the paper's two noise rows (ξ = 0.05, 0.8)")
    c.add_argument("--preset", default=None, help="world preset (default paper)")
    c.set_defaults(preset_default="paper")
    c.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE")
    c.add_argument("--steps", type=nonneg_int("--steps", 10**9), default=None)
    c.add_argument("--grid", action="append", default=[], metavar="model.FIELD=V1,V2",
                   help="candidate values of a model field (repeatable; the grid is their "
                        "product, each point run at ξ = 0.05 and 0.8)")
    c.add_argument("--seeds", type=positive_int("--seeds", 1000), default=1)
    c.add_argument("--seed0", type=nonneg_int("--seed0"), default=0)
    c.add_argument("--workers", type=positive_int("--workers", 256), default=None)
    c.add_argument("--out", dest="sweep_out", default=None, help="results directory")
    c.add_argument("--json", action="store_true")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(sub_func=cmd_calibrate, seed=None, resume=False)
