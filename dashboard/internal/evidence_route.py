"""The frozen evidence pack of a case, served under /app/ (login and a case role required).

``/app/case-evidence/<case_id>.html`` and ``.pdf`` answer the bytes stored at the clue transfer,
with their SHA-256 in ``X-Content-SHA256``; nothing is rebuilt on request.
"""

from __future__ import annotations

import flask

from dashboard.auth import require_role
from dashboard.internal.pages.cases import CASE_ROLES
from dashboard.internal.pages.cases_detail import EVIDENCE_PREFIX
from dashboard.request_state import db_cursor
from data.cases import evidence


def register_evidence_route(server: flask.Flask) -> None:
    def serve(case_id: str, fmt: str) -> flask.Response:
        require_role(*CASE_ROLES)
        pack = evidence(db_cursor(), case_id)
        if pack is None or fmt not in ("html", "pdf") or (fmt == "pdf" and pack["pdf"] is None):
            flask.abort(404)
        if fmt == "html":
            response = flask.make_response(pack["html"])
            response.headers["Content-Type"] = "text/html; charset=utf-8"
            response.headers["X-Content-SHA256"] = pack["html_sha256"]
            # the pack is a document, not an app: no scripts run in it
            response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        else:
            response = flask.make_response(bytes(pack["pdf"]))
            response.headers["Content-Type"] = "application/pdf"
            response.headers["X-Content-SHA256"] = pack["pdf_sha256"]
            response.headers["Content-Disposition"] = f'attachment; filename="{case_id}.pdf"'
        return response

    server.add_url_rule(EVIDENCE_PREFIX + "<case_id>.<fmt>", "envtrust_case_evidence", serve)
