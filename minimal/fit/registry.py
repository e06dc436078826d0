"""The registry of curve models: names, descriptions and :func:`make_model`."""

from __future__ import annotations

import inspect

from ..errors import ConfigError, UnknownNameError
from .ih_fit import IHMinimalModel
from .models import CurveModel, Logistic, NestedLogitsModel, PowerLaw, ThreeFactorModel

__all__ = ["MODELS", "make_model", "model_arguments", "all_param_names"]

_CLASSES = {"logistic": Logistic, "three-factor": ThreeFactorModel,
            "nested-logits": NestedLogitsModel, "ih-minimal": IHMinimalModel,
            "power-law": PowerLaw}

MODELS = {
    "logistic": "two plateaus joined by a sigmoid (onset, width, start, end)",
    "three-factor": "scalar three-factor model (time_scale, alpha0, start, end)",
    "nested-logits": "nested-logits gradient flow (time_scale, beta1_0, alpha_0, xi_0, "
                     "[rate ratios], start, end; constants N, L, B, eps)",
    "ih-minimal": "simulated minimal induction-head model (time_scale, beta1_0 on a grid, "
                  "start, end; derivative-free)",
    "power-law": "scaling relation y = scale · x^(−exponent) (no transition; x > 0)",
}


def model_arguments(name: str) -> list[str]:
    """The keyword arguments model ``name`` accepts besides ``quantity``."""
    sig = inspect.signature(_CLASSES[name].__init__)
    return [n for n in sig.parameters if n not in ("self", "quantity")]


def make_model(name: str, quantity: str = "accuracy", **kw) -> CurveModel:
    """A curve model by name.

    Models and their keyword arguments:

    * ``logistic`` — y = start + (end − start)/(1 + exp(−(x − onset)/width)); no arguments.
    * ``three-factor`` — Singh et al.'s scalar three-factor model, x = time_scale · τ; no
      arguments.
    * ``nested-logits`` — the nested-logits gradient flow, x = time_scale · τ; ``N``, ``L``,
      ``B``, ``eps`` (the task constants; defaults 8, 32, 1, 0.1), ``rate_ratios`` (also fit
      η_α/η_ξ and η_β/η_ξ), ``free_init`` (fit α₀ and ξ₀; default True).
    * ``ih-minimal`` — a simulated minimal induction-head model; ``task`` (a TaskConfig,
      default reddy-fig3), ``variant``, ``classifier``, ``steps`` (most simulated steps),
      ``beta1_grid``, ``seed``, ``lr`` (default 0.1), ``n_eval``, ``progress``.
    * ``power-law`` — y = scale · x^(−exponent), a scaling relation such as γ* against depth
      (its verdict is always "no transition observed"); no arguments.

    ``quantity`` is ``accuracy``, ``probability`` or ``loss`` (it fixes the allowed y range and
    what the theory models predict).  An unknown name or argument is a one-line error listing
    what is accepted."""
    if name not in _CLASSES:
        raise UnknownNameError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    if quantity not in ("accuracy", "probability", "loss"):
        raise ConfigError("quantity", quantity, "must be accuracy, probability or loss")
    ok = model_arguments(name)
    bad = sorted(set(kw) - set(ok))
    if bad:
        raise ConfigError(bad[0], kw[bad[0]], f"is not an argument of the {name} model; "
                          f"accepted: {', '.join(ok) or 'none'}")
    return _CLASSES[name](quantity=quantity, **kw)


def all_param_names() -> list[str]:
    """Every parameter name of every registered model (with all options on), in a fixed
    order: the parameter columns of a results table."""
    out = []
    for name, cls in _CLASSES.items():
        kw = {"rate_ratios": True} if name == "nested-logits" else {}
        for p in cls(**kw).param_names():
            if p not in out:
                out.append(p)
    return out
