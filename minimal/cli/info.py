"""``minimal info`` (versions, threads, caches) and ``minimal demo`` (the main job)."""

from __future__ import annotations

import json
import sys

from ._common import positive_int


def cmd_info(args) -> int:
    from .._version import __version__
    from ..env import environment
    env = environment()
    if args.json:
        json.dump(env, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"minimal {__version__}" + (f" (git {env['git_commit'][:12]})"
                                      if env.get("git_commit") else ""))
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v))
    nb = env["numba"]
    print(f"numba: {nb['num_threads']} thread(s), threading layer requested "
          f"{nb['threading_layer_requested']!r}, active {nb['threading_layer_active']!r}, "
          f"JIT {'disabled' if nb['disable_jit'] else 'enabled'}")
    print(f"numba cache: {nb['cache_dir']}")
    print("thread env: " + ", ".join(f"{k}={v}" for k, v in env["threads_env"].items()))
    print(f"cpus: {env['cpu_count']}; platform: {env['platform']}")
    return 0


def cmd_demo(args) -> int:
    from ..demo import run_demo
    res = run_demo(n=args.n, out=args.out, quick=args.quick, progress=not args.quiet)
    return 0 if res["invariants_ok"] else 1


def register(sub, parser_class) -> None:
    d = sub.add_parser("demo", help="the main job on built-in defaults (about a minute)")
    d.add_argument("--n", type=positive_int("--n", 200_000), default=5000,
                   help="sequences for the invariant check (default 5000)")
    d.add_argument("--out", default=None, help="also save the minimal-model run here")
    d.add_argument("--quick", action="store_true", help="a smaller, seconds-long version")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=cmd_demo)
    i = sub.add_parser("info", help="versions, threads, threading layer, cache directory")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)
