"""Keep glibc from handing big tensor buffers back to the OS between training steps.

glibc ``malloc`` serves every request above a threshold (128 KiB at start, adjusted up to 32 MiB)
with a fresh ``mmap`` and returns it with ``munmap`` on free, and it trims the heap top whenever more
than 128 KiB lies free there. A CNN training step on the CPU allocates and frees activations and
gradients of several MiB each, so every step touches new pages and pays a page fault per 4 KiB:
profiled on a DCGAN step, element-wise kernels on 16 MiB tensors ran 5-10x slower than their
memory bandwidth allows. Raising both thresholds keeps the freed buffers in the heap for reuse, which
is what PyTorch's CUDA caching allocator does on the GPU and what Intel's PyTorch CPU tuning guide
gets by preloading jemalloc or tcmalloc. The cost: the process keeps its peak memory until it exits.

``RLGAN_LS_MALLOC=system`` leaves glibc's defaults alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["keep_freed_memory"]

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 << 20  # the largest value glibc accepts on 64-bit (HEAP_MAX_SIZE / 2)
_TRIM_THRESHOLD = 1 << 30

_done = False


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; ``True`` when they are in effect.

    Does nothing (and returns ``False``) off Linux, on a libc without ``mallopt`` or when
    ``RLGAN_LS_MALLOC=system``.
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("RLGAN_LS_MALLOC", "") == "system":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return _done
