"""Demo cases: the planted dishonest outlets (``demo_truth``) each get a case, at different points
of the loop, so a newcomer opens the case pages and sees them populated (issue 13).

Stages are backdated from now so the clocks mean something: one case is closed (销号) with its
decision published, one disclosed, one investigating past its 90-day clock, one transferred to
enforcement past its 7-working-day clock, and the rest just found. Every step goes through
:func:`envtrust.cases.transition`, as a user's would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.vocabulary import EVENT_KIND_LABELS
from data.alarms import alarms_table
from data.cases import cases_linked_to, planted_outlets, station_has_case, top_events
from envtrust.cases import open_case, transition

DEMO_ANALYST, DEMO_ENFORCER, DEMO_LEADER = "analyst", "enforcer", "leader"
LEGAL_TYPE_OF_KIND = {"flag_abuse": "falsification", "clipping": "tampering", "flatline": "falsification"}
#: (days before now the case opens, the actions taken, one day apart)
PLANS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (40, ("transfer_clue", "accept", "decide_penalty", "disclose", "request_closure", "close")),
    (30, ("transfer_clue", "accept", "decide_penalty", "disclose")),
    (125, ("transfer_clue", "accept")),
    (14, ("transfer_clue",)),
)
ROLE_OF = {"transfer_clue": ("analyst", DEMO_ANALYST), "close": ("leader", DEMO_LEADER)}


def _fields(action: str, kind: str) -> dict:
    if action == "decide_penalty":
        return {"finding": f"在线监测数据{'篡改' if kind == 'clipping' else '弄虚作假'} ({kind})",
                "penalty": "罚款人民币二十万元，责令改正", "legal_basis": "《大气污染防治法》第一百条第（三）项"}
    if action == "request_closure":
        return {"rectification": "现场核查：数采仪参数已恢复，罚款已缴纳"}
    return {}


def open_demo_cases(con, now: datetime | None = None) -> str:
    """Open one case per planted outlet (skipping outlets that already have one); return a summary."""
    now = now or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    truth = planted_outlets(con)
    open_alarms = alarms_table(con, ("open",))
    opened = 0
    for i, t in enumerate(truth.itertuples(index=False)):
        if station_has_case(con, t.station_id):
            continue
        events = top_events(con, t.station_id, 3)
        events = [e for e in events if e not in cases_linked_to(con, "event", events)]
        alarms = open_alarms[(open_alarms["station_id"] == t.station_id)
                             & (open_alarms["rule"] == "suspected_interference")]["alarm_id"].head(3).tolist()
        days, actions = PLANS[i] if i < len(PLANS) else (3, ())
        at = now - timedelta(days=days)
        case_id = open_case(con, DEMO_ANALYST, "analyst", f"{t.name}: 疑似{EVENT_KIND_LABELS.get(t.kind, (t.kind,))[0]}", station_id=t.station_id,
                            alarm_ids=alarms, event_ids=[] if alarms else events,
                            legal_type=LEGAL_TYPE_OF_KIND.get(t.kind, "other"), now=at,
                            reason="demo: planted interference (demo_truth)")
        version = 1
        for step, action in enumerate(actions, start=1):
            role, actor = ROLE_OF.get(action, ("enforcement", DEMO_ENFORCER))
            version = transition(con, case_id, action, actor=actor, role=role, expected_version=version,
                                 fields=_fields(action, t.kind), now=at + timedelta(days=step)).version
        opened += 1
    return f"demo cases: {opened} opened for {len(truth)} planted outlets"
