"""Figures of the task itself."""

from __future__ import annotations

import numpy as np

from .registry import register


def overlap_data(quick: bool = False, seed: int = 0, bursts=(1, 2, 4), n_seq: int = 3) -> dict:
    """Content overlaps x_i·x_j of a few training sequences for several burstiness values."""
    from ..config import Seeds
    from ..tasks.icl import ICLTask, TaskConfig
    mats, meta = [], []
    for B in bursts:
        task = ICLTask(TaskConfig(B=B), Seeds(seed=seed), warn=False)
        batch = task.sample("train", n_seq)
        x = batch.content.astype(np.float64)
        mats.append(np.einsum("bid,bjd->bij", x, x))
        meta.append({"B": B, "class_ids": batch.class_ids, "label_ids": batch.label_ids,
                     "matches": batch.matches})
    return {"overlaps": mats, "meta": meta, "N": batch.N,
            "params": {"bursts": list(bursts), "n_seq": n_seq, "K": 512, "N": batch.N,
                       "eps": 0.1, "seed": seed}}


def overlap_plot(data: dict):
    from matplotlib.figure import Figure
    mats, meta, N = data["overlaps"], data["meta"], data["N"]
    rows, cols = len(mats), mats[0].shape[0]
    fig = Figure(figsize=(3.1 * cols + 0.8, 3.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    ticks = [f"x{j}" if t % 2 == 0 else f"ℓ{j}" for t in range(2 * N) for j in [t // 2]] + ["xq"]
    im = None
    for r, (m, info) in enumerate(zip(mats, meta)):
        for c in range(cols):
            ax = axes[r, c]
            im = ax.imshow(m[c], cmap="RdBu_r", vmin=-1.2, vmax=1.2)
            ax.set_xticks(range(2 * N + 1), ticks, fontsize=5, rotation=90)
            ax.set_yticks(range(2 * N + 1), ticks, fontsize=5)
            match = np.flatnonzero(info["matches"][c])
            for j in match:   # outline the items of the target's class
                ax.add_patch(_rect(2 * j, 2 * N))
                ax.add_patch(_rect(2 * N, 2 * j))
            ax.set_title(f"B={info['B']} seq {c}: {len(set(info['class_ids'][c, :N]))} classes",
                         fontsize=8)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="x_i · x_j (content)")
    fig.suptitle("Token overlaps: bursty contexts repeat the target's class B times "
                 "(outlined: target-class items)", fontsize=10)
    return fig


def _rect(i, j):
    from matplotlib.patches import Rectangle
    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="k", linewidth=1.0)


register("task-overlap", "Token-overlap matrices x_i·x_j of training sequences for B = 1, 2, 4",
         overlap_data, overlap_plot, group="task")
