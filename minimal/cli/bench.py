"""``minimal bench NAME``: benchmarks against references measured in the same run."""

from __future__ import annotations

import json
import sys


def cmd_bench(args) -> int:
    from ..bench import run
    res = run(args.name, quick=args.quick)
    if args.json:
        json.dump(res, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(json.dumps(res, indent=2))
    return 0


def register(sub, parser_class) -> None:
    from ..bench import BENCHMARKS
    b = sub.add_parser("bench", help="benchmarks against references measured in the same run")
    b.add_argument("name", choices=sorted(BENCHMARKS), help="benchmark name")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--quick", action="store_true", help="fewer repetitions")
    b.set_defaults(func=cmd_bench)
