"""Session cookie attributes (Secure behind HTTPS, HttpOnly, SameSite) and the security headers of
every kind of answer the server gives (pages, redirects, refusals, errors), with Flask's test client
on the real server (the internal Dash app is not mounted: the guard and login are what is tested)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import flask
import pytest

from dashboard.server import close_server, create_server
from data.users import add_user
from envtrust.settings import env_flag, load_settings

PASSWORD = "correct horse battery"


def _public_fixture():
    spec = importlib.util.spec_from_file_location("public_fixture_cookies",
                                                  Path(__file__).with_name("public_fixture.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _server(tmp_path, **overrides):
    settings = load_settings(db_path=tmp_path / "cookies.duckdb", secret_key="s" * 64, **overrides)
    server = create_server(settings, mount_internal=False)
    con = server.extensions["envtrust"].con
    _public_fixture().fill_public_store(con)
    add_user(con, "ana", PASSWORD, "analyst")
    return server


def _login(client, base_url: str = "http://localhost"):
    page = client.get("/login", base_url=base_url)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login", base_url=base_url, data={"csrf_token": token, "username": "ana",
                                                          "password": PASSWORD, "next": "/app/"})


def _session_cookie(response) -> str:
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("envtrust_session=")]
    assert cookies, "login set no session cookie"
    return cookies[-1]


@pytest.fixture()
def plain_server(tmp_path, monkeypatch):
    monkeypatch.delenv("ENVTRUST_SECURE_COOKIES", raising=False)
    server = _server(tmp_path)
    yield server
    close_server(server)


@pytest.fixture()
def https_server(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVTRUST_SECURE_COOKIES", "1")  # read by load_settings, as `envtrust serve` does
    server = _server(tmp_path)
    yield server
    close_server(server)


def test_default_cookie_is_httponly_lax_and_not_secure(plain_server):
    assert plain_server.config["SESSION_COOKIE_SECURE"] is False
    response = _login(plain_server.test_client())
    assert response.status_code == 302
    cookie = _session_cookie(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "; secure" not in cookie  # plain-HTTP `make run` must keep working


def test_secure_cookies_setting_marks_the_session_cookie_secure(https_server):
    client = https_server.test_client()
    response = _login(client, base_url="https://localhost")
    assert response.status_code == 302 and response.headers["Location"].endswith("/app/")
    cookie = _session_cookie(response).lower()
    assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    # the CSRF cookie of the login form is the same session cookie: Secure too
    form = https_server.test_client().get("/login", base_url="https://localhost")
    assert "; secure" in _session_cookie(form).lower()
    # and the session works over HTTPS: the guard lets the user through (503 = no internal app mounted)
    assert client.get("/app/", base_url="https://localhost").status_code == 503


def test_secure_cookies_override_and_flag_parsing(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVTRUST_SECURE_COOKIES", "0")
    assert load_settings().secure_cookies is False
    assert load_settings(secure_cookies=True).secure_cookies is True
    for word, expected in (("1", True), ("yes", True), ("ON", True), ("off", False), ("", False)):
        assert env_flag("X", word) is expected
    monkeypatch.setenv("ENVTRUST_SECURE_COOKIES", "ture")  # a typo must not silently mean "off"
    with pytest.raises(ValueError, match="ENVTRUST_SECURE_COOKIES"):
        load_settings()


INTERNAL_ANSWERS = [
    ("GET", "/login", 200),
    ("GET", "/login?lang=en", 200),
    ("GET", "/", 302),
    ("GET", "/app", 302),
    ("GET", "/app/", 302),
    ("GET", "/app/_dash-layout", 401),
    ("POST", "/app/_dash-update-component", 401),
    ("POST", "/login", 400),  # no CSRF token
    ("GET", "/logout", 302),
    ("GET", "/no-such-page", 404),
]


@pytest.mark.parametrize(("method", "path", "status"), INTERNAL_ANSWERS)
def test_internal_answers_carry_no_framing_and_no_sniffing_headers(plain_server, method, path, status):
    response = plain_server.test_client().open(path, method=method)
    assert response.status_code == status
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"


def test_logged_in_internal_answers_keep_the_headers(https_server):
    client = https_server.test_client()
    _login(client, base_url="https://localhost")
    for path in ("/app/", "/login"):
        headers = client.get(path, base_url="https://localhost").headers
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_embeds_stay_framable_but_not_sniffable(https_server):
    response = https_server.test_client().get("/embed/map", base_url="https://localhost")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Set-Cookie" not in response.headers  # the embeds never start a session, Secure or not


def test_api_calls_open_no_session_and_set_no_cookie(plain_server):
    """/api/ answers by key or address only: Flask's null session there (no signed-cookie work per
    call), the login's session everywhere else."""
    client = plain_server.test_client()
    _login(client)
    assert client.get("/app/").status_code == 503  # logged in: the guard lets the user through
    for path, null in (("/api/v1/parameters", True), ("/api/", True), ("/app/", False), ("/login", False),
                       ("/apis", False)):
        with plain_server.test_request_context(path):
            assert plain_server.session_interface.is_null_session(flask.session) is null, path
    answer = client.get("/api/v1/parameters")
    assert answer.status_code == 200 and not answer.headers.getlist("Set-Cookie")
    assert client.get("/app/").status_code == 503  # the API call left the login's session alone
