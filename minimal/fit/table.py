"""Fit results as table rows and CSV files (``minimal fit --table``)."""

from __future__ import annotations

import csv
import io

from ..runs import atomic_write_bytes

__all__ = ["table_row", "write_table"]


def table_row(r) -> dict:
    row = {"source": r.source, "model": r.model, "x": r.x_name, "y": r.y_name,
           "n_points": r.n_points, "r2": r.r2, "aic": r.aic, "bic": r.bic,
           "t_transition": r.t_transition,
           "t_ci_low": r.t_transition_ci[0] if r.t_transition_ci else None,
           "t_ci_high": r.t_transition_ci[1] if r.t_transition_ci else None}
    for k, v in r.params.items():
        row[f"p:{k}"] = v
        row[f"se:{k}"] = r.stderr.get(k)
    return row


def write_table(rows, path) -> None:
    keys = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
    atomic_write_bytes(path, buf.getvalue().encode())
