"""SymPy expressions → compiled scalar functions, cached on disk.

:func:`compile_lazy` turns a list of SymPy expressions of scalar inputs into one Numba-compiled
function returning a tuple, via common-subexpression elimination and SymPy's Python printer (the
same text ``lambdify`` would produce, without hand-copied formulas).  The generated source is
written to a cache directory keyed by a hash of the model's definition and imported from there,
so later processes skip both SymPy and recompilation (Numba's own cache sits next to the file).
Each cached module carries the SHA-256 of its text and is verified before it is imported (a torn
or tampered file is regenerated, never executed), and only a directory owned by the user and
writable by nobody else is used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import sympy as sp
from numba import njit
from sympy.printing.pycode import PythonCodePrinter

from ..env import cache_dir
from ..runs import atomic_write_bytes


_HEADER = "# minimal generated module; sha256 of the rest: "


def _seal(src: str) -> bytes:
    """The module text with a first line holding the SHA-256 of the rest."""
    return (_HEADER + hashlib.sha256(src.encode()).hexdigest() + "\n" + src).encode()


def _intact(path: Path) -> bool:
    """Whether a cached module still matches the hash written with it."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    head, _, rest = data.partition(b"\n")
    text = head.decode("ascii", "replace")
    return (text.startswith(_HEADER) and
            hashlib.sha256(rest).hexdigest() == text[len(_HEADER):].strip())


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
        if not _intact(path):          # missing, torn or tampered with: regenerate
            inputs, outputs = build()
            src = generate_source("_py_" + name, inputs, outputs)
            src += (f"\n\nfrom numba import njit\nimport numpy as np\n"
                    f"FN = _py_{name}_jit = njit(cache=True)(_py_{name})\n\n" + extra + "\n")
            atomic_write_bytes(path, _seal(src))
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
    return sys.modules[modname]


__all__ = ["compile_lazy", "generate_source", "cache_dir", "njit"]
