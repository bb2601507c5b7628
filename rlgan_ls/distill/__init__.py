"""Policy distillation with label-smoothed action targets: teachers, students, rollouts, BC and DAgger.

Python API::

    from rlgan_ls.distill import DistillConfig, distill
    result = distill(DistillConfig.from_recipe("CartPole-v1", method="dagger", alpha=0.1, seed=0),
                     teacher=lambda obs: (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(int))

``teacher`` may be a Stable-Baselines3 model, any callable ``obs -> action probabilities or
actions``, or omitted: the env recipe's cached teacher, trained first (announced, minutes) when it is
missing, unless ``DistillConfig.train_teacher`` is false.
"""

from .config import DistillConfig
from .objective import DistillLoss
from .students import CNNStudent, MLPStudent, StudentSpec, load_run, load_student
from .teachers import CallableTeacher, Labels, SB3Teacher, Teacher, load_sb3_teacher
from .trainer import DistillResult, distill

__all__ = [
    "CNNStudent",
    "CallableTeacher",
    "DistillConfig",
    "DistillLoss",
    "DistillResult",
    "Labels",
    "MLPStudent",
    "SB3Teacher",
    "StudentSpec",
    "Teacher",
    "distill",
    "load_run",
    "load_sb3_teacher",
    "load_student",
]
