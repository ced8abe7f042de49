"""Shared fixtures. Tests never need the shared data folder (ENVTRUST_SHARED_DATA): they use the sample shipped in data/sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from envtrust.settings import SAMPLE_DIR


def pytest_configure(config) -> None:
    """Settings are read once at the top, as the CLI does (geo layers learn the full data's folder)."""
    from envtrust.settings import load_settings

    load_settings()


@pytest.fixture(autouse=True)
def _layer_dirs_restored():
    """A test that re-reads settings (e.g. to point at another data folder) leaves no trace."""
    from geo import layers

    saved = layers._layer_dirs()[:-1]
    yield
    layers.set_layer_dirs(saved)


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
