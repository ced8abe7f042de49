"""The embeds' data description page (``/embed/about``, 数据说明): release statuses, parameters and
units, standards, times, licence and the data API - what a reader needs to use the released values."""

from __future__ import annotations

from dash import html

from analytics.vocabulary import PARAMETERS
from dashboard.public.quality import status_tag
from dashboard.public.text import t
from data.public_views import RELEASED_PARAMETERS
from data.release import RELEASE_STATUSES
from envtrust.release import DATA_LICENCE, DATA_LICENCE_TEXT, DATA_LICENCE_TEXT_ZH

#: the standards the released values are assessed by, as the pages use them (Chinese, English)
STANDARDS: tuple[tuple[str, str, str], ...] = (
    ("HJ 633-2012", "环境空气质量指数（AQI）技术规定：小时 AQI、日 AQI、级别与首要污染物",
     "Technical regulation on the ambient air quality index (AQI): hourly and daily AQI, levels, primary pollutant"),
    ("GB 3095-2012", "环境空气质量标准：日均值（每日至少 20 个有效小时）、臭氧日最大 8 小时平均；综合指数为六项日统计值"
                     "与二级标准限值之比的和",
     "Ambient air quality standards: daily means (at least 20 valid hours a day), O3 daily maximum 8-h mean; the "
     "composite index is the sum of the six daily statistics over their grade-2 limits"),
    ("GB 3838-2002", "地表水环境质量标准：按最差项目确定水质类别（I-V 类、劣 V 类），湖库总磷按湖库限值",
     "Environmental quality standards for surface water: the class (I-V, worse than V) of the worst indicator; "
     "lakes and reservoirs use the lake TP limits"),
    ("HJ 212-2017", "污染物在线监控（监测）系统数据传输标准：仅发布数据标记为正常（N）的数据",
     "Data transmission standard for online monitoring systems: only values flagged normal (N) are published"),
)


def _section(title: str, *children) -> html.Div:
    return html.Div([html.H3(title, className="embed-subhead"), *children], className="embed-text")


def about_page(lang: str) -> list:
    """The data description page (static: it reads no data)."""
    statuses = html.Table([html.Tbody([
        html.Tr([html.Td(status_tag(s, lang)), html.Td(t(f"about_status_{s}", lang))]) for s in RELEASE_STATUSES
    ])], className="embed-table", id="embed-about-statuses")
    units = html.Table([
        html.Thead(html.Tr([html.Th(t("parameter", lang)), html.Th(""), html.Th("")])),
        html.Tbody([
            html.Tr([html.Td(name), html.Td(PARAMETERS[name].label_zh if lang == "zh" else t(kind_key, lang)),
                     html.Td(PARAMETERS[name].unit)])
            for kind, kind_key in (("air_station", "air"), ("water_section", "water"))
            for name in RELEASED_PARAMETERS[kind]
        ]),
    ], className="embed-table", id="embed-about-units")
    standards = html.Ul([html.Li([html.B(code), " ", zh if lang == "zh" else en]) for code, zh, en in STANDARDS])
    licence = DATA_LICENCE_TEXT_ZH if lang == "zh" else DATA_LICENCE_TEXT
    return [
        html.Div([html.Span(t("about_title", lang))], className="embed-head"),
        _section(t("about_statuses", lang), statuses, html.P(t("about_changes", lang))),
        _section(t("about_units", lang), units, html.P(t("about_times", lang))),
        _section(t("about_standards", lang), standards),
        _section(t("about_licence", lang), html.P([html.B(DATA_LICENCE), " ", licence], id="embed-about-licence")),
        _section(t("about_api", lang), html.P(t("about_api_text", lang))),
    ]
