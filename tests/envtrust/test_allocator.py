"""The scoring process's allocator settings (envtrust.allocator)."""

import ctypes.util
import platform
import subprocess
import sys

import pytest

from envtrust.allocator import tune_allocator
from envtrust.cli import scores_in_process

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_tune_allocator_applies_on_glibc():
    # a fresh process, so the arena limit is set before any thread (as the envtrust command does)
    code = "from envtrust.allocator import tune_allocator; print(tune_allocator())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.skipif(not GLIBC, reason="set with the allocator, on glibc")
def test_tune_allocator_stops_numpys_huge_page_advice():
    # a fresh process: NumPy advises huge pages by default on Linux 4.6 and newer; after the call it does not
    code = ("from envtrust.allocator import tune_allocator; tune_allocator(); "
            "from numpy._core.multiarray import _set_madvise_hugepage; print(_set_madvise_hugepage(False))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(GLIBC or ctypes.util.find_library("c") is None, reason="only where the C library is not glibc")
def test_tune_allocator_is_a_no_op_elsewhere():
    assert tune_allocator() is False


def test_only_the_scoring_commands_keep_freed_memory():
    """A receiver or a server runs for months: it keeps glibc's defaults, which give freed memory
    back, so its memory stays flat; a scoring run keeps one heap for its temporaries."""
    assert scores_in_process(["score", "--db", "x.duckdb"]) and scores_in_process(["demo"])
    assert not scores_in_process(["hj212", "listen", "--db", "x.duckdb"])
    assert not scores_in_process(["serve"]) and not scores_in_process(["--version"])
