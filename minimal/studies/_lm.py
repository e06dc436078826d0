"""Pieces shared by the language-model toy studies (Bi-Induct, repeated data, momentum, the
SAE prefix study): the transformer's config check, the network base class, the cross-entropy of
recorded logits, and the Data adapter."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..transformer.model import Transformer


class LMTransformer(Transformer):
    """:class:`Transformer` as a language model of the studies: ``train_acc`` is the fraction
    of positions predicted correctly, and :meth:`record_chunked` runs evaluation sets in
    chunks."""

    def loss_and_grads(self, params, batch, grads=None):
        """As the transformer's, with the correct predictions divided by the sequence length
        (the training layer divides by the batch size)."""
        loss, grads, correct = super().loss_and_grads(params, batch, grads)
        return loss, grads, correct / batch.T

    def record_chunked(self, params, batch, name: str = "logits", chunk: int = 256):
        """Activation ``name`` of every sequence of ``batch``, computed ``chunk`` at a time
        (no clamps; every position)."""
        return np.concatenate([self.forward(params, batch.subset(slice(s, s + chunk)), (name,),
                                            clamps=None, full=True)[name]
                               for s in range(0, len(batch), chunk)])


def check_lm_config(net, T: int) -> None:
    """A language model over sequences of length ``T``: positions cover T and every position
    has a loss (one-line ConfigErrors otherwise)."""
    if net.positions != "none" and net.max_len < T:
        raise ConfigError("model.max_len", net.max_len, f"must be ≥ task.T={T}")
    if net.loss_positions is not None:
        raise ConfigError("model.loss_positions", net.loss_positions,
                          "must be null (a language model: a loss at every position)")


def ce_acc(logits, targets, mask=None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over the positions with a target (and ``mask``)."""
    m = targets >= 0
    if mask is not None:
        m &= mask
    lg = logits[m].astype(np.float64)
    t = targets[m].astype(np.int64)
    z = lg - lg.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1))
    return float((lse - z[np.arange(len(t)), t]).mean()), float((lg.argmax(1) == t).mean())


class TaskData:
    """The training layer's Data: a task's batches, and its evaluation data built once."""

    def __init__(self, task):
        self.task = task

    def batch(self, step, out=None):
        return self.task.batch(step)

    def eval_data(self):
        return self.task.eval_data()


def check_sections(cfg, task_cls) -> None:
    """The run config's task, model, optim, train and seeds have their types (one-line
    ConfigErrors otherwise)."""
    from ..config import Seeds
    from ..training.config import OptimConfig, TrainConfig
    from ..transformer import TransformerConfig
    for name, cls in (("task", task_cls), ("model", TransformerConfig), ("optim", OptimConfig),
                      ("train", TrainConfig), ("seeds", Seeds)):
        if not isinstance(getattr(cfg, name), cls):
            raise ConfigError(name, getattr(cfg, name), f"must be a {cls.__name__}")
