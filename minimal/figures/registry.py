"""Figure registry: each figure is (name, data function, plot function).

Data functions take ``quick`` (a smaller, faster variant for CI and previews) and ``seed`` and
return a dict of arrays and parameters; plot functions take that dict and return a
``matplotlib.figure.Figure`` without touching the file system.  Figure modules call
:func:`register`; :mod:`.catalog` imports them all and makes the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable



@dataclass(frozen=True)
class FigureSpec:
    name: str
    description: str
    data: Callable[..., dict]
    plot: Callable[[dict], "object"]
    group: str = "misc"


_REGISTRY: dict[str, FigureSpec] = {}


def register(name: str, description: str, data: Callable[..., dict], plot: Callable,
             group: str = "misc") -> None:
    if name in _REGISTRY:
        raise ValueError(f"figure {name!r} registered twice")
    _REGISTRY[name] = FigureSpec(name, description, data, plot, group)
