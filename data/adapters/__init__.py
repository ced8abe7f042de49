"""Source adapters: each turns one source format into long readings (ts naive UTC) or stations.

Formats (``envtrust ingest --format``; ``auto`` detects from the header):

============== ============================================================== ==============
format         header that identifies it                                      module
============== ============================================================== ==============
long           ``station_id, ts, parameter, value[, flag][, unit]`` (CSV/Parquet) ``long``
beijing        ``No, year, month, day, hour, PM2.5, ...`` (UCI PRSA files)     ``beijing``
cnemc_day      ``date, hour, type, <station codes>...`` (quotsoft daily)       ``cnemc``
stations       ``station_id, name, kind, lon, lat, ...`` (CSV/Parquet)         ``long``
beijing_stations ``station, cnemc_code, name_zh, lon, lat, ...``               ``beijing``
cnemc_stations ``监测点编码, 监测点名称, 城市, 经度, 纬度, ...``               ``cnemc``
============== ============================================================== ==============
"""

from data.adapters.base import (
    FORMATS,
    LONG_REQUIRED,
    READING_FORMATS,
    STATION_FORMATS,
    AdapterResult,
    IngestError,
    decode_bytes,
    detect_format,
    empty_quarantine,
    file_sha256,
    header_columns,
    is_gzip,
    is_parquet,
    normalised_select,
    open_text,
)

__all__ = [
    "AdapterResult",
    "FORMATS",
    "IngestError",
    "LONG_REQUIRED",
    "READING_FORMATS",
    "STATION_FORMATS",
    "decode_bytes",
    "detect_format",
    "empty_quarantine",
    "file_sha256",
    "header_columns",
    "is_gzip",
    "is_parquet",
    "normalised_select",
    "open_text",
]
