"""``minimal theory nested-logits | saddle | plateau | three-factor``."""

from __future__ import annotations

import json

import numpy as np

from ..errors import ConfigError
from ._common import float_arg, nonneg_int, positive_int


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
    from ..theory.nested_logits import NestedLogitsConfig
    init = _triple("--init", args.init, (-2.0, 0.0, 0.0))
    rates = _triple("--rates", args.rates, (1.0, 1.0, 1.0))
    return NestedLogitsConfig(N=args.N, L=args.L, B=args.B, eps=args.eps, beta1_0=init[0],
                              alpha_0=init[1], xi_0=init[2], eta_beta=rates[0],
                              eta_alpha=rates[1], eta_xi=rates[2])


def add_nl_args(p, L_default=32):
    p.add_argument("--N", type=positive_int("--N", 4096), default=8,
                   help="context pairs N (default 8)")
    p.add_argument("--L", type=positive_int("--L", 100_000), default=L_default,
                   help=f"labels L (default {L_default})")
    p.add_argument("--B", type=nonneg_int("--B", 4095), default=1,
                   help="burstiness B (default 1)")
    p.add_argument("--eps", type=float_arg("--eps", 0.0, 100.0), default=0.1,
                   help="within-class noise (default 0.1)")
    p.add_argument("--init", default=None, metavar="B1,A,XI",
                   help="initial (beta1, alpha, xi), default -2,0,0")
    p.add_argument("--rates", default=None, metavar="EB,EA,EX",
                   help="learning rates (eta_beta, eta_alpha, eta_xi), default 1,1,1")


def cmd_nested_logits(args) -> int:
    from ..theory.experiments import nested_logits_run
    cfg = nl_config(args)
    res = nested_logits_run(cfg, args.t_max, args.method, args.points, args.out)
    out = {k: res[k] for k in ("t_star_estimate", "events", "final", "solver", "ordering",
                               "run")}
    if args.json:
        print(json.dumps(out, default=float))
        return 0
    print(f"nested logits: N={cfg.N}, L={cfg.L}, B={cfg.B}, eps={cfg.eps}, "
          f"init={tuple(float(x) for x in cfg.theta0)}, "
          f"rates={tuple(float(x) for x in cfg.rates)}")
    print(f"plateau estimate t* = {res['t_star_estimate']:.4g}; p_correct crosses 0.5 at "
          f"{res['events'].get('p_correct>0.5')} ({args.method})")
    f = res["final"]
    print(f"at t = {f['t']:.4g}: beta1 {f['beta1']:.3f}, alpha {f['alpha']:.3f}, xi "
          f"{f['xi']:.3f}, loss {f['loss']:.4f}, p_correct {f['p_correct']:.3f}, cla "
          f"{f['cla']:.3f}")
    order = res["ordering"]
    if order:
        on = order["fractions"][0.1]
        print(f"onset (10% of total change): xi {on['xi']:.3g} < alpha {on['alpha']:.3g} < "
              f"beta1 {on['beta1']:.3g}: curriculum "
              f"{'holds' if order['curriculum_holds'] else 'FAILS'}")
    if args.out:
        print(f"run directory: {args.out}")
    return 0


def cmd_saddle(args) -> int:
    from ..theory.analysis import saddle
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
    from ..theory.analysis import plateau_check, plateau_estimate, plateau_formula
    from ..theory.nested_logits import gradient_descent, gradient_flow
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
    from ..theory.experiments import three_factor_run
    res = three_factor_run(args.model, args.clamp, args.seeds, args.seed, args.iterations,
                           args.alpha0, args.t_max, args.out)
    summary = res["summary"]
    if args.json:
        print(json.dumps({"config": res["config"], "summary": summary}))
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


def register(sub, parser_class) -> None:
    th = sub.add_parser("theory", help="symbolic nested-logits dynamics and the three-factor toy")
    tsub = th.add_subparsers(dest="theory_command", metavar="SUBCOMMAND",
                             parser_class=parser_class)
    p = tsub.add_parser("nested-logits", help="integrate the nested-logits gradient flow")
    add_nl_args(p)
    p.add_argument("--t-max", type=float_arg("--t-max", 0.0, 1e9), default=None,
                   help="integration horizon (default 3 t*)")
    p.add_argument("--method", choices=("ode", "gd"), default="ode",
                   help="solve_ivp gradient flow (ode) or Euler GD with dt=1 (gd)")
    p.add_argument("--points", type=positive_int("--points", 1_000_000, "saved rows"),
                   default=400, help="saved time points (default 400, at most 1,000,000)")
    p.add_argument("--out", default=None, help="run directory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_nested_logits)
    p = tsub.add_parser("saddle", help="symbolic gradient/Hessian at the origin and verdict")
    p.add_argument("--N", type=positive_int("--N", 64, "symbolic size"), default=8)
    p.add_argument("--L", type=positive_int("--L", 1024), default=8)
    p.add_argument("--B", type=positive_int("--B", 63), default=1)
    p.add_argument("--eps", type=float_arg("--eps", 0.0, 100.0), default=None,
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
    p.add_argument("--seeds", type=positive_int("--seeds", 1000, "one toy run each"),
                   default=3)
    p.add_argument("--seed", type=nonneg_int("--seed"), default=0, help="first seed")
    p.add_argument("--iterations", type=positive_int("--iterations", 1_000_000), default=1000)
    p.add_argument("--alpha0", type=float_arg("--alpha0", 1e-6, 10.0), default=0.05,
                   help="scalar model initial value")
    p.add_argument("--t-max", type=float_arg("--t-max", 0.0, 1e7), default=200.0,
                   help="scalar model horizon")
    p.add_argument("--out", default=None, help="run directory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_three_factor)
    th.set_defaults(func=lambda a: (th.print_help(), 2)[1])
