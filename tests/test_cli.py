"""The command line: outputs users rely on and one-line errors (exit 2, never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minimal.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_task_sample_json(capsys):
    code, out, err = run(capsys, "task", "sample", "--json", "--n", "4", "--split", "ic",
                         "--set", "task.B=4", "--seed", "3")
    assert code == 0
    obj = json.loads(out)
    for key in ("tokens", "target", "class_ids", "label_ids", "is_label", "P", "D"):
        assert key in obj
    tok = np.array(obj["tokens"])
    assert tok.shape == (4, 17, obj["P"] + obj["D"])
    assert obj["config"]["task"]["B"] == 4 and obj["config"]["seeds"]["seed"] == 3
    lab = np.array(obj["label_ids"])
    assert ((lab[:, :8] == np.array(obj["target"])[:, None]).sum(1) == 4).all()
    assert obj["is_label"] == [t % 2 == 1 for t in range(17)]


def test_task_sample_text(capsys):
    code, out, _ = run(capsys, "task", "sample", "--preset", "reddy-fig3", "--n", "2")
    assert code == 0
    assert "K=256" in out and out.count("seq ") == 2 and "match" in out


def test_task_stats(capsys):
    code, out, _ = run(capsys, "task", "stats", "--n", "2000", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["all_ok"] and len(obj["rows"]) > 10


@pytest.mark.parametrize("argv,needle", [
    (["task", "sample", "--set", "task.B=3"], "task.B=3 is invalid"),
    (["task", "sample", "--set", "task.K=100"], "task.K=100 is invalid"),
    (["task", "sample", "--set", "task.eps=-1"], "task.eps=-1.0 is invalid"),
    (["task", "sample", "--set", "task.nope=1"], "not a field"),
    (["task", "sample", "--set", "B"], "section.field=value"),
    (["task", "sample", "--preset", "nope"], "unknown task preset"),
    (["task", "sample", "--split", "nope"], "--split='nope' is invalid"),
    (["task", "sample", "--n", "0"], "--n=0 is invalid"),
    (["task", "stats", "--seed", "-4"], "--seed=-4 is invalid"),
    (["figures", "nope", "--out", "/tmp/x"], "unknown figure"),
    (["bench", "nope"], "invalid choice: 'nope'"),
    (["nope"], "invalid choice"),
])
def test_bad_input_is_one_line_error(capsys, argv, needle):
    assert main(argv) == 2
    _, err = capsys.readouterr()
    assert needle in err, err
    assert "Traceback" not in err
    assert any(line.startswith("error: ") for line in err.splitlines())


def test_console_entry_point_has_no_traceback():
    p = subprocess.run([sys.executable, "-m", "minimal", "task", "sample", "--set", "task.L=1"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error: task.L=1 is invalid")
    assert "Traceback" not in p.stderr


def test_info_and_presets(capsys):
    code, out, _ = run(capsys, "info", "--json")
    obj = json.loads(out)
    assert code == 0 and "numba" in obj and obj["versions"]["numpy"]
    code, out, _ = run(capsys, "task", "presets")
    assert "reddy-fig3" in out


def test_bench_task_quick_json(capsys):
    code, out, _ = run(capsys, "bench", "task", "--quick", "--json")
    obj = json.loads(out)
    assert code == 0
    for key in ("median_ms", "reference_median_ms", "speedup", "warmup_s", "threads"):
        assert key in obj
    assert obj["speedup"] == pytest.approx(obj["reference_median_ms"] / obj["median_ms"],
                                           rel=0.02)


def test_figures_writes_files_and_manifest(tmp_path, capsys):
    """Every registered figure renders in --quick mode (trained data cached in _cache)."""
    from minimal.figures import available
    code, out, _ = run(capsys, "figures", "--quick", "--out", str(tmp_path), "--quiet")
    assert code == 0
    man = json.loads((tmp_path / "manifest.json").read_text())
    for name in available():
        assert (tmp_path / f"{name}.png").stat().st_size > 1000, name
        assert (tmp_path / f"{name}.pdf").stat().st_size > 1000, name
        assert man["figures"][name]["quick"] is True
    entry = man["figures"]["task-overlap"]
    assert entry["files"] == ["task-overlap.png", "task-overlap.pdf"]
    code, out, _ = run(capsys, "figures", "--list")
    assert "task-overlap" in out


def test_overlap_figure_data_shows_burstiness():
    from minimal.figures.task_figures import overlap_data
    d = overlap_data(quick=True)
    for B, m, meta in zip(d["params"]["bursts"], d["overlaps"], d["meta"]):
        # the target item overlaps strongly with exactly its B same-class context items
        strong = (m[:, -1, 0:-1:2] > 0.5).sum(1)
        assert (strong == B).all()


def test_train_cli_runs_resumes_and_lists(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["train", "--preset", "reddy-fig3", "--set", "task.n_eval=64", "--set",
              "train.eval_every=5", "--set", "task.batch_size=8", "--out", str(out), "--quiet"]
    code, text, _ = run(capsys, *common, "--steps", "10")
    assert code == 0 and "final: step 10" in text
    code, text, err = run(capsys, *common, "--steps", "10")
    assert code == 2 and "already holds a run" in err
    code, text, _ = run(capsys, *common, "--steps", "15", "--resume")
    assert code == 0 and "final: step 15" in text
    from minimal.runs import read_metrics
    assert list(read_metrics(out / "metrics.csv")["step"]) == [0, 5, 10, 15]
    code, text, _ = run(capsys, "train", "--list")
    assert code == 0 and "reddy-fig3" in text and "reddy-iwl" in text
    code, _, err = run(capsys, "train", "--set", "net.heads=3")
    assert code == 2 and err.startswith("error:")


def test_bench_net_quick_json(capsys):
    code, out, _ = run(capsys, "bench", "net", "--quick", "--json")
    obj = json.loads(out)
    assert code == 0
    for key in ("median_ms", "reference_median_ms", "gflops_achieved", "warmup_s"):
        assert key in obj
    assert obj["speedup_vs_numpy"] > 1


def test_theory_commands(tmp_path, capsys):
    from minimal.runs import read_metrics
    code, out, _ = run(capsys, "theory", "nested-logits", "--N", "8", "--L", "32", "--B", "1",
                       "--eps", "0.1", "--out", str(tmp_path / "nl"))
    assert code == 0 and "curriculum holds" in out
    m = read_metrics(tmp_path / "nl" / "metrics.csv")
    assert list(m) == ["t", "beta1", "alpha", "xi", "loss", "p_correct", "cla"]
    assert m["p_correct"][-1] > 0.9 and m["loss"][0] == pytest.approx(np.log(32))
    code, out, _ = run(capsys, "theory", "saddle", "--N", "8", "--L", "8", "--B", "1")
    assert code == 0 and "L = n = 8" in out and "stationary" in out
    code, out, _ = run(capsys, "theory", "saddle", "--N", "8", "--L", "32", "--B", "1",
                       "--json")
    assert json.loads(out)["stationary"] is False
    code, out, _ = run(capsys, "theory", "plateau", "--json")
    obj = json.loads(out)
    assert 0.8 < obj["ratio_gd"] < 1.4
    code, out, _ = run(capsys, "theory", "three-factor", "--clamp", "bc", "--seeds", "2",
                       "--out", str(tmp_path / "tf"), "--json")
    assert code == 0 and set(json.loads(out)["summary"]) == {"0", "1"}
    assert list(read_metrics(tmp_path / "tf" / "metrics.csv")) == ["seed", "iteration", "loss",
                                                                   "pm1", "pm2"]
    code, _, err = run(capsys, "theory", "nested-logits", "--L", "4")
    assert code == 2 and "must be ≥ n" in err
    code, _, err = run(capsys, "theory", "nested-logits", "--init", "1,2")
    assert code == 2 and "three comma-separated" in err


def test_bench_theory_json(capsys):
    code, out, _ = run(capsys, "bench", "theory", "--quick", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["nfev"] > 10 and obj["sympy_derivation_s"] > 0


def test_ih_cli_and_sweep(tmp_path, capsys):
    code, out, _ = run(capsys, "ih", "--variant", "ih2-labels", "--classifier", "mlp3",
                       "--steps", "20", "--set", "train.eval_every=10", "--set",
                       "task.n_eval=50", "--out", str(tmp_path / "r"), "--quiet")
    assert code == 0 and "beta1" in out
    from minimal.runs import read_metrics
    m = read_metrics(tmp_path / "r" / "metrics.csv")
    assert {"beta1", "alpha", "beta2", "xi", "ic_acc", "tila2"} <= set(m)
    code, out, _ = run(capsys, "ih", "sweep", "--kind", "saddle", "--Ns", "2", "--seeds", "1",
                       "--steps", "30", "--workers", "1", "--out", str(tmp_path / "sw"),
                       "--json", "--quiet")
    table = json.loads(out)["table"]
    assert code == 0 and [(r["task.N"], r["task.L"]) for r in table] == [(2, 2), (2, 4), (2, 8)]
    code, out, _ = run(capsys, "ih", "sweep", "--kind", "saddle", "--Ns", "2", "--seeds", "1",
                       "--steps", "30", "--workers", "1", "--out", str(tmp_path / "sw"),
                       "--json", "--quiet", "--resume")      # nothing left to run
    assert json.loads(out)["table"] == table


def test_fit_cli(tmp_path, capsys):
    import math
    rows = [(i * 100, 0.05 + 0.9 / (1 + math.exp(-(i - 30) / 3))) for i in range(60)]
    p = tmp_path / "curve.csv"
    p.write_text("step,ic_acc\n" + "\n".join(f"{a},{b}" for a, b in rows))
    code, out, _ = run(capsys, "fit", str(p), "--model", "logistic", "--json",
                       "--plot", str(tmp_path / "fit.png"))
    obj = json.loads(out)
    assert code == 0 and obj["r2"] > 0.999
    for key in ("model", "params", "stderr", "r2", "aic", "t_transition", "t_transition_ci",
                "n_points"):
        assert key in obj
    assert obj["t_transition"] == pytest.approx(3000, rel=0.01)
    assert (tmp_path / "fit.png").stat().st_size > 1000
    code, out, _ = run(capsys, "fit", str(p), str(p), "--model", "three-factor", "--table",
                       str(tmp_path / "t.csv"))
    assert code == 0 and (tmp_path / "t.csv").read_text().count("\n") == 3
    code, _, err = run(capsys, "fit", str(p), "--y", "nope")
    assert code == 2 and "no column 'nope'" in err
    code, _, err = run(capsys, "fit", str(p), "--model", "nope")
    assert code == 2 and "--model='nope' is invalid" in err
    code, out, _ = run(capsys, "fit", "--list")
    assert "nested-logits" in out and "ih-minimal" in out


def test_cot_cli(tmp_path, capsys):
    code, out, _ = run(capsys, "cot", "--preset", "tiny", "--steps", "60", "--set",
                       "train.eval_every=30", "--out", str(tmp_path / "c"), "--quiet")
    assert code == 0 and "stage-2 accuracy" in out
    from minimal.runs import read_metrics
    m = read_metrics(tmp_path / "c" / "metrics.csv")
    assert list(m)[:8] == ["step", "loss", "id_atomic", "ood_atomic", "train_inferred",
                           "test_inferred_iid", "test_inferred_ood", "wall_s"]
    code, out, _ = run(capsys, "cot", "--preset", "tiny", "--no-cot", "--noise", "0.3",
                       "--noise-hop", "first", "--steps", "30", "--set", "train.eval_every=30",
                       "--out", str(tmp_path / "d"), "--quiet")
    assert code == 0
    code, _, err = run(capsys, "cot", "--preset", "tiny", "--lambda", "99", "--out",
                       str(tmp_path / "e"))
    assert code == 2 and "feasible maximum" in err
    code, out, _ = run(capsys, "cot", "sweep", "--preset", "tiny", "--noises", "0.0,0.5",
                       "--steps", "30", "--set", "train.eval_every=30", "--workers", "1",
                       "--json", "--quiet")
    assert code == 0 and len(json.loads(out)) == 2


def test_demo_quick_runs_and_finds_the_transition(capsys):
    code, out, _ = run(capsys, "demo", "--quick", "--quiet")
    assert code == 0
    assert "statistical invariants on 1000 sequences" in out
    assert "transition at step" in out
    from minimal.demo import run_demo
    res = run_demo(quick=True, progress=False, echo=None)
    assert res["invariants_ok"] and res["ic_final"] > 0.5
    assert 2000 < res["fit"].t_transition < 5000


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_bench_child_memory_is_its_own_not_its_parents():
    """The CoT bench runs its paper-world runs in child processes; their peak memory must not
    include the parent's (ru_maxrss is carried across exec on Linux: a 256 MB parent made every
    child report at least 256 MB)."""
    ballast = np.ones(2**25)                       # 256 MB held by this (parent) process
    code = ("from minimal.bench import _peak_rss_gib; import resource; "
            "print(_peak_rss_gib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    own, inherited = float(out[0]), float(out[1])
    assert inherited >= ballast.nbytes / 2**30 * 0.99     # the trap the bench avoids
    assert own < 0.2
