"""Public disclosure of decided penalties and the public tip form (no login, no Dash).

- ``GET /embed/decisions`` - the published decisions (enterprise or station, finding, penalty,
  date, legal basis) as an embeddable page; ``?lang=en`` for English. It reads only
  ``case_disclosures`` through :func:`data.cases.public_decisions`: nothing else of a case
  (evidence, staff, open cases, suspicions) exists on this side, and no query argument selects
  anything.
- ``GET /tip`` and ``POST /tip`` - the 12369-style form. Abuse limits without a CAPTCHA: a signed
  form token that must be at least :data:`MIN_FILL_S` seconds and at most :data:`MAX_FORM_AGE_S`
  old, a hidden honeypot field that must stay empty, and the per-sender and total rate limits
  and size limits of :mod:`envtrust.tips`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from html import escape

import flask
from flask import Flask, request

from dashboard.request_state import db_cursor, settings
from data.cases import public_decisions
from envtrust.tips import MAX_FILE_BYTES, TipFile, TipRefused, client_hash, submit_tip

DECISIONS_PATH = "/embed/decisions"
TIP_PATH = "/tip"
MIN_FILL_S = 3
MAX_FORM_AGE_S = 2 * 3600
HONEYPOT = "website"

TEXT = {
    "zh": {"title": "行政处罚决定公开", "subject": "企业/站点", "finding": "违法事实", "penalty": "处罚内容",
           "date": "决定日期", "basis": "法律依据", "none": "暂无公开的处罚决定",
           "tip_title": "环境问题举报", "what": "举报内容", "where": "地点", "when": "时间",
           "contact": "联系方式（选填）", "file": "照片或文件（选填，JPEG/PNG/PDF，不超过 1 MB）", "send": "提交",
           "thanks": "已收到您的举报，受理编号：", "too_fast": "提交过快，请稍后再提交。",
           "expired": "表单已过期，请刷新页面后重新填写。"},
    "en": {"title": "Published penalty decisions", "subject": "Enterprise / station", "finding": "Finding",
           "penalty": "Penalty", "date": "Decided on", "basis": "Legal basis", "none": "No published decisions yet",
           "tip_title": "Report an environmental problem", "what": "What", "where": "Where", "when": "When",
           "contact": "Contact (optional)", "file": "Photo or file (optional, JPEG/PNG/PDF, up to 1 MB)",
           "send": "Send", "thanks": "Your report was received; reference number:",
           "too_fast": "Sent too fast; please wait a moment and send again.",
           "expired": "The form expired; please reload the page and fill it in again."},
}
STYLE = ("body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:.6rem;font-size:14px}"
         "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e5e7eb;padding:.3rem;"
         "text-align:left;vertical-align:top}label{display:block;margin:.6rem 0 .2rem}"
         "input,textarea{width:100%;box-sizing:border-box;padding:.4rem}.hp{position:absolute;left:-5000px}"
         ".msg{color:#b42318}")


def _lang() -> str:
    return "en" if request.values.get("lang") == "en" else "zh"


def _page(title: str, body: str, lang: str, status: int = 200) -> flask.Response:
    html_lang = "zh-CN" if lang == "zh" else "en"
    response = flask.make_response(f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">'
                                   f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                                   f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
                                   f"<body>{body}</body></html>", status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


def decisions_view() -> flask.Response:
    lang = _lang()
    text = TEXT[lang]
    df = public_decisions(db_cursor())
    if df.empty:
        table = f'<p id="decisions-none">{escape(text["none"])}</p>'
    else:
        head = "".join(f"<th>{escape(text[k])}</th>" for k in ("subject", "finding", "penalty", "date", "basis"))
        rows = "".join(
            f"<tr><td>{escape(r.subject_name)}</td><td>{escape(r.finding)}</td><td>{escape(r.penalty)}</td>"
            f"<td>{r.decided_on:%Y-%m-%d}</td><td>{escape(r.legal_basis)}</td></tr>" for r in df.itertuples(index=False))
        table = f'<table id="decisions"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    return _page(text["title"], f"<h1>{escape(text['title'])}</h1>{table}", lang)


# ---------------------------------------------------------------- the tip form

def form_token(secret: str, issued_s: int) -> str:
    mac = hmac.new(secret.encode(), f"tip|{issued_s}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{issued_s}.{mac}"


def token_age_s(secret: str, token: str, now_s: float) -> float | None:
    """Seconds since the form was served, or None for a forged or malformed token."""
    issued, _, _mac = (token or "").partition(".")
    if not issued.isdigit() or not hmac.compare_digest(form_token(secret, int(issued)), token):
        return None
    return now_s - int(issued)


def _tip_form(lang: str, message: str = "", status: int = 200) -> flask.Response:
    text = TEXT[lang]
    token = form_token(settings().secret_key, int(time.time()))
    msg = f'<p class="msg" role="alert" id="tip-message">{escape(message)}</p>' if message else ""
    body = (f"<h1>{escape(text['tip_title'])}</h1>{msg}"
            f'<form method="post" action="{TIP_PATH}" enctype="multipart/form-data" id="tip-form">'
            f'<input type="hidden" name="token" value="{escape(token)}"><input type="hidden" name="lang" value="{lang}">'
            f'<div class="hp" aria-hidden="true"><input name="{HONEYPOT}" tabindex="-1" autocomplete="off"></div>'
            f'<label for="what">{escape(text["what"])}</label><textarea id="what" name="what" maxlength="2000" '
            f'required rows="4"></textarea>'
            f'<label for="where">{escape(text["where"])}</label><input id="where" name="where" maxlength="200" required>'
            f'<label for="when">{escape(text["when"])}</label><input id="when" name="when" maxlength="100" required>'
            f'<label for="contact">{escape(text["contact"])}</label><input id="contact" name="contact" maxlength="100">'
            f'<label for="file">{escape(text["file"])}</label><input id="file" name="file" type="file" '
            f'accept="image/jpeg,image/png,application/pdf">'
            f'<p><button type="submit" id="tip-send">{escape(text["send"])}</button></p></form>')
    return _page(text["tip_title"], body, lang, status)


def tip_view() -> flask.Response:
    lang = _lang()
    if request.method == "GET":
        return _tip_form(lang)
    text = TEXT[lang]
    age = token_age_s(settings().secret_key, request.form.get("token", ""), time.time())
    if age is None or age > MAX_FORM_AGE_S:
        return _tip_form(lang, text["expired"], 400)
    if age < MIN_FILL_S or request.form.get(HONEYPOT):
        return _tip_form(lang, text["too_fast"], 429)
    upload = request.files.get("file")
    data = upload.read(MAX_FILE_BYTES + 1) if upload is not None and upload.filename else b""
    try:
        tip_id = submit_tip(db_cursor(), what=request.form.get("what", ""), where_text=request.form.get("where", ""),
                            when_text=request.form.get("when", ""), contact=request.form.get("contact"),
                            file=TipFile(upload.filename, data) if data else None,
                            sender=client_hash(settings().secret_key, request.remote_addr or "-"))
    except TipRefused as exc:
        return _tip_form(lang, str(exc), exc.status)
    return _page(text["tip_title"], f'<h1>{escape(text["tip_title"])}</h1><p id="tip-receipt">'
                                    f"{escape(text['thanks'])} <b>{escape(tip_id)}</b></p>", lang)


def register_public_routes(server: Flask) -> None:
    """Mount the decisions page and the tip form on the dashboard's Flask server."""
    server.add_url_rule(DECISIONS_PATH, "public_decisions", decisions_view, methods=["GET"])
    server.add_url_rule(TIP_PATH, "public_tip", tip_view, methods=["GET", "POST"])
