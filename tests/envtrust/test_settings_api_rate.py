"""The public data API's anonymous limit is a setting (ENVTRUST_API_ANON_RATE): 120 calls a minute
per address by default, a whole number >= 1, and the server's API applies it."""

from __future__ import annotations

import pytest

from dashboard.server import close_server, create_server
from envtrust.settings import load_settings


def test_the_anonymous_rate_defaults_to_120_and_reaches_the_api(monkeypatch, tmp_path):
    monkeypatch.delenv("ENVTRUST_API_ANON_RATE", raising=False)
    assert load_settings().api_anon_rate_per_min == 120
    monkeypatch.setenv("ENVTRUST_API_ANON_RATE", "2")
    server = create_server(load_settings(db_path=tmp_path / "r.duckdb", secret_key="r" * 64), mount_internal=False)
    try:
        client = server.test_client()
        assert [client.get("/api/v1/parameters").status_code for _ in range(3)] == [200, 200, 429]
    finally:
        close_server(server)


@pytest.mark.parametrize("bad", ["0", "-5", "many", ""])
def test_a_bad_anonymous_rate_is_refused_by_name(monkeypatch, bad):
    monkeypatch.setenv("ENVTRUST_API_ANON_RATE", bad)
    with pytest.raises(ValueError, match="ENVTRUST_API_ANON_RATE"):
        load_settings()
