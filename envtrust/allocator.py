"""The C allocator of a scoring process: one heap, large blocks reused instead of mapped afresh.

Why: the engine works on panel-sized numpy temporaries (a dense air block's [48 stations x
2,544 hours x 12 parameters] is 11.7 MB; the neighbour gathers are several times that). glibc
serves blocks above its mmap threshold (dynamic, at most 32 MB) with a fresh mapping that is
unmapped when freed, trims the heap's top back to the kernel, and gives every thread its own
arena - so each temporary is faulted in page by page and zeroed by the kernel again. Scoring
demo air with two threads took 0.34 M minor faults and 3.2-4.3 s of system time for ~12 s of
user time; with one arena, a 256 MB mmap threshold and a 1 GB trim threshold 0.13 M faults and
1.5-1.9 s, and a 17 % lower peak RSS (benchmarks/results/score.md, session 11). The scores are
the same bits (only where the memory comes from changes).

NumPy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on every array of
4 MB or more; where the kernel's THP mode is ``madvise`` (Debian's and Ubuntu's default, and this
machine's, with ``defrag`` = ``madvise``), each first touch of such an array's 2 MB page may
compact memory in the fault path first. With the heap kept (above), the temporaries are faulted
in once anyway, so the scoring process turns that advice off: demo air with two threads, three
pairs in the same minutes, 1.9-3.1 -> 0.9-1.4 s of system time and 13.1-14.7 -> 12.3-13.3 s of
CPU (benchmarks/results/score.md, session 12). The scores are the same bits.

Call :func:`tune_allocator` first thing in a process that scores, before it starts threads (an
arena, once a thread has one, stays). A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt(3) parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENAS = 1  # threads share one heap: freed blocks are reused by any thread
MMAP_THRESHOLD_BYTES = 256 * 2**20  # blocks below this come from the heap (glibc's cap: 32 MB, or 64 MB)
TRIM_THRESHOLD_BYTES = 2**30  # free memory kept at the heap's top before returning it to the kernel


def tune_allocator() -> bool:
    """Set this process's glibc malloc to :data:`ARENAS` arena(s) and the thresholds above.
    Returns whether it was applied (False: not glibc, or mallopt refused)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - raises AttributeError on a C library that is not glibc
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    no_huge_page_advice()
    return all(mallopt(param, value) == 1 for param, value in (
        (M_ARENA_MAX, ARENAS), (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)))


def no_huge_page_advice() -> bool:
    """Stop NumPy advising transparent huge pages for its large arrays (see the module's docstring).
    Returns whether NumPy gave that advice before. NumPy reads ``NUMPY_MADVISE_HUGEPAGE`` only at
    import; this is its switch at run time."""
    from numpy._core.multiarray import _set_madvise_hugepage

    return bool(_set_madvise_hugepage(False))
