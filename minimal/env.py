"""Environment facts recorded beside every result and printed by ``minimal info``.

Also the thread policy: tiny networks run one thread per process, parallelism comes from running
many processes.  :func:`limit_threads` caps the BLAS/OpenMP pools through environment variables; it
only has full effect before NumPy is imported, which is why the CLI calls it first.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

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
