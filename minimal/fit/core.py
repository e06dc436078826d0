"""``fit_curve``: the one entry point of fitting (docs/fitting.md)."""

from __future__ import annotations

from .curves import Curve
from .models import CurveModel
from .result import FitResult

__all__ = ["fit_curve"]


def fit_curve(curve: Curve, model: CurveModel, bootstrap: int = 0, seed: int = 0) -> FitResult:
    """Fit ``model`` to ``curve``: least squares by default, the model's own method where it
    has one (``ih-minimal``).  ``bootstrap`` residual-bootstrap refits for the standard
    errors (0: from the Jacobian); ``seed`` for the bootstrap."""
    return model.fit(curve, bootstrap=bootstrap, seed=seed)
