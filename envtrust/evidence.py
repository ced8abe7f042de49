"""The evidence pack of a case, frozen when the clue is transferred to enforcement.

What it holds: the case and its alarms/events with their evidence sentences, the engine version
and the run that produced the events, the station's scores, its readings and its neighbours'
(each reading line with its SHA-256, and one SHA-256 over all lines), and one chart per parameter
(inline SVG, no scripts, opens offline). It is stored once (``case_evidence``) as HTML and, when a
CJK font is installed, as PDF (fpdf2, pure Python, offline); it does not change when the data or
the engine change later.

Reading line hashed: ``station_id|ts ISO (UTC)|parameter|value repr or empty|flag`` (UTF-8).
"""

from __future__ import annotations

import hashlib
import html
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.vocabulary import EVENT_KIND_LABELS, in_language
from data import cases as sql
from data.views import neighbours
from envtrust.alarms import RULE_NAMES, readable_summaries

PACK_MARGIN = pd.Timedelta(hours=24)
PACK_MAX_SPAN = pd.Timedelta(days=7)
CJK_FONTS = (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
             Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"))
PDF_MAX_ROWS = 400


def reading_line(row) -> str:
    value = "" if row.value is None or pd.isna(row.value) else repr(float(row.value))
    return f"{row.station_id}|{pd.Timestamp(row.ts).isoformat()}|{row.parameter}|{value}|{row.flag}"


def reading_hashes(readings: pd.DataFrame) -> tuple[list[str], str]:
    """SHA-256 per reading line and the SHA-256 over all lines joined by newlines (the pack's seal)."""
    lines = [reading_line(r) for r in readings.itertuples(index=False)]
    each = [hashlib.sha256(line.encode("utf-8")).hexdigest() for line in lines]
    return each, hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def pack_window(alarms: pd.DataFrame, events: pd.DataFrame, fallback_end: datetime | None) -> tuple:
    starts = list(alarms.get("episode_start", [])) + list(events.get("start", []))
    ends = list(alarms.get("episode_end", [])) + list(events.get("end", []))
    if not starts:
        end = pd.Timestamp(fallback_end) if fallback_end is not None else pd.Timestamp.now()
        return end - pd.Timedelta(days=2), end
    lo, hi = min(map(pd.Timestamp, starts)) - PACK_MARGIN, max(map(pd.Timestamp, ends)) + PACK_MARGIN
    return max(lo, hi - PACK_MAX_SPAN), hi


def svg_chart(series: dict[str, pd.DataFrame], title: str, width: int = 720, height: int = 180) -> str:
    """A line per station (own station first, bold); pure SVG so the pack renders anywhere."""
    frames = [f for f in series.values() if not f.empty and f["value"].notna().any()]
    if not frames:
        return ""
    t0 = min(f["ts"].min() for f in frames)
    t1 = max(f["ts"].max() for f in frames)
    v0 = min(f["value"].min() for f in frames)
    v1 = max(f["value"].max() for f in frames)
    span_t = max((t1 - t0).total_seconds(), 1.0)
    span_v = (v1 - v0) or 1.0
    colours = ["#c0392b", "#7f8c8d", "#95a5a6", "#bdc3c7", "#a3b1bf", "#d0d7de"]
    paths = []
    for i, (name, f) in enumerate(series.items()):
        f = f.dropna(subset=["value"])
        if f.empty:
            continue
        pts = " ".join(f"{40 + (pd.Timestamp(t) - t0).total_seconds() / span_t * (width - 50):.1f},"
                       f"{height - 20 - (v - v0) / span_v * (height - 40):.1f}" for t, v in zip(f["ts"], f["value"],
                                                                                           strict=True))
        paths.append(f'<polyline fill="none" stroke="{colours[i % len(colours)]}" stroke-width="{2 if i == 0 else 1}" '
                     f'points="{pts}"><title>{html.escape(name)}</title></polyline>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{html.escape(title)}"><text x="40" y="14" font-size="12">{html.escape(title)} '
            f'({v0:.3g} .. {v1:.3g}; {t0:%Y-%m-%d %H:%M} .. {t1:%Y-%m-%d %H:%M} UTC)</text>'
            f'{"".join(paths)}</svg>')


def _table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p>-</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape('' if pd.isna(v) else str(v))}</td>" for v in r) + "</tr>"
                   for r in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _zh_en(zh: str, en: str) -> str:
    """Chinese, then the English in brackets (the pack's language order); one of them when equal or missing."""
    if not en or en == zh:
        return zh or en
    return f"{zh} ({en})" if zh else en


def _both(summary: str) -> str:
    """A bilingual summary (:func:`analytics.vocabulary.bilingual`) as the pack writes it."""
    return _zh_en(in_language(summary, "zh"), in_language(summary, "en"))


def evidence_sentences(alarms: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """One sentence per alarm and event, with its numbers, Chinese first like the rest of the pack;
    under each event, the engine's sentence per model that fired (its numbers: deviation, neighbour
    prediction, hours, rarity on clean data) - never the engine's raw evidence keys."""
    out = [f"[{RULE_NAMES.get(a.rule, (a.rule,))[0]} {a.rule}] {_both(text)} ({a.standard})"
           for a, text in zip(alarms.itertuples(index=False), readable_summaries(alarms), strict=True)]
    for e in events.itertuples(index=False):
        out.append(f"[{EVENT_KIND_LABELS.get(e.kind, (e.kind,))[0]} {e.kind}, score {float(e.score):.2f}] "
                   f"{_both(e.summary)}")
        try:
            ev = json.loads(e.evidence_json) if e.evidence_json else {}
        except ValueError:
            ev = {}
        sentences = ev.get("sentences") if isinstance(ev, dict) else None
        out += [f"  {_zh_en(str(x.get('zh') or ''), str(x.get('en') or ''))}" for x in sentences or []
                if isinstance(x, dict) and (x.get("zh") or x.get("en"))]
    return out


def build_pack(con, case_id: str, frozen_at: datetime, engine_version: str) -> dict:
    """Gather everything the pack shows (a plain dict; rendering is separate)."""
    case = sql.case_row(con, case_id)
    alarms = sql.linked_alarms(con, case_id)
    events = sql.linked_events(con, case_id)
    sid = case.get("station_id")
    start, end = pack_window(alarms, events, frozen_at)
    params = sorted({p.strip() for ps in events.get("parameters", []) for p in str(ps).split(",") if p.strip()}
                    | {p for p in alarms.get("parameter", []) if isinstance(p, str) and p})
    nb = neighbours(con, sid, k=3) if isinstance(sid, str) else pd.DataFrame()
    ids = ([sid] if isinstance(sid, str) else []) + list(nb.get("station_id", []))
    readings = sql.pack_readings(con, ids, start.to_pydatetime(), end.to_pydatetime(), params or None) if ids \
        else pd.DataFrame(columns=["station_id", "ts", "parameter", "value", "flag"])
    each, seal = reading_hashes(readings)
    readings = readings.assign(sha256=each)
    scores = sql.pack_scores(con, sid, start.to_pydatetime(), end.to_pydatetime()) if isinstance(sid, str) \
        else pd.DataFrame()
    runs = sorted({str(r) for r in events.get("run_id", []) if isinstance(r, str)})
    return {"case": case, "alarms": alarms, "events": events, "neighbours": nb, "readings": readings,
            "readings_sha256": seal, "scores": scores, "window": (start, end), "frozen_at": frozen_at,
            "engine_version": engine_version, "runs": runs, "sentences": evidence_sentences(alarms, events)}


def render_html(pack: dict) -> str:
    case = pack["case"]
    esc = html.escape
    charts = []
    for p, g in pack["readings"].groupby("parameter"):
        series = {s: g[g["station_id"] == s] for s in [case.get("station_id"), *pack["neighbours"].get("station_id", [])]
                  if isinstance(s, str)}
        charts.append(svg_chart(series, f"{p}: {case.get('station_id')} vs neighbours"))
    nb = pack["neighbours"]
    nb_view = nb[["station_id", "name", "distance_m"]].assign(distance_m=nb["distance_m"].round(0)) if not nb.empty \
        else nb
    score_view = pack["scores"]
    if not score_view.empty:
        score_view = score_view.groupby("parameter").agg(max_score=("score", "max"), mean_score=("score", "mean"),
                                                         hours=("score", "size")).round(3).reset_index()
    start, end = pack["window"]
    sentences = "".join(f"<li>{esc(s)}</li>" for s in pack["sentences"])
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>证据包 evidence pack {esc(case['case_id'])}</title>
<style>body{{font-family:"Noto Sans CJK SC",sans-serif;margin:2em;}} table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 6px}} .seal{{font-family:monospace}}</style></head><body>
<h1>证据包 Evidence pack · {esc(case['case_id'])}</h1>
<p>{esc(case['title'])}</p>
<ul><li>站点 station: {esc(str(case.get('station_id')))} {esc(str(case.get('station_name') or ''))}</li>
<li>企业 enterprise: {esc(str(case.get('enterprise') or '-'))}</li>
<li>冻结时间 frozen at (UTC): {esc(str(pack['frozen_at']))}</li>
<li>时段 window (UTC): {esc(str(start))} .. {esc(str(end))}</li>
<li>引擎版本 engine: {esc(pack['engine_version'])}; runs: {esc(', '.join(pack['runs']) or '-')}</li>
<li class="seal">读数 SHA-256 (all lines): {pack['readings_sha256']}</li></ul>
<h2>证据 Evidence</h2><ul>{sentences or '<li>-</li>'}</ul>
<h2>图 Charts</h2>{''.join(charts) or '<p>-</p>'}
<h2>近邻 Neighbours</h2>{_table(nb_view)}
<h2>评分 Scores</h2>{_table(score_view)}
<h2>读数 Readings ({len(pack['readings'])})</h2>{_table(pack['readings'])}
</body></html>"""


def render_pdf(pack: dict, font: Path | None = None) -> bytes | None:
    """The same pack as PDF (text, tables; charts stay in the HTML). None without a CJK font."""
    font = font or next((f for f in CJK_FONTS if f.exists()), None)
    if font is None:
        return None
    from fpdf import FPDF

    case = pack["case"]
    pdf = FPDF()
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.add_font("cjk", fname=str(font))
    pdf.set_font("cjk", size=14)
    pdf.multi_cell(0, 8, f"证据包 Evidence pack {case['case_id']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    start, end = pack["window"]
    for line in [case["title"], f"station {case.get('station_id')} {case.get('station_name') or ''}",
                 f"frozen at (UTC) {pack['frozen_at']}; window {start} .. {end}",
                 f"engine {pack['engine_version']}; runs {', '.join(pack['runs']) or '-'}",
                 f"readings SHA-256 {pack['readings_sha256']}", "", "证据 Evidence:", *pack["sentences"], "",
                 "近邻 Neighbours: " + ", ".join(f"{r.station_id} ({r.distance_m:.0f} m)"
                                               for r in pack["neighbours"].itertuples(index=False)), "",
                 f"读数 Readings ({len(pack['readings'])}; first {PDF_MAX_ROWS} here, all in the HTML):"]:
        pdf.multi_cell(0, 5, str(line), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=6)
    for r in pack["readings"].head(PDF_MAX_ROWS).itertuples(index=False):
        value = "" if r.value is None or not np.isfinite(r.value) else f"{r.value:g}"
        pdf.cell(0, 3, f"{r.station_id} {pd.Timestamp(r.ts):%Y-%m-%d %H:%M} {r.parameter} {value} {r.flag} "
                       f"{r.sha256}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def freeze_evidence(con, case_id: str, frozen_at: datetime, engine_version: str | None = None) -> dict:
    """Build and store the case's pack once; returns its hashes."""
    from envtrust import __version__

    pack = build_pack(con, case_id, frozen_at, engine_version or f"envtrust {__version__}")
    text = render_html(pack)
    pdf = render_pdf(pack)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    pdf_digest = hashlib.sha256(pdf).hexdigest() if pdf is not None else None
    sql.save_evidence(con, case_id, frozen_at, text, digest, pdf, pdf_digest, pack["readings_sha256"],
                      pack["engine_version"])
    return {"html_sha256": digest, "pdf_sha256": pdf_digest, "readings_sha256": pack["readings_sha256"]}
