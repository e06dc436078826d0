"""Number formatting shared by the fit reports and tables."""

from __future__ import annotations

import math


def num(v, sig: int = 4) -> str:
    """``v`` with ``sig`` significant digits, without an exponent between 1e-3 and 1e7
    (``12030`` rather than ``1.203e+04``); "—" for None or a non-finite value."""
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "—"
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-3 <= a < 1e7:
        digits = max(sig - 1 - int(math.floor(math.log10(a))), 0)
        return f"{v:.{digits}f}"
    return f"{v:.{sig}g}"


def interval(ci, sig: int = 4) -> str:
    return "—" if not ci else f"[{num(ci[0], sig)}, {num(ci[1], sig)}]"
