"""Keep the classifier's resident memory near what it uses: glibc otherwise keeps freed activation buffers."""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Allocations from this size up get their own pages, which go back to the system when freed.
MMAP_FROM_BYTES = 128 * 1024


#: oneDNN (torch's CPU matmul library) keeps each compiled kernel, one per matrix shape, 1,024 of them by default.
#: With batches of every token length that cache grew peak RSS in `brandmon bench classify` by about 150 MiB.
KERNEL_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "DNNL_PRIMITIVE_CACHE_CAPACITY")
#: Kernels kept: a batch of tweets makes about a dozen shapes; 8 and 64 ran at the same speed as 1,024.
KERNEL_CACHE_CAPACITY = 32


def limit_kernel_cache(capacity: int = KERNEL_CACHE_CAPACITY) -> bool:
    """Cap oneDNN's cache of compiled kernels at `capacity` unless the environment sets it; return whether set.

    oneDNN reads the variable when the process first runs one of its kernels, so this only takes effect before the
    first matrix multiply (a classifier built later in a process that already ran one keeps the old capacity).
    """
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    if any(name in os.environ for name in KERNEL_CACHE_VARIABLES):
        return False
    for name in KERNEL_CACHE_VARIABLES:
        os.environ[name] = str(capacity)
    return True


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # musl or another C library: nothing to tune
        return None
    return libc if hasattr(libc, "mallopt") else None


def release_freed_memory_promptly() -> bool:
    """Make glibc return large freed blocks at once, for the whole process; return whether it applied.

    Each batch allocates and frees activation buffers of tens of MiB; with glibc's adaptive thresholds they stay
    in the heap, and peak RSS in `brandmon bench classify` grew by about 190 MiB over 640 posts. With a fixed
    threshold it stays flat.
    """
    libc = _libc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_FROM_BYTES))
    return bool(libc.mallopt(_M_TRIM_THRESHOLD, MMAP_FROM_BYTES)) and ok


def trim() -> None:
    """Give the heap's free pages back to the system now (after loading, for instance)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
