"""Fit results as table rows and CSV files (``minimal fit --table [--append]``).

Every table has the same columns whatever the model: the group columns of the call, then
:data:`COMMON`, then a value and a standard-error column for every parameter of every
registered model (empty where a model has no such parameter), so tables of different models
and calls can be appended to one another.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..errors import CurveFileError
from ..runs import atomic_write_bytes
from .registry import all_param_names

__all__ = ["COMMON", "table_columns", "table_row", "write_table", "check_append"]

COMMON = ("source", "model", "verdict", "x", "y", "quantity", "n_points", "k", "r2", "aic",
          "bic", "t_transition", "t_ci_low", "t_ci_high", "fixed", "flags")


def table_columns(group_cols=()) -> list[str]:
    cols = list(group_cols) + list(COMMON)
    for p in all_param_names():
        cols += [f"p:{p}", f"se:{p}"]
    return cols


def table_row(r, group_cols=None) -> dict:
    """One row: group values, the common columns and the parameters (in natural units)."""
    group_cols = list(r.group) if group_cols is None else list(group_cols)
    row = {g: r.group.get(g) for g in group_cols}
    ci = r.t_transition_ci
    row.update({"source": r.source, "model": r.model, "verdict": r.verdict, "x": r.x_name,
                "y": r.y_name, "quantity": r.info.get("quantity"), "n_points": r.n_points,
                "k": r.k, "r2": r.r2, "aic": r.aic, "bic": r.bic,
                "t_transition": r.t_transition, "t_ci_low": ci[0] if ci else None,
                "t_ci_high": ci[1] if ci else None,
                "fixed": ";".join(f"{k}={v:g}" for k, v in r.fixed.items()),
                "flags": ";".join(r.flags)})
    for k, v in r.params.items():
        row[f"p:{k}"] = v
        row[f"se:{k}"] = r.stderr.get(k)
    return row


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(v)
    return v


def _header_of(path) -> list[str] | None:
    p = Path(path)
    if not p.exists():
        return None
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise CurveFileError(f"{p}: cannot read the table to append to ({exc})") from None


def check_append(path, columns) -> None:
    """Raise (before any fitting) when ``path`` exists with other columns than ``columns``."""
    head = _header_of(path)
    if head is None:
        return
    if head != list(columns):
        extra = [c for c in columns if c not in head]
        missing = [c for c in head if c not in columns]
        what = []
        if extra:
            what.append(f"this call adds {', '.join(extra[:4])}")
        if missing:
            what.append(f"the table also has {', '.join(missing[:4])}")
        raise CurveFileError(f"{path}: cannot append: its columns differ from this call's "
                             f"({'; '.join(what) or 'another order'}); use the same --group "
                             "columns or a new table")


def write_table(rows, path, columns, append: bool = False) -> None:
    """Write ``rows`` (dicts) with ``columns`` to ``path`` atomically; with ``append`` keep the
    rows already there (same columns: see :func:`check_append`)."""
    old = ""
    if append and Path(path).exists():
        check_append(path, columns)
        old = Path(path).read_text(encoding="utf-8-sig")
        if old and not old.endswith("\n"):
            old += "\n"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n",
                       extrasaction="raise")
    if not old:
        w.writeheader()
    for r in rows:
        w.writerow({k: _cell(r.get(k)) for k in columns})
    atomic_write_bytes(path, (old + buf.getvalue()).encode())
