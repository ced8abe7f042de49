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
        "ranking_title": "城市空气质量排名",
        "rank": "排名",
        "city": "城市",
        "composite_index": "综合指数",
        "stations_n": "站点数",
        "by_aqi": "按 AQI",
        "by_composite": "按综合指数",
        "day_cst": "日期（北京时间）",
        "bad_date": "日期格式有误，应为 YYYY-MM-DD",
        "water_title": "地表水水质自动监测断面",
        "section": "断面",
        "river": "河流",
        "target_class": "目标类别",
        "meets_target": "是否达标",
        "meets": "达标",
        "misses": "未达标",
        "no_target": "未设定",
        "time": "时间",
        "about_title": "数据说明",
        "about_statuses": "发布状态",
        "about_status_preliminary": "自动监测实时数据，仅经过自动审核（官方站点、HJ 212 有效数据标记），可能在审核后修改。",
        "about_status_audited": "经人工审核后发布；受确认干扰影响的数据不予发布。",
        "about_status_final": "审核期已关闭的最终数据。",
        "about_status_withheld": "该时段数据经核实受到人为干扰，不予发布，不显示数值。",
        "about_changes": "数据发布后如有修改，保留原值及修改人、时间和原因（可通过数据接口查询历史版本）。",
        "about_units": "监测项目与单位",
        "about_standards": "评价标准",
        "about_licence": "数据许可",
        "about_api": "数据接口",
        "about_api_text": "全部已发布数据可通过数据接口 /api/v1 获取（JSON、CSV），接口文档见 /api/v1/docs。",
        "about_times": "时间均为北京时间；小时值为该小时的均值，日均值为北京时间自然日的均值。",
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
        "ranking_title": "City air quality ranking",
        "rank": "Rank",
        "city": "City",
        "composite_index": "Composite index",
        "stations_n": "Stations",
        "by_aqi": "by AQI",
        "by_composite": "by composite index",
        "day_cst": "Day (China Standard Time)",
        "bad_date": "The date must read YYYY-MM-DD",
        "water_title": "Surface water automatic monitoring sections",
        "section": "Section",
        "river": "River",
        "target_class": "Target class",
        "meets_target": "Target met",
        "meets": "met",
        "misses": "not met",
        "no_target": "not set",
        "time": "Time",
        "about_title": "About the data",
        "about_statuses": "Release statuses",
        "about_status_preliminary": "Real-time automatic monitoring data with automatic checks only (official "
                                    "stations, valid HJ 212 data flags); may change after the audit.",
        "about_status_audited": "Released after the analysts' audit; values affected by confirmed interference "
                                "are withheld.",
        "about_status_final": "Final values of a closed audit period.",
        "about_status_withheld": "The values of this period were found to be interfered with; no value is "
                                 "published.",
        "about_changes": "A value changed after release keeps its earlier value with who changed it, when and why "
                         "(earlier versions through the data API).",
        "about_units": "Parameters and units",
        "about_standards": "Standards",
        "about_licence": "Licence",
        "about_api": "Data API",
        "about_api_text": "All released data are available from the data API /api/v1 (JSON, CSV); its documentation "
                          "is at /api/v1/docs.",
        "about_times": "Times are China Standard Time (UTC+8); hourly values are the hour's mean, daily values the "
                       "mean of a China Standard Time day.",
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
