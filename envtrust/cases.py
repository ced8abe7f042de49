"""The closed loop (闭环): a case from clue to closure (销号), as a state machine over an event log.

States and transitions are declared once, in :class:`CaseMachine` (python-statemachine); the
roles and required fields of each transition in :data:`ACTIONS`. A case's state is never written
as a mutable column: every change appends one row to ``case_events`` (who, role, when, from, to,
why, fields) and the state is the newest row's ``to_state`` (:mod:`data.cases`). Every change is
also written to the tamper-evident record through ``data.audit.append``.

Checks on the server, in this order, each refusal a :class:`CaseError` with a clear message:
the action exists; the user's role may take it; the machine allows it from the current state
(no skipping); its required fields are present; the case is still at the version the user read
(optimistic check, so of two concurrent transitions only one succeeds).

Side effects: the evidence pack is frozen at the clue transfer (:mod:`envtrust.evidence`), and the
case's alarms not yet pushed to enforcement are pushed then (the analyst's preliminary determination,
:func:`envtrust.alarms.push_to_enforcement`, in the transition's transaction);
a penalty decision labels the linked engine events ``confirmed`` and a false alarm labels them
``false_alarm`` (the labels the engine learns from, ``event_reviews``); disclosure writes the
public decision (``case_disclosures``, the only case table the public side reads).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb
import holidays
import pandas as pd
from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed

from data import alarms as alarm_sql
from data import audit
from data import cases as sql
from data.record import log_transaction
from data.views import record_review
from envtrust.alarms import push_to_enforcement


class CaseError(ValueError):
    """A refused case operation, with a message the user can act on."""


class CaseMachine(StateMachine):
    """发现 -> 线索移交 -> 调查 -> 处罚 -> 公开 -> 销号, with the side exits and reopening."""

    found = State("发现 found", initial=True)
    clue_transferred = State("线索移交 clue transferred")
    investigating = State("调查 investigating")
    penalty_decided = State("处罚 penalty decided")
    disclosed = State("公开 disclosed")
    closed = State("销号 closed")
    false_alarm = State("误报 false alarm")
    no_penalty = State("不予处罚 no penalty")
    criminal_transfer = State("移送公安 criminal transfer")
    transferred_out = State("转办 transferred to another agency")

    transfer_clue = found.to(clue_transferred)
    dismiss = found.to(false_alarm) | clue_transferred.to(false_alarm) | investigating.to(false_alarm)
    accept = clue_transferred.to(investigating)
    transfer_agency = clue_transferred.to(transferred_out) | investigating.to(transferred_out)
    decide_penalty = investigating.to(penalty_decided)
    decide_no_penalty = investigating.to(no_penalty)
    transfer_police = investigating.to(criminal_transfer)
    disclose = penalty_decided.to(disclosed)
    # 国务院令 310, two steps inside 移送公安: the head approves the transfer, then the file is handed over
    approve_police_transfer = criminal_transfer.to.itself(cond="police_awaiting_approval")
    hand_over_police = criminal_transfer.to.itself(cond="police_transfer_approved")
    request_closure = (disclosed.to.itself() | no_penalty.to.itself()
                       | criminal_transfer.to.itself(cond="police_handed_over") | transferred_out.to.itself())
    close = (disclosed.to(closed, cond="closure_requested") | no_penalty.to(closed, cond="closure_requested")
             | criminal_transfer.to(closed, cond="closure_requested")
             | transferred_out.to(closed, cond="closure_requested") | false_alarm.to(closed))
    reopen = closed.to(investigating) | false_alarm.to(found) | no_penalty.to(investigating)

    def __init__(self, state: str, closure_requested: bool = False, police_step: str | None = None):
        self.closure_requested = closure_requested
        self.police_awaiting_approval = police_step == "transfer_police"
        self.police_transfer_approved = police_step == "approve_police_transfer"
        self.police_handed_over = police_step in ("hand_over_police", "request_closure")
        super().__init__(start_value=state)


STATES: tuple[str, ...] = tuple(s.id for s in CaseMachine.states)
#: the main line, in order (the funnel)
MAIN_LINE: tuple[str, ...] = ("found", "clue_transferred", "investigating", "penalty_decided", "disclosed", "closed")
OPEN_STATES: frozenset[str] = frozenset(STATES) - {"closed"}
STATE_NAMES: dict[str, tuple[str, str]] = {s.id: tuple(s.name.split(" ", 1)) for s in CaseMachine.states}
LEGAL_TYPES: dict[str, tuple[str, str]] = {  # 环发〔2015〕175号
    "tampering": ("篡改监测数据", "tampering with monitoring data"),
    "falsification": ("伪造监测数据", "falsifying monitoring data"),
    "instigation": ("指使篡改、伪造", "instigating tampering or falsification"),
    "exceedance": ("超标排放", "emission above the limit"),
    "other": ("其他", "other"),
}


@dataclass(frozen=True)
class Action:
    roles: frozenset[str]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    reason_required: bool = False
    zh: str = ""
    en: str = ""


ACTIONS: dict[str, Action] = {  # the main line first: a page offers the next step of the line by default
    "transfer_clue": Action(frozenset({"analyst", "leader"}), optional=("note",), zh="移交线索", en="transfer clue"),
    "accept": Action(frozenset({"enforcement"}), optional=("note",), zh="立案调查", en="accept and investigate"),
    "decide_penalty": Action(frozenset({"enforcement"}), required=("finding", "penalty", "legal_basis"),
                             optional=("decided_on",), zh="作出处罚决定", en="decide penalty"),
    "disclose": Action(frozenset({"enforcement", "leader"}), zh="公开", en="disclose"),
    "request_closure": Action(frozenset({"enforcement"}), required=("rectification",),
                              zh="申请销号", en="request closure"),
    "close": Action(frozenset({"leader"}), optional=("note",), zh="批准销号", en="approve closure"),
    "dismiss": Action(frozenset({"analyst", "enforcement"}), reason_required=True, zh="误报", en="false alarm"),
    "decide_no_penalty": Action(frozenset({"enforcement"}), reason_required=True, zh="不予处罚", en="no penalty"),
    "transfer_police": Action(frozenset({"enforcement"}), required=("police_organ",), reason_required=True,
                              zh="移送公安", en="transfer to the police"),
    "transfer_agency": Action(frozenset({"enforcement"}), required=("agency",), reason_required=True,
                              zh="转办", en="transfer to another agency"),
    "approve_police_transfer": Action(frozenset({"leader"}), optional=("note",), zh="批准移送",
                                      en="approve the transfer to the police"),
    "hand_over_police": Action(frozenset({"enforcement"}), optional=("note",), zh="移交案卷",
                               en="hand the file over to the police"),
    "reopen": Action(frozenset({"leader"}), reason_required=True, zh="重新打开", en="reopen"),
}
OPEN_ROLES: frozenset[str] = frozenset({"analyst", "leader"})
FIELD_NAMES: dict[str, tuple[str, str]] = {
    "finding": ("认定事实", "finding"), "penalty": ("处罚内容", "penalty"),
    "legal_basis": ("法律依据", "legal basis"), "decided_on": ("决定日期", "decided on"),
    "agency": ("承办机关", "agency"), "police_organ": ("公安机关", "police organ"),
    "rectification": ("整改核查情况", "rectification verified"), "note": ("备注", "note"),
}
MAX_TEXT = 4000


# ---------------------------------------------------------------- clocks

#: deadline per clock: "<n>d" calendar days, "<n>wd" working days, "<n>h" hours. A clock is a state,
#: or a step inside one (the criminal transfer's two steps, :func:`clock_key`).
DEFAULT_CLOCKS: dict[str, str] = {
    "found": "5wd",              # internal triage target (no legal clock)
    "clue_transferred": "7wd",   # decide whether to file a case after a clue arrives (2010 measures: 7 working days)
    "investigating": "90d",      # 行政处罚法 (2021) art. 60: decision within 90 days of filing
    "penalty_decided": "20wd",   # publish the decision within 20 working days (local disclosure catalogues)
    "criminal_transfer": "3d",   # 国务院令 310: the head decides on the transfer within 3 days of the report
    "criminal_transfer_handover": "24h",  # 国务院令 310: the file reaches the police within 24 h of approval
    "criminal_transfer_police": "3d",     # 国务院令 310: the police decide on filing within 3 days (follow up)
    "disclosed": "30d",          # internal: closure after rectification and disclosure
    "no_penalty": "30d", "transferred_out": "30d",
}
#: clocks that run inside a state from one of its steps, by (state, the step's action)
STEP_CLOCKS: dict[tuple[str, str], str] = {
    ("criminal_transfer", "approve_police_transfer"): "criminal_transfer_handover",
    ("criminal_transfer", "hand_over_police"): "criminal_transfer_police",
    ("criminal_transfer", "request_closure"): "criminal_transfer_police",
}
CLOCK_KEYS: tuple[str, ...] = (*STATES, *dict.fromkeys(STEP_CLOCKS.values()))
#: the legal calendar: Chinese public holidays and adjusted working days (调休), counted on Beijing dates
LEGAL_TZ = "Asia/Shanghai"
_CLOCK = re.compile(r"^(\d+)(d|wd|h)$")


def clock_key(state: str, last_action: str | None) -> str:
    """The clock that runs for a case in ``state`` whose newest step was ``last_action``."""
    return STEP_CLOCKS.get((state, str(last_action)), state)


def parse_clocks(text: str | None) -> dict[str, str]:
    """``"investigating=60d,clue_transferred=5wd"`` over the defaults; unknown clocks or units are refused."""
    clocks = dict(DEFAULT_CLOCKS)
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        state, _, value = part.partition("=")
        state, value = state.strip(), value.strip()
        if state not in CLOCK_KEYS:
            raise ValueError(f"case clock for unknown state {state!r}; clocks: {', '.join(CLOCK_KEYS)}")
        if value in ("", "none"):
            clocks.pop(state, None)
        elif not _CLOCK.match(value):
            raise ValueError(f"case clock {part!r}: expected <n>d, <n>wd or <n>h")
        else:
            clocks[state] = value
    return clocks


@functools.lru_cache(maxsize=1)
def _china_calendar() -> holidays.HolidayBase:
    """China's public holidays with the weekend days made working days (调休), years filled on demand."""
    return holidays.China()


def is_working_day(day: date) -> bool:
    """A Chinese working day: Mon-Fri and not a public holiday, or a weekend day made a working day."""
    return _china_calendar().is_working_day(day)


def add_working_days(day: date, n: int) -> date:
    """The ``n``-th working day after ``day``, counting from the first working day on or after it
    (as numpy's ``busday_offset(roll="forward")`` does, on the Chinese legal calendar)."""
    while not is_working_day(day):
        day += timedelta(days=1)
    for _ in range(n):
        day += timedelta(days=1)
        while not is_working_day(day):
            day += timedelta(days=1)
    return day


def deadline(since: datetime, clock: str | None) -> datetime | None:
    """When a clock started at ``since`` (naive UTC) runs out; working days follow the Chinese
    calendar (public holidays, adjusted working days) on Beijing dates."""
    if not clock:
        return None
    n, unit = _CLOCK.match(clock).groups()
    n = int(n)
    since = pd.Timestamp(since).to_pydatetime()
    if unit == "h":
        return since + timedelta(hours=n)
    if unit == "d":
        return since + timedelta(days=n)
    local = pd.Timestamp(since).tz_localize("UTC").tz_convert(LEGAL_TZ)
    due_day = add_working_days(local.date(), n)
    due = pd.Timestamp(datetime.combine(due_day, local.time())).tz_localize(LEGAL_TZ)
    return due.tz_convert("UTC").tz_localize(None).to_pydatetime()


# ---------------------------------------------------------------- opening and moving cases

def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _clean(text: object) -> str:
    return str(text or "").strip()[:MAX_TEXT]


def new_case_id(con, at: datetime) -> str:
    return f"C{at.year}-{sql.next_case_number(con, at.year):04d}"


def open_case(con: duckdb.DuckDBPyConnection, actor: str, role: str, title: str, *, station_id: str | None = None,
              alarm_ids: list[str] = (), event_ids: list[str] = (), tip_id: str | None = None,
              legal_type: str | None = None, reason: str | None = None, now: datetime | None = None) -> str:
    """Open a case in state 发现 from alarms, events, a public tip or by hand; return its id."""
    if role not in OPEN_ROLES:
        raise CaseError(f"role {role!r} cannot open a case (analyst or leader can)")
    title = _clean(title)
    if not title:
        raise CaseError("a case needs a title")
    if legal_type is not None and legal_type not in LEGAL_TYPES:
        raise CaseError(f"unknown legal type {legal_type!r}; one of {', '.join(LEGAL_TYPES)}")
    now = now or _now()
    alarm_ids, event_ids = list(alarm_ids), list(event_ids)
    origin = "tip" if tip_id else "alarm" if alarm_ids else "event" if event_ids else "manual"
    for aid in alarm_ids:
        exists, sid = sql.ref_station(con, "alarm", aid)
        if not exists:
            raise CaseError(f"unknown alarm {aid!r}")
        station_id = station_id or sid
        ev = sql.alarm_event_id(con, aid)
        if ev and ev not in event_ids:
            event_ids.append(ev)
    for eid in event_ids:
        exists, sid = sql.ref_station(con, "event", eid)
        if not exists:
            raise CaseError(f"unknown event {eid!r}")
        station_id = station_id or sid
    if tip_id is not None and sql.tip(con, tip_id) is None:
        raise CaseError(f"unknown tip {tip_id!r}")
    if station_id is not None and not sql.ref_station(con, "station", station_id)[0]:
        raise CaseError(f"unknown station {station_id!r}")
    con.execute("BEGIN TRANSACTION")
    try:
        case_id = new_case_id(con, now)
        sql.insert_case(con, case_id, title, station_id, origin, legal_type, now, actor)
        sql.append_event(con, case_id, 0, now, actor, role, "open", None, "found", _clean(reason) or None,
                         {"alarms": alarm_ids, "events": event_ids, "tip": tip_id})
        for aid in alarm_ids:
            sql.link(con, case_id, "alarm", aid, now)
        for eid in event_ids:
            sql.link(con, case_id, "event", eid, now)
        if tip_id:
            sql.link(con, case_id, "tip", tip_id, now)
            sql.set_tip_status(con, tip_id, "in_case")
        alarm_sql.set_alarm_status(con, alarm_ids, "in_case", now)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    audit.append(con, actor, "case_open", case_id, {"role": role, "origin": origin, "station_id": station_id,
                                                  "alarms": alarm_ids, "events": event_ids, "tip": tip_id})
    return case_id


def closure_requested(history: pd.DataFrame) -> bool:
    """True when closure was requested since the case last entered a new state by another action."""
    return not history.empty and history["action"].iloc[-1] == "request_closure"


POLICE_STEPS: tuple[str, ...] = ("transfer_police", "approve_police_transfer", "hand_over_police", "request_closure")


def police_step(history: pd.DataFrame | None) -> str | None:
    """The newest step of a criminal transfer in ``history`` (what the two-step clock and guards read)."""
    if history is None or history.empty:
        return None
    steps = history.loc[history["action"].isin(POLICE_STEPS), "action"]
    return None if steps.empty else str(steps.iloc[-1])


def case_machine(state: str, history: pd.DataFrame | None) -> CaseMachine:
    """The machine at ``state`` with the guards that ``history`` decides (closure requested, police step)."""
    requested = closure_requested(history) if history is not None else False
    return CaseMachine(state, closure_requested=requested, police_step=police_step(history))


def machine_allows(state: str, action: str, history: pd.DataFrame | None) -> bool:
    """True when the machine takes ``action`` from ``state`` with its guards (conditions included)."""
    try:
        case_machine(state, history).send(action)
    except TransitionNotAllowed:
        return False
    return True


def allowed_actions(state: str, role: str, history: pd.DataFrame | None = None) -> list[str]:
    """The actions ``role`` may take from ``state`` (what the page offers)."""
    return [name for name, spec in ACTIONS.items() if role in spec.roles and machine_allows(state, name, history)]


@dataclass
class TransitionResult:
    case_id: str
    from_state: str
    to_state: str
    version: int
    side_effects: list[str] = field(default_factory=list)


def _check_fields(action: str, spec: Action, reason: str, fields: dict) -> dict:
    missing = [f for f in spec.required if not _clean(fields.get(f))]
    if spec.reason_required and not reason:
        missing.insert(0, "reason")
    if missing:
        names = ", ".join(f"{FIELD_NAMES.get(m, ('理由', 'reason'))[0]} ({m})" for m in missing)
        raise CaseError(f"{action} needs: {names}")
    allowed = set(spec.required) | set(spec.optional)
    extra = sorted(set(k for k, v in fields.items() if _clean(v)) - allowed)
    if extra:
        raise CaseError(f"{action} does not take: {', '.join(extra)}")
    out = {k: _clean(fields[k]) for k in allowed if _clean(fields.get(k))}
    if "decided_on" in out:
        try:
            out["decided_on"] = date.fromisoformat(out["decided_on"]).isoformat()
        except ValueError as exc:
            raise CaseError(f"decided_on must be a date YYYY-MM-DD, not {out['decided_on']!r}") from exc
    return out


def transition(con: duckdb.DuckDBPyConnection, case_id: str, action: str, *, actor: str, role: str,
               expected_version: int, reason: str | None = None, fields: dict | None = None,
               now: datetime | None = None, engine_version: str | None = None) -> TransitionResult:
    """Take ``action`` on a case; every check on the server, one appended event, one audit record."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise CaseError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
    if role not in spec.roles:
        raise CaseError(f"role {role!r} may not {spec.en} (only {', '.join(sorted(spec.roles))})")
    case = sql.case_row(con, case_id)
    if case is None:
        raise CaseError(f"unknown case {case_id!r}")
    state = case["state"]
    history = sql.case_history(con, case_id)
    machine = case_machine(state, history)
    try:
        machine.send(action)
    except TransitionNotAllowed as exc:
        allowed = [a for a in ACTIONS if machine_allows(state, a, history)]
        declared = {e.id for e in CaseMachine(state).allowed_events}
        why = (" (closure must be requested first, with the rectification verified)" if action == "close"
               else " (the head approves the transfer, then the file is handed over, then closure)"
               if action in POLICE_STEPS else "") if action in declared else ""
        raise CaseError(f"cannot {spec.en} a case in state {STATE_NAMES[state][0]} {state}{why}; "
                        f"allowed from here: {', '.join(allowed) or 'nothing'}") from exc
    to_state = machine.current_state_value
    reason = _clean(reason)
    clean = _check_fields(action, spec, reason, dict(fields or {}))
    if int(expected_version) != int(case["version"]):
        raise CaseError(f"case {case_id} changed meanwhile (version {case['version']}, you had "
                        f"{expected_version}); reload it")
    now = now or _now()
    effects: list[str] = []
    pushed: list[str] = []
    try:
        # under the record's lock, like a review: a transfer and a review that push the same alarm
        # queue one after the other instead of failing on each other's write; the step and its
        # audit entry land together or not at all
        with log_transaction(con):
            version = sql.append_event(con, case_id, int(expected_version), now, actor, role, action, state,
                                       to_state, reason or None, clean)
            if action == "disclose":
                _write_disclosure(con, case, history, now)
                effects.append("disclosure published")
            if action == "transfer_clue":
                pushed = push_to_enforcement(con, alarm_sql.case_interference_alarm_ids(con, case_id), actor, now)
            audit.append_within(con, actor, f"case_{action}", case_id,
                                {"role": role, "from": state, "to": to_state, "version": version,
                                 "reason": reason or None, **clean, **({"pushed_alarms": pushed} if pushed else {})})
    except sql.VersionConflict as exc:
        raise CaseError(str(exc)) from exc
    except duckdb.TransactionException as exc:
        raise CaseError(f"case {case_id} changed meanwhile (concurrent transition); reload it") from exc
    if pushed:
        effects.append(f"{len(pushed)} alarm{'s' * (len(pushed) != 1)} pushed to enforcement")
    if action == "transfer_clue" and sql.evidence(con, case_id) is None:
        from envtrust.evidence import freeze_evidence

        freeze_evidence(con, case_id, now, engine_version)
        effects.append("evidence pack frozen")
    if to_state in ("false_alarm", "penalty_decided"):
        n = _label_events(con, case_id, "false_alarm" if to_state == "false_alarm" else "confirmed", actor,
                          reason or clean.get("finding"), now)
        effects.append(f"{n} engine events labelled")
    return TransitionResult(case_id, state, to_state, version, effects)


def _label_events(con, case_id: str, verdict: str, actor: str, comment: str | None, now: datetime) -> int:
    events = sql.linked_events(con, case_id)
    for eid in events["event_id"]:
        record_review(con, eid, verdict, f"case {case_id}: {comment or ''}".strip(), actor, at=now)
    return len(events)


def _write_disclosure(con, case: dict, history: pd.DataFrame, now: datetime) -> None:
    decided = history[history["action"] == "decide_penalty"].iloc[-1]
    fields = json.loads(decided["fields_json"] or "{}")
    subject = case.get("enterprise") if isinstance(case.get("enterprise"), str) and case.get("enterprise") else None
    subject = subject or case.get("station_name") or case.get("station_id") or case["title"]
    decided_on = fields.get("decided_on") or pd.Timestamp(decided["occurred_at"]).date().isoformat()
    sql.save_disclosure(con, case["case_id"], now, str(subject), fields["finding"], fields["penalty"],
                        date.fromisoformat(decided_on), fields["legal_basis"])


# ---------------------------------------------------------------- reads for pages and the CLI

def case_detail(con, case_id: str) -> dict | None:
    """A case with history, links, evidence-pack facts and its clock."""
    case = sql.case_row(con, case_id)
    if case is None:
        return None
    case["history"] = sql.case_history(con, case_id)
    case["links"] = sql.links(con, case_id)
    pack = sql.evidence(con, case_id)
    case["evidence"] = None if pack is None else {k: pack[k] for k in ("frozen_at", "html_sha256", "pdf_sha256",
                                                                       "readings_sha256", "engine_version")}
    return case


def cases_with_clocks(con, clocks: dict[str, str] | None = None, now: datetime | None = None) -> pd.DataFrame:
    """Every case with its deadline in the current state, days left and an overdue flag."""
    clocks = clocks or DEFAULT_CLOCKS
    now = now or _now()
    df = sql.cases_table(con)
    df["clock"] = [clock_key(st, a) for st, a in zip(df["state"], df["last_action"], strict=True)]
    df["due_at"] = [deadline(s, clocks.get(k)) for s, k in zip(df["state_since"], df["clock"], strict=True)]
    due = pd.to_datetime(df["due_at"])
    df["days_left"] = ((due - pd.Timestamp(now)) / pd.Timedelta(days=1)).round(1)
    df["overdue"] = due.notna() & (due < pd.Timestamp(now))
    return df


def overdue_count(con, clocks: dict[str, str] | None = None, now: datetime | None = None,
                  station_ids: list[str] | None = None) -> int:
    """Open cases past the clock of their state (the leaders' headline figure)."""
    df = cases_with_clocks(con, clocks, now)
    if station_ids is not None:
        df = df[df["station_id"].isin(station_ids)]
    return int(df["overdue"].sum())


def leader_summary(con, clocks: dict[str, str] | None = None, now: datetime | None = None) -> dict:
    """Funnel by state, overdue cases, time to close, by district and by enterprise/contractor."""
    df = cases_with_clocks(con, clocks, now)
    funnel = {s: int((df["state"] == s).sum()) for s in STATES}
    closed = df[df["closed_at"].notna()]
    days = (pd.to_datetime(closed["closed_at"]) - pd.to_datetime(closed["opened_at"])) / pd.Timedelta(days=1)

    def by(col: str) -> pd.DataFrame:
        d = df.assign(key=df[col].fillna("-"), open=df["state"].isin(OPEN_STATES))
        return (d.groupby("key").agg(cases=("case_id", "size"), open=("open", "sum"), overdue=("overdue", "sum"))
                .reset_index().sort_values(["overdue", "open", "cases"], ascending=False))

    return {"funnel": funnel, "total": len(df), "open": int(df["state"].isin(OPEN_STATES).sum()),
            "overdue": int(df["overdue"].sum()), "overdue_cases": df[df["overdue"]],
            "median_days_to_close": float(days.median()) if len(days) else None,
            "by_county": by("county"), "by_enterprise": by("enterprise"), "by_contractor": by("contractor")}


def stations_with_open_cases(con) -> dict[str, int]:
    df = sql.cases_table(con)
    df = df[df["state"].isin(OPEN_STATES) & df["station_id"].notna()]
    return {str(k): int(v) for k, v in df.groupby("station_id").size().items()}
