"""Environment facts recorded beside every result and printed by ``minimal info``.

Also the thread policy: tiny networks run one thread per process, parallelism comes from running
many processes.  :func:`limit_threads` caps the BLAS/OpenMP pools through environment variables; it
only has full effect before NumPy is imported, which is why the CLI calls it first.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import warnings
from importlib import metadata
from pathlib import Path

from .errors import ConfigError

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

_PACKAGES = ("minimal-icl", "numpy", "numba", "llvmlite", "scipy", "sympy", "matplotlib", "tqdm",
             "hypothesis", "pytest", "torch")


def limit_threads(n: int = 1, numba_too: bool = True) -> None:
    """Default every BLAS/OpenMP pool (and Numba's) to ``n`` threads unless the user set them."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(n))
    if numba_too:
        os.environ.setdefault("NUMBA_NUM_THREADS", str(n))


def package_versions() -> dict[str, str | None]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def numba_info() -> dict:
    import numba
    from numba.core import config as ncfg
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        layer = None
    cache_dir = ncfg.CACHE_DIR or "(beside each module, in __pycache__)"
    return {
        "version": numba.__version__,
        "threading_layer_requested": ncfg.THREADING_LAYER,
        "threading_layer_active": layer,
        "num_threads": numba.get_num_threads(),
        "NUMBA_NUM_THREADS": ncfg.NUMBA_NUM_THREADS,
        "disable_jit": bool(ncfg.DISABLE_JIT),
        "cache_dir": cache_dir,
    }


def thread_env() -> dict[str, str | None]:
    return {v: os.environ.get(v) for v in THREAD_VARS + ("NUMBA_NUM_THREADS",)}


def memory_budget_bytes() -> int:
    """Memory a single run may plan to use: ``$MINIMAL_MEMORY_GB`` GiB if set, else 80 % of the
    machine's physical memory (24 GiB here → 19.2 GiB).  Sizes that would need more are rejected
    before any work starts, with the bound in the message."""
    env = os.environ.get("MINIMAL_MEMORY_GB")
    if env:
        try:
            return int(float(env) * 2**30)
        except ValueError:
            raise ConfigError("MINIMAL_MEMORY_GB", env, "must be a number of GiB") from None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        total = 8 * 2**30
    return int(0.8 * total)


def check_memory(name: str, value, need_bytes: float, what: str, per_unit: float | None = None
                 ) -> None:
    """Raise a one-line ConfigError if ``need_bytes`` exceeds :func:`memory_budget_bytes`;
    with ``per_unit`` (bytes per unit of ``value``) the message states the largest value."""
    budget = memory_budget_bytes()
    if need_bytes <= budget:
        return
    gib = 2**30
    hint = ""
    if per_unit:
        hint = f"; at most about {int(budget // per_unit):,} here"
    raise ConfigError(name, value, f"{what} would need {need_bytes / gib:.1f} GiB, more than the "
                      f"{budget / gib:.1f} GiB this machine allows (set MINIMAL_MEMORY_GB to "
                      f"change){hint}")


def git_commit() -> str | None:
    """The git commit of the package source when it runs from a git checkout, else None."""
    import subprocess
    here = os.path.dirname(os.path.abspath(__file__))
    if not os.path.exists(os.path.join(os.path.dirname(here), ".git")):
        return None
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment() -> dict:
    """Everything recorded in a run manifest's ``environment`` entry."""
    return {
        "versions": package_versions(),
        "numba": numba_info(),
        "threads_env": thread_env(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "executable": sys.executable,
        "git_commit": git_commit(),
    }


def tune_malloc() -> bool:
    """Keep freed memory in the process heap (glibc): large temporaries of the kernels are then
    recycled instead of being returned to the OS and page-faulted back on every step (measured:
    ~1.4× faster training steps).  A no-op elsewhere; returns whether it applied."""
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("c")
    if not name or platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL(name)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        ok1 = libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)
        ok2 = libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1)
        return bool(ok1 and ok2)
    except (OSError, AttributeError):
        return False


# ----------------------------------------------------------------------------------------------
# cache directories
# ----------------------------------------------------------------------------------------------

_PRIVATE: Path | None = None


def _unsafe(d: Path) -> str | None:
    """Why ``d`` must not hold code we execute (None when it is safe): it must be a directory
    owned by this user and writable by nobody else."""
    try:
        st = d.stat()
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not d.is_dir():
        return "is not a directory"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"is owned by another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return f"is writable by others (mode {st.st_mode & 0o777:o})"
    if not os.access(d, os.W_OK | os.X_OK):
        return "is not writable"
    return None


def _make_private(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True, mode=0o700)


def cache_dir() -> Path:
    """Where generated modules are cached: ``$MINIMAL_CACHE_DIR`` (an error if it is unsafe),
    else ``$XDG_CACHE_HOME/minimal`` (default ``~/.cache/minimal``), else
    ``/tmp/minimal-cache-<uid>``, else a fresh private temporary directory.  A directory is
    used only if this user owns it and nobody else can write to it: its modules are executed."""
    env = os.environ.get("MINIMAL_CACHE_DIR")
    if env:
        d = Path(env)
        try:
            _make_private(d)
        except OSError as exc:
            raise ConfigError("MINIMAL_CACHE_DIR", env, f"cannot be created ({exc.strerror})") \
                from None
        why = _unsafe(d)
        if why:
            raise ConfigError("MINIMAL_CACHE_DIR", env, f"{why}; generated code is executed "
                              "from it, so it must be owned by you and not writable by others")
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    for d in (Path(base) / "minimal", Path(tempfile.gettempdir()) / f"minimal-cache-{uid}"):
        try:
            _make_private(d)
        except OSError:
            continue
        why = _unsafe(d)
        if why is None:
            return d
        warnings.warn(f"not using the cache directory {d}: it {why}", RuntimeWarning,
                      stacklevel=2)
    global _PRIVATE
    if _PRIVATE is None:
        _PRIVATE = Path(tempfile.mkdtemp(prefix="minimal-cache-"))
    return _PRIVATE


def ensure_numba_cache() -> str | None:
    """On a read-only install (the package directory is not writable) point Numba's cache at a
    private writable directory, unless ``NUMBA_CACHE_DIR`` is set; must run before Numba is
    imported.  Returns the directory chosen, or None when nothing was changed."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    if os.access(here, os.W_OK) and os.access(os.path.join(here, "__pycache__")
                                              if os.path.isdir(os.path.join(here, "__pycache__"))
                                              else here, os.W_OK):
        return None
    try:
        d = cache_dir() / "numba"
        d.mkdir(exist_ok=True, mode=0o700)
    except (OSError, ConfigError):
        d = Path(tempfile.mkdtemp(prefix="minimal-numba-"))
    os.environ["NUMBA_CACHE_DIR"] = str(d)
    return str(d)
