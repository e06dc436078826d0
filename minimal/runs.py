"""Run directories: the one kind of result every simulation in ``minimal`` produces
(docs/architecture.md, "Run directories").

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
``.minimal-run``
    the marker that says the directory is ours: nothing is ever written into (or deleted from) a
    non-empty directory without it unless the caller forces it, and then only our own file names.
``run.lock``
    an exclusive ``flock`` held for the run's lifetime, recording host and PID; a second writer
    fails at once naming the holder; a lock whose holder is gone is taken over with a warning.

:meth:`Run.resume` reopens a run, checks that ``metrics.csv`` holds every row up to the last
checkpoint (a torn or missing row *at* the checkpoint step is rewritten from the checkpoint), drops
rows newer than the checkpoint and hands the checkpoint back, so that a resumed run continues
exactly where the checkpoint left it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import socket
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Mapping, Sequence

import numpy as np

from ._version import __version__
from .config import Seeds, to_dict
from .errors import RunDirError, RunLockedError, RunWarning

SCHEMA = "minimal.run/2"
#: schemas this version can open (older ones are migrated on resume)
READABLE_SCHEMAS = ("minimal.run/1", SCHEMA)
MANIFEST = "run.json"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint.npz"
MARKER = ".minimal-run"
LOCK = "run.lock"
#: every file name a run directory may hold that we wrote (the only ones we ever replace)
OWN_FILES = (MANIFEST, METRICS, CHECKPOINT, MARKER, LOCK, "snapshots.npz")

__all__ = ["Run", "RunLock", "MetricsLog", "Checkpoint", "atomic_write_bytes", "atomic_write_stream", "atomic_write_json",
           "read_metrics", "is_run_dir", "nonfinite_arrays"]


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


def _file_mode() -> int:
    """0666 minus the process umask (what ``open`` would give; mkstemp alone gives 0600)."""
    old = os.umask(0o022)
    os.umask(old)
    return 0o666 & ~old


def atomic_write_stream(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path`` and move it into place, so readers
    see the old or the new file, never a mix; nothing is buffered in memory (a checkpoint of
    several GiB costs no second copy).

    The file gets the permissions of a normally created file (the process umask)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_stream`)."""
    atomic_write_stream(path, lambda fh: fh.write(data))


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
        try:
            self._open(columns)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise RunDirError(f"{self.path}: cannot use the metrics file "
                              f"({type(exc).__name__}: {getattr(exc, 'strerror', None) or exc})"
                              ) from None

    def _open(self, columns):
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
    """Read a metrics CSV (or a run directory's ``metrics.csv``) into columns: float arrays
    where numeric, object arrays otherwise; a torn last line is ignored."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RunDirError(f"{path}: no such metrics file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: cannot read metrics ({exc.__class__.__name__}: "
                          f"{getattr(exc, 'strerror', None) or exc})") from None
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
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload["__step__"] = np.array(int(step), np.int64)
    payload["__meta__"] = np.array(json.dumps(dict(meta or {}), default=_json_default))
    # streamed into the file: a model's state is not copied (the CoT stores of the paper world
    # are 2.4 GiB; an in-memory archive held two more copies)
    atomic_write_stream(path, lambda fh: np.savez(fh, **payload))


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if not k.startswith("__")}
            step = int(z["__step__"])
            meta = json.loads(str(z["__meta__"]))
    except FileNotFoundError:
        raise RunDirError(f"{path}: no checkpoint") from None
    except Exception as exc:  # truncated zip, foreign file, object arrays, bad JSON ...
        kind = type(exc).__name__
        raise RunDirError(f"{path}: not a readable minimal checkpoint (truncated or corrupt: "
                          f"{kind})") from None
    if not isinstance(meta, dict):
        raise RunDirError(f"{path}: not a readable minimal checkpoint (bad meta entry)")
    return Checkpoint(step, arrays, meta)


def nonfinite_arrays(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """Names of the floating-point arrays that hold a NaN or an infinity."""
    bad = []
    for k, v in arrays.items():
        v = np.asarray(v)
        if v.dtype.kind in "fc" and not np.isfinite(v).all():
            bad.append(k)
    return bad


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


def _lookup(d: Mapping, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, Mapping) or part not in d:
            return None
        d = d[part]
    return d


def _check_out_path(path) -> Path:
    if path is None or str(path).strip() == "":
        raise RunDirError("--out must be a non-empty path (the run directory to write)")
    return Path(path)


def is_run_dir(path) -> bool:
    """Whether ``path`` is a run directory written by ``minimal`` (marker, or an older run.json)."""
    path = Path(path)
    if (path / MARKER).is_file():
        return True
    m = path / MANIFEST
    if m.is_file():
        try:
            return json.loads(m.read_text()).get("schema") in READABLE_SCHEMAS
        except (OSError, ValueError, UnicodeDecodeError, AttributeError):
            return False
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """An exclusive ``fcntl.flock`` on ``run.lock`` (POSIX), recording host and PID.

    ``acquire`` fails at once with :class:`RunLockedError` naming the holder if a live process
    holds it; the OS releases a flock when its holder dies, so a lock file naming a process
    that is gone is *stale* and is taken over with a :class:`RunWarning`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None
        self.took_over: dict | None = None

    def holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError, UnicodeDecodeError):
            return {}

    def acquire(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows is not supported
            raise RunDirError("run directories need POSIX file locks (Linux or macOS); "
                              "Windows is not supported") from None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, _file_mode())
        except OSError as exc:
            raise RunDirError(f"cannot create the lock file {self.path}: "
                              f"{exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            h = self.holder()
            who = (f"pid {h.get('pid')} on {h.get('host')} since "
                   f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(h['since']))}"
                   if h.get("since") else "another process")
            raise RunLockedError(f"{self.path.parent} is in use by {who}; wait for it to "
                                 "finish or stop it (two writers would corrupt the run)") from None
        old = self.holder()
        host = socket.gethostname()
        if old.get("pid") and old.get("host") == host and int(old["pid"]) != os.getpid() \
                and not _pid_alive(int(old["pid"])):
            self.took_over = old
            warnings.warn(f"{self.path.parent}: took over a stale lock of pid {old['pid']} "
                          f"(no longer running)", RunWarning, stacklevel=3)
        info = json.dumps({"host": host, "pid": os.getpid(), "since": time.time()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
        except OSError:
            pass
        os.close(self.fd)          # closing the descriptor releases the flock
        self.fd = None


class Run:
    """A run directory (see the module docstring).  Create with :meth:`create` or
    :meth:`resume` (both lock the directory until :meth:`finish` or :meth:`close`), or open
    read-only with :meth:`open`."""

    def __init__(self, path: Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest
        self._metrics: MetricsLog | None = None
        self._lock: RunLock | None = None
        self._rows = 0
        self._last_row: dict | None = None
        self._t_open = time.perf_counter()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def create(cls, path, kind: str, config=None, seeds: Seeds | None = None,
               columns: Sequence[str] | None = None, resolved: Mapping | None = None,
               extra: Mapping | None = None, force: bool = False,
               exist_ok: bool = False) -> "Run":
        """Start a new run in ``path`` (created if needed).

        An existing run there is an error unless ``force`` (or the older name ``exist_ok``):
        then its files are replaced (only the files a run writes).  A non-empty directory that
        is not a run is refused unless ``force``, and even then none of its files is touched:
        if it holds a file with one of our names, that is an error."""
        from .env import environment
        path = _check_out_path(path)
        force = force or exist_ok
        if path.exists() and not path.is_dir():
            raise RunDirError(f"--out {path} exists and is not a directory")
        ours = path.is_dir() and is_run_dir(path)
        if path.is_dir():
            try:
                entries = sorted(p.name for p in path.iterdir())
            except OSError as exc:
                raise RunDirError(f"cannot read {path}: {exc.strerror}") from None
            if ours and (path / MANIFEST).exists() and not force:
                raise RunDirError(f"{path} already holds a run; pass --resume to continue it, "
                                  "--force to replace it, or choose another --out")
            if ours and not (path / MANIFEST).exists() and (path / CHECKPOINT).exists() \
                    and not force:
                raise RunDirError(f"{path} holds a checkpoint but its {MANIFEST} is missing; "
                                  "refusing to replace it (restore run.json to resume, or "
                                  "pass --force to start over)")
            if not ours and entries:
                clash = [e for e in entries if e in OWN_FILES]
                if not force:
                    raise RunDirError(f"{path} is not empty and is not a minimal run "
                                      f"({len(entries)} entries, e.g. {entries[0]!r}); choose "
                                      "an empty or new --out, or pass --force to add a run "
                                      "beside the files there")
                if clash:
                    raise RunDirError(f"{path} holds a file named {clash[0]!r} that minimal "
                                      "did not write; refusing to overwrite it even with "
                                      "--force")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"cannot create the run directory {path}: "
                              f"{exc.strerror or exc}") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise RunDirError(f"the run directory {path} is not writable")
        lock = RunLock(path / LOCK).acquire()
        try:
            if ours:
                for name in (METRICS, CHECKPOINT, "snapshots.npz", MANIFEST):
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
                                 if config is not None and not isinstance(config, Mapping)
                                 else None),
                "resolved": dict(resolved or {}),
                "seeds": seeds.resolved() if seeds is not None else None,
                "environment": environment(),
                "argv": list(sys.argv),
                "created": now,
                "updated": now,
                "timings": {},
                "checkpoint_step": None,
                "history": [{"time": now, "event": "created", "host": socket.gethostname(),
                             "pid": os.getpid()}],
                "warnings": [],
            }
            manifest.update(extra or {})
            atomic_write_json(path / MARKER, {"schema": SCHEMA, "created": now})
            run = cls(path, manifest)
            run._lock = lock
            run.write_manifest()
            if columns is not None:
                run._metrics = MetricsLog(path / METRICS, columns)
        except OSError as exc:
            lock.release()
            raise RunDirError(f"cannot write the run directory {path}: "
                              f"{exc.strerror or exc}") from None
        except BaseException:
            lock.release()
            raise
        return run

    @classmethod
    def open(cls, path) -> "Run":
        """Open an existing run read-only (no lock)."""
        path = Path(path)
        mpath = path / MANIFEST
        if not path.is_dir() or not mpath.exists():
            raise RunDirError(f"{path} is not a run directory (no {MANIFEST})")
        try:
            manifest = json.loads(mpath.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise RunDirError(f"{mpath}: corrupt manifest ({type(exc).__name__}); the run "
                              "cannot be resumed") from None
        except OSError as exc:
            raise RunDirError(f"{mpath}: cannot read ({exc.strerror})") from None
        if not isinstance(manifest, dict):
            raise RunDirError(f"{mpath}: corrupt manifest (not a JSON object)")
        if manifest.get("schema") not in READABLE_SCHEMAS:
            raise RunDirError(f"{mpath}: unknown schema {manifest.get('schema')!r} (this "
                              f"version reads {', '.join(READABLE_SCHEMAS)})")
        if not isinstance(manifest.get("config", {}), dict):
            raise RunDirError(f"{mpath}: corrupt manifest (config is not an object)")
        return cls(path, manifest)

    @classmethod
    def resume(cls, path, kind: str, config=None, columns: Sequence[str] | None = None,
               allow_changes: Iterable[str] = (), require_checkpoint: bool = True,
               normalise=None, check=None) -> tuple["Run", Checkpoint | None]:
        """Reopen ``path`` to continue it.

        Config fields listed in ``allow_changes`` (dotted names, e.g. ``train.steps``) may
        differ and are recorded in the manifest's ``history``; any other difference is an
        error.  Without a loadable checkpoint this is an error (``require_checkpoint``).
        ``metrics.csv`` is repaired: rows newer than the checkpoint are dropped (the resumed run
        rewrites them); a torn or missing row at the checkpoint step is rewritten from the
        checkpoint; rows missing *before* it are an error (they cannot be recomputed).
        ``normalise(saved_config_dict)`` migrates an older run's config before comparing (e.g.
        fills fields added since with their defaults).  ``check(checkpoint)`` may raise to refuse
        the checkpoint; it runs before anything in the directory is touched.  Returns (run,
        checkpoint or None)."""
        path = _check_out_path(path)
        run = cls.open(path)
        if run.manifest.get("kind") != kind:
            raise RunDirError(f"{path} holds a {run.manifest.get('kind')!r} run, not {kind!r}")
        changes = {}
        if config is not None:
            new = _config_dict(config)
            old = run.manifest.get("config", {})
            if normalise is not None:
                old = normalise(old)
            allowed = set(allow_changes)
            diffs = _diff(old, new)
            bad = [d for d in diffs if d not in allowed]
            if bad:
                raise RunDirError(f"{path}: config differs from the saved run in "
                                  f"{', '.join(bad)}; resume with the same settings (only "
                                  f"{', '.join(sorted(allowed)) or 'nothing'} may change)")
            changes = {d: [_lookup(old, d), _lookup(new, d)] for d in diffs}
        ckpt = None
        if (path / CHECKPOINT).exists():
            ckpt = load_checkpoint(path / CHECKPOINT)
        elif require_checkpoint:
            raise RunDirError(f"{path} has no checkpoint to resume from; start it again "
                              "with --force (or choose another --out)")
        if check is not None and ckpt is not None:
            check(ckpt)
        rewrite_last = Run._plan_metrics(path / METRICS, ckpt) if columns is not None else False
        lock = RunLock(path / LOCK).acquire()
        try:
            run._lock = lock
            if columns is not None:
                run._metrics = MetricsLog(path / METRICS, columns)
                run._repair_metrics(ckpt, rewrite_last)
            if not (path / MARKER).exists():
                atomic_write_json(path / MARKER, {"schema": SCHEMA, "created": time.time(),
                                                  "migrated_from": run.manifest.get("schema")})
            run.manifest["schema"] = SCHEMA
            if config is not None:
                run.manifest["config"] = _config_dict(config)
            run.manifest["status"] = "running"
            run.manifest.pop("reason", None)
            run.manifest.pop("error", None)
            event = {"time": time.time(), "event": "resumed",
                     "from_step": ckpt.step if ckpt else None, "host": socket.gethostname(),
                     "pid": os.getpid()}
            if changes:
                event["changes"] = changes
            run.manifest.setdefault("history", []).append(event)
            run.manifest.setdefault("resumed", []).append(
                {"time": event["time"], "from_step": event["from_step"]})
            run.write_manifest()
        except BaseException:
            lock.release()
            run._lock = None
            raise
        return run, ckpt

    @staticmethod
    def _plan_metrics(path: Path, ckpt: Checkpoint | None) -> bool:
        """Read-only check of ``metrics.csv`` against the checkpoint, before anything is
        written: raises if rows before the checkpoint are lost; returns whether the row at the
        checkpoint step must be rewritten from the checkpoint."""
        step = ckpt.step if ckpt else -1
        expected = ckpt.meta.get("metrics_rows") if ckpt else 0
        if expected is None:               # a checkpoint of an older version: nothing to check
            return False
        last = ckpt.meta.get("last_row") if ckpt else None
        kept = 0
        if path.exists():
            try:
                cols = read_metrics(path)
            except RunDirError:
                cols = {}
            steps = np.asarray(cols.get("step", []), float)
            kept = int((steps <= step).sum()) if steps.size else 0
        if kept == expected:
            return False
        if (kept == expected - 1 and isinstance(last, dict)
                and float(last.get("step", -1)) == step):
            return True
        raise RunDirError(f"{path} holds {kept} row(s) up to the checkpoint step {step}, but "
                          f"{expected} were written; rows before the checkpoint were lost and "
                          "cannot be recomputed (restore the file or start again with --force)")

    def _repair_metrics(self, ckpt: Checkpoint | None, rewrite_last: bool) -> None:
        log = self._metrics
        step = ckpt.step if ckpt else -1
        kept = log.truncate_after(step)
        last = ckpt.meta.get("last_row") if ckpt else None
        if rewrite_last:
            log.append({k: v for k, v in last.items() if k in log.columns})
            kept += 1
            warnings.warn(f"{self.path}: rewrote the metrics row of step {step} from the "
                          "checkpoint (it was torn or missing)", RunWarning, stacklevel=3)
        self._rows = kept
        self._last_row = last if isinstance(last, dict) else None

    # -- lifetime -----------------------------------------------------------------------------
    @property
    def locked(self) -> bool:
        return self._lock is not None and self._lock.fd is not None

    def close(self) -> None:
        """Release the lock (idempotent)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

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

    def warn(self, message: str, **fields) -> None:
        """Record a warning in run.json (``warnings``) and emit a :class:`RunWarning`."""
        entry = {"message": message, "time": time.time(), **fields}
        self.manifest.setdefault("warnings", []).append(entry)
        self.write_manifest()
        warnings.warn(f"{self.path}: {message}", RunWarning, stacklevel=2)

    def finish(self, status: str = "completed", reason: str | None = None, **fields) -> None:
        """Record the final status (``completed``, ``interrupted`` or ``failed`` with a
        ``reason``) and release the lock."""
        if status not in ("completed", "interrupted", "failed"):
            raise ValueError(f"status={status!r} is invalid: completed, interrupted or failed")
        self.manifest["status"] = status
        if status == "failed":
            self.manifest["reason"] = reason or "error"
        elif reason:
            self.manifest["reason"] = reason
        self.manifest.update(fields)
        self.manifest.setdefault("history", []).append(
            {"time": time.time(), "event": status, **({"reason": reason} if reason else {})})
        try:
            self.write_manifest()
        finally:
            self.close()

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
        self._rows += 1
        self._last_row = {k: row[k] for k in row}

    def metrics(self) -> dict[str, np.ndarray]:
        p = self.path / METRICS
        return read_metrics(p) if p.exists() else {}

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, step: int, arrays: Mapping[str, np.ndarray],
                        meta: Mapping[str, Any] | None = None) -> None:
        """Write the checkpoint; its meta also records how many metrics rows exist and the
        last row, so that resume can verify and repair ``metrics.csv``."""
        meta = dict(meta or {})
        if self._metrics is not None:
            meta["metrics_rows"] = self._rows
            meta["last_row"] = self._last_row
        save_checkpoint(self.path / CHECKPOINT, step, arrays, meta)
        self.manifest["checkpoint_step"] = int(step)
        self.write_manifest()

    def load_checkpoint(self) -> Checkpoint:
        p = self.path / CHECKPOINT
        if not p.exists():
            raise RunDirError(f"{self.path} has no checkpoint yet")
        return load_checkpoint(p)
