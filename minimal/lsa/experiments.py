"""Experiments with linear self-attention as gradient descent (docs/lsa.md); each is also a
``minimal lsa`` command and feeds the figures.

* :func:`construction_error` — LSA with the constructed weights against plain K-step GD (from
  a random W₀) and GD++, in float64;
* :func:`monte_carlo` — the loss of one GD step estimated by sampling tasks, against the
  closed form of :mod:`minimal.theory.lsa`;
* :func:`targets_table` — one-layer LSA trained on the three input distributions over seeds:
  loss against the η* loss, model cosine, effective step against η*/N;
* :func:`depth_study` — 1–3 layers (separate or recurrent weights) against K-step GD and GD++
  with their best step sizes, per step and shared.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..config import Seeds
from ..sweeps import run_sweep
from .config import INPUTS, LSAConfig, LSARunConfig, lsa_optim_config, lsa_train_config
from .data import generate

RUNNER = "minimal.lsa.experiments:train_report"
SUMMARY = "minimal.lsa.experiments:summary"

#: columns of a run's summary (None where a value does not apply)
SUMMARY_KEYS = ("loss", "gd_loss", "gdpp_loss", "preds_diff", "model_cos", "model_diff",
                "gdpp_preds_diff", "gdpp_model_cos", "gdpp_model_diff", "eff_step", "qk_scale",
                "qk_dev", "eta_star", "eta_star_over_N", "loss_star", "zero_loss", "n_eval",
                "gd_step_loss", "gdpp_step_loss", "gd_shared_loss", "gdpp_shared_loss",
                "gd_etas", "gdpp_etas", "gdpp_nus", "gd_shared_etas", "gdpp_shared_etas",
                "gdpp_shared_nus", "gd_tune_loss", "gdpp_tune_loss", "gd_step_tune_loss",
                "gdpp_step_tune_loss", "gd_shared_tune_loss", "gdpp_shared_tune_loss")


# ----------------------------------------------------------------------------------------------
# algebra and theory checks
# ----------------------------------------------------------------------------------------------

def construction_error(d: int = 10, N: int = 10, layers=(1, 2, 3), n: int = 2000,
                       seed: int = 0, inputs: str = "uniform-0.5") -> list[dict]:
    """Max |ŷ_LSA − ŷ| over ``n`` tasks for the GD construction (random W₀ and steps,
    K = 1, 2, 3 layers) and the GD++ construction (W₀ = 0), float64, through the kernel and
    the NumPy reference."""
    from . import reference as R
    from .gd import construct_gd, construct_gdpp, gd_predict, gdpp_predict, query_init
    from .model import LSAModel
    rng = np.random.default_rng(seed)
    rows = []
    for K in layers:
        cfg = LSAConfig(d=d, N=N, layers=K, inputs=inputs, batch_size=n, dtype="float64")
        batch = generate(cfg, Seeds(seed=seed).key("eval"), n)
        model = LSAModel(cfg)
        W0 = rng.standard_normal(d)
        etas = rng.uniform(0.2, 1.5, K) / cfg.x_var
        nus = rng.uniform(0.0, 0.3, K) / (N * cfg.x_var)
        yq0 = query_init(W0, batch.X[:, -1])
        p = construct_gd(d, N, etas, W0=W0)
        gd_y, gd_W = gd_predict(batch.X, batch.Y, etas, W0)
        lsa_y = model.predict(p, batch, yq0=yq0)
        ref_y = R.forward(p, batch.X, batch.Y, yq0)
        p0 = construct_gd(d, N, etas)
        _, s0 = model.predict(p0, batch, sensitivity=True)
        pp = construct_gdpp(d, N, etas, nus)
        pp_y, pp_s = gdpp_predict(batch.X, batch.Y, etas, nus)
        lsa_pp, lsa_pp_s = model.predict(pp, batch, sensitivity=True)
        scale = float(np.max(np.abs(gd_y)))
        rows.append({
            "layers": K, "n": n, "d": d, "N": N, "max_abs_y": scale,
            "gd_kernel_err": float(np.max(np.abs(lsa_y - gd_y))),
            "gd_reference_err": float(np.max(np.abs(ref_y - gd_y))),
            "gd_sens_err": float(np.max(np.abs(s0 - gd_predict(batch.X, batch.Y, etas)[1]))),
            "gdpp_kernel_err": float(np.max(np.abs(lsa_pp - pp_y))),
            "gdpp_sens_err": float(np.max(np.abs(lsa_pp_s - pp_s))),
        })
    return rows


def monte_carlo(inputs: str = "uniform-0.5", eta: float | None = None, n: int = 1_000_000,
                d: int = 10, N: int = 10, seed: int = 0, sigma2: float | None = None,
                chunk: int = 100_000) -> dict:
    """Plain Monte Carlo of E ½(y_q − ŷ)² for one GD step of size η (default η*) over ``n``
    fresh tasks (w, inputs and query all sampled), against the closed form; also the step
    that minimises the sampled loss (exact: the loss is quadratic in η)."""
    from ..theory import lsa as theory
    cfg = LSAConfig(d=d, N=N, inputs=inputs, sigma2=sigma2, n_eval=min(n, chunk))
    s2, kappa = cfg.x_var, cfg.kurtosis
    eta = theory.eta_star(s2, kappa, N, d) if eta is None else float(eta)
    key = Seeds(seed=seed).key("data")
    sums = np.zeros(5)       # Σ ℓ, Σ ℓ², Σ a y_q, Σ a², count
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        b = generate(cfg, key, m, np.float64, start=start)
        X, Y = b.X, b.Y
        a = np.einsum("ni,nia,na->n", Y[:, :N], X[:, :N], X[:, N]) / N
        loss = 0.5 * (Y[:, N] - eta * a) ** 2
        sums += [loss.sum(), (loss ** 2).sum(), (a * Y[:, N]).sum(), (a * a).sum(), m]
    mean = sums[0] / sums[4]
    se = math.sqrt(max(sums[1] / sums[4] - mean ** 2, 0.0) / sums[4])
    formula = theory.expected_loss(eta, s2, kappa, N, d)
    return {"inputs": inputs, "sigma2": s2, "kurtosis": kappa, "d": d, "N": N, "n": n,
            "eta": eta, "mc_loss": mean, "mc_se": se, "formula_loss": formula,
            "rel_err": mean / formula - 1.0, "z": (mean - formula) / se,
            "eta_star": theory.eta_star(s2, kappa, N, d), "eta_hat_mc": sums[2] / sums[3],
            "zero_loss": theory.zero_loss(s2, d)}


# ----------------------------------------------------------------------------------------------
# training runs
# ----------------------------------------------------------------------------------------------

def train_report(cfg: LSARunConfig, out=None, progress: bool = True, resume: bool = False,
                 force: bool = False):
    """Train (via :func:`minimal.lsa.train.train_lsa`) and attach the final report to
    ``result.metrics['report']``: the last evaluation with the baselines' step sizes and, for
    a model with separate layers, also GD and GD++ with one shared (η, ν) on the same tasks."""
    from .gd import fit_gd, fit_gdpp, gd_predict, gdpp_predict, mean_loss, spectral_loss
    from .train import train_lsa
    res = train_lsa(cfg, out, resume=resume, force=force, progress=progress)
    learner = res.learner
    data = learner.data.eval_data()
    rep = learner.model.final_report(learner.params, data)
    c = cfg.model
    ev, spec = data.eval, data.spectrum
    yq = ev.Y[:, -1]
    tag = "shared" if c.recurrent else "step"
    for k in ("loss", "tune_loss"):
        rep[f"gd_{tag}_{k}"] = rep[f"gd_{k}"]
        rep[f"gdpp_{tag}_{k}"] = rep[f"gdpp_{k}"]
    if not c.recurrent and c.layers > 1:
        e = fit_gd(spec, c.layers, c.N, c.x_var, shared=True, search=c.baseline_search)
        pe, pn = fit_gdpp(spec, c.layers, c.N, c.x_var, shared=True, search=c.baseline_search)
        rep["gd_shared_loss"] = mean_loss(gd_predict(ev.X, ev.Y, e)[0], yq)
        rep["gdpp_shared_loss"] = mean_loss(gdpp_predict(ev.X, ev.Y, pe, pn)[0], yq)
        rep["gd_shared_tune_loss"] = spectral_loss(spec, e, np.zeros(c.layers), c.N, c.x_var)
        rep["gdpp_shared_tune_loss"] = spectral_loss(spec, pe, pn, c.N, c.x_var)
        rep["gd_shared_etas"] = [float(x) for x in e]
        rep["gdpp_shared_etas"] = [float(x) for x in pe]
        rep["gdpp_shared_nus"] = [float(x) for x in pn]
    elif c.layers == 1:
        for k in ("loss", "tune_loss"):
            rep[f"gd_shared_{k}"] = rep[f"gdpp_shared_{k}"] = rep[f"gd_{k}"]
    res.metrics["report"] = rep
    return res


def summary(metrics: dict, cfg) -> dict:
    """A run's final report (scalars only; lists of step sizes as text)."""
    rep = metrics["report"]
    if isinstance(rep, np.ndarray):     # the sweep engine hands in-memory extras as arrays
        rep = rep.item()
    out = {}
    for k in SUMMARY_KEYS:
        v = rep.get(k)
        if isinstance(v, (list, tuple)):
            out[k] = " ".join(f"{float(x):.6g}" for x in v)
        else:
            out[k] = v
    out["steps"] = int(metrics["step"][-1]) if len(metrics.get("step", [])) else 0
    return out


def base_config(inputs: str = "uniform-0.5", layers: int = 1, recurrent: bool = False,
                steps: int = 5000, quick: bool = False, **model) -> LSARunConfig:
    """The runs of the tables: lsa-default with the given depth and inputs (``quick``: small
    held-out sets and few steps, for previews and tests)."""
    if quick:
        model = {"n_eval": 4000, "n_tune": 4000, "baseline_search": "fast", **model}
    m = LSAConfig(inputs=inputs, layers=layers, recurrent=recurrent, **model)
    return LSARunConfig(model=m, optim=lsa_optim_config(),
                        train=lsa_train_config(steps, max(1, min(250, steps // 4))))


def _completed(rows: list) -> list:
    """The sweep's rows, or a one-line RunFailed naming the runs that did not complete."""
    bad = [r for r in rows if r.get("status") != "completed"]
    if bad:
        from ..errors import RunFailed
        r = bad[0]
        raise RunFailed(f"{len(bad)} of {len(rows)} runs did not complete; first: {r['job']} "
                        f"({r.get('status')}: {r.get('error', r.get('signal', ''))})")
    return rows


def _spread(values) -> dict:
    v = np.array([x for x in values if x is not None and np.isfinite(x)], np.float64)
    if not v.size:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"),
                "max": float("nan"), "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}


def targets_table(inputs=INPUTS, seeds=(0, 1, 2), steps: int = 5000, out=None,
                  workers=None, progress: bool = True, resume: bool = False,
                  quick: bool = False, mc_tasks: int = 1_000_000) -> dict:
    """One-layer LSA on each input distribution × seed, against the theory.

    Returns ``rows`` (one per run), ``table`` (per distribution: mean/std/min/max over seeds of
    the loss, its ratio to the η* loss, model cosine, effective step / (η*/N), …),
    ``monte_carlo`` (per distribution) and ``construction`` (errors)."""
    base = base_config(inputs[0], 1, steps=steps, quick=quick)
    rows = _completed(run_sweep(base, {"model.inputs": list(inputs)}, list(seeds), RUNNER,
                                SUMMARY, None if out is None else Path(out) / "runs", workers,
                                progress, resume, kind="lsa-targets"))
    table = []
    for inp in inputs:
        rs = [r for r in rows if r["model.inputs"] == inp]
        if not rs:
            continue
        ent = {"inputs": inp, "seeds": len(rs), "loss_star": rs[0]["loss_star"],
               "eta_star_over_N": rs[0]["eta_star_over_N"], "zero_loss": rs[0]["zero_loss"],
               "n_eval": rs[0]["n_eval"]}
        for key, fn in (("loss", lambda r: r["loss"]),
                        ("loss_rel", lambda r: r["loss"] / r["loss_star"] - 1.0),
                        ("gd_loss", lambda r: r["gd_loss"]),
                        ("loss_vs_gd", lambda r: r["loss"] / r["gd_loss"] - 1.0),
                        ("model_cos", lambda r: r["model_cos"]),
                        ("preds_diff", lambda r: r["preds_diff"]),
                        ("model_diff", lambda r: r["model_diff"]),
                        ("eff_step", lambda r: r["eff_step"]),
                        ("step_rel", lambda r: r["eff_step"] / r["eta_star_over_N"] - 1.0),
                        ("qk_dev", lambda r: r["qk_dev"])):
            ent[key] = _spread([fn(r) for r in rs])
        ent["meets"] = {
            "loss_within_2pct": bool(all(abs(r["loss"] / r["loss_star"] - 1) <= 0.02
                                         for r in rs)),
            "model_cos_gt_0.99": bool(all(r["model_cos"] > 0.99 for r in rs)),
            "step_within_5pct": bool(all(abs(r["eff_step"] / r["eta_star_over_N"] - 1) <= 0.05
                                         for r in rs)),
            "not_below_theory": bool(all(r["loss"] >= r["gd_loss"] * (1 - 0.01) for r in rs))}
        table.append(ent)
    # independent task streams per distribution (the two uniforms would otherwise be
    # rescalings of the same draws)
    mc = [monte_carlo(inp, n=4000 if quick else mc_tasks, seed=1000 + INPUTS.index(inp))
          for inp in inputs]
    cons = construction_error(n=200 if quick else 2000)
    return {"rows": rows, "table": table, "monte_carlo": mc, "construction": cons,
            "params": {"steps": steps, "seeds": list(seeds), "quick": quick,
                       "n_eval": base.model.n_eval, "n_tune": base.model.n_tune,
                       "batch_size": base.model.batch_size}}


def depth_study(layers=(1, 2, 3), seeds=(0, 1, 2), steps: int = 5000,
                inputs: str = "uniform-0.5", recurrent=(False, True), out=None,
                workers=None, progress: bool = True, resume: bool = False,
                quick: bool = False, init_scale: float | None = None) -> dict:
    """LSA with 1–3 layers (separate weights, and recurrent for K ≥ 2) against K-step GD and
    GD++ with their best step sizes (per step and shared), all on the same held-out tasks.

    ``table`` has one entry per (layers, recurrent) with mean/std over seeds of the loss and
    of its ratio to each baseline."""
    over = {} if init_scale is None else {"init_scale": init_scale}
    rows = []
    for rec in recurrent:
        Ks = [K for K in layers if K > 1 or not rec]
        if not Ks:
            continue
        base = base_config(inputs, Ks[0], rec, steps=steps, quick=quick, **over)
        sub = None if out is None else Path(out) / ("recurrent" if rec else "separate")
        res = _completed(run_sweep(base, {"model.layers": Ks}, list(seeds), RUNNER, SUMMARY,
                                   sub, workers, progress, resume, kind="lsa-depth"))
        for r in res:
            r["recurrent"] = rec
        rows += res
    sep = {(r["model.layers"], r["seed"]): r for r in rows if not r["recurrent"]}
    table = []
    for K in layers:
        for rec in recurrent:
            rs = [r for r in rows if r["model.layers"] == K and r["recurrent"] == rec]
            if not rs:
                continue
            ent = {"layers": K, "recurrent": rec, "seeds": len(rs),
                   "n_eval": rs[0]["n_eval"]}
            for key in ("loss", "gd_step_loss", "gdpp_step_loss", "gd_shared_loss",
                        "gdpp_shared_loss", "gd_step_tune_loss", "gdpp_step_tune_loss",
                        "gd_shared_tune_loss", "gdpp_shared_tune_loss", "model_cos",
                        "gdpp_model_cos"):
                vals = []
                for r in rs:
                    v = r.get(key)
                    if v is None and (K, r["seed"]) in sep:     # baselines of the same tasks
                        v = sep[(K, r["seed"])].get(key)
                    vals.append(v)
                ent[key] = _spread(vals)
            for ref in ("gd_step", "gdpp_step", "gd_shared", "gdpp_shared"):
                ratios = []
                for r in rs:
                    b = r.get(f"{ref}_loss")
                    if b is None and (K, r["seed"]) in sep:
                        b = sep[(K, r["seed"])].get(f"{ref}_loss")
                    ratios.append(None if b is None else r["loss"] / b - 1.0)
                ent[f"vs_{ref}"] = _spread(ratios)
            table.append(ent)
    return {"rows": rows, "table": table,
            "params": {"layers": list(layers), "seeds": list(seeds), "steps": steps,
                       "inputs": inputs, "recurrent": list(recurrent), "quick": quick,
                       **over}}

