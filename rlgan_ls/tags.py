"""The one vocabulary of TensorBoard tags and ``metrics.json`` keys.

Both trainers log under these names and ``compare`` reads them back; nothing else spells a tag.
Namespaces follow CleanRL's convention: ``charts/`` and ``time/`` for throughput, ``loss/`` for the
objective's terms, ``eval/`` for held-out measurements, one namespace per pipeline for the rest.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["distill", "gan"]
KINDS: tuple[Kind, ...] = ("distill", "gan")
TASK_KEY: dict[Kind, str] = {"distill": "env", "gan": "dataset"}
"""The config field (and, as ``--<field>``, the flag) that names a run's task, per pipeline."""
"""The pipelines; each run writes its kind into ``config.json`` as ``"kind"``."""

# ----------------------------------------------------------------------------- both pipelines
SPS = "charts/SPS"
"""Throughput: environment steps per second (distillation), training steps per second (GAN)."""
WALL_S = "time/wall_s"
"""Seconds of training (a resumed GAN run adds up its sessions)."""

# ------------------------------------------------------------------------------- distillation
ENTROPY = "explore/entropy"
"""The headline: mean entropy (nats) of the student's policy on the states it visited, mean over action dimensions."""
ENTROPY_DIM = "explore/entropy_dim/"
"""Prefix of the per-dimension entropies (several action dimensions only)."""
LOSS_TOTAL = "loss/total"
LOSS_CE_TEACHER = "loss/ce_teacher"
"""CE(teacher target, student): the imitation term."""
LOSS_KL_UNIFORM = "loss/kl_uniform"
"""KL(uniform || student): the entropy-regularisation term of uniform smoothing."""
LOSS_KL_PRIOR = "loss/kl_prior"
"""KL(prior || student) for the configured prior (equals ``loss/kl_uniform`` for the uniform one)."""
RETURN_MEAN = "eval/return_mean"
RETURN_STD = "eval/return_std"
RETURN_VS_TEACHER = "eval/return_vs_teacher"
NORMALIZED_RETURN = "eval/normalized_return"
"""(student - random) / (teacher - random): 1 is the teacher, 0 a uniformly random policy (any sign of return)."""
TEACHER_RETURN = "teacher/return_mean"
RANDOM_RETURN = "random/return_mean"
"""Mean return of a uniformly random policy on the env (measured once, cached with the teachers)."""
ACTION_ERROR = "distill/action_error"
"""Box actions: mean |student's greedy action - teacher's action| in the env's units."""
AGREEMENT = "distill/agreement"
KL_TEACHER_STUDENT = "distill/kl_teacher_student"
ECE = "distill/ece"
DAGGER_BETA = "dagger/beta"
DAGGER_TEACHER_FRACTION = "dagger/teacher_fraction"
DAGGER_DATASET_SIZE = "dagger/dataset_size"
ROLLOUT_RETURN = "rollout/episode_return_mean"
VIDEO = "eval/video"
"""An animation of the greedy student (``rlgan-ls evaluate --video``), in TensorBoard's Images tab."""
ENV_STEPS = "train/env_steps"
DATASET_SIZE = "train/dataset_size"


def per_task(tag: str, task: str) -> str:
    """A distillation tag of one task of a multi-task run: ``eval/normalized_return`` ->
    ``eval/<task>/normalized_return`` (the run's own ``eval/normalized_return`` is the tasks' geometric mean)."""
    namespace, _, name = tag.partition("/")
    return f"{namespace}/{task}/{name}"


# ------------------------------------------------------------------------------------------ GAN
LOSS_D = "loss/discriminator"
LOSS_G = "loss/generator"
D_REAL = "d/real"
"""Mean D(x) on real images: capped near 1 - alpha by one-sided smoothing."""
D_FAKE = "d/fake"
D_FAKE_AFTER = "d/fake_after_update"
"""Mean D(G(z)) through the just-updated discriminator (what the generator step sees)."""
GRAD_D = "grad_norm/discriminator"
GRAD_G = "grad_norm/generator"
"""The headline: L2 norm of the generator's gradient, every step."""
GRAD_G_MEAN = "grad_norm/generator_mean"
"""Run mean of ``grad_norm/generator`` (the number a comparison reports)."""
GRAD_G_LAYER = "grad_norm/generator_layer/"
"""Prefix of the per-layer generator gradient norms."""
FD = "eval/fd"
FD_START = "eval/fd_start"
FD_DROP = "eval/fd_drop"
CLASS_COVERAGE = "eval/class_coverage"
CLASS_KL = "eval/class_kl"
CONFIDENT_FRAC = "eval/confident_frac"
MODES = "eval/modes"
"""Stacked MNIST: how many of the 1000 modes the generated samples hit (at least once, PacGAN's count)."""
MODES_ROBUST = "eval/modes_robust"
"""Stacked MNIST: modes holding at least k of the N samples (k = max(1, ceil(N / 3000))), a count that the
classifier's misreads cannot inflate (:mod:`rlgan_ls.dcgan.evaluation`)."""
MODE_KL = "eval/mode_kl"
"""Stacked MNIST: KL(generated mode histogram || uniform over the 1000 modes), nats."""
CLASSIFIER_ACCURACY = "eval/classifier_accuracy"
SAMPLES = "samples"
"""Image tag of the sample grid from fixed noise."""
STEP = "step"

# ------------------------------------------------------------------------------ what compare shows
CURVES: dict[Kind, tuple[str, ...]] = {
    "distill": (ENTROPY, RETURN_MEAN, LOSS_KL_UNIFORM),
    "gan": (GRAD_G, D_REAL, FD),
}
"""Curves plotted per alpha (mean and band over seeds)."""
TABLE: dict[Kind, tuple[str, ...]] = {
    "distill": (ENTROPY, NORMALIZED_RETURN, RETURN_MEAN, RETURN_STD, ACTION_ERROR, LOSS_KL_UNIFORM, LOSS_CE_TEACHER,
                AGREEMENT, KL_TEACHER_STUDENT, ECE),
    "gan": (GRAD_G_MEAN, D_REAL, D_FAKE, FD, MODES, MODES_ROBUST, MODE_KL, CLASS_COVERAGE, CLASS_KL, LOSS_D, LOSS_G),
}
"""Final values tabulated per alpha (from ``metrics.json``)."""
LAYOUT: dict[Kind, tuple[str, ...]] = {
    "distill": TABLE["distill"],
    "gan": (GRAD_G, D_REAL, D_FAKE, FD, MODES, MODES_ROBUST, MODE_KL, CLASS_COVERAGE, CLASS_KL, LOSS_D, LOSS_G),
}
"""Tags that TensorBoard's custom-scalars layout draws for every run in one chart each."""
INTERVALS: dict[Kind, tuple[str, ...]] = {
    "distill": (NORMALIZED_RETURN, ENTROPY, ACTION_ERROR),
    "gan": (GRAD_G_MEAN, D_REAL, FD, MODES_ROBUST, MODES, CLASS_COVERAGE),
}
"""The metrics the report leads with: IQM and its interval per alpha, and the probability of improvement."""
CROSS_TASK: dict[Kind, tuple[str, ...]] = {
    "distill": (NORMALIZED_RETURN, ENTROPY, AGREEMENT, KL_TEACHER_STUDENT, ECE),
    "gan": (D_REAL, D_FAKE),
}
"""Metrics on one scale whatever the task, so a study may pool them over tasks (returns only once normalized)."""
BETTER: dict[str, int] = {
    NORMALIZED_RETURN: 1, RETURN_MEAN: 1, RETURN_VS_TEACHER: 1, ENTROPY: 1, AGREEMENT: 1, ACTION_ERROR: -1,
    KL_TEACHER_STUDENT: -1, ECE: -1, GRAD_G_MEAN: 1, FD: -1, CLASS_COVERAGE: 1, CLASS_KL: -1, MODES: 1, MODE_KL: -1,
    MODES_ROBUST: 1,
}
"""+1 where larger is better, -1 where smaller is (for the probability of improvement); for entropy, larger
is the effect smoothing is meant to have (a more exploratory student)."""
HPARAM_METRICS: dict[Kind, tuple[str, ...]] = {
    "distill": (NORMALIZED_RETURN, RETURN_MEAN, ENTROPY),
    "gan": (FD, MODES, MODES_ROBUST, CLASS_COVERAGE, D_REAL, GRAD_G_MEAN),
}
"""Metrics the HParams tab lists beside each run's settings."""
