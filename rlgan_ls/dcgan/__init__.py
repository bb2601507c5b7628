"""DCGAN with label smoothing: models, data, the evaluation classifier, the trainer and its CLI.

The objective comes from the shared loss core (:mod:`rlgan_ls.losses`); this package owns the
architecture, the data, scheduling and I/O.
"""

from .config import GANConfig
from .data import ImageData, load_dataset
from .loss import GANLoss
from .models import Discriminator, Generator

__all__ = ["Discriminator", "GANConfig", "GANLoss", "Generator", "ImageData", "load_dataset"]
