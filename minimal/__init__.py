"""minimal: fast CPU simulations of the mechanistic theory of in-context learning.

The public API is imported lazily (so that ``import minimal.cli`` can cap thread pools before
NumPy loads).  Main entry points, documented in ``docs/``::

    from minimal import train, train_ih, train_cot       # the model families
    from minimal import fit_curve, load_curve, from_arrays, make_model
    from minimal import make_figures, Run, read_metrics
    from minimal import TaskConfig, ICLTask, Seeds
"""

from __future__ import annotations

import importlib

from ._version import __version__
from .env import ensure_numba_cache, limit_threads

# one thread per process for tiny networks (docs/architecture.md, "Threads and caches"): only
# defaults, and effective only when NumPy has not been imported yet
limit_threads()

# a read-only install caches compiled kernels in a private writable directory instead
ensure_numba_cache()

_LAZY = {
    # training (one function per family; all return minimal.training.TrainResult)
    "train": "minimal.nets.train",
    "train_ih": "minimal.induction_head.train",
    "train_cot": "minimal.cot.train",
    "TrainResult": "minimal.training",
    # configs and presets
    "TrainRunConfig": "minimal.nets.config",
    "NetConfig": "minimal.nets.config",
    "TRAIN_PRESETS": "minimal.nets.config",
    "IHRunConfig": "minimal.induction_head.config",
    "IHConfig": "minimal.induction_head.config",
    "IH_PRESETS": "minimal.induction_head.config",
    "CoTRunConfig": "minimal.cot.config",
    "COT_PRESETS": "minimal.cot.config",
    "OptimConfig": "minimal.training.config",
    "TrainConfig": "minimal.training.config",
    "TaskConfig": "minimal.tasks.config",
    "TaskRunConfig": "minimal.tasks.config",
    "TASK_PRESETS": "minimal.tasks.config",
    "Seeds": "minimal.config",
    "apply_overrides": "minimal.config",
    "to_dict": "minimal.config",
    "from_dict": "minimal.config",
    "to_json": "minimal.config",
    "from_json": "minimal.config",
    # data
    "ICLTask": "minimal.tasks.icl",
    "Batch": "minimal.tasks.icl",
    # fitting
    "fit_curve": "minimal.fit",
    "load_curve": "minimal.fit",
    "from_arrays": "minimal.fit",
    "make_model": "minimal.fit",
    "FitResult": "minimal.fit",
    # results and figures
    "Run": "minimal.runs",
    "read_metrics": "minimal.runs",
    "make_figures": "minimal.figures",
    # errors
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
