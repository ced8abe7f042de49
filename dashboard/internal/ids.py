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
    NAV_INBOX = "shell-nav-inbox"
    NAV_CASES = "shell-nav-cases"
    NAV_RECORD = "shell-nav-record"
    NAV_ASSESSMENT = "shell-nav-assessment"
    NAV_CONTRACTORS = "shell-nav-contractors"
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


class CasesIds(StrEnum):
    OPEN = "cases-open"
    OVERDUE = "cases-overdue"
    TOTAL = "cases-total"
    MEDIAN = "cases-median"
    FUNNEL = "cases-funnel"
    TABLE = "cases-table"


class CaseIds(StrEnum):
    LINKS = "case-links"
    CASE = "case-id-store"
    VERSION = "case-version"
    BODY = "case-body"
    MESSAGE = "case-message"
    HEADING = "case-heading"
    STATE = "case-state"
    ACTION = "case-action"
    FIELDS = "case-fields"
    FIELD = "case-field"          # pattern-matching type: {"type": FIELD, "name": <field>}
    REASON = "case-reason"
    SUBMIT = "case-submit"
    HISTORY = "case-history"
    EVIDENCE = "case-evidence"
    EVIDENCE_HTML = "case-evidence-html"


class InboxIds(StrEnum):
    TASKS = "inbox-tasks"
    ALARMS = "inbox-alarms"                  # alarms for enforcement (the header's count)
    REVIEW_ALARMS = "inbox-review"           # suspected interference waiting for the analyst's determination
    MONITORING_ALARMS = "inbox-monitoring"   # monitoring stations' data completeness and flags
    TIPS = "inbox-tips"
    DELIVERIES = "inbox-deliveries"
    DELIVERY_COUNTS = "inbox-delivery-counts"
    OPEN_ALARM = "inbox-open-alarm"   # pattern-matching type: {"type": OPEN_ALARM, "ref": alarm_id}
    OPEN_TIP = "inbox-open-tip"       # pattern-matching type: {"type": OPEN_TIP, "ref": tip_id}
    MESSAGE = "inbox-message"
    NEW_CASE = "inbox-new-case"
class RecordIds(StrEnum):
    NAME = "record-name"
    POST = "record-post"
    UNIT = "record-unit"
    CHANNEL = "record-channel"
    OCCURRED_AT = "record-occurred-at"
    CONTENT = "record-content"
    STATIONS = "record-stations"
    CASES = "record-cases"
    UPLOAD = "record-upload"
    ATTACHED = "record-attached"
    SAVE = "record-save"
    STATUS = "record-status"
    LAST_INDEX = "record-last-index"
    RECEIPT = "record-receipt"
    RECEIPT_DOWNLOAD = "record-receipt-download"
    CHECKPOINT = "record-checkpoint"
    CHECKPOINT_DOWNLOAD = "record-checkpoint-download"
    LIST = "record-list"
class AssessmentIds(StrEnum):
    LEVEL = "assessment-level"
    RUN = "assessment-run"
    MAP = "assessment-map"
    GRID = "assessment-grid"
    CAUSES = "assessment-causes"
    EXPORT = "assessment-export"


class ContractorIds(StrEnum):
    GRID = "contractors-grid"
    EXPORT = "contractors-export"
    BLACKLIST = "contractors-blacklist"
    CREDIT = "contractors-credit"
    LABS = "contractors-labs"
