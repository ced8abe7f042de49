"""The public data API, ``/api/v1``, mounted on the dashboard's Flask server.

Why flask-smorest: it is a Flask *extension* - ``Api(app)`` attaches to the existing server that
already carries the login, the internal Dash app and the public embeds, and generates the OpenAPI
document from the routes' marshmallow schemas. apiflask keeps its spec and docs on its own app class
(``APIFlask``), so the whole dashboard server would have to become an APIFlask; FastAPI would be a
second (ASGI) server beside the WSGI one. The docs page is flask-smorest's Swagger UI page, with the
Swagger UI files served from the ``swagger-ui-bundle`` package (no CDN: works offline).

Access: anonymous callers read released data at ``anon_rate_per_min`` per client address; a
department key (header ``X-API-Key``, see :mod:`envtrust.api.keys`) has its own limit and scopes.
Over the limit: 429 with ``Retry-After``. Every call made with a key (accepted or refused) is
durably journaled before its answer leaves, in synced groups, and folded into the audit trail within a
second (:mod:`envtrust.api.auditlog`, :mod:`data.journal`). Errors under ``/api/`` are JSON
``{code, status, message, errors}``.

After the key check and the rate limit, a GET of a public route is answered from the answer cache
when the same path and query string were answered since the last release step
(:mod:`envtrust.api.cache`); the audit of keyed calls runs for cached answers too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import flask
import swagger_ui_bundle
from flask import g, request
from flask_smorest import Api, abort
from werkzeug.exceptions import HTTPException

from data.audit import timestamp_text
from envtrust.api import keys
from envtrust.api.auditlog import JournaledLog
from envtrust.api.cache import Answer
from envtrust.api.context import (
    DEFAULT_ANON_RATE_PER_MIN,
    ApiState,
    api_cursor,
    api_generation,
    api_state,
    drop_cursor_after_error,
)
from envtrust.api.snapshot import ServingSnapshot
from envtrust.api.views import CACHED_ROUTES, make_blueprint

API_PREFIX = "/api/"
DOCS_ASSETS = "/api/v1/docs-assets/"
KEY_HEADER = "X-API-Key"
#: the headers of an answer that the cache keeps with its body
CACHED_HEADERS: tuple[str, ...] = ("X-Total-Count", "Content-Disposition")


class _Api(Api):
    """flask-smorest's Api without its app-wide HTTPException handler (the dashboard keeps its own
    error pages); :func:`_api_error` formats errors under /api/ only."""

    def _register_error_handlers(self) -> None:
        self._app.register_error_handler(HTTPException, _api_error)


def _error_message(error: HTTPException) -> tuple[str, dict | None]:
    data = getattr(error, "data", None) or {}
    if "message" in data:
        return str(data["message"]), data.get("errors")
    messages = data.get("messages")
    if messages:  # webargs validation: {"query": {"limit": ["Must be ..."]}}
        flat = {name: errs for where in messages.values() for name, errs in where.items()}
        text = "; ".join(f"{name}: {' '.join(map(str, errs)) if isinstance(errs, list) else errs}"
                         for name, errs in flat.items())
        return f"bad query parameter(s): {text}", flat
    return error.description or error.name, None


def _api_error(error: HTTPException):
    if not request.path.startswith(API_PREFIX):
        return error  # the dashboard's own pages answer as before
    message, errors = _error_message(error)
    payload = {"code": error.code, "status": error.name, "message": message}
    if errors:
        payload["errors"] = errors
    response = flask.jsonify(payload)
    response.status_code = error.code or 500
    for name, value in ((getattr(error, "data", None) or {}).get("headers") or {}).items():
        response.headers[name] = value
    return response


def _admit() -> flask.Response | None:
    """Before each API call: identify the caller (key or address), apply its rate limit, and answer
    from the cache when it can."""
    state = api_state()
    token = request.headers.get(KEY_HEADER)
    if token is not None:
        key = _verified_key(state, token)
        if key is None:
            g.api_actor = f"apikey:{keys.key_id_of(token) or 'malformed'}"
            abort(401, message=f"invalid or revoked API key in {KEY_HEADER}")
        g.api_key, g.api_actor = key, f"apikey:{key.key_id}"
        client, limit = f"key:{key.key_id}", key.rate_per_min
    else:
        client, limit = f"ip:{request.remote_addr}", state.anon_rate_per_min
    wait_s = state.limiter.hit(client, limit)
    if wait_s is not None:
        abort(429, message=f"rate limit of {limit} calls per minute reached; retry in {wait_s} s",
              headers={"Retry-After": str(wait_s)})
    return _cached_answer(state)


#: at most this many verified keys are held per generation
MAX_VERIFIED_KEYS = 10_000


def _verified_key(state: ApiState, token: str) -> keys.ApiKey | None:
    """The key ``token`` stands for, checked against the store once per release generation (a
    revocation raises it in its own transaction, so a revoked key is refused from the next call
    on); refused tokens are never held, so a flood of bad tokens cannot grow the memory."""
    if keys.key_id_of(token) is None:
        return None  # malformed (and so not plain ASCII, perhaps): nothing to look up
    known: dict[str, keys.ApiKey] = state.verified_keys.get(api_generation(), dict)
    digest = keys.secret_digest(token)
    key = known.get(digest)
    if key is None:
        key = keys.verify_key(api_cursor(), token)
        if key is not None and len(known) < MAX_VERIFIED_KEYS:
            known[digest] = key
    return key


def _cached_answer(state: ApiState) -> flask.Response | None:
    """The cached answer of this GET of a public route, if the same request was answered at this
    release generation; otherwise None (the route runs, :func:`_keep_answer` stores its answer)."""
    if request.method != "GET" or request.endpoint not in CACHED_ROUTES:
        return None
    g.api_cache_key = (request.path, request.query_string)
    answer = state.answers.get(api_generation(), g.api_cache_key)
    if answer is None:
        return None
    g.api_cache_hit = True
    return flask.current_app.response_class(answer.body, mimetype=answer.mimetype, headers=list(answer.headers))


def _keep_answer(response: flask.Response) -> flask.Response:
    key = g.get("api_cache_key")
    if key is not None and not g.get("api_cache_hit") and response.status_code == 200:
        headers = tuple((name, response.headers[name]) for name in CACHED_HEADERS if name in response.headers)
        api_state().answers.put(api_generation(), key, Answer(response.get_data(), response.mimetype, headers))
    return response


def _log_keyed_call(response: flask.Response) -> flask.Response:
    """Every call that presented a key goes to the audit trail, whatever its answer."""
    actor = g.get("api_actor")
    if actor is not None:
        key = g.get("api_key")
        detail = {"query": request.query_string.decode("utf-8", "replace")[:1000], "status": response.status_code,
                  "dept": key.dept if key else None, "address": request.remote_addr,
                  "called_at": timestamp_text(datetime.now(UTC).replace(tzinfo=None))}
        api_state().audit_log.append(api_cursor, (actor, "api_call", request.path[:300], detail))
    return response


def _serve_docs_asset(filename: str) -> flask.Response:
    return flask.send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)


def init_api(app: flask.Flask, con: duckdb.DuckDBPyConnection,
             anon_rate_per_min: int = DEFAULT_ANON_RATE_PER_MIN, snapshot_path: Path | None = None,
             journal_path: Path | None = None) -> Api:
    """Mount ``/api/v1`` (routes, ``openapi.json``, ``docs``) on ``app`` over the store ``con``; with
    ``snapshot_path``, the point reads use the serving snapshot there (refreshed in the background
    from the first point read on: :class:`envtrust.api.snapshot.ServingSnapshot`); with
    ``journal_path``, keyed calls are audited through the journal there (:class:`JournaledLog`:
    leftovers of an earlier process are folded now, the rest in the background), else committed
    to the record directly in groups."""
    snapshot = None if snapshot_path is None else ServingSnapshot(snapshot_path, con)
    state = ApiState(con=con, anon_rate_per_min=anon_rate_per_min, snapshot=snapshot)
    if journal_path is not None:
        state.audit_log = JournaledLog(folder=journal_path)
        state.audit_log.open(con)
    app.extensions["envtrust_api"] = state
    app.config.update(
        API_TITLE="envtrust public data API", API_VERSION="v1", OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1", OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs", OPENAPI_SWAGGER_UI_URL=DOCS_ASSETS,
    )
    api = _Api(app, spec_kwargs={"info": {
        "description": "Released environmental monitoring data: official air stations and water sections, "
                       "hourly and daily values with their release status (preliminary, audited, final, "
                       "withheld). Anonymous read with a rate limit; department keys in the X-API-Key header.",
        "license": {"name": "CC BY 4.0 (data)"}}})
    api.spec.components.security_scheme("ApiKey", {"type": "apiKey", "in": "header", "name": KEY_HEADER})
    blp = make_blueprint()
    blp.before_request(_admit)
    blp.after_request(_log_keyed_call)
    blp.after_request(_keep_answer)  # after_request hooks run in reverse order: the audit runs last
    blp.teardown_request(drop_cursor_after_error)
    api.register_blueprint(blp)
    app.add_url_rule(DOCS_ASSETS + "<path:filename>", "api_docs_assets", _serve_docs_asset)
    return api


def close_audit_log(state: ApiState, con: duckdb.DuckDBPyConnection) -> None:
    """Stop the keyed-call journal's folder and fold what it holds (before ``con`` closes)."""
    if isinstance(state.audit_log, JournaledLog):
        state.audit_log.close(con)
