"""A teacher zip that carries a pickle payload never runs it unless the user says --trust-teacher.

Oracle: the same zip loaded with Stable-Baselines3's own ``PPO.load`` writes the marker file, so the
payload is real; through rlgan-ls (``--teacher PATH`` or the teacher cache) the marker never appears.
"""

from __future__ import annotations

import base64
import json
import pickle
import zipfile
from pathlib import Path

import pytest
from helpers import TINY_DISTILL_FLAGS
from stable_baselines3 import PPO

from rlgan_ls.cli import main
from rlgan_ls.distill.envs import resolve_env
from rlgan_ls.distill.teachers.cache import TeacherRequest, sha256_of, teacher_path


class _Payload:
    """Unpickling this writes ``marker``: what a hostile zip would do with anything else."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('the pickle ran')",)


def _hostile_zip(path: Path, marker: Path, key: str) -> Path:
    """An untrained CartPole PPO saved by SB3, with ``key``'s pickle in ``data`` replaced by the payload."""
    clean = path.with_name("clean.zip")
    PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu", seed=0).save(clean)
    with zipfile.ZipFile(clean) as z:
        members = {name: z.read(name) for name in z.namelist()}
    data = json.loads(members["data"])
    entry = data.get(key) if isinstance(data.get(key), dict) else {":type:": "<class 'object'>"}
    entry[":serialized:"] = base64.b64encode(pickle.dumps(_Payload(marker))).decode()
    data[key] = entry
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    return path


def _distill(tmp_path: Path, *extra: str) -> int:
    return main(["distill", "--env", "CartPole-v1", "--logdir", str(tmp_path / "runs"), *TINY_DISTILL_FLAGS, *extra])


@pytest.mark.parametrize("key", ["policy_class", "surprise"])
def test_the_payload_is_real(tmp_path, key):
    marker = tmp_path / "marker"
    try:
        PPO.load(_hostile_zip(tmp_path / "t.zip", marker, key), device="cpu")
    except TypeError:  # the payload took the policy class's place
        assert key == "policy_class"
    assert marker.read_text() == "the pickle ran"


def test_a_rebuilt_entry_is_never_unpickled(tmp_path, capsys):
    marker = tmp_path / "marker"
    assert _distill(tmp_path, "--teacher", str(_hostile_zip(tmp_path / "t.zip", marker, "policy_class"))) == 0
    assert not marker.exists() and capsys.readouterr().err == ""


def test_an_entry_that_cannot_be_rebuilt_is_refused_unless_trusted(tmp_path, capsys):
    marker = tmp_path / "marker"
    zip_path = _hostile_zip(tmp_path / "t.zip", marker, "surprise")
    assert _distill(tmp_path, "--teacher", str(zip_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'surprise'" in err[0] and "--trust-teacher" in err[0]
    assert not marker.exists() and not (tmp_path / "runs").exists()  # nothing written
    assert _distill(tmp_path, "--teacher", str(zip_path), "--trust-teacher") == 0  # the user's call
    assert marker.exists() and "--trust-teacher: unpickling" in capsys.readouterr().err


@pytest.mark.parametrize("sidecar_matches", [False, True])
def test_a_planted_cache_entry_is_refused_or_loaded_without_unpickling(tmp_path, capsys, sidecar_matches):
    marker, cache = tmp_path / "marker", tmp_path / "cache"
    path, _, _ = teacher_path(TeacherRequest(resolve_env("CartPole-v1"), root=cache))
    path.parent.mkdir(parents=True)
    clean = path.with_name("clean.zip")
    _hostile_zip(path, marker, "policy_class")
    recorded = sha256_of(path if sidecar_matches else clean)  # a cache entry whose zip was swapped, or both planted
    path.with_suffix(".json").write_text(json.dumps({"return_mean": 500.0, "return_std": 0.0, "episodes": 20,
                                                     "sha256": recorded}))
    rc = _distill(tmp_path, "--cache-dir", str(cache), "--no-train-teacher")
    err = capsys.readouterr().err
    assert not marker.exists()
    if sidecar_matches:
        assert rc == 0
    else:
        assert rc == 2 and "SHA-256 differs" in err and len(err.strip().splitlines()) == 1
