"""``minimal diagnose RUN``: per-head induction scores and top-k vs random head ablation of a
trained run (docs/diagnostics.md)."""

from __future__ import annotations

import json

from ._common import nonneg_int, positive_int


def _json_default(o):
    import numpy as np
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def _f(v, nd=3):
    import math
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{nd}f}"


def cmd_diagnose(args) -> int:
    from ..diagnostics.heads import as_table
    from ..studies.diagnose import diagnose
    res = diagnose(args.run, step=args.step, mode=args.mode, draws=args.draws, seed=args.seed)
    if args.json:
        print(json.dumps(res, default=_json_default))
        return 0
    heads, names, vals = as_table(res["scores"])
    print(f"{res['kind']} run {res['run']} at step {res['step']}: {res['layers']} layers × "
          f"{res['heads']} heads (0-based L{{layer}}H{{head}})")
    w = max(9, max(len(n) for n in names) + 1)
    print("head   " + "".join(f"{n:>{w}}" for n in names))
    for i, hd in enumerate(heads):
        print(f"{hd:<7}" + "".join(f"{_f(v):>{w}}" for v in vals[i]))
    ab = res["ablation"]
    c, t = ab["clean"], ab["top"]
    rs = ab["random_summary"]
    top = ", ".join(f"L{l}H{h}" for l, h in ab["top_heads"])
    how = ("every matched choice" if ab["exhaustive"] else f"{ab['n_random']} random draws")
    print(f"\n{res['mode']} ablation of the top {ab['k']} head(s) per layer by induction score "
          f"({top}) vs matched random heads ({how}):")
    print(f"{'':<10}{'clean':>9}{'top-k':>9}{'drop':>9}{'rel.':>8}   random drop mean ± sd "
          "[min, max]")
    for key, label in (("loss", "loss"), ("icl", "ICL acc"), ("icl_loss", "ICL loss")):
        d = ab["top_drop"][f"{key}_drop"]
        rd = ab["top_drop"][f"{key}_rel_drop"]
        r = rs[f"{key}_drop"]
        print(f"{label:<10}{_f(c[key]):>9}{_f(t[key]):>9}{_f(d):>9}{_f(rd, 2):>8}   "
              f"{_f(r['mean'])} ± {_f(r['std'])} [{_f(r['min'])}, {_f(r['max'])}]")
    print("drops: loss ablated − clean; accuracy clean − ablated; relative = drop / clean")
    for n in res["notes"]:
        print(f"note: {n}")
    return 0


def register(sub, parser_class) -> None:
    p = sub.add_parser("diagnose", help="per-head induction scores and top-k vs random head "
                       "ablation of a trained run (biinduct, clamp or train runs)")
    p.add_argument("run", metavar="RUN", help="a run directory")
    p.add_argument("--step", type=nonneg_int("--step", 10**9), default=None,
                   help="a step held in the run's snapshots.npz (default: its checkpoint)")
    p.add_argument("--mode", choices=("zero", "mean"), default="zero",
                   help="ablation: z ← 0 or z ← its batch mean per position (default zero)")
    p.add_argument("--draws", type=positive_int("--draws", 1000), default=20,
                   help="random matched ablations when there are more matched choices "
                        "(default 20)")
    p.add_argument("--seed", type=nonneg_int("--seed", 10**6), default=0,
                   help="seed of the random draws")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_diagnose)
