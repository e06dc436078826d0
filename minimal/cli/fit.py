"""``minimal fit CURVES... --model NAME``: fit logged learning curves."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from ._common import CLIError, float_arg, nonneg_int, positive_int


def cmd_fit(args) -> int:
    from ..fit import MODELS, fit_curve, load_curve, model_for_curve
    from ..fit.curves import CurveWarning
    from ..fit.table import table_row, write_table
    from ..errors import CurveFileError
    if args.list:
        for k, v in MODELS.items():
            print(f"{k:<15} {v}")
        return 0
    if not args.curves:
        raise CLIError("CURVES: give at least one curve file or run directory (or --list)")
    if args.model not in MODELS:
        raise CLIError(f"--model={args.model!r} is invalid: choose one of {', '.join(MODELS)}")
    for path in (args.plot, args.table):
        if path is not None:
            parent = Path(path).resolve().parent
            if not parent.is_dir():
                raise CLIError(f"{path}: the directory {parent} does not exist")
    results = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CurveWarning)
        for path in args.curves:
            curve = load_curve(path, args.x, args.y)
            model = model_for_curve(args.model, curve, args.quantity, args.N, args.L, args.B,
                                    args.eps, args.rate_ratios, args.ih_steps)
            lo, hi = model.y_range
            if ((curve.y < lo) | (curve.y > hi)).any():
                raise CurveFileError(f"{path}: y column {curve.y_name!r} has values outside "
                                     f"[{lo}, {hi}], the range of a {model.quantity} curve "
                                     "(use --quantity)")
            results.append(fit_curve(curve, model, bootstrap=args.bootstrap))
    for w in caught:
        if not args.json:
            print(f"note: {w.message}", file=sys.stderr)
    if args.plot:
        if len(results) == 1:
            results[0].plot(args.plot)
        else:
            stem = Path(args.plot)
            for i, r in enumerate(results):
                r.plot(stem.with_name(f"{stem.stem}-{i}{stem.suffix or '.png'}"))
    rows = [table_row(r) for r in results]
    if args.table:
        write_table(rows, args.table)
    if args.json:
        obj = [r.to_json_dict() for r in results]
        print(json.dumps(obj[0] if len(obj) == 1 else obj, default=float))
        return 0
    if len(results) == 1:
        print(results[0].report())
    else:
        keys = ["source", "r2", "t_transition"] + [f"p:{k}" for k in results[0].params]
        print("  ".join(f"{k:>16}" for k in keys))
        for row in rows:
            print("  ".join(f"{_fmt(row.get(k)):>16}" for k in keys))
    if args.table:
        print(f"table: {args.table}")
    if args.plot:
        print(f"plot: {args.plot}")
    return 0


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.5g}"
    s = str(v)
    return s if len(s) <= 16 else "…" + s[-15:]


def register(sub, parser_class) -> None:
    p = sub.add_parser("fit", help="fit a phenomenological model to logged learning curves")
    p.add_argument("curves", nargs="*", help="CSV/TSV/JSONL/W&B-export files or minimal run "
                   "directories (several: a table)")
    p.add_argument("--x", default=None, help="x column (default: guessed, e.g. step)")
    p.add_argument("--y", default=None, help="y column (default: guessed, e.g. ic_acc)")
    p.add_argument("--model", default="logistic",
                   help="logistic, nested-logits, three-factor or ih-minimal (see --list)")
    p.add_argument("--quantity", choices=("accuracy", "loss", "probability"), default=None,
                   help="what y is (default: loss if the column name says so, else accuracy)")
    p.add_argument("--N", type=positive_int("--N", 32), default=None,
                   help="nested-logits/ih-minimal: N")
    p.add_argument("--L", type=int_or_none("--L"), default=None, help="labels L")
    p.add_argument("--B", type=nonneg_int("--B", 31), default=None, help="burstiness B")
    p.add_argument("--eps", type=float_arg("--eps", 0.0, 100.0), default=None,
                   help="within-class noise")
    p.add_argument("--rate-ratios", action="store_true",
                   help="nested-logits: also fit the per-parameter rate ratios")
    p.add_argument("--ih-steps", type=positive_int("--ih-steps", 1_000_000), default=20_000,
                   help="ih-minimal: simulated steps per grid point")
    p.add_argument("--bootstrap", type=nonneg_int("--bootstrap", 10_000, "each is a refit"),
                   default=0, help="residual-bootstrap refits for standard errors (default: "
                   "Jacobian; at most 10,000)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--plot", default=None, help="write data/fit/residual plot (PNG or PDF)")
    p.add_argument("--table", default=None, help="write one CSV row per curve")
    p.add_argument("--list", action="store_true", help="list models")
    p.set_defaults(func=cmd_fit)


def int_or_none(name):
    return positive_int(name, 100_000)
