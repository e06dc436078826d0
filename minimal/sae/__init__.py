"""Sparse autoencoders on attention outputs (docs/sae.md)."""

from .config import SAEConfig, SAEDataConfig, SAERunConfig, SAE_PRESETS
from .model import ActivationData, SAEModel, head_block_norms, reconstruction_score
from .train import train_sae

__all__ = ["SAEConfig", "SAEDataConfig", "SAERunConfig", "SAE_PRESETS", "SAEModel",
           "ActivationData", "reconstruction_score", "head_block_norms", "train_sae"]
