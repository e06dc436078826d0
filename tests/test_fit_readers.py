"""Reading curves: round trips of every format, guesses, groups, bad input; the Python API
(DataFrame, arrays, (x, y)); FitResult.plot with a band."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimal.errors import CurveFileError
from minimal.fit import (CurveWarning, fit_curve, from_arrays, load_curve, load_curves,
                         make_model)

FORMATS = ("csv", "tsv", "headerless", "bom-crlf", "jsonl", "json-records", "hf", "tensorboard",
           "wandb", "semicolon", "whitespace")


def _write(path, kind, xs, ys):
    """Write (xs, ys) in format ``kind``; return the y column name the reader should find."""
    rows = list(zip(xs, ys))
    if kind == "csv":
        path.write_text("step,ic_acc\n" + "\n".join(f"{a!r},{b!r}" for a, b in rows) + "\n")
    elif kind == "tsv":
        path.write_text("step\tacc\n" + "\n".join(f"{a!r}\t{b!r}" for a, b in rows))
    elif kind == "semicolon":
        path.write_text("step;accuracy\n" + "\n".join(f"{a!r};{b!r}" for a, b in rows))
    elif kind == "whitespace":
        path.write_text("# step ic_acc\n" + "\n".join(f"{a!r} {b!r}" for a, b in rows))
    elif kind == "headerless":
        path.write_text("\n".join(f"{a!r},{b!r}" for a, b in rows) + "\n")
    elif kind == "bom-crlf":
        path.write_bytes(b"\xef\xbb\xbf" + ("step,ic_acc\r\n" + "".join(
            f"{a!r},{b!r}\r\n" for a, b in rows)).encode())
    elif kind == "jsonl":
        path.write_text("\n".join(json.dumps({"step": a, "icl_acc": b, "tag": "x"})
                                  for a, b in rows))
    elif kind == "json-records":
        path.write_text(json.dumps([{"step": a, "eval/accuracy": b} for a, b in rows]))
    elif kind == "hf":
        hist = []
        for a, b in rows:
            hist.append({"epoch": a / 100, "step": a, "loss": 2.0, "learning_rate": 1e-4})
            hist.append({"epoch": a / 100, "step": a, "eval_loss": 1.0, "eval_accuracy": b})
        path.write_text(json.dumps({"log_history": hist, "global_step": xs[-1]}))
    elif kind == "tensorboard":
        path.write_text("Wall time,Step,Value\n" + "\n".join(
            f"{1.7e9 + i!r},{a!r},{b!r}" for i, (a, b) in enumerate(rows)))
    elif kind == "wandb":
        path.write_text("Step,myrun - ic_acc,myrun - ic_acc__MIN,myrun - ic_acc__MAX\n" +
                        "\n".join(f"{a!r},{b!r},{b!r},{b!r}" for a, b in rows))
    return {"csv": "ic_acc", "tsv": "acc", "semicolon": "accuracy", "whitespace": "ic_acc",
            "headerless": "col1", "bom-crlf": "ic_acc", "jsonl": "icl_acc",
            "json-records": "eval/accuracy", "hf": "eval_accuracy", "tensorboard": "Value",
            "wandb": "ic_acc"}[kind]


_SUFFIX = {"tsv": ".tsv", "jsonl": ".jsonl", "json-records": ".json", "hf": ".json"}


@settings(max_examples=30)
@given(st.sampled_from(FORMATS),
       st.lists(st.floats(0, 1, allow_nan=False), min_size=8, max_size=40),
       st.integers(0, 10 ** 6), st.integers(1, 1000))
def test_every_format_round_trips_with_guessed_columns(tmp_path_factory, kind, ys, x0, dx):
    """Written with repr (exact), read back exactly, columns guessed; the note names exactly
    what was guessed; a headerless file keeps its first point."""
    xs = [float(x0 + i * dx) for i in range(len(ys))]
    path = tmp_path_factory.mktemp("fmt") / ("curve" + _SUFFIX.get(kind, ".csv"))
    y_name = _write(path, kind, xs, ys)
    with pytest.warns(CurveWarning) as rec:
        c = load_curve(path)
    np.testing.assert_array_equal(c.x, xs)
    np.testing.assert_array_equal(c.y, ys)
    assert c.y_name == y_name
    note = " ".join(str(w.message) for w in rec if "guessed" in str(w.message))
    assert "x=" in note and f"y={y_name!r}" in note
    with warnings.catch_warnings(record=True) as rec2:
        warnings.simplefilter("always", CurveWarning)
        load_curve(path, y=y_name)
    msgs = [str(w.message) for w in rec2 if "guessed" in str(w.message)]
    assert len(msgs) == 1 and "x=" in msgs[0] and "y=" not in msgs[0]


def test_no_header_flag_and_detection(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("0,0.1\n1,0.2\n2,0.3\n3,0.4\n4,0.5\n5,0.6\n6,0.7\n7,0.8\n")
    c = load_curve(p, quiet=True)
    assert c.x[0] == 0 and len(c) == 8 and c.meta["format"] == "headerless"
    p2 = tmp_path / "b.csv"
    p2.write_text("10,20\n" + "\n".join(f"{i},{i / 10}" for i in range(11, 20)))
    c = load_curve(p2, x="col0", y="col1", no_header=True)
    assert c.x[0] == 10 and len(c) == 10 and c.y[0] == 20


def test_torn_jsonl_tail_is_skipped_with_a_warning_but_not_a_torn_middle(tmp_path):
    rows = [json.dumps({"step": i, "ic_acc": i / 20}) for i in range(12)]
    p = tmp_path / "a.jsonl"
    p.write_text("\n".join(rows) + '\n{"step": 12, "ic_a')
    with pytest.warns(CurveWarning, match="skipped the torn last line 13"):
        c = load_curve(p, x="step", y="ic_acc")
    assert len(c) == 12
    p.write_text("\n".join(rows[:5] + ['{"step": 5, "ic'] + rows[6:]))
    with pytest.raises(CurveFileError, match="line 6 is not valid JSON"):
        load_curve(p, x="step", y="ic_acc")


def test_bom_crlf_header_names_are_clean(tmp_path):
    p = tmp_path / "excel.csv"
    p.write_bytes(b"\xef\xbb\xbfstep,ic_acc\r\n" + b"".join(
        f"{i},{i / 10}\r\n".encode() for i in range(10)))
    c = load_curve(p, x="step", y="ic_acc")
    assert c.x_name == "step" and len(c) == 10


def test_y_guesses_prefer_accuracies_and_eval_columns(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("step,train/loss,eval/top1_acc,train/acc\n" +
                 "\n".join(f"{i},1,{i / 10},{i / 20}" for i in range(10)))
    with pytest.warns(CurveWarning, match="y='eval/top1_acc'"):
        assert load_curve(p).y_name == "eval/top1_acc"


def test_stacked_file_needs_group_and_names_candidates(tmp_path):
    p = tmp_path / "s.csv"
    lines = ["run,seed,step,ic_acc"]
    for run in ("a", "b"):
        for seed in (0, 1):
            lines += [f"{run},{seed},{i * 10},{i / 20}" for i in range(10)]
    p.write_text("\n".join(lines))
    with pytest.raises(CurveFileError, match=r"not increasing.*pass --group COL \(candidates: "
                                             r"run, seed\)"):
        load_curve(p, x="step", y="ic_acc")
    cs = load_curves(p, x="step", y="ic_acc", group=["run", "seed"])
    assert [c.group for c in cs] == [{"run": "a", "seed": 0}, {"run": "a", "seed": 1},
                                     {"run": "b", "seed": 0}, {"run": "b", "seed": 1}]
    assert all(len(c) == 10 for c in cs)
    with pytest.raises(CurveFileError, match="no column 'cond' to group by"):
        load_curves(p, x="step", y="ic_acc", group=["cond"])


def test_wandb_multi_run_export_splits_by_run_and_key_value_names(tmp_path):
    from minimal.fit.examples import example_curves, write_example
    p = tmp_path / "w.csv"
    write_example(p, "wandb")
    with pytest.raises(CurveFileError, match="logged by 9 W&B runs.*--group run"):
        load_curve(p, x="Step", y="ic_acc")
    cs = load_curves(p, x="Step", y="ic_acc", group=["lr", "seed"])
    truth = example_curves()
    assert [(c.group["lr"], c.group["seed"]) for c in cs] == [(t["lr"], t["seed"])
                                                               for t in truth]
    for c, t in zip(cs, truth):
        np.testing.assert_allclose(c.y, t["ic_acc"], atol=5e-4)
    cs = load_curves(p, x="Step", y="ic_acc", group="run")
    assert cs[0].group == {"run": "lr=0.01,seed=0"}


def test_bad_sources_are_one_line_errors(tmp_path, monkeypatch):
    import minimal.fit.curves as curves
    with pytest.raises(CurveFileError, match="not a regular file"):
        load_curve("/dev/zero")
    big = tmp_path / "big.csv"
    big.write_text("step,ic_acc\n" + "\n".join(f"{i},0.5" for i in range(2000)))
    monkeypatch.setattr(curves, "MAX_BYTES", 1000)
    with pytest.raises(CurveFileError, match="larger than the 0 MiB|MiB is larger"):
        load_curve(big)
    monkeypatch.undo()
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"step,acc\n\x00\x01\x02")
    with pytest.raises(CurveFileError, match="binary"):
        load_curve(binary)
    for text, pattern in (("", "empty"), ("step,ic_acc\n1,abc\n" * 9, "non-numeric"),
                          ("step,step\n1,2\n", "duplicate"),
                          ("step,ic_acc\n" + "\n".join(f"{9 - i},0.1" for i in range(9)),
                           "not increasing")):
        f = tmp_path / "x.csv"
        f.write_text(text)
        with pytest.raises(CurveFileError, match=pattern) as info:
            load_curve(f, x="step", y="ic_acc")
        assert "\n" not in str(info.value)
    with pytest.raises(CurveFileError, match="no such file"):
        load_curve(tmp_path / "missing.csv")
    with pytest.raises(CurveFileError, match="not a minimal run"):
        load_curve(tmp_path)


def test_run_directory_and_read_metrics(tmp_path):
    from minimal import read_metrics
    from minimal.config import Seeds
    from minimal.nets.config import NetConfig, TrainConfig, TrainRunConfig
    from minimal.nets.train import train
    from minimal.tasks.icl import TaskConfig
    cfg = TrainRunConfig(task=TaskConfig(K=64, L=8, N=4, N_max=4, D=7, B=1, K_novel=8,
                                         batch_size=8, n_eval=32),
                         net=NetConfig(k_dim=8), train=TrainConfig(steps=90, eval_every=10),
                         seeds=Seeds(seed=1))
    res = train(cfg, tmp_path / "run", progress=False)
    c = load_curve(tmp_path / "run", x="step", y="ic_acc")
    np.testing.assert_array_equal(c.x, res.metrics["step"])
    np.testing.assert_array_equal(c.y, read_metrics(tmp_path / "run")["ic_acc"])
    [g] = load_curves(tmp_path / "run", x="step", y="ic_acc", group=["task.B", "seed"])
    assert g.group == {"task.B": 1, "seed": 1}
    r = fit_curve(c, "nested-logits", free_init=False)
    assert r.constants == {"N": 4, "L": 8, "B": 1, "eps": cfg.task.eps}
    assert "run.json" in r.report()


# --- Python API ---------------------------------------------------------------------------

def _curve_xy():
    x = np.linspace(0, 1000, 60)
    return x, 0.05 + 0.9 / (1 + np.exp(-(x - 500) / 30))


def test_fit_curve_accepts_dataframe_arrays_tuple_and_mapping():
    pd = pytest.importorskip("pandas")
    x, y = _curve_xy()
    df = pd.DataFrame({"step": x, "acc": y, "run": ["a"] * len(x)})
    ref = fit_curve(from_arrays(x, y), "logistic")
    for data, kw in ((df, {"x": "step", "y": "acc"}), ((x, y), {}),
                     ({"step": x, "ic_acc": y}, {}), (np.column_stack([x, y]), {})):
        r = fit_curve(data, "logistic", **kw)
        assert r.params["onset"] == pytest.approx(ref.params["onset"], rel=1e-9)
        assert r.verdict == "transitioned"
    c = load_curve(df, x="step", y="acc")
    assert c.x_name == "step" and c.source == "<dataframe>"
    [g] = load_curves(df, x="step", y="acc", group="run")
    assert g.group == {"run": "a"}
    with pytest.raises(CurveFileError, match="cannot read a curve from a int"):
        fit_curve(3, "logistic")


def test_public_api_docstrings_and_exports():
    import minimal.fit as mf
    assert mf.from_arrays is from_arrays
    doc = make_model.__doc__
    for name in ("logistic", "three-factor", "nested-logits", "ih-minimal", "N", "eps",
                 "beta1_grid", "quantity"):
        assert name in doc
    for fn in (mf.fit_curve, mf.load_curve, mf.load_curves, mf.summarise, mf.compare,
               mf.plot_fits, mf.FitResult.plot, mf.FitResult.band):
        assert fn.__doc__ and len(fn.__doc__) > 40
    assert "logistic" in mf.fit_curve.__doc__ and "DataFrame" in mf.fit_curve.__doc__


def test_fitresult_plot_into_an_axis_with_a_band():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    x, y = _curve_xy()
    y = y + np.random.default_rng(0).normal(0, 0.01, len(x))
    r = fit_curve((x, y), "logistic")
    fig = Figure()
    ax = fig.subplots()
    assert r.plot(ax=ax) is ax
    assert len(ax.collections) >= 1                     # the confidence band
    (lo, hi), (plo, phi) = r.band(x)
    assert np.all(lo <= r.y_fit + 1e-12) and np.all(r.y_fit <= hi + 1e-12)
    assert np.all(plo < lo) and np.all(phi > hi)
    # about 95 % of the data inside the prediction band
    inside = np.mean((r.y >= plo) & (r.y <= phi))
    assert inside > 0.85
    fig2 = r.plot()
    assert len(fig2.axes) == 2
