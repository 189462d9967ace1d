"""The tamper-evident history: sealing is linear and idempotent, and every kind of tampering is named."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import threading

import pytest
from sqlalchemy import func, select, update

from storage import audit_chain, registry
from storage.audit_chain import GENESIS, Head
from storage.db import Database
from storage.errors import StorageError
from storage.models import AuditChainEntry, Transition
from tests.storage.audit_history import AT, tamper, write_history


def chained_rows(database: Database) -> int:
    """Rows of every covered table: each has one sealed version while the service has not updated it."""
    with database.reading() as connection:
        return sum(
            connection.scalar(select(func.count()).select_from(coverage.table)) for coverage in audit_chain.COVERAGE
        )


def entries(database: Database) -> list[AuditChainEntry]:
    with database.transaction() as session:
        return list(session.scalars(select(AuditChainEntry).order_by(AuditChainEntry.seq)))


def entry_of(database: Database, source: str, nth: int = 0) -> AuditChainEntry:
    return [entry for entry in entries(database) if entry.source == source][nth]


# -- the encoding --------------------------------------------------------------------------------


def test_the_canonical_encoding_is_sorted_compact_utf8_json_with_utc_microseconds():
    row = {
        "id": 12,
        "request_id": "r-1",
        "from_state": "sent",
        "to_state": "completed",
        "reason": "über",
        "callback_id": None,
        "actor": None,
        "at": dt.datetime(2026, 12, 5, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    }
    encoded = audit_chain.canonical("transitions", row)
    assert (
        encoded
        == (
            '{"actor":null,"at":"2026-12-05T09:30:00.000000Z","callback_id":null,"from_state":"sent",'
            '"id":12,"reason":"über","request_id":"r-1","table":"transitions","to_state":"completed"}'
        ).encode()
    )
    digest = hashlib.sha256(encoded).hexdigest()
    assert audit_chain.row_digest("transitions", row) == digest
    assert audit_chain.entry_hash(GENESIS, digest) == hashlib.sha256(bytes(32) + bytes.fromhex(digest)).hexdigest()


def test_the_encoding_refuses_what_it_cannot_encode_exactly():
    row = {
        "id": 1,
        "case_id": "c",
        "actor": "a",
        "kind": "k",
        "changed": None,
        "from_value": None,
        "to_value": None,
        "reason": None,
    }
    with pytest.raises(ValueError, match="a naive timestamp cannot be encoded"):
        audit_chain.canonical("case_events", {**row, "at": dt.datetime(2026, 1, 1)})
    with pytest.raises(TypeError):
        audit_chain.canonical("case_events", {**row, "at": 1.5})


# -- sealing -------------------------------------------------------------------------------------


def test_sealing_chains_every_row_once_and_verifies(database):
    write_history(database)
    sealed = audit_chain.seal(database, batch=4)  # several batches
    chain = entries(database)
    assert sealed.count == len(chain) == chained_rows(database) == 1 + 2 * 5 + 1 + 2  # the case, its two requests
    assert [entry.seq for entry in chain] == list(range(1, len(chain) + 1))
    assert chain[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.entry_hash for earlier, later in itertools.pairwise(chain))
    assert sealed.head == Head(chain[-1].seq, chain[-1].entry_hash)
    verdict = audit_chain.verify(database, page=3)
    assert (verdict.broken, verdict.entries, verdict.head, verdict.pending) == (None, len(chain), sealed.head, 0)


def test_sealing_again_appends_only_what_is_new(database):
    write_history(database)
    first = audit_chain.seal(database)
    assert audit_chain.seal(database) == audit_chain.Sealed(0, first.head)
    write_history(database, requests=1)
    second = audit_chain.seal(database)
    assert second.count == 1 + 5 + 2 and second.head.seq == first.head.seq + second.count
    assert entries(database)[first.head.seq].prev_hash == first.head.hash


def test_rows_not_sealed_yet_are_pending_not_tampering(database):
    write_history(database)
    audit_chain.seal(database)
    write_history(database, requests=1)
    verdict = audit_chain.verify(database)
    assert verdict.broken is None and verdict.pending == 8


def test_an_intents_transition_waits_for_the_providers_id(database):
    with database.transaction() as session:
        registry.register(
            session,
            registry.NewRequest(
                id="intent-1", provider=registry.MESSAGEBIRD, kind="KIND_USER_GET", registered_by="ops"
            ),
            sending=True,
        )
    assert audit_chain.seal(database).count == 0
    assert audit_chain.verify(database).pending == 2  # the intent and its transition, waiting: not tampering
    with database.transaction() as session:
        registry.record_answer(session, "intent-1", registry.ProviderAnswer(id="mb-1"), reason="created")
    assert audit_chain.seal(database).count == 3  # the request and its two transitions (sending, sent)
    assert audit_chain.verify(database).broken is None


# -- tampering ---------------------------------------------------------------------------------


@pytest.fixture
def sealed(database: Database) -> Database:
    write_history(database)
    audit_chain.seal(database)
    return database


def test_a_rewritten_reason_is_named(sealed):
    target = entry_of(sealed, "transitions", 2)
    tamper(sealed, "UPDATE transitions SET reason = 'nothing happened' WHERE id = :id", id=target.row_key)
    broken = audit_chain.verify(sealed).broken
    assert (broken.kind, broken.seq, broken.source, broken.row_key) == (
        "rewritten",
        target.seq,
        "transitions",
        target.row_key,
    )


def test_a_deleted_row_is_named(sealed):
    target = entry_of(sealed, "request_events", 1)
    tamper(sealed, "DELETE FROM request_events WHERE id = :id", id=target.row_key)
    broken = audit_chain.verify(sealed).broken
    assert (broken.kind, broken.seq, broken.source, broken.row_key) == (
        "missing",
        target.seq,
        "request_events",
        target.row_key,
    )


def test_reordered_rows_are_named(sealed):
    first, second = entry_of(sealed, "transitions", 1), entry_of(sealed, "transitions", 2)
    for old, new in ((first.row_key, -1), (second.row_key, first.row_key), (-1, second.row_key)):
        tamper(sealed, "UPDATE transitions SET id = :new WHERE id = :old", old=old, new=new)
    broken = audit_chain.verify(sealed).broken
    assert (broken.kind, broken.seq, broken.row_key) == ("reordered", first.seq, first.row_key)
    assert f"transitions {second.row_key} (seq {second.seq})" in broken.detail


def test_a_rewritten_chain_entry_is_named(sealed):
    target = entry_of(sealed, "case_events")
    tamper(sealed, "UPDATE audit_chain SET entry_hash = :forged WHERE seq = :seq", forged="f" * 64, seq=target.seq)
    broken = audit_chain.verify(sealed).broken
    assert (broken.kind, broken.seq) == ("chain_rewritten", target.seq)
    assert "entry_hash does not follow" in broken.detail


def test_a_removed_chain_entry_is_named(sealed):
    tamper(sealed, "DELETE FROM audit_chain WHERE seq = 4")
    broken = audit_chain.verify(sealed).broken
    assert (broken.kind, broken.seq) == ("chain_rewritten", 5)
    assert "follows seq 3" in broken.detail


def test_a_whole_rewritten_tail_is_caught_against_an_outside_copy_of_the_head(sealed):
    copy = audit_chain.verify(sealed).head
    target = entry_of(sealed, "transitions", 1)
    tamper(sealed, "UPDATE transitions SET reason = 'rewritten' WHERE id = :id", id=target.row_key)
    tamper(sealed, "DELETE FROM audit_chain WHERE seq >= :seq", seq=target.seq)
    audit_chain.seal(sealed)  # the tail sealed again over the rewritten row: consistent by itself
    assert audit_chain.verify(sealed).broken is None
    broken = audit_chain.verify(sealed, expected=copy).broken
    assert (broken.kind, broken.seq) == ("chain_rewritten", copy.seq)


def test_the_outside_copy_of_an_intact_chain_matches(sealed):
    copy = audit_chain.verify(sealed).head
    write_history(sealed, requests=1)
    audit_chain.seal(sealed)
    assert audit_chain.verify(sealed, expected=copy).broken is None


# -- the daily checkpoint -----------------------------------------------------------------------


def test_the_checkpoint_is_the_head_before_a_moment(database):
    write_history(database, requests=1)
    first = audit_chain.seal(database)
    with database.transaction() as session:
        session.execute(update(AuditChainEntry).values(sealed_at=AT - dt.timedelta(days=1)))
    write_history(database, requests=1)
    audit_chain.seal(database)
    with database.reading() as connection:
        assert audit_chain.head_before(connection, AT) == first.head
        assert audit_chain.head_before(connection, AT - dt.timedelta(days=2)) == Head(0, GENESIS)
        assert audit_chain.head(connection).seq > first.head.seq


# -- concurrency --------------------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_sealers_and_writers_keep_one_linear_chain(postgres_url):
    """Writers commit in any order while four sealers run at once: every row sealed once, one unbroken chain."""
    database = Database(postgres_url)
    errors: list[BaseException] = []

    def keep(work) -> None:
        try:
            work()
        except BaseException as error:
            errors.append(error)

    def write() -> None:
        for _ in range(5):
            write_history(database, requests=1)

    def seal() -> None:
        for _ in range(6):
            audit_chain.seal(database, batch=3)

    threads = [threading.Thread(target=keep, args=(work,)) for work in (write, write, seal, seal, seal, seal)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    audit_chain.seal(database)
    verdict = audit_chain.verify(database)
    assert verdict.broken is None and verdict.pending == 0
    assert verdict.entries == chained_rows(database) == 2 * 5 * (6 + 2)
    database.dispose()


@pytest.mark.postgres
def test_a_row_committed_after_a_later_id_was_sealed_is_sealed_next_time(postgres_url):
    """The commit-order race: ids are handed out at insert, rows become visible at commit, in another order."""
    database = Database(postgres_url)
    write_history(database, requests=1)
    with database.connection() as slow:  # takes the next transition id, and commits last
        request_id = slow.scalar(select(Transition.request_id).limit(1))
        late_id = slow.scalar(
            Transition.__table__.insert().values(request_id=request_id, to_state="sent", at=AT).returning(Transition.id)
        )
        write_history(database, requests=1)
        sealed_first = audit_chain.seal(database)
    sealed_late = audit_chain.seal(database)
    verdict, chain = audit_chain.verify(database), entries(database)
    database.dispose()
    assert sealed_first.count == 16 and sealed_late.count == 1
    transitions = [int(entry.row_key) for entry in chain if entry.source == "transitions"]
    assert transitions[-1] == late_id < transitions[-2]  # sealed last, though its id is not the highest
    assert (verdict.broken, verdict.pending, verdict.entries) == (None, 0, 17)


def test_a_sealer_without_the_lock_cannot_fork_the_chain(database):
    """The primary key on seq and the unique row refuse a second entry at the same place or for the same row."""
    write_history(database, requests=1)
    audit_chain.seal(database)
    first = entries(database)[0]
    for clash in ({"seq": first.seq, "row_key": "999999"}, {"seq": 1000, "row_key": first.row_key}):
        with pytest.raises(StorageError) as error, database.transaction() as session:
            session.execute(
                AuditChainEntry.__table__.insert().values(
                    source=first.source,
                    row_version=1,
                    row_digest=GENESIS,
                    prev_hash=GENESIS,
                    entry_hash=GENESIS,
                    sealed_at=AT,
                    **clash,
                )
            )
        assert error.value.reason == "conflict"


# -- the tree over the entries ---------------------------------------------------------------------


def _rfc6962_root(leaves: list[bytes]) -> bytes:
    """RFC 6962's definition, as written: split at the largest power of two smaller than the size."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _rfc6962_root(leaves[:k]) + _rfc6962_root(leaves[k:])).digest()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 16, 33])
def test_the_tree_is_rfc6962s_and_every_leafs_path_leads_to_its_root_alone(size):
    digests = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(size)]
    root = audit_chain.tree_root(digests)
    leaves = [hashlib.sha256(b"\x00" + bytes.fromhex(digest)).digest() for digest in digests]
    assert root == _rfc6962_root(leaves).hex()
    for index, path in audit_chain.inclusion_proofs(digests, range(size)).items():
        assert audit_chain.root_from_proof(digests[index], index, size, path) == root
        if size > 1:
            assert audit_chain.root_from_proof(digests[index - 1], index, size, path) != root
    assert audit_chain.tree_root([]) == hashlib.sha256(b"").hexdigest()
