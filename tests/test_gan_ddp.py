"""DDP with 2 gloo processes on CPU: gradients are averaged across ranks, only rank 0 writes, and a
killed run resumes to the same result.

Oracles: the first step recomputed by hand in this process (each rank's D and G gradients come from
its own shard of the data and its own noise; DDP must apply Adam to their average, so both ranks end
with the same parameters as a single optimizer fed the mean gradient); and, for resume, the same run
trained without interruption.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp
from helpers import checkpoint, tiny_gan_config, torchrun_one_process
from safetensors.torch import load_file, save_file

from rlgan_ls.dcgan.config import GANConfig
from rlgan_ls.dcgan.loss import GANLoss
from rlgan_ls.dcgan.models import Discriminator, Generator
from rlgan_ls.runs import Run
from rlgan_ls.seeding import Seeds

WORLD = 2


def _config(logdir: str) -> GANConfig:
    return tiny_gan_config(steps=3, eval_samples=64, eval_every=100, device="cpu", logdir=logdir, run_name="ddp",
                           seed=5)


def _join(rank: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)


def _worker(rank: int, port: int, logdir: str, out: str) -> None:
    _join(rank, port)
    from rlgan_ls.dcgan import GANStep, train_gan

    record: dict[str, torch.Tensor] = {}
    original = GANStep.__call__

    def spy(self: GANStep, real: torch.Tensor) -> dict[str, torch.Tensor]:
        first = not record
        if first:
            record["real"] = real.clone()
        metrics = original(self, real)
        if first:  # parameters right after step 1
            record.update({f"step1/G/{k}": v.detach().clone() for k, v in self.state.G.named_parameters()})
            record.update({f"step1/D/{k}": v.detach().clone() for k, v in self.state.D.named_parameters()})
        return metrics

    GANStep.__call__ = spy  # type: ignore[method-assign]
    result = train_gan(_config(logdir))
    record.update({f"final/G/{k}": v.detach() for k, v in result.G.named_parameters()})
    record.update({f"final/D/{k}": v.detach() for k, v in result.D.named_parameters()})
    save_file({k: v.contiguous() for k, v in record.items()}, os.path.join(out, f"rank{rank}.safetensors"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mean_grad_step(model: torch.nn.Module, losses: list, lr: float) -> None:
    """Adam's first step on the mean of per-rank gradients (what DDP + Adam must produce)."""
    grads = [torch.autograd.grad(loss, list(model.parameters())) for loss in losses]
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))
    for p, *gs in zip(model.parameters(), *grads):
        p.grad = torch.stack(gs).mean(0)
    opt.step()


def test_two_gloo_ranks_average_gradients(tmp_path: Path) -> None:
    logdir, out = tmp_path / "runs", tmp_path / "out"
    out.mkdir()
    mp.spawn(_worker, args=(_free_port(), str(logdir), str(out)), nprocs=WORLD, join=True)
    r0, r1 = (load_file(out / f"rank{r}.safetensors") for r in range(WORLD))

    # The ranks trained on different images, yet hold identical parameters at every point.
    assert not torch.equal(r0["real"], r1["real"])
    for key in r0:
        if key.startswith(("step1/", "final/")):
            assert torch.equal(r0[key], r1[key]), key

    # Step 1 by hand: per-rank losses from the same initial weights, Adam on the mean gradient.
    cfg = _config(str(logdir))
    Seeds(cfg.seed).seed_global("weights")
    g = Generator(cfg.z_dim, 1, cfg.image_size, cfg.g_width)
    d = Discriminator(1, cfg.image_size, cfg.d_width)
    g0 = {k: v.clone() for k, v in g.named_parameters()}
    loss = GANLoss.from_config(cfg)
    per_rank = cfg.batch_size // WORLD
    zs = [torch.randn(per_rank, cfg.z_dim, 1, 1, generator=Seeds(cfg.seed, rank=r).torch("noise"))
          for r in range(WORLD)]
    fakes = [g(z) for z in zs]
    reals = [r0["real"], r1["real"]]
    _mean_grad_step(d, [loss.discriminator(d(x), d(f.detach()))[0] for x, f in zip(reals, fakes)], cfg.lr_d)
    for k, v in d.named_parameters():
        torch.testing.assert_close(r0[f"step1/D/{k}"], v.detach(), atol=1e-6, rtol=1e-5)
    _mean_grad_step(g, [loss.generator(d(f))[0] for f in fakes], cfg.lr_g)
    for k, v in g.named_parameters():
        torch.testing.assert_close(r0[f"step1/G/{k}"], v.detach(), atol=1e-6, rtol=1e-5)
        assert not torch.equal(v.detach(), g0[k]) or "bias" in k  # the step did move the weights

    # Only rank 0 wrote: one run directory with one event file, config, checkpoint and metrics.
    assert [p.name for p in logdir.iterdir()] == ["ddp"]
    run = logdir / "ddp"
    assert len(list(run.glob("events.out.tfevents.*"))) == 1
    assert Run(run).finished and Run(run).checkpoint_file.is_file()


def _resume_config(logdir: str, run_name: str) -> GANConfig:
    """Every per-rank random source matters here: label flips, DiffAugment and the noise."""
    return tiny_gan_config(steps=6, checkpoint_every=2, eval_every=100, smoothing="flip", augment="translation,cutout",
                           device="cpu", logdir=logdir, run_name=run_name, seed=2)


def _resume_worker(rank: int, ports: list[int], logdir: str) -> None:
    """Three runs in turn, each in its own process group: straight, killed after step 4, resumed."""
    import dataclasses

    from rlgan_ls.dcgan import GANStep, load_run_config, train_gan

    _join(rank, ports[0])
    train_gan(_resume_config(logdir, "straight"))

    _join(rank, ports[1])
    original, calls = GANStep.__call__, [0]

    def killed_at_step_5(self: GANStep, real: torch.Tensor) -> dict[str, torch.Tensor]:
        calls[0] += 1
        if calls[0] == 5:  # both ranks stop here, after the step-4 checkpoint
            raise KeyboardInterrupt
        return original(self, real)

    GANStep.__call__ = killed_at_step_5  # type: ignore[method-assign]
    try:
        train_gan(_resume_config(logdir, "killed"))
    except KeyboardInterrupt:
        pass
    GANStep.__call__ = original  # type: ignore[method-assign]
    run = os.path.join(logdir, "killed")
    assert checkpoint(run)["step"] == 4  # a failure fails spawn
    assert not Run(run).finished

    _join(rank, ports[2])
    train_gan(dataclasses.replace(load_run_config(run), steps=6), resume=run)


def test_killed_ddp_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    mp.spawn(_resume_worker, args=([_free_port() for _ in range(3)], str(tmp_path)), nprocs=WORLD, join=True)
    a, b = checkpoint(tmp_path / "straight"), checkpoint(tmp_path / "killed")
    assert a["step"] == b["step"] == 6
    ranks = a["rng"]["ranks"]
    assert len(ranks) == WORLD and not torch.equal(ranks[0]["noise"], ranks[1]["noise"])  # per-rank states differ
    for part in ("G", "D"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    for opt in ("opt_g", "opt_d"):
        for i, st in a[opt]["state"].items():
            for k, v in st.items():
                assert torch.equal(v, b[opt]["state"][i][k]), (opt, i, k)
    for r in range(WORLD):  # each rank continued from its own random states, not rank 0's
        for name in ("noise", "flip", "augment"):
            assert torch.equal(a["rng"]["ranks"][r][name], b["rng"]["ranks"][r][name]), (r, name)


def test_torchrun_with_one_process_trains_like_a_plain_run(tmp_path: Path) -> None:
    """One gloo rank under DDP averages over a world of one: the same parameters, bit for bit."""
    launched, plain = torchrun_one_process(tmp_path, "cpu")
    assert launched["step"] == plain["step"] == 4
    for part in ("G", "D"):
        for k in plain[part]:
            assert torch.equal(launched[part][k], plain[part][k]), (part, k)
