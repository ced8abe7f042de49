"""The dashboard server's security: login, roles, and isolation of the public embeds.

Two layers are exercised: Flask's test client (fast, exact) and real HTTP over a TCP socket
against the same server running in waitress in a thread (what a hand-crafted request would hit).
The internal app used here is the real ``dashboard.internal.app`` where the test says so, and a
small role-guarded Dash app built in this file where a test needs a callback with a known role.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from pathlib import Path

import dash
import pytest
import requests
import waitress
from dash import Input, Output, dcc, html

from dashboard.auth import require_role
from dashboard.server import close_server, create_server, dash_callback_body
from data.users import add_user
from envtrust.settings import load_settings

PASSWORD = "correct horse battery"
INTERNAL_IDS = ("int-query", "int-events", "int-admin")


def _load_fixture_module():
    spec = importlib.util.spec_from_file_location("public_fixture", Path(__file__).with_name("public_fixture.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fixture_data = _load_fixture_module()


def guarded_internal_app(server, settings) -> dash.Dash:
    """A small internal app with one analyst-only and one admin-only callback (test factory)."""
    app = dash.Dash("envtrust_test_internal", server=server, url_base_pathname="/app/",
                    suppress_callback_exceptions=True)
    app.layout = html.Div([dcc.Input(id="int-query", value="q"), html.Div(id="int-events"),
                           html.Div(id="int-admin")])

    @app.callback(Output("int-events", "children"), Input("int-query", "value"))
    def event_table(value):
        user = require_role("analyst", "admin")
        return f"events for {user.username}: {value}"

    @app.callback(Output("int-admin", "children"), Input("int-query", "value"))
    def admin_panel(value):
        require_role("admin")
        return "admin"

    return app


def _make_server(tmp_path, factory=guarded_internal_app):
    settings = load_settings(db_path=tmp_path / "dash.duckdb", secret_key="k" * 64)
    server = create_server(settings, internal_app_factory=factory)
    con = server.extensions["envtrust"].con
    fixture_data.fill_public_store(con)
    fixture_data.release_public_store(con)
    add_user(con, "ana", PASSWORD, "analyst")
    add_user(con, "lea", PASSWORD, "leader")
    add_user(con, "adm", PASSWORD, "admin")
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module (tests use separate clients, so separate sessions)."""
    app = _make_server(tmp_path_factory.mktemp("server"))
    yield app
    close_server(app)


def csrf_token(html_text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html_text).group(1)


def login(client, username: str, password: str = PASSWORD, next_url: str = "/app/"):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "username": username, "password": password,
                                       "next": next_url})


def event_body(value: str = "q") -> str:
    return dash_callback_body("int-events.children", [{"id": "int-query", "property": "value", "value": value}])


def embed_body(path: str = "/embed/station/1001A", search: str = "") -> str:
    return dash_callback_body("embed-page.children", [
        {"id": "embed-url", "property": "pathname", "value": path},
        {"id": "embed-url", "property": "search", "value": search},
    ])


JSON = {"Content-Type": "application/json"}


# ---------------------------------------------------------------- test client

def test_unauthenticated_internal_page_redirects_to_login(server):
    client = server.test_client()
    response = client.get("/app/some/page?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/app/some/page%3Fx%3D1"
    assert client.get("/").headers["Location"] == "/app/"


@pytest.mark.parametrize("path", ["/app/_dash-layout", "/app/_dash-dependencies"])
def test_unauthenticated_internal_json_is_401(server, path):
    response = server.test_client().get(path)
    assert response.status_code == 401
    assert response.get_json()["error"] == "login required"


def test_unauthenticated_internal_callback_is_401(server):
    response = server.test_client().post("/app/_dash-update-component", data=event_body(), headers=JSON)
    assert response.status_code == 401
    assert "events for" not in response.get_data(as_text=True)


def test_login_sets_session_and_analyst_calls_internal_callback(server):
    client = server.test_client()
    response = login(client, "ana", next_url="/app/events")
    assert response.status_code == 302 and response.headers["Location"] == "/app/events"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    answer = client.post("/app/_dash-update-component", data=event_body("PM2.5"), headers=JSON)
    assert answer.status_code == 200
    assert answer.get_json()["response"]["int-events"]["children"] == "events for ana: PM2.5"


def test_wrong_role_is_403(server):
    client = server.test_client()
    login(client, "lea")
    response = client.post("/app/_dash-update-component", data=event_body(), headers=JSON)
    assert response.status_code == 403
    assert "role 'leader'" in response.get_json()["error"]
    admin_body = dash_callback_body("int-admin.children", [{"id": "int-query", "property": "value", "value": "q"}])
    client2 = server.test_client()
    login(client2, "ana")
    assert client2.post("/app/_dash-update-component", data=admin_body, headers=JSON).status_code == 403
    client3 = server.test_client()
    login(client3, "adm")
    assert client3.post("/app/_dash-update-component", data=admin_body, headers=JSON).status_code == 200


def test_wrong_password_and_unknown_user_are_refused_and_audited(server):
    client = server.test_client()
    assert login(client, "ana", "wrong password").status_code == 401
    assert login(client, "nobody", PASSWORD).status_code == 401
    assert client.get("/app/").status_code == 302
    con = server.extensions["envtrust"].con
    actions = con.execute("SELECT actor, action FROM audit_log ORDER BY seq").fetchall()
    assert ("ana", "login_failed") in actions and ("nobody", "login_failed") in actions
    login(client, "ana")
    assert con.execute("SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()[0] == "login"


def test_login_without_csrf_token_is_refused(server):
    client = server.test_client()
    client.get("/login")
    response = client.post("/login", data={"username": "ana", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/app/").status_code == 302


def test_cross_origin_login_post_is_refused(server):
    client = server.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"csrf_token": token, "username": "ana", "password": PASSWORD},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


@pytest.mark.parametrize("target", ["https://evil.example/app/", "//evil.example/app/", "/embed/map", "/app\\x"])
def test_login_next_cannot_leave_the_app(server, target):
    client = server.test_client()
    response = login(client, "ana", next_url=target)
    assert response.headers["Location"] == "/app/"


def test_logout_ends_the_session(server):
    client = server.test_client()
    login(client, "ana")
    assert client.post("/app/_dash-update-component", data=event_body(), headers=JSON).status_code == 200
    client.get("/logout")
    assert client.post("/app/_dash-update-component", data=event_body(), headers=JSON).status_code == 401


def test_deleted_user_loses_access_at_once(tmp_path):
    server = _make_server(tmp_path)
    try:
        client = server.test_client()
        login(client, "ana")
        server.extensions["envtrust"].con.execute("DELETE FROM users WHERE username = 'ana'")
        assert client.post("/app/_dash-update-component", data=event_body(), headers=JSON).status_code == 401
    finally:
        close_server(server)


def test_passwords_are_hashed(server):
    rows = server.extensions["envtrust"].con.execute("SELECT username, password_hash FROM users").fetchall()
    assert len(rows) == 3
    for _, digest in rows:
        assert PASSWORD not in digest
        assert digest.startswith(("scrypt:", "pbkdf2:"))


def test_public_callback_refuses_internal_output_ids(server):
    client = server.test_client()
    login(client, "adm")  # even with an admin session, the public endpoint only serves public outputs
    response = client.post("/embed/_dash-update-component", data=event_body(), headers=JSON)
    assert response.status_code == 403
    assert "events for" not in response.get_data(as_text=True)
    assert client.post("/embed/_dash-update-component", data="not json", headers=JSON).status_code == 403


def test_public_layout_and_dependencies_expose_no_internal_ids(server):
    client = server.test_client()
    layout = client.get("/embed/_dash-layout").get_data(as_text=True)
    deps = client.get("/embed/_dash-dependencies").get_json()
    login(client, "ana")
    internal_deps = client.get("/app/_dash-dependencies").get_json()
    internal_outputs = {d["output"] for d in internal_deps}
    assert internal_outputs  # the internal app really has callbacks to hide
    for component_id in INTERNAL_IDS:
        assert component_id not in layout
        assert component_id not in json.dumps(deps)
    assert {d["output"] for d in deps} == {"embed-page.children"}


def test_public_callback_answers_without_login_and_is_cacheable(server):
    client = server.test_client()
    response = client.post("/embed/_dash-update-component", data=embed_body(), headers=JSON)
    assert response.status_code == 200
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    text = json.dumps(response.get_json(), ensure_ascii=False)
    assert "万寿西宫" in text
    for word in ("score", "event", "suppression", "嫌疑", "可信"):
        assert word not in text.lower()
    assert "Set-Cookie" not in response.headers


def test_framing_rules(server):
    client = server.test_client()
    embed = client.get("/embed/map")
    assert embed.status_code == 200
    assert "X-Frame-Options" not in embed.headers
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]
    assert embed.headers["Cache-Control"] == "public, max-age=300" and embed.headers["ETag"]
    assert client.get("/embed/map", headers={"If-None-Match": embed.headers["ETag"]}).status_code == 304
    for path in ("/login", "/app/"):
        response = client.get(path)
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    login(client, "ana")
    page = client.get("/app/")
    assert page.status_code == 200 and page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"


def test_internal_app_missing_is_reported_not_faked(tmp_path, caplog):
    settings = load_settings(db_path=tmp_path / "bare.duckdb", secret_key="k" * 64)
    with caplog.at_level("WARNING"):
        app = create_server(settings, mount_internal=False)
    try:
        assert "internal dashboard not mounted" in caplog.text
        assert app.test_client().get("/app/").status_code == 302  # still guarded
    finally:
        close_server(app)


# ---------------------------------------------------------------- real HTTP over a socket

@pytest.fixture()
def live(server):
    """The same server behind waitress on an ephemeral port, in a thread."""
    wsgi = waitress.create_server(server, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{wsgi.effective_port}"
    wsgi.close()
    wsgi.task_dispatcher.shutdown()
    thread.join(timeout=5)


def http_login(base: str, username: str) -> requests.Session:
    session = requests.Session()
    token = csrf_token(session.get(f"{base}/login", timeout=10).text)
    response = session.post(f"{base}/login", data={"csrf_token": token, "username": username,
                                                   "password": PASSWORD, "next": "/app/"},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 302
    return session


def test_http_crafted_public_post_to_internal_callback_is_refused(live):
    body = event_body()
    for path in ("/embed/_dash-update-component", "/app/_dash-update-component"):
        response = requests.post(live + path, data=body, headers=JSON, timeout=10)
        assert response.status_code in (401, 403), path
        assert "events for" not in response.text


def test_http_login_then_internal_callback_and_roles(live):
    analyst = http_login(live, "ana")
    answer = analyst.post(live + "/app/_dash-update-component", data=event_body("x"), headers=JSON, timeout=10)
    assert answer.status_code == 200 and answer.json()["response"]["int-events"]["children"] == "events for ana: x"
    leader = http_login(live, "lea")
    assert leader.post(live + "/app/_dash-update-component", data=event_body(), headers=JSON,
                       timeout=10).status_code == 403
    # the analyst's session cookie does not open the public endpoint to internal outputs
    assert analyst.post(live + "/embed/_dash-update-component", data=event_body(), headers=JSON,
                        timeout=10).status_code == 403


def test_http_unauthenticated_page_goes_to_login(live):
    response = requests.get(live + "/app/", allow_redirects=False, timeout=10)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/app/")
    followed = requests.get(live + "/app/", timeout=10)
    assert followed.url.startswith(live + "/login") and 'name="password"' in followed.text


def test_http_cross_site_callback_post_is_refused(live):
    analyst = http_login(live, "ana")
    response = analyst.post(live + "/app/_dash-update-component", data=event_body(), timeout=10,
                            headers={**JSON, "Origin": "https://evil.example"})
    assert response.status_code == 403


def test_map_layers_are_served_cacheable_and_only_known_names(server):
    from dashboard.public.pages import layer_url

    client = server.test_client()
    url = layer_url("provinces")
    first = client.get(url)
    assert first.status_code == 200 and first.get_json()["type"] == "FeatureCollection"
    assert first.headers["Cache-Control"].startswith("public") and first.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert client.get("/embed/layers/nope.geojson").status_code == 404
    traversal = client.get("/embed/layers/..%2F..%2Fenvtrust%2Fsettings.geojson")
    assert "FeatureCollection" not in traversal.get_data(as_text=True)  # falls to the embed index page
    assert "load_settings" not in traversal.get_data(as_text=True)
    with pytest.raises(ValueError, match="unknown map layer"):
        layer_url("../../etc/passwd")


# ---------------------------------------------------------------- with the real internal app

@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    app = _make_server(tmp_path_factory.mktemp("real"), factory=None)
    assert app.extensions["envtrust"].internal_app is not None, "dashboard.internal.app did not mount"
    yield app
    close_server(app)


def _ids_in(node, found: set[str]) -> set[str]:
    """Every component id in a Dash layout JSON (string ids and dict ids as JSON)."""
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and "id" in props:
            cid = props["id"]
            found.add(cid if isinstance(cid, str) else json.dumps(cid, sort_keys=True))
        for value in node.values():
            _ids_in(value, found)
    elif isinstance(node, list):
        for value in node:
            _ids_in(value, found)
    return found


def _internal_surface(real_server) -> tuple[list[dict], set[str]]:
    client = real_server.test_client()
    login(client, "ana")
    deps = client.get("/app/_dash-dependencies").get_json()
    ids = _ids_in(client.get("/app/_dash-layout").get_json(), set())
    for dep in deps:
        for item in [*dep["inputs"], *dep["state"]]:
            ids.add(item["id"] if isinstance(item["id"], str) else json.dumps(item["id"], sort_keys=True))
    return deps, ids


def test_real_internal_callbacks_cannot_be_called_from_the_public_side(real_server):
    deps, _ = _internal_surface(real_server)
    assert len(deps) >= 3
    stranger = real_server.test_client()
    for dep in deps:
        inputs = [{**item, "value": None} for item in dep["inputs"]]
        state = [{**item, "value": None} for item in dep["state"]]
        body = dash_callback_body(dep["output"], inputs, state)
        assert stranger.post("/embed/_dash-update-component", data=body, headers=JSON).status_code == 403
        assert stranger.post("/app/_dash-update-component", data=body, headers=JSON).status_code == 401


def test_public_side_reveals_no_real_internal_id(real_server):
    deps, internal_ids = _internal_surface(real_server)
    client = real_server.test_client()
    public_text = client.get("/embed/_dash-layout").get_data(as_text=True) + \
        client.get("/embed/_dash-dependencies").get_data(as_text=True) + client.get("/embed/map").get_data(as_text=True)
    assert internal_ids
    leaked = sorted(i for i in internal_ids if f'"{i}"' in public_text)
    assert leaked == []
    for dep in deps:
        assert dep["output"] not in public_text


def test_http_slow_callback_does_not_block_other_requests(tmp_path):
    """waitress serves requests on several threads: while one callback works for 4 s, the login page
    and an embed answer at once (the same setup `envtrust serve` uses)."""
    import time

    def slow_app(server, settings):
        app = dash.Dash("envtrust_test_slow", server=server, url_base_pathname="/app/")
        app.layout = html.Div([dcc.Input(id="slow-in", value="x"), html.Div(id="slow-out")])

        @app.callback(Output("slow-out", "children"), Input("slow-in", "value"))
        def slow(value):
            require_role()
            time.sleep(4.0)
            return value

        return app

    server = _make_server(tmp_path, factory=slow_app)
    wsgi = waitress.create_server(server, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{wsgi.effective_port}"
    try:
        session = http_login(base, "ana")
        body = dash_callback_body("slow-out.children", [{"id": "slow-in", "property": "value", "value": "v"}])
        slow_answer: list[int] = []
        worker = threading.Thread(target=lambda: slow_answer.append(session.post(
            base + "/app/_dash-update-component", data=body, headers=JSON, timeout=30).status_code))
        worker.start()
        time.sleep(0.3)
        t0 = time.perf_counter()
        assert requests.get(base + "/login", timeout=10).status_code == 200
        assert requests.post(base + "/embed/_dash-update-component", data=embed_body(), headers=JSON,
                             timeout=10).status_code == 200
        assert time.perf_counter() - t0 < 3.5
        assert worker.is_alive()  # the slow callback was still running meanwhile
        worker.join(timeout=30)
        assert slow_answer == [200]
    finally:
        wsgi.close()
        wsgi.task_dispatcher.shutdown()
        thread.join(timeout=5)
        close_server(server)


def test_repeated_failed_logins_are_throttled(tmp_path):
    server = _make_server(tmp_path)
    try:
        client = server.test_client()
        for _ in range(5):
            assert login(client, "adm", "wrong password!").status_code == 401
        refused = login(client, "adm")  # right password, but the name is locked for a while
        assert refused.status_code == 429 and "登录失败次数过多" in refused.get_data(as_text=True)
        assert login(client, "ana").status_code == 302  # other users are not locked out
    finally:
        close_server(server)


def test_login_throttle_forgets_old_failures():
    from dashboard.server import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(max_failures=2, window_s=60, clock=lambda: now[0])
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.blocked("a") and not throttle.blocked("b")
    now[0] = 61.0
    assert not throttle.blocked("a")
    throttle.failed("a")
    throttle.succeeded("a")
    assert not throttle.blocked("a")
