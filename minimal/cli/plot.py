"""``minimal plot RUN [--y col,…]``: a run's metrics against its step (PNG/PDF/SVG)."""

from __future__ import annotations

from pathlib import Path

from ._common import CLIError, parse_list


def cmd_plot(args) -> int:
    from ..figures.run_plot import plot_run
    from ..fit.plots import save_figure
    run = Path(args.run)
    if not run.exists():
        raise CLIError(f"RUN {args.run}: no such run directory")
    out = Path(args.out) if args.out else (run if run.is_dir() else run.parent) / "plot.png"
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise CLIError(f"--out {out}: the suffix must be .png, .pdf or .svg")
    if not out.resolve().parent.is_dir():
        raise CLIError(f"--out {out}: the directory {out.resolve().parent} does not exist")
    y = parse_list("--y", args.y, conv=str) if args.y is not None else None
    fig = plot_run(run, y=y, x=args.x, log_x=args.log_x)
    save_figure(fig, out)
    print(f"plot: {out}")
    return 0


def register(sub, parser_class) -> None:
    p = sub.add_parser("plot", help="plot a run's accuracies, progress measures, losses and "
                       "parameters against its step")
    p.add_argument("run", metavar="RUN", help="a run directory (network, ih, theory, cot) or "
                   "its metrics.csv")
    p.add_argument("--y", default=None, metavar="COL[,COL]",
                   help="columns to plot (default: all but wall_s, seed, epoch)")
    p.add_argument("--x", default=None, help="x column (default: step, t or iteration)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="output file, .png/.pdf/.svg (default: RUN/plot.png)")
    p.add_argument("--log-x", action="store_true", help="logarithmic x axis")
    p.set_defaults(func=cmd_plot)
