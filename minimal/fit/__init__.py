"""Fitting phenomenological learning-dynamics models to logged learning curves.

    from minimal.fit import load_curve, make_model, fit_curve
    curve = load_curve("runs/fig3/metrics.csv", x="step", y="ic_acc")
    result = fit_curve(curve, make_model("logistic"))
    print(result.report())
"""

from .core import FitResult, fit_curve
from .curves import Curve, load_curve
from .models import MODELS, make_model

__all__ = ["FitResult", "fit_curve", "Curve", "load_curve", "MODELS", "make_model"]
