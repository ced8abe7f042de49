"""The embeds' own small text table (Simplified Chinese by default, English with ``?lang=en``).

Kept apart from the internal app's i18n so the public bundle carries no internal wording.
"""

from __future__ import annotations

from urllib.parse import parse_qs

LANGUAGES: tuple[str, ...] = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "map_title": "实时空气质量与水质",
        "as_of": "发布时间",
        "aqi": "空气质量指数 (AQI)",
        "level": "级别",
        "primary": "首要污染物",
        "none": "无",
        "water_class": "水质类别",
        "no_data": "暂无发布数据",
        "unknown_station": "未找到该站点",
        "last_24h": "最近 24 小时",
        "air": "空气质量",
        "water": "地表水水质",
        "water_short": "水质",
        "source": "数据：已发布的监测数据",
        "station": "站点",
        "hour_cst": "北京时间",
        "legend_air": "AQI 级别",
        "legend_water": "水质类别",
        "not_found_page": "页面不存在",
        "value": "浓度",
        "status": "发布状态",
        "status_preliminary": "实时发布（未经审核）",
        "status_audited": "已审核",
        "status_final": "终审",
        "status_withheld": "不予发布",
        "status_none": "未发布",
        "last_30d": "最近 30 天（日均值）",
        "daily_aqi": "日 AQI",
        "parameter": "项目",
        "withheld_note": "不予发布：该时段数据经核实受到干扰，不予发布",
    },
    "en": {
        "map_title": "Air and water quality now",
        "as_of": "Released for",
        "aqi": "Air Quality Index (AQI)",
        "level": "Level",
        "primary": "Primary pollutant",
        "none": "none",
        "water_class": "Water quality class",
        "no_data": "No released data",
        "unknown_station": "Station not found",
        "last_24h": "Last 24 hours",
        "air": "Air quality",
        "water": "Surface water quality",
        "water_short": "Water",
        "source": "Data: officially released monitoring data",
        "station": "Station",
        "hour_cst": "China Standard Time",
        "legend_air": "AQI level",
        "legend_water": "Water class",
        "not_found_page": "Page not found",
        "value": "Concentration",
        "status": "Release status",
        "status_preliminary": "preliminary (not yet audited)",
        "status_audited": "audited",
        "status_final": "final",
        "status_withheld": "withheld",
        "status_none": "not released",
        "last_30d": "Last 30 days (daily)",
        "daily_aqi": "daily AQI",
        "parameter": "Parameter",
        "withheld_note": "withheld: the values of this period were found to be interfered with and are not published",
    },
}


def language_from_query(search: str | None) -> str:
    """``zh`` unless the query string asks for ``lang=en`` (unknown values fall back to zh)."""
    values = parse_qs((search or "").lstrip("?")).get("lang", [])
    lang = values[0] if values else DEFAULT_LANGUAGE
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def t(key: str, lang: str) -> str:
    """The text for ``key`` in ``lang`` (KeyError for an unknown key, so typos fail in tests)."""
    return TEXT[lang if lang in TEXT else DEFAULT_LANGUAGE][key]


def status_label(status: str | None, lang: str) -> str:
    """The release status of a value or group in words (Chinese first); None = not released."""
    return t(f"status_{status}" if isinstance(status, str) and status else "status_none", lang)
