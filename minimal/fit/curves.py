"""Reading learning curves (docs/fitting.md, "Reading curves").

Sources: CSV/TSV/semicolon/whitespace tables (with or without a header row; a byte-order mark
and CRLF line ends are fine), JSON lines (a torn last line is skipped with a warning), JSON
(a list of records, a dict of columns, or a Hugging Face ``trainer_state.json`` whose
``log_history`` is read), TensorBoard scalar CSVs (``Wall time,Step,Value``), Weights & Biases
CSV exports (``<run> - <metric>`` columns, one curve per run), ``minimal`` run directories, and
in memory: a pandas DataFrame (pandas is optional), a mapping of columns, ``(x, y)`` or a
NumPy array.

:func:`load_curve` returns one :class:`Curve`; :func:`load_curves` splits a source into one
curve per group (``group=["seed"]`` for stacked files, ``["run"]`` for W&B exports).  Every
problem is a one-line :class:`~minimal.errors.CurveFileError`; what was guessed, dropped or
skipped is a :class:`CurveWarning`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import CurveFileError

__all__ = ["Curve", "CurveWarning", "load_curve", "load_curves", "from_arrays", "read_columns",
           "MAX_BYTES", "MIN_POINTS", "MAX_CURVES"]

#: exact x column names tried in order when ``x`` is not given
X_GUESSES = ("step", "Step", "_step", "global_step", "train/global_step", "iteration", "iter",
             "epoch", "steps", "t", "x")
#: exact y column names tried in order when ``y`` is not given (then any column containing
#: "acc", preferring eval/val/test ones, then losses)
Y_GUESSES = ("ic_acc", "icl_acc", "eval_accuracy", "eval/accuracy", "eval_acc", "eval/acc",
             "val_acc", "val_accuracy", "test_acc", "test_accuracy", "accuracy", "acc",
             "p_correct", "Value", "value", "y")
LOSS_GUESSES = ("eval_loss", "eval/loss", "val_loss", "loss", "train_loss", "train/loss")
MIN_POINTS = 8
#: the most bytes read from one file (a larger file, or a device such as /dev/zero, is refused)
MAX_BYTES = 256 * 2 ** 20
#: the most curves one source may be split into
MAX_CURVES = 10_000
_WANDB_SUFFIXES = ("__MIN", "__MAX", "__step", "_step")


class CurveWarning(UserWarning):
    """Rows dropped, a torn line skipped, or columns guessed while reading a curve."""


@dataclass
class Curve:
    """One learning curve: increasing ``x``, finite ``y``, their column names, where it came
    from and ``meta`` (``group``: the group values, ``run``: a run directory's run.json,
    ``guessed``: the names that were guessed, ``dropped_rows``)."""

    x: np.ndarray
    y: np.ndarray
    x_name: str
    y_name: str
    source: str
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.x)

    @property
    def group(self) -> dict:
        return self.meta.get("group", {})

    @property
    def label(self) -> str:
        """``key=value`` pairs of the group, else the source's name."""
        g = self.group
        if g:
            return " ".join(f"{k}={v}" for k, v in g.items())
        return Path(self.source).name if self.source and not self.source.startswith("<") \
            else self.source


# ----------------------------------------------------------------------------------------------
# raw columns from files
# ----------------------------------------------------------------------------------------------

def _read_bytes(p: Path) -> bytes:
    try:
        st = p.stat()
    except FileNotFoundError:
        raise CurveFileError(f"{p}: no such file") from None
    except OSError as exc:
        raise CurveFileError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise CurveFileError(f"{p}: not a regular file (a device, pipe or socket cannot be "
                             "read as a curve)")
    if st.st_size > MAX_BYTES:
        raise CurveFileError(f"{p}: {st.st_size / 2 ** 20:.0f} MiB is larger than the "
                             f"{MAX_BYTES // 2 ** 20} MiB a curve file may have")
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise CurveFileError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise CurveFileError(f"{p}: larger than the {MAX_BYTES // 2 ** 20} MiB a curve file "
                             "may have")
    return data


def _decode(data: bytes, p) -> str:
    if b"\x00" in data[:8192]:
        raise CurveFileError(f"{p}: a binary file (NUL bytes), not CSV, TSV or JSON")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _json_rows(rows, p, what) -> dict[str, list]:
    cols: dict[str, list] = {}
    n = 0
    for i, obj in enumerate(rows):
        if not isinstance(obj, dict):
            raise CurveFileError(f"{p}: {what} {i + 1} is not a JSON object")
        for k in obj:
            if k not in cols:
                cols[k] = [None] * n
        for k in cols:
            v = obj.get(k)
            cols[k].append(v if not isinstance(v, (dict, list)) else None)
        n += 1
    return cols


def _read_jsonl(text: str, p) -> dict[str, list]:
    lines = [(i, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    rows = []
    for j, (i, line) in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if j == len(lines) - 1 and j > 0:
                warnings.warn(f"{Path(str(p)).name}: skipped the torn last line {i + 1} "
                              f"(not valid JSON: {exc.msg})", CurveWarning, stacklevel=4)
                continue
            raise CurveFileError(f"{p}: line {i + 1} is not valid JSON ({exc.msg})") from None
    return _json_rows(rows, p, "line")


def _read_json(text: str, p) -> tuple[dict[str, list], str]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return _read_jsonl(text, p), "jsonl"
    if isinstance(obj, dict) and isinstance(obj.get("log_history"), list):
        return _json_rows(obj["log_history"], p, "log_history entry"), "hf-trainer-state"
    if isinstance(obj, list):
        return _json_rows(obj, p, "record"), "json-records"
    if isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
        n = {len(v) for v in obj.values()}
        if len(n) != 1:
            raise CurveFileError(f"{p}: the JSON columns have different lengths "
                                 f"({', '.join(str(k) for k in sorted(n))})")
        return {str(k): list(v) for k, v in obj.items()}, "json-columns"
    if isinstance(obj, dict):
        return _json_rows([obj], p, "record"), "jsonl"
    raise CurveFileError(f"{p}: JSON of type {type(obj).__name__} is not a table (expected "
                         "records, columns, JSON lines or a trainer_state.json)")


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _read_delimited(text: str, p, suffix: str, no_header: bool) -> tuple[dict[str, list], str]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    comments = []
    while lines and lines[0].lstrip().startswith("#"):
        comments.append(lines.pop(0).lstrip()[1:].strip())
    if not lines:
        raise CurveFileError(f"{p}: no data rows")
    first = lines[0]
    if suffix in (".tsv", ".tab"):
        delim = "\t"
    else:
        counts = {d: first.count(d) for d in (",", "\t", ";")}
        delim = max(counts, key=counts.get) if max(counts.values()) > 0 else None
    if delim is None:                         # whitespace-separated (e.g. numpy.savetxt)
        rows = [ln.split() for ln in lines]
    else:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
    rows = [[c.strip() for c in r] for r in rows]
    width = max(len(r) for r in rows)
    kind = "table"
    headerless = no_header or all(_is_number(c) for c in rows[0] if c != "")
    if headerless:
        header = None
        if comments and not no_header:       # "# step,acc" above the data (savetxt header)
            c = comments[-1]
            names = c.split(delim) if delim else c.split()
            names = [n.strip() for n in names]
            if len(names) == width and not any(_is_number(n) for n in names):
                header = names
        if header is None:
            header = [f"col{j}" for j in range(width)]
            kind = "headerless"
        body = rows
    else:
        header, body = rows[0], rows[1:]
        header = [h.strip().strip('"') for h in header]
        header = [h if h else f"col{j}" for j, h in enumerate(header)]
        if len(header) < width:
            header += [f"col{j}" for j in range(len(header), width)]
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise CurveFileError(f"{p}: duplicate column name(s) {', '.join(map(repr, dup))}")
    if header[:3] == ["Wall time", "Step", "Value"]:
        kind = "tensorboard"
    return {h: [r[j] if j < len(r) else "" for r in body] for j, h in enumerate(header)}, kind


def read_columns(path, no_header: bool = False) -> tuple[dict[str, list], str]:
    """The columns of a curve file as lists of raw values, and the format detected
    (``table``, ``headerless``, ``tensorboard``, ``jsonl``, ``hf-trainer-state`` …)."""
    p = Path(path)
    text = _decode(_read_bytes(p), p)
    if not text.strip():
        raise CurveFileError(f"{p}: the file is empty")
    suffix = p.suffix.lower()
    head = text.lstrip()[:1]
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(text, p), "jsonl"
    if suffix == ".json" or head in ("{", "["):
        return _read_json(text, p)
    return _read_delimited(text, p, suffix, no_header)


def _columns_of(obj) -> tuple[dict, str] | None:
    """Columns of an in-memory table (DataFrame, mapping, (x, y), array), or None."""
    if hasattr(obj, "columns") and hasattr(obj, "to_numpy") and hasattr(obj, "__getitem__"):
        return {str(c): list(np.asarray(obj[c].to_numpy())) for c in obj.columns}, "dataframe"
    if isinstance(obj, Mapping):
        cols = {}
        for k, v in obj.items():
            arr = np.asarray(v)
            if arr.ndim != 1:
                raise CurveFileError(f"column {k!r}: expected a 1-D sequence, got shape "
                                     f"{arr.shape}")
            cols[str(k)] = list(arr)
        if len({len(v) for v in cols.values()}) > 1:
            raise CurveFileError("the columns have different lengths")
        return cols, "mapping"
    if isinstance(obj, tuple) and len(obj) == 2:
        x, y = (np.asarray(v) for v in obj)
        if x.ndim != 1 or y.ndim != 1 or len(x) != len(y):
            raise CurveFileError(f"(x, y): expected two 1-D sequences of equal length, got "
                                 f"shapes {x.shape} and {y.shape}")
        return {"x": list(x), "y": list(y)}, "arrays"
    if isinstance(obj, np.ndarray) or (isinstance(obj, list) and obj and
                                       isinstance(obj[0], (list, tuple, np.ndarray))):
        arr = np.asarray(obj)
        if arr.ndim == 1:
            return {"index": list(range(len(arr))), "y": list(arr)}, "array"
        if arr.ndim == 2 and arr.shape[1] >= 2:
            return {f"col{j}": list(arr[:, j]) for j in range(arr.shape[1])}, "array"
        if arr.ndim == 2 and arr.shape[0] == 2:
            return {"x": list(arr[0]), "y": list(arr[1])}, "array"
        raise CurveFileError(f"array of shape {arr.shape}: expected (n, 2+) columns or (2, n)")
    return None


# ----------------------------------------------------------------------------------------------
# choosing columns
# ----------------------------------------------------------------------------------------------

def _wandb_runs(cols, metric: str) -> dict[str, str]:
    """W&B exports name metric columns '<run> - <metric>' (plus __MIN/__MAX companions):
    run name -> column."""
    out = {}
    suffix = f" - {metric}"
    for c in cols:
        if c.endswith(suffix) and len(c) > len(suffix):
            out[c[: -len(suffix)]] = c
    return out


def _metric_names(cols) -> list[str]:
    """Column names with a W&B '<run> - ' prefix removed and companions dropped (unique, in
    order)."""
    out = []
    for c in cols:
        if any(c.endswith(s) for s in ("__MIN", "__MAX")):
            continue
        m = c.split(" - ", 1)[1] if " - " in c else c
        if m not in out:
            out.append(m)
    return out


def _present(cols, name: str) -> bool:
    return name in cols or bool(_wandb_runs(cols, name))


def _guess_y(cols, x_name) -> tuple[str | None, list[str]]:
    names = [m for m in _metric_names(cols) if m != x_name and not m.endswith(_WANDB_SUFFIXES)
             and m.lower() not in ("wall time", "wall_s", "time", "timestamp", "_runtime",
                                   "_timestamp", "epoch", "learning_rate", "lr")]
    for g in Y_GUESSES:
        if g in names:
            return g, []
    accs = [m for m in names if "acc" in m.lower()]
    if accs:
        pref = [m for m in accs if re.match(r"^(eval|val|valid|test)[/_.]", m.lower())]
        pick = (pref or accs)[0]
        return pick, [m for m in accs if m != pick]
    for g in LOSS_GUESSES:
        if g in names:
            return g, []
    losses = [m for m in names if "loss" in m.lower()]
    if losses:
        pref = [m for m in losses if re.match(r"^(eval|val|valid|test)[/_.]", m.lower())]
        pick = (pref or losses)[0]
        return pick, [m for m in losses if m != pick]
    if len(names) == 1:
        return names[0], []
    return None, []


def _guess_x(cols) -> str | None:
    names = _metric_names(cols)
    for g in X_GUESSES:
        if g in names:
            return g
    if "col0" in cols and "col1" in cols:
        return "col0"
    if "index" in cols:
        return "index"
    return None


def _shown(cols) -> str:
    names = list(cols)
    more = f" … ({len(names)} in all)" if len(names) > 12 else ""
    return ", ".join(names[:12]) + more


def _numeric(values, name, src) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
        if arr.ndim == 1:
            return arr
    except (TypeError, ValueError):
        pass
    out = np.empty(len(values))
    for i, v in enumerate(values):
        if v is None or (isinstance(v, str) and v.strip() in ("", "nan", "NaN", "null")):
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise CurveFileError(f"{src}: column {name!r} has a non-numeric value {v!r} at "
                                 f"row {i + 1}") from None
    return out


_KV = re.compile(r"([A-Za-z_][\w.]*)=([^\s,;|]+)")


def _run_name_fields(name: str) -> dict:
    """``key=value`` pairs in a W&B run name (``B=2,seed=1`` or ``B=2 seed=1``)."""
    return {k: _scalar(v) for k, v in _KV.findall(name)}


def _scalar(v):
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return v
        return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _lookup_config(run: dict | None, key: str):
    """A dotted (``task.B``) or unique leaf (``B``) key of a run.json config, else KeyError."""
    if not run:
        raise KeyError(key)
    cfg = run.get("config", {})
    node = cfg
    try:
        for part in key.split("."):
            node = node[part]
        if not isinstance(node, dict):
            return node
    except (KeyError, TypeError):
        pass
    hits = []

    def walk(d, prefix):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            elif k == key:
                hits.append(v)
    walk(cfg, "")
    if key == "seed" and isinstance(cfg.get("seeds"), dict):
        return cfg["seeds"].get("seed")
    if len(hits) == 1:
        return hits[0]
    raise KeyError(key)


# ----------------------------------------------------------------------------------------------
# public readers
# ----------------------------------------------------------------------------------------------

def _finish(x, y, x_name, y_name, src, meta, y_range, quiet, label="") -> Curve:
    ok = np.isfinite(x) & np.isfinite(y)
    dropped = int((~ok).sum())
    where = f"{Path(src).name if not src.startswith('<') else src}{label}"
    if dropped and not quiet:
        warnings.warn(f"{where}: used {int(ok.sum())} of {len(x)} rows ({dropped} have no "
                      f"finite {x_name!r} or {y_name!r})", CurveWarning, stacklevel=3)
    x, y = x[ok], y[ok]
    if len(x) < MIN_POINTS:
        raise CurveFileError(f"{src}{label}: {len(x)} finite points; need at least "
                             f"{MIN_POINTS}")
    meta["dropped_rows"] = dropped
    if y_range is not None:
        lo, hi = y_range
        bad = (y < lo) | (y > hi)
        if bad.any():
            raise CurveFileError(f"{src}{label}: y column {y_name!r} has {int(bad.sum())} "
                                 f"value(s) outside [{lo}, {hi}] (e.g. {y[bad][0]}), the "
                                 "model's range")
    return Curve(x, y, x_name, y_name, src, meta)


def _restart_candidates(cols, rows_restart, skip) -> list[str]:
    out = []
    for name, vals in cols.items():
        if name in skip:
            continue
        v = [str(a) for a in vals]
        if len(set(v)) < 2 or len(set(v)) > max(2, len(v) // 2):
            continue
        if any(v[i] != v[i - 1] for i in rows_restart):
            out.append(name)
    return out


def _check_increasing(x, xn, src, label, cols=None, skip=()):
    d = np.diff(x)
    if np.any(d <= 0):
        i = int(np.flatnonzero(d <= 0)[0])
        hint = ""
        if cols is not None:
            restarts = [int(j) + 1 for j in np.flatnonzero(d < 0)]
            cands = _restart_candidates(cols, restarts, skip) if restarts else []
            if restarts:
                hint = ("; stacked runs? pass --group COL" +
                        (f" (candidates: {', '.join(cands)})" if cands else ""))
        kind = "repeats" if d[i] == 0 else "goes back"
        raise CurveFileError(f"{src}{label}: x column {xn!r} is not increasing ({kind} at row "
                             f"{i + 2}: {x[i + 1]:g} after {x[i]:g}){hint}")


def _source_columns(source, no_header):
    """(columns, format, display name, meta) of any accepted source."""
    meta = {}
    got = _columns_of(source) if not isinstance(source, (str, os.PathLike)) else None
    if got is not None:
        cols, kind = got
        return cols, kind, f"<{kind}>", meta
    if not isinstance(source, (str, os.PathLike)):
        raise CurveFileError(f"cannot read a curve from a {type(source).__name__}: give a "
                             "path, a run directory, a DataFrame, a mapping of columns, "
                             "(x, y) or an array")
    p = Path(source)
    if p.is_dir():
        if not (p / "metrics.csv").exists():
            raise CurveFileError(f"{p}: a directory without metrics.csv is not a minimal run")
        if (p / "run.json").exists():
            try:
                meta["run"] = json.loads((p / "run.json").read_text())
            except (json.JSONDecodeError, OSError):
                pass
        cols, kind = read_columns(p / "metrics.csv")
        return cols, "minimal-run", str(source), meta
    cols, kind = read_columns(p, no_header)
    return cols, kind, str(source), meta


def load_curves(source, x: str | None = None, y: str | None = None,
                group: list[str] | str | None = None, no_header: bool = False,
                y_range: tuple[float, float] | None = None, quiet: bool = False) -> list[Curve]:
    """All curves of ``source``, one per group.

    ``source``: a file (CSV, TSV, JSON lines, JSON, trainer_state.json, TensorBoard or W&B CSV),
    a ``minimal`` run directory, a pandas DataFrame, a mapping of columns, ``(x, y)`` or an
    array.  ``x``/``y``: column names (guessed when None; the guess is a
    :class:`CurveWarning` naming only what was guessed).  ``group``: column names that split
    stacked runs (``"seed"``, ``["cond", "seed"]``); for a W&B export with several runs,
    ``run`` is the run name and every ``key=value`` in run names is a column too; for a run
    directory a name may be a config field (``task.B``, ``seed``).  ``no_header``: the first
    row is data (also detected when it is all numbers).  ``y_range``: allowed y values."""
    cols, kind, src, meta = _source_columns(source, no_header)
    if not cols:
        raise CurveFileError(f"{src}: no columns")
    meta["format"] = kind
    groups = [group] if isinstance(group, str) else list(group or [])
    guessed = []
    xn = x if x is not None else _guess_x(cols)
    if xn is None:
        raise CurveFileError(f"{src}: cannot guess the x column; pass --x (columns: "
                             f"{_shown(cols)})")
    if x is None:
        guessed.append(f"x={xn!r}")
    if not _present(cols, xn):
        raise CurveFileError(f"{src}: no column {xn!r} for x; columns: {_shown(cols)}")
    if y is not None:
        yn, others = y, []
    else:
        yn, others = _guess_y(cols, xn)
        if yn is None:
            raise CurveFileError(f"{src}: cannot guess the y column; pass --y (columns: "
                                 f"{_shown(cols)})")
        guessed.append(f"y={yn!r}" + (f" (other candidates: {', '.join(others[:4])})"
                                      if others else ""))
    if not _present(cols, yn):
        raise CurveFileError(f"{src}: no column {yn!r} for y; columns: {_shown(cols)}")
    if guessed and not quiet and kind not in ("arrays", "array"):
        flags = "/".join(f"--{g[0]}" for g in guessed)
        warnings.warn(f"{Path(src).name if not src.startswith('<') else src}: guessed "
                      f"{', '.join(guessed)} (pass {flags} to choose)", CurveWarning,
                      stacklevel=2)
    meta["guessed"] = [g.split("=")[0] for g in guessed]

    # W&B wide export: one curve per run column
    if yn not in cols:
        runs = _wandb_runs(cols, yn)
        if len(runs) > 1 and not groups:
            raise CurveFileError(f"{src}: {yn!r} is logged by {len(runs)} W&B runs "
                                 f"({', '.join(list(runs)[:4])}{' …' if len(runs) > 4 else ''})"
                                 "; pass --group run (or a key of the run names)")
        xcol = cols[xn] if xn in cols else None
        curves = []
        for run_name, col in runs.items():
            if xcol is None:
                xr = _wandb_runs(cols, xn).get(run_name)
                if xr is None:
                    raise CurveFileError(f"{src}: no x column {xn!r} for run {run_name!r}")
                xv = cols[xr]
            else:
                xv = xcol
            fields = {"run": run_name, **_run_name_fields(run_name)}
            g = {}
            for k in groups:
                if k not in fields:
                    raise CurveFileError(f"{src}: group {k!r} is neither 'run' nor a key=value "
                                         f"in the W&B run names (e.g. {run_name!r})")
                g[k] = fields[k]
            m = dict(meta, group=g, run_name=run_name)
            xs, ys = _numeric(xv, xn, src), _numeric(cols[col], col, src)
            label = f" [run {run_name}]"
            c = _finish(xs, ys, xn, yn, src, m, y_range, quiet, label)
            _check_increasing(c.x, xn, src, label)
            curves.append(c)
        return curves

    xs = _numeric(cols[xn], xn, src)
    ys = _numeric(cols[yn], yn, src)
    if not groups:
        c = _finish(xs, ys, xn, yn, src, meta, y_range, quiet)
        _check_increasing(c.x, xn, src, "", cols, (xn, yn))
        return [c]
    keys = []
    for k in groups:
        if k in cols:
            keys.append([_scalar(v) for v in cols[k]])
            continue
        try:
            val = _lookup_config(meta.get("run"), k)
        except KeyError:
            raise CurveFileError(f"{src}: no column {k!r} to group by" +
                                 (" (nor a field of its run.json)" if meta.get("run") else "") +
                                 f"; columns: {_shown(cols)}") from None
        keys.append([_scalar(val)] * len(xs))
    order: dict[tuple, list[int]] = {}
    for i, key in enumerate(zip(*keys)):
        order.setdefault(key, []).append(i)
    if len(order) > MAX_CURVES:
        raise CurveFileError(f"{src}: grouping by {', '.join(groups)} gives {len(order)} "
                             f"curves; at most {MAX_CURVES}")
    curves = []
    for key, idx in order.items():
        idx = np.array(idx)
        g = dict(zip(groups, key))
        label = " [" + " ".join(f"{k}={v}" for k, v in g.items()) + "]"
        c = _finish(xs[idx], ys[idx], xn, yn, src, dict(meta, group=g), y_range, quiet, label)
        _check_increasing(c.x, xn, src, label)
        curves.append(c)
    return curves


def load_curve(source, x: str | None = None, y: str | None = None, no_header: bool = False,
               y_range: tuple[float, float] | None = None, quiet: bool = False) -> Curve:
    """Read one curve (see :func:`load_curves` for the sources and arguments).  A source
    holding several runs (a W&B export with several runs, x restarting in a stacked file) is
    an error that names ``--group``; ``load_curves`` splits it."""
    return load_curves(source, x, y, None, no_header, y_range, quiet)[0]


def from_arrays(x, y, x_name: str = "x", y_name: str = "y", y_range=None,
                source: str = "<arrays>") -> Curve:
    """A validated curve from two arrays: non-finite pairs dropped, sorted by x (x values must
    be distinct), at least 8 points, y inside ``y_range`` when given."""
    x = np.asarray(x, float).ravel()
    y = np.asarray(y, float).ravel()
    if len(x) != len(y):
        raise CurveFileError(f"curve: x and y have different lengths ({len(x)} and {len(y)})")
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
    if not math.isfinite(float(np.ptp(x))) or np.ptp(x) <= 0:
        raise CurveFileError("curve: the x values span no range")
    return Curve(x, y, x_name, y_name, source, {"dropped_rows": int((~ok).sum())})
