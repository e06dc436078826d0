"""Choosing a model for a curve: the quantity from the column name, and the task constants
(N, L, B, ε) of the theory models from the curve's run directory when it came from one."""

from __future__ import annotations

from ..errors import ConfigError
from .curves import Curve
from .models import CurveModel
from .registry import make_model

__all__ = ["quantity_for", "task_of_curve", "model_for_curve"]


def quantity_for(y_name: str, requested: str | None = None) -> str:
    """``requested`` if given, else ``loss`` when the column name says so, else ``accuracy``."""
    if requested:
        return requested
    return "loss" if "loss" in y_name.lower() else "accuracy"


def task_of_curve(curve: Curve):
    """The :class:`~minimal.tasks.config.TaskConfig` of the run a curve was read from, or None
    (not from a run directory, or a run of another kind)."""
    run = curve.meta.get("run")
    if not run:
        return None
    task = run.get("config", {}).get("task")
    if not isinstance(task, dict):
        return None
    from ..config import from_dict
    from ..tasks.config import TaskConfig
    try:
        return from_dict(TaskConfig, task)
    except ConfigError:
        return None


def model_for_curve(name: str, curve: Curve, quantity: str | None = None, N: int | None = None,
                    L: int | None = None, B: int | None = None, eps: float | None = None,
                    **kw) -> CurveModel:
    """Build model ``name`` for ``curve``: explicit N, L, B, ε win, then the run's task
    (run.json), then the defaults (8, 32, 1, 0.1); other keyword arguments go to
    :func:`~minimal.fit.registry.make_model`.  Where each constant came from is in
    ``model.constants_source``."""
    q = quantity_for(curve.y_name, quantity)
    task = task_of_curve(curve)
    source = {}
    if name in ("nested-logits", "ih-minimal"):
        def pick(key, given, from_task, default):
            if given is not None:
                source[key] = "given"
                return given
            if task is not None:
                source[key] = "run.json"
                return from_task
            source[key] = "default"
            return default
        N = pick("N", N, task.N if task else None, 8)
        L = pick("L", L, task.L if task else None, 32)
        B = pick("B", B, task.B_eval if task else None, 1)
        eps = pick("eps", eps, task.eps if task else None, 0.1)
        if name == "nested-logits":
            kw.update(N=N, L=L, B=B, eps=eps)
        else:
            from ..config import apply_overrides
            from ..tasks.config import TASK_PRESETS
            base = kw.pop("task", None) or task or TASK_PRESETS.get("reddy-fig3")
            kw["task"] = apply_overrides(base, {"N": N, "L": L, "B": B, "eps": eps})
    elif any(v is not None for v in (N, L, B, eps)):
        raise ConfigError("N/L/B/eps", [v for v in (N, L, B, eps) if v is not None][0],
                          f"the {name} model has no task constants (only nested-logits and "
                          "ih-minimal)")
    model = make_model(name, quantity=q, **kw)
    if source:
        model.constants_source = source
    return model
