"""``minimal theory ...`` sub-commands (wired into :mod:`minimal.cli`)."""

from __future__ import annotations

import json
import sys

import numpy as np

from ..errors import ConfigError


def _triple(name, text, default):
    if text is None:
        return default
    parts = text.split(",")
    if len(parts) != 3:
        raise ConfigError(name, text, "must be three comma-separated numbers "
                          "(beta1,alpha,xi order)")
    try:
        return tuple(float(p) for p in parts)
    except ValueError:
        raise ConfigError(name, text, "must be three comma-separated numbers") from None


def nl_config(args):
    from .nested_logits import NestedLogitsConfig
    init = _triple("--init", args.init, (-2.0, 0.0, 0.0))
    rates = _triple("--rates", args.rates, (1.0, 1.0, 1.0))
    return NestedLogitsConfig(N=args.N, L=args.L, B=args.B, eps=args.eps, beta1_0=init[0],
                              alpha_0=init[1], xi_0=init[2], eta_beta=rates[0],
                              eta_alpha=rates[1], eta_xi=rates[2])


def add_nl_args(p, L_default=32):
    p.add_argument("--N", type=int, default=8, help="context pairs N (default 8)")
    p.add_argument("--L", type=int, default=L_default, help=f"labels L (default {L_default})")
    p.add_argument("--B", type=int, default=1, help="burstiness B (default 1)")
    p.add_argument("--eps", type=float, default=0.1, help="within-class noise (default 0.1)")
    p.add_argument("--init", default=None, metavar="B1,A,XI",
                   help="initial (beta1, alpha, xi), default -2,0,0")
    p.add_argument("--rates", default=None, metavar="EB,EA,EX",
                   help="learning rates (eta_beta, eta_alpha, eta_xi), default 1,1,1")


def cmd_nested_logits(args) -> int:
    from ..config import to_dict
    from ..runs import Run
    from .analysis import ordering_times, plateau_estimate
    from .nested_logits import gradient_descent, gradient_flow
    cfg = nl_config(args)
    est = plateau_estimate(cfg)
    t_max = args.t_max if args.t_max is not None else 3 * est
    if not np.isfinite(t_max) or t_max <= 0:
        raise ConfigError("--t-max", t_max, "must be a positive number (L = n has no "
                          "finite plateau estimate: give --t-max)")
    cols = ["t", "beta1", "alpha", "xi", "loss", "p_correct", "cla"]
    if args.method == "ode":
        tr = gradient_flow(cfg, t_max, n_points=args.points)
    else:
        steps = int(round(t_max))
        tr = gradient_descent(cfg, steps, record_every=max(1, steps // args.points))
    run = None
    if args.out:
        run = Run.create(args.out, "theory-nested-logits", cfg, None, cols,
                         resolved={"t_star_estimate": est, "t_max": t_max, "method": args.method,
                                   "events": tr.events, "solver": tr.info})
        data = tr.as_columns()
        for i in range(len(tr.t)):
            run.log({k: float(data[k][i]) for k in cols})
    order = ordering_times(cfg, t_max) if args.method == "ode" and np.isfinite(est) else None
    if run is not None:
        run.finish("completed", ordering=order)
    out = {"t_star_estimate": est, "events": tr.events, "final": {
        k: float(v[-1]) for k, v in tr.as_columns().items()}, "solver": tr.info,
        "ordering": order, "run": str(args.out) if args.out else None}
    if args.json:
        print(json.dumps(out, default=float))
        return 0
    print(f"nested logits: N={cfg.N}, L={cfg.L}, B={cfg.B}, eps={cfg.eps}, "
          f"init={tuple(float(x) for x in cfg.theta0)}, "
          f"rates={tuple(float(x) for x in cfg.rates)}")
    print(f"plateau estimate t* = {est:.4g}; p_correct crosses 0.5 at "
          f"{tr.events.get('p_correct>0.5')} ({args.method})")
    f = out["final"]
    print(f"at t = {f['t']:.4g}: beta1 {f['beta1']:.3f}, alpha {f['alpha']:.3f}, xi "
          f"{f['xi']:.3f}, loss {f['loss']:.4f}, p_correct {f['p_correct']:.3f}, cla "
          f"{f['cla']:.3f}")
    if order:
        on = order["fractions"][0.1]
        print(f"onset (10% of total change): xi {on['xi']:.3g} < alpha {on['alpha']:.3g} < "
              f"beta1 {on['beta1']:.3g}: curriculum {'holds' if order['curriculum_holds'] else 'FAILS'}")
    if args.out:
        print(f"run directory: {args.out}")
    return 0


def cmd_saddle(args) -> int:
    import sympy as sp
    from .analysis import saddle
    if args.N % args.B or not (1 <= args.B < args.N):
        raise ConfigError("--B", args.B, f"must divide N={args.N} and be < N")
    if args.L < args.N // args.B:
        raise ConfigError("--L", args.L, f"must be ≥ n = N/B = {args.N // args.B}")
    s = saddle(args.N, args.L, args.B, args.eps)
    if args.json:
        print(json.dumps({"stationary": s["stationary"], "verdict": s["verdict"],
                          "gradient": [str(g) for g in s["gradient"]],
                          "hessian": [[str(x) for x in row] for row in s["hessian"].tolist()],
                          "eigenvalues": {str(k): int(v) for k, v in
                                          s.get("eigenvalues", {}).items()},
                          "escape_time": str(s["escape_time"])}))
        return 0
    print(f"gradient of L at (beta1, alpha=0, xi=0), general L:  {s['gradient_at_origin']}")
    print(f"with N={args.N}, L={args.L}, B={args.B}, eps={args.eps}:")
    print("  gradient (d/dbeta1, d/dalpha, d/dxi) = " + str(s["gradient"]))
    print("  Hessian =")
    for row in s["hessian"].tolist():
        print("    [" + ", ".join(str(x) for x in row) + "]")
    if s["stationary"]:
        print("  eigenvalues: " + ", ".join(str(k) for k in s["eigenvalues"]))
        print(f"  escape time from a perturbation delta_0 (to delta_1): {s['escape_time']}")
    print("verdict: " + s["verdict"])
    print(f"(general statement verified symbolically: the gradient vanishes on the line iff "
          f"L = n: {s['gradient_vanishes_iff_L_eq_n']})")
    return 0


def cmd_plateau(args) -> int:
    from .analysis import plateau_check, plateau_estimate, plateau_formula
    from .nested_logits import gradient_descent, gradient_flow
    f = plateau_formula()
    if args.box:
        res = plateau_check(quick=args.quick)
        if args.json:
            print(json.dumps({k: v for k, v in res.items() if k != "rows"} |
                             {"rows": res["rows"]}, default=float))
            return 0
        print(f"plateau formula: {f['latex']}")
        print(f"box of {res['n']} settings (w0 <= 0.5, L >= n+2, rates within 5x): ratio "
              f"(GD step where p_correct > 1/2) / t* in [{res['min']:.3f}, {res['max']:.3f}], "
              f"median {res['median']:.3f}; {100 * res['frac_in_0.8_1.4']:.0f}% inside "
              "[0.8, 1.4]")
        return 0
    cfg = nl_config(args)
    est = plateau_estimate(cfg)
    gd = gradient_descent(cfg, int(min(max(10 * est, 200), 5e6)), record_every=1000)
    ode = gradient_flow(cfg, 10 * est if np.isfinite(est) else 1e4)
    t_gd, t_ode = gd.events["p_correct>0.5"], ode.events.get("p_correct>0.5")
    out = {"t_star": est, "t_gd": t_gd, "t_ode": t_ode,
           "ratio_gd": (t_gd / est) if t_gd else None, "latex": f["latex"]}
    if args.json:
        print(json.dumps(out, default=float))
        return 0
    print(f"plateau formula: {f['latex']}")
    print(f"estimate t* = {est:.4g}; gradient descent (dt=1): p_correct > 1/2 at step {t_gd}; "
          f"gradient flow: t = {t_ode if t_ode is None else round(t_ode, 3)}; ratio GD/t* = "
          f"{out['ratio_gd'] if out['ratio_gd'] is None else round(out['ratio_gd'], 3)}")
    return 0


def cmd_three_factor(args) -> int:
    from ..runs import Run
    from . import three_factor as tf
    if args.model == "tensor":
        rows = []
        summary = {}
        for seed in range(args.seed, args.seed + args.seeds):
            cfg = tf.TensorToyConfig(clamp=args.clamp, seed=seed, iterations=args.iterations)
            r = tf.tensor_toy(cfg)
            summary[seed] = r["iters_to_10pct"]
            for i in range(len(r["loss"])):
                rows.append({"seed": seed, "iteration": i, "loss": r["loss"][i],
                             "pm1": r["pm1"][i], "pm2": r["pm2"][i]})
        cols = ["seed", "iteration", "loss", "pm1", "pm2"]
        config = {"model": "tensor", "clamp": args.clamp, "seeds": list(summary),
                  "iterations": args.iterations, "d": 20, "lr": 1.0}
    else:
        mapping = {"none": "none", "c": "C", "bc": "BC"}
        cfg = tf.ScalarModelConfig(clamp=mapping[args.clamp], alpha0=args.alpha0)
        r = tf.scalar_model(cfg, args.t_max)
        summary = {"t_10pct": r["t_10pct"]}
        rows = [{"t": r["t"][i], "alpha_A": r["alpha"][i, 0], "alpha_B": r["alpha"][i, 1],
                 "alpha_C": r["alpha"][i, 2], "loss": r["loss"][i]} for i in range(len(r["t"]))]
        cols = ["t", "alpha_A", "alpha_B", "alpha_C", "loss"]
        config = {"model": "scalar", "clamp": args.clamp, "alpha0": args.alpha0,
                  "t_max": args.t_max}
    if args.out:
        run = Run.create(args.out, "theory-three-factor", config, None, cols,
                         resolved={"summary": summary})
        for row in rows:
            run.log(row)
        run.finish("completed")
    if args.json:
        print(json.dumps({"config": config, "summary": summary}))
        return 0
    if args.model == "tensor":
        print(f"tensor toy (d=20, lr=1), clamp {args.clamp}: iterations to 10% of the "
              f"zero-prediction loss per seed: {summary}")
    else:
        print(f"scalar model, clamp {args.clamp}: loss reaches 10% of its initial value at "
              f"t = {summary['t_10pct']}")
    if args.out:
        print(f"run directory: {args.out}")
    return 0


def register(sub, parser_class, positive_int, nonneg_int):
    th = sub.add_parser("theory", help="symbolic nested-logits dynamics and the three-factor toy")
    tsub = th.add_subparsers(dest="theory_command", metavar="SUBCOMMAND",
                             parser_class=parser_class)
    p = tsub.add_parser("nested-logits", help="integrate the nested-logits gradient flow")
    add_nl_args(p)
    p.add_argument("--t-max", type=float, default=None, help="integration horizon "
                   "(default 3 t*)")
    p.add_argument("--method", choices=("ode", "gd"), default="ode",
                   help="solve_ivp gradient flow (ode) or Euler GD with dt=1 (gd)")
    p.add_argument("--points", type=positive_int("--points"), default=400,
                   help="saved time points (default 400)")
    p.add_argument("--out", default=None, help="run directory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_nested_logits)
    p = tsub.add_parser("saddle", help="symbolic gradient/Hessian at the origin and verdict")
    p.add_argument("--N", type=int, default=8)
    p.add_argument("--L", type=int, default=8)
    p.add_argument("--B", type=int, default=1)
    p.add_argument("--eps", type=float, default=None,
                   help="substitute a numeric eps (default: keep symbolic)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_saddle)
    p = tsub.add_parser("plateau", help="plateau-time estimate vs gradient descent / flow")
    add_nl_args(p)
    p.add_argument("--box", action="store_true", help="check the estimate over the box")
    p.add_argument("--quick", action="store_true", help="a smaller box")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plateau)
    p = tsub.add_parser("three-factor", help="Singh et al.'s three-factor toy with clamping")
    p.add_argument("--clamp", choices=("none", "c", "bc"), default="none")
    p.add_argument("--model", choices=("tensor", "scalar"), default="tensor")
    p.add_argument("--seeds", type=positive_int("--seeds"), default=3)
    p.add_argument("--seed", type=nonneg_int("--seed"), default=0, help="first seed")
    p.add_argument("--iterations", type=positive_int("--iterations"), default=1000)
    p.add_argument("--alpha0", type=float, default=0.05, help="scalar model initial value")
    p.add_argument("--t-max", type=float, default=200.0, help="scalar model horizon")
    p.add_argument("--out", default=None, help="run directory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_three_factor)
    th.set_defaults(func=lambda a: (th.print_help(), 2)[1])
