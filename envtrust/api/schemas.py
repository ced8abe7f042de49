"""Marshmallow schemas of the public API: query parameters (validated, unknown ones refused) and
the documented answers. The OpenAPI document is generated from these."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from data.release import RELEASE_STATUSES

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}(,[A-Za-z0-9_.\-]{1,64})*$"
NAME_PATTERN = r"^[\w .\-]{1,80}$"
PARAMETER_PATTERN = r"^[A-Za-z0-9_.\-]{1,32}(,[A-Za-z0-9_.\-]{1,32})*$"
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2})?)?(Z|[+-]\d{2}:?\d{2})?)?$"


class StrictQuery(ma.Schema):
    """Query parameters; an unknown one is an error (a typo must not silently widen a query)."""

    class Meta:
        unknown = ma.RAISE


def _list(pattern: str, what: str) -> fields.String:
    return fields.String(validate=validate.Regexp(pattern, error=f"{what}: comma-separated ids of letters, "
                                                                  "digits, '.', '-' or '_'"),
                         metadata={"description": f"{what}, comma-separated"})


class PageQuery(StrictQuery):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(1, MAX_LIMIT),
                           metadata={"description": f"results per page, 1..{MAX_LIMIT}"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000),
                          metadata={"description": "page number, from 1"})


class FormatQuery(PageQuery):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]),
                           metadata={"description": "json (default) or csv"})


class LocationsQuery(PageQuery):
    kind = fields.String(validate=validate.OneOf(["air_station", "water_section"]),
                         metadata={"description": "air_station or water_section"})
    city = fields.String(validate=validate.Regexp(NAME_PATTERN, error="city: a city name"))
    province = fields.String(validate=validate.Regexp(NAME_PATTERN, error="province: a province name"))


def _time(what: str) -> fields.String:
    return fields.String(
        validate=validate.Regexp(TIME_PATTERN, error=f"{what}: an ISO 8601 date or date-time, e.g. 2017-01-01 "
                                                      "or 2017-01-01T08:00:00+08:00"),
        metadata={"description": f"{what} (inclusive); ISO 8601; without an offset it is UTC; a date alone "
                                                     "is a UTC day, or with period=day a China Standard Time day"})


class MeasurementsQuery(FormatQuery):
    location = _list(ID_PATTERN, "location ids")
    city = fields.String(validate=validate.Regexp(NAME_PATTERN, error="city: a city name"),
                         metadata={"description": "all official locations of a city"})
    parameter = _list(PARAMETER_PATTERN, "parameter names")
    date_from = _time("date_from")
    date_to = _time("date_to")
    period = fields.String(load_default="hour", validate=validate.OneOf(["hour", "day"]),
                           metadata={"description": "hour (default) or day (China Standard Time day)"})
    status = fields.String(validate=validate.OneOf(RELEASE_STATUSES),
                           metadata={"description": "only values with this release status"})


class HistoryQuery(PageQuery):
    location = _list(ID_PATTERN, "location ids")
    parameter = _list(PARAMETER_PATTERN, "parameter names")
    date_from = _time("date_from")
    date_to = _time("date_to")


class LatestQuery(FormatQuery):
    location = _list(ID_PATTERN, "location ids")
    city = fields.String(validate=validate.Regexp(NAME_PATTERN, error="city: a city name"))
    kind = fields.String(validate=validate.OneOf(["air_station", "water_section"]))
    parameter = _list(PARAMETER_PATTERN, "parameter names")


class RankingQuery(StrictQuery):
    date = fields.String(required=True, validate=validate.Regexp(r"^\d{4}-\d{2}-\d{2}$",
                                                                 error="date: YYYY-MM-DD (China Standard Time day)"))
    order_by = fields.String(load_default="aqi", validate=validate.OneOf(["aqi", "composite_index"]))


# ---------------------------------------------------------------- answers

class Meta(ma.Schema):
    name = fields.String(required=True)
    website = fields.String(required=True)
    license = fields.String(required=True, metadata={"description": "licence of the data"})
    found = fields.Integer(required=True, metadata={"description": "results matching, over all pages"})
    limit = fields.Integer(required=True)
    page = fields.Integer(required=True)


class Coordinates(ma.Schema):
    latitude = fields.Float(required=True)
    longitude = fields.Float(required=True)


class Admin(ma.Schema):
    province = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    county = fields.String(allow_none=True)


class ParameterRef(ma.Schema):
    name = fields.String(required=True)
    unit = fields.String(required=True)


class Location(ma.Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    name_en = fields.String(allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(["air_station", "water_section"]))
    coordinates = fields.Nested(Coordinates, required=True)
    admin = fields.Nested(Admin, required=True)
    river = fields.String(allow_none=True)
    waterbody_type = fields.String(allow_none=True)
    parameters = fields.List(fields.Nested(ParameterRef), required=True)


class LocationsPage(ma.Schema):
    meta = fields.Nested(Meta, required=True)
    results = fields.List(fields.Nested(Location), required=True)


class Parameter(ma.Schema):
    name = fields.String(required=True)
    unit = fields.String(required=True)
    label_zh = fields.String(required=True)
    network = fields.String(required=True)
    kinds = fields.List(fields.String(), required=True)


class ParametersPage(ma.Schema):
    meta = fields.Nested(Meta, required=True)
    results = fields.List(fields.Nested(Parameter), required=True)


class Coverage(ma.Schema):
    expected_count = fields.Integer(required=True, metadata={"description": "hours expected in the period"})
    observed_count = fields.Integer(required=True, metadata={"description": "hours with a released value"})
    withheld_count = fields.Integer(required=True, metadata={"description": "hours withheld (confirmed interference)"})
    percent_complete = fields.Float(required=True)


class Measurement(ma.Schema):
    location_id = fields.String(required=True)
    parameter = fields.String(required=True)
    unit = fields.String(required=True)
    period = fields.String(required=True, validate=validate.OneOf(["hour", "day"]))
    datetime_from = fields.String(required=True, metadata={"description": "UTC, ISO 8601"})
    datetime_to = fields.String(required=True, metadata={"description": "UTC, ISO 8601 (exclusive)"})
    local_date = fields.String(allow_none=True, metadata={"description": "China Standard Time day (period=day)"})
    value = fields.Float(allow_none=True, metadata={"description": "null when withheld"})
    status = fields.String(required=True, validate=validate.OneOf(RELEASE_STATUSES))
    version = fields.Integer(allow_none=True, metadata={"description": "release version (period=hour)"})
    coverage = fields.Nested(Coverage, required=True)


class MeasurementsPage(ma.Schema):
    meta = fields.Nested(Meta, required=True)
    results = fields.List(fields.Nested(Measurement), required=True)


class Latest(ma.Schema):
    location_id = fields.String(required=True)
    parameter = fields.String(required=True)
    unit = fields.String(required=True)
    datetime = fields.String(required=True)
    value = fields.Float(required=True)
    status = fields.String(required=True, validate=validate.OneOf(RELEASE_STATUSES))
    version = fields.Integer(required=True)


class LatestPage(ma.Schema):
    meta = fields.Nested(Meta, required=True)
    results = fields.List(fields.Nested(Latest), required=True)


class Version(ma.Schema):
    location_id = fields.String(required=True)
    parameter = fields.String(required=True)
    datetime_from = fields.String(required=True)
    value = fields.Float(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(RELEASE_STATUSES))
    version = fields.Integer(required=True)
    released_at = fields.String(required=True)
    released_by = fields.String(required=True)
    note = fields.String(allow_none=True)
    superseded_at = fields.String(allow_none=True)


class HistoryPage(ma.Schema):
    meta = fields.Nested(Meta, required=True)
    results = fields.List(fields.Nested(Version), required=True)


class CityRank(ma.Schema):
    rank = fields.Integer(required=True)
    city = fields.String(required=True)
    province = fields.String(allow_none=True)
    aqi = fields.Float(allow_none=True)
    level = fields.Integer(allow_none=True)
    primary_pollutant = fields.String(allow_none=True)
    composite_index = fields.Float(allow_none=True)
    stations = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(RELEASE_STATUSES))


class RankingPage(ma.Schema):
    meta = fields.Nested(Meta, required=True)
    results = fields.List(fields.Nested(CityRank), required=True)
