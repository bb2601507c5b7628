"""Atomic JSON, safetensors checkpoints (never a pickle), TensorBoard scalars and hparams in the run's own dir."""

import json
import random

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlgan_ls.errors import UsageError
from rlgan_ls.events import RunLogger
from rlgan_ls.storage import load_checkpoint, read_json, save_checkpoint, write_json


def test_checkpoint_round_trip_of_model_optimizer_and_rng(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {"model": net.state_dict(), "optim": opt.state_dict(), "rng": torch.get_rng_state(),
             "py_rng": random.getstate(), "step": 7, "note": None}
    save_checkpoint(tmp_path / "ckpt.safetensors", state)
    loaded = load_checkpoint(tmp_path / "ckpt.safetensors")
    assert loaded["step"] == 7 and loaded["note"] is None
    assert torch.equal(loaded["rng"], torch.get_rng_state())
    assert loaded["py_rng"] == random.getstate()
    for k, v in net.state_dict().items():
        assert torch.equal(loaded["model"][k], v)
    opt2 = torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    opt2.load_state_dict(loaded["optim"])  # int keys and tuples survive the round trip
    assert opt2.state_dict()["param_groups"][0]["betas"] == (0.5, 0.999)
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert not list(tmp_path.glob(".*.tmp"))  # the temp file was renamed away


def test_corrupt_or_missing_checkpoint_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header at all")
    with pytest.raises(UsageError, match="corrupt"):
        load_checkpoint(bad)
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, {"w": torch.ones(100)})
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-50])
    with pytest.raises(UsageError, match="corrupt"):
        load_checkpoint(truncated)


def test_write_json_is_atomic_and_readable(tmp_path):
    write_json(tmp_path / "m.json", {"eval/return_mean": torch.tensor(3.5), "alpha": 0.1})
    assert read_json(tmp_path / "m.json") == {"alpha": 0.1, "eval/return_mean": 3.5}
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(UsageError, match="not valid JSON"):
        read_json(tmp_path / "broken.json")


def test_logger_reads_device_tensors_once_and_writes_hparams_into_the_run_dir(tmp_path):
    with RunLogger(tmp_path) as log:
        out = log.scalars({"a": torch.tensor(1.5), "b": 2, "c": torch.tensor([3.0])}, step=1)
        log.scalars({"a": torch.tensor(2.5)}, step=2)
        log.hparams({"alpha": 0.1, "env": "CartPole-v1"}, {"a": 2.5})
    assert out == {"a": 1.5, "b": 2.0, "c": 3.0}
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []  # no sub-run directory
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert [e.value for e in acc.Scalars("a")] == [1.5, 2.5]
    plugin = acc.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in plugin
    assert b"CartPole-v1" in plugin["_hparams_/session_start_info"]
    assert json.loads(json.dumps(out))  # plain floats
