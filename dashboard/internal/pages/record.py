"""Recording page (/app/record, 干预留痕): who interfered (name, post, unit), how (批示 / 函文 /
口头 / 暗示 / other), when, what, attachments and the stations or cases concerned. Saving writes a
leaf of the tamper-evident log (``envtrust.record.service``) and offers a receipt with an
inclusion proof. Any logged-in user records; each sees the records they made, an admin sees all
and signs checkpoints. Nothing here is served to the public side."""

from __future__ import annotations

import base64
import binascii
import json

from dash import dcc, html

from analytics.vocabulary import INTERFERENCE_CHANNELS
from dashboard.i18n import t
from dashboard.internal.ids import RecordIds
from dashboard.internal.timefmt import fmt_local, one_to_local
from envtrust.record import service
from envtrust.record.checkpoint import CheckpointError

MAX_UPLOAD_BYTES = service.MAX_ATTACHMENT_BYTES
LIST_LIMIT = 200


def channel_options(lang: str) -> list[dict]:
    return [{"label": t(f"channel_{code}", lang), "value": code} for code in INTERFERENCE_CHANNELS]


def split_ids(text: str | None) -> tuple[str, ...]:
    """Station or case ids typed as a list (commas, Chinese commas, semicolons or spaces)."""
    for sep in ("，", "；", ";", " ", "\n"):
        text = (text or "").replace(sep, ",")
    return tuple(p.strip() for p in text.split(",") if p.strip())


def decode_uploads(contents: list[str] | None, names: list[str] | None) -> tuple[service.Attachment, ...]:
    """Attachments from ``dcc.Upload`` (data URLs); a malformed one raises RecordError."""
    out = []
    for content, name in zip(contents or [], names or [], strict=False):
        try:
            data = base64.b64decode(content.split(",", 1)[1], validate=True)
        except (IndexError, ValueError, binascii.Error):
            raise service.RecordError(f"attachment {name!r} could not be read") from None
        out.append(service.Attachment(name or "attachment", data))
    return tuple(out)


def visible_records(con, username: str, role: str) -> list[service.InterferenceRow]:
    """An admin sees every record; anyone else the ones they recorded."""
    rows = service.recent_interference(con, LIST_LIMIT)
    return rows if role == "admin" else [r for r in rows if r.actor == username]


def records_table(rows: list[service.InterferenceRow], lang: str, tz: str) -> html.Div:
    if not rows:
        return html.P(t("no_records", lang), className="muted")
    head = html.Tr([html.Th(t(k, lang)) for k in ("entry_no", "occurred_at", "interferer_name", "interferer_post",
                                                  "interferer_unit", "channel", "record_content",
                                                  "record_stations", "recorded_by", "logged_at")])
    body = []
    for r in rows:
        c = r.content
        logged = fmt_local(one_to_local(r.logged_at, tz))
        if c is None:
            body.append(html.Tr([html.Td(r.index), html.Td(t("redacted", lang), colSpan=7), html.Td(r.actor),
                                 html.Td(logged)]))
            continue
        occurred = fmt_local(one_to_local(c["occurred_at"].rstrip("Z"), tz))
        concerned = ", ".join([*c.get("stations", []), *c.get("cases", [])])
        files = [html.Div(f"{a['name']} ({a['sha256'][:12]}…)", className="muted") for a in c.get("attachments", [])]
        body.append(html.Tr([
            html.Td(r.index), html.Td(occurred), html.Td(c["interferer"]["name"]), html.Td(c["interferer"]["post"]),
            html.Td(c["interferer"]["unit"]), html.Td(t(f"channel_{c['channel']}", lang)),
            html.Td([html.Div(c["content"], className="record-text"), *files]), html.Td(concerned),
            html.Td(c["recorded_by"]), html.Td(logged)]))
    return html.Div(html.Table([html.Thead(head), html.Tbody(body)], className="table table-sm record-table"))


def _field(label_key: str, component, lang: str) -> html.Div:
    return html.Div([html.Label(t(label_key, lang), htmlFor=str(component.id)), component], className="mb-2")


def layout(con, username: str, role: str, lang: str, tz: str) -> html.Div:
    """The form, the save/receipt/checkpoint buttons and the list of records this user may see."""
    form = html.Div([
        _field("interferer_name", dcc.Input(id=RecordIds.NAME, type="text", maxLength=200, className="form-control"), lang),
        _field("interferer_post", dcc.Input(id=RecordIds.POST, type="text", maxLength=200, className="form-control"), lang),
        _field("interferer_unit", dcc.Input(id=RecordIds.UNIT, type="text", maxLength=200, className="form-control"), lang),
        _field("channel", dcc.RadioItems(id=RecordIds.CHANNEL, options=channel_options(lang), value="oral", inline=True,
                                         inputStyle={"marginRight": "4px", "marginLeft": "12px"}), lang),
        _field("occurred_at", dcc.Input(id=RecordIds.OCCURRED_AT, type="datetime-local", className="form-control"), lang),
        _field("record_content", dcc.Textarea(id=RecordIds.CONTENT, maxLength=service.MAX_TEXT_CHARS,
                                              style={"width": "100%", "height": "8em"}), lang),
        _field("record_stations", dcc.Input(id=RecordIds.STATIONS, type="text", className="form-control"), lang),
        _field("record_cases", dcc.Input(id=RecordIds.CASES, type="text", className="form-control"), lang),
        _field("attachments", dcc.Upload(id=RecordIds.UPLOAD, multiple=True, max_size=MAX_UPLOAD_BYTES,
                                         children=html.Div(t("choose_files", lang)), className="upload-box"), lang),
        html.Div(id=RecordIds.ATTACHED, className="muted mb-2"),
        html.Button(t("record_save", lang), id=RecordIds.SAVE, n_clicks=0, className="btn btn-primary"),
        html.Button(t("record_receipt", lang), id=RecordIds.RECEIPT, n_clicks=0, className="btn btn-secondary ms-2"),
        html.Div(id=RecordIds.STATUS, role="status", className="mt-2"),
        dcc.Store(id=RecordIds.LAST_INDEX),
        dcc.Download(id=RecordIds.RECEIPT_DOWNLOAD),
    ], className="record-form")
    admin_tools = html.Div()
    if role == "admin":
        admin_tools = html.Div([
            html.Button(t("record_checkpoint", lang), id=RecordIds.CHECKPOINT, n_clicks=0, className="btn btn-outline-dark"),
            dcc.Download(id=RecordIds.CHECKPOINT_DOWNLOAD),
        ], className="mt-3")
    return html.Div([
        html.H2(t("record_title", lang)),
        html.P(t("record_intro", lang), className="muted"),
        form,
        admin_tools,
        html.H3(t("record_list", lang), className="mt-4"),
        html.Div(records_table(visible_records(con, username, role), lang, tz), id=RecordIds.LIST),
    ], className="page page-record")


def _signer_or_none(settings) -> service.Signer | None:
    """The checkpoint signer; None when the key is missing (the record is still kept: signing can
    follow, losing an interference record cannot be undone)."""
    try:
        return service.signer_from_settings(settings)
    except CheckpointError:
        return None


def save_record(con, settings, form: dict, username: str, role: str, lang: str) -> tuple[str, html.Div, int | None]:
    """Validate and record the form; return (message, refreshed list, entry index or None)."""
    tz = settings.display_tz
    signer = _signer_or_none(settings)
    try:
        rec = service.Interference(
            interferer_name=form.get("name") or "", interferer_post=form.get("post") or "",
            interferer_unit=form.get("unit") or "", channel=form.get("channel") or "",
            content=form.get("content") or "",
            occurred_at=service.parse_occurred_at(form.get("occurred_at") or "", tz),
            recorded_by=username, stations=split_ids(form.get("stations")), cases=split_ids(form.get("cases")),
            attachments=decode_uploads(form.get("contents"), form.get("filenames")))
        index = service.add_interference(con, rec, signer)
    except service.RecordError as exc:
        return f"{t('record_error', lang)}: {exc}", records_table(visible_records(con, username, role), lang, tz), None
    message = f"{t('record_saved', lang)} {index}" + ("" if signer else f" ({t('no_signing_key', lang)})")
    return message, records_table(visible_records(con, username, role), lang, tz), index


def receipt_text(con, settings, index: int, username: str, role: str) -> str | None:
    """The receipt of entry ``index`` as JSON text, for the person who recorded it (or an admin);
    None when it is not theirs or there is no key to sign it."""
    rows = {r.index: r for r in service.recent_interference(con, LIST_LIMIT)}
    row = rows.get(index)
    signer = _signer_or_none(settings)
    if row is None or signer is None or (row.actor != username and role != "admin"):
        return None
    doc = service.receipt(con, index, signer)
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
