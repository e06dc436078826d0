"""Level 1 of the CoT circuit model as a learner of the training layer (docs/cot.md).

:class:`TSAM` holds the stores (:mod:`.stores`), the gates with their Adam moments and the
clock of the two-stage associative memory, and applies its own sparse update (the kernels of
:mod:`._kernels`): it implements the training layer's
:class:`~minimal.training.protocol.Learner` directly.
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



def decay_table(lr: float, decay: float, warmup: int) -> tuple[np.ndarray, float]:
    """(tab, tail): tab[s] = Σ_{u<s} log(1 − η_u·decay) for s ≤ warmup, with η_u the warmed-up
    learning rate; tail = log(1 − lr·decay), the per-step term afterwards."""
    u = np.arange(warmup, dtype=np.float64)
    eta = lr * (u + 1.0) / max(warmup, 1)
    tab = np.concatenate([[0.0], np.cumsum(np.log1p(-eta * decay))])
    return tab, float(np.log1p(-lr * decay))


class TSAM:
    """Stores, gates and their clocks; training (its own sparse update) and evaluation.
    A :class:`~minimal.training.protocol.Learner` of the training layer."""

    columns = COLUMNS

    def __init__(self, cfg: TSAMConfig, world: TwoHopWorld, max_gb: float = 8.0,
                 dtype=np.float32):
        from .stores import Stores, store_bytes
        self.cfg = cfg
        self.world = world
        E, R = world.cfg.n_entities, world.cfg.n_relations
        self.E, self.R = E, R
        need = store_bytes(world, cfg.cot, cfg.layout, np.dtype(dtype).itemsize) / 2**30
        if need > max_gb:
            raise ConfigError("model.layout", cfg.layout,
                              f"the Level-1 stores need {need:.1f} GiB (limit {max_gb} GiB); "
                              "use the sparse layout or a smaller world")
        self.stores = Stores(world, cfg.cot, cfg.layout, dtype)
        self.gate_of = np.array([0, 0, 0, 3] if cfg.gates == "lookup" else [0, 1, 2, 3],
                                np.int64)
        self.rho = np.full(4, cfg.rho0, np.float64)
        self.adam_m = np.zeros(4)
        self.adam_v = np.zeros(4)
        self.last_gate_grad = np.zeros(4)
        self.step = 0
        self.n_items = len(world.atomic) + len(world.train_items)
        self.init_key = np.uint64(world.seeds.key("init"))
        w = cfg.warmup_steps
        self.tab, self.tail = decay_table(cfg.lr, cfg.weight_decay, w)
        self.tab_m, self.tail_m = decay_table(cfg.lr * cfg.m_lr_ratio,
                                              cfg.weight_decay * cfg.m_decay_ratio, w)
        self.timings = {"step_s": 0.0, "eval_s": 0.0}
        self.init_state()

    # -- learner protocol ---------------------------------------------------------------------
    def init_state(self) -> None:
        """Initial state: every row at its initial value (generated on first use), gates ρ₀,
        Adam moments 0, clock 0."""
        self.stores.reset()
        self.rho[...] = self.cfg.rho0
        self.adam_m[...] = 0.0
        self.adam_v[...] = 0.0
        self.step = 0

    def state(self) -> dict:
        st = self.stores
        out = {f"store.{k}": v for k, v in st.rows.items()}
        out.update({f"last.{k}": v for k, v in st.last.items()})
        out.update({"rho": self.rho, "adam_m": self.adam_m, "adam_v": self.adam_v,
                    "clock": np.array(self.step, np.int64)})
        return out

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        st = self.stores
        try:
            for k in st.rows:
                if arrays[f"store.{k}"].shape != st.rows[k].shape:
                    raise ValueError(f"store {k} has shape {arrays[f'store.{k}'].shape}, "
                                     f"expected {st.rows[k].shape}")
                st.rows[k][...] = arrays[f"store.{k}"]
                st.last[k][...] = arrays[f"last.{k}"]
            self.rho[...] = arrays["rho"]
            self.adam_m[...] = arrays["adam_m"]
            self.adam_v[...] = arrays["adam_v"]
            self.step = int(arrays["clock"])
        except KeyError as exc:
            raise RunDirError(f"the checkpoint lacks {exc} (written by an older version or "
                              "another model)") from None
        except ValueError as exc:
            raise RunDirError(f"the checkpoint does not fit this model ({exc})") from None

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
        g = self.gate_of
        row.update({"loss": stats.mean_loss,
                    "epoch": step * self.cfg.batch_size / self.n_items,
                    "rho_a": float(self.rho[g[0]]), "rho1": float(self.rho[g[1]]),
                    "rho2": float(self.rho[g[2]]), "rhoI": float(self.rho[g[3]])})
        self.timings["eval_s"] += time.perf_counter() - t0
        return row

    def collapse(self, row) -> str | None:
        return None

    # -- model --------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Store learning rate η_s of ``step`` (warm-up included)."""
        w = self.cfg.warmup_steps
        return self.cfg.lr * (1.0 if w <= 0 or step >= w else (step + 1.0) / w)

    def _kargs(self):
        idx, rows, last = self.stores.tuples()
        return idx, rows, last

    def train(self, order, start_pos, n_steps):
        """``n_steps`` steps on the items ``order[start_pos:]``; (per-step summed losses,
        number of loss terms)."""
        c = self.cfg
        idx, rows, last = self._kargs()
        loss, n = _K._train_steps(
            self.world.atomic, self.world.train_items, order, start_pos, n_steps, c.batch_size,
            self.step, c.cot, self.R, idx, rows, last, self.stores.bridges,
            self.stores.bridge_ptr, self.rho, self.adam_m,
            self.adam_v, self.gate_of, c.lr, c.warmup_steps, self.tab, self.tail, self.tab_m,
            self.tail_m, c.m_lr_ratio, c.s2_lr_scale, c.bridge_topk, c.gate_lr, c.gate_weight_decay, self.init_key,
            c.init_std, self.last_gate_grad)
        self.step += n_steps
        return loss, n

    def _two_hop(self, p, perturb, prng):
        c = self.cfg
        idx, rows, last = self._kargs()
        return _K._eval_two_hop(p["h"], p["r1"], p["r2"], p["b"], p["t"], p["index"], c.cot,
                                self.R, idx, rows, last, self.stores.bridges,
                                self.stores.bridge_ptr, self.rho,
                                self.gate_of, self.step, self.tab, self.tail, self.tab_m,
                                self.tail_m, self.init_key, c.init_std, c.bridge_topk, perturb,
                                prng)

    def probe_accuracy(self, rng_seed: int = 0) -> dict:
        """Exact-match accuracy on every evaluation probe."""
        out = {}
        idx, rows, last = self._kargs()
        for name in PROBES:
            p = self.world.probe(name)
            if name in ("id_atomic", "ood_atomic"):
                out[name] = _K._eval_atomic(p["h"], p["r"], p["t"], self.R, idx, rows, last,
                                            self.rho[self.gate_of[0]], self.step, self.tab,
                                            self.tail, self.init_key, self.cfg.init_std)
            else:
                prng = np.random.default_rng(rng_seed).integers(0, 2**31, len(p["h"]))
                out[name] = self._two_hop(p, 0, prng)
        return out

    def stage2_dependence(self, probe: str = "test_inferred_iid", seed: int = 0) -> dict:
        """Stage-2 accuracy (teacher-forced b) when h, r1, b or r2 is replaced at random."""
        if not self.cfg.cot:
            raise ConfigError("model.cot", False, "the stage-2 test needs the CoT format")
        p = self.world.probe(probe)
        prng = np.random.default_rng(seed).integers(0, 2**31, len(p["h"]))
        return {name: self._two_hop(p, code, prng)
                for name, code in (("unchanged", 5), ("h", 1), ("r1", 2), ("b", 3), ("r2", 4))}
