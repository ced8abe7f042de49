"""How many blocks a run scores at once is a setting: the cores by default, a whole number >= 1."""

from __future__ import annotations

import os

import pytest

from envtrust.settings import load_settings


def test_score_threads_default_to_the_usable_cores(monkeypatch):
    monkeypatch.delenv("ENVTRUST_SCORE_THREADS", raising=False)
    assert load_settings().score_threads == len(os.sched_getaffinity(0))
    monkeypatch.setenv("ENVTRUST_SCORE_THREADS", "1")
    assert load_settings().score_threads == 1


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5", ""])
def test_a_bad_score_threads_is_refused_by_name(monkeypatch, bad):
    monkeypatch.setenv("ENVTRUST_SCORE_THREADS", bad)
    with pytest.raises(ValueError, match="ENVTRUST_SCORE_THREADS"):
        load_settings()
