"""The ``minimal`` command line.

Sub-commands: ``demo`` (the main job on built-in defaults), ``info``, ``task sample``,
``task stats``, ``figures`` and ``bench``.  Bad input prints ``error: ...`` and exits with
status 2; it never shows a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from .env import limit_threads

# One thread per process unless the user says otherwise (must precede the NumPy import).
limit_threads(1)

from .errors import MinimalError  # noqa: E402


class CLIError(MinimalError):
    """Bad command-line usage."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _positive_int(name):
    def conv(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is invalid: must be an integer "
                                             "≥ 1") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"{name}={v} is invalid: must be ≥ 1")
        return v
    return conv


def _nonneg_int(name):
    def conv(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is invalid: must be an integer "
                                             "≥ 0") from None
        if v < 0:
            raise argparse.ArgumentTypeError(f"{name}={v} is invalid: must be ≥ 0")
        return v
    return conv


def _add_config_args(p, preset_help="named preset (see --list-presets)"):
    p.add_argument("--preset", default="reddy-default", help=preset_help)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set task.B=4 (repeatable)")
    p.add_argument("--seed", type=_nonneg_int("--seed"), default=None,
                   help="run seed (world, eval, data and init streams derive from it)")


# ----------------------------------------------------------------------------------------------
# task commands
# ----------------------------------------------------------------------------------------------

def _task_run_config(args):
    from .config import Seeds, apply_overrides
    from .tasks.icl import TASK_PRESETS, TaskRunConfig
    cfg = TaskRunConfig(task=TASK_PRESETS.get(args.preset), seeds=Seeds())
    if args.seed is not None:
        cfg = apply_overrides(cfg, [("seeds.seed", args.seed)])
    if args.overrides:
        cfg = apply_overrides(cfg, args.overrides)
    return cfg


def _format_sequence(task, batch, i) -> str:
    from .tasks.icl import KIND_NAMES
    N = batch.N
    cls, lab = batch.class_ids[i], batch.label_ids[i]
    match = batch.matches[i]
    x = batch.content[i].astype("float64")
    xq = x[2 * N]
    over = [float(x[2 * j] @ xq) for j in range(N)]
    kind = KIND_NAMES[batch.kind[i]]
    w = max(7, max(len(str(v)) for v in cls) + 2)
    head = (f"seq {i}: {kind}, shift {batch.shift[i]}, target class {cls[N]} -> label "
            f"{batch.target[i]} ({int(match.sum())} matching pair(s))")
    cells = lambda vals: "".join(f"{v:>{w}}" for v in vals)
    lines = [head,
             f"  {'pair':<8}{cells(range(N))}   | target",
             f"  {'class':<8}{cells(cls[:N])}   | {cls[N]}",
             f"  {'label':<8}{cells(lab[:N])}   | {lab[N]}",
             f"  {'match':<8}{cells(['*' if m else '.' for m in match])}   |",
             f"  {'x_j.x_q':<8}{''.join(f'{v:>{w}.2f}' for v in over)}   | "
             f"{float(xq @ xq):.2f}"]
    return "\n".join(lines)


def cmd_task_sample(args) -> int:
    from .tasks.icl import ICLTask, SPLITS
    if args.split not in SPLITS:
        raise CLIError(f"--split={args.split!r} is invalid: choose one of {', '.join(SPLITS)}")
    cfg = _task_run_config(args)
    task = ICLTask(cfg.task, cfg.seeds, warn=not args.json)
    batch = task.sample(args.split, args.n, step=args.step)
    if args.json:
        obj = batch.to_json_dict()
        obj["config"] = __import__("minimal.config", fromlist=["to_dict"]).to_dict(cfg)
        obj["step"] = args.step if args.split == "train" else None
        json.dump(obj, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(task.describe())
    where = f"training batch at step {args.step}" if args.split == "train" else \
        f"evaluation set {args.split.upper()}"
    print(f"\n{args.n} sequence(s) from the {where}:")
    for i in range(len(batch)):
        print()
        print(_format_sequence(task, batch, i))
    return 0


def cmd_task_stats(args) -> int:
    from .tasks.icl import ICLTask, SPLITS
    from .tasks.icl_stats import format_rows, task_statistics
    if args.split not in SPLITS:
        raise CLIError(f"--split={args.split!r} is invalid: choose one of {', '.join(SPLITS)}")
    cfg = _task_run_config(args)
    task = ICLTask(cfg.task, cfg.seeds, warn=not args.json)
    rows = task_statistics(task, n=args.n, split=args.split)
    ok = all(r.ok for r in rows)
    if args.json:
        json.dump({"split": args.split, "n": args.n, "all_ok": ok,
                   "rows": [r.to_dict() for r in rows]}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"{args.n} sequences of split '{args.split}' "
              f"(preset {args.preset}; false-alarm rate 1e-6 per row)\n")
        print(format_rows(rows))
        print("\nall invariants hold" if ok else "\nSOME INVARIANTS FAIL (rows marked NO)")
    return 0 if ok else 1


def cmd_task_presets(args) -> int:
    from .tasks.icl import TASK_PRESETS
    for name, desc in TASK_PRESETS.describe():
        print(f"{name:<16} {desc}")
    return 0


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------

def _train_config(args):
    from .config import apply_overrides
    from .nets.config import TRAIN_PRESETS
    cfg = TRAIN_PRESETS.get(args.preset)
    pairs = []
    if args.seed is not None:
        pairs.append(("seeds.seed", args.seed))
    if args.steps is not None:
        pairs.append(("train.steps", args.steps))
    if pairs:
        cfg = apply_overrides(cfg, pairs)
    if args.overrides:
        cfg = apply_overrides(cfg, args.overrides)
    return cfg


def _print_presets(registry) -> int:
    for name, desc in registry.describe():
        print(f"{name:<18} {desc}")
    return 0


def _summarise_run(result, out) -> None:
    m = result.metrics
    if not m or "step" not in m or len(m["step"]) == 0:
        return
    last = {k: v[-1] for k, v in m.items() if k != "snapshots"}
    keys = ("loss", "ic_acc", "ic2_acc", "iw_acc", "test_acc", "ila1", "tila2", "tla2", "cla")
    print("final: step " + str(int(last["step"])) + ", " +
          ", ".join(f"{k} {last[k]:.3f}" for k in keys if k in last))
    ic = m.get("ic_acc")
    if ic is not None and len(ic) > 1:
        above = [int(s) for s, a in zip(m["step"], ic) if a >= 0.5]
        print(f"IC accuracy first ≥ 0.5 at step {above[0]}" if above else
              "IC accuracy has not reached 0.5 yet")
    if out is not None:
        print(f"run directory: {out} (run.json, metrics.csv, checkpoint.npz)")


def cmd_train(args) -> int:
    from .nets.config import TRAIN_PRESETS
    from .nets.train import train
    from .trainer import TrainingDiverged
    if args.list:
        return _print_presets(TRAIN_PRESETS)
    if args.out is None:
        raise CLIError("--out is required: the run directory to write (or --list)")
    cfg = _train_config(args)
    try:
        result = train(cfg, args.out, resume=args.resume, progress=not args.quiet)
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    _summarise_run(result, args.out)
    if result.status == "interrupted":
        print(f"interrupted at step {result.step}; continue with the same command plus "
              "--resume", file=sys.stderr)
        return 130
    return 0


# ----------------------------------------------------------------------------------------------
# other commands
# ----------------------------------------------------------------------------------------------

def cmd_info(args) -> int:
    from . import __version__
    from .env import environment
    env = environment()
    if args.json:
        json.dump(env, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"minimal {__version__}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v))
    nb = env["numba"]
    print(f"numba: {nb['num_threads']} thread(s), threading layer requested "
          f"{nb['threading_layer_requested']!r}, active {nb['threading_layer_active']!r}, "
          f"JIT {'disabled' if nb['disable_jit'] else 'enabled'}")
    print(f"numba cache: {nb['cache_dir']}")
    print("thread env: " + ", ".join(f"{k}={v}" for k, v in env["threads_env"].items()))
    print(f"cpus: {env['cpu_count']}; platform: {env['platform']}")
    return 0


def cmd_demo(args) -> int:
    """The main job on built-in defaults, one minute on a laptop core: (1) the task and its
    invariants, (2) a minimal induction-head model trained on reddy-fig3 showing the slow phase
    and the abrupt ICL transition, (3) the nested-logits plateau formula against its gradient
    flow, (4) a logistic fit of the simulated curve locating the transition."""
    import time as _time

    import numpy as np

    from .config import Seeds, apply_overrides
    from .fit import fit_curve, make_model
    from .fit.curves import from_arrays
    from .induction_head.model import IH_PRESETS
    from .induction_head.train import train_ih
    from .tasks.icl import ICLTask, TaskConfig
    from .tasks.icl_stats import task_statistics
    from .theory.analysis import plateau_estimate
    from .theory.nested_logits import NestedLogitsConfig, gradient_flow
    t0 = _time.perf_counter()
    print("== 1. the in-context classification task (Reddy 2024), defaults")
    task = ICLTask(TaskConfig(), Seeds(seed=0))
    print(task.describe())
    batch = task.sample("train", 1)
    print()
    print(_format_sequence(task, batch, 0))
    rows = task_statistics(task, n=args.n)
    bad = [r for r in rows if not r.ok]
    print(f"statistical invariants on {args.n} sequences: {len(rows) - len(bad)}/{len(rows)} "
          "hold" + ("" if not bad else "; failing: " + ", ".join(r.name for r in bad)))
    print("\n== 2. minimal induction-head model ih3 on reddy-fig3 (K=256, B=1, p_C=0.8)")
    cfg = apply_overrides(IH_PRESETS.get("reddy-fig3"), [
        "ih.lr_attn=0.1", "ih.lr_clf=0.1", "train.steps=6000", "train.eval_every=250",
        "task.n_eval=1000"])
    res = train_ih(cfg, args.out, progress=not args.quiet)
    m = res.metrics
    print(f"{'step':>6} {'IC acc':>7} {'CLA':>6} {'w=σ(β1)':>8} {'TILA2':>6} {'alpha':>6}")
    for i in range(0, len(m["step"]), 2):
        print(f"{int(m['step'][i]):>6} {m['ic_acc'][i]:>7.3f} {m['cla'][i]:>6.3f} "
              f"{m['ila1'][i]:>8.3f} {m['tila2'][i]:>6.3f} {m['alpha'][i]:>6.2f}")
    print("\n== 3. nested-logits theory (N=8, L=32, B=1, eps=0.1, beta1(0)=-2)")
    nl = NestedLogitsConfig()
    tr = gradient_flow(nl, 3 * plateau_estimate(nl))
    print(f"plateau formula t* = {plateau_estimate(nl):.1f}; gradient flow: p_correct > 1/2 at "
          f"t = {tr.events['p_correct>0.5']:.1f}")
    print("\n== 4. fitting the simulated curve with a logistic")
    fit = fit_curve(from_arrays(m["step"], m["ic_acc"], "step", "ic_acc"),
                    make_model("logistic"))
    ci = fit.t_transition_ci
    print(f"transition at step {fit.t_transition:.0f}" +
          (f" (95% interval {ci[0]:.0f}-{ci[1]:.0f})" if ci else "") +
          f", plateaus {fit.params['low']:.3f} -> {fit.params['high']:.3f}, R² {fit.r2:.4f}")
    print(f"\ndone in {_time.perf_counter() - t0:.0f} s.  Next: `minimal train --preset "
          "reddy-fig3 --out runs/fig3` (full network), `minimal theory --help`, "
          "`minimal fit --help`, `minimal figures --list`.")
    return 0 if not bad else 1


def cmd_figures(args) -> int:
    from .figures import available, make_figures
    if args.list:
        for name, spec in available().items():
            print(f"{name:<24} {spec.description}")
        return 0
    make_figures(args.names, args.out, quick=args.quick, seed=args.seed, progress=not args.quiet)
    return 0


def cmd_bench(args) -> int:
    from .bench import BENCHMARKS, run
    res = run(args.name, quick=args.quick)
    if args.json:
        json.dump(res, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(json.dumps(res, indent=2))
    return 0


# ----------------------------------------------------------------------------------------------
# parser
# ----------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    p = _Parser(prog="minimal", description="CPU simulations of the mechanistic theory of "
                "in-context learning: tasks, tiny networks, minimal models, theory, fitting.")
    p.add_argument("--version", action="version", version=f"minimal {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("demo", help="the main job on built-in defaults (about a minute)")
    d.add_argument("--n", type=_positive_int("--n"), default=5000,
                   help="sequences for the invariant check (default 5000)")
    d.add_argument("--out", default=None, help="also save the minimal-model run here")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=cmd_demo)

    i = sub.add_parser("info", help="versions, threads, threading layer, cache directory")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    t = sub.add_parser("task", help="the in-context classification task")
    tsub = t.add_subparsers(dest="task_command", metavar="SUBCOMMAND", parser_class=_Parser)
    ts = tsub.add_parser("sample", help="print a few sequences readably (or as JSON)")
    _add_config_args(ts)
    ts.add_argument("--split", default="train", help="train, test, ic, ic2 or iw")
    ts.add_argument("--n", type=_positive_int("--n"), default=3, help="sequences (default 3)")
    ts.add_argument("--step", type=_nonneg_int("--step"), default=0,
                    help="training step of the batch (split train)")
    ts.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ts.set_defaults(func=cmd_task_sample)
    st = tsub.add_parser("stats", help="measure the statistical invariants (measured vs expected)")
    _add_config_args(st)
    st.add_argument("--split", default="train", help="train, test, ic, ic2 or iw")
    st.add_argument("--n", type=_positive_int("--n"), default=20000,
                    help="sequences (default 20000)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_task_stats)
    tp = tsub.add_parser("presets", help="list the task presets")
    tp.set_defaults(func=cmd_task_presets)
    t.set_defaults(func=lambda a: (t.print_help(), 2)[1])

    tr = sub.add_parser("train", help="train the attention-only network into a run directory")
    tr.add_argument("--preset", default="reddy-default", help="training preset (see --list)")
    tr.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="KEY=VALUE", help="override a field, e.g. --set task.K=1024, "
                    "--set net.heads=2, --set optim.lr=0.02 (repeatable)")
    tr.add_argument("--steps", type=_nonneg_int("--steps"), default=None,
                    help="training steps (overrides train.steps)")
    tr.add_argument("--seed", type=_nonneg_int("--seed"), default=None, help="run seed")
    tr.add_argument("--out", default=None, help="run directory (created)")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run in --out from its checkpoint (steps may be raised)")
    tr.add_argument("--list", action="store_true", help="list the training presets")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=cmd_train)

    from .cot.commands import register as register_cot
    from .fit.commands import register as register_fit
    from .induction_head.commands import register as register_ih
    from .theory.commands import register as register_theory
    register_ih(sub, _Parser, _positive_int, _nonneg_int)
    register_fit(sub, _Parser, _positive_int, _nonneg_int)
    register_cot(sub, _Parser, _positive_int, _nonneg_int)
    register_theory(sub, _Parser, _positive_int, _nonneg_int)

    f = sub.add_parser("figures", help="regenerate registered figures (PNG + PDF + manifest)")
    f.add_argument("names", nargs="*", help="figure names (default: all)")
    f.add_argument("--out", default="figures", help="output directory (default figures/)")
    f.add_argument("--quick", action="store_true", help="small, fast variants")
    f.add_argument("--seed", type=_nonneg_int("--seed"), default=0)
    f.add_argument("--list", action="store_true", help="list registered figures")
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=cmd_figures)

    b = sub.add_parser("bench", help="benchmarks against references measured in the same run")
    b.add_argument("name", help="benchmark name (task)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--quick", action="store_true", help="fewer repetitions")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MinimalError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
