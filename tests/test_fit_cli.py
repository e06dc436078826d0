"""``minimal fit`` and ``minimal plot`` on the command line: verdicts first, no bare nan,
groups, summaries, comparisons, tables, plots, and one-line errors (exit 2) for bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from minimal.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from minimal.fit.examples import write_example
    d = tmp_path_factory.mktemp("fitcli")
    write_example(d / "w.csv", "wandb")
    write_example(d / "s.csv", "stacked")
    x = np.linspace(0, 10_000, 100)
    (d / "up.csv").write_text("step,ic_acc\n" + "\n".join(
        f"{a},{0.05 + 0.9 / (1 + math.exp(-(a - 4000) / 300)):.5f}" for a in x))
    (d / "flat.csv").write_text("step,ic_acc\n" + "\n".join(f"{a},0.3" for a in x))
    return d


def test_single_fit_report_and_json(files, capsys):
    code, out, _ = run(capsys, "fit", files / "up.csv", "--quiet")
    assert code == 0 and out.startswith("verdict: transitioned — ")
    assert "[[Transition]] step = 4000" in out and "width" in out and "step" in out
    code, out, _ = run(capsys, "fit", files / "flat.csv", "--quiet", "--model", "nested-logits")
    assert code == 0 and out.startswith("verdict: no transition observed")
    assert "[[Constants]] N = 8, L = 32, B = 1, eps = 0.1   (defaults" in out
    assert "none reported" in out and "nan" not in out.lower()
    code, out, _ = run(capsys, "fit", files / "flat.csv", "--json", "--quiet")
    obj = json.loads(out)
    assert obj["verdict"] == "no transition observed" and obj["t_transition"] is None
    assert obj["t_transition_ci"] is None and list(obj)[0] == "verdict"
    for key in ("params", "stderr", "relative_stderr", "units", "flags", "fixed", "r2",
                "aic", "bic", "k", "n_points", "diagnostics"):
        assert key in obj
    assert "NaN" not in out


def test_group_summary_plot_table_append(files, capsys, tmp_path):
    table = tmp_path / "t.csv"
    code, out, err = run(capsys, "fit", files / "s.csv", "--group", "lr,seed", "--summary",
                         "--plot", tmp_path / "g.png", "--table", table)
    assert code == 0
    assert "summary by lr" in out and "3 transitioned" in out and "3 no transition" in out
    assert "guessed x='step', y='ic_acc'" in err
    assert (tmp_path / "g.png").stat().st_size > 5000
    assert not list(tmp_path.glob("g-*.png"))                 # one figure, not one per curve
    head = table.read_text().splitlines()[0].split(",")
    assert head[:3] == ["lr", "seed", "source"] and "p:time_scale" in head and "p:onset" in head
    code, out, _ = run(capsys, "fit", files / "s.csv", "--group", "lr,seed", "--model",
                       "three-factor", "--table", table, "--append", "--quiet")
    assert code == 0 and len(table.read_text().splitlines()) == 19
    before = table.read_text()
    code, _, err = run(capsys, "fit", files / "s.csv", "--group", "lr", "--select", "lr=0.01",
                       "--table", table, "--append")
    assert code == 2 and "cannot append" in err and table.read_text() == before


def test_model_comparison_table(files, capsys):
    code, out, _ = run(capsys, "fit", files / "w.csv", "--group", "lr,seed", "--select",
                       "lr=0.01,seed=1", "--model", "logistic,three-factor", "--quiet")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("model comparison: lr=0.01 seed=1")
    assert "ΔAIC" in lines[1] and "ΔBIC" in lines[1]
    rows = {ln.split()[0]: ln.split() for ln in lines[2:4]}
    assert min(float(rows[m][4]) for m in rows) == 0.0
    code, out, _ = run(capsys, "fit", files / "w.csv", "--group", "lr,seed", "--model",
                       "logistic,three-factor", "--json", "--quiet")
    obj = json.loads(out)
    assert len(obj["fits"]) == 18 and len(obj["comparisons"]) == 9


BAD = [
    (("fit",), "CURVES"),
    (("fit", "{up}", "--model", "nope"), "--model='nope' is invalid"),
    (("fit", "{up}", "--model", "logistic,logistic"), "named twice"),
    (("fit", "{up}", "--range", "1,0"), "--range"),
    (("fit", "{up}", "--range", "a,b"), "--range"),
    (("fit", "{up}", "--bootstrap", "20000"), "--bootstrap=20000 is invalid"),
    (("fit", "{up}", "--min-rise", "2"), "--min-rise=2 is invalid"),
    (("fit", "{up}", "--append"), "--append needs --table"),
    (("fit", "{up}", "--ih-grid", "-20", "--model", "ih-minimal"), "--ih-grid"),
    (("fit", "{up}", "--ih-steps", "0"), "--ih-steps=0 is invalid"),
    (("fit", "/dev/zero"), "not a regular file"),
    (("fit", "{up}", "--y", "nope"), "no column 'nope'"),
    (("fit", "{w}"), "--group run"),
    (("fit", "{s}"), "pass --group COL"),
    (("fit", "{s}", "--group", "lr,seed", "--summary", "cond"), "not one of the --group"),
    (("fit", "{s}", "--group", "lr,seed", "--select", "lr=9"), "no curve has"),
    (("fit", "{up}", "--plot", "/nonexistent/dir/p.png"), "does not exist"),
    (("fit", "{up}", "--plot", "{tmp}/p.gif"), "suffix"),
    (("fit", "{up}", "--model", "logistic", "--N", "4"), None),     # ignored for logistic
    (("plot", "{tmp}/missing"), "no such run directory"),
    (("plot", "{tmp}"), "not a minimal run directory"),
]


@pytest.mark.parametrize("argv,message", BAD)
def test_bad_input_is_one_error_line(files, capsys, tmp_path, argv, message):
    fmt = {"up": files / "up.csv", "w": files / "w.csv", "s": files / "s.csv", "tmp": tmp_path}
    code, out, err = run(capsys, *[a.format(**fmt) for a in argv])
    if message is None:
        assert code == 0
        return
    assert code == 2, (argv, out, err)
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err and not out.strip().startswith("verdict")


def test_minimal_plot_any_run(tmp_path, capsys):
    from minimal.figures.run_plot import run_panels
    code, _, _ = run(capsys, "theory", "nested-logits", "--N", "8", "--L", "32", "--B", "1",
                     "--out", tmp_path / "nl")
    assert code == 0
    code, out, _ = run(capsys, "plot", tmp_path / "nl", "--out", tmp_path / "nl.pdf")
    assert code == 0 and (tmp_path / "nl.pdf").stat().st_size > 3000
    x, panels = run_panels(["t", "beta1", "alpha", "xi", "loss", "p_correct", "cla"])
    assert x == "t" and panels == {"accuracy": ["p_correct"], "progress measures": ["cla"],
                                   "loss": ["loss"], "parameters": ["beta1", "alpha", "xi"]}
    x, panels = run_panels(["step", "loss", "ic_acc", "iw_acc", "ila1", "tila2", "wall_s",
                            "beta1"], y=["ic_acc", "ila1"])
    assert panels == {"accuracy": ["ic_acc"], "progress measures": ["ila1"]}
    d = tmp_path / "stacked"
    d.mkdir()
    (d / "metrics.csv").write_text("seed,iteration,loss,pm1\n" + "\n".join(
        f"{s},{i},{1 / (i + 1)},{i / 10}" for s in (0, 1) for i in range(10)))
    code, out, _ = run(capsys, "plot", d, "--y", "loss,pm1")
    assert code == 0 and (d / "plot.png").stat().st_size > 3000
    code, _, err = run(capsys, "plot", d, "--y", "nope")
    assert code == 2 and "no metric 'nope'" in err
