"""The operating point (analyst capacity per network) is a setting like the others."""

from __future__ import annotations

import pytest

from envtrust.settings import DEFAULT_ANALYST_CAPACITY, load_settings, parse_capacity


def test_capacity_defaults_and_overrides(monkeypatch):
    monkeypatch.delenv("ENVTRUST_ANALYST_CAPACITY", raising=False)
    assert load_settings().analyst_capacity == DEFAULT_ANALYST_CAPACITY
    monkeypatch.setenv("ENVTRUST_ANALYST_CAPACITY", "water=0.1, air=1")
    assert load_settings().analyst_capacity == {"air": 1.0, "water": 0.1, "polluter": 0.3}


@pytest.mark.parametrize("bad", ["sea=0.3", "air", "air=-1", "air=0"])
def test_a_bad_capacity_is_refused_naming_the_networks(bad):
    with pytest.raises(ValueError, match="ENVTRUST_ANALYST_CAPACITY"):
        parse_capacity(bad)
