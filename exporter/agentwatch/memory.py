"""Process memory: keep the large, short-lived blocks of a poll out of the long-lived heap.

A full resync allocates big blocks that live for a moment (a 1 MB page of issues, the rendered
exposition of 12 MB). glibc serves the first ones with their own ``mmap`` and returns them to the
system when freed, but then raises its mmap threshold to the largest block freed so far (up to
32 MiB), so that the following ones come from the heap, which they fragment and keep large: about
30 MB more peak RSS at 100k issues (docs/benchmarks.md). Fixing the threshold turns that off.
Each such block then costs page faults as the system maps it in, so the one that recurs most, the
body of each response (110 pages of issues in a full resync), is read into a buffer that each
polling thread keeps (``source/http.py``): a full resync at 100k issues takes 23k page faults
rather than 85k.

A poll also allocates some hundred thousand container objects (rows, tuples, lists) that live
until the next poll. With CPython's default first-generation threshold of 700 allocations, the
cyclic garbage collector runs hundreds of times during one poll over objects that are not garbage:
about a tenth of a poll's CPU at 100k issues. A threshold of 10,000 keeps that to a few passes;
reference counting still frees everything that is not in a cycle at once.
"""

from __future__ import annotations

import ctypes
import gc

M_MMAP_THRESHOLD = -3  # mallopt parameter, glibc <malloc.h>
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own initial value
GC_THRESHOLDS = (10_000, 10, 10)  # CPython's defaults: (700, 10, 10)


def setup() -> None:
    """Set a long-running poller's process up: the mmap threshold and the collector's thresholds."""
    fix_mmap_threshold()
    gc.set_threshold(*GC_THRESHOLDS)


def fix_mmap_threshold(nbytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``nbytes``; False where the C library is not glibc (musl's
    ``mallopt`` does nothing and says so)."""
    try:
        return bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, nbytes))
    except (OSError, AttributeError):
        return False
