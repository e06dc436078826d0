"""The bad-input corpus: every case must give exit status 2, exactly one ``error:`` line on stderr,
no traceback, and leave every pre-existing file unchanged (command line); or raise a
``ValueError`` subclass with a one-line message (Python API)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from minimal.cli import main

TINY_TRAIN = ["--preset", "reddy-fig3", "--set", "task.n_eval=100", "--set", "net.k_dim=16",
              "--set", "train.eval_every=20", "--steps", "40", "--quiet"]
CURVE = "step,ic_acc\n" + "\n".join(f"{i * 100},{0.05 + 0.9 / (1 + np.exp(-(i - 20) / 3)):.5f}"
                                    for i in range(40)) + "\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A sandbox with the files the corpus cases point at."""
    root = tmp_path_factory.mktemp("corpus")
    assert main(["train", *TINY_TRAIN, "--out", str(root / "run")]) == 0
    assert main(["ih", "--set", "task.n_eval=100", "--steps", "40", "--set",
                 "train.eval_every=20", "--quiet", "--out", str(root / "ihrun")]) == 0
    assert main(["cot", "--preset", "tiny", "--steps", "40", "--set", "train.eval_every=20",
                 "--quiet", "--out", str(root / "cotrun")]) == 0
    for name, damage in (("trunc", "truncate"), ("empty", "empty"), ("nockpt", "delete"),
                         ("badjson", "json"), ("nometrics", "metrics"),
                         ("nanckpt", "nan"), ("lostjson", "lostjson")):
        d = root / f"run-{name}"
        shutil.copytree(root / "run", d)
        ck = d / "checkpoint.npz"
        if damage == "truncate":
            ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
        elif damage == "empty":
            ck.write_bytes(b"")
        elif damage == "delete":
            ck.unlink()
        elif damage == "json":
            (d / "run.json").write_text('{"schema": "minimal.run/2", "config": ')
        elif damage == "metrics":
            (d / "metrics.csv").write_text("")
        elif damage == "nan":
            with np.load(ck) as z:
                arrays = {k: z[k] for k in z.files}
            arrays["param.W_Q"] = arrays["param.W_Q"] * np.nan
            np.savez(ck, **arrays)
        elif damage == "lostjson":
            (d / "run.json").unlink()
    shutil.copytree(root / "cotrun", root / "cotrun-trunc")
    ck = root / "cotrun-trunc" / "checkpoint.npz"
    ck.write_bytes(ck.read_bytes()[:100])
    (root / "foreign").mkdir()
    (root / "foreign" / "metrics.csv").write_text("my,own\n1,2\n")
    (root / "foreign" / "notes.txt").write_text("precious\n")
    (root / "afile").write_text("not a directory\n")
    (root / "curve.csv").write_text(CURVE)
    (root / "binary.csv").write_bytes(bytes(range(256)) * 40)
    (root / "empty.csv").write_text("")
    (root / "decreasing.csv").write_text("step,ic_acc\n" + "\n".join(
        f"{100 - i},{i / 40}" for i in range(40)) + "\n")
    (root / "short.csv").write_text("step,ic_acc\n0,0.1\n1,0.2\n2,0.3\n")
    (root / "adir").mkdir()
    return root


def _snapshot(root: Path) -> dict:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            out[str(p.relative_to(root))] = (hashlib.sha256(p.read_bytes()).hexdigest(),
                                             p.stat().st_mode)
    return out


R = "{root}"
CLI_CASES = [
    # task
    (["task", "sample", "--set", "task.B=3"], "task.B=3 is invalid"),
    (["task", "sample", "--set", "task.K=100"], "task.K=100 is invalid"),
    (["task", "sample", "--set", "task.eps=-1"], "task.eps=-1.0 is invalid"),
    (["task", "sample", "--set", "task.eps=1e308"], "task.eps"),
    (["task", "stats", "--set", "task.zipf_alpha=1e300", "--n", "100"], "task.zipf_alpha"),
    (["task", "sample", "--set", "task.nope=1"], "not a field"),
    (["task", "sample", "--set", "B"], "section.field=value"),
    (["task", "sample", "--set", "task=3"], "is a section"),
    (["task", "sample", "--preset", "nope"], "unknown task preset"),
    (["task", "sample", "--split", "nope"], "--split='nope' is invalid"),
    (["task", "sample", "--n", "0"], "--n=0 is invalid"),
    (["task", "sample", "--n", "1e9"], "--n=1e9 is invalid"),
    (["task", "sample", "--n", "abc"], "--n='abc' is invalid"),
    (["task", "sample", "--step", "-1"], "--step=-1 is invalid"),
    (["task", "stats", "--seed", "-4"], "--seed=-4 is invalid"),
    (["task", "stats", "--n", "100000000"], "--n=100000000 is invalid"),
    (["task", "stats", "--set", "task.n_eval=10000000", "--set", "task.K=10000000"], "GiB"),
    (["task", "sample", "--set", "task.K_novel=33"], "task.K_novel=33 is invalid"),
    (["task", "sample", "--set", "task.N=40"], "task.N=40 is invalid"),
    (["task", "sample", "--set", "seeds.seed=-1"], "seeds.seed=-1 is invalid"),
    (["task", "sample", "--set", "task.B=true"], "task.B=True is invalid"),
    (["task", "sample", "--set", "task.L=1"], "task.L=1 is invalid"),
    (["task", "sample", "--set", "task.p_novel=1.5"], "task.p_novel=1.5 is invalid"),
    # train: paths and run directories
    (["train", *TINY_TRAIN], "--out is required"),
    (["train", *TINY_TRAIN, "--out", ""], "--out"),
    (["train", *TINY_TRAIN, "--out", f"{R}/afile"], "not a directory"),
    (["train", *TINY_TRAIN, "--out", f"{R}/foreign"], "not a minimal run"),
    (["train", *TINY_TRAIN, "--out", f"{R}/foreign", "--force"], "'metrics.csv'"),
    (["train", *TINY_TRAIN, "--out", f"{R}/run"], "already holds a run"),
    (["train", *TINY_TRAIN, "--out", f"{R}/run-lostjson"], "run.json is missing"),
    (["train", "--out", f"{R}/run", "--resume", "--set", "task.B=2"], "task.B"),
    (["train", "--out", f"{R}/run", "--resume", "--steps", "1"], "train.steps=1 is invalid"),
    (["train", "--out", f"{R}/missing", "--resume"], "not a run directory"),
    (["train", "--out", f"{R}/foreign", "--resume"], "not a run directory"),
    (["train", "--out", f"{R}/run-nockpt", "--resume"], "no checkpoint"),
    (["train", "--out", f"{R}/run-trunc", "--resume"], "truncated or corrupt"),
    (["train", "--out", f"{R}/run-empty", "--resume"], "truncated or corrupt"),
    (["train", "--out", f"{R}/run-badjson", "--resume"], "corrupt manifest"),
    (["train", "--out", f"{R}/run-nometrics", "--resume"], "were lost"),
    (["train", "--out", f"{R}/run-nanckpt", "--resume"], "non-finite"),
    (["train", "--out", f"{R}/run-lostjson", "--resume"], "not a run directory"),
    (["train", "--out", f"{R}/ihrun", "--resume"], "holds a 'ih' run"),
    # train: configs
    (["train", "--preset", "nope", "--out", f"{R}/new"], "unknown train preset"),
    (["train", "--set", "optim.lr=0", "--out", f"{R}/new"], "optim.lr=0.0 is invalid"),
    (["train", "--set", "optim.name=rmsprop", "--out", f"{R}/new"], "optim.name='rmsprop'"),
    (["train", "--set", "net.heads=3", "--out", f"{R}/new"], "heads"),
    (["train", "--set", "net.dtype=float16", "--out", f"{R}/new"], "net.dtype"),
    (["train", "--set", "train.eval_every=0", "--out", f"{R}/new"], "train.eval_every=0"),
    (["train", "--set", "task.zipf_alpha=nan", "--out", f"{R}/new"], "task.zipf_alpha"),
    (["train", "--set", "optim.weight_decay=1", "--out", f"{R}/new"], "optim.weight_decay"),
    (["train", "--set", "net.attn_init_scale=0", "--out", f"{R}/new"], "attn_init_scale"),
    (["train", "--steps", "-5", "--out", f"{R}/new"], "--steps=-5 is invalid"),
    (["train", "--steps", "1e12", "--out", f"{R}/new"], "--steps=1e12 is invalid"),
    # ih
    (["ih", "--variant", "ih4", "--out", f"{R}/new"], "invalid choice"),
    (["ih", "--classifier", "mlp2", "--out", f"{R}/new"], "invalid choice"),
    (["ih", "--set", "ih.lr_attn=-1", "--out", f"{R}/new"], "ih.lr_attn=-1.0 is invalid"),
    (["ih", "--set", "ih.lr_attn=1e5", "--out", f"{R}/new"], "ih.lr_attn"),
    (["ih", "--variant", "ih2", "--set", "ih.beta2_0=1", "--out", f"{R}/new"], "beta2_0"),
    (["ih", "--steps", "10"], "--out is required"),
    (["ih", "--out", f"{R}/run", "--resume"], "holds a 'train' run"),
    (["ih", "sweep", "--kind", "saddle", "--Ns", ""], "--Ns=''"),
    (["ih", "sweep", "--kind", "saddle", "--Ns", "2,x"], "--Ns="),
    (["ih", "sweep", "--kind", "nope"], "invalid choice"),
    (["ih", "sweep", "--seeds", "0"], "--seeds=0 is invalid"),
    (["ih", "sweep", "--workers", "0"], "--workers=0 is invalid"),
    (["ih", "sweep", "--kind", "init", "--variant", "ih9"], "invalid choice"),
    (["ih", "ceiling", "--eps", "0,x"], "--eps="),
    (["ih", "ceiling", "--eps", "-1"], "--eps="),
    (["ih", "ceiling", "--n", "1e9"], "--n=1e9 is invalid"),
    (["ih", "bridge", "--net", f"{R}/missing"], "--net="),
    (["ih", "bridge", "--net", f"{R}/run", "--fit-on", "Q=3"], "--fit-on="),
    (["ih", "bridge", "--net", f"{R}/run", "--beta1-grid", "x"], "--beta1-grid="),
    (["ih", "bridge", "--net", f"{R}/run"], "no completed network run"),
    # cot
    (["cot", "--noise", "2", "--out", f"{R}/new"], "--noise=2 is invalid"),
    (["cot", "--lambda", "-1", "--out", f"{R}/new"], "--lambda=-1 is invalid"),
    (["cot", "--preset", "nope", "--out", f"{R}/new"], "unknown cot preset"),
    (["cot", "--set", "model.lr=0", "--out", f"{R}/new"], "model.lr=0.0 is invalid"),
    (["cot", "--set", "world.k_out=100", "--out", f"{R}/new"], "world.k_out=100"),
    (["cot", "--out", f"{R}/cotrun-trunc", "--resume"], "truncated or corrupt"),
    (["cot", "sweep", "--lams", "1,abc"], "--lams="),
    (["cot", "sweep", "--noises", ""], "--noises=''"),
    (["cot", "sweep", "--cots", "yes,perhaps"], "'perhaps' is not one of"),
    (["cot", "sweep", "--noises", "0.1,2"], "--noises="),
    # theory
    (["theory", "nested-logits", "--points", "1e8"], "--points=1e8 is invalid"),
    (["theory", "nested-logits", "--N", "0"], "--N=0 is invalid"),
    (["theory", "nested-logits", "--N", "8", "--B", "3"], "B"),
    (["theory", "nested-logits", "--init", "1,2"], "--init"),
    (["theory", "nested-logits", "--rates", "a,b,c"], "--rates"),
    (["theory", "nested-logits", "--t-max", "-1"], "--t-max"),
    (["theory", "nested-logits", "--out", f"{R}/foreign"], "not a minimal run"),
    (["theory", "three-factor", "--seeds", "1e8"], "--seeds=1e8 is invalid"),
    (["theory", "three-factor", "--clamp", "nope"], "invalid choice"),
    (["theory", "saddle", "--N", "8", "--B", "3"], "--B"),
    (["theory", "plateau", "--L", "1"], "L"),
    # fit
    (["fit"], "CURVES"),
    (["fit", f"{R}/missing.csv"], "missing.csv"),
    (["fit", f"{R}/binary.csv"], "binary.csv"),
    (["fit", f"{R}/empty.csv"], "empty"),
    (["fit", f"{R}/decreasing.csv"], "increasing"),
    (["fit", f"{R}/short.csv"], "points"),
    (["fit", f"{R}/curve.csv", "--y", "nope"], "nope"),
    (["fit", f"{R}/curve.csv", "--model", "nope"], "--model='nope' is invalid"),
    (["fit", f"{R}/curve.csv", "--bootstrap", "1e8"], "--bootstrap=1e8 is invalid"),
    (["fit", f"{R}/curve.csv", "--plot", f"{R}/missing/x.png"], "does not exist"),
    (["fit", f"{R}/curve.csv", "--table", f"{R}/missing/t.csv"], "does not exist"),
    (["fit", f"{R}/curve.csv", "--N", "0"], "--N=0 is invalid"),
    (["fit", f"{R}/adir"], "adir"),
    # diagnose
    (["diagnose", f"{R}/missing"], "not a run directory"),
    (["diagnose", f"{R}/afile"], "not a run directory"),
    (["diagnose", f"{R}/ihrun"], "runs with attention patterns"),
    (["diagnose", f"{R}/run", "--mode", "mean"], "zero ablation only"),
    (["diagnose", f"{R}/run", "--mode", "half"], "invalid choice"),
    (["diagnose", f"{R}/run", "--step", "7"], "--step=7 is invalid"),
    (["diagnose", f"{R}/run", "--step", "-1"], "--step=-1 is invalid"),
    (["diagnose", f"{R}/run", "--draws", "0"], "--draws=0 is invalid"),
    (["diagnose", f"{R}/run", "--draws", "1e9"], "--draws=1e9 is invalid"),
    (["diagnose", f"{R}/run-nockpt"], "checkpoint"),
    # biinduct
    (["biinduct", "train"], "--out is required"),
    (["biinduct", "train", "--preset", "nope", "--out", f"{R}/new"],
     "unknown biinduct preset"),
    (["biinduct", "train", "--set", "task.arm=sideways", "--out", f"{R}/new"], "task.arm"),
    (["biinduct", "train", "--set", "task.span=40", "--out", f"{R}/new"], "task.span=40"),
    (["biinduct", "train", "--set", "task.successors=1", "--out", f"{R}/new"],
     "task.successors=1"),
    (["biinduct", "train", "--set", "task.mix=2", "--out", f"{R}/new"], "task.mix=2"),
    (["biinduct", "train", "--set", "model.max_len=32", "--out", f"{R}/new"],
     "model.max_len=32"),
    (["biinduct", "train", "--set", "model.vocab=10", "--out", f"{R}/new"], "model.vocab=10"),
    (["biinduct", "study"], "--out is required"),
    (["biinduct", "study", "--out", f"{R}/new", "--arms", "natural,sideways"], "--arms="),
    (["biinduct", "study", "--out", f"{R}/new", "--seeds", "0"], "--seeds=0 is invalid"),
    (["biinduct", "study", "--out", f"{R}/new", "--steps", "0"], "--steps=0 is invalid"),
    (["biinduct", "study", "--out", f"{R}/new", "--draws", "0"], "--draws=0 is invalid"),
    # lsa, clamp, sweep, plot
    (["lsa", "--layers", "0", "--out", f"{R}/new"], "--layers=0 is invalid"),
    (["lsa", "--inputs", "cauchy", "--out", f"{R}/new"], "invalid choice"),
    (["lsa", "--set", "model.d=1000", "--out", f"{R}/new"], "model.d=1000"),
    (["lsa", "theory", "--N", "0"], "--N=0 is invalid"),
    (["clamp", "train", "--set", "task.n_labels=1", "--out", f"{R}/new"], "task.n_labels=1"),
    (["clamp", "train", "--clamp", "notjson", "--out", f"{R}/new"], "--clamp="),
    (["clamp", "train", "--preset", "nope", "--out", f"{R}/new"], "unknown clamp preset"),
    (["sweep", "ih", "--grid", "task.B=1,x", "--out", f"{R}/new"], "task.B='x'"),
    (["sweep", "ih", "--grid", "nope.field=1", "--out", f"{R}/new"], "nope.field"),
    (["sweep", "ih", "--out", f"{R}/new"], "name at least one axis"),
    (["plot", f"{R}/does-not-exist"], "no such run directory"),
    # repeat
    (["repeat", "train"], "--out is required"),
    (["repeat", "train", "--preset", "nope", "--out", f"{R}/new"], "unknown repeat preset"),
    (["repeat", "train", "--set", "task.repeat_frac=1.5", "--out", f"{R}/new"],
     "task.repeat_frac=1.5"),
    (["repeat", "train", "--set", "task.pool_size=0", "--out", f"{R}/new"], "task.pool_size=0"),
    (["repeat", "train", "--set", "task.span_min=20", "--out", f"{R}/new"], "task.span_min=20"),
    (["repeat", "train", "--set", "task.T=40", "--out", f"{R}/new"], "model.max_len=32"),
    (["repeat", "train", "--set", "task.T=64", "--out", f"{R}/new"], "task.T=64"),
    # momentum
    (["momentum", "train"], "--out is required"),
    (["momentum", "train", "--preset", "nope", "--out", f"{R}/new"], "unknown momentum preset"),
    (["momentum", "train", "--set", "model.momentum=-2", "--out", f"{R}/new"],
     "model.momentum=-2"),
    (["momentum", "train", "--set", "task.period=40", "--out", f"{R}/new"], "2 × period = 80"),
    (["momentum", "train", "--set", "task.period_min=20", "--out", f"{R}/new"],
     "task.period_min=20"),
    (["momentum", "train", "--preset", "recall", "--set", "task.pairs=20", "--out",
      f"{R}/new"], "model.max_len=32"),
    (["momentum", "arms", "--out", f"{R}/new", "--period-min", "0"], "--period-min"),
    (["momentum", "arms", "--out", f"{R}/new", "--gamma", "500"], "gamma=500"),
    (["momentum", "recall", "--out", f"{R}/new", "--gammas", "0,200"], "--gammas="),
    (["momentum", "recall", "--out", f"{R}/new", "--depths", "0,2"], "--depths="),
    (["momentum", "recall", "--out", f"{R}/new", "--gammas", "0.1,0.1"], "repeated value"),
    (["sweep", "train", "--grid", "task.B=1,1", "--out", f"{R}/new"], "appears twice"),
    (["momentum", "arms", "--out", f"{R}/new", "--gamma", "0"], "γ = 0 is the rope arm"),
    (["momentum", "arms", "--out", f"{R}/new", "--gamma", "-0.0"], "γ = 0 is the rope arm"),
    # sae (the prefix study)
    (["sae", "train"], "--out is required"),
    (["sae", "train", "--preset", "nope", "--out", f"{R}/new"], "unknown sae-prefix preset"),
    (["sae", "train", "--set", "task.ambiguous=2", "--out", f"{R}/new"], "task.ambiguous=2"),
    (["sae", "train", "--set", "task.span_max=20", "--out", f"{R}/new"], "task.span_max=20"),
    (["sae", "train", "--set", "model.n_layers=1", "--out", f"{R}/new"], "model.n_layers=1"),
    (["sae", "fit", f"{R}/does-not-exist"], "not a run directory"),
    (["sae", "fit", f"{R}/run"], "not a 'sae-prefix' run"),
    (["sae", "fit", f"{R}/run", "--l1", "-1"], "--l1=-1"),
    (["sae", "study"], "--out is required"),
    (["sae", "study", "--out", f"{R}/new", "--ambiguities", "1,2"], "--ambiguities="),
    (["sae", "study", "--out", f"{R}/new", "--ambiguities", "1,1"], "repeated value"),
    (["repeat", "study"], "--out is required"),
    (["repeat", "study", "--out", f"{R}/new", "--fracs", "0.1,2"], "--fracs="),
    (["repeat", "study", "--out", f"{R}/new", "--pools", "0"], "--pools="),
    (["repeat", "study", "--out", f"{R}/new", "--seeds", "0"], "--seeds=0 is invalid"),
    (["repeat", "study", "--out", f"{R}/new", "--steps", "0"], "--steps=0 is invalid"),
    # figures, bench, top level
    (["figures", "nope", "--out", f"{R}/figs"], "unknown figure"),
    (["figures", "task-overlap", "--out", f"{R}/afile", "--quick"], "afile"),
    (["figures", "--seed", "-1"], "--seed=-1 is invalid"),
    (["bench", "nope"], "invalid choice"),
    (["nope"], "invalid choice"),
]


@pytest.mark.parametrize("argv,needle", CLI_CASES,
                         ids=[" ".join(a)[:60] for a, _ in CLI_CASES])
def test_cli_bad_input(argv, needle, template, tmp_path, capsys):
    root = tmp_path / "sandbox"
    shutil.copytree(template, root)
    argv = [a.replace(R, str(root)) for a in argv]
    needle = needle.replace(R, str(root))
    before = _snapshot(root)
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 2, (code, err)
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    assert needle in errors[0], errors[0]
    after = _snapshot(root)
    changed = [k for k in before if before[k] != after.get(k)]
    assert not changed, f"pre-existing files changed: {changed}"
    assert not (root / "new").exists() or not any((root / "new").iterdir())


def test_corpus_is_large_enough():
    assert len(CLI_CASES) + len(API_CASES) >= 80


# ----------------------------------------------------------------------------------------------
# Python API
# ----------------------------------------------------------------------------------------------

def _api_cases():
    from minimal import (ICLTask, Run, Seeds, TaskConfig, apply_overrides, make_model,
                         train)
    from minimal.induction_head.config import IHConfig
    from minimal.induction_head.model import IHModel
    from minimal.nets.attention import AttentionNet
    from minimal.nets.config import NetConfig, TrainRunConfig

    def net_and_batch():
        t = TaskConfig(K=64, L=8, N=4, N_max=4, D=5, K_novel=8, B=1, n_eval=10)
        task = ICLTask(t, 0, warn=False)
        net = AttentionNet(NetConfig(k_dim=4), t)
        return net, net.init(np.random.default_rng(0)), task.batch(0, batch_size=3), task

    def bad_grads():
        net, p, b, _ = net_and_batch()
        g = {k: np.zeros(1) for k in p}
        net.loss_and_grads(p, b, g)

    def int_params():
        net, p, b, _ = net_and_batch()
        p = dict(p)
        p["W_Q"] = p["W_Q"].astype(np.int32)
        net.loss_and_grads(p, b)

    def list_params():
        net, p, b, _ = net_and_batch()
        net.loss_and_grads(list(p.values()), b)

    def not_a_batch():
        net, p, b, _ = net_and_batch()
        net.loss_and_grads(p, {"content": b.content})

    def ih_int_theta():
        _, _, b, task = net_and_batch()
        m = IHModel(IHConfig(), task.config, task.label_vectors)
        p = m.init(np.random.default_rng(0))
        p["theta"] = p["theta"].astype(np.int64)
        m.loss_and_grads(p, b)

    return [
        ("TaskConfig(K='a')", lambda: TaskConfig(K="a")),
        ("TaskConfig(B=3)", lambda: TaskConfig(B=3)),
        ("ICLTask(config='x')", lambda: ICLTask("x")),
        ("Seeds(seed=-1)", lambda: Seeds(seed=-1)),
        ("apply_overrides bad", lambda: apply_overrides(TrainRunConfig(), ["x"])),
        ("apply_overrides unknown", lambda: apply_overrides(TrainRunConfig(), ["task.Q=1"])),
        ("make_model unknown argument", lambda: make_model("logistic", foo=1)),
        ("make_model unknown model", lambda: make_model("nope")),
        ("Run.create('')", lambda: Run.create("", "x")),
        ("train into a file", lambda: train(TrainRunConfig(), __file__)),
        ("sample n=0", lambda: ICLTask(TaskConfig(), 0).sample("train", 0)),
        ("sample huge", lambda: ICLTask(TaskConfig(), 0).sample("train", 10_000_000)),
        ("grads buffers of the wrong shape", bad_grads),
        ("int32 weights", int_params),
        ("params as a list", list_params),
        ("a dict instead of a Batch", not_a_batch),
        ("int theta", ih_int_theta),
        ("NetConfig(heads=0)", lambda: NetConfig(heads=0)),
    ]


API_CASES = [name for name, _ in _api_cases()]


@pytest.mark.parametrize("name", API_CASES)
def test_api_bad_input(name):
    fn = dict(_api_cases())[name]
    with pytest.raises(ValueError) as info:
        fn()
    msg = str(info.value)
    assert msg and "\n" not in msg, msg


def test_no_file_written_with_mode_0600(template):
    run = Path(template) / "run"
    for p in run.iterdir():
        if p.is_file() and p.name != "run.lock":
            assert p.stat().st_mode & 0o044, (p.name, oct(p.stat().st_mode))
    m = json.loads((run / "run.json").read_text())
    assert m["schema"] == "minimal.run/2" and m["status"] == "completed"
    assert os.path.exists(run / ".minimal-run")
