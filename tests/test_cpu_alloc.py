"""The allocator setting of ``rlgan-ls gan`` on the CPU: big freed buffers stay in the heap."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest


def _has_mallinfo2() -> bool:
    try:
        return sys.platform == "linux" and hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc >= 2.33 (mallinfo2)")

# In a fresh process: glibc's counters before, while and after a 24 MiB tensor lives, in MiB.
# hblkhd = bytes in mmap-ed blocks; arena = bytes of heap the process holds.
_SCRIPT = """
import ctypes, json, torch
from rlgan_ls.cpu_alloc import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
tuned = keep_freed_memory()
info = lambda: {k: getattr(libc.mallinfo2(), k) / 2**20 for k in ("arena", "hblkhd")}
before = info()
x = torch.ones(6 << 20)
live = info()
del x
print(json.dumps({"tuned": tuned, "before": before, "live": live, "freed": info()}))
"""


def _run(env_value: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RLGAN_LS_MALLOC"}
    if env_value is not None:
        env["RLGAN_LS_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_big_buffers_come_from_the_heap_and_stay_there() -> None:
    r = _run(None)
    assert r["tuned"]
    assert r["live"]["hblkhd"] - r["before"]["hblkhd"] < 1  # not an mmap of its own
    assert r["live"]["arena"] - r["before"]["arena"] >= 24  # carved from the heap ...
    assert r["freed"]["arena"] >= r["live"]["arena"]  # ... and kept there after free (no trim)


def test_system_setting_leaves_glibc_defaults() -> None:
    r = _run("system")
    assert not r["tuned"]
    # glibc's default: a fresh process serves 24 MiB with its own mmap and unmaps it on free.
    assert r["live"]["hblkhd"] - r["before"]["hblkhd"] >= 24
    assert r["freed"]["hblkhd"] - r["before"]["hblkhd"] < 1
