"""Every wait on the database has a bound: a server that hangs costs a caller seconds, not forever."""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import ExitStack

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage import jobs
from storage.breaker import PROBE_INTERVAL_SECONDS
from storage.connection_deadlines import DEADLINES, TICK_SECONDS
from storage.db import CLIENT_GRACE_SECONDS, Database, postgres_connect_args
from storage.errors import StorageError
from tests.support.databases import POSTGRES_URL, _libpq_url, create_schema, postgres_schema_url

TIMEOUT = 2.0
#: A call on a frozen server gives up after the server's timeout, the client's grace and one watch tick.
CALL_BOUND = TIMEOUT + CLIENT_GRACE_SECONDS + TICK_SECONDS
SLACK = 0.75  # a shared machine's scheduling


def test_the_server_timeouts_follow_the_options_the_url_already_sets():
    args = postgres_connect_args("-csearch_path=t_1", 2.5)
    assert args["options"] == (
        "-csearch_path=t_1 -c lock_timeout=2500 -c statement_timeout=2500 -c idle_in_transaction_session_timeout=5000"
    )
    assert args["connect_timeout"] == 3
    assert args["tcp_user_timeout"] == 2500
    assert args["keepalives"] == 1
    assert args["keepalives_idle"] + args["keepalives_interval"] * args["keepalives_count"] <= 2.5


def test_migrations_keep_only_the_lock_bound():
    assert postgres_connect_args(None, 5, for_migrations=True)["options"] == "-c lock_timeout=5000"


def test_libpq_never_gets_a_connect_timeout_under_its_two_second_minimum():
    assert postgres_connect_args(None, 0.5)["connect_timeout"] == 2


@pytest.fixture
def through_proxy(postgres_url, tcp_proxy):
    """A database reached through a proxy the test can freeze, and the proxy."""
    url = make_url(postgres_url)
    proxy = tcp_proxy(url.port or 5432)
    database = Database(url.set(port=proxy.port).render_as_string(hide_password=False), timeout_seconds=TIMEOUT)
    yield database, proxy
    proxy.thaw()
    database.dispose()


def _seconds_to_fail(call) -> tuple[float, StorageError]:
    began = time.monotonic()
    with pytest.raises(StorageError) as error:
        call()
    return time.monotonic() - began, error.value


@pytest.mark.postgres
def test_every_connection_carries_the_server_timeouts_and_keeps_the_urls_own(postgres_url):
    database = Database(postgres_url, timeout_seconds=TIMEOUT)
    try:
        with database.transaction() as session:
            shown = {
                name: session.execute(text(f"SHOW {name}")).scalar()
                for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
            }
            search_path = session.execute(text("SHOW search_path")).scalar()
    finally:
        database.dispose()
    assert shown == {"statement_timeout": "2s", "lock_timeout": "2s", "idle_in_transaction_session_timeout": "4s"}
    assert search_path == make_url(postgres_url).query["options"].removeprefix("-csearch_path=")


@pytest.mark.postgres
@pytest.mark.timing
def test_a_call_on_a_frozen_server_fails_within_its_bound_and_the_thaw_heals_the_pool(through_proxy):
    database, proxy = through_proxy
    database.ping()  # a pooled connection, open before the freeze
    proxy.freeze()
    shut_before = DEADLINES.shut_down
    on_open_connection, error = _seconds_to_fail(database.ping)
    shut_by_its_deadline = DEADLINES.shut_down - shut_before
    time.sleep(PROBE_INTERVAL_SECONDS)  # the breaker lets a caller try the frozen server again
    on_new_connection, second = _seconds_to_fail(database.ping)
    proxy.thaw()
    time.sleep(PROBE_INTERVAL_SECONDS)
    began = time.monotonic()
    database.ping()
    assert (error.reason, second.reason) == ("unavailable", "unavailable")
    assert TIMEOUT <= on_open_connection < CALL_BOUND + SLACK, on_open_connection
    assert shut_by_its_deadline == 1, "the client's deadline ended the call, not anything else"
    assert on_new_connection < TIMEOUT + SLACK, on_new_connection  # libpq's connect timeout
    assert time.monotonic() - began < 1, "the first call after the thaw is answered at once"


@pytest.mark.postgres
@pytest.mark.timing
def test_a_commit_on_a_frozen_server_fails_within_its_bound(through_proxy):
    database, proxy = through_proxy

    def commit_after_freezing() -> None:
        with database.transaction() as session:
            session.execute(text("SELECT 1"))
            proxy.freeze()

    seconds, error = _seconds_to_fail(commit_after_freezing)
    assert error.reason == "unavailable"
    assert seconds < CALL_BOUND + SLACK, seconds


@pytest.mark.postgres
def test_a_lock_held_past_the_timeout_is_given_up_by_the_server(postgres_url):
    holder, waiter = Database(postgres_url, timeout_seconds=10), Database(postgres_url, timeout_seconds=1.0)
    holding, release = threading.Event(), threading.Event()

    def hold_the_table_lock() -> None:
        with holder.transaction() as session:
            session.execute(text("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"))
            holding.set()
            release.wait(5)

    def read_jobs() -> None:
        with waiter.transaction() as session:
            session.execute(text("SELECT count(*) FROM jobs"))

    thread = threading.Thread(target=hold_the_table_lock)
    thread.start()
    try:
        assert holding.wait(5)
        seconds, error = _seconds_to_fail(read_jobs)
    finally:
        release.set()
        thread.join()
        holder.dispose()
        waiter.dispose()
    assert error.reason == "unavailable"
    assert error.message in ("database unavailable (LockNotAvailable)", "database unavailable (QueryCanceled)")
    assert 1.0 <= seconds < 1.0 + CLIENT_GRACE_SECONDS, "the server gave up before the client had to"


def stay_idle_in_a_transaction(database: Database, *, seconds: float) -> None:
    with database.transaction() as session:
        session.execute(text("SELECT 1"))
        time.sleep(seconds)
        session.execute(text("SELECT 1"))


@pytest.mark.postgres
def test_a_transaction_left_idle_past_twice_the_timeout_is_ended_by_the_server(postgres_url):
    database = Database(postgres_url, timeout_seconds=1.0)
    try:
        with pytest.raises(StorageError) as error:
            stay_idle_in_a_transaction(database, seconds=2.5)
        database.ping()  # the pool replaced the ended connection
    finally:
        database.dispose()
    assert error.value.reason == "unavailable"


@pytest.mark.postgres
def test_no_pooled_connection_free_within_the_timeout_is_unavailable(postgres_url):
    database = Database(postgres_url, timeout_seconds=1.0)
    pool = database.engine.pool
    try:
        with ExitStack() as held:
            for _ in range(pool.size() + 10):  # every connection the pool may open (QueuePool overflows by 10)
                held.enter_context(database.engine.connect())
            seconds, error = _seconds_to_fail(database.ping)
    finally:
        database.dispose()
    assert error.reason == "unavailable"
    assert 1.0 <= seconds < 1.0 + SLACK, seconds


@pytest.mark.postgres
@pytest.mark.timing
def test_while_one_call_waits_on_a_frozen_server_the_others_fail_at_once(through_proxy):
    database, proxy = through_proxy
    database.ping()
    proxy.freeze()
    _seconds_to_fail(database.ping)  # the server did not answer: the breaker opens
    outcomes: list[tuple[str, float]] = []

    def ping() -> None:
        seconds, error = _seconds_to_fail(database.ping)
        outcomes.append((error.message, seconds))

    time.sleep(PROBE_INTERVAL_SECONDS)  # past the breaker's interval: the next caller probes
    probe = threading.Thread(target=ping)
    probe.start()
    time.sleep(0.5)  # the probe is waiting on the connect timeout
    ping()
    probe.join()
    proxy.thaw()
    time.sleep(PROBE_INTERVAL_SECONDS)
    database.ping()
    [(at_once, at_once_seconds), (probed, probe_seconds)] = outcomes
    assert "another call is trying it" in at_once and at_once_seconds < 0.1, outcomes
    assert "ConnectionTimeout" in probed and TIMEOUT <= probe_seconds < TIMEOUT + SLACK, outcomes


@pytest.mark.postgres
def test_a_schema_made_by_replaying_the_recorded_migration_is_the_migrated_schema(migration_recording, postgres_url):
    """The fixtures replay one migration's statements instead of migrating each test's schema: the same tables,
    columns, types, defaults, indexes and constraints, and the same Alembic version."""
    migrated = f"t_{uuid.uuid4().hex[:12]}"
    create_schema(migrated)
    try:
        database = Database(postgres_schema_url(migrated))
        database.upgrade()
        database.dispose()
        replayed = make_url(postgres_url).query["options"].split("=", 1)[1]
        assert _shape(migrated) == _shape(replayed)
    finally:
        with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{migrated}" CASCADE')


def _shape(schema: str) -> str:
    """The schema's columns, indexes, constraints and Alembic version, its own name written as S."""
    with psycopg.connect(_libpq_url(POSTGRES_URL)) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default, character_maximum_length "
            "FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 2",
            (schema,),
        ).fetchall()
        indexes = connection.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1, 2", (schema,)
        ).fetchall()
        constraints = connection.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %s ORDER BY 2",
            (schema,),
        ).fetchall()
        version = connection.execute(f'SELECT version_num FROM "{schema}".alembic_version').fetchall()
    assert columns and indexes and constraints and version
    return repr((columns, indexes, constraints, version)).replace(schema, "S")


@pytest.mark.postgres
def test_a_schema_emptied_for_the_next_test_is_a_fresh_one(schema_pool):
    """The fixtures hand a schema to the next test once its rows are deleted and its sequences restarted: the
    same shape, no row but Alembic's version, and every sequence where the migration left it."""
    schema = schema_pool.take()
    fresh_shape, fresh_sequences = _shape(schema), _sequence_values(schema)
    database = Database(postgres_schema_url(schema))
    try:
        with database.transaction() as session:
            jobs.enqueue(session, kind="audit_seal", request_id=None)
        with psycopg.connect(_libpq_url(POSTGRES_URL)) as connection:
            tables = [
                t
                for (t,) in connection.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename <> 'alembic_version'",
                    (schema,),
                )
            ]
            sequences = [
                s
                for (s,) in connection.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = %s", (schema,))
            ]
            for sequence in sequences:
                connection.execute(f'SELECT nextval(\'"{schema}"."{sequence}"\')')
            assert connection.execute(f'SELECT count(*) FROM "{schema}".jobs').fetchone() == (1,)
        assert tables and sequences
    finally:
        database.dispose()
    schema_pool.give_back(schema)
    again = schema_pool.take()
    try:
        assert again == schema
        assert _shape(again) == fresh_shape
        assert _sequence_values(again) == fresh_sequences
        with psycopg.connect(_libpq_url(POSTGRES_URL)) as connection:
            for table in tables:
                assert connection.execute(f'SELECT count(*) FROM "{again}"."{table}"').fetchone() == (0,), table
    finally:
        schema_pool.give_back(again)


@pytest.mark.postgres
def test_rows_written_after_a_schema_was_given_back_are_gone_when_it_is_taken_again(schema_pool):
    """A test's processes can outlive the fixture that gave its schema back (fixtures are torn down in the
    reverse order of their set-up): what they still write must not reach the next test, nor its sequences."""
    schema = schema_pool.take()
    schema_pool.give_back(schema)
    late = Database(postgres_schema_url(schema))
    try:
        with late.transaction() as session:
            jobs.enqueue(session, kind="audit_seal", request_id=None)
    finally:
        late.dispose()
    again = schema_pool.take()
    next_test = Database(postgres_schema_url(again))
    try:
        assert again == schema
        with next_test.transaction() as session:
            jobs.enqueue(session, kind="audit_seal", request_id=None)  # the sequence restarted: no duplicate id
        with psycopg.connect(_libpq_url(POSTGRES_URL)) as connection:
            assert connection.execute(f'SELECT count(*) FROM "{again}".jobs').fetchone() == (1,)
    finally:
        next_test.dispose()
        schema_pool.give_back(again)


def _sequence_values(schema: str) -> list[tuple]:
    with psycopg.connect(_libpq_url(POSTGRES_URL)) as connection:
        return connection.execute(
            "SELECT sequencename, last_value, start_value FROM pg_sequences WHERE schemaname = %s ORDER BY 1",
            (schema,),
        ).fetchall()


class TestWriteBlocker:
    """``write_blocker``: why the database cannot take writes, found by reading only."""

    def test_a_writable_database_has_none(self, database: Database) -> None:
        assert database.write_blocker(min_free_bytes=0) is None

    def test_sqlite_with_too_little_free_space_says_no_space(self, sqlite_url: str) -> None:
        database = Database(sqlite_url)
        try:
            blocker = database.write_blocker(min_free_bytes=2**62)
        finally:
            database.dispose()
        assert blocker is not None and blocker.startswith("no_space: ")

    def test_sqlite_is_probed_without_waiting_for_a_writer(self, sqlite_url: str) -> None:
        """A writer holding SQLite's write lock does not hold up the probes: they take no writer's turn."""
        database = Database(sqlite_url, timeout_seconds=2)
        writer = database.engine.raw_connection()
        try:
            writer.driver_connection.execute("BEGIN IMMEDIATE")
            began = time.monotonic()
            assert database.write_blocker(min_free_bytes=0) is None
            database.ping()
            assert time.monotonic() - began < 1
        finally:
            writer.driver_connection.execute("ROLLBACK")
            writer.close()
            database.dispose()

    @pytest.mark.postgres
    def test_a_read_only_postgres_says_read_only(self, postgres_url: str) -> None:
        url = make_url(postgres_url)
        options = url.query["options"] + " -cdefault_transaction_read_only=on"
        database = Database(url.update_query_dict({"options": options}).render_as_string(hide_password=False))
        try:
            blocker = database.write_blocker(min_free_bytes=0)
        finally:
            database.dispose()
        assert blocker is not None and blocker.startswith("read_only: ")


def test_a_one_snapshot_read_does_not_see_what_commits_during_it(database: Database) -> None:
    """``reading(one_snapshot=True)``: every statement sees the database as at the first (PostgreSQL: REPEATABLE
    READ; SQLite's read transaction does so by itself); a plain ``reading()`` on PostgreSQL sees the commit."""
    with database.transaction() as session:
        session.execute(text("CREATE TABLE snapshot_probe (n INTEGER)"))
    counts = {}
    for one_snapshot in (True, False):
        with database.reading(one_snapshot=one_snapshot) as connection:
            before = connection.execute(text("SELECT count(*) FROM snapshot_probe")).scalar_one()
            with database.transaction() as session:
                session.execute(text("INSERT INTO snapshot_probe VALUES (1)"))
            counts[one_snapshot] = (before, connection.execute(text("SELECT count(*) FROM snapshot_probe")).scalar())
    assert counts[True] == (0, 0)
    if database.dialect == "postgresql":
        assert counts[False] == (1, 2)


@pytest.mark.postgres
def test_a_schema_a_test_added_a_table_to_is_not_handed_out_again(schema_pool):
    schema = schema_pool.take()
    with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as connection:
        connection.execute(f'CREATE TABLE "{schema}".left_behind (n INTEGER)')
    schema_pool.give_back(schema)
    again = schema_pool.take()
    try:
        assert again != schema
        with psycopg.connect(_libpq_url(POSTGRES_URL)) as connection:
            assert connection.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() == (
                0,
            )
    finally:
        schema_pool.give_back(again)
