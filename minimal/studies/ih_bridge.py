"""Fit bridge: from the two-parameter model's time to full-network steps
(docs/induction_head.md, "Fit bridge").

One full-network IC-accuracy curve (the *fit setting*) is fitted with the ``ih-minimal`` curve
model of :mod:`minimal.fit`: the headline minimal model is simulated on the same task and its
step axis is stretched by one time scale s (x_network = s · step_minimal; the initial β₁ is
chosen on a grid).  The same s and β₁ then *predict* the network's transition step in every
other setting: simulate the minimal model on that setting's task and multiply its transition
step by s.  The table compares those predictions with the measured transition steps (the step
at which IC accuracy crosses the midpoint between its first and last value, linearly
interpolated, for both the simulation and the network).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..induction_head.config import HEADLINE

#: task fields that distinguish the settings of a network sweep
SETTING_KEYS = ("K", "B", "N", "L", "eps", "p_novel", "p_bursty", "zipf_alpha")
#: the fit setting by default: reddy-fig3 (K = 256, B = 1)
FIT_ON = {"K": 256, "B": 1}


def network_curves(where, partial: bool = True) -> list[dict]:
    """IC curves of the runs of a sweep directory (``where/runs/*``) or of a single run
    directory: ``{"task": task config dict, "seed", "step", "ic_acc", "source", "partial"}``
    each.  ``partial``: also runs that stopped before their last step (interrupted or still
    running), flagged ``partial``; their curve ends where they stopped."""
    from ..runs import Run, is_run_dir, read_metrics
    where = Path(where)
    dirs = sorted((where / "runs").iterdir()) if (where / "runs").is_dir() else [where]
    out = []
    for d in dirs:
        if not d.is_dir() or not is_run_dir(d) or not (d / "metrics.csv").exists():
            continue
        run = Run.open(d)
        done = run.status == "completed"
        if not done and not partial:
            continue
        m = read_metrics(d / "metrics.csv")
        if "ic_acc" not in m or len(m["step"]) < 5:
            continue
        out.append({"task": dict(run.config.get("task", {})),
                    "seed": run.config.get("seeds", {}).get("seed"),
                    "step": np.asarray(m["step"], float),
                    "ic_acc": np.asarray(m["ic_acc"], float), "source": str(d),
                    "partial": not done})
    return out


def _key(task: dict) -> tuple:
    return tuple((k, task.get(k)) for k in SETTING_KEYS)


def mean_curves(curves: list[dict]) -> list[dict]:
    """Curves grouped by setting, IC accuracy averaged over seeds on their common steps."""
    groups: dict = {}
    for c in curves:
        groups.setdefault(_key(c["task"]), []).append(c)
    out = []
    for key, cs in groups.items():
        steps = cs[0]["step"]
        for c in cs[1:]:
            steps = np.intersect1d(steps, c["step"])
        ic = np.mean([np.interp(steps, c["step"], c["ic_acc"]) for c in cs], axis=0)
        out.append({"task": cs[0]["task"], "setting": dict(key), "step": steps, "ic_acc": ic,
                    "seeds": sorted(c["seed"] for c in cs),
                    "partial": any(c.get("partial") for c in cs)})
    return out


def _matches(setting: dict, want: dict) -> bool:
    return all(setting.get(k) == v for k, v in want.items())


#: smallest rise of IC accuracy (end level − first value) that counts as a transition
MIN_RISE = 0.25


def transition_step(steps, values) -> float | None:
    """Midpoint crossing of a curve (see :func:`minimal.fit.models.midpoint_crossing`), or
    None when the curve has not risen by :data:`MIN_RISE` (median of its last three values
    against its first): a flat, noisy curve has no transition to time."""
    from ..fit.models import midpoint_crossing
    v = np.asarray(values, float)
    if len(v) < 2 or float(np.median(v[-3:])) - float(v[0]) < MIN_RISE:
        return None
    return midpoint_crossing(steps, values)


def _log10_se(scale, se) -> float:
    """Standard error of log10 s from that of s (first order)."""
    if se is None or not np.isfinite(se) or scale <= 0:
        return float("nan")
    return float(se / (scale * np.log(10.0)))


def fit_bridge(curves: list[dict], fit_on: dict | None = None, variant: str = HEADLINE,
               classifier: str = "mlp3", sim_steps: int = 20_000,
               beta1_grid=(-3.0, -2.0, -1.0), seed: int = 0, lr: float = 0.03) -> dict:
    """Fit the minimal model's time scale on the ``fit_on`` setting of ``curves`` (network IC
    curves, :func:`network_curves`) and predict the transition step of every setting.

    Returns ``{"log10_scale", "scale", "beta1_0", "r2", "fit_setting", "rows", "sims"}``;
    each row has the setting, ``t_minimal`` (the minimal model's transition step),
    ``predicted`` (= scale · t_minimal), ``measured`` and their ratio."""
    from ..fit import fit_curve, from_arrays, make_model
    from ..tasks.icl import TaskConfig
    fit_on = dict(FIT_ON if fit_on is None else fit_on)
    groups = mean_curves(curves)
    if not groups:
        raise ConfigError("network curves", 0, "no completed network run to fit")
    base = [g for g in groups if _matches(g["setting"], fit_on)]
    if len(base) != 1:
        raise ConfigError("fit_on", fit_on, f"must select exactly one setting of the network "
                          f"runs (it selects {len(base)} of {len(groups)})")
    base = base[0]

    def model_for(task: dict):
        return make_model("ih-minimal", task=TaskConfig(**task), variant=variant,
                          classifier=classifier, steps=sim_steps, beta1_grid=beta1_grid,
                          seed=seed, lr=lr)

    fit_model = model_for(base["task"])
    res = fit_curve(from_arrays(base["step"], base["ic_acc"], "step", "ic_acc"), fit_model)
    ls = float(np.log10(res.params["time_scale"]))
    b1 = float(res.params["beta1_0"])
    rows, sims = [], []
    for g in groups:
        model = fit_model if g is base else model_for(g["task"])
        st, vals = model.simulate(b1, "ic_acc")
        t_min = transition_step(st, vals)
        measured = transition_step(g["step"], g["ic_acc"])
        pred = None if t_min is None else t_min * 10.0 ** ls
        rows.append({**{k: g["setting"][k] for k in ("K", "B", "N", "L")},
                     "fit": g is base, "seeds": len(g["seeds"]),
                     "net_steps": int(g["step"][-1]), "partial": bool(g.get("partial")),
                     "t_minimal": t_min,
                     "predicted": pred, "measured": measured,
                     "ratio": (pred / measured) if pred and measured else None})
        sims.append({"setting": g["setting"], "sim_step": st, "sim_ic": vals,
                     "net_step": g["step"], "net_ic": g["ic_acc"]})
    order = sorted(range(len(rows)), key=lambda i: (not rows[i]["fit"], rows[i]["B"],
                                                    rows[i]["K"], rows[i]["N"]))
    return {"log10_scale": ls, "scale": 10.0 ** ls,
            "log10_scale_se": _log10_se(res.params["time_scale"], res.stderr.get("time_scale")),
            "beta1_0": b1, "r2": float(res.r2), "fit_setting": fit_on,
            "variant": variant, "classifier": classifier, "sim_steps": sim_steps,
            "rows": [rows[i] for i in order], "sims": [sims[i] for i in order]}
