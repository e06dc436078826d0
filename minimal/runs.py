"""Run directories: the one kind of result every simulation in ``minimal`` produces.

A run directory holds

``run.json``
    the manifest: kind, config (plus derived values), seeds, package versions, Numba threading
    facts, timings, status (``running``, ``completed``, ``interrupted``, ``failed``) and the step of
    the latest checkpoint.  Rewritten atomically (temporary file + ``os.replace``).
``metrics.csv``
    one row per evaluation.  Rows are appended with a single ``write`` on an ``O_APPEND``
    descriptor; if a crash still leaves a torn last line, readers ignore it and reopening for
    writing truncates it, so the file always parses.
``checkpoint.npz``
    named arrays plus a JSON ``meta`` entry, written atomically.

:meth:`Run.resume` reopens a run for the same config, drops metrics rows newer than the last
checkpoint and hands back the checkpoint, so that a resumed run continues exactly where the
checkpoint left it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from . import __version__
from .config import Seeds, to_dict
from .errors import RunDirError

SCHEMA = "minimal.run/1"
MANIFEST = "run.json"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint.npz"

__all__ = ["Run", "MetricsLog", "Checkpoint", "atomic_write_bytes", "atomic_write_json",
           "read_metrics"]


# ----------------------------------------------------------------------------------------------
# atomic file helpers
# ----------------------------------------------------------------------------------------------

def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a mix."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    text = json.dumps(obj, indent=2, default=_json_default, allow_nan=True)
    atomic_write_bytes(path, (text + "\n").encode())


# ----------------------------------------------------------------------------------------------
# metrics table
# ----------------------------------------------------------------------------------------------

def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "nan"
        return repr(v)  # shortest string that round-trips exactly (inf prints as 'inf')
    s = str(v)
    if any(ch in s for ch in ',"\n'):
        s = '"' + s.replace('"', '""') + '"'
    return s


class MetricsLog:
    """Append-only CSV table with a fixed header and crash-safe appends."""

    def __init__(self, path: str | os.PathLike, columns: Sequence[str] | None = None):
        self.path = Path(path)
        if self.path.exists():
            self._repair()
            header = self._header()
            if columns is not None and header is not None and list(columns) != header:
                raise RunDirError(f"{self.path}: existing columns {header} differ from "
                                  f"requested {list(columns)}")
            if header is None:
                if columns is None:
                    raise RunDirError(f"{self.path}: empty metrics file and no columns given")
                atomic_write_bytes(self.path, (",".join(columns) + "\n").encode())
                header = list(columns)
            self.columns = header
        else:
            if columns is None:
                raise RunDirError(f"{self.path} does not exist and no columns were given")
            self.columns = list(columns)
            atomic_write_bytes(self.path, (",".join(self.columns) + "\n").encode())

    def _header(self) -> list[str] | None:
        with open(self.path, newline="") as fh:
            first = fh.readline()
        if not first.endswith("\n"):
            return None
        return next(csv.reader([first]))

    def _repair(self) -> int:
        """Truncate a torn (newline-less) last line left by a crash; return bytes removed."""
        size = self.path.stat().st_size
        if size == 0:
            return 0
        with open(self.path, "rb+") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) == b"\n":
                return 0
            data = self.path.read_bytes()
            keep = data.rfind(b"\n") + 1
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
            return size - keep

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row (missing columns are written empty, unknown keys are an error)."""
        extra = set(row) - set(self.columns)
        if extra:
            raise KeyError(f"metrics row has unknown columns {sorted(extra)}; "
                           f"known: {self.columns}")
        line = (",".join(_fmt(row.get(c)) for c in self.columns) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            view = memoryview(line)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> dict[str, np.ndarray]:
        return read_metrics(self.path)

    def truncate_after(self, step: int, step_column: str = "step") -> int:
        """Drop rows whose ``step_column`` exceeds ``step`` (atomic rewrite); return rows kept."""
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        complete = lines[:-1]  # last element is b'' or a torn line
        header, rows = complete[0], complete[1:]
        idx = self.columns.index(step_column)
        kept = []
        for raw in rows:
            fields = next(csv.reader([raw.decode()]))
            try:
                s = float(fields[idx])
            except (ValueError, IndexError):
                continue
            if s <= step:
                kept.append(raw)
        atomic_write_bytes(self.path, b"\n".join([header] + kept) + b"\n")
        return len(kept)


def read_metrics(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a metrics CSV into columns (float arrays where numeric); a torn last line is ignored."""
    path = Path(path)
    text = path.read_text()
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        col = [r[j] if j < len(r) else "" for r in body]
        try:
            out[name] = np.array([float(v) if v != "" else np.nan for v in col])
        except ValueError:
            out[name] = np.array(col, dtype=object)
    return out


# ----------------------------------------------------------------------------------------------
# checkpoints
# ----------------------------------------------------------------------------------------------

@dataclass
class Checkpoint:
    step: int
    arrays: dict[str, np.ndarray]
    meta: dict


def save_checkpoint(path: str | os.PathLike, step: int, arrays: Mapping[str, np.ndarray],
                    meta: Mapping[str, Any] | None = None) -> None:
    for name in arrays:
        if name.startswith("__"):
            raise ValueError(f"checkpoint array name {name!r} is reserved")
    buf = io.BytesIO()
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload["__step__"] = np.array(int(step), np.int64)
    payload["__meta__"] = np.array(json.dumps(dict(meta or {}), default=_json_default))
    np.savez(buf, **payload)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if not k.startswith("__")}
            step = int(z["__step__"])
            meta = json.loads(str(z["__meta__"]))
    except (OSError, ValueError, KeyError) as exc:
        raise RunDirError(f"{path}: unreadable checkpoint ({exc})") from None
    return Checkpoint(step, arrays, meta)


# ----------------------------------------------------------------------------------------------
# the run directory
# ----------------------------------------------------------------------------------------------

def _config_dict(config) -> dict:
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    return to_dict(config)


def _diff(a: Mapping, b: Mapping, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        p = f"{prefix}{k}"
        va, vb = a.get(k, "<missing>"), b.get(k, "<missing>")
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            out += _diff(va, vb, p + ".")
        elif va != vb:
            out.append(p)
    return out


class Run:
    """A run directory (see the module docstring).  Create with :meth:`create` or
    :meth:`resume`, or open read-only with :meth:`open`."""

    def __init__(self, path: Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest
        self._metrics: MetricsLog | None = None
        self._t_open = time.perf_counter()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def create(cls, path, kind: str, config=None, seeds: Seeds | None = None,
               columns: Sequence[str] | None = None, resolved: Mapping | None = None,
               extra: Mapping | None = None, exist_ok: bool = False) -> "Run":
        """Start a new run in ``path`` (created if needed; an existing run is an error unless
        ``exist_ok``, in which case it is replaced)."""
        from .env import environment
        path = Path(path)
        if (path / MANIFEST).exists() and not exist_ok:
            raise RunDirError(f"{path} already holds a run; pass --resume to continue it or "
                              "choose another --out")
        path.mkdir(parents=True, exist_ok=True)
        for name in (METRICS, CHECKPOINT):
            if (path / name).exists():
                (path / name).unlink()
        now = time.time()
        manifest = {
            "schema": SCHEMA,
            "kind": kind,
            "status": "running",
            "minimal_version": __version__,
            "config": _config_dict(config),
            "config_class": (f"{type(config).__module__}.{type(config).__qualname__}"
                             if config is not None and not isinstance(config, Mapping) else None),
            "resolved": dict(resolved or {}),
            "seeds": seeds.resolved() if seeds is not None else None,
            "environment": environment(),
            "argv": list(sys.argv),
            "created": now,
            "updated": now,
            "timings": {},
            "checkpoint_step": None,
            "resumed": [],
        }
        manifest.update(extra or {})
        run = cls(path, manifest)
        run.write_manifest()
        if columns is not None:
            run._metrics = MetricsLog(path / METRICS, columns)
        return run

    @classmethod
    def open(cls, path) -> "Run":
        """Open an existing run (read its manifest)."""
        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.exists():
            raise RunDirError(f"{path} is not a run directory (no {MANIFEST})")
        try:
            manifest = json.loads(mpath.read_text())
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{mpath}: corrupt manifest ({exc.msg})") from None
        if manifest.get("schema") != SCHEMA:
            raise RunDirError(f"{mpath}: unknown schema {manifest.get('schema')!r}")
        return cls(path, manifest)

    @classmethod
    def resume(cls, path, kind: str, config=None, columns: Sequence[str] | None = None,
               allow_changes: Iterable[str] = ()) -> tuple["Run", Checkpoint | None]:
        """Reopen ``path`` to continue it with the same config.

        Config fields listed in ``allow_changes`` (dotted names, e.g. ``train.steps``) may
        differ; any other difference is an error.  Metrics rows newer than the checkpoint are
        dropped so the resumed run rewrites them.  Returns (run, checkpoint or None).
        """
        run = cls.open(path)
        if run.manifest.get("kind") != kind:
            raise RunDirError(f"{path} holds a {run.manifest.get('kind')!r} run, not {kind!r}")
        if config is not None:
            new = _config_dict(config)
            diffs = [d for d in _diff(run.manifest.get("config", {}), new)
                     if d not in set(allow_changes)]
            if diffs:
                raise RunDirError(f"{path}: config differs from the saved run in "
                                  f"{', '.join(diffs)}; resume with the same settings")
            run.manifest["config"] = new
        ckpt = run.load_checkpoint() if (run.path / CHECKPOINT).exists() else None
        if columns is not None:
            run._metrics = MetricsLog(run.path / METRICS, columns)
            run._metrics.truncate_after(ckpt.step if ckpt else -1)
        run.manifest["status"] = "running"
        run.manifest["resumed"].append({"time": time.time(),
                                        "from_step": ckpt.step if ckpt else None})
        run.write_manifest()
        return run, ckpt

    # -- manifest -----------------------------------------------------------------------------
    def write_manifest(self) -> None:
        self.manifest["updated"] = time.time()
        atomic_write_json(self.path / MANIFEST, self.manifest)

    def update(self, **fields) -> None:
        self.manifest.update(fields)
        self.write_manifest()

    def add_timing(self, name: str, seconds: float, accumulate: bool = True) -> None:
        t = self.manifest.setdefault("timings", {})
        t[name] = (t.get(name, 0.0) if accumulate else 0.0) + float(seconds)

    def finish(self, status: str = "completed", **fields) -> None:
        if status not in ("completed", "interrupted", "failed"):
            raise ValueError(f"status={status!r} is invalid: completed, interrupted or failed")
        self.manifest["status"] = status
        self.manifest.update(fields)
        self.write_manifest()

    @property
    def status(self) -> str:
        return self.manifest.get("status", "unknown")

    @property
    def config(self) -> dict:
        return self.manifest.get("config", {})

    # -- metrics ------------------------------------------------------------------------------
    @property
    def metrics_log(self) -> MetricsLog:
        if self._metrics is None:
            self._metrics = MetricsLog(self.path / METRICS)
        return self._metrics

    def log(self, row: Mapping[str, Any]) -> None:
        self.metrics_log.append(row)

    def metrics(self) -> dict[str, np.ndarray]:
        p = self.path / METRICS
        return read_metrics(p) if p.exists() else {}

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, step: int, arrays: Mapping[str, np.ndarray],
                        meta: Mapping[str, Any] | None = None) -> None:
        save_checkpoint(self.path / CHECKPOINT, step, arrays, meta)
        self.manifest["checkpoint_step"] = int(step)
        self.write_manifest()

    def load_checkpoint(self) -> Checkpoint:
        p = self.path / CHECKPOINT
        if not p.exists():
            raise RunDirError(f"{self.path} has no checkpoint yet")
        return load_checkpoint(p)
