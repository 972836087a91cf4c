r"""Freed memory kept for reuse: every training step allocates the same large
temporaries (the propagation's layers and their gradients, Adam's
intermediate tensors), and glibc's default returns the freed pages to the
system, so that the next step faults every page in again (zero-filled by
the kernel) before it writes it. On the Amazon-Beauty LightGCN epoch (one
thread) those page faults are the largest part of the time the profile
files under "elementwise" and "fill".

:func:`reuse_freed_memory` sets glibc's :obj:`M_MMAP_THRESHOLD` (blocks up
to 32 MiB come from the heap, not from their own mapping) and
:obj:`M_TRIM_THRESHOLD` (free memory at the top of the heap is given back
only beyond 1 GiB) with :obj:`mallopt`, as the environment variables
:obj:`MALLOC_MMAP_THRESHOLD_` and :obj:`MALLOC_TRIM_THRESHOLD_` would.
It changes no value, only where tensors' memory comes from; the process
keeps up to its peak memory (and at most :obj:`trim` bytes more free) until
it ends. Elsewhere than on glibc it does nothing. The :obj:`run.reuse_memory`
setting (default on) calls it when a run starts.
"""
import ctypes
import ctypes.util
import sys
from typing import Optional

#: mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: the largest M_MMAP_THRESHOLD glibc accepts on 64-bit systems
MMAP_THRESHOLD_MAX = 32 << 20


def _libc() -> Optional[ctypes.CDLL]:
    if not sys.platform.startswith('linux'):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    except OSError:
        return None
    return libc if hasattr(libc, 'mallopt') else None  # not musl


def reuse_freed_memory(mmap_threshold: int = MMAP_THRESHOLD_MAX,
                       trim: int = 1 << 30) -> bool:
    r"""Keeps freed memory of this process for reuse (see the module
    documentation).

    Args:
        mmap_threshold (int, optional): Blocks up to this many bytes come
            from the heap. (default: :obj:`32 MiB`, glibc's maximum)
        trim (int, optional): Free bytes at the top of the heap beyond
            which glibc gives memory back. (default: :obj:`1 GiB`)

    Returns :obj:`True` when glibc accepted both settings."""
    libc = _libc()
    if libc is None:
        return False
    mmap_threshold = min(int(mmap_threshold), MMAP_THRESHOLD_MAX)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and \
        bool(libc.mallopt(M_TRIM_THRESHOLD, min(int(trim), 2**31 - 1)))
