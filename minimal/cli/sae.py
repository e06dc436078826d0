"""``minimal sae``: attention-output SAEs and long- vs short-prefix heads (docs/sae.md).

Subcommands: ``train`` (one network of the prefix study), ``fit`` (an SAE on the layer-2 z_cat
of a trained network, with its reconstruction score and induction features) and ``study``
(both streams × seeds, then an SAE per network: the table and the three hypotheses)."""

from __future__ import annotations

import sys

from ._common import (add_run_args, add_study_args, build_config, finish_training, float_arg,
                      parse_list, positive_int, print_presets, require_out, resume_overrides,
                      summarise_training)


def _ms(v, nd=3):
    return f"{v[0]:.{nd}f} ± {v[1]:.{nd}f}"


def cmd_train(args) -> int:
    from ..config import from_dict
    from ..studies.prefix_sae import (P_VALUES, PREFIX_PRESETS, PrefixRunConfig, summary,
                                      train_prefix)
    if args.list:
        return print_presets(PREFIX_PRESETS)
    require_out(args)
    cfg = build_config(args, PREFIX_PRESETS)
    res = train_prefix(cfg, args.out, resume=args.resume, force=args.force,
                       progress=not args.quiet, overrides=resume_overrides(args))
    summarise_training(res, args.out)
    m = res.metrics
    if "copy_acc" in m and len(m["copy_acc"]):
        s = summary(m, from_dict(PrefixRunConfig, res.run.manifest["config"]) if res.run
                    else cfg)
        print(f"copy accuracy {s['copy_acc']:.3f}, at the ambiguous query {s['amb_acc']:.3f} "
              f"(distractor's successor {s['amb_distractor']:.3f})")
        for h, c in enumerate(s["classes"].split(",")):
            sc = " ".join(f"{s[f'h{h}_p{p}']:.2f}" for p in P_VALUES)
            print(f"layer-2 head {h}: prefix score p=1..5 {sc}  ({c})")
    return finish_training(res)


def _print_analysis(a: dict) -> None:
    print(f"SAE on layer-{a['layer'] + 1} z_cat ({a['rows']} rows, dictionary {a['dict_size']}, "
          f"λ {a['l1']:g}, {a['steps']} steps): reconstruction score {a['score']:.3f} "
          f"(loss clean {a['loss_clean']:.3f}, SAE {a['loss_sae']:.3f}, zero "
          f"{a['loss_zero']:.3f}); "
          f"L0 {a.get('l0', float('nan')):.1f}, FVU {a.get('fvu', float('nan')):.3f}, dead "
          f"{a.get('dead_frac', float('nan')):.2f}")
    if not a["n_induction"]:
        print("no induction features")
        return
    print(f"{a['n_induction']} induction features; per head block (features whose norm² is "
          f"mostly there): {a['head_counts']}; in one block (≥ 80 %): "
          f"{a['frac_in_one_block']:.2f}; main head {a['main_head']} "
          f"({a['main_head_frac']:.2f} of them)")


def cmd_fit(args) -> int:
    from ..studies.prefix_sae import SAE_L1, analyse_sae
    a = analyse_sae(args.run, args.out, steps=args.steps,
                    l1=SAE_L1 if args.l1 is None else args.l1, n_seqs=args.seqs,
                    progress=not args.quiet)
    if a.get("status") != "completed":
        print(f"SAE training {a.get('status')}; --out keeps what was done")
        return 130
    _print_analysis(a)
    return 0


def cmd_study(args) -> int:
    from ..studies.prefix_sae import AMBIGUITIES, DEFAULT_STEPS, SAE_L1, SAE_STEPS, study
    require_out(args)
    seeds = tuple(range(args.seed, args.seed + args.seeds))
    amb = (parse_list("--ambiguities", args.ambiguities, float, 0.0, 1.0) if args.ambiguities
           else AMBIGUITIES)
    res = study(args.out, seeds, args.steps or DEFAULT_STEPS, args.sae_steps or SAE_STEPS,
                SAE_L1 if args.l1 is None else args.l1, args.workers, progress=not args.quiet,
                ambiguities=amb)
    cols = (("copy_acc", "copy acc"), ("amb_acc", "amb. acc"), ("amb_distractor", "distractor"),
            ("n_long", "long heads"), ("n_short", "short heads"), ("sae_score", "SAE score"),
            ("n_induction", "ind. features"), ("main_head_frac", "in main head"))
    print(f"{'arm':<14} {'n':>2} " + " ".join(f"{t:>15}" for _, t in cols))
    for r in res["table"]:
        print(f"{r['arm']:<14} {r['n']:>2} " + " ".join(f"{_ms(r[k], 2):>15}" for k, _ in cols))
    print(f"final values after {res['steps']} steps (SAE: {res['sae_steps']} steps, λ "
          f"{res['l1']:g}), mean ± sd over seeds {res['seeds']}; long-prefix: score(1) < 0.3 "
          "and score(p ≥ 3) > 0.6; short-prefix: score(1) > 0.6 (layer-2 heads)")
    for h in res["hypotheses"]:
        print(f"{h['hypothesis']}: {'supported' if h['supported'] else 'NOT supported'} "
              f"({h['seeds_for']} of {h['seeds']} seeds)")
    return res["exit_status"]


def register(sub, parser_class) -> None:
    p = sub.add_parser("sae", help="attention-output SAEs and long- vs short-prefix heads "
                       "(train | fit | study)")
    ssub = p.add_subparsers(dest="sae_command", metavar="SUBCOMMAND",
                            parser_class=parser_class)

    def no_sub(a):
        p.print_help(sys.stderr)
        return 2
    p.set_defaults(func=no_sub)
    t = ssub.add_parser("train", help="train one network of the prefix study (preset "
                        "prefix-ambiguous; see --list)")
    add_run_args(t, "prefix-ambiguous", "run preset (see --list)")
    t.set_defaults(func=cmd_train)

    def sae_args(s):
        s.add_argument("--l1", type=float_arg("--l1", 0.0, 1000.0), default=None,
                       help="sparsity penalty λ (default: the study's, 0.3; docs/sae.md)")
        s.add_argument("--quiet", action="store_true")

    f = ssub.add_parser("fit", help="an SAE on the layer-2 z_cat of a trained network: "
                        "reconstruction score, induction features and their head blocks")
    f.add_argument("run", help="a network run directory (minimal sae train)")
    f.add_argument("--out", default=None, help="SAE run directory (default: in memory)")
    f.add_argument("--steps", type=positive_int("--steps", 10**7), default=5000)
    f.add_argument("--seqs", type=positive_int("--seqs", 1 << 16), default=2048,
                   help="sequences whose every position is a training row (default 2048)")
    sae_args(f)
    f.set_defaults(func=cmd_fit)
    s = ssub.add_parser("study", help="both streams × seeds, an SAE per network: the table "
                        "and the three hypotheses")
    add_study_args(s, "network training steps (default 15,000)")
    s.add_argument("--sae-steps", type=positive_int("--sae-steps", 10**7), default=None,
                   help="SAE training steps (default 5,000)")
    s.add_argument("--ambiguities", default=None,
                   help="distractor rates of the streams (default 1,0.5,0: every sequence "
                   "ambiguous, half, none)")
    sae_args(s)
    s.set_defaults(func=cmd_study)
