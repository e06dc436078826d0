"""The ``minimal`` command line: one module per command group, shared pieces in
:mod:`._common` (docs/architecture.md, "Command line").

Exit statuses: 0 success; 2 bad input (one ``error:`` line, before any work); 3 a run that failed
after it started (diverged, non-finite, I/O); 128 + n after signal n (SIGINT 130, SIGTERM 143).
No traceback is shown unless ``--debug``.
"""

from __future__ import annotations

import argparse
import sys

from ..env import limit_threads

# One thread per process unless the user says otherwise (must precede the NumPy import).
limit_threads(1)

from ..errors import (EXIT_BAD_INPUT, EXIT_RUN_FAILED, MinimalError,  # noqa: E402
                      RunFailed, exit_status_for_signal)
from ._common import CLIError, Parser  # noqa: E402

__all__ = ["main", "build_parser", "CLIError"]

_GROUPS = ("info", "task", "train", "ih", "cot", "clamp", "diagnose", "biinduct", "repeat", "sae",
           "momentum", "lsa",
           "theory", "fit", "plot", "sweep", "figures", "bench")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from .._version import __version__
    p = Parser(prog="minimal", description="CPU simulations of the mechanistic theory of "
               "in-context learning: tasks, tiny networks, minimal models, theory, fitting.")
    p.add_argument("--version", action="version", version=f"minimal {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in _GROUPS:
        importlib.import_module(f"{__name__}.{name}").register(sub, Parser)
    return p


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings of ``minimal`` as one ``warning: …`` line (no source location)."""
    print(f"warning: {message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    import warnings
    warnings.showwarning = _show_warning
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    debug = getattr(args, "debug", False)
    try:
        return int(args.func(args) or 0)
    except RunFailed as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except MinimalError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        print("interrupted", file=sys.stderr)
        return exit_status_for_signal(getattr(exc, "signum", 2))
    except BrokenPipeError:
        return 0
    except MemoryError:
        if debug:
            raise
        print("error: out of memory (reduce the sizes: batch, n_eval, K, --n)", file=sys.stderr)
        return EXIT_RUN_FAILED
    except OSError as err:
        if debug:
            raise
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
