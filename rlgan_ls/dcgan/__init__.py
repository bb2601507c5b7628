"""DCGAN with label smoothing: models, data, the training state and step, evaluation, and ``train_gan``.

Python API::

    from rlgan_ls.dcgan import GANConfig, sample, train_gan
    result = train_gan(GANConfig(dataset="digits", alpha=0.1, smoothing="one-sided", steps=2000))
    result.run_dir, result.metrics["grad_norm/generator_mean"], result.G
    images = sample(result.run_dir, n=1000)  # uint8 (1000, C, S, S): the run's evaluation images
    score(images, "digits")  # {"eval/fd": ..., ...}: any images, scored as a run on the dataset scores its own

The objective comes from the shared loss core (:mod:`rlgan_ls.losses`); this package owns the
architecture, the data, scheduling and I/O.
"""

from .config import GANConfig
from .data import ImageData, load_dataset
from .loss import GANLoss
from .models import Discriminator, Generator
from .sampling import export_generator, load_generator, sample
from .scoring import score
from .state import GANState, load_run_config
from .step import GANStep
from .train import GANResult, train_gan

__all__ = ["Discriminator", "GANConfig", "GANLoss", "GANResult", "GANState", "GANStep", "Generator", "ImageData",
           "export_generator", "load_dataset", "load_generator", "load_run_config", "sample", "score",
           "train_gan"]
