"""The vocabulary every layer shares, defined once: parameters (canonical names, units, networks,
HJ 212 codes, physical ranges), HJ 212 data flags, station kinds, interference (event) kinds and
the time zone of the sources.

Every reading in the store uses one of these names and its canonical unit. Ingest rejects
names not listed here (quarantine reason ``unknown_parameter``) and values outside the
physical range (``out_of_physical_range``); negative concentrations get their own reason
(``negative_concentration``) because they are the commonest instrument fault.

Units follow the issue: air in ug/m3 (CO in mg/m3); surface water per GB 3838-2002 (mg/L,
pH dimensionless, conductivity uS/cm, turbidity NTU); flue gas in mg/m3 as measured (dry,
actual O2; the reference-O2 value is computed, never stored), O2 in %, flow in m3/h.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Parameter:
    name: str
    network: str  # air | met | water | flue | wastewater
    unit: str
    label_zh: str
    hj212_codes: tuple[str, ...] = ()
    min_value: float | None = 0.0
    max_value: float | None = None
    is_concentration: bool = True


PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in [
        # ambient air (HJ 633 / GB 3095 pollutants)
        Parameter("PM2.5", "air", "ug/m3", "细颗粒物", ("a34004",), 0.0, 2000.0),
        Parameter("PM10", "air", "ug/m3", "可吸入颗粒物", ("a34002",), 0.0, 3000.0),
        Parameter("SO2", "air", "ug/m3", "二氧化硫", ("a21026", "02"), 0.0, 5000.0),
        Parameter("NO2", "air", "ug/m3", "二氧化氮", ("a21004",), 0.0, 3000.0),
        Parameter("CO", "air", "mg/m3", "一氧化碳", ("a21005", "04"), 0.0, 150.0),
        Parameter("O3", "air", "ug/m3", "臭氧", ("a05024",), 0.0, 1500.0),
        # meteorology carried with air stations (Beijing set); not pollutant concentrations
        Parameter("TEMP", "met", "degC", "气温", ("a01001",), -60.0, 60.0, False),
        Parameter("PRES", "met", "hPa", "气压", ("a01006",), 500.0, 1100.0, False),
        Parameter("DEWP", "met", "degC", "露点温度", (), -70.0, 45.0, False),
        Parameter("RH", "met", "%", "相对湿度", ("a01002",), 0.0, 100.0, False),
        Parameter("RAIN", "met", "mm", "降水量", (), 0.0, 300.0, False),
        Parameter("WS", "met", "m/s", "风速", ("a01007",), 0.0, 75.0, False),
        Parameter("WD", "met", "deg", "风向", ("a01008",), 0.0, 360.0, False),
        # surface water automatic stations (GB 3838-2002 units; HJ 915 routine set)
        Parameter("pH", "water", "1", "pH值", ("w01001", "001"), 0.0, 14.0, False),
        Parameter("DO", "water", "mg/L", "溶解氧", ("w01009",), 0.0, 25.0),
        Parameter("CODMn", "water", "mg/L", "高锰酸盐指数", ("w01019",), 0.0, 200.0),
        Parameter("NH3-N", "water", "mg/L", "氨氮", ("w21003", "060"), 0.0, 100.0),
        Parameter("TP", "water", "mg/L", "总磷", ("w21011", "101"), 0.0, 50.0),
        Parameter("TN", "water", "mg/L", "总氮", ("w21001", "065"), 0.0, 200.0),
        Parameter("turbidity", "water", "NTU", "浊度", ("w01003",), 0.0, 4000.0),
        Parameter("conductivity", "water", "uS/cm", "电导率", ("w01014",), 0.0, 100000.0),
        Parameter("water_temp", "water", "degC", "水温", ("w01010",), -5.0, 45.0, False),
        # flue-gas CEMS (HJ 75-2017), measured (not O2-corrected) values
        Parameter("flue_SO2", "flue", "mg/m3", "烟气二氧化硫", ("a21026", "02"), 0.0, 20000.0),
        Parameter("flue_NOx", "flue", "mg/m3", "烟气氮氧化物", ("a21002", "03"), 0.0, 10000.0),
        Parameter("flue_dust", "flue", "mg/m3", "烟尘", ("a34013", "01"), 0.0, 10000.0),
        Parameter("flue_O2", "flue", "%", "烟气含氧量", ("a19001", "S01"), 0.0, 21.0, False),
        Parameter("flue_flow", "flue", "m3/h", "废气流量", ("a00000", "B02"), 0.0, 1.0e8, False),
        Parameter("flue_temp", "flue", "degC", "烟气温度", ("a01012", "S03"), -20.0, 1000.0, False),
        # wastewater outlets
        Parameter("ww_COD", "wastewater", "mg/L", "化学需氧量", ("w01018", "011"), 0.0, 50000.0),
        Parameter("ww_NH3-N", "wastewater", "mg/L", "废水氨氮", ("w21003", "060"), 0.0, 5000.0),
        Parameter("ww_flow", "wastewater", "m3/h", "废水流量", ("w00000", "B01"), 0.0, 1.0e6, False),
    ]
}

#: the six pollutants of GB 3095-2012 / HJ 633-2012, in the order the national release lists them
AIR_POLLUTANTS: tuple[str, ...] = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")
WATER_PARAMETERS: tuple[str, ...] = (
    "pH", "DO", "CODMn", "NH3-N", "TP", "TN", "turbidity", "conductivity", "water_temp",
)
FLUE_PARAMETERS: tuple[str, ...] = ("flue_SO2", "flue_NOx", "flue_dust", "flue_O2", "flue_flow", "flue_temp")
WASTEWATER_PARAMETERS: tuple[str, ...] = ("ww_COD", "ww_NH3-N", "ww_flow")

# HJ 212-2017 data flags (standards.md 1.8); only N is valid for averaging by default.
DATA_FLAGS: dict[str, str] = {
    "N": "normal",
    "F": "stopped",
    "M": "maintenance",
    "S": "manually set value",
    "D": "instrument fault",
    "C": "calibration",
    "T": "above measuring range",
    "B": "communication fault",
}
VALID_FLAGS: frozenset[str] = frozenset({"N"})

STATION_KINDS: tuple[str, ...] = ("air_station", "air_micro", "water_section", "polluter_outlet")
AIR_STATION_KINDS: tuple[str, ...] = ("air_station", "air_micro")
WATER_STATION_KINDS: tuple[str, ...] = ("water_section",)

#: the interference kinds an event can name (the engine's output vocabulary; words at the UI edge)
EVENT_KINDS: tuple[str, ...] = (
    "suppression", "outage", "flatline", "fabrication", "drift", "clipping", "flag_abuse", "spike",
)
#: each event kind in the official wording (Chinese, English): the UI's labels and the names the
#: application gives cases, so a case title and the explorer say the same thing
EVENT_KIND_LABELS: dict[str, tuple[str, str]] = {
    "suppression": ("压低数据", "Suppression"),
    "outage": ("断线/缺测", "Outage"),
    "flatline": ("数值不变", "Flatline"),
    "fabrication": ("伪造数据", "Fabrication"),
    "drift": ("漂移", "Drift"),
    "clipping": ("削峰", "Clipping"),
    "flag_abuse": ("标记滥用", "Flag abuse"),
    "spike": ("尖峰", "Spike"),
    "data_gap": ("数据缺失/传输中断", "Data gap / transmission interrupted"),
}
#: the kinds that can happen at an ambient station or a water section (no HJ 212 flags there)
AIR_EVENT_KINDS: tuple[str, ...] = ("suppression", "outage", "flatline", "fabrication", "drift", "clipping", "spike")
WATER_EVENT_KINDS: tuple[str, ...] = AIR_EVENT_KINDS
#: the kinds evaluated at CEMS outlets
CEMS_EVENT_KINDS: tuple[str, ...] = ("flag_abuse", "clipping", "flatline")

#: China Standard Time: a fixed UTC+8 with no daylight saving since 1991, the clock of every source;
#: the store keeps naive UTC.
CST_UTC_OFFSET_H: int = 8
#: the zone the UI shows by default (settings may override it)
DISPLAY_TZ: str = "Asia/Shanghai"
SECTION_ROLES: tuple[str, ...] = ("inbound", "outbound", "control", "drinking_source")


def parameter(name: str) -> Parameter:
    """Look up a parameter; the KeyError names the known ones so a typo is easy to fix."""
    try:
        return PARAMETERS[name]
    except KeyError:
        raise KeyError(f"unknown parameter {name!r}; known: {', '.join(PARAMETERS)}") from None

#: one line in both UI languages, "English | 中文": the engine's event summaries and the alarm
#: summaries are stored so, and every page shows the half in the user's language (:func:`in_language`)
BILINGUAL_SEP = " | "


def bilingual(en: str, zh: str) -> str:
    """The stored form of a sentence in both languages (numbers and units the same in both)."""
    return f"{en}{BILINGUAL_SEP}{zh}"


def in_language(text: str, lang: str) -> str:
    """The half of a :func:`bilingual` line in ``lang`` (``en``; anything else: Chinese); a line
    written in one language only is returned as it is."""
    en, sep, zh = str(text).partition(BILINGUAL_SEP)
    return (en if lang == "en" else zh) if sep else str(text)


#: how an official's interference reached the station (干预留痕), code -> Chinese label
INTERFERENCE_CHANNELS: dict[str, str] = {
    "written_instruction": "批示",
    "letter": "函文",
    "oral": "口头",
    "hint": "暗示",
    "other": "其他",
}


def monitored_columns(parameters) -> np.ndarray:
    """[P] bool: the parameters an event can be about - everything but the meteorology an air
    station carries (wind, temperature, pressure, humidity, rain). Those readings explain the
    pollutants (dispersion, washout); a wind vane that reads unlike its neighbours is not data
    interference, and a wind direction "194% above its neighbours" is no evidence an analyst can use."""
    return np.array([PARAMETERS[p].network != "met" if p in PARAMETERS else True for p in parameters], dtype=bool)
