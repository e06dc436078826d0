"""minimal: fast CPU simulations of the mechanistic theory of in-context learning.

The public API is imported lazily, so that ``import minimal.cli`` can cap thread pools before
NumPy loads.  Main entry points::

    from minimal import TaskConfig, ICLTask, Seeds, Run
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "TaskConfig": "minimal.tasks.icl",
    "TaskRunConfig": "minimal.tasks.icl",
    "ICLTask": "minimal.tasks.icl",
    "Batch": "minimal.tasks.icl",
    "Seeds": "minimal.config",
    "apply_overrides": "minimal.config",
    "to_dict": "minimal.config",
    "from_dict": "minimal.config",
    "to_json": "minimal.config",
    "from_json": "minimal.config",
    "Run": "minimal.runs",
    "read_metrics": "minimal.runs",
    "make_figures": "minimal.figures",
    "ConfigError": "minimal.errors",
    "MinimalError": "minimal.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'minimal' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
