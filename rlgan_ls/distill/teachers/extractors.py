"""Stable-Baselines3 feature extractors of the suite, for teachers on small frames.

SB3's ``NatureCNN`` starts with an 8x8 stride-4 convolution, which does not fit MinAtar's 10x10 planes.
:class:`SmallCNN` is the students' ``small-cnn`` trunk (two 3x3 convolutions) and one dense layer; an env
recipe names it in ``policy_kwargs`` (``features_extractor_class = "rlgan_ls.distill.teachers.extractors.
SmallCNN"``), and a teacher zip that names it is rebuilt from this class, never unpickled.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import Tensor, nn

from ..students import conv_trunk

__all__ = ["SmallCNN"]


class SmallCNN(BaseFeaturesExtractor):
    """``(B, C, H, W)`` frames (SB3 has scaled them to [0, 1]) -> ``features_dim`` ReLU features.

    Args:
        observation_space: a channels-first image Box.
        features_dim: width of the dense layer after the convolutions.
        channels: channels of the first convolution (the second has twice as many).
    """

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 256, channels: int = 16) -> None:
        super().__init__(observation_space, features_dim)
        shape = observation_space.shape
        assert shape is not None and len(shape) == 3, "SmallCNN takes (C, H, W) frames"
        self.cnn = conv_trunk("small-cnn", shape[0], channels)
        with torch.no_grad():
            n_flat = self.cnn(torch.zeros(1, *shape)).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flat, features_dim), nn.ReLU())

    def forward(self, observations: Tensor) -> Tensor:
        return self.linear(self.cnn(observations))
