"""Keep the process's resident memory close to what it actually uses.

glibc's malloc serves a large allocation with its own mmap, returned to the
system when freed -- but each time such a block is freed it raises that
threshold to the block's size (up to 32 MiB).  After the first large message,
message-sized buffers (25 MB bodies, their copies during inspection) come
from the heap instead, whose freed space is kept and fragmented: resident
memory climbs to several times what is live.  `tune_malloc` fixes the
threshold (which also turns the adjustment off): blocks from 256 KiB up are
mapped and unmapped on their own; smaller allocations are served as before.

An operator's own MALLOC_MMAP_THRESHOLD_ in the environment is left alone;
on other C libraries this does nothing.

Memory freed in the middle of malloc's heap stays resident: glibc returns
only the heap's top to the system.  SQLite's page cache is such memory (a
page is 16 KiB, under the threshold): a 25 MB content written or read
through it leaves 25 MB of pages, which `PRAGMA shrink_memory` frees but
the heap keeps.  `give_back_free_memory` (`malloc_trim`) returns the free
pages of every heap; the queue's Writer calls it after a batch that moved
a large content (gateway.queue.writer).

`tune_gc` is for the interpreter's cycle collector, once the gateway has
started: what start-up built (modules, compiled patterns, the schema, the
recipients) lives as long as the process, yet every full collection walked
all of it again -- 60-80 ms each, on the event loop, every second or two
under load.  Frozen, it is left out of every collection.  The first
generation is collected after 10,000 new objects rather than 700: a
message's objects are mostly freed by reference counting within
milliseconds, and with the default most of them were still alive at a
collection and so moved to an older generation, to be walked again there.
Measured on the relay at 2 KB: the collector's time fell from 0.59 s to
0.06 s in a 13 s run.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys

__all__ = ["give_back_free_memory", "tune_gc", "tune_malloc"]

GC_FIRST_GENERATION = 10_000  # new objects between two collections (Python: 700)
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 256 * 1024


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold; True when it was set."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (glibc only)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold))


def give_back_free_memory() -> bool:
    """Return the heaps' free pages to the system; True when the C library
    has the call (glibc), whether or not there was anything to return."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)  # 1 when it returned memory, 0 when there was none to return
    return True


def tune_gc(first_generation: int = GC_FIRST_GENERATION) -> None:
    """Freeze what start-up built and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(first_generation, older, oldest)
