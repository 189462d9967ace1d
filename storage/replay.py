"""Replay caches shared by every process: the database (default) and Redis.

Both follow ``verification``'s ReplayCache protocol: ``add(key, expires_at)``
records the key atomically and answers False when it was already there and has
not yet expired.

A callback that fails to record must not burn its tokens. With the database as the
cache (``writes_with_delivery``), a delivery's keys (``DeliveryKeys``) are written by
the statement or transaction that records the delivery (``storage.deliveries``), which
writes nothing else when the deciding key is live. Redis cannot join that
transaction: its scope (``within``) adds the keys first, remembers them, and
``undo()`` removes them when the record fails. A process killed in between leaves its
keys with nothing recorded, so a key Redis already holds is only a hint: the caller asks
the database whether it holds the delivery (``storage.deliveries.holds``) before it
answers a resend. ``within(connection)`` gives the database's own scope too, which adds
keys in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from sqlalchemy import Connection, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from storage.breaker import Breaker
from storage.clock import Clock
from storage.db import Database, rows_changed
from storage.errors import StorageError
from storage.models import ReplayKey

Key = tuple[str, float]  # a replay key and until when it is kept (Unix time)


@dataclass(frozen=True)
class DeliveryKeys:
    """A delivery's replay keys, as one ``ReplayScope.record`` call takes them.

    The delivery is new when ``deciding`` was not live; ``others`` are recorded either
    way (a callback's HMAC key beside its JWT's, so a resend stripped of its JWT is
    still known). ``now`` says which keys have expired and may be taken over.
    """

    deciding: Key
    others: tuple[Key, ...] = ()
    now: float = 0.0

    @property
    def all(self) -> tuple[Key, ...]:
        return (self.deciding, *self.others)

    def parameters(self) -> dict[str, Any]:
        """The parameters of ``upsert_statement(len(self.all))``."""
        parameters: dict[str, Any] = {"replay_now": self.now, "replay_deciding": self.deciding[0]}
        for n, (key, expires_at) in enumerate(self.all):
            parameters.update({f"replay_key_{n}": key, f"replay_expires_{n}": expires_at})
        return parameters


class ReplayScope(Protocol):
    def add(self, key: str, expires_at: float) -> bool: ...

    def record(self, keys: DeliveryKeys) -> bool:
        """Add every key now; whether the deciding one was new."""
        ...

    def undo(self) -> None: ...


class _TransactionReplayScope:
    """Adds keys inside the caller's transaction; a rollback undoes them by itself."""

    def __init__(self, connection: Connection, clock: Clock) -> None:
        self._connection = connection
        self._clock = clock

    def add(self, key: str, expires_at: float) -> bool:
        return _insert_unless_live(self._connection, key, expires_at, self._clock.timestamp())

    def record(self, keys: DeliveryKeys) -> bool:
        deciding_is_new = self.add(*keys.deciding)
        for key in keys.others:
            self.add(*key)
        return deciding_is_new

    def undo(self) -> None:
        """Nothing to do: the rolled-back transaction took the key with it."""


class DatabaseReplayCache:
    """Replay keys in the ``replay_keys`` table: atomic through a conditional upsert."""

    #: A delivery's keys are written by the statement or transaction that records it (``storage.deliveries``).
    writes_with_delivery: ClassVar[Literal[True]] = True

    def __init__(self, database: Database) -> None:
        self._database = database
        self._clock = database.clock

    def now(self) -> float:
        return self._clock.timestamp()

    def add(self, key: str, expires_at: float) -> bool:
        with self._database.connection() as connection:
            return _insert_unless_live(connection, key, expires_at, self._clock.timestamp())

    def within(self, connection: Connection) -> ReplayScope:
        """A scope that records keys in ``connection``'s transaction, committed or rolled back with it."""
        return _TransactionReplayScope(connection, self._clock)

    def purge_expired(self) -> int:
        with self._database.transaction() as session:
            return rows_changed(session, delete(ReplayKey).where(ReplayKey.expires_at < self._clock.timestamp()))

    def ping(self) -> None:
        self._database.ping()


def _insert_unless_live(connection: Connection, key: str, expires_at: float, now: float) -> bool:
    """Insert the key, or take over an expired one; False while a live one is there."""
    statement = _INSERT_UNLESS_LIVE[connection.dialect.name]
    return connection.execute(statement, {"key": key, "expires_at": expires_at, "now": now}).first() is not None


def _insert_unless_live_statement(insert: Callable[..., Any]) -> Any:
    """The conditional upsert, built once per dialect (its values come as parameters)."""
    statement = insert(ReplayKey).values(key=bindparam("key"), expires_at=bindparam("expires_at"))
    return statement.on_conflict_do_update(
        index_elements=[ReplayKey.key],
        set_={"expires_at": statement.excluded.expires_at},
        where=ReplayKey.expires_at <= bindparam("now"),
    ).returning(ReplayKey.key)


_INSERT_UNLESS_LIVE = {
    "postgresql": _insert_unless_live_statement(postgresql.insert),
    "sqlite": _insert_unless_live_statement(sqlite.insert),
}


def upsert_sql(count: int, *, guard: str | None = None) -> str:
    """The conditional upsert of ``count`` keys in one statement, ``RETURNING`` the keys it wrote.

    ``storage.deliveries`` runs it in the write transaction that records a delivery on
    SQLite and, with a ``guard`` (an SQL condition), as a data-modifying CTE in the one
    statement that records it on PostgreSQL. Parameters: ``DeliveryKeys.parameters()``.
    """
    table = ReplayKey.__table__.name
    rows = ", ".join(f"(:replay_key_{n}, CAST(:replay_expires_{n} AS DOUBLE PRECISION))" for n in range(count))
    source = (
        f"VALUES {rows}" if guard is None else f"SELECT * FROM (VALUES {rows}) AS k (key, expires_at) WHERE {guard}"
    )
    return (
        f"INSERT INTO {table} (key, expires_at) {source} ON CONFLICT (key) DO UPDATE "
        f"SET expires_at = excluded.expires_at WHERE {table}.expires_at <= :replay_now RETURNING key"
    )


class RedisReplayCache:
    """Replay keys in Redis: ``SET key NX PXAT expiry``, atomic across every process.

    Every call waits at most ``timeout_seconds`` (``DATABASE_TIMEOUT_SECONDS``) for the
    connection and for each answer, and is tried once. That is redis-py's default for a
    client made from a URL, said here explicitly: its ``Redis()`` constructor defaults to ten
    retries with backoff, which would hold a callback for eleven timeouts on a frozen server.
    A connection a restart closed is noticed and replaced when the pool hands it out, so no
    health-check round trip is needed. A server that stopped answering is tried by one
    caller at a time (``storage.breaker``).
    """

    PREFIX = "gdpr-receiver:replay:"
    #: Redis cannot join the database's transaction: a delivery's keys are added first (``within``), undone on failure.
    writes_with_delivery: ClassVar[Literal[False]] = False

    def __init__(self, url: str, *, timeout_seconds: float = 2.0, clock: Clock | None = None) -> None:
        # imported here: a service without the Redis replay cache never loads redis-py (a quarter of a second at
        # each process's start)
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), retries=0),
        )  # fmt: skip
        self._breaker = Breaker("replay cache")
        self._clock = clock or Clock()

    def now(self) -> float:
        return self._clock.timestamp()

    def add(self, key: str, expires_at: float) -> bool:
        expires_ms = int(expires_at * 1000)
        if expires_ms <= int(self.now() * 1000):
            return True  # already expired: nothing left to guard against
        with self._calling():
            return bool(self._client.set(self.PREFIX + key, b"1", nx=True, pxat=expires_ms))

    def forget(self, key: str) -> None:
        with self._calling():
            self._client.delete(self.PREFIX + key)

    def within(self, connection: Connection | None) -> ReplayScope:
        """A scope that remembers the keys it added, for ``undo()`` when the caller's transaction fails (Redis
        joins no transaction: ``connection`` may be None)."""
        return _RedisReplayScope(self)

    def purge_expired(self) -> int:
        return 0  # Redis expires keys by itself

    def ping(self) -> None:
        with self._calling():
            self._client.ping()

    @contextmanager
    def _calling(self) -> Iterator[None]:
        import redis

        try:
            with self._breaker.call(_did_not_answer):
                yield
        except redis.RedisError as error:
            raise StorageError("unavailable", f"replay cache unavailable ({type(error).__name__})") from error


def _did_not_answer(error: BaseException) -> bool:
    import redis

    return isinstance(error, redis.ConnectionError | redis.TimeoutError)


class _RedisReplayScope:
    def __init__(self, cache: RedisReplayCache) -> None:
        self._cache = cache
        self._added: list[str] = []

    def add(self, key: str, expires_at: float) -> bool:
        added = self._cache.add(key, expires_at)
        if added:
            self._added.append(key)
        return added

    def record(self, keys: DeliveryKeys) -> bool:
        deciding_is_new = self.add(*keys.deciding)
        for key in keys.others:
            self.add(*key)
        return deciding_is_new

    def undo(self) -> None:
        for key in self._added:
            self._cache.forget(key)
        self._added.clear()


def open_replay_cache(url: str | None, database: Database) -> DatabaseReplayCache | RedisReplayCache:
    """The replay cache ``REPLAY_CACHE_URL`` names, or the database when it is unset; both bounded alike."""
    if url:
        return RedisReplayCache(url, timeout_seconds=database.timeout_seconds, clock=database.clock)
    return DatabaseReplayCache(database)
