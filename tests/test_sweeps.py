"""The sweep engine: job expansion and numeric ordering, one-line errors for bad grids, the local
executor against a real Dask cluster (identical tables), a killed Dask worker's job resumed, an
interrupted sweep resumed without recomputing finished jobs, and the SLURM job script."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from minimal.errors import ConfigError
from minimal.sweeps import expand, job_id, load_sweep_file, make_sweep, run_sweep, sort_rows

BASE = ["task.n_eval=100", "train.eval_every=100", "task.K=64", "task.L=8", "task.N=4",
        "task.N_max=4", "task.K_novel=32", "task.B=1"]


def _sweep(steps=300, grid=None, seeds=(0, 1)):
    return make_sweep("ih", "reddy-fig3", BASE + [f"train.steps={steps}"],
                      grid or {"ih.lr_attn": [0.03, 0.1]}, seeds)


def _table(path: Path) -> list[dict]:
    with open(path / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r.pop("seconds", None)
    return rows


def test_expand_gives_every_job_once_with_stable_ids():
    sw = _sweep()
    jobs = expand(sw.base, {"task.B": [1, 2], "ih.lr_attn": [0.1, 0.3]}, [0, 1, 2])
    ids = [job_id(d) for d, _ in jobs]
    assert len(jobs) == 12 and len(set(ids)) == 12
    assert ids == [job_id(d) for d, _ in expand(sw.base, {"task.B": [1, 2],
                                                          "ih.lr_attn": [0.1, 0.3]}, [0, 1, 2])]
    d, cfg = jobs[5]
    assert cfg.task.B == d["task.B"] and cfg.ih.lr_attn == d["ih.lr_attn"]
    assert cfg.seeds.seed == d["seed"]
    one = expand(sw.base, {"task.B": [1, 2], "ih.lr_attn": [0.1, 0.3, 1.0]}, [0],
                 one_at_a_time=True)
    assert len(one) == 5 and all(len(d) == 2 for d, _ in one)


def test_rows_sort_numbers_as_numbers():
    rows = [{"L": 16}, {"L": 4}, {"L": None}, {"L": 8.0}, {"L": "x"}]
    assert [r["L"] for r in sort_rows(rows, ["L"])] == [4, 8.0, 16, "x", None]


@pytest.mark.parametrize("grid,needle", [
    ({"task.B": []}, "at least one value"),
    ({"task.B": [3]}, "task.B=3 is invalid"),
    ({"task.nope": [1]}, "not a field"),
    ({"task.N,task.L": [(2, 4, 8)]}, "needs 2 values"),
])
def test_bad_grids_are_one_line_errors(grid, needle):
    with pytest.raises(ValueError, match=needle) as info:
        expand(_sweep().base, grid, [0])
    assert "\n" not in str(info.value)


def test_bad_sweep_files(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('family = "ih"\nbogus = 1\nseeds = [0]\n[grid]\n"task.B" = [1]\n')
    with pytest.raises(ConfigError, match="unknown sweep-file key"):
        load_sweep_file(p)
    p.write_text('family = "nope"\n[grid]\n"task.B" = [1]\n')
    with pytest.raises(ConfigError, match="family='nope'"):
        load_sweep_file(p)
    p.write_text("family = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sweep_file(p)
    p.write_text('family = "ih"\npreset = "reddy-fig3"\nseeds = 2\n[set]\n"train.steps" = 50\n'
                 '[grid]\n"task.B" = [1, 2]\n')
    sw = load_sweep_file(p)
    assert sw.seeds == [0, 1] and sw.base.train.steps == 50 and sw.axes == {"task.B": [1, 2]}


def test_local_and_dask_give_identical_tables(tmp_path):
    pytest.importorskip("distributed", reason="the [distributed] extra is not installed")
    from distributed import Client, LocalCluster
    sw = _sweep()
    res = sw.run(tmp_path / "local", workers=2, progress=False)
    assert res.status == "completed" and res.counts["completed"] == 4
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    try:
        res_d = sw.run(tmp_path / "dask", progress=False, scheduler=cluster.scheduler_address)
        with Client(cluster) as client:       # the jobs really ran in the worker processes
            worker_pids = set(client.run(os.getpid).values())
    finally:
        cluster.close()
    assert res_d.status == "completed"
    assert _table(tmp_path / "local") == _table(tmp_path / "dask")
    pids = {json.loads((tmp_path / "dask" / "runs" / r["job"] / "run.json").read_text())[
        "history"][0]["pid"] for r in _table(tmp_path / "dask")}
    assert pids <= worker_pids and os.getpid() not in pids


def test_killed_dask_worker_job_is_resumed(tmp_path):
    pytest.importorskip("distributed", reason="the [distributed] extra is not installed")
    from distributed import LocalCluster
    sw = _sweep(steps=6000, grid={"ih.lr_attn": [0.03]}, seeds=(0,))
    ref = sw.run(tmp_path / "ref", workers=1, progress=False)
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    out = tmp_path / "dask"
    job_dir = out / "runs" / ref.rows[0]["job"]
    box = {}
    th = threading.Thread(target=lambda: box.setdefault(
        "res", sw.run(out, progress=False, scheduler=cluster.scheduler_address)))
    try:
        th.start()
        t0 = time.time()
        while not ((job_dir / "checkpoint.npz").exists() and
                   (job_dir / "metrics.csv").read_text().count("\n") >= 6):
            assert time.time() - t0 < 180
            time.sleep(0.05)
        pid = json.loads((job_dir / "run.lock").read_text())["pid"]
        os.kill(pid, signal.SIGKILL)         # the worker dies mid-run; its nanny restarts it
        th.join(timeout=300)
    finally:
        cluster.close()
    res = box["res"]
    assert res.status == "completed"
    hist = json.loads((job_dir / "run.json").read_text())["history"]
    assert "resumed" in [h["event"] for h in hist]
    a, b = _table(tmp_path / "ref"), _table(out)
    assert a == b


def test_interrupted_sweep_resumes_only_what_is_missing(tmp_path):
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps({"family": "ih", "preset": "reddy-fig3", "seeds": [0],
                                "set": {k: json.loads(v) for k, v in (
                                    x.split("=") for x in BASE)} | {"train.steps": 4000},
                                "grid": {"ih.lr_attn": [0.01, 0.02, 0.03]}}))
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "minimal", "sweep", "--file", str(spec), "--out", str(out),
            "--workers", "1", "--quiet"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while True:            # wait for the second job to be running (first one finished)
        runs = sorted((out / "runs").glob("*")) if (out / "runs").exists() else []
        done = [r for r in runs if (r / "run.json").exists() and
                json.loads((r / "run.json").read_text())["status"] == "completed"]
        if len(done) == 1 and len(runs) == 2 and (runs[-1] / "metrics.csv").exists() and \
                (runs[-1] / "metrics.csv").read_text().count("\n") >= 3:
            break
        assert proc.poll() is None and time.time() - t0 < 180
        time.sleep(0.05)
    finished = done[0]
    stamp = (finished / "run.json").stat().st_mtime_ns
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    statuses = {r["status"] for r in _table(out)}
    assert statuses == {"completed", "interrupted", "pending"}
    p = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert {r["status"] for r in _table(out)} == {"completed"}
    assert (finished / "run.json").stat().st_mtime_ns == stamp        # not recomputed
    resumed = [json.loads((r / "run.json").read_text())["history"]
               for r in sorted((out / "runs").glob("*"))]
    assert sum("resumed" in [h["event"] for h in hist] for hist in resumed) == 1


def test_sweep_into_an_existing_sweep_needs_resume(tmp_path):
    sw = _sweep(steps=100, seeds=(0,))
    sw.run(tmp_path / "s", workers=1, progress=False)
    with pytest.raises(ValueError, match="already holds a sweep"):
        sw.run(tmp_path / "s", workers=1, progress=False)
    res = sw.run(tmp_path / "s", workers=1, progress=False, resume=True)
    assert res.status == "completed"


def test_resume_with_more_seeds_runs_only_the_new_jobs_and_records_the_grid(tmp_path):
    _sweep(steps=100, seeds=(0,)).run(tmp_path / "s", workers=1, progress=False)
    first = {p.name: (p / "run.json").stat().st_mtime_ns
             for p in (tmp_path / "s" / "runs").iterdir()}
    res = _sweep(steps=100, seeds=(0, 1)).run(tmp_path / "s", workers=1, progress=False,
                                              resume=True)
    assert res.status == "completed" and len(res.rows) == 4
    assert {r["seed"] for r in res.rows} == {0, 1}
    for name, stamp in first.items():                      # seed 0 jobs not recomputed
        assert (tmp_path / "s" / "runs" / name / "run.json").stat().st_mtime_ns == stamp
    man = json.loads((tmp_path / "s" / "run.json").read_text())
    assert man["seeds_list"] == [0, 1] and man["counts"]["completed"] == 4
    changed = [h for h in man["history"] if h["event"] == "grid changed"]
    assert len(changed) == 1 and changed[0]["before"]["seeds_list"] == [0]


def test_run_sweep_rows_api_matches_old_callers():
    sw = _sweep(steps=100, seeds=(0,))
    rows = run_sweep(sw.base, {"ih.lr_attn": [0.05]}, [0],
                     "minimal.induction_head.train:train_ih", "minimal.sweeps:final_summary",
                     None, 1, False)
    assert len(rows) == 1 and rows[0]["status"] == "completed" and "ic_acc" in rows[0]


def test_slurm_job_script_runs_one_single_threaded_worker_per_job():
    pytest.importorskip("dask_jobqueue", reason="the [slurm] extra is not installed")
    from minimal.sweeps import slurm_cluster
    cluster = slurm_cluster(queue="short", walltime="01:30:00", memory="3GiB",
                            account="icl-lab")
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p short" in script and "#SBATCH -t 01:30:00" in script
    assert "#SBATCH -A icl-lab" in script and "#SBATCH -n 1" in script
    assert "export NUMBA_NUM_THREADS=1" in script and "export OMP_NUM_THREADS=1" in script
    assert "--nthreads 1" in script and "dask_worker" in script


def test_more_steps_continue_finished_jobs_instead_of_restarting(tmp_path):
    sw = _sweep(steps=200, seeds=(0,), grid={"ih.lr_attn": [0.05]})
    sw.run(tmp_path / "s", workers=1, progress=False)
    longer = _sweep(steps=400, seeds=(0,), grid={"ih.lr_attn": [0.05]})
    res = longer.run(tmp_path / "s", workers=1, progress=False, resume=True)
    assert res.status == "completed" and res.rows[0]["steps"] == 400
    hist = json.loads((tmp_path / "s" / "runs" / res.rows[0]["job"] / "run.json").read_text())[
        "history"]
    resumed = [h for h in hist if h["event"] == "resumed"]
    assert len(resumed) == 1 and resumed[0]["from_step"] == 200
    assert resumed[0]["changes"] == {"train.steps": [200, 400]}


def test_sweep_files_in_the_repository_match_the_figure_sweeps():
    """figures/data/sweeps/*.toml (for `minimal sweep`) and the figures' own definitions agree."""
    import tomllib

    from minimal.figures.net_sweep_figures import SWEEPS
    root = Path(__file__).resolve().parent.parent / "figures" / "data" / "sweeps"
    for name, spec in SWEEPS.items():
        data = tomllib.loads((root / f"{name}.toml").read_text())
        assert data["family"] == spec["family"] and data["preset"] == spec["preset"], name
        assert data["seeds"] == spec["seeds"] and data.get("set") == spec["set"], name
        assert data["grid"] == spec["grid"], name
        assert bool(data.get("one_at_a_time", False)) == spec["one_at_a_time"], name
