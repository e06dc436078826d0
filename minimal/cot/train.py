"""Training the two-stage associative memory on the two-hop world (``minimal cot``)."""

from __future__ import annotations

import dataclasses
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import PresetRegistry, Seeds, apply_overrides, check_int
from ..errors import ConfigError
from ..runs import MANIFEST, Run
from ..tasks.twohop import COT_WORLDS, PROBES, TwoHopConfig, TwoHopWorld
from . import tsam as K
from .tsam import TSAMConfig

COLUMNS = ("step", "loss", "id_atomic", "ood_atomic", "train_inferred", "test_inferred_iid",
           "test_inferred_ood", "wall_s", "epoch", "rho_a", "rho1", "rho2", "rhoI")
RUN_KIND = "cot"


@dataclass(frozen=True)
class CoTTrainConfig:
    steps: int = 20_000
    eval_every: int = 2000

    def __post_init__(self):
        check_int("steps", self.steps, 0, 10**9)
        check_int("eval_every", self.eval_every, 1, 10**9)


@dataclass(frozen=True)
class CoTRunConfig:
    world: TwoHopConfig = dataclasses.field(default_factory=lambda: COT_WORLDS.get("small"))
    model: TSAMConfig = dataclasses.field(default_factory=TSAMConfig)
    train: CoTTrainConfig = dataclasses.field(default_factory=CoTTrainConfig)
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def __post_init__(self):
        for name, cls in (("world", TwoHopConfig), ("model", TSAMConfig),
                          ("train", CoTTrainConfig), ("seeds", Seeds)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, getattr(self, name), f"must be a {cls.__name__}")


COT_PRESETS = PresetRegistry("cot")
COT_PRESETS.register("small", lambda: CoTRunConfig(),
                     "small world (|E|=400, |R|=40, k_out=16, λ=7.2), batch 512, 20k steps")
COT_PRESETS.register("tiny", lambda: CoTRunConfig(world=COT_WORLDS.get("tiny"),
                                                  model=TSAMConfig(batch_size=128)),
                     "tiny world for tests (|E|=200), batch 128")
COT_PRESETS.register("paper", lambda: CoTRunConfig(world=COT_WORLDS.get("paper")),
                     "paper world (|E|=2000, |R|=200, k_out=20); Level 1 needs tens of GB")


class TSAM:
    """Stores, gates and their lazy-decay clocks, plus training and evaluation."""

    def __init__(self, cfg: TSAMConfig, world: TwoHopWorld, max_gb: float = 6.0):
        self.cfg = cfg
        self.world = world
        E, R = world.cfg.n_entities, world.cfg.n_relations
        self.E, self.R = E, R
        n_train = len(world.train_items)
        rows = {"A": E * R, "B": E * R if not cfg.cot else 1, "S": E * R if cfg.cot else 1,
                "C": E * R if cfg.cot else 1, "D": R * R if cfg.cot else 1,
                "M": n_train if not cfg.cot else 1}
        need = sum(rows.values()) * E * 4 / 1e9
        if need > max_gb:
            raise ConfigError("world", f"|E|={E}, |R|={R}", f"the Level-1 stores need {need:.1f}"
                              f" GB (limit {max_gb} GB); use the small or tiny world")
        self.stores = {k: np.zeros((n, E), np.float32) for k, n in rows.items()}
        if cfg.init_std > 0:
            rng = world.seeds.generator("init")
            for k, v in self.stores.items():
                v[...] = rng.normal(0.0, cfg.init_std, v.shape)
        self.last = {k: np.zeros(n, np.int64) for k, n in rows.items()}
        self.rho = np.full(4, cfg.rho0, np.float64)
        self.step = 0

    # lazy decay factors per step
    @property
    def dec(self):
        return 1.0 - self.cfg.lr * self.cfg.weight_decay

    @property
    def dec_m(self):
        c = self.cfg
        return 1.0 - c.lr * c.m_lr_ratio * c.weight_decay * c.m_decay_ratio

    def state_arrays(self) -> dict:
        out = {f"store.{k}": v for k, v in self.stores.items()}
        out.update({f"last.{k}": v for k, v in self.last.items()})
        out["rho"] = self.rho
        return out

    def load_arrays(self, arrays: dict) -> None:
        for k in self.stores:
            self.stores[k][...] = arrays[f"store.{k}"]
            self.last[k][...] = arrays[f"last.{k}"]
        self.rho[...] = arrays["rho"]

    def gate_lrs(self) -> np.ndarray:
        """Learning rates of the gates (ρ_a, ρ₁, ρ₂, ρ_I)."""
        c = self.cfg
        g = c.lr * c.rho_lr_scale
        return np.array([g, g, g, c.lr * c.rhoI_lr_scale])

    def train(self, order, start_pos, n_steps):
        c, s = self.cfg, self.stores
        L = self.last
        loss, n = K._train_steps(self.world.atomic, self.world.train_items, order, start_pos,
                                 n_steps, c.batch_size, self.step, c.cot, self.R, s["A"], s["B"],
                                 s["S"], s["C"], s["D"], s["M"], L["A"], L["B"], L["S"], L["C"],
                                 L["D"], L["M"], self.rho, c.lr, self.dec, self.dec_m,
                                 c.m_lr_ratio, c.cd_lr_scale, c.bridge_topk,
                                 self.gate_lrs())
        self.step += n_steps
        return loss, n

    def evaluate(self, perturb: int = 0, rng_seed: int = 0) -> dict:
        c, s, L = self.cfg, self.stores, self.last
        out = {}
        for name in PROBES:
            p = self.world.probe(name)
            if name in ("id_atomic", "ood_atomic"):
                out[name] = K._eval_atomic(p["h"], p["r"], p["t"], self.R, s["A"], L["A"],
                                           self.step, self.dec, self.rho[0])
            else:
                prng = np.random.default_rng(rng_seed).integers(0, 2**31, len(p["h"]))
                out[name] = K._eval_two_hop(p["h"], p["r1"], p["r2"], p["b"], p["t"],
                                            p["index"], c.cot, self.R, s["A"], s["B"], s["S"],
                                            s["C"], s["D"], s["M"], L["A"], L["B"], L["S"],
                                            L["C"], L["D"], L["M"], self.step, self.dec,
                                            self.dec_m, self.rho, c.bridge_topk, perturb, prng)
        return out

    def stage2_dependence(self, probe: str = "test_inferred_iid", seed: int = 0) -> dict:
        """Stage-2 accuracy (teacher-forced b) when h, r1, b or r2 is replaced at random."""
        if not self.cfg.cot:
            raise ConfigError("model.cot", False, "the stage-2 test needs the CoT format")
        s, L = self.stores, self.last
        p = self.world.probe(probe)
        prng = np.random.default_rng(seed).integers(0, 2**31, len(p["h"]))
        res = {}
        for name, code in (("unchanged", 5), ("h", 1), ("r1", 2), ("b", 3), ("r2", 4)):
            res[name] = K._eval_two_hop(p["h"], p["r1"], p["r2"], p["b"], p["t"], p["index"],
                                        True, self.R, s["A"], s["B"], s["S"], s["C"], s["D"],
                                        s["M"], L["A"], L["B"], L["S"], L["C"], L["D"], L["M"],
                                        self.step, self.dec, self.dec_m, self.rho,
                                        self.cfg.bridge_topk, code, prng)
        return res


def _epoch_order(seeds: Seeds, n_items: int, epoch: int) -> np.ndarray:
    ss = np.random.SeedSequence(seeds.value("data"), spawn_key=(7, epoch))
    return np.random.Generator(np.random.PCG64(ss)).permutation(n_items)


def order_for(seeds: Seeds, n_items: int, pos0: int, count: int):
    """Item ids at global positions [pos0, pos0 + count): epoch permutations concatenated."""
    e0, e1 = pos0 // n_items, (pos0 + count - 1) // n_items
    order = np.concatenate([_epoch_order(seeds, n_items, e) for e in range(e0, e1 + 1)])
    return order, pos0 - e0 * n_items


def train_cot(cfg: CoTRunConfig, out=None, resume: bool = False, progress: bool = True,
              stop_after: int | None = None, callback=None):
    """Train Level 1 per ``cfg``; returns (model, metrics dict, status)."""
    from ..env import tune_malloc
    tune_malloc()
    t_start = time.perf_counter()
    world = TwoHopWorld(cfg.world, cfg.seeds)
    model = TSAM(cfg.model, world)
    n_items = len(world.atomic) + len(world.train_items)
    bs = cfg.model.batch_size
    run = None
    wall0 = 0.0
    if out is not None:
        out = Path(out)
        if resume and (out / MANIFEST).exists():
            run, ck = Run.resume(out, RUN_KIND, cfg, COLUMNS, allow_changes=("train.steps",))
            if ck is not None:
                model.load_arrays(ck.arrays)
                model.step = ck.step
                wall0 = float(ck.meta.get("wall_s", 0.0))
        else:
            run = Run.create(out, RUN_KIND, cfg, cfg.seeds, COLUMNS,
                             resolved={"world": world.counts(), "items_per_epoch": n_items,
                                       "steps_per_epoch": n_items / bs})
    history: dict[str, list] = {}
    loss_acc = [0.0, 0]

    def log(step):
        row = model.evaluate()
        row.update({"step": step, "loss": loss_acc[0] / loss_acc[1] if loss_acc[1] else
                    float("nan"), "wall_s": wall0 + time.perf_counter() - t_start,
                    "epoch": step * bs / n_items, "rho_a": model.rho[0], "rho1": model.rho[1],
                    "rho2": model.rho[2], "rhoI": model.rho[3]})
        loss_acc[0], loss_acc[1] = 0.0, 0
        for k, v in row.items():
            history.setdefault(k, []).append(v)
        if run is not None:
            run.log(row)
        if callback is not None:
            callback(step, row, model)
        return row

    def checkpoint():
        if run is not None:
            run.save_checkpoint(model.step, model.state_arrays(),
                                {"wall_s": wall0 + time.perf_counter() - t_start})

    steps = cfg.train.steps
    ev = cfg.train.eval_every
    status = "completed"
    stop = {"flag": False}
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, lambda *a: stop.__setitem__("flag", True))
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=model.step, unit="step", disable=not sys.stderr.isatty())
    try:
        if model.step == 0:
            log(0)
            checkpoint()
        while model.step < steps:
            if stop["flag"] or (stop_after is not None and model.step >= stop_after):
                status = "interrupted"
                break
            n = min(ev - model.step % ev, steps - model.step)
            order, p0 = order_for(cfg.seeds, n_items, model.step * bs, n * bs)
            loss, terms = model.train(order, p0, n)
            loss_acc[0] += loss
            loss_acc[1] += terms
            if not math.isfinite(loss):
                raise ConfigError("model.lr", cfg.model.lr, f"the loss became {loss}; lower it")
            if model.step % ev == 0 or model.step == steps:
                row = log(model.step)
                checkpoint()
                if bar is not None:
                    bar.set_postfix(id2=f"{row['test_inferred_iid']:.3f}",
                                    ood2=f"{row['test_inferred_ood']:.3f}", refresh=False)
            if bar is not None:
                bar.update(n)
        if status == "interrupted":
            checkpoint()
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
        if bar is not None:
            bar.close()
        if run is not None:
            run.add_timing("total_s", time.perf_counter() - t_start)
            run.finish(status if status else "failed", final_step=model.step)
    return model, {k: np.array(v) for k, v in history.items()}, status
