"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from minimal.tasks.icl import TaskConfig


def valid_bursts(N: int, L: int) -> list[int]:
    """All B allowed by rules V7–V10 for given N and L."""
    out = [b for b in range(1, N) if N % b == 0 and N // b <= L]
    if N >= 2 and N % 2 == 0:
        out.append(0)
    return out


@st.composite
def task_configs(draw, max_N: int = 8, max_D: int = 16, max_K_mult: int = 8,
                 small: bool = True, **fixed) -> TaskConfig:
    """Random valid TaskConfigs (small sizes so that statistics are cheap)."""
    L = fixed.get("L", draw(st.sampled_from([2, 3, 4, 5, 8, 16, 32])))
    N = fixed.get("N", draw(st.integers(2, max_N)))
    N_max = fixed.get("N_max", draw(st.integers(N, N + 6)))
    choices = valid_bursts(N, L)
    assume(choices)
    B = fixed.get("B", draw(st.sampled_from(choices)))
    kw = dict(
        L=L, N=N, N_max=N_max, B=B,
        K=fixed.get("K", L * draw(st.integers(1, max_K_mult))),
        K_novel=fixed.get("K_novel", L * draw(st.integers(1, 4))),
        D=fixed.get("D", draw(st.integers(1, max_D))),
        eps=fixed.get("eps", draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, 3.2]))),
        zipf_alpha=fixed.get("zipf_alpha", draw(st.sampled_from([0.0, 0.5, 1.0, 1.75]))),
        p_bursty=fixed.get("p_bursty", draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))),
        p_novel=fixed.get("p_novel", draw(st.sampled_from([0.0, 0.2, 0.8, 1.0]))),
        no_repeats=fixed.get("no_repeats", draw(st.booleans())),
        batch_size=fixed.get("batch_size", draw(st.integers(1, 64))),
        n_eval=fixed.get("n_eval", draw(st.integers(1, 64))),
    )
    return TaskConfig(**kw)


seeds = st.integers(0, 2**32)
