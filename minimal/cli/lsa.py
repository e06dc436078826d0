"""``minimal lsa`` (train linear self-attention on in-context regression) and its subcommands
``theory``, ``construct``, ``targets`` and ``depth`` (docs/lsa.md)."""

from __future__ import annotations

import json

from ._common import (CLIError, add_run_args, build_config, finish_training, float_arg,
                      nonneg_int, parse_list, positive_int, print_presets, require_out,
                      resume_overrides)


def _pairs(args) -> list:
    pairs = []
    for flag, key in (("layers", "model.layers"), ("heads", "model.heads"),
                      ("inputs", "model.inputs"), ("batch", "model.batch_size")):
        v = getattr(args, flag, None)
        if v is not None:
            pairs.append((key, v))
    if getattr(args, "recurrent", False):
        pairs.append(("model.recurrent", True))
    return pairs


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def cmd_lsa(args) -> int:
    from ..lsa.config import LSA_PRESETS
    from ..lsa.train import train_lsa
    if getattr(args, "lsa_command", None):
        return args.sub_func(args)
    if args.list:
        return print_presets(LSA_PRESETS)
    require_out(args)
    cfg = build_config(args, LSA_PRESETS, _pairs(args))
    res = train_lsa(cfg, args.out, resume=args.resume, force=args.force,
                    progress=not args.quiet, overrides=resume_overrides(args, _pairs(args)))
    m = res.metrics
    if m and len(m.get("step", [])):
        last = {k: v[-1] for k, v in m.items() if k != "snapshots"}
        keys = [k for k in ("loss", "gd_loss", "gdpp_loss", "model_cos", "preds_diff",
                            "model_diff", "gdpp_model_cos", "eff_step", "qk_scale", "qk_dev")
                if k in last]
        print(f"final (step {int(last['step'])}): " +
              ", ".join(f"{k} {last[k]:.4g}" for k in keys))
        model = res.learner.model
        base = model.baselines(res.learner.data.eval_data())
        th = base["theory"]
        print(f"GD steps {', '.join(f'{e:.4g}' for e in base['gd_etas'])}; "
              f"theory (one step): eta* = {th['eta_star']:.4g}, eta*/N = "
              f"{th['eta_star_over_N']:.4g}, loss(eta*) = {th['loss_star']:.4g}, "
              f"zero predictor {th['zero_loss']:.4g}")
        if model.cfg.layers == 1:
            print(f"loss / loss(eta*) − 1 = {last['loss'] / th['loss_star'] - 1:+.2%}; "
                  f"eff_step / (eta*/N) − 1 = "
                  f"{last['eff_step'] / th['eta_star_over_N'] - 1:+.2%}")
    for w in res.warnings:
        print(f"warning: {w}")
    print(f"run directory: {args.out}")
    return finish_training(res)


def cmd_theory(args) -> int:
    from ..lsa.config import moments_of
    from ..lsa.experiments import monte_carlo
    from ..theory import lsa as theory
    if (args.sigma2 is None) != (args.kappa is None) and args.inputs is None:
        raise CLIError("--sigma2 and --kappa go together (or give --inputs)")
    if args.inputs is not None or args.kappa is None:
        s2, kappa = moments_of(args.inputs or "uniform-0.5", args.sigma2)
    else:
        s2, kappa = args.sigma2, args.kappa
    out = theory.summary(s2, kappa, args.N, args.d)
    eta = out["eta_star"] if args.eta is None else args.eta
    out["eta"] = eta
    out["loss_at_eta"] = theory.expected_loss(eta, s2, kappa, args.N, args.d)
    dv = theory.derivation()
    out["formula"] = str(dv["loss"])
    if args.mc:
        if args.kappa is not None and args.inputs is None:
            raise CLIError("--mc samples a named distribution: give --inputs (not --kappa)")
        out["monte_carlo"] = monte_carlo(args.inputs or "uniform-0.5", eta, args.mc, args.d,
                                         args.N, args.seed, args.sigma2)
    if args.json:
        print(json.dumps(out, default=float))
        return 0
    print(f"one GD step, W0 = 0: sigma2 = {s2:.6g}, kappa = {kappa:.6g}, N = {args.N}, "
          f"d = {args.d}")
    print(f"E ½(y_q − ŷ)² = {out['formula']}")
    print(f"eta* = {out['eta_star']:.6g} (eta*/N = {out['eta_star_over_N']:.6g}), "
          f"loss(eta*) = {out['loss_star']:.6g}, zero predictor {out['zero_loss']:.6g}")
    if args.eta is not None:
        print(f"loss(eta = {eta:.6g}) = {out['loss_at_eta']:.6g}")
    if args.mc:
        mc = out["monte_carlo"]
        print(f"Monte Carlo ({mc['n']} tasks): {mc['mc_loss']:.6g} ± {mc['mc_se']:.2g} "
              f"vs formula {mc['formula_loss']:.6g} ({mc['rel_err']:+.3%}, "
              f"z = {mc['z']:+.2f}); sampled best step {mc['eta_hat_mc']:.6g}")
    return 0


def cmd_construct(args) -> int:
    from ..lsa.experiments import construction_error
    layers = parse_list("--layers", args.layers, int, lo=1, hi=8)
    rows = construction_error(args.d, args.N, layers, args.n, args.seed)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"LSA construction vs plain GD / GD++ (float64, {args.n} tasks, d = {args.d}, "
          f"N = {args.N}); max |difference|:")
    keys = ["layers", "max_abs_y", "gd_kernel_err", "gd_reference_err", "gd_sens_err",
            "gdpp_kernel_err", "gdpp_sens_err"]
    print("  ".join(f"{k:>16}" for k in keys))
    for r in rows:
        print("  ".join(f"{_fmt(r[k]):>16}" for k in keys))
    return 0


def _spread_text(s: dict, pct: bool = False) -> str:
    if not s or not s.get("n"):
        return "—"
    if pct:
        return f"{s['mean']:+.2%} ± {s['std']:.2%}"
    return f"{s['mean']:.4g} ± {s['std']:.2g}"


def cmd_targets(args) -> int:
    from ..lsa.config import INPUTS
    from ..lsa.experiments import targets_table
    inputs = [x.strip() for x in args.inputs.split(",")] if args.inputs else list(INPUTS)
    for x in inputs:
        if x not in INPUTS:
            raise CLIError(f"--inputs={args.inputs!r} is invalid: {x!r} is not one of "
                           f"{', '.join(INPUTS)}")
    res = targets_table(inputs, range(args.seed, args.seed + args.seeds), args.steps, args.out,
                        args.workers, not args.quiet, args.resume, args.quick, args.mc)
    if args.json:
        print(json.dumps(res, default=float))
        return 0
    p = res["params"]
    print(f"one-layer LSA, {p['steps']} steps, batch {p['batch_size']}, {len(p['seeds'])} "
          f"seeds, losses on {p['n_eval']} held-out tasks (mean ± std over seeds)")
    head = ["inputs", "loss", "loss(eta*)", "rel", "model_cos", "eff_step", "eta*/N",
            "rel", "qk_dev", "targets"]
    print(" | ".join(head))
    for t in res["table"]:
        ok = ", ".join(k for k, v in t["meets"].items() if not v)
        print(" | ".join([t["inputs"], _spread_text(t["loss"]), f"{t['loss_star']:.4g}",
                          _spread_text(t["loss_rel"], True), _spread_text(t["model_cos"]),
                          _spread_text(t["eff_step"]), f"{t['eta_star_over_N']:.4g}",
                          _spread_text(t["step_rel"], True), _spread_text(t["qk_dev"]),
                          "met" if not ok else "MISSED: " + ok]))
    print("Monte Carlo of one GD step at eta* vs the formula:")
    for m in res["monte_carlo"]:
        print(f"  {m['inputs']}: {m['mc_loss']:.6g} ± {m['mc_se']:.2g} vs {m['formula_loss']:.6g}"
              f" ({m['rel_err']:+.3%}, {m['n']} tasks)")
    worst = max(max(r["gd_kernel_err"], r["gdpp_kernel_err"]) for r in res["construction"])
    print(f"construction vs GD / GD++ (float64): max |Δŷ| = {worst:.2g}")
    return 0


def cmd_depth(args) -> int:
    from ..lsa.experiments import depth_study
    layers = parse_list("--layers", args.layers, int, lo=1, hi=8)
    rec = {"separate": (False,), "recurrent": (True,), "both": (False, True)}[args.weights]
    res = depth_study(layers, range(args.seed, args.seed + args.seeds), args.steps,
                      args.inputs, rec, args.out, args.workers, not args.quiet, args.resume,
                      args.quick, args.init_scale)
    if args.json:
        print(json.dumps(res, default=float))
        return 0
    p = res["params"]
    print(f"depth study: {p['inputs']}, {p['steps']} steps, {len(p['seeds'])} seeds "
          "(mean ± std); relative = LSA loss / baseline − 1")
    head = ["K", "weights", "LSA loss", "GD step", "GD++ step", "GD shared", "GD++ shared",
            "vs GD step", "vs GD++ step", "vs GD shared", "vs GD++ shared"]
    print(" | ".join(head))
    for t in res["table"]:
        print(" | ".join([str(t["layers"]), "recurrent" if t["recurrent"] else "separate",
                          _spread_text(t["loss"]), _spread_text(t["gd_step_loss"]),
                          _spread_text(t["gdpp_step_loss"]), _spread_text(t["gd_shared_loss"]),
                          _spread_text(t["gdpp_shared_loss"]),
                          _spread_text(t["vs_gd_step"], True),
                          _spread_text(t["vs_gdpp_step"], True),
                          _spread_text(t["vs_gd_shared"], True),
                          _spread_text(t["vs_gdpp_shared"], True)]))
    return 0


def register(sub, parser_class) -> None:
    from ..lsa.config import INPUTS
    p = sub.add_parser("lsa", help="linear self-attention as gradient descent (train; "
                                   "'lsa theory | construct | targets | depth')")
    p.add_argument("--layers", type=positive_int("--layers", 8), default=None,
                   help="layers K (default: the preset's)")
    p.add_argument("--heads", type=positive_int("--heads", 16), default=None)
    p.add_argument("--recurrent", action="store_true",
                   help="one set of weights in every layer")
    p.add_argument("--inputs", choices=INPUTS, default=None, help="input distribution")
    p.add_argument("--batch", type=positive_int("--batch", 1_000_000), default=None,
                   help="training tasks per step")
    add_run_args(p, "lsa-default", "preset (see --list)")
    p.set_defaults(func=cmd_lsa)
    lsub = p.add_subparsers(dest="lsa_command", metavar="SUBCOMMAND", parser_class=parser_class)

    t = lsub.add_parser("theory", help="eta* and the loss of one GD step (SymPy), optionally "
                                       "checked by Monte Carlo")
    t.add_argument("--inputs", choices=INPUTS, default=None,
                   help="input distribution (default uniform-0.5)")
    t.add_argument("--sigma2", type=float_arg("--sigma2", 1e-12, 1e6), default=None,
                   help="input variance (with --inputs: rescale it; else give --kappa too)")
    t.add_argument("--kappa", type=float_arg("--kappa", 1.0, 1e6), default=None,
                   help="input kurtosis E x^4 / sigma^4 (≥ 1)")
    t.add_argument("--d", type=positive_int("--d", 10_000), default=10)
    t.add_argument("--N", type=positive_int("--N", 100_000), default=10)
    t.add_argument("--eta", type=float_arg("--eta", 0.0, 1e9), default=None,
                   help="also the loss at this step")
    t.add_argument("--mc", type=nonneg_int("--mc", 100_000_000), default=0,
                   help="Monte Carlo tasks (0: none)")
    t.add_argument("--seed", type=nonneg_int("--seed"), default=0)
    t.add_argument("--json", action="store_true")
    t.set_defaults(sub_func=cmd_theory)

    c = lsub.add_parser("construct", help="the GD / GD++ constructions against plain GD")
    c.add_argument("--d", type=positive_int("--d", 256), default=10)
    c.add_argument("--N", type=positive_int("--N", 4096), default=10)
    c.add_argument("--layers", default="1,2,3", help="comma-separated depths (1–8)")
    c.add_argument("--n", type=positive_int("--n", 1_000_000), default=2000,
                   help="tasks")
    c.add_argument("--seed", type=nonneg_int("--seed"), default=0)
    c.add_argument("--json", action="store_true")
    c.set_defaults(sub_func=cmd_construct)

    for name, helptext in (("targets", "one-layer LSA on the three input distributions vs "
                                       "the theory (seeds in parallel processes)"),
                           ("depth", "1–3 layers vs K-step GD and GD++")):
        s = lsub.add_parser(name, help=helptext)
        s.add_argument("--seeds", type=positive_int("--seeds", 1000), default=3)
        s.add_argument("--seed", type=nonneg_int("--seed"), default=0, help="first seed")
        s.add_argument("--steps", type=positive_int("--steps", 10**9), default=None,
                       help="steps per run (default 5000; --quick 300)")
        s.add_argument("--workers", type=positive_int("--workers", 256), default=None)
        s.add_argument("--out", default=None, help="results directory")
        s.add_argument("--resume", action="store_true", help="skip runs already finished")
        s.add_argument("--quick", action="store_true",
                       help="few steps and small held-out sets (a preview)")
        s.add_argument("--json", action="store_true")
        s.add_argument("--quiet", action="store_true")
        if name == "targets":
            s.add_argument("--inputs", default=None,
                           help=f"comma-separated distributions (default {','.join(INPUTS)})")
            s.add_argument("--mc", type=positive_int("--mc", 100_000_000), default=1_000_000,
                           help="Monte Carlo tasks per distribution")
            s.set_defaults(sub_func=_with_steps(cmd_targets))
        else:
            s.add_argument("--layers", default="1,2,3", help="comma-separated depths (1–8)")
            s.add_argument("--inputs", choices=INPUTS, default="uniform-0.5")
            s.add_argument("--weights", choices=("separate", "recurrent", "both"),
                           default="both", help="separate weights per layer, recurrent, both")
            s.add_argument("--init-scale", dest="init_scale",
                           type=float_arg("--init-scale", 0.0, 10.0), default=None,
                           help="std of the initial weights (default the config's 0.02)")
            s.set_defaults(sub_func=_with_steps(cmd_depth))


def _with_steps(fn):
    def run(args):
        if args.steps is None:
            args.steps = 300 if args.quick else 5000
        return fn(args)
    return run
