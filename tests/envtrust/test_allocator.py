"""The scoring process's allocator settings (envtrust.allocator)."""

import ctypes.util
import platform
import subprocess
import sys

import pytest

from envtrust.allocator import tune_allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_tune_allocator_applies_on_glibc():
    # a fresh process, so the arena limit is set before any thread (as the envtrust command does)
    code = "from envtrust.allocator import tune_allocator; print(tune_allocator())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.skipif(GLIBC or ctypes.util.find_library("c") is None, reason="only where the C library is not glibc")
def test_tune_allocator_is_a_no_op_elsewhere():
    assert tune_allocator() is False
