"""``minimal sweep``: grids of runs of any family, locally or on a Dask cluster."""

from __future__ import annotations

import json
import sys

from ._common import CLIError, nonneg_int, parse_list, positive_int

#: the metrics each family's table shows (mean ± s.d. over seeds)
SHOWN = {"train": ("ic_acc", "iw_acc", "t_icl"), "ih": ("ic_acc", "iw_acc", "t_icl"),
         "cot": ("test_inferred_iid", "test_inferred_ood", "t50_test_inferred_iid")}


def _grid(items) -> dict:
    from ..config import parse_override
    axes = {}
    for text in items:
        if "=" not in text:
            raise CLIError(f"--grid={text!r} is invalid: must look like section.field=v1,v2,…")
        key, raw = text.split("=", 1)
        values = [parse_override(f"{key}={v}")[1] for v in parse_list(f"--grid {key}", raw,
                                                                         str)]
        axes[key.strip()] = values
    return axes


def cmd_sweep(args) -> int:
    from ..sweeps import aggregate, load_sweep_file, make_sweep
    if args.file:
        if args.family or args.grid:
            raise CLIError("--file is a whole sweep: give no FAMILY or --grid beside it")
        sw = load_sweep_file(args.file)
    else:
        if not args.family:
            raise CLIError("FAMILY: name a family (train, ih, cot) or give --file")
        seeds = (parse_list("--seed-list", args.seed_list, int, lo=0) if args.seed_list
                 else list(range(args.seeds)))
        overrides = list(args.overrides)
        if args.steps is not None:
            overrides.append(f"train.steps={args.steps}")
        sw = make_sweep(args.family, args.preset, overrides, _grid(args.grid), seeds,
                        args.one_at_a_time)
    if args.out is None or not str(args.out).strip():
        raise CLIError("--out is required: the sweep directory (runs/ + results.csv)")
    res = sw.run(args.out, workers=args.workers, progress=not args.quiet, resume=args.resume,
                 scheduler=args.scheduler)
    keys = [p for n in sw.axes for p in n.split(",")]
    shown = SHOWN.get(sw.family, ())
    table = aggregate(res.rows, keys, shown)
    if args.json:
        print(json.dumps({"status": res.status, "counts": res.counts, "table": table,
                          "rows": res.rows}, default=str))
    else:
        head = keys + ["n", "ok", "collapsed"] + [f"{m} (mean ± sd)" for m in shown]
        print("  ".join(f"{h:>14}" for h in head))
        for r in table:
            cells = [f"{str(r[k]):>14}" for k in keys] + [
                f"{r['n']:>14}", f"{r['n_ok']:>14}", f"{r['collapsed']:>14}"]
            for m in shown:
                v, sd = r.get(m), r.get(f"{m}_sd")
                cells.append(f"{'—' if v is None else f'{v:.3f}':>8} ± "
                             f"{'—' if sd is None else f'{sd:.3f}':<5}")
            print("  ".join(cells))
        print(f"{res.counts.get('completed', 0)}/{len(res.rows)} jobs completed; table: "
              f"{args.out}/results.csv")
    if res.status == "interrupted":
        print("interrupted; continue with the same command plus --resume", file=sys.stderr)
    return res.exit_status


def register(sub, parser_class) -> None:
    s = sub.add_parser("sweep", help="grids of runs of any family (local processes or Dask)")
    s.add_argument("family", nargs="?", default=None, help="train, ih or cot")
    s.add_argument("--file", default=None, help="a TOML or JSON sweep file (see docs/sweeps.md)")
    s.add_argument("--preset", default=None, help="base preset of the family")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a base-config field (repeatable)")
    s.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,…",
                   help="an axis of the grid (repeatable); 'a,b' joint axes only in files")
    s.add_argument("--one-at-a-time", action="store_true",
                   help="vary each axis alone around the base instead of the full product")
    s.add_argument("--seeds", type=positive_int("--seeds", 1000), default=1,
                   help="seeds 0 … n−1 per grid point (default 1)")
    s.add_argument("--seed-list", default=None, help="explicit seeds, e.g. 3,4,5")
    s.add_argument("--steps", type=nonneg_int("--steps", 10**9), default=None)
    s.add_argument("--out", default=None, help="sweep directory (runs/ and results.csv)")
    s.add_argument("--workers", type=positive_int("--workers", 1024), default=None,
                   help="parallel runs (default: the number of cores)")
    s.add_argument("--scheduler", default=None, metavar="local|local-dask|tcp://HOST:PORT",
                   help="where jobs run: local processes (default), a Dask LocalCluster, or an "
                        "existing Dask scheduler")
    s.add_argument("--resume", action="store_true",
                   help="continue: skip completed jobs, resume interrupted ones")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_sweep)
