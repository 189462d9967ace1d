"""The case registry in SQL: states derived from the requests, lateness on the clock date, urgency order, pages."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import Date, Integer, literal, select

from deadlines import target_on
from storage import case_registry, lifecycle, registry
from storage.db import Database
from storage.errors import StorageError
from storage.models import Case

TODAY = dt.date(2025, 1, 10)
MARGIN = 7
_ids = itertools.count()


def add_case(
    database: Database,
    *,
    due_on: dt.date,
    received_on: dt.date = dt.date(2024, 12, 20),
    paused_since: dt.date | None = None,
    responded_on: dt.date | None = None,
    request_states: tuple[str, ...] = (),
    right: str = "access",
    jurisdiction: str = "UK",
) -> str:
    """A case as stored, with requests in ``request_states`` (registered through the registry, then moved)."""
    case_id = f"case-{next(_ids):04d}"
    with database.transaction() as session:
        session.add(
            Case(
                id=case_id,
                subject_ref=f"T-{case_id}",
                right=right,
                jurisdiction=jurisdiction,
                received_on=received_on,
                due_on=due_on,
                original_due_on=due_on,
                paused_since=paused_since,
                created_by="test",
            )
        )
        session.flush()
        for n, state in enumerate(request_states):
            request = registry.register(
                session,
                registry.NewRequest(
                    id=f"{case_id}-r{n}",
                    provider=registry.MESSAGEBIRD,
                    kind="KIND_USER_DELETE",
                    case_id=case_id,
                    registered_by="ops",
                ),
            )
            if state != lifecycle.SENT:
                lifecycle.move(request, state)
        if responded_on is not None:
            session.get(Case, case_id).responded_on = responded_on
    return case_id


def states_in_sql(database: Database, *, margin_days: int = MARGIN) -> dict[str, str]:
    """Each case's state as ``state_is`` finds it, checking that exactly one state matches."""
    found: dict[str, str] = {}
    with database.transaction() as session:
        for state in case_registry.STATES:
            statement = select(Case.id).where(case_registry.state_is(state, today=TODAY, margin_days=margin_days))
            for case_id in session.scalars(statement):
                assert case_id not in found, f"{case_id} is both {found.get(case_id)} and {state}"
                found[case_id] = state
    return found


@pytest.mark.parametrize(
    ("due_on", "paused_since", "responded_on", "request_states", "expected"),
    [
        (dt.date(2025, 1, 20), None, None, (), "open"),
        (dt.date(2025, 1, 20), None, None, ("sent",), "waiting_on_processors"),
        # the target is the deadline less 7 days: 17 January gives 10 January, today, not yet late
        (dt.date(2025, 1, 17), None, None, ("sent",), "waiting_on_processors"),
        (dt.date(2025, 1, 16), None, None, ("sent",), "needs_attention"),
        (dt.date(2025, 1, 15), None, None, ("completed", "completed"), "ready"),
        (dt.date(2025, 1, 15), None, None, ("completed", "failed"), "needs_attention"),
        (dt.date(2025, 1, 20), None, None, ("completed", "sent"), "waiting_on_processors"),
        (dt.date(2025, 1, 20), None, None, ("completed", "failed"), "needs_attention"),
        (dt.date(2024, 12, 1), None, dt.date(2025, 1, 2), ("sent",), "closed"),
        (dt.date(2025, 1, 20), None, dt.date(2025, 1, 9), (), "closed"),
        # a stopped clock judges lateness on the day it stopped: 15 January less 7 is after 5 January
        (dt.date(2025, 1, 15), dt.date(2025, 1, 5), None, ("sent",), "waiting_on_processors"),
        (dt.date(2025, 1, 15), dt.date(2025, 1, 9), None, ("sent",), "needs_attention"),
    ],
)
def test_the_state_follows_the_requests(database, due_on, paused_since, responded_on, request_states, expected):
    case_id = add_case(
        database, due_on=due_on, paused_since=paused_since, responded_on=responded_on, request_states=request_states
    )
    assert states_in_sql(database) == {case_id: expected}


@pytest.mark.parametrize(
    ("closed", "request_states", "any_late", "expected"),
    [
        (False, (), False, "open"),
        (False, ("sending", "sent"), False, "waiting_on_processors"),
        (False, ("sent",), True, "needs_attention"),
        (False, ("completed", "failed"), False, "needs_attention"),
        (False, ("completed", "completed"), False, "ready"),
        (True, ("sent",), True, "closed"),
    ],
)
def test_the_state_of_one_case_follows_the_same_rules(closed, request_states, any_late, expected):
    assert case_registry.case_state(closed=closed, request_states=request_states, any_late=any_late) == expected


def test_a_target_is_never_before_the_clock_started(database):
    """With a margin longer than the month, the target is the day the clock started: late from the day after."""
    started_today = add_case(database, received_on=TODAY, due_on=dt.date(2025, 2, 10), request_states=("sent",))
    started_yesterday = add_case(
        database, received_on=TODAY - dt.timedelta(days=1), due_on=dt.date(2025, 2, 10), request_states=("sent",)
    )
    assert states_in_sql(database, margin_days=40) == {
        started_today: "waiting_on_processors",
        started_yesterday: "needs_attention",
    }


def test_lateness_in_sql_is_the_rule_of_deadlines_target_on(database):
    """SQL judges a request late row by row, on the case's clock date; the rule is ``deadlines.target_on``'s."""
    made = {}
    for received_on, due_on, paused_since in itertools.product(
        (dt.date(2024, 12, 20), dt.date(2025, 1, 4), dt.date(2025, 1, 9)),
        [TODAY + dt.timedelta(days=days) for days in range(-8, 16, 3)],
        (None, dt.date(2025, 1, 9)),
    ):
        case_id = add_case(
            database, received_on=received_on, due_on=due_on, paused_since=paused_since, request_states=("sent",)
        )
        made[case_id] = (received_on, due_on, paused_since or TODAY)
    for margin in (0, 7, 40):
        with database.transaction() as session:
            statement = select(Case.id).where(case_registry.late_condition(today=TODAY, margin_days=margin))
            late = set(session.scalars(statement))
        by_the_rule = {
            case_id
            for case_id, (received_on, due_on, judged_on) in made.items()
            if target_on(due_on, counted_from=received_on, margin_days=margin) < judged_on
        }
        assert late == by_the_rule, margin
        assert late and late != set(made), margin


def test_days_after_crosses_months_and_years_on_every_backend(database):
    with database.transaction() as session:
        for day, days, expected in (
            (dt.date(2025, 1, 28), 7, dt.date(2025, 2, 4)),
            (dt.date(2024, 12, 30), 3, dt.date(2025, 1, 2)),
            (dt.date(2024, 2, 28), 1, dt.date(2024, 2, 29)),
        ):
            shown = session.scalar(select(case_registry.days_after(literal(day, Date), literal(days, Integer))))
            assert dt.date.fromisoformat(str(shown)) == expected


@pytest.fixture
def urgency(database) -> dict[str, str]:
    """Cases of every urgency, named by what they are."""
    return {
        "running_late": add_case(database, due_on=dt.date(2025, 1, 20)),
        "overdue_first": add_case(database, due_on=dt.date(2025, 1, 5)),
        "closed": add_case(database, due_on=dt.date(2025, 1, 1), responded_on=dt.date(2024, 12, 30)),
        "paused": add_case(database, due_on=dt.date(2025, 1, 11), paused_since=dt.date(2025, 1, 2)),
        "running_soon": add_case(database, due_on=dt.date(2025, 1, 12), right="erasure", jurisdiction="EU"),
        "overdue_second": add_case(database, due_on=dt.date(2025, 1, 8)),
        "due_today": add_case(database, due_on=TODAY),
    }


MOST_URGENT_FIRST = ["overdue_first", "overdue_second", "due_today", "running_soon", "running_late", "paused", "closed"]


ANY_CASE = case_registry.CaseFilter()


def listed(database: Database, wanted: case_registry.CaseFilter = ANY_CASE, **page: object) -> list[str]:
    with database.transaction() as session:
        return [c.id for c in case_registry.list_page(session, wanted, today=TODAY, margin_days=MARGIN, **page).cases]


def test_cases_are_listed_most_urgent_first(database, urgency):
    assert listed(database) == [urgency[name] for name in MOST_URGENT_FIRST]


def test_the_cursor_walks_every_case_once_in_order(database, urgency):
    seen, cursor = [], None
    while True:
        with database.transaction() as session:
            page = case_registry.list_page(
                session, case_registry.CaseFilter(), today=TODAY, margin_days=MARGIN, limit=2, cursor=cursor
            )
        seen += [c.id for c in page.cases]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [urgency[name] for name in MOST_URGENT_FIRST]


@pytest.mark.parametrize(
    ("wanted", "names"),
    [
        (case_registry.CaseFilter(overdue=True), ["overdue_first", "overdue_second"]),
        (case_registry.CaseFilter(overdue=False), ["due_today", "running_soon", "running_late", "paused", "closed"]),
        # a stopped clock has no fixed deadline, and a closed case is not due
        (
            case_registry.CaseFilter(due_before=dt.date(2025, 1, 13)),
            ["overdue_first", "overdue_second", "due_today", "running_soon"],
        ),
        (case_registry.CaseFilter(right="erasure"), ["running_soon"]),
        (case_registry.CaseFilter(jurisdiction="EU"), ["running_soon"]),
        (case_registry.CaseFilter(state="closed"), ["closed"]),
        (case_registry.CaseFilter(state="open", overdue=True), ["overdue_first", "overdue_second"]),
    ],
)
def test_filters(database, urgency, wanted, names):
    assert listed(database, wanted) == [urgency[name] for name in names]


@pytest.mark.parametrize(
    "cursor", ["%%%", "bm90IGpzb24", "WzEsICIyMDI1LTAxLTAxIl0", "WyJ4IiwgIjIwMjUtMDEtMDEiLCAiYyJd"]
)
def test_a_cursor_that_is_not_ours_is_a_value_error(database, cursor):
    with pytest.raises(ValueError, match="not a valid cursor"):
        listed(database, cursor=cursor)


def test_the_deadline_check_finds_what_is_due_and_what_is_late(database):
    due_soon = add_case(database, due_on=dt.date(2025, 1, 13), request_states=("completed",))
    overdue = add_case(database, due_on=dt.date(2025, 1, 3), request_states=("sent", "completed"))
    add_case(database, due_on=dt.date(2025, 1, 30), request_states=("sent",))
    add_case(database, due_on=dt.date(2025, 1, 12), paused_since=dt.date(2025, 1, 4))
    failed_in_time = add_case(database, due_on=dt.date(2025, 2, 1), request_states=("failed",))
    add_case(database, due_on=dt.date(2025, 1, 3), responded_on=dt.date(2025, 1, 2), request_states=("failed",))
    with database.transaction() as session:
        assert [c.id for c in case_registry.running_due_by(session, TODAY + dt.timedelta(days=3))] == [
            overdue,
            due_soon,
        ]
        found = case_registry.requests_needing_attention(session, today=TODAY, margin_days=MARGIN)
        assert [(request.id, request.state) for request, _case in found] == [
            (f"{overdue}-r0", "sent"),
            (f"{failed_in_time}-r0", "failed"),
        ]


def test_a_request_joins_only_an_open_case_and_the_history_says_so(database):
    open_case = add_case(database, due_on=dt.date(2025, 1, 20), request_states=("sent",))
    closed_case = add_case(database, due_on=dt.date(2025, 1, 20), responded_on=TODAY)
    with database.transaction() as session:
        [event] = case_registry.find_whole(session, open_case).events
        assert (event.kind, event.actor, event.to_value) == ("request_added", "ops", f"{open_case}-r0")
    for case_id, reason in ((closed_case, "conflict"), ("case-none", "not_found")):
        with pytest.raises(StorageError) as refused, database.transaction() as session:
            registry.register(
                session,
                registry.NewRequest(
                    id=f"x-{case_id}", provider=registry.MESSAGEBIRD, kind="KIND_USER_GET", case_id=case_id
                ),
            )
        assert refused.value.reason == reason
