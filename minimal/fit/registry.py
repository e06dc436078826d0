"""The registry of curve models: names, descriptions and :func:`make_model`."""

from __future__ import annotations

import inspect

from ..errors import ConfigError, UnknownNameError
from .ih_fit import IHMinimalModel
from .models import CurveModel, Logistic, NestedLogitsModel, ThreeFactorModel

__all__ = ["MODELS", "make_model"]

_CLASSES = {"logistic": Logistic, "nested-logits": NestedLogitsModel,
            "three-factor": ThreeFactorModel, "ih-minimal": IHMinimalModel}

MODELS = {
    "logistic": "two plateaus joined by a sigmoid (onset, width, low, high)",
    "nested-logits": "nested-logits gradient flow (time scale, initial beta1/alpha/xi, "
                     "optional rate ratios)",
    "three-factor": "scalar three-factor model (time scale, alpha0, low, high)",
    "ih-minimal": "simulated minimal induction-head model (time scale, initial beta1; "
                  "derivative-free)",
}


def _accepted(cls) -> list[str]:
    sig = inspect.signature(cls.__init__)
    return [n for n in sig.parameters if n not in ("self", "quantity")]


def make_model(name: str, quantity: str = "accuracy", **kw) -> CurveModel:
    """A curve model by name.

    Models: ``logistic``; ``nested-logits`` (``N, L, B, eps, rate_ratios, free_init``);
    ``three-factor``; ``ih-minimal`` (``task, variant, classifier, steps, beta1_grid, seed,
    lr``).  ``quantity`` is ``accuracy``, ``probability`` or ``loss`` (it fixes the allowed y
    range).  Unknown arguments are an error."""
    if name not in _CLASSES:
        raise UnknownNameError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    if quantity not in ("accuracy", "probability", "loss"):
        raise ConfigError("quantity", quantity, "must be accuracy, probability or loss")
    cls = _CLASSES[name]
    ok = _accepted(cls)
    bad = sorted(set(kw) - set(ok))
    if bad:
        raise ConfigError(bad[0], kw[bad[0]], f"is not an argument of the {name} model; "
                          f"accepted: {', '.join(ok) or 'none'}")
    return cls(quantity=quantity, **kw)
