"""One DCGAN training step: ``--d-steps`` discriminator updates, then a generator update through the updated D.

The step owns how the models run (DDP, ``torch.compile``, bf16 autocast, DiffAugment); the state
(:class:`~rlgan_ls.dcgan.state.GANState`) owns what they are; the objective
(:class:`~rlgan_ls.dcgan.loss.GANLoss`) owns what they minimise. A step returns its metrics as 0-dim
device tensors: nothing here waits for the device.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel as DDP

from .. import tags
from ..metrics import grad_norm
from .augment import augment
from .config import GANConfig
from .distributed import DistInfo
from .loss import GANLoss
from .state import GANState

__all__ = ["GANStep"]


class GANStep:
    """``step(real)`` runs ``cfg.d_steps`` D updates, one on each batch of ``real`` ``(d_steps * B, C, S, S)``
    (the step's batches of the data order, concatenated) with fresh noise each, then one G update through
    the last D update's generated images; it returns ``loss/*``, ``d/*`` and ``grad_norm/*`` (of the last D
    update and of the G update) as 0-dim device tensors.

    Args:
        cfg: the resolved run config (precision, compile, augmentation, loss).
        state: the models, optimizers and random sources it updates in place.
        info: this process's rank and device; under DDP the models are wrapped here.
    """

    def __init__(self, cfg: GANConfig, state: GANState, info: DistInfo) -> None:
        self.state, self.device, self.z_dim, self.d_steps = state, info.device, cfg.z_dim, cfg.d_steps
        self.use_bf16 = cfg.precision == "bf16"
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.augment_policy = cfg.augment_policy
        self.loss = GANLoss.from_config(cfg, state.rng.flip)
        g: nn.Module = state.G
        d: nn.Module = state.D
        if info.enabled:
            ids = [info.device.index] if info.device.type == "cuda" else None
            g, d = DDP(g, device_ids=ids), DDP(d, device_ids=ids)
        self.d_ddp = d
        self.g_run = torch.compile(g) if cfg.compile else g
        self.d_run = torch.compile(d) if cfg.compile else d

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16)

    def _augment(self, x: Tensor) -> Tensor:
        """DiffAugment (``--augment``) of a batch on its way into D; the identity when it is off."""
        if not self.augment_policy:
            return x
        return augment(x, self.augment_policy, self.state.rng.augment).contiguous(memory_format=self.memory_format)

    def _d_update(self, real: Tensor, keep_graph: bool) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """One D update on ``real`` against G's images of fresh noise: those images (with G's graph when
        ``keep_graph``: the G update goes through them), D's loss terms and D's gradient norm."""
        s = self.state
        z = torch.randn(real.shape[0], self.z_dim, 1, 1, device=self.device, generator=s.rng.noise)
        with self._autocast():
            with contextlib.nullcontext() if keep_graph else torch.no_grad():
                fake = self.g_run(z)  # (B, C, S, S)
            real_logits = self.d_run(self._augment(real))  # (B,)
            fake_logits = self.d_run(self._augment(fake.detach()))  # (B,)
            loss_d, d_parts = self.loss.discriminator(real_logits, fake_logits)
        s.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        gn_d = grad_norm(s.D)
        s.opt_d.step()
        return fake, d_parts, gn_d

    def __call__(self, real: Tensor) -> dict[str, Tensor]:
        s = self.state
        if real.shape[0] % self.d_steps:
            raise ValueError(f"GANStep: {real.shape[0]} real images do not split into {self.d_steps} equal batches")
        batches = real.chunk(self.d_steps) if self.d_steps > 1 else (real,)
        for i, batch in enumerate(batches):  # --d-steps D updates; the last one's images feed the G update
            fake, d_parts, gn_d = self._d_update(batch, keep_graph=i == len(batches) - 1)

        # G step through the updated D. Only G's parameters receive gradients (inputs=...), so D's
        # weight gradients are never computed; under DDP, D must not wait for a gradient all-reduce.
        no_sync = self.d_ddp.no_sync() if isinstance(self.d_ddp, DDP) else contextlib.nullcontext()
        with no_sync:
            with self._autocast():
                after_logits = self.d_run(self._augment(fake))  # (B,)
                loss_g, g_parts = self.loss.generator(after_logits)
            s.opt_g.zero_grad(set_to_none=True)
            loss_g.backward(inputs=list(s.G.parameters()))
        gn_g = grad_norm(s.G)
        s.opt_g.step()
        return {**d_parts, **g_parts, tags.GRAD_D: gn_d, tags.GRAD_G: gn_g}
