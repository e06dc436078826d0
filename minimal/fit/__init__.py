"""Fitting learning-dynamics models to logged learning curves and judging whether they
transitioned (docs/fitting.md; a walk-through: docs/tutorial-fit-your-logs.md).

    from minimal.fit import fit_curve, load_curves
    r = fit_curve("runs/fig3", "logistic")          # a file, run directory, DataFrame, (x, y)
    print(r.verdict, r.t_transition)                 # t_transition only if it transitioned
    print(r.report())

Models (:data:`MODELS`, :func:`make_model`): ``logistic``, ``three-factor``,
``nested-logits``, ``ih-minimal``.  Many runs: :func:`load_curves` (``group=``),
:func:`summarise`, :func:`compare`, :func:`plot_fits`.
"""

from .core import as_curve, fit_curve
from .curves import Curve, CurveWarning, from_arrays, load_curve, load_curves
from .groups import compare, summarise
from .infer import model_for_curve
from .models import CurveModel, Param
from .plots import plot_fits
from .registry import MODELS, make_model
from .result import FitResult
from .verdict import VERDICTS, VerdictRules

__all__ = ["FitResult", "fit_curve", "as_curve", "Curve", "CurveWarning", "load_curve",
           "load_curves", "from_arrays", "MODELS", "make_model", "model_for_curve",
           "CurveModel", "Param", "VerdictRules", "VERDICTS", "summarise", "compare",
           "plot_fits"]
