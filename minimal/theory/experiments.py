"""Theory runs as library calls (what ``minimal theory …`` prints), written as run directories
when asked: the nested-logits flow and Singh et al.'s three-factor toy (docs/theory.md)."""

from __future__ import annotations


import numpy as np

from ..errors import ConfigError
from ..runs import Run

__all__ = ["nested_logits_run", "three_factor_run", "NL_COLUMNS"]

NL_COLUMNS = ("t", "beta1", "alpha", "xi", "loss", "p_correct", "cla")


def nested_logits_run(cfg, t_max: float | None = None, method: str = "ode", points: int = 400,
                      out=None, force: bool = False) -> dict:
    """Integrate the nested-logits dynamics of ``cfg`` (a ``NestedLogitsConfig``) up to
    ``t_max`` (default 3 t*) by gradient flow (``ode``) or Euler gradient descent with dt = 1
    (``gd``); returns the plateau estimate, events, final state, solver info, the onset
    ordering and the trajectory columns.  With ``out``: also a run directory."""
    from .analysis import ordering_times, plateau_estimate
    from .nested_logits import gradient_descent, gradient_flow
    est = plateau_estimate(cfg)
    t_max = 3 * est if t_max is None else t_max
    if not np.isfinite(t_max) or t_max <= 0:
        raise ConfigError("--t-max", t_max, "must be a positive number (L = n has no "
                          "finite plateau estimate: give --t-max)")
    if method == "ode":
        tr = gradient_flow(cfg, t_max, n_points=points)
    elif method == "gd":
        steps = int(round(t_max))
        tr = gradient_descent(cfg, steps, record_every=max(1, steps // points))
    else:
        raise ConfigError("method", method, "must be ode or gd")
    data = tr.as_columns()
    order = ordering_times(cfg, t_max) if method == "ode" and np.isfinite(est) else None
    if out is not None:
        run = Run.create(out, "theory-nested-logits", cfg, None, NL_COLUMNS, force=force,
                         resolved={"t_star_estimate": est, "t_max": t_max, "method": method,
                                   "events": tr.events, "solver": tr.info})
        try:
            for i in range(len(tr.t)):
                run.log({k: float(data[k][i]) for k in NL_COLUMNS})
        except BaseException:
            run.finish("failed", reason="error")
            raise
        run.finish("completed", ordering=order)
    return {"t_star_estimate": est, "t_max": t_max, "events": tr.events,
            "final": {k: float(v[-1]) for k, v in data.items()}, "solver": tr.info,
            "ordering": order, "columns": data, "run": None if out is None else str(out)}


def three_factor_run(model: str = "tensor", clamp: str = "none", seeds: int = 3,
                     seed0: int = 0, iterations: int = 1000, alpha0: float = 0.05,
                     t_max: float = 200.0, out=None, force: bool = False) -> dict:
    """Singh et al.'s three-factor toy: the tensor model over ``seeds`` seeds or the scalar
    model; ``clamp`` none / c / bc.  Returns the config, a summary and the rows."""
    from . import three_factor as tf
    if model == "tensor":
        rows = []
        summary = {}
        for seed in range(seed0, seed0 + seeds):
            cfg = tf.TensorToyConfig(clamp=clamp, seed=seed, iterations=iterations)
            r = tf.tensor_toy(cfg)
            summary[seed] = r["iters_to_10pct"]
            for i in range(len(r["loss"])):
                rows.append({"seed": seed, "iteration": i, "loss": r["loss"][i],
                             "pm1": r["pm1"][i], "pm2": r["pm2"][i]})
        cols = ["seed", "iteration", "loss", "pm1", "pm2"]
        config = {"model": "tensor", "clamp": clamp, "seeds": list(summary),
                  "iterations": iterations, "d": 20, "lr": 1.0}
    elif model == "scalar":
        mapping = {"none": "none", "c": "C", "bc": "BC"}
        if clamp not in mapping:
            raise ConfigError("clamp", clamp, "must be none, c or bc")
        cfg = tf.ScalarModelConfig(clamp=mapping[clamp], alpha0=alpha0)
        r = tf.scalar_model(cfg, t_max)
        summary = {"t_10pct": r["t_10pct"]}
        rows = [{"t": r["t"][i], "alpha_A": r["alpha"][i, 0], "alpha_B": r["alpha"][i, 1],
                 "alpha_C": r["alpha"][i, 2], "loss": r["loss"][i]} for i in range(len(r["t"]))]
        cols = ["t", "alpha_A", "alpha_B", "alpha_C", "loss"]
        config = {"model": "scalar", "clamp": clamp, "alpha0": alpha0, "t_max": t_max}
    else:
        raise ConfigError("model", model, "must be tensor or scalar")
    if out is not None:
        run = Run.create(out, "theory-three-factor", config, None, cols, force=force,
                         resolved={"summary": summary})
        for row in rows:
            run.log(row)
        run.finish("completed")
    return {"config": config, "summary": summary, "rows": rows, "columns": cols,
            "run": None if out is None else str(out)}
