"""Fixtures of the engine tests."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shipped Beijing sample's pollutants (readings, stations), read once: tests copy before
    they change it."""
    from data.adapters.beijing import read_prsa_pollutants
    from envtrust.settings import SAMPLE_DIR

    return read_prsa_pollutants(SAMPLE_DIR / "beijing")
