"""``fit_curve`` and friends: the entry points of fitting (docs/fitting.md)."""

from __future__ import annotations

from ..errors import ConfigError
from .curves import Curve, load_curve
from .identify import fit_reduced
from .infer import model_for_curve
from .models import CurveModel
from .result import FitResult
from .verdict import VerdictRules

__all__ = ["fit_curve", "as_curve"]


def as_curve(data, x: str | None = None, y: str | None = None, quiet: bool = False) -> Curve:
    """A :class:`Curve` from anything :func:`~minimal.fit.curves.load_curve` reads (a path, a
    run directory, a pandas DataFrame, a mapping of columns, ``(x, y)``, an array) or a Curve
    itself."""
    if isinstance(data, Curve):
        return data
    return load_curve(data, x=x, y=y, quiet=quiet)


def fit_curve(data, model="logistic", *, x: str | None = None, y: str | None = None,
              quantity: str | None = None, bootstrap: int = 0, seed: int = 0,
              fixed: dict | None = None, reduce: bool = True,
              rules: VerdictRules | None = None, progress=None, **model_kw) -> FitResult:
    """Fit a model to a learning curve and judge whether it transitioned.

    ``data``: a :class:`~minimal.fit.curves.Curve`, a file or run directory, a pandas
    DataFrame, a mapping of columns, ``(x, y)`` or an array (``x``/``y`` name the columns;
    guessed when None).  ``model``: a name — ``logistic``, ``three-factor``,
    ``nested-logits``, ``ih-minimal`` — or a :class:`~minimal.fit.models.CurveModel`;
    ``model_kw`` go to :func:`~minimal.fit.registry.make_model` (e.g. ``N=8, L=32, B=1,
    eps=0.1`` for nested-logits; for a run directory they default to its run.json).
    ``quantity``: ``accuracy`` / ``probability`` / ``loss`` (default: from the column name).
    ``bootstrap``: residual-bootstrap refits for the errors (0: from the Jacobian).
    ``fixed``: parameters held at given values.  ``reduce``: for the theory models, refit
    with unidentified shape parameters fixed at their starting values (the result says
    which and why).  ``rules``: :class:`~minimal.fit.verdict.VerdictRules` (thresholds of the
    verdict and of the identifiability flags).  ``progress``: lines for long fits
    (ih-minimal); True, False or a callable.

    Returns a :class:`~minimal.fit.result.FitResult`: ``verdict`` first, parameters in
    natural units with errors, ``t_transition`` only for a curve that transitioned."""
    curve = as_curve(data, x, y)
    if isinstance(model, CurveModel):
        if model_kw:
            k = next(iter(model_kw))
            raise ConfigError(k, model_kw[k], "model arguments go with a model name, not a "
                              "CurveModel instance")
        m = model
    else:
        m = model_for_curve(model, curve, quantity, **model_kw)
    if reduce:
        return fit_reduced(m, curve, bootstrap=bootstrap, seed=seed, fixed=fixed, rules=rules,
                           progress=progress)
    return m.fit(curve, bootstrap=bootstrap, seed=seed, fixed=fixed, rules=rules,
                 progress=progress)
