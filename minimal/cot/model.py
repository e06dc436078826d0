"""Level 1 of the CoT circuit model as a learner of the training layer (docs/cot.md).

:class:`TSAM` holds the stores, gates and their lazy-decay clocks of the two-stage associative
memory and applies its own sparse SGD update (the kernels of :mod:`._kernels`): it implements
the training layer's :class:`~minimal.training.protocol.Learner` directly.
"""

from __future__ import annotations

import time
from typing import Callable, Mapping

import numpy as np

from ..config import Seeds
from ..errors import ConfigError, RunDirError, TrainingDiverged
from ..tasks.twohop import PROBES, TwoHopWorld
from ..training.protocol import StepStats
from . import _kernels as _K
from .config import TSAMConfig

COLUMNS = ("step", "loss", "id_atomic", "ood_atomic", "train_inferred", "test_inferred_iid",
           "test_inferred_ood", "wall_s", "epoch", "rho_a", "rho1", "rho2", "rhoI")
#: steps per kernel call: the stop flag is checked between calls
CHUNK = 250


def _epoch_order(seeds: Seeds, n_items: int, epoch: int) -> np.ndarray:
    ss = np.random.SeedSequence(seeds.value("data"), spawn_key=(7, epoch))
    return np.random.Generator(np.random.PCG64(ss)).permutation(n_items)


def order_for(seeds: Seeds, n_items: int, pos0: int, count: int):
    """Item ids at global positions [pos0, pos0 + count): epoch permutations concatenated."""
    e0, e1 = pos0 // n_items, (pos0 + count - 1) // n_items
    order = np.concatenate([_epoch_order(seeds, n_items, e) for e in range(e0, e1 + 1)])
    return order, pos0 - e0 * n_items



class TSAM:
    """Stores, gates and their lazy-decay clocks; training (its own sparse update) and
    evaluation.  A :class:`~minimal.training.protocol.Learner` of the training layer."""

    columns = COLUMNS

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
        self.last = {k: np.zeros(n, np.int64) for k, n in rows.items()}
        self.rho = np.full(4, cfg.rho0, np.float64)
        self.step = 0
        self.n_items = len(world.atomic) + n_train
        self.timings = {"step_s": 0.0, "eval_s": 0.0}
        self._initialised = False
        self.init_state()

    # -- learner protocol ---------------------------------------------------------------------
    def init_state(self) -> None:
        """Initial stores (N(0, init_std²) entries from the init seed), gates ρ₀, clock 0."""
        if self._initialised and self.step == 0:
            return
        rng = self.world.seeds.generator("init")
        for v in self.stores.values():
            if self.cfg.init_std > 0:
                v[...] = rng.normal(0.0, self.cfg.init_std, v.shape)
            else:
                v[...] = 0.0
        for v in self.last.values():
            v[...] = 0
        self.rho[...] = self.cfg.rho0
        self.step = 0
        self._initialised = True

    def state(self) -> dict:
        out = {f"store.{k}": v for k, v in self.stores.items()}
        out.update({f"last.{k}": v for k, v in self.last.items()})
        out["rho"] = self.rho
        out["clock"] = np.array(self.step, np.int64)
        return out

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        try:
            for k in self.stores:
                self.stores[k][...] = arrays[f"store.{k}"]
                self.last[k][...] = arrays[f"last.{k}"]
            self.rho[...] = arrays["rho"]
            self.step = int(arrays["clock"])
        except KeyError as exc:
            raise RunDirError(f"the checkpoint lacks {exc} (written by an older version or "
                              "another model)") from None
        except ValueError as exc:
            raise RunDirError(f"the checkpoint does not fit this model ({exc})") from None
        self._initialised = True

    def advance(self, step: int, n: int, should_stop: Callable[[], bool],
                stats: StepStats) -> int:
        if step != self.step:
            raise ValueError(f"TSAM is at step {self.step}, asked to train from {step}")
        done = 0
        bs = self.cfg.batch_size
        t0 = time.perf_counter()
        while done < n:
            if done and should_stop():
                break
            k = min(CHUNK, n - done)
            order, p0 = order_for(self.world.seeds, self.n_items, self.step * bs, k * bs)
            losses, terms = self.train(order, p0, k)
            if not np.isfinite(losses).all():
                bad = int(np.flatnonzero(~np.isfinite(losses))[0])
                raise TrainingDiverged(f"the training loss became {losses[bad]} at step "
                                       f"{self.step - k + bad}; lower model.lr")
            done += k
            stats.steps += k
            for v in losses:
                stats.loss_sum += float(v)
            stats.count += terms
        self.timings["step_s"] += time.perf_counter() - t0
        return done

    def evaluate(self, step: int, stats: StepStats) -> dict:
        t0 = time.perf_counter()
        row = self.probe_accuracy()
        row.update({"loss": stats.mean_loss,
                    "epoch": step * self.cfg.batch_size / self.n_items,
                    "rho_a": float(self.rho[0]), "rho1": float(self.rho[1]),
                    "rho2": float(self.rho[2]), "rhoI": float(self.rho[3])})
        self.timings["eval_s"] += time.perf_counter() - t0
        return row

    def collapse(self, row) -> str | None:
        return None

    # -- model --------------------------------------------------------------------------------
    @property
    def dec(self):
        """Lazy decay factor per step of A, B, S, C, D."""
        return 1.0 - self.cfg.lr * self.cfg.weight_decay

    @property
    def dec_m(self):
        """Lazy decay factor per step of the memorisation rows M."""
        c = self.cfg
        return 1.0 - c.lr * c.m_lr_ratio * c.weight_decay * c.m_decay_ratio

    def gate_lrs(self) -> np.ndarray:
        """Learning rates of the gates (ρ_a, ρ₁, ρ₂, ρ_I)."""
        c = self.cfg
        g = c.lr * c.rho_lr_scale
        return np.array([g, g, g, c.lr * c.rhoI_lr_scale])

    def train(self, order, start_pos, n_steps):
        """``n_steps`` SGD steps on the items ``order[start_pos:]``; (per-step summed losses,
        number of loss terms)."""
        c, s = self.cfg, self.stores
        L = self.last
        loss, n = _K._train_steps(self.world.atomic, self.world.train_items, order, start_pos,
                                  n_steps, c.batch_size, self.step, c.cot, self.R, s["A"],
                                  s["B"], s["S"], s["C"], s["D"], s["M"], L["A"], L["B"],
                                  L["S"], L["C"], L["D"], L["M"], self.rho, c.lr, self.dec,
                                  self.dec_m, c.m_lr_ratio, c.cd_lr_scale, c.bridge_topk,
                                  self.gate_lrs())
        self.step += n_steps
        return loss, n

    def probe_accuracy(self, perturb: int = 0, rng_seed: int = 0) -> dict:
        """Exact-match accuracy on every evaluation probe."""
        c, s, L = self.cfg, self.stores, self.last
        out = {}
        for name in PROBES:
            p = self.world.probe(name)
            if name in ("id_atomic", "ood_atomic"):
                out[name] = _K._eval_atomic(p["h"], p["r"], p["t"], self.R, s["A"], L["A"],
                                            self.step, self.dec, self.rho[0])
            else:
                prng = np.random.default_rng(rng_seed).integers(0, 2**31, len(p["h"]))
                out[name] = _K._eval_two_hop(p["h"], p["r1"], p["r2"], p["b"], p["t"],
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
            res[name] = _K._eval_two_hop(p["h"], p["r1"], p["r2"], p["b"], p["t"], p["index"],
                                         True, self.R, s["A"], s["B"], s["S"], s["C"], s["D"],
                                         s["M"], L["A"], L["B"], L["S"], L["C"], L["D"], L["M"],
                                         self.step, self.dec, self.dec_m, self.rho,
                                         self.cfg.bridge_topk, code, prng)
        return res
