"""Induction diagnostics (docs/diagnostics.md): per-head scores from attention patterns
(:mod:`.scores`), score tables of trained networks and the training-time recorder
(:mod:`.heads`), head ablation and top-k vs random comparisons (:mod:`.ablation`)."""
