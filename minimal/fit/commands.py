"""``minimal fit CURVES... --model NAME`` (wired into :mod:`minimal.cli`)."""

from __future__ import annotations

import csv
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from ..errors import ConfigError, CurveFileError


def _quantity(y_name: str, requested: str | None) -> str:
    if requested:
        return requested
    low = y_name.lower()
    if "loss" in low:
        return "loss"
    return "accuracy"


def _task_from_run(curve):
    run = curve.meta.get("run")
    if not run:
        return None
    task = run.get("config", {}).get("task")
    if not task:
        return None
    from ..config import from_dict
    from ..tasks.icl import TaskConfig
    try:
        return from_dict(TaskConfig, task)
    except Exception:  # a run of another kind
        return None


def model_for(args, curve):
    """Build the model, taking N, L, B, eps from flags, else from the run's run.json."""
    from .models import make_model
    q = _quantity(curve.y_name, args.quantity)
    kw = {}
    task = _task_from_run(curve)
    if args.model in ("nested-logits", "ih-minimal"):
        N = args.N if args.N is not None else (task.N if task else 8)
        L = args.L if args.L is not None else (task.L if task else 32)
        B = args.B if args.B is not None else (task.B_eval if task else 1)
        eps = args.eps if args.eps is not None else (task.eps if task else 0.1)
        kw.update(N=N, L=L, B=B, eps=eps, rate_ratios=args.rate_ratios)
        if args.model == "ih-minimal":
            from ..config import apply_overrides
            from ..tasks.icl import TASK_PRESETS
            base = task if task is not None else TASK_PRESETS.get("reddy-fig3")
            kw["task"] = apply_overrides(base, {"N": N, "L": L, "B": B, "eps": eps})
            kw["steps"] = args.ih_steps
    return make_model(args.model, quantity=q, **kw)


def cmd_fit(args) -> int:
    from .core import fit_curve
    from .curves import CurveWarning, load_curve
    if args.list:
        from .models import MODELS
        for k, v in MODELS.items():
            print(f"{k:<15} {v}")
        return 0
    if not args.curves:
        raise ConfigError("CURVES", None, "give at least one curve file or run directory")
    results = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CurveWarning)
        for path in args.curves:
            curve = load_curve(path, args.x, args.y)
            model = model_for(args, curve)
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
    if args.table or len(results) > 1:
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


def table_row(r) -> dict:
    row = {"source": r.source, "model": r.model, "x": r.x_name, "y": r.y_name,
           "n_points": r.n_points, "r2": r.r2, "aic": r.aic, "bic": r.bic,
           "t_transition": r.t_transition,
           "t_ci_low": r.t_transition_ci[0] if r.t_transition_ci else None,
           "t_ci_high": r.t_transition_ci[1] if r.t_transition_ci else None}
    for k, v in r.params.items():
        row[f"p:{k}"] = v
        row[f"se:{k}"] = r.stderr.get(k)
    return row


def write_table(rows, path) -> None:
    keys = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    from ..runs import atomic_write_bytes
    import io
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
    atomic_write_bytes(path, buf.getvalue().encode())


def register(sub, parser_class, positive_int, nonneg_int):
    p = sub.add_parser("fit", help="fit a phenomenological model to logged learning curves")
    p.add_argument("curves", nargs="*", help="CSV/TSV/JSONL/W&B-export files or minimal run "
                   "directories (several: a table)")
    p.add_argument("--x", default=None, help="x column (default: guessed, e.g. step)")
    p.add_argument("--y", default=None, help="y column (default: guessed, e.g. ic_acc)")
    p.add_argument("--model", default="logistic",
                   help="logistic, nested-logits, three-factor or ih-minimal (see --list)")
    p.add_argument("--quantity", choices=("accuracy", "loss", "probability"), default=None,
                   help="what y is (default: loss if the column name says so, else accuracy)")
    p.add_argument("--N", type=int, default=None, help="nested-logits/ih-minimal: N")
    p.add_argument("--L", type=int, default=None, help="labels L")
    p.add_argument("--B", type=int, default=None, help="burstiness B")
    p.add_argument("--eps", type=float, default=None, help="within-class noise")
    p.add_argument("--rate-ratios", action="store_true",
                   help="nested-logits: also fit the per-parameter rate ratios")
    p.add_argument("--ih-steps", type=positive_int("--ih-steps"), default=20_000,
                   help="ih-minimal: simulated steps per grid point")
    p.add_argument("--bootstrap", type=nonneg_int("--bootstrap"), default=0,
                   help="residual-bootstrap refits for standard errors (default: Jacobian)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--plot", default=None, help="write data/fit/residual plot (PNG or PDF)")
    p.add_argument("--table", default=None, help="write one CSV row per curve")
    p.add_argument("--list", action="store_true", help="list models")
    p.set_defaults(func=cmd_fit)
