"""Registered figures; ``minimal figures`` regenerates them (see :mod:`.registry`)."""

from .registry import FigureSpec, available, get, make_figures, register

_LOADED = False


def _load_all() -> None:
    """Import every module that registers figures (once)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from . import (cot_figures, fit_figures, ih_figures, lsa_figures,  # noqa: F401
                   net_figures, task_figures, theory_figures)


__all__ = ["FigureSpec", "available", "get", "make_figures", "register"]
