"""``minimal figures``: regenerate registered figures (PNG + PDF + manifest.json)."""

from __future__ import annotations

from ._common import nonneg_int


def cmd_figures(args) -> int:
    from ..figures import available, make_figures
    if args.list:
        for name, spec in available().items():
            print(f"{name:<24} {spec.description}")
        return 0
    out = args.out
    if out is None:
        out = "figures-quick" if args.quick else "figures"
    make_figures(args.names, out, quick=args.quick, seed=args.seed, progress=not args.quiet)
    return 0


def register(sub, parser_class) -> None:
    f = sub.add_parser("figures", help="regenerate registered figures (PNG + PDF + manifest)")
    f.add_argument("names", nargs="*", help="figure names (default: all)")
    f.add_argument("--out", default=None, help="output directory (default figures/, or "
                   "figures-quick/ with --quick)")
    f.add_argument("--quick", action="store_true", help="small, fast variants (marked 'quick' "
                   "on every image)")
    f.add_argument("--seed", type=nonneg_int("--seed"), default=0)
    f.add_argument("--list", action="store_true", help="list registered figures")
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=cmd_figures)
