"""The README's main job as a library call: the three uses of ``minimal`` in about a minute.

(1) the bursty task and its statistical invariants; (2) a minimal induction-head model trained
on reddy-fig3 showing the slow phase and the abrupt ICL transition; (3) the nested-logits
plateau formula against its gradient flow; (4) a fit of the simulated curve that locates the
transition.  :func:`run_demo` returns the numbers and writes a readable account through
``echo`` (``print`` by default; ``echo=None`` is silent).
"""

from __future__ import annotations

import time
from typing import Callable

__all__ = ["run_demo"]


def run_demo(n: int = 5000, out=None, quick: bool = False, progress: bool = True,
             echo: Callable[[str], None] | None = print) -> dict:
    """Run the demo; ``quick`` uses fewer sequences and steps (seconds, for tests).
    Returns ``{"invariants_ok", "failing", "ic_final", "t_star", "t_flow", "fit"}``."""
    from .config import Seeds, apply_overrides
    from .fit import fit_curve, from_arrays, make_model
    from .induction_head.config import IH_PRESETS
    from .induction_head.train import train_ih
    from .tasks.icl import ICLTask, TaskConfig, format_sequence
    from .tasks.icl_stats import task_statistics
    from .theory.analysis import plateau_estimate
    from .theory.nested_logits import NestedLogitsConfig, gradient_flow
    say = echo or (lambda s: None)
    t0 = time.perf_counter()
    if quick:
        n = min(n, 1000)
    say("== 1. the in-context classification task (Reddy 2024), defaults")
    task = ICLTask(TaskConfig(), Seeds(seed=0))
    say(task.describe())
    say("")
    say(format_sequence(task.sample("train", 1), 0))
    rows = task_statistics(task, n=n)
    bad = [r.name for r in rows if not r.ok]
    say(f"statistical invariants on {n} sequences: {len(rows) - len(bad)}/{len(rows)} hold" +
        ("" if not bad else "; failing: " + ", ".join(bad)))
    steps = 5000 if quick else 6000
    say(f"\n== 2. minimal induction-head model ih3 on reddy-fig3 (K=256, B=1, p_C=0.8), "
        f"{steps} steps")
    cfg = apply_overrides(IH_PRESETS.get("reddy-fig3"), [
        "ih.lr_attn=0.1", "ih.lr_clf=0.1", f"train.steps={steps}", "train.eval_every=250",
        f"task.n_eval={500 if quick else 1000}"])
    res = train_ih(cfg, out, progress=progress)
    m = res.metrics
    say(f"{'step':>6} {'IC acc':>7} {'CLA':>6} {'w=σ(β1)':>8} {'TILA2':>6} {'alpha':>6}")
    for i in range(0, len(m["step"]), 2):
        say(f"{int(m['step'][i]):>6} {m['ic_acc'][i]:>7.3f} {m['cla'][i]:>6.3f} "
            f"{m['ila1'][i]:>8.3f} {m['tila2'][i]:>6.3f} {m['alpha'][i]:>6.2f}")
    say("\n== 3. nested-logits theory (N=8, L=32, B=1, eps=0.1, beta1(0)=-2)")
    nl = NestedLogitsConfig()
    t_star = plateau_estimate(nl)
    tr = gradient_flow(nl, 3 * t_star)
    t_flow = tr.events.get("p_correct>0.5")
    say(f"plateau formula t* = {t_star:.1f}; gradient flow: p_correct > 1/2 at t = "
        f"{t_flow:.1f}")
    say("\n== 4. fitting the simulated curve with a logistic")
    fit = fit_curve(from_arrays(m["step"], m["ic_acc"], "step", "ic_acc"),
                    make_model("logistic"))
    ci = fit.t_transition_ci
    if fit.t_transition is None:
        say(f"verdict: {fit.verdict} ({fit.verdict_reason})")
    else:
        say(f"verdict: {fit.verdict}; transition at step {fit.t_transition:.0f}" +
            (f" (95% interval {ci[0]:.0f}-{ci[1]:.0f})" if ci else "") +
            f", plateaus {fit.params['start']:.3f} -> {fit.params['end']:.3f}, R² "
            f"{fit.r2:.4f}")
    say(f"\ndone in {time.perf_counter() - t0:.0f} s.  Next: `minimal train --preset "
        "reddy-fig3 --out runs/fig3` (full network), `minimal theory --help`, "
        "`minimal fit --help`, `minimal figures --list`.")
    return {"invariants_ok": not bad, "failing": bad, "ic_final": float(m["ic_acc"][-1]),
            "t_star": t_star, "t_flow": t_flow, "fit": fit}
