"""Validation of parameter and gradient dicts shared by every gradient model."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ConfigTypeError

__all__ = ["check_arrays", "check_grads"]


def check_arrays(what: str, arrays, shapes: dict, dtype) -> dict:
    """Shared validation of parameter dicts: a mapping with exactly the expected names, arrays
    of the expected shapes and a floating dtype (converted to ``dtype`` when it differs)."""
    if not isinstance(arrays, dict):
        raise ConfigTypeError(what, type(arrays).__name__, "must be a dict of NumPy arrays")
    missing = sorted(set(shapes) - set(arrays))
    if missing:
        raise ConfigError(what, missing, "missing parameter arrays")
    out = {}
    for k, shp in shapes.items():
        v = arrays[k]
        if not isinstance(v, np.ndarray):
            raise ConfigTypeError(f"{what}[{k}]", type(v).__name__, "must be a NumPy array")
        if tuple(v.shape) != tuple(shp):
            raise ConfigError(f"{what}[{k}]", tuple(v.shape), f"must have shape {tuple(shp)}")
        if v.dtype.kind != "f":
            raise ConfigTypeError(f"{what}[{k}]", str(v.dtype), "must be a floating-point "
                                  "array (float32 or float64)")
        out[k] = v if (v.dtype == dtype and v.flags.c_contiguous) else \
            np.ascontiguousarray(v, dtype)
    return out


def check_grads(grads, params: dict) -> None:
    """Gradient buffers must match the parameters exactly (the kernels write into them)."""
    if not isinstance(grads, dict):
        raise ConfigTypeError("grads", type(grads).__name__, "must be a dict of NumPy arrays")
    for k, v in params.items():
        g = grads.get(k)
        if not isinstance(g, np.ndarray) or g.shape != v.shape or g.dtype != v.dtype \
                or not g.flags.c_contiguous or not g.flags.writeable:
            raise ConfigError(f"grads[{k}]", None if g is None else
                              f"{getattr(g, 'dtype', type(g).__name__)}{getattr(g, 'shape', '')}",
                              f"must be a writable C-contiguous {v.dtype} array of shape "
                              f"{v.shape}")
