"""Sessions end everywhere, and the login throttle holds under concurrency (issue 11, defects 6, 7).

Everything here goes over real HTTP to the server in waitress on 127.0.0.1: a copied cookie is a
second ``requests.Session`` carrying the same cookie value, exactly what a thief would replay.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import dash
import pytest
import requests
import waitress
from dash import Input, Output, dcc, html

from dashboard.auth import guarded_callback
from dashboard.request_state import current_user
from dashboard.server import close_server, create_server, dash_callback_body
from data.users import add_user
from envtrust.settings import load_settings

PASSWORD = "correct horse battery"
JSON = {"Content-Type": "application/json"}
COOKIE = "envtrust_session"


def small_internal_app(server, settings) -> dash.Dash:
    """One callback any logged-in user may call; it answers with the user's name."""
    app = dash.Dash("envtrust_session_test", server=server, url_base_pathname="/app/",
                    suppress_callback_exceptions=True)
    app.layout = html.Div([dcc.Input(id="who-in", value="q"), html.Div(id="who-out")])

    @guarded_callback(app, Output("who-out", "children"), Input("who-in", "value"))
    def who(value):
        return f"{current_user().username}:{value}"

    return app


def _serve(tmp_path, threads: int):
    settings = load_settings(db_path=tmp_path / "dash.duckdb", secret_key="s" * 64)
    server = create_server(settings, internal_app_factory=small_internal_app)
    con = server.extensions["envtrust"].con
    add_user(con, "ana", PASSWORD, "analyst")
    add_user(con, "adm", PASSWORD, "admin")
    wsgi = waitress.create_server(server, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    return server, wsgi, thread, f"http://127.0.0.1:{wsgi.effective_port}", con


@pytest.fixture()
def live(tmp_path):
    server, wsgi, thread, base, con = _serve(tmp_path, threads=4)
    yield base, con
    wsgi.close()
    wsgi.task_dispatcher.shutdown()
    thread.join(timeout=5)
    close_server(server)


def _token(session: requests.Session, base: str) -> str:
    page = session.get(f"{base}/login", timeout=30).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login(base: str, username: str, password: str = PASSWORD) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{base}/login", data={"csrf_token": _token(session, base), "username": username,
                                                   "password": password, "next": "/app/"},
                            allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text
    return session


def _copy(session: requests.Session) -> requests.Session:
    """A second client holding the same cookie value (a stolen or shared copy)."""
    thief = requests.Session()
    thief.cookies.set(COOKIE, session.cookies.get(COOKIE))
    return thief


def _call(session: requests.Session, base: str) -> requests.Response:
    body = dash_callback_body("who-out.children", [{"id": "who-in", "property": "value", "value": "x"}])
    return session.post(f"{base}/app/_dash-update-component", data=body, headers=JSON, timeout=30)


def test_logout_ends_a_copied_cookie(live):
    base, _ = live
    owner = _login(base, "ana")
    thief = _copy(owner)
    assert _call(thief, base).json()["response"]["who-out"]["children"] == "ana:x"  # the copy works
    assert owner.get(f"{base}/logout", allow_redirects=False, timeout=30).status_code == 302
    refused = _call(thief, base)
    assert refused.status_code == 401 and "ana" not in refused.text
    assert thief.get(f"{base}/app/", allow_redirects=False, timeout=30).status_code == 302  # to /login


def test_logout_ends_only_that_session(live):
    base, _ = live
    laptop, phone = _login(base, "ana"), _login(base, "ana")
    laptop.get(f"{base}/logout", timeout=30)
    assert _call(phone, base).status_code == 200


def test_password_reset_ends_every_session_of_the_user(live):
    base, con = live
    first, second, other = _login(base, "ana"), _login(base, "ana"), _login(base, "adm")
    copy = _copy(first)
    add_user(con.cursor(), "ana", "a new password!", "analyst", replace=True)
    for session in (first, second, copy):
        assert _call(session, base).status_code == 401
    assert _call(other, base).status_code == 200  # other users keep their sessions
    assert _call(_login(base, "ana", "a new password!"), base).status_code == 200
    reasons = con.cursor().execute("SELECT end_reason, count(*) FROM dashboard_sessions "
                                   "WHERE username = 'ana' GROUP BY ALL").fetchall()
    assert dict(reasons).get("password_reset") == 2


def test_the_store_keeps_no_usable_session_id(live):
    base, con = live
    owner = _login(base, "ana")
    cookie = owner.cookies.get(COOKIE)
    stored = con.cursor().execute("SELECT session_hash FROM dashboard_sessions").fetchall()
    assert stored and all(len(h) == 64 and h not in cookie for (h,) in stored)


CONCURRENT_TRIES = 16
NAME_LIMIT = 5


def _try(base: str, password: str, barrier: threading.Barrier) -> int:
    session = requests.Session()
    token = _token(session, base)
    barrier.wait(timeout=60)  # every try posts at the same moment
    return session.post(f"{base}/login", data={"csrf_token": token, "username": "adm", "password": password,
                                               "next": "/app/"}, allow_redirects=False, timeout=120).status_code


@pytest.mark.parametrize("right_one", [False, True])
def test_concurrent_tries_check_at_most_the_limit_of_passwords(tmp_path, right_one):
    server, wsgi, thread, base, con = _serve(tmp_path, threads=CONCURRENT_TRIES)
    try:
        passwords = [f"wrong guess {i:02d}" for i in range(CONCURRENT_TRIES)]
        if right_one:
            passwords[-1] = PASSWORD
        barrier = threading.Barrier(CONCURRENT_TRIES)
        with ThreadPoolExecutor(CONCURRENT_TRIES) as pool:
            codes = list(pool.map(lambda pw: _try(base, pw, barrier), passwords))
        # every checked password leaves an audit entry (login or login_failed); refusals do not
        (checked,) = con.cursor().execute(
            "SELECT count(*) FROM audit_log WHERE actor = 'adm' AND action IN ('login', 'login_failed')"
        ).fetchone()
        assert checked <= NAME_LIMIT, codes
        assert codes.count(429) >= CONCURRENT_TRIES - NAME_LIMIT
        assert set(codes) <= {401, 429, 302}
    finally:
        wsgi.close()
        wsgi.task_dispatcher.shutdown()
        thread.join(timeout=5)
        close_server(server)
