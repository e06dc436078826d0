"""A configurable tiny transformer with named activations and clamps (docs/transformer.md).

``TransformerConfig`` (config), ``Transformer`` (the model: forward with named activations,
loss and gradients with clamps), ``ClampSpec``/``Override`` (clamps) and ``train_transformer``
(training through the shared training layer).
"""

from .clamps import CLAMPS, ClampSpec, Override
from .config import TransformerConfig
from .model import Transformer

__all__ = ["TransformerConfig", "Transformer", "ClampSpec", "Override", "CLAMPS"]
