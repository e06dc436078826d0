"""SymPy expressions → compiled scalar functions, cached on disk.

:func:`compile_lazy` turns a list of SymPy expressions of scalar inputs into one Numba-compiled
function returning a tuple, via common-subexpression elimination and SymPy's Python printer (the
same text ``lambdify`` would produce, without hand-copied formulas).  The generated source is
written to a cache directory keyed by a hash of the model's definition and imported from there,
so later processes skip both SymPy and recompilation (Numba's own cache sits next to the file).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import sympy as sp
from numba import njit
from sympy.printing.pycode import PythonCodePrinter

from ..runs import atomic_write_bytes


def cache_dir() -> Path:
    """``$MINIMAL_CACHE_DIR`` or ``$XDG_CACHE_HOME/minimal`` (default ``~/.cache/minimal``)."""
    env = os.environ.get("MINIMAL_CACHE_DIR")
    if env:
        d = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = Path(base) / "minimal"
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError:
        d = Path(tempfile.gettempdir()) / f"minimal-cache-{os.getuid() if hasattr(os, 'getuid') else 0}"
        d.mkdir(parents=True, exist_ok=True)
    return d


class _Printer(PythonCodePrinter):
    """Python printer that writes ``math.*`` calls and plain float literals."""

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Rational(self, expr):
        return f"({expr.p}.0/{expr.q}.0)"

    def _print_Integer(self, expr):
        return f"{int(expr)}.0"


def generate_source(fname: str, inputs, outputs) -> str:
    """Python source of ``def fname(*inputs): ...; return (outputs...)`` using CSE."""
    printer = _Printer({"fully_qualified_modules": True})
    repl, reduced = sp.cse(list(outputs), symbols=sp.numbered_symbols("_x"), optimizations="basic")
    args = ", ".join(str(s) for s in inputs)
    lines = ["import math", "", "", f"def {fname}({args}):"]
    for sym, expr in repl:
        lines.append(f"    {sym} = {printer.doprint(expr)}")
    outs = ", ".join(printer.doprint(e) for e in reduced)
    lines.append(f"    return ({outs},)")
    return "\n".join(lines) + "\n"


def compile_lazy(name: str, key_material: str, build, extra: str = ""):
    """Module with ``FN = f(*inputs) -> tuple(outputs)`` (float64, Numba), generated once and
    cached on disk, keyed by ``key_material`` (e.g. the source text of the model definition) so
    that a cached module is imported without running SymPy at all.  ``build()`` returns
    (inputs, outputs) and is called only on a cache miss.  ``extra`` is further Python source
    appended to the module (e.g. a compiled loop that calls ``FN`` as a module global, which
    keeps Numba's cache usable)."""
    h = hashlib.sha256((name + key_material + extra + sp.__version__).encode()).hexdigest()[:16]
    modname = f"minimal_gen_{name}_{h}"
    if modname not in sys.modules:
        path = cache_dir() / f"{modname}.py"
        if not path.exists():
            inputs, outputs = build()
            src = generate_source("_py_" + name, inputs, outputs)
            src += (f"\n\nfrom numba import njit\nimport numpy as np\n"
                    f"FN = _py_{name}_jit = njit(cache=True)(_py_{name})\n\n" + extra + "\n")
            atomic_write_bytes(path, src.encode())
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
    return sys.modules[modname]


__all__ = ["compile_lazy", "generate_source", "cache_dir", "njit"]
