"""Registered figures; ``minimal figures`` regenerates them (see :mod:`.registry` and
:mod:`.catalog`)."""

from .catalog import available, get, make_figures
from .registry import FigureSpec, register

__all__ = ["FigureSpec", "available", "get", "make_figures", "register"]
