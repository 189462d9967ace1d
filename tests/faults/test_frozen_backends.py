"""PostgreSQL and Redis frozen (SIGSTOP) for 15 s in the middle of a burst: every answer bounded, nothing lost.

A frozen server is not a crashed one: its connections stay open, its kernel accepts new
ones and acknowledges every byte, and nothing ever answers. Two services run through the
same freeze, side by side, to keep the suite short. 15 s is over seven times the callbacks'
timeout and three times the worker's lease here, so everything a longer freeze
showed happens inside it: each answer bounded while frozen, no thread held past its bound as
the calls pile up, a job's lease running out while the database cannot be asked:

- **database**: gunicorn and the archive worker on a private PostgreSQL cluster, which is frozen;
- **replay cache**: gunicorn on the shared PostgreSQL with a private Redis as its replay cache
  (and its rate limiter's storage), which is frozen.

Each gets a paced burst of signed callbacks and a watcher asking ``/healthz`` and ``/readyz``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from receiver.web.health import READINESS_MARGIN_SECONDS
from storage.db import Database
from storage.models import Callback, Job
from tests.faults.audit import archive_problems, archive_records, audit_callbacks
from tests.faults.conftest import address, wait_until
from tests.faults.servers import PrivatePostgres, PrivateRedis, redis_server_binary
from tests.support.databases import Backend, skip_or_fail
from tests.support.load import (
    DELETE_KIND,
    GET_KIND,
    Answer,
    deliver_until_answered,
    fire,
    get_request,
    register_requests,
    sign_callbacks,
)
from tests.support.processes import ServiceProcess
from tests.support.zips import StreamedZip

pytestmark = [pytest.mark.slow, pytest.mark.timing, pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(420)]

TIMEOUT = 2.0  # DATABASE_TIMEOUT_SECONDS
FREEZE_SECONDS = 15.0
#: A callback's answer while a backend is frozen: the timeout, the client's grace and watch tick, scheduling.
ANSWER_BOUND = TIMEOUT + 1.5
HEALTHZ_BOUND = 1.0
#: The calls in flight when the backend froze hold their web threads up to ANSWER_BOUND; /healthz may queue
#: behind them (a process has WEB_THREADS threads) until then, and not after: the breaker lets one call wait.
ONSET_SECONDS = ANSWER_BOUND
READYZ_BOUND = TIMEOUT + READINESS_MARGIN_SECONDS + 0.5
CALLBACKS = 1000
CHUNK, CHUNK_SECONDS = 4, 0.1  # at most 40 callbacks/s per service, 4 at a time
ARCHIVES = 3
MiB = 1 << 20


@pytest.fixture
def private_redis(tmp_path):
    if redis_server_binary() is None:
        skip_or_fail("redis-server not found")
    server = PrivateRedis(tmp_path)
    yield server
    server.destroy()


@pytest.fixture
def backend(private_postgres) -> Backend:
    return Backend(private_postgres.url)


class PacedSender(threading.Thread):
    """Sends the corpus in small paced chunks until told to stop or out of callbacks."""

    def __init__(self, web: ServiceProcess, corpus) -> None:
        super().__init__(daemon=True)
        self.web, self.corpus = web, corpus
        self.answers: list[Answer] = []
        self.stop = threading.Event()

    def run(self) -> None:
        for start in range(0, len(self.corpus), CHUNK):
            if self.stop.is_set():
                return
            began = time.perf_counter()
            self.answers += fire(address(self.web), self.corpus[start : start + CHUNK], concurrency=CHUNK)
            time.sleep(max(0.0, began + CHUNK_SECONDS - time.perf_counter()))


class Watcher(threading.Thread):
    """Asks ``path`` every ``every`` seconds (or right after the last answer, if that took longer)."""

    def __init__(self, web: ServiceProcess, path: str, every: float) -> None:
        super().__init__(daemon=True)
        self.web, self.path, self.every = web, path, every
        self.answers: list[Answer] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            began = time.perf_counter()
            self.answers += fire(address(self.web), [get_request(self.path)], concurrency=1, timeout=30)
            self.stop.wait(max(0.0, began + self.every - time.perf_counter()))


@dataclass
class Freeze:
    """When the backend was frozen and thawed, on the clock the answers use and on the wall clock."""

    began: float = 0.0
    ended: float = 0.0
    began_wall: float = 0.0
    ended_wall: float = 0.0

    def within(self, answers: list[Answer], *, after: float = 0.0) -> list[Answer]:
        """The answers asked (``after`` seconds or more into the freeze) and given while frozen."""
        return [a for a in answers if a.started >= self.began + after and a.started + a.seconds <= self.ended]


@dataclass
class Service:
    """One gunicorn under load: its paced sender and its two watchers."""

    name: str
    env: dict[str, str]
    web: ServiceProcess
    corpus: list
    sender: PacedSender = field(init=False)
    healthz: Watcher = field(init=False)
    readyz: Watcher = field(init=False)

    def __post_init__(self) -> None:
        self.sender = PacedSender(self.web, self.corpus)
        self.healthz = Watcher(self.web, "/healthz", 0.25)
        self.readyz = Watcher(self.web, "/readyz", 2.0)

    def start(self) -> None:
        for thread in (self.sender, self.healthz, self.readyz):
            thread.start()

    def stop(self) -> None:
        for thread in (self.sender, self.healthz, self.readyz):
            thread.stop.set()
        for thread in (self.sender, self.healthz, self.readyz):
            thread.join(timeout=60)

    def while_frozen(self, freeze: Freeze) -> dict[str, object]:
        """What the sender and the watchers saw during the freeze."""
        callbacks, healthz, readyz = (freeze.within(t.answers) for t in (self.sender, self.healthz, self.readyz))
        settled_healthz = freeze.within(self.healthz.answers, after=ONSET_SECONDS)
        down = Counter(name for a in readyz if a.status == 503 for name, result in json.loads(a.body)["checks"].items()
                       if result != "ok")  # fmt: skip
        after = [a for a in self.sender.answers if a.started > freeze.ended and a.status == 200]
        return {
            "statuses": dict(Counter(a.status or a.error for a in self.sender.answers)),
            "frozen_answers": len(callbacks),
            "frozen_statuses": dict(Counter(a.status or a.error for a in callbacks)),
            "frozen_answer_max_s": _longest(callbacks),
            "answer_max_s": _longest(self.sender.answers),
            "healthz_frozen": len(healthz),
            "healthz_onset_max_s": _longest(healthz),
            "healthz_max_s": _longest(settled_healthz),
            "healthz_statuses": sorted({a.status or 0 for a in healthz}),
            "readyz_frozen": dict(Counter(a.status or a.error for a in readyz)),
            "readyz_max_s": _longest(readyz),
            "readyz_down": dict(down),
            "first_200_after_thaw_s": round(min((a.started for a in after), default=freeze.ended) - freeze.ended, 2),
        }


def _longest(answers: list[Answer]) -> float:
    return round(max((a.seconds for a in answers), default=0.0), 2)


def _accepted_more_than_once(database_url: str) -> int:
    database = Database(database_url)
    try:
        with database.transaction() as session:
            accepted = (select(Callback.request_id).where(Callback.verdict == "accepted")
                        .group_by(Callback.request_id).having(func.count() > 1))  # fmt: skip
            return len(session.scalars(accepted).all())
    finally:
        database.dispose()


def _log_gaps(service: ServiceProcess, freeze: Freeze) -> float:
    """The longest the process wrote nothing to its log while frozen: how long any one wait lasted."""
    stamps = [freeze.began_wall, freeze.ended_wall]
    for line in service.log().splitlines():
        try:
            stamp = dt.datetime.fromisoformat(json.loads(line)["timestamp"]).timestamp()
        except (ValueError, KeyError, TypeError):
            continue
        if freeze.began_wall < stamp < freeze.ended_wall:
            stamps.append(stamp)
    stamps.sort()
    return round(max(b - a for a, b in itertools.pairwise(stamps)), 2)


def _archive_jobs_running(database_url: str) -> int:
    database = Database(database_url)
    try:
        with database.transaction() as session:
            return session.scalar(select(func.count()).where(Job.kind == "archive", Job.state == "running")) or 0
    finally:
        database.dispose()


def _under_load_freeze_both(services: list[Service], postgres: PrivatePostgres, redis: PrivateRedis):
    """Load both services, freeze both backends 2 s in for FREEZE_SECONDS, go on 4 s after the thaw.

    Returns how many archive jobs were running at the freeze, and the freeze's times."""
    for service in services:
        service.start()
    time.sleep(2.0)
    busy_at_freeze = _archive_jobs_running(postgres.url)
    postgres.freeze()
    redis.freeze()
    freeze = Freeze(began=time.perf_counter(), began_wall=time.time())
    time.sleep(FREEZE_SECONDS)
    postgres.thaw()
    redis.thaw()
    freeze.ended, freeze.ended_wall = time.perf_counter(), time.time()
    time.sleep(4.0)
    for service in services:
        service.stop()
    return busy_at_freeze, freeze


def _retry_and_audit(service: Service, signer) -> tuple[dict[str, object], list[Answer]]:
    """Resend, re-signed, whatever was not a 200, as MessageBird retries; then audit every answer."""
    failed = [signer.resign(a.delivery) for a in service.sender.answers if a.status != 200]
    retried, final = deliver_until_answered(address(service.web), signer, failed, concurrency=4)
    audit = audit_callbacks(service.env["DATABASE_URL"], service.sender.answers + retried)
    assert not audit.problems, f"{service.name}: {audit.summary()}"
    sent = {a.delivery.request_id for a in service.sender.answers}
    # A commit the frozen server had received is applied at the thaw although its caller was answered 503:
    # the resend is then answered 200 ``duplicate``, which tells the sender the callback is recorded.
    accepted = {
        a.delivery.request_id for a in service.sender.answers + retried if a.verdict in ("accepted", "duplicate")
    }
    return {
        "resent": len(retried),
        **audit.counts(),
        "requests_sent": len(sent),
        "requests_accepted": len(accepted),
        "accepted_twice": _accepted_more_than_once(service.env["DATABASE_URL"]),
    }, final


def test_frozen_database_and_replay_cache_get_bounded_answers_and_lose_nothing(
    launcher, app_env, signer, private_postgres, private_redis, postgres_url, https_server, report
):
    """Invariant: while PostgreSQL or Redis is frozen every callback is answered, 503, within
    DATABASE_TIMEOUT_SECONDS plus a small margin; /healthz answers within a second; /readyz answers
    within its bound and names the frozen backend. After the thaw every delivery the sender retries
    is accepted, each request exactly once; the worker neither died nor waited on the frozen database
    longer than its bound, and it finished every archive job it had."""
    bodies = {f"frozen-get-{i}": b"".join(StreamedZip(2 * MiB, entry_size=MiB, seed=40 + i).chunks())
              for i in range(ARCHIVES)}  # fmt: skip
    urls = {rid: https_server.route(f"/{rid}.zip", body, stall_after=MiB, stall=3.0) for rid, body in bodies.items()}
    host = urls[next(iter(urls))].split("/")[2]
    app_env = {**app_env, "DATABASE_TIMEOUT_SECONDS": str(TIMEOUT)}
    database_env = {**app_env, "WORKER_POLL_SECONDS": "0.5", "WORKER_LEASE_SECONDS": "5",
                    "ARCHIVE_ALLOWED_HOSTS": host, "ARCHIVE_PRIVATE_HOSTS": host,
                    "REQUESTS_CA_BUNDLE": https_server.ca_bundle}  # fmt: skip
    cache_env = {**app_env, "DATABASE_URL": postgres_url, "REPLAY_CACHE_URL": private_redis.url}
    delete_a = {f"frozen-db-{i:04d}": DELETE_KIND for i in range(CALLBACKS)}
    delete_b = {f"frozen-cache-{i:04d}": DELETE_KIND for i in range(CALLBACKS)}
    for env, kinds in ((database_env, {**delete_a, **dict.fromkeys(bodies, GET_KIND)}), (cache_env, delete_b)):
        register_requests(
            env["DATABASE_URL"], secret_key=env["SECRET_KEY"], signature_key=signer.signature_key, kinds=kinds
        )
    database_web = launcher.start_web(database_env, workers=2)
    worker = launcher.start_worker(database_env)
    assert {
        a.status
        for a in fire(
            address(database_web),
            sign_callbacks(signer, dict.fromkeys(bodies, GET_KIND), data=urls),
            concurrency=ARCHIVES,
        )
    } == {200}
    services = [Service("database", database_env, database_web, sign_callbacks(signer, delete_a)),
                Service("replay_cache", cache_env, launcher.start_web(cache_env, workers=2),
                        sign_callbacks(signer, delete_b))]  # fmt: skip
    wait_until(lambda: _archive_jobs_running(database_env["DATABASE_URL"]), timeout=30, what="a download under way")

    busy_at_freeze, freeze = _under_load_freeze_both(services, private_postgres, private_redis)
    seen = {service.name: service.while_frozen(freeze) for service in services}
    audits = {service.name: _retry_and_audit(service, signer) for service in services}
    worker_gap = _log_gaps(worker, freeze)
    finished = wait_until(lambda: _archives_done(database_env["DATABASE_URL"], bodies), timeout=90, interval=0.5,
                          what="every archive job finished")  # fmt: skip
    resumed_s = round(time.time() - freeze.ended_wall, 1)
    records = archive_records(database_env["DATABASE_URL"], bodies)
    expected = {rid: hashlib.sha256(body).hexdigest() for rid, body in bodies.items()}
    counts = {name: report(backend=name, **seen[name], **audits[name][0]) for name in seen}
    counts["worker"] = report(
        backend="database",
        worker="flask worker",
        alive=worker.process.poll() is None,
        jobs_running_at_freeze=busy_at_freeze,
        longest_log_silence_s=worker_gap,
        archives_done_after_thaw_s=resumed_s,
        archives=dict(Counter(finished)),
    )

    for service in services:
        _assert_answered_and_nothing_lost(service.name, seen[service.name], *audits[service.name], counts[service.name])
    assert worker.process.poll() is None, f"the worker died: {counts['worker']}"
    assert busy_at_freeze == 1, f"the worker was mid-download when frozen: {counts['worker']}"
    assert worker_gap < TIMEOUT + 2 * float(database_env["WORKER_POLL_SECONDS"]) + 1.5, counts["worker"]
    assert not archive_problems(records, expected), f"{counts['worker']}: {archive_problems(records, expected)}"
    assert {r.state for r in records.values()} == {"completed"}, counts["worker"]
    for service in services:
        _assert_bounded(service.name, seen[service.name], counts[service.name])


def _assert_answered_and_nothing_lost(name: str, frozen: dict, after_thaw: dict, final: list[Answer], line: str):
    assert frozen["frozen_answers"] and set(frozen["frozen_statuses"]) == {503}, line
    assert set(frozen["statuses"]) <= {200, 503}, f"only 200 and 503, never 500 nor no answer: {line}"
    assert frozen["healthz_frozen"] and frozen["healthz_statuses"] == [200], line
    assert set(frozen["readyz_frozen"]) == {503} and frozen["readyz_max_s"] < READYZ_BOUND, line
    assert frozen["readyz_down"] and set(frozen["readyz_down"]) == {name}, line
    assert all(a.status == 200 for a in final), line
    assert after_thaw["accepted_twice"] == 0, line
    assert after_thaw["requests_accepted"] == after_thaw["requests_sent"], line


def _assert_bounded(name: str, frozen: dict, line: str) -> None:
    assert frozen["answer_max_s"] < ANSWER_BOUND, f"{name}: a callback waited {frozen['answer_max_s']} s: {line}"
    assert frozen["healthz_max_s"] < HEALTHZ_BOUND, f"{name}: /healthz waited {frozen['healthz_max_s']} s: {line}"
    assert frozen["healthz_onset_max_s"] < ANSWER_BOUND, f"{name}: /healthz at the onset: {line}"


def _archives_done(database_url: str, bodies: dict[str, bytes]) -> list[str] | None:
    states = [record.state for record in archive_records(database_url, bodies).values()]
    return states if all(state in ("completed", "failed") for state in states) else None
