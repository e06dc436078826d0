"""Fitting phenomenological learning-dynamics models to logged learning curves
(docs/fitting.md).

    from minimal.fit import load_curve, make_model, fit_curve
    curve = load_curve("runs/fig3/metrics.csv", x="step", y="ic_acc")
    result = fit_curve(curve, make_model("logistic"))
    print(result.report())
"""

from .core import fit_curve
from .curves import Curve, from_arrays, load_curve
from .infer import model_for_curve
from .models import CurveModel
from .registry import MODELS, make_model
from .result import FitResult

__all__ = ["FitResult", "fit_curve", "Curve", "load_curve", "from_arrays", "MODELS",
           "make_model", "model_for_curve", "CurveModel"]
