"""Shared pieces of the command line: the error type, the parser class, argument converters
with stated bounds, the ``--preset/--set/--seed/--steps`` config builder and run summaries.

Commands only parse, call the library and print.  Exit statuses (docs/architecture.md):
0 success, 2 bad input (one ``error:`` line, before any work), 3 a run that failed after it
started, 128 + n after signal n.
"""

from __future__ import annotations

import argparse
import math
import sys

from ..config import range_text
from ..errors import EXIT_BAD_INPUT, MinimalError


class CLIError(MinimalError):
    """Bad command-line usage."""


class Parser(argparse.ArgumentParser):
    """argparse with the project's one-line ``error:`` and exit status 2."""

    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def _bad(name, text, rule):
    try:
        float(text)
        shown = str(text).strip()
    except ValueError:
        shown = repr(text)
    return argparse.ArgumentTypeError(f"{name}={shown} is invalid: {rule}")


def int_arg(name: str, lo: int | None = None, hi: int | None = None, why: str = ""):
    """An integer converter with an allowed range (``why`` explains the upper bound)."""
    def conv(text):
        try:
            v = int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                f = math.nan
            if math.isfinite(f) and f == int(f):
                v = int(f)
            else:
                raise _bad(name, text, "must be an integer" + _range(lo, hi)) from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _bad(name, text, "must be" + _range(lo, hi) + (f" ({why})" if why else ""))
        return v
    conv.__name__ = name
    return conv


def float_arg(name: str, lo: float | None = None, hi: float | None = None, why: str = ""):
    """A finite-float converter with an allowed range."""
    def conv(text):
        try:
            v = float(text)
        except ValueError:
            raise _bad(name, text, "must be a number" + _range(lo, hi)) from None
        if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _bad(name, text, "must be a finite number" + _range(lo, hi) +
                       (f" ({why})" if why else ""))
        return v
    conv.__name__ = name
    return conv


def _range(lo, hi) -> str:
    """' in [lo, hi]', ' ≥ lo', … or '' (the allowed range, after a verb)."""
    return "" if lo is None and hi is None else " " + range_text(lo, hi)


def positive_int(name: str, hi: int | None = None, why: str = ""):
    return int_arg(name, 1, hi, why)


def nonneg_int(name: str, hi: int | None = None, why: str = ""):
    return int_arg(name, 0, hi, why)


_TRUE = ("true", "yes", "1", "cot")
_FALSE = ("false", "no", "0", "nocot", "no-cot")


def parse_list(name: str, text: str, conv=float, lo=None, hi=None) -> list:
    """A non-empty comma-separated list (numbers by default; ``conv=bool`` accepts only
    true/false/yes/no/1/0)."""
    if text is None or not str(text).strip():
        raise CLIError(f"{name}={text!r} is invalid: must be a non-empty comma-separated list")
    out = []
    for raw in str(text).split(","):
        item = raw.strip()
        if not item:
            raise CLIError(f"{name}={text!r} is invalid: empty entry in the list")
        if conv is bool:
            low = item.lower()
            if low in _TRUE:
                out.append(True)
            elif low in _FALSE:
                out.append(False)
            else:
                raise CLIError(f"{name}={text!r} is invalid: {item!r} is not one of "
                               "true/false/yes/no/1/0")
            continue
        try:
            v = conv(item)
        except ValueError:
            kind = "integers" if conv is int else "numbers"
            raise CLIError(f"{name}={text!r} is invalid: must be a comma-separated list of "
                           f"{kind}") from None
        if isinstance(v, float) and not math.isfinite(v):
            raise CLIError(f"{name}={text!r} is invalid: {item!r} is not finite")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise CLIError(f"{name}={text!r} is invalid: every entry must be{_range(lo, hi)}")
        out.append(v)
    return out


def add_run_args(p, preset_default: str, preset_help: str = "named preset (see --list)",
                 steps: bool = True) -> None:
    """The options every training command shares."""
    p.add_argument("--preset", default=None,
                   help=f"{preset_help} (default {preset_default}; with --resume: the run's own)")
    p.set_defaults(preset_default=preset_default)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set task.B=4 (repeatable)")
    if steps:
        p.add_argument("--steps", type=nonneg_int("--steps", 10**9), default=None,
                       help="training steps (overrides train.steps)")
    p.add_argument("--seed", type=nonneg_int("--seed"), default=None,
                   help="run seed (every random stream derives from it)")
    p.add_argument("--out", default=None, help="run directory (created)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint (its config is read from "
                        "run.json; --steps may be raised, --set train.eval_every changed)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing run in --out (never deletes files it did not "
                        "write)")
    p.add_argument("--list", action="store_true", help="list the presets")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def config_pairs(args, extra: list | None = None) -> list:
    """(dotted key, value) overrides from ``--seed``, ``--steps`` and command flags."""
    pairs = list(extra or [])
    if getattr(args, "seed", None) is not None:
        pairs.append(("seeds.seed", args.seed))
    if getattr(args, "steps", None) is not None:
        pairs.append(("train.steps", args.steps))
    return pairs


def build_config(args, registry, extra: list | None = None, resume: bool | None = None):
    """The config a training command runs: the preset (or, with ``--resume`` and no
    ``--preset``, None — the library then reads run.json), then flags, then ``--set``.
    ``resume`` overrides ``args.resume`` (a sweep's ``--resume`` means something else)."""
    from ..config import apply_overrides
    resume = args.resume if resume is None else resume
    if resume and args.preset is None:
        return None
    cfg = registry.get(args.preset or args.preset_default)
    pairs = config_pairs(args, extra)
    if pairs:
        cfg = apply_overrides(cfg, pairs)
    if args.overrides:
        cfg = apply_overrides(cfg, args.overrides)
    return cfg


def resume_overrides(args, extra: list | None = None) -> list:
    """Overrides applied on top of a run's saved config when resuming without ``--preset``."""
    from ..config import parse_override
    return config_pairs(args, extra) + [parse_override(o) for o in args.overrides]


def require_out(args) -> None:
    if args.out is None or not str(args.out).strip():
        raise CLIError("--out is required: the run directory to write (or --list)")


def print_presets(registry) -> int:
    for name, desc in registry.describe():
        print(f"{name:<18} {desc}")
    return 0


def summarise_training(result, out) -> None:
    """Final metrics, the first step with IC accuracy ≥ 0.5, and where the run is."""
    m = result.metrics
    if m and "step" in m and len(m["step"]):
        last = {k: v[-1] for k, v in m.items() if k != "snapshots"}
        keys = ("loss", "ic_acc", "ic2_acc", "iw_acc", "test_acc", "ila1", "tila2", "tla2",
                "cla")
        shown = [f"{k} {last[k]:.3f}" for k in keys if k in last]
        print(f"final: step {int(last['step'])}" + "".join(f", {x}" for x in shown))
        ic = m.get("ic_acc")
        if ic is not None and len(ic) > 1:
            above = [int(s) for s, a in zip(m["step"], ic) if a >= 0.5]
            print(f"IC accuracy first ≥ 0.5 at step {above[0]}" if above else
                  "IC accuracy has not reached 0.5 yet")
    if out is not None:
        print(f"run directory: {out} (run.json, metrics.csv, checkpoint.npz)")


def finish_training(result) -> int:
    """Exit status of a training command, with the resume hint after an interruption."""
    if result.status == "interrupted":
        print(f"interrupted at step {result.step}; continue with: --out "
              f"{result.run.path if result.run else '…'} --resume", file=sys.stderr)
    return result.exit_status


def add_study_args(s, steps_help: str) -> None:
    """The options every toy study shares: --out (resumable), --seeds, --seed, --steps and
    --workers."""
    s.add_argument("--out", default=None, help="study directory (resumable)")
    s.add_argument("--seeds", type=positive_int("--seeds", 100), default=3)
    s.add_argument("--seed", type=nonneg_int("--seed", 10**6), default=0, help="first seed")
    s.add_argument("--steps", type=positive_int("--steps", 10**8), default=None, help=steps_help)
    s.add_argument("--workers", type=positive_int("--workers", 64), default=1,
                   help="training processes (default 1)")
