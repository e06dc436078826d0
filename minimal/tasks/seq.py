"""A generic batch of sequences for the configurable transformer (docs/transformer.md).

Every position holds either a token (``tokens[b, t] ≥ 0``) or a continuous vector
(``tokens[b, t] = −1``, the vector in ``x[b, t]``); ``targets[b, t] ≥ 0`` marks a position with a
loss.  ``positions`` (default 0..T−1) are what one-hot, learned and rotary position codes read
(the Reddy task shifts them per sequence).  ``meta`` holds task facts that clamps and progress
measures use, e.g. ``label_pos`` (n, k) positions of the context labels, ``label_ids`` (n, k) their
label ids and ``correct`` (n,) the index (into ``label_pos``) of the label the query should copy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError

__all__ = ["SeqBatch"]


@dataclass(frozen=True, eq=False)
class SeqBatch:
    tokens: np.ndarray | None          #: (n, T) int32, −1 where the input is continuous
    x: np.ndarray | None               #: (n, T, d_in) float32 continuous inputs (or None)
    targets: np.ndarray                #: (n, T) int32, −1 where there is no loss
    positions: np.ndarray | None = None  #: (n, T) int64 position indices (None: 0..T−1)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.targets.ndim != 2:
            raise ConfigError("batch.targets", self.targets.shape, "must be (n, T)")
        n, T = self.targets.shape
        if self.tokens is not None and self.tokens.shape != (n, T):
            raise ConfigError("batch.tokens", self.tokens.shape, f"must be ({n}, {T})")
        if self.x is not None and (self.x.ndim != 3 or self.x.shape[:2] != (n, T)):
            raise ConfigError("batch.x", self.x.shape, f"must be ({n}, {T}, d_in)")
        if self.positions is not None and self.positions.shape != (n, T):
            raise ConfigError("batch.positions", self.positions.shape, f"must be ({n}, {T})")

    def __len__(self) -> int:
        return self.targets.shape[0]

    @property
    def T(self) -> int:
        return self.targets.shape[1]

    def subset(self, idx) -> "SeqBatch":
        """The selected sequences (index, slice or boolean mask); ``meta`` arrays whose first
        axis is the batch are sliced too."""
        n = len(self)

        def cut(a):
            return None if a is None else np.ascontiguousarray(a[idx])
        meta = {k: (np.ascontiguousarray(v[idx]) if isinstance(v, np.ndarray) and v.ndim
                    and v.shape[0] == n else v) for k, v in self.meta.items()}
        return dataclasses.replace(self, tokens=cut(self.tokens), x=cut(self.x),
                                   targets=cut(self.targets), positions=cut(self.positions),
                                   meta=meta)
