"""Component ids, one StrEnum per view and namespaced by a prefix, so pages never collide."""

from __future__ import annotations

from enum import StrEnum


class ShellIds(StrEnum):
    LOCATION = "shell-location"
    LANG = "shell-lang"
    LANG_BUTTON = "shell-lang-button"
    PAGE = "shell-page"
    NAV_SITUATION = "shell-nav-situation"
    NAV_EVENTS = "shell-nav-events"
    TITLE = "shell-title"
    USER = "shell-user"
    LOGOUT = "shell-logout"


class SituationIds(StrEnum):
    MAP = "situation-map"
    HEADLINE = "situation-headline"
    TIME_SLIDER = "situation-time-slider"
    TIME_LABEL = "situation-time-label"
    RESOLUTION = "situation-resolution"
    PLAY = "situation-play"
    INTERVAL = "situation-interval"
    LAYERS = "situation-layers"
    PROVINCE = "situation-province"
    CITY = "situation-city"
    COUNTY = "situation-county"
    EXTENT = "situation-extent"
    NAV = "situation-nav"


class ExplorerIds(StrEnum):
    GRID = "explorer-grid"
    KIND = "explorer-kind"
    STATUS = "explorer-status"
    MIN_SCORE = "explorer-min-score"
    QUICK = "explorer-quick"
    EXPORT = "explorer-export"
    COUNT = "explorer-count"
    NAV = "explorer-nav"
    DATA_GAPS = "explorer-data-gaps"
    WORKLOAD = "explorer-workload"


class StationIds(StrEnum):
    STATION = "station-id-store"
    EVENT = "station-event-store"
    PARAMETERS = "station-parameters"
    SERIES = "station-series"
    MINIMAP = "station-minimap"
    EVIDENCE = "station-evidence"
    TABS = "station-tabs"
    ANALYSIS_PARAMETER = "station-analysis-parameter"
    NEIGHBOUR = "station-neighbour"
    ANALYSIS = "station-analysis"
    COMMENT = "station-comment"
    CONFIRM = "station-confirm"
    FALSE_ALARM = "station-false-alarm"
    REOPEN = "station-reopen"
    REVIEW_STATUS = "station-review-status"
    REVIEW_HISTORY = "station-review-history"
    NAV = "station-nav"
