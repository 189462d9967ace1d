"""The registry: intents recorded before sending, answers recorded under the provider's id, and the
reconciliation's reads (locked, state checked again, one query per batch of ids)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, select

from storage import jobs, lifecycle, registry
from storage.db import Database
from storage.errors import StorageError
from storage.models import ProcessorRequest, Transition

GET = "KIND_PERSONAL_GET"


def intent(database: Database, *, kind: str = GET) -> str:
    with database.transaction() as session:
        new = registry.NewRequest(
            registry.new_intent_id(),
            registry.MESSAGEBIRD,
            kind,
            field="email",
            value_hash="h" * 64,
            reason="Art. 15",
            subject_ref="T-1",
        )
        return registry.register(session, new, sending=True).id


def answer(request_id: str) -> registry.ProviderAnswer:
    return registry.ProviderAnswer(request_id, signature_key_sealed="sealed", provider_state="STATE_SENT")


def test_an_intent_is_recorded_sending_under_an_id_of_our_own(database):
    intent_id = intent(database)
    with database.transaction() as session:
        stored = registry.get(session, intent_id)
        assert intent_id.startswith(registry.INTENT_PREFIX)
        assert (stored.state, stored.intent_id, [t.to_state for t in stored.transitions]) == (
            "sending",
            intent_id,
            ["sending"],
        )


def test_the_answer_renames_the_intent_and_keeps_its_history(database):
    intent_id = intent(database)
    with database.transaction() as session:
        registry.record_answer(session, intent_id, answer("mb-1"), reason="created at MessageBird")
    with database.transaction() as session:
        assert session.get(ProcessorRequest, intent_id) is None
        found = registry.get(session, intent_id)  # the id the admin API first answered still finds it
        assert (found.id, found.intent_id, found.state, found.subject_ref, found.signature_key_sealed) == (
            "mb-1",
            intent_id,
            "sent",
            "T-1",
            "sealed",
        )
        assert [(t.from_state, t.to_state, t.reason) for t in found.transitions] == [
            (None, "sending", "recorded before sending"),
            ("sending", "sent", "created at MessageBird"),
        ]
        assert session.scalars(select(Transition.request_id)).all() == ["mb-1", "mb-1"]


def test_recording_the_same_answer_twice_changes_nothing_and_another_is_refused(database):
    intent_id = intent(database)
    for _ in range(2):
        with database.transaction() as session:
            assert registry.record_answer(session, intent_id, answer("mb-1"), reason="r").id == "mb-1"
    with pytest.raises(StorageError) as refused, database.transaction() as session:
        registry.record_answer(session, intent_id, answer("mb-2"), reason="r")
    assert refused.value.reason == "conflict"
    with database.transaction() as session:
        assert len(session.scalars(select(Transition)).all()) == 2


def test_an_answer_naming_a_registered_request_is_refused(database):
    first, second = intent(database), intent(database)
    with database.transaction() as session:
        registry.record_answer(session, first, answer("mb-1"), reason="r")
    with pytest.raises(StorageError) as refused, database.transaction() as session:
        registry.record_answer(session, second, answer("mb-1"), reason="r")
    assert refused.value.reason == "conflict"


def test_a_refused_intent_is_removed_but_a_resolved_one_is_kept(database):
    refused, answered = intent(database), intent(database)
    with database.transaction() as session:
        registry.record_answer(session, answered, answer("mb-1"), reason="r")
    with database.transaction() as session:
        assert registry.remove_intent(session, refused) is True
        assert registry.remove_intent(session, answered) is False
    with database.transaction() as session:
        assert session.scalars(select(ProcessorRequest.id)).all() == ["mb-1"]
        assert len(session.scalars(select(Transition)).all()) == 2


def test_known_ids_looks_a_listing_up_in_one_query_per_batch(database, monkeypatch):
    with database.transaction() as session:
        for request_id in ("a", "b", "c"):
            registry.register(session, registry.NewRequest(request_id, registry.MESSAGEBIRD, GET))
    monkeypatch.setattr(registry, "LOOKUP_BATCH", 2)
    statements: list[str] = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with database.transaction() as session:
        assert registry.known_ids(session, ["a", "c", "x", "y", "z"]) == {"a", "c"}
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 3


def test_failed_downloads_are_the_failed_access_requests_whose_archive_job_failed(database):
    with database.transaction() as session:
        for request_id, kind in (("get", GET), ("get-no-job", GET), ("delete", "KIND_PERSONAL_DELETE")):
            request = registry.register(session, registry.NewRequest(request_id, registry.MESSAGEBIRD, kind))
            lifecycle.move(request, lifecycle.FAILED, reason="download failed")
            if request_id != "get-no-job":
                job = jobs.enqueue(session, kind=jobs.ARCHIVE, request_id=request_id, payload_sealed="p")
                job.state = jobs.FAILED
    with database.transaction() as session:
        found = registry.failed_downloads(session, registry.MESSAGEBIRD, ["get", "get-no-job", "delete", "other"])
        assert [r.id for r in found] == ["get"]
        assert registry.archive_payloads(session, ["get"]) == {"get": "p"}


@pytest.mark.postgres
def test_on_postgresql_a_row_a_callback_holds_is_skipped_not_waited_for(postgres_url):
    database = Database(postgres_url)
    try:
        with database.transaction() as session:
            for request_id in ("held", "free"):
                registry.register(session, registry.NewRequest(request_id, registry.MESSAGEBIRD, GET))
        held, release = threading.Event(), threading.Event()

        def callback_holding_its_row() -> None:
            with database.transaction() as session:
                lifecycle.move(registry.find(session, "held", for_update=True), lifecycle.CALLBACK_RECEIVED)
                session.flush()
                held.set()
                release.wait(10)

        holder = threading.Thread(target=callback_holding_its_row)
        holder.start()
        assert held.wait(10)
        with database.transaction() as session:
            assert [r.id for r in registry.awaiting_provider(session, registry.MESSAGEBIRD)] == ["free"]
        release.set()
        holder.join(10)
        with database.transaction() as session:
            assert [r.id for r in registry.awaiting_provider(session, registry.MESSAGEBIRD)] == ["free"]
    finally:
        database.dispose()


def test_many_requests_registered_at_once_are_each_sent_with_their_first_transition(database):
    news = [registry.NewRequest(f"bulk-{i}", registry.MESSAGEBIRD, GET, signature_key_sealed="s") for i in range(5)]
    with database.transaction() as session:
        registry.register_many(session, news)
    with database.transaction() as session:
        stored = session.scalars(select(ProcessorRequest).order_by(ProcessorRequest.id)).all()
        assert [(r.id, r.state) for r in stored] == [(f"bulk-{i}", lifecycle.SENT) for i in range(5)]
        assert all([(t.from_state, t.to_state) for t in r.transitions] == [(None, lifecycle.SENT)] for r in stored)


@pytest.mark.parametrize("clash", ["known", "repeated"])
def test_many_requests_with_an_id_known_or_repeated_register_none(database, clash):
    with database.transaction() as session:
        registry.register(session, registry.NewRequest("bulk-0", registry.MESSAGEBIRD, GET))
    first = "bulk-0" if clash == "known" else "bulk-1"
    news = [registry.NewRequest(rid, registry.MESSAGEBIRD, GET) for rid in (first, "bulk-1", "bulk-2")]
    with pytest.raises(StorageError, match="registered or repeated") as refused, database.transaction() as session:
        registry.register_many(session, news)
    assert refused.value.reason == "conflict"
    with database.transaction() as session:
        assert session.scalars(select(ProcessorRequest.id)).all() == ["bulk-0"]


def test_the_one_list_of_kinds_splits_into_what_is_asked_and_whose_data():
    assert registry.KINDS == ("KIND_PERSONAL_GET", "KIND_PERSONAL_DELETE", "KIND_USER_GET", "KIND_USER_DELETE")
    assert sorted(registry.GET_KINDS) == ["KIND_PERSONAL_GET", "KIND_USER_GET"]
    assert sorted(registry.DELETE_KINDS) == ["KIND_PERSONAL_DELETE", "KIND_USER_DELETE"]
    assert sorted(registry.PERSONAL_KINDS) == ["KIND_PERSONAL_DELETE", "KIND_PERSONAL_GET"]
