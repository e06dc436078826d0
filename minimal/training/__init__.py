"""The one training layer every model family uses: configs, the model/learner protocol,
optimisers and the loop (docs/architecture.md, "Training layer")."""

from .config import OptimConfig, TrainConfig
from .gradient import GradientLearner
from .loop import RESUMABLE_CHANGES, TrainResult, resume_config, run_learner
from .optim import make_optimizer
from .protocol import Data, Evaluator, Learner, Model, StepStats

__all__ = ["OptimConfig", "TrainConfig", "GradientLearner", "TrainResult", "run_learner",
           "resume_config", "RESUMABLE_CHANGES", "make_optimizer", "Data", "Evaluator",
           "Learner", "Model", "StepStats"]
