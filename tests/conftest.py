"""Shared fixtures. Tests never need the shared data folder (ENVTRUST_SHARED_DATA): they use the sample shipped in data/sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from envtrust.settings import SAMPLE_DIR


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE_DIR


@pytest.fixture()
def store(tmp_path):
    """A fresh, migrated DuckDB store in a temp folder (real DuckDB, no mocks)."""
    from data.store import connect

    con = connect(tmp_path / "test.duckdb")
    yield con
    con.close()
