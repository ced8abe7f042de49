"""One Flask server for the whole dashboard: login, the internal Dash app, the public embeds.

Layout of the URL space and who may use it:

- ``/login`` (GET form, POST with a CSRF token), ``/logout``; ``/`` redirects to ``/app/``.
- ``/app/...`` the internal Dash app (``dashboard.internal.app.create_internal_app``). A
  ``before_request`` hook guards every path under it: without a session a page GET is sent to
  ``/login?next=...`` and anything else (``_dash-layout``, ``_dash-dependencies``,
  ``_dash-update-component`` ...) gets a 401 JSON answer. Each internal callback is registered with
  :func:`dashboard.auth.guarded_callback`, which checks the role again; a refusal becomes a 403 JSON
  answer.
- ``/embed/...`` a SEPARATE Dash app (``dashboard.public``) with its own callbacks only and
  read-only queries that return officially released values. Its callback endpoint refuses any
  output id that is not one of its own, so a crafted POST naming an internal output gets 403.

Why a separate Dash app rather than "public pages" inside the internal one: Dash callbacks are HTTP
endpoints keyed by output id, and one app's ``_dash-dependencies`` lists every callback it has.
Two apps mean the public side can neither list nor call internal callbacks.

The DuckDB connection is opened once per process (read-write; DuckDB allows one writer process)
and kept, with the settings, in the :mod:`dashboard.request_state` installed on the app; each request
gets its own cursor from there (``request_state.db_cursor``: a cursor is a separate connection to the
same database, safe to use from the request's thread), closed at teardown. Nothing in the dashboard
imports this module: it sits on top, builds the app and installs the state.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from urllib.parse import quote, urlsplit

import dash
import flask
from flask import Flask, jsonify, redirect, request, session
from flask.sessions import SecureCookieSessionInterface

from dashboard import auth, request_state
from dashboard.internal.app import create_internal_app
from dashboard.public.app import create_public_app
from dashboard.public.disclosure import register_public_routes
from dashboard.request_state import RequestState, db_cursor
from data.store import connect
from envtrust.api import API_PREFIX, close_audit_log, init_api
from envtrust.settings import Settings

log = logging.getLogger(__name__)

INTERNAL_PREFIX = "/app/"
PUBLIC_PREFIX = "/embed/"
CALLBACK_SUFFIX = "_dash-update-component"
EMBED_MAX_AGE_S = 300  # embed pages and assets: many readers, data changes hourly
EMBED_CALLBACK_MAX_AGE_S = 60
SESSION_LIFETIME = timedelta(hours=12)

InternalFactory = Callable[[Flask, Settings], dash.Dash]


class LoginThrottle:
    """Refuses logins for a name or a client address after too many recent failures.

    At most ``max_failures`` failed attempts per key in ``window_s`` seconds; older failures are
    forgotten. A password check in progress counts as a failure until it ends: :meth:`begin`
    reserves a slot under the lock before the (slow) check and :meth:`failed` / :meth:`succeeded`
    / :meth:`release` settle it, so concurrent tries cannot all pass the check before the first
    failure is counted - at most ``max_failures`` passwords are checked per window, however many
    requests arrive at once. Kept per process on :class:`ServerState` (no module state), guarded by
    a lock because waitress serves requests from several threads.
    """

    def __init__(self, max_failures: int = 5, window_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window_s, self.clock = max_failures, window_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def _settle(self, key: str) -> None:
        """One check of ``key`` is over (called under the lock)."""
        left = self._pending.get(key, 0) - 1
        if left > 0:
            self._pending[key] = left
        else:
            self._pending.pop(key, None)

    def blocked(self, key: str) -> bool:
        """True when a new try for ``key`` would be refused now."""
        now = self.clock()
        with self._lock:
            return len(self._recent(key, now)) + self._pending.get(key, 0) >= self.max_failures

    def begin(self, key: str) -> bool:
        """Reserve a password check for ``key``; False (nothing reserved) when the key is blocked."""
        now = self.clock()
        with self._lock:
            if len(self._recent(key, now)) + self._pending.get(key, 0) >= self.max_failures:
                return False
            self._pending[key] = self._pending.get(key, 0) + 1
            return True

    def release(self, key: str) -> None:
        """End a reserved check without a verdict (the request was refused for another reason)."""
        with self._lock:
            self._settle(key)

    def failed(self, key: str) -> None:
        """End a reserved check of ``key`` as a failure (counted for ``window_s``)."""
        now = self.clock()
        with self._lock:
            self._settle(key)
            self._recent(key, now).append(now)
            if len(self._failures) > 10_000:  # bound memory under a spray of names
                for stale in [k for k, v in self._failures.items() if not v or now - v[-1] > self.window_s]:
                    del self._failures[stale]

    def succeeded(self, key: str) -> None:
        """End a reserved check of ``key`` as a success: its failures are forgotten."""
        with self._lock:
            self._settle(key)
            self._failures.pop(key, None)


@dataclass
class ServerState(RequestState):
    """What the server keeps per process: the request state (settings, connection) plus the mounted
    apps and the login throttles. Installed with :func:`dashboard.request_state.install`."""

    public_app: dash.Dash | None = None
    internal_app: dash.Dash | None = None
    public_outputs: frozenset[str] = field(default_factory=frozenset)
    name_throttle: LoginThrottle = field(default_factory=lambda: LoginThrottle(max_failures=5))
    address_throttle: LoginThrottle = field(default_factory=lambda: LoginThrottle(max_failures=30))


def server_state(app: Flask | None = None) -> ServerState:
    """The :class:`ServerState` of ``app`` (default: the current Flask app)."""
    state = request_state.state(app)
    if not isinstance(state, ServerState):
        raise TypeError(f"the app's state is a {type(state).__name__}, not a ServerState")
    return state


# ---------------------------------------------------------------- login page (zh default, en)

LOGIN_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "envtrust 登录",
        "heading": "环境监测数据可信度平台",
        "username": "用户名",
        "password": "密码",
        "submit": "登录",
        "failed": "用户名或密码错误。",
        "expired": "表单已过期，请重新提交。",
        "switch": "English",
        "logged_out": "已退出登录。",
        "throttled": "登录失败次数过多，请 10 分钟后再试。",
    },
    "en": {
        "title": "envtrust login",
        "heading": "Environmental monitoring data trust platform",
        "username": "Username",
        "password": "Password",
        "submit": "Log in",
        "failed": "Wrong username or password.",
        "expired": "The form expired; please submit it again.",
        "switch": "中文",
        "logged_out": "You are logged out.",
        "throttled": "Too many failed logins; try again in 10 minutes.",
    },
}

_LOGIN_HTML = """<!doctype html>
<html lang="{html_lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, "Noto Sans CJK SC", sans-serif; background: #f4f6f8; margin: 0; }}
main {{ max-width: 22rem; margin: 12vh auto; background: #fff; padding: 2rem; border-radius: 8px;
        box-shadow: 0 1px 4px rgba(0,0,0,.15); }}
h1 {{ font-size: 1.2rem; margin-top: 0; }}
label {{ display: block; margin: .8rem 0 .2rem; }}
input[type=text], input[type=password] {{ width: 100%; padding: .5rem; box-sizing: border-box; }}
button {{ margin-top: 1.2rem; width: 100%; padding: .6rem; background: #1f6feb; color: #fff;
          border: 0; border-radius: 4px; font-size: 1rem; }}
.msg {{ color: #b42318; }} .note {{ color: #555; }} .lang {{ float: right; font-size: .9rem; }}
</style></head>
<body><main>
<a class="lang" href="{switch_href}">{switch}</a>
<h1>{heading}</h1>
{message}
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<input type="hidden" name="lang" value="{lang}">
<label for="username">{username}</label>
<input type="text" id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{password}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">{submit}</button>
</form></main></body></html>
"""


def _lang() -> str:
    lang = request.values.get("lang", "zh")
    return lang if lang in LOGIN_TEXT else "zh"


def safe_next(target: str | None) -> str:
    """Where to go after login: only a local path under /app/ (no open redirect)."""
    if not target:
        return INTERNAL_PREFIX
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(INTERNAL_PREFIX) or "\\" in target:
        return INTERNAL_PREFIX
    return target


def _csrf_token() -> str:
    token = session.get("csrf_token")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf_token"] = token
    return token


def _render_login(lang: str, next_url: str, message_key: str | None, status: int) -> flask.Response:
    text = LOGIN_TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    message = ""
    if message_key:
        css = "note" if message_key == "logged_out" else "msg"
        message = f'<p class="{css}" role="alert">{escape(text[message_key])}</p>'
    html = _LOGIN_HTML.format(
        html_lang="zh-CN" if lang == "zh" else "en",
        title=escape(text["title"]), heading=escape(text["heading"]),
        username=escape(text["username"]), password=escape(text["password"]),
        submit=escape(text["submit"]), switch=escape(text["switch"]),
        switch_href=escape(f"/login?lang={other}&next={quote(next_url, safe='/')}"),
        csrf=escape(_csrf_token()), next=escape(next_url), lang=lang, message=message,
    )
    response = flask.make_response(html, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


def _login_view() -> flask.Response:
    lang = _lang()
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if request_state.current_user() is not None and "logged_out" not in request.args:
            return redirect(next_url)
        return _render_login(lang, next_url, "logged_out" if "logged_out" in request.args else None, 200)
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf_token", "")
    if not expected or not hmac.compare_digest(sent, expected):
        return _render_login(lang, next_url, "expired", 400)
    username = request.form.get("username", "").strip()
    name_key, address_key = username.lower(), request.remote_addr or "-"
    state = server_state()
    if not state.name_throttle.begin(name_key):
        return _render_login(lang, next_url, "throttled", 429)
    if not state.address_throttle.begin(address_key):
        state.name_throttle.release(name_key)
        return _render_login(lang, next_url, "throttled", 429)
    user = None
    try:
        user = auth.login_user(db_cursor(), username, request.form.get("password", ""),
                               lifetime=SESSION_LIFETIME)
    finally:
        if user is None:
            state.name_throttle.failed(name_key)
            state.address_throttle.failed(address_key)
        else:
            state.name_throttle.succeeded(name_key)
            state.address_throttle.release(address_key)
    if user is None:
        return _render_login(lang, next_url, "failed", 401)
    return redirect(next_url)


def _logout_view() -> flask.Response:
    auth.logout_user(db_cursor())
    return redirect(f"/login?logged_out=1&lang={_lang()}")


# ---------------------------------------------------------------- guards and headers

def _json_refusal(status: int, message: str) -> flask.Response:
    response = jsonify({"error": message, "status": status})
    response.status_code = status
    return response


def _is_internal(path: str) -> bool:
    return path.startswith(INTERNAL_PREFIX)


def _is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIX)


def _is_internal_page(path: str) -> bool:
    """A GET of an internal page (HTML), as opposed to Dash's JSON and asset routes."""
    rest = path[len(INTERNAL_PREFIX):]
    return not (rest.startswith("_") or rest.startswith("assets/"))


def _cross_origin_post() -> bool:
    """True when a state-changing request says it comes from another site (Origin header)."""
    origin = request.headers.get("Origin")
    if not origin or request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    return urlsplit(origin).netloc != request.host


def _guard_internal() -> flask.Response | None:
    """Before every request under /app/: a login is required; cross-site POSTs are refused."""
    path = request.path
    if not _is_internal(path):
        return None
    if _cross_origin_post():
        return _json_refusal(403, "cross-origin request refused")
    if request_state.current_user() is None:
        if request.method == "GET" and _is_internal_page(path):
            target = request.full_path if request.query_string else path
            return redirect(f"/login?next={quote(target, safe='/')}")
        return _json_refusal(401, "login required")
    return None


def _guard_public_callback() -> flask.Response | None:
    """The public callback endpoint answers only for the public app's own outputs."""
    if request.path != PUBLIC_PREFIX + CALLBACK_SUFFIX or request.method != "POST":
        return None
    body = request.get_json(silent=True)
    output = body.get("output") if isinstance(body, dict) else None
    if not isinstance(output, str) or output not in server_state().public_outputs:
        return _json_refusal(403, "not a public callback")
    return None


def _guard_login_post() -> flask.Response | None:
    if request.path == "/login" and _cross_origin_post():
        return _json_refusal(403, "cross-origin request refused")
    return None


EMBED_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; frame-ancestors *"
)


def _security_headers(response: flask.Response) -> flask.Response:
    """Framing, caching and sniffing rules per area (see docs/security.md)."""
    path = request.path
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if _is_public(path):
        # Embeds are meant for iframes on other sites, and make no third-party requests.
        response.headers.pop("X-Frame-Options", None)
        response.headers["Content-Security-Policy"] = EMBED_CSP
        if response.status_code == 200:
            _make_cacheable(response)
        return response
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    if not path.startswith(INTERNAL_PREFIX + "_dash-component-suites/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def _make_cacheable(response: flask.Response) -> None:
    """Cache-Control public (+ ETag and 304 for GETs) on embed answers; they carry no session."""
    if request.method == "POST":
        response.headers["Cache-Control"] = f"public, max-age={EMBED_CALLBACK_MAX_AGE_S}"
        return
    if "_dash-component-suites/" in request.path and "Cache-Control" in response.headers:
        return  # Dash's fingerprinted library files carry their own long max-age
    response.headers["Cache-Control"] = f"public, max-age={EMBED_MAX_AGE_S}"
    if not response.direct_passthrough and not response.is_streamed and "ETag" not in response.headers:
        response.set_etag(stable_etag(response.get_data()))
    response.make_conditional(request)


_END_ID = re.compile(rb'"end_id":"[^"]*"')


def stable_etag(body: bytes) -> str:
    """ETag of a page, ignoring Dash's per-load ``end_id`` token (used only by background callbacks,
    which the embeds do not have), so an unchanged embed page answers 304."""
    return hashlib.sha1(_END_ID.sub(b'"end_id":""', body), usedforsecurity=False).hexdigest()


# What a callback raises when a request carries input it could never get from the page (a number
# where Dash sends a path, a list where it sends text, a body that names other inputs): the
# client's fault, answered 400 with one log line instead of a 500 and a traceback.
MALFORMED_CALLBACK_ERRORS: tuple[type[Exception], ...] = (
    dash.exceptions.CallbackException, TypeError, ValueError, KeyError, AttributeError, IndexError,
)


def _malformed_callback(exc: Exception) -> flask.Response:
    """400 for a callback request the callback cannot read; anything else keeps its own handling."""
    if not request.path.endswith(CALLBACK_SUFFIX) or isinstance(exc, dash.exceptions.InvalidCallbackReturnValue):
        raise exc  # not a callback request, or the callback's own answer is wrong: a server error
    body = request.get_json(silent=True)
    output = body.get("output") if isinstance(body, dict) else None
    message = str(exc).splitlines()[0][:200] if str(exc) else ""
    log.warning("malformed callback request %s output=%.120r from %s: %s: %s", request.path, output,
                request.remote_addr, type(exc).__name__, message)
    return _json_refusal(400, "malformed callback input")


def _auth_error(exc: auth.AuthError) -> flask.Response:
    if isinstance(exc, auth.NotAuthenticated) and request.method == "GET" and not request.path.startswith(
        INTERNAL_PREFIX + "_"
    ):
        return redirect(f"/login?next={quote(request.path, safe='/')}")
    return _json_refusal(exc.status_code, str(exc))


class SessionOutsideApi(SecureCookieSessionInterface):
    """The signed session cookie everywhere but under ``/api/``, whose calls get Flask's null session.

    Why: the API identifies a caller by its key or address only (envtrust.api), never by a login,
    and Flask opens the session of every request - a new itsdangerous serializer each time, ~0.04
    ms of CPU of a ~0.2 ms API answer (benchmarks/results/api.md, session 10). A null session is
    never saved, so an API answer never sets a cookie; writing to it raises."""

    def open_session(self, app: Flask, request: flask.Request):
        if request.path.startswith(API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


# ---------------------------------------------------------------- mounting the Dash apps

def _not_mounted() -> flask.Response:
    return flask.make_response("envtrust: the internal dashboard is not mounted on this server.", 503)


def create_server(settings: Settings, *, internal_app_factory: InternalFactory | None = None,
                  mount_internal: bool = True) -> Flask:
    """Build the Flask server: login, the internal app at /app/, embeds at /embed/.

    ``internal_app_factory`` defaults to :func:`dashboard.internal.app.create_internal_app`; tests may
    pass another factory, or ``mount_internal=False`` for a server with only /login and the embeds
    (/app/ then answers 503 after the login guard). The store at ``settings.db_path`` is opened (and
    migrated) read-write.
    """
    server = Flask("envtrust.dashboard")
    server.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="envtrust_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure only when the deployment is HTTPS (ENVTRUST_SECURE_COOKIES=1): browsers do not send
        # a Secure cookie over plain HTTP (Chromium excepts localhost), so on for `make run` it breaks login.
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_REFRESH_EACH_REQUEST=False,  # no Set-Cookie on cacheable embed answers
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    server.session_interface = SessionOutsideApi()
    con = connect(settings.db_path)
    state = ServerState(settings=settings, con=con)
    request_state.install(server, state)

    # Our guards run before Dash's own before_request hooks (registration order).
    server.before_request(_guard_login_post)
    server.before_request(_guard_internal)
    server.before_request(_guard_public_callback)
    server.after_request(_security_headers)
    server.register_error_handler(auth.AuthError, _auth_error)
    for error in MALFORMED_CALLBACK_ERRORS:
        server.register_error_handler(error, _malformed_callback)
    server.add_url_rule("/login", "login", _login_view, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", _logout_view, methods=["GET", "POST"])
    server.add_url_rule("/", "root", lambda: redirect(INTERNAL_PREFIX))
    # /api/v1: the public data API over released values (envtrust.api), point reads from the snapshot
    init_api(server, con, anon_rate_per_min=settings.api_anon_rate_per_min,
             snapshot_path=settings.serving_snapshot_path, journal_path=settings.api_journal_path)

    state.public_app = create_public_app(server, settings)
    register_public_routes(server)
    state.public_outputs = frozenset(state.public_app.callback_map)

    factory = internal_app_factory or create_internal_app
    if not mount_internal:
        log.warning("internal dashboard not mounted at %s (mount_internal=False): only /login and the "
                    "public embeds are served", INTERNAL_PREFIX)
        server.add_url_rule(INTERNAL_PREFIX, "internal_missing", _not_mounted)
    else:
        state.internal_app = factory(server, settings)
        log.info("internal dashboard mounted at %s (%d callbacks)", INTERNAL_PREFIX,
                 len(state.internal_app.callback_map))
    server.add_url_rule("/app", "app_slash", lambda: redirect(INTERNAL_PREFIX))
    return server


def close_server(server: Flask) -> None:
    """Close the process's DuckDB connection (tests; a served process just exits), after a running
    refresh of the serving snapshot and with the keyed-call audit journal folded into the record."""
    api = server.extensions.get("envtrust_api")
    if api is not None and api.snapshot is not None:
        api.snapshot.wait(60)
    state = server.extensions.get(request_state.EXTENSION_KEY)
    if api is not None and state is not None:
        close_audit_log(api, state.con)
    if state is not None:
        state.con.close()


def dash_callback_body(output: str, inputs: list[dict], state: list[dict] | None = None) -> str:
    """The JSON body a browser POSTs to ``_dash-update-component`` (used by tests and benchmarks)."""
    multi = output.startswith("..") and output.endswith("..")
    parts = output[2:-2].split("...") if multi else [output]
    outputs = [dict(zip(("id", "property"), part.rsplit(".", 1), strict=True)) for part in parts]
    body = {
        "output": output,
        "outputs": outputs if multi else outputs[0],
        "inputs": inputs,
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs],
        "state": state or [],
    }
    return json.dumps(body)
