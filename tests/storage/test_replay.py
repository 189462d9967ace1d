"""Replay caches of every backend keep the same promises, across threads and processes."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import pytest

from storage.breaker import PROBE_INTERVAL_SECONDS
from storage.db import Database
from storage.errors import StorageError
from storage.replay import DatabaseReplayCache, DeliveryKeys, RedisReplayCache
from verification.testing import ReplayCacheContract


class TestDatabaseReplayCache(ReplayCacheContract):
    @pytest.fixture
    def replay_cache(self, database):
        return DatabaseReplayCache(database)

    def test_a_key_added_in_a_rolled_back_transaction_is_not_kept(self, database):
        cache, key = DatabaseReplayCache(database), f"k:{uuid.uuid4().hex}"

        def add_then_fail() -> None:
            with database.connection() as connection:
                assert cache.within(connection).add(key, time.time() + 60) is True
                raise RuntimeError("the callback failed to record")

        with pytest.raises(RuntimeError, match="the callback failed to record"):
            add_then_fail()
        assert cache.add(key, time.time() + 60) is True

    def test_a_scope_records_a_deliverys_keys_and_says_whether_the_deciding_one_was_new(self, database):
        cache, now = DatabaseReplayCache(database), time.time()
        deciding, other = f"jwt:{uuid.uuid4().hex}", f"hmac:{uuid.uuid4().hex}"
        with database.connection() as connection:
            scope = cache.within(connection)
            assert scope.record(DeliveryKeys((deciding, now + 60), ((other, now + 60),), now=now)) is True
            assert scope.record(DeliveryKeys((other, now + 60), now=now)) is False
            assert (
                scope.record(DeliveryKeys((f"jwt:{uuid.uuid4().hex}", now + 60), ((deciding, now + 60),), now=now))
                is True
            )

    def test_purge_removes_only_expired_keys(self, database):
        cache = DatabaseReplayCache(database)
        cache.add("old", time.time() - 5)
        cache.add("live", time.time() + 60)
        assert cache.purge_expired() == 1
        assert cache.add("live", time.time() + 60) is False


@pytest.mark.redis
class TestRedisReplayCache(ReplayCacheContract):
    @pytest.fixture
    def replay_cache(self, redis_url):
        return RedisReplayCache(redis_url)

    def test_undo_forgets_what_the_scope_added(self, redis_url):
        cache, key = RedisReplayCache(redis_url), f"k:{uuid.uuid4().hex}"
        scope = cache.within(connection=None)
        assert scope.add(key, time.time() + 60) is True
        scope.undo()
        assert cache.add(key, time.time() + 60) is True

    @pytest.mark.timing
    def test_a_frozen_server_costs_one_timeout_then_the_thaw_is_used_at_once(self, redis_url, tcp_proxy):
        proxy = tcp_proxy(int(redis_url.split(":")[2].split("/")[0]))
        cache = RedisReplayCache(f"redis://127.0.0.1:{proxy.port}/0", timeout_seconds=0.5)
        assert cache.add(f"k:{uuid.uuid4().hex}", time.time() + 60) is True
        proxy.freeze()
        began = time.monotonic()
        with pytest.raises(StorageError) as error:
            cache.add(f"k:{uuid.uuid4().hex}", time.time() + 60)
        waited = time.monotonic() - began
        proxy.thaw()
        time.sleep(PROBE_INTERVAL_SECONDS)  # the breaker's pause before it tries the server again
        assert error.value.reason == "unavailable"
        assert 0.5 <= waited < 0.9, f"one timeout, no retries: {waited:.2f} s"
        assert cache.add(f"k:{uuid.uuid4().hex}", time.time() + 60) is True

    def test_an_unreachable_server_is_unavailable_not_a_pass(self):
        cache = RedisReplayCache("redis://127.0.0.1:9/0", timeout_seconds=0.5)
        with pytest.raises(StorageError) as error:
            cache.add("k", time.time() + 60)
        assert error.value.reason == "unavailable"


def _add_all(url: str, kind: str, keys: list[str], start: float, results) -> None:
    cache = DatabaseReplayCache(Database(url)) if kind == "database" else RedisReplayCache(url)
    while time.time() < start:
        time.sleep(0.001)
    results.put([key for key in keys if cache.add(key, time.time() + 60)])


def _race_two_processes(url: str, kind: str) -> tuple[list[str], list[list[str]]]:
    keys = [f"xp:{uuid.uuid4().hex}" for _ in range(200)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start = time.time() + 1.5
    processes = [context.Process(target=_add_all, args=(url, kind, keys, start, results)) for _ in range(2)]
    for process in processes:
        process.start()
    admitted = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    return keys, admitted


def test_two_processes_racing_on_the_database_admit_each_key_once(database_url):
    keys, (first, second) = _race_two_processes(database_url, "database")
    assert sorted(first + second) == sorted(keys)


@pytest.mark.redis
def test_two_processes_racing_on_redis_admit_each_key_once(redis_url):
    keys, (first, second) = _race_two_processes(redis_url, "redis")
    assert sorted(first + second) == sorted(keys)
