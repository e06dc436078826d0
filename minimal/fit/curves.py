"""Reading learning curves: CSV, TSV, JSONL, Weights & Biases CSV exports, ``minimal`` run
directories.

:func:`load_curve` returns a :class:`Curve` (x, y, names, source) after validation; every problem
is a one-line :class:`~minimal.errors.CurveFileError`.  Rows with NaN/inf are dropped with a
warning that says how many.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CurveFileError

X_GUESSES = ("step", "Step", "_step", "global_step", "iteration", "iter", "epoch", "t", "time",
             "steps", "x")
Y_GUESSES = ("ic_acc", "accuracy", "acc", "val_acc", "test_acc", "p_correct", "loss",
             "val_loss", "train_loss", "y")
MIN_POINTS = 8


class CurveWarning(UserWarning):
    """Rows dropped or columns guessed while reading a curve."""


@dataclass
class Curve:
    x: np.ndarray
    y: np.ndarray
    x_name: str
    y_name: str
    source: str
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.x)


def _read_table(path: Path) -> dict[str, list]:
    """Columns of a delimited or JSON-lines file as lists of raw values."""
    text = path.read_text()
    if not text.strip():
        raise CurveFileError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson") or (suffix == ".json" and text.lstrip().startswith("{")
                                            and "\n{" in text):
        cols: dict[str, list] = {}
        n = 0
        for i, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CurveFileError(f"{path}: line {i + 1} is not valid JSON ({exc.msg})") \
                    from None
            if not isinstance(obj, dict):
                raise CurveFileError(f"{path}: line {i + 1} is not a JSON object")
            for k in obj:
                cols.setdefault(k, [None] * n)
            for k in cols:
                cols[k].append(obj.get(k))
            n += 1
        return cols
    delim = "\t" if suffix in (".tsv", ".tab") else None
    if delim is None:
        try:
            delim = csv.Sniffer().sniff(text[:4096], delimiters=",\t;").delimiter
        except csv.Error:
            delim = ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delim))
    if not rows or not rows[0]:
        raise CurveFileError(f"{path}: no header row")
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    return {h: [r[j] if j < len(r) else "" for r in body] for j, h in enumerate(header)}


def _wandb_column(cols: dict, name: str) -> str | None:
    """W&B exports name metric columns '<run> - <metric>' plus '__MIN'/'__MAX' companions."""
    hits = [c for c in cols if c.endswith(f" - {name}")]
    return hits[0] if len(hits) == 1 else None


def _match(cols: dict, name: str) -> str | None:
    """``name`` itself, or its W&B-exported variant, if the file has it."""
    return name if name in cols else _wandb_column(cols, name)


def _pick(cols: dict, requested: str | None, guesses, role: str, path) -> tuple[str, bool]:
    if requested is not None:
        found = _match(cols, requested)
        if found:
            return found, False
        raise CurveFileError(f"{path}: no column {requested!r} for {role}; columns: "
                             f"{', '.join(list(cols)[:12])}")
    for g in guesses:
        found = _match(cols, g)
        if found:
            return found, True
    raise CurveFileError(f"{path}: cannot guess the {role} column; pass --{role} "
                         f"(columns: {', '.join(list(cols)[:12])})")


def _numeric(values, name, path) -> np.ndarray:
    out = np.empty(len(values))
    for i, v in enumerate(values):
        if v is None or (isinstance(v, str) and v.strip() == ""):
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise CurveFileError(f"{path}: column {name!r} has a non-numeric value {v!r} at "
                                 f"row {i + 1}") from None
    return out


def load_curve(path, x: str | None = None, y: str | None = None,
               y_range: tuple[float, float] | None = None, quiet: bool = False) -> Curve:
    """Read one curve.  ``path`` is a CSV/TSV/JSONL file or a ``minimal`` run directory
    (its ``metrics.csv``).  ``y_range`` (e.g. (0, 1) for accuracies) is enforced."""
    p = Path(path)
    meta = {}
    if p.is_dir():
        if not (p / "metrics.csv").exists():
            raise CurveFileError(f"{p}: a directory without metrics.csv is not a minimal run")
        if (p / "run.json").exists():
            try:
                meta["run"] = json.loads((p / "run.json").read_text())
            except json.JSONDecodeError:
                pass
        p = p / "metrics.csv"
    if not p.exists():
        raise CurveFileError(f"{p}: no such file")
    cols = _read_table(p)
    xn, xg = _pick(cols, x, X_GUESSES, "x", p)
    yn, yg = _pick(cols, y, Y_GUESSES, "y", p)
    if (xg or yg) and not quiet:
        warnings.warn(f"{p.name}: using x={xn!r}, y={yn!r}" +
                      (" (guessed; pass --x/--y to choose)" if xg or yg else ""), CurveWarning,
                      stacklevel=2)
    xs = _numeric(cols[xn], xn, p)
    ys = _numeric(cols[yn], yn, p)
    ok = np.isfinite(xs) & np.isfinite(ys)
    dropped = int((~ok).sum())
    if dropped and not quiet:
        warnings.warn(f"{p.name}: dropped {dropped} row(s) with NaN/inf or empty values",
                      CurveWarning, stacklevel=2)
    xs, ys = xs[ok], ys[ok]
    if len(xs) < MIN_POINTS:
        raise CurveFileError(f"{p}: {len(xs)} finite points; need at least {MIN_POINTS}")
    if np.any(np.diff(xs) <= 0):
        i = int(np.flatnonzero(np.diff(xs) <= 0)[0])
        raise CurveFileError(f"{p}: x column {xn!r} is not increasing (row {i + 2}: "
                             f"{xs[i + 1]} after {xs[i]})")
    if y_range is not None:
        lo, hi = y_range
        bad = (ys < lo) | (ys > hi)
        if bad.any():
            raise CurveFileError(f"{p}: y column {yn!r} has {int(bad.sum())} value(s) outside "
                                 f"[{lo}, {hi}] (e.g. {ys[bad][0]}), the model's range")
    meta["dropped_rows"] = dropped
    return Curve(xs, ys, xn, yn, str(path), meta)


def from_arrays(x, y, x_name="x", y_name="y", y_range=None) -> Curve:
    """A validated curve from arrays (same rules as files)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < MIN_POINTS:
        raise CurveFileError(f"curve: {len(x)} finite points; need at least {MIN_POINTS}")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise CurveFileError("curve: x values are not distinct")
    if y_range is not None and ((y < y_range[0]) | (y > y_range[1])).any():
        raise CurveFileError(f"curve: y values outside [{y_range[0]}, {y_range[1]}]")
    return Curve(x, y, x_name, y_name, "<arrays>", {"dropped_rows": int((~ok).sum())})
