"""Synthetic example logs for the tutorial (docs/tutorial-fit-your-logs.md) and the tests.

Nine IC-accuracy curves, 3 conditions (learning rates 0.01, 0.005, 0.002) × 3 seeds, each the
scalar three-factor model's abrupt rise from chance (1/32) to 0.93, evaluated on 1000
sequences (binomial noise), every 200 steps up to 20,000.  The transitions lie near 6,000 and
12,000 steps for the two larger rates and past the window (about 30,000) for the smallest,
with ±8 % seed-to-seed scatter.  Written as a Weights & Biases CSV export (``Step`` and
``<run> - ic_acc`` columns with ``__MIN``/``__MAX`` companions, runs named ``lr=…,seed=…``)
or as one stacked long-format file (``lr, seed, step, ic_acc``).
"""

from __future__ import annotations

import csv
import io

import numpy as np

from ..runs import atomic_write_bytes

__all__ = ["example_curves", "write_example", "EXAMPLE_KINDS"]

EXAMPLE_KINDS = ("wandb", "stacked")
_TARGETS = {0.01: 6000.0, 0.005: 12000.0, 0.002: 30000.0}


def example_curves(seed: int = 0) -> list[dict]:
    """[{"lr", "seed", "step", "ic_acc", "t_true"}] for the 9 example curves."""
    from .models import ThreeFactorModel
    m = ThreeFactorModel()
    steps = np.arange(0, 20_001, 200, dtype=float)
    a0 = 0.05
    wide = np.linspace(0, 1000, 20001)
    t_half = m.transition(wide, [1.0, a0, 0.0, 1.0])      # τ at the midpoint, time scale 1
    rng = np.random.default_rng(seed)
    out = []
    for lr, target in _TARGETS.items():
        for s in range(3):
            t_true = target * float(np.exp(rng.normal(0.0, 0.08)))
            p = m.predict(steps, [t_true / t_half, a0, 1 / 32, 0.93])
            acc = rng.binomial(1000, np.clip(p, 0, 1)) / 1000.0
            out.append({"lr": lr, "seed": s, "step": steps, "ic_acc": acc, "t_true": t_true})
    return out


def write_example(path, kind: str = "wandb", seed: int = 0) -> None:
    """Write the example logs to ``path`` as a W&B export (``wandb``) or a stacked file
    (``stacked``)."""
    from ..errors import ConfigError
    if kind not in EXAMPLE_KINDS:
        raise ConfigError("kind", kind, f"must be one of {', '.join(EXAMPLE_KINDS)}")
    curves = example_curves(seed)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if kind == "wandb":
        names = [f"lr={c['lr']},seed={c['seed']}" for c in curves]
        head = ["Step"]
        for n in names:
            head += [f"{n} - ic_acc", f"{n} - ic_acc__MIN", f"{n} - ic_acc__MAX"]
        w.writerow(head)
        for i, step in enumerate(curves[0]["step"]):
            row = [int(step)]
            for c in curves:
                v = f"{c['ic_acc'][i]:.3f}"
                row += [v, v, v]
            w.writerow(row)
    else:
        w.writerow(["lr", "seed", "step", "ic_acc"])
        for c in curves:
            for step, v in zip(c["step"], c["ic_acc"]):
                w.writerow([c["lr"], c["seed"], int(step), f"{v:.3f}"])
    atomic_write_bytes(path, buf.getvalue().encode())
