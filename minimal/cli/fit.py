"""``minimal fit CURVES... [--model a,b] [--group COLS] [--summary]``: fit logged learning
curves, judge whether they transitioned, compare models, summarise conditions
(docs/fitting.md)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from ._common import CLIError, float_arg, nonneg_int, parse_list, positive_int

MAX_FITS = 10_000


def _parent_ok(path, flag):
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise CLIError(f"{flag} {path}: the directory {parent} does not exist")


def cmd_fit(args) -> int:
    from ..fit import MODELS, load_curves, model_for_curve
    from ..fit.curves import CurveWarning
    from ..fit.lsq import check_y_range
    from ..fit.registry import model_arguments
    if args.list:
        for k, v in MODELS.items():
            extra = ", ".join(model_arguments(k))
            print(f"{k:<14} {v}" + (f"\n{'':<14} arguments: {extra}" if extra else ""))
        return 0
    if args.write_example:
        from ..fit.examples import write_example
        _parent_ok(args.write_example, "--write-example")
        write_example(args.write_example, args.example_kind)
        print(f"wrote {args.write_example} (synthetic {args.example_kind} example: 3 learning "
              "rates × 3 seeds)")
        return 0
    if not args.curves:
        raise CLIError("CURVES: give at least one curve file or run directory (or --list)")
    names = parse_list("--model", args.model, conv=str)
    for n in names:
        if n not in MODELS:
            raise CLIError(f"--model={n!r} is invalid: choose from {', '.join(MODELS)} "
                           "(comma-separated for a comparison)")
    if len(set(names)) != len(names):
        raise CLIError(f"--model={args.model!r} is invalid: a model is named twice")
    rules = _rules(args)
    group = parse_list("--group", args.group, conv=str) if args.group else []
    for path, flag in ((args.plot, "--plot"), (args.table, "--table")):
        if path is not None:
            _parent_ok(path, flag)
    if args.append and not args.table:
        raise CLIError("--append needs --table (the table to add rows to)")
    if args.plot and Path(args.plot).suffix.lower() not in ("", ".png", ".pdf", ".svg"):
        raise CLIError(f"--plot {args.plot}: the suffix must be .png, .pdf or .svg")
    summary_by = None
    if args.summary is not None:
        from ..fit.groups import condition_columns
        summary_by = condition_columns(group, args.summary)
        unknown = [c for c in summary_by if c not in group]
        if unknown:
            raise CLIError(f"--summary {args.summary}: {unknown[0]!r} is not one of the --group "
                           f"columns ({', '.join(group) or 'none given'})")
    from ..fit.table import check_append, table_columns
    columns = table_columns(group)
    if args.table and args.append:
        check_append(args.table, columns)
    curves = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CurveWarning)
        for path in args.curves:
            cs = load_curves(path, args.x, args.y, group=[g for g in group if g != "file"],
                             no_header=args.no_header)
            if "file" in group:
                for c in cs:
                    c.meta["group"] = {"file": Path(str(path)).name, **c.group}
                    c.meta["group"] = {g: c.meta["group"].get(g) for g in group}
            curves += cs
    _notes(caught, args.quiet)
    if args.select:
        curves = _select(curves, args.select)
    if len(curves) * len(names) > MAX_FITS:
        raise CLIError(f"{len(curves)} curves × {len(names)} model(s) = "
                       f"{len(curves) * len(names)} fits; at most {MAX_FITS:,} per call")
    jobs = []
    for c in curves:
        for n in names:
            kw = {}
            if n in ("nested-logits", "ih-minimal"):
                kw.update(N=args.N, L=args.L, B=args.B, eps=args.eps)
            if n == "nested-logits" and args.rate_ratios:
                kw["rate_ratios"] = True
            if n == "ih-minimal":
                kw.update(steps=args.ih_steps, progress=not args.quiet)
                if args.ih_grid:
                    kw["beta1_grid"] = tuple(parse_list("--ih-grid", args.ih_grid, float,
                                                        -10, 6))
            m = model_for_curve(n, c, args.quantity, **kw)
            check_y_range(m, c)
            jobs.append((c, m))
    results = _fit_all(jobs, args, rules)
    _output(results, curves, names, group, summary_by, columns, args)
    return 0


def _select(curves, text):
    want = {}
    for item in parse_list("--select", text, conv=str):
        if "=" not in item:
            raise CLIError(f"--select={text!r} is invalid: {item!r} is not KEY=VALUE")
        k, v = item.split("=", 1)
        want[k.strip()] = v.strip()
    keys = {k for c in curves for k in c.group}
    bad = [k for k in want if k not in keys]
    if bad:
        raise CLIError(f"--select={text!r} is invalid: {bad[0]!r} is not a --group column "
                       f"({', '.join(sorted(keys)) or 'no --group given'})")
    kept = [c for c in curves if all(str(c.group.get(k)) == v for k, v in want.items())]
    if not kept:
        raise CLIError(f"--select={text!r}: no curve has these group values")
    return kept


def _rules(args):
    from ..fit.verdict import VerdictRules
    y_range = None
    if args.range is not None:
        lo_hi = parse_list("--range", args.range, float)
        if len(lo_hi) != 2 or not lo_hi[0] < lo_hi[1]:
            raise CLIError(f"--range={args.range!r} is invalid: must be LO,HI with LO < HI")
        y_range = tuple(lo_hi)
    return VerdictRules(noise_k=args.noise_k, min_rise=args.min_rise, y_range=y_range,
                        max_rse=args.max_rse)


def _notes(caught, quiet):
    if quiet:
        return
    seen = set()
    for w in caught:
        msg = str(w.message)
        if msg not in seen:
            seen.add(msg)
            print(f"note: {msg}", file=sys.stderr)


def _fit_all(jobs, args, rules):
    from ..fit import fit_curve
    from ..progress import Progress
    bar = Progress(len(jobs), unit="fit", desc="fit", enabled=not args.quiet and len(jobs) > 1)
    results = []
    try:
        for c, m in jobs:
            results.append(fit_curve(c, m, bootstrap=args.bootstrap, rules=rules,
                                     reduce=not args.no_reduce, progress=not args.quiet))
            bar.update(1)
    finally:
        bar.close()
    return results


def _output(results, curves, names, group, summary_by, columns, args):
    from ..fit.groups import compare, comparison_text, summarise, summary_text
    from ..fit.table import table_row, write_table
    n_models = len(names)
    by_curve = [results[i:i + n_models] for i in range(0, len(results), n_models)]
    comparisons = [compare(rs) for rs in by_curve] if n_models > 1 else []
    summary = summarise(results, summary_by) if summary_by is not None else []
    if args.table:
        write_table([table_row(r, group) for r in results], args.table, columns,
                    append=args.append)
    if args.plot:
        _plot(results, by_curve, group, summary_by, args)
    if args.json:
        if len(results) == 1:
            print(results[0].to_json())
        else:
            from ..fit.result import _sanitize
            obj = {"fits": [r.to_json_dict() for r in results]}
            if comparisons:
                obj["comparisons"] = [{"curve": rs[0].label, "rows": _sanitize(c)}
                                      for rs, c in zip(by_curve, comparisons)]
            if summary_by is not None:
                obj["summary"] = _sanitize([
                    dict(s, transition=dict(zip(("mean", "sd", "n"), s["transition"])),
                         params={k: dict(zip(("mean", "sd", "n"), v))
                                 for k, v in s["params"].items()})
                    for s in summary])
            print(json.dumps(obj))
        return
    if len(results) == 1:
        print(results[0].report())
    elif len(curves) == 1:
        rs = by_curve[0]
        print(comparison_text(rs[0].label, rs[0].n_points, rs[0].x_name, comparisons[0]))
        for r in rs:
            print()
            print(r.report())
    else:
        print(_verdict_table(results, group))
        for rs, c in zip(by_curve, comparisons):
            print()
            print(comparison_text(rs[0].label, rs[0].n_points, rs[0].x_name, c))
    if summary_by is not None:
        print()
        print(summary_text(summary, summary_by))
    if args.table:
        print(f"table: {args.table} ({len(results)} row(s){' appended' if args.append else ''})")
    if args.plot:
        print(f"plot: {args.plot}")


def _verdict_table(results, group):
    from ..fit._format import interval, num
    heads = (list(group) or ["curve"]) + ["model", "verdict", f"transition ({results[0].x_name})",
                                          "R²", "fixed / flagged"]
    body = []
    for r in results:
        cells = [str(r.group.get(g)) for g in group] if group else [_short(r.source)]
        t = "—"
        if r.transitioned:
            t = num(r.t_transition, 5)
            if r.t_transition_ci:
                t += " " + interval(r.t_transition_ci)
        ff = ", ".join([f"fixed {k}" for k in r.fixed] + [f"flag {k}" for k in r.flags])
        body.append(cells + [r.model, r.verdict, t, f"{r.r2:.4f}", ff or "—"])
    width = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, width))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, width)) for b in body]
    return "\n".join(lines)


def _short(s):
    s = str(s)
    return s if len(s) <= 40 else "…" + s[-39:]


def _plot(results, by_curve, group, summary_by, args):
    from ..fit.plots import plot_fits, save_figure
    path = args.plot if Path(args.plot).suffix else args.plot + ".png"
    if len(results) == 1:
        fig = results[0].plot(band=True)
    else:
        by = summary_by if summary_by is not None else (group[:-1] if len(group) > 1 else [])
        fig = plot_fits(results, by=by)
    save_figure(fig, path)


def register(sub, parser_class) -> None:
    p = sub.add_parser("fit", help="fit models to logged learning curves and judge whether "
                       "they transitioned")
    p.add_argument("curves", nargs="*", metavar="CURVES",
                   help="CSV/TSV/JSON(L)/trainer_state.json/TensorBoard/W&B files or minimal "
                        "run directories")
    p.add_argument("--x", default=None, help="x column (default: guessed, e.g. step)")
    p.add_argument("--y", default=None, help="y column (default: guessed, e.g. ic_acc)")
    p.add_argument("--no-header", action="store_true",
                   help="the first row is data (columns col0, col1, …; also detected when "
                        "the first row is all numbers)")
    p.add_argument("--group", default=None, metavar="COL[,COL]",
                   help="split stacked runs by these columns (W&B exports: run, or a key of "
                        "key=value run names; run directories: a config field such as "
                        "task.B; file: the file name)")
    p.add_argument("--summary", nargs="?", const="auto", default=None, metavar="COL[,COL]",
                   help="per-condition mean ± sd and n; conditions: these group columns "
                        "(default: all --group columns but the last)")
    p.add_argument("--select", default=None, metavar="KEY=VALUE[,KEY=VALUE]",
                   help="fit only the curves with these group values (e.g. lr=0.01,seed=0)")
    p.add_argument("--model", default="logistic", metavar="NAME[,NAME]",
                   help="logistic, three-factor, nested-logits or ih-minimal; several "
                        "(comma-separated): a comparison with ΔAIC/ΔBIC (see --list)")
    p.add_argument("--quantity", choices=("accuracy", "loss", "probability"), default=None,
                   help="what y is (default: loss if the column name says so, else accuracy)")
    p.add_argument("--range", default=None, metavar="LO,HI",
                   help="the metric's natural range for the verdict (default: 0,1 for "
                        "accuracies; 0 to the largest value for losses)")
    p.add_argument("--min-rise", type=float_arg("--min-rise", 0.0, 1.0), default=0.1,
                   help="a transition must rise by this fraction of the natural range "
                        "(default 0.1)")
    p.add_argument("--noise-k", type=float_arg("--noise-k", 0.0, 100.0), default=3.0,
                   help="… and by this many residual standard deviations (default 3)")
    p.add_argument("--max-rse", type=float_arg("--max-rse", 1e-6, 1e6), default=0.5,
                   help="flag parameters whose relative standard error exceeds this "
                        "(default 0.5)")
    p.add_argument("--no-reduce", action="store_true",
                   help="theory models: report the full fit even when parameters are not "
                        "identified (default: refit with them fixed)")
    p.add_argument("--N", type=positive_int("--N", 32), default=None,
                   help="nested-logits/ih-minimal: N (default: run.json, else 8)")
    p.add_argument("--L", type=positive_int("--L", 100_000), default=None,
                   help="labels L (default: run.json, else 32)")
    p.add_argument("--B", type=nonneg_int("--B", 31), default=None,
                   help="burstiness B (default: run.json, else 1)")
    p.add_argument("--eps", type=float_arg("--eps", 0.0, 100.0), default=None,
                   help="within-class noise ε (default: run.json, else 0.1)")
    p.add_argument("--rate-ratios", action="store_true",
                   help="nested-logits: also fit the rate ratios η_α/η_ξ, η_β/η_ξ")
    p.add_argument("--ih-steps", type=int_in("--ih-steps", 100, 1_000_000), default=20_000,
                   help="ih-minimal: most simulated steps per grid point (default 20,000; "
                        "a simulation stops once it has settled)")
    p.add_argument("--ih-grid", default=None, metavar="B1[,B1]",
                   help="ih-minimal: initial beta1 values (default -3,-2,-1,0; in [-10, 6])")
    p.add_argument("--bootstrap", type=nonneg_int("--bootstrap", 10_000, "each is a refit"),
                   default=0, help="residual-bootstrap refits for the errors (default 0: "
                   "from the Jacobian; at most 10,000)")
    p.add_argument("--json", action="store_true", help="print JSON (one object per fit)")
    p.add_argument("--plot", default=None, metavar="FILE",
                   help="write a figure (PNG/PDF/SVG): data, fit, bands and residuals for one "
                        "fit; small multiples by condition for several")
    p.add_argument("--table", default=None, metavar="FILE",
                   help="write one CSV row per fit (the same columns for every model)")
    p.add_argument("--append", action="store_true",
                   help="add the rows to an existing --table (its columns must match)")
    p.add_argument("--list", action="store_true", help="list the models and their arguments")
    p.add_argument("--write-example", default=None, metavar="FILE",
                   help="write a synthetic example log (3 learning rates × 3 seeds) and exit")
    p.add_argument("--example-kind", choices=("wandb", "stacked"), default="wandb",
                   help="format of --write-example (default wandb)")
    p.add_argument("--quiet", action="store_true", help="no notes or progress on stderr")
    p.set_defaults(func=cmd_fit)


def int_in(name, lo, hi):
    from ._common import int_arg
    return int_arg(name, lo, hi)
