"""Callback endpoint bench: verified callbacks per second and latency through gunicorn, against two baselines.

For each backend (a fresh SQLite file; a fresh schema on the PostgreSQL named by
``TEST_POSTGRES_URL``, default the local server) the bench starts the Procfile's web
command (``gunicorn -c gunicorn.conf.py``, ``--workers`` processes) on a free loopback
port, and beside it the durable-ack floor (``bench/floor_app.py``: one row inserted and
committed per POST, same gunicorn settings, same database); it registers every request
straight into the database, signs the whole corpus (both schemes, a fresh ``jti`` each)
before anything is timed, and then:

1. throughput: ``--rounds`` rounds, each ``--requests`` bare ``GET /healthz`` (gunicorn,
   Flask and the access log, nothing else), as many ``POST /floor`` (the floor: nothing
   acknowledges durably for less) and as many distinct signed ``KIND_USER_DELETE``
   callbacks (JWT + HMAC verified, replay key, callback row, request completed, one
   transaction), ``--concurrency`` at a time from an asyncio client on raw sockets, one
   connection per request, interleaved round by round;
2. ack latency, one request at a time, interleaved: a ``KIND_PERSONAL_GET`` callback whose
   ``data`` points at a 1 GiB ZIP (served over loopback HTTPS; no worker runs, so it is
   never downloaded: the callback only seals the URL and enqueues the job) against one
   with no ``data`` (completed at once, nothing enqueued).

The machine is shared and noisy, so every figure is also given as a ratio to its
baseline in the same round; read the medians over rounds. ``CPU ms`` is the whole
machine's busy time per request while a phase ran (servers, database and the client,
whose own share is ``client``): on a machine this small throughput follows it.

    .venv/bin/python bench/callback_bench.py [--requests 1000] [--rounds 5] [--concurrency 32]
        [--workers 4] [--latency-requests 200] [--backends sqlite,postgres] [--archive-size 1GiB] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.floor_app import create_floor_tables  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Job, ProcessorRequest  # noqa: E402
from tests.support.load import (  # noqa: E402
    DELETE_KIND,
    GET_KIND,
    Answer,
    CallbackSigner,
    RawRequest,
    fire,
    get_request,
    http_request,
    register_requests,
    sign_callbacks,
)
from tests.support.processes import Launcher  # noqa: E402

PUBLIC_URL = "https://hooks.example.test"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GIB = 1 << 30


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summarise(answers: list[Answer], seconds: float) -> dict[str, float]:
    latencies = [answer.seconds * 1000 for answer in answers]
    return {"per_s": len(answers) / seconds, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)}


def machine_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy so far (every process: servers, database, client)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed_fire(address: tuple[str, int], deliveries: list, concurrency: int, expect: str | None) -> dict[str, float]:
    started, busy, client = time.perf_counter(), machine_cpu_seconds(), time.process_time()
    answers = fire(address, deliveries, concurrency=concurrency)
    seconds = time.perf_counter() - started
    cpu_ms = (machine_cpu_seconds() - busy) * 1000 / len(deliveries)
    client_ms = (time.process_time() - client) * 1000 / len(deliveries)
    wrong = [a for a in answers if a.status != 200 or (expect is not None and a.verdict != expect)]
    if wrong:
        raise SystemExit(
            f"{len(wrong)} of {len(answers)} answers were not 200 {expect or ''}: "
            f"{wrong[0].status} {wrong[0].error} {wrong[0].body[:200]!r}"
        )
    return {**summarise(answers, seconds), "cpu_ms": cpu_ms, "client_ms": client_ms}


# --- backends and servers ---------------------------------------------------------------------


@contextmanager
def sqlite_database(workdir: Path) -> Iterator[str]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    Database(url).upgrade()
    yield url


@contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg

    libpq = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        database = Database(url)
        database.upgrade()
        database.dispose()
        yield url
    finally:
        with psycopg.connect(libpq, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def archive_server(size: int) -> Iterator[str]:
    """A 1 GiB ZIP on loopback HTTPS (generated as it is sent), for the URL the callbacks carry."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.https_server", "--zip-size", str(size)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdin is not None and server.stdout is not None
    try:
        yield json.loads(server.stdout.readline())["url"]
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def service_env(database_url: str, workdir: Path, signing_key: str) -> dict[str, str]:
    archives = workdir / "archives"
    archives.mkdir(exist_ok=True)
    return {
        "PUBLIC_URL": PUBLIC_URL,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ADMIN_TOKEN": secrets.token_urlsafe(24),
        "MESSAGEBIRD_SIGNING_KEY": signing_key,
        "DATABASE_URL": database_url,
        "ARCHIVE_STORE_URL": f"file://{archives}",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
    }


# --- one backend ---------------------------------------------------------------------------------


def bench_backend(name: str, database_url: str, workdir: Path, archive_url: str, args: argparse.Namespace) -> dict:
    signer = CallbackSigner(PUBLIC_URL, secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    env = service_env(database_url, workdir, signer.signing_key)
    burst = {f"bench-{r}-{i}": DELETE_KIND for r in range(args.rounds) for i in range(args.requests)}
    latency = {f"ack-{kind}-{i}": GET_KIND for i in range(args.latency_requests) for kind in ("archive", "none")}
    register_requests(
        database_url, secret_key=env["SECRET_KEY"], signature_key=signer.signature_key, kinds={**burst, **latency}
    )
    create_floor_tables(database_url)
    launcher = Launcher(workdir)
    try:
        address = address_of(launcher.start_web(env, workers=args.workers))
        floor = address_of(launcher.start_web(env, workers=args.workers, app="bench.floor_app:create_floor_app()"))
        data = {rid: archive_url for rid in latency if rid.startswith("ack-archive")}
        corpus = sign_callbacks(signer, burst)
        acks = sign_callbacks(signer, latency, data=data)
        for server in (address, floor):  # warm up
            fire(server, [get_request("/healthz") for _ in range(200)], concurrency=args.concurrency)
        rounds = []
        for r in range(args.rounds):
            probes = [get_request("/healthz") for _ in range(args.requests)]
            health = timed_fire(address, probes, args.concurrency, None)
            durable = timed_fire(
                floor, floor_posts(corpus[r * args.requests : (r + 1) * args.requests]), args.concurrency, "accepted"
            )
            batch = corpus[r * args.requests : (r + 1) * args.requests]
            callback = timed_fire(address, batch, args.concurrency, "accepted")
            rounds.append({"healthz": health, "floor": durable, "callback": callback})
            print(
                f"{name} round {r + 1}: "
                + ", ".join(f"{what} {m['per_s']:.0f}/s p99 {m['p99']:.0f} ms" for what, m in rounds[-1].items()),
                file=sys.stderr,
                flush=True,
            )
        ack = fire(address, acks, concurrency=1)
        check_acks(database_url, ack, len(data))
    finally:
        launcher.stop_all()
    return {"backend": name, "rounds": rounds, "ack": ack_latency(ack)}


def address_of(web) -> tuple[str, int]:
    host, port = (web.base_url or "").removeprefix("http://").split(":")
    return host, int(port)


def floor_posts(callbacks: list[RawRequest]) -> list[RawRequest]:
    """``POST /floor`` requests carrying the same bodies as ``callbacks`` (without their signatures)."""
    posts = []
    for delivery in callbacks:
        body = delivery.raw.split(b"\r\n\r\n", 1)[1]
        raw = http_request("POST", "/floor", host="127.0.0.1", headers={"Content-Type": "application/json"}, body=body)
        posts.append(RawRequest(delivery.request_id, delivery.http_id, raw))
    return posts


def check_acks(database_url: str, answers: list[Answer], archives: int) -> None:
    """Every ack was an acceptance; each archive callback queued one job, and no job ran."""
    if any(answer.verdict != "accepted" for answer in answers):
        raise SystemExit("an ack-latency callback was not accepted")
    database = Database(database_url)
    with database.transaction() as session:
        queued = session.scalar(select(func.count(Job.id)).where(Job.kind == "archive", Job.state == "queued"))
        waiting = session.scalar(
            select(func.count(ProcessorRequest.id)).where(ProcessorRequest.state == "callback_received")
        )
    database.dispose()
    if queued != archives or waiting != archives:
        raise SystemExit(f"expected {archives} queued archive jobs, found {queued} ({waiting} requests waiting)")


def ack_latency(answers: list[Answer]) -> dict[str, dict[str, float]]:
    by_kind: dict[str, list[float]] = {"archive": [], "none": []}
    for answer in answers:
        by_kind[answer.delivery.request_id.split("-")[1]].append(answer.seconds * 1000)
    return {kind: {"p50": percentile(v, 0.5), "p99": percentile(v, 0.99)} for kind, v in by_kind.items()}


# --- report --------------------------------------------------------------------------------------


def median_of(rounds: list[dict], what: str, metric: str) -> float:
    return statistics.median(r[what][metric] for r in rounds)


def median_ratio(rounds: list[dict], metric: str, baseline: str) -> float:
    return statistics.median(r["callback"][metric] / r[baseline][metric] for r in rounds)


def print_tables(results: list[dict], args: argparse.Namespace) -> None:
    threads = os.environ.get("WEB_THREADS", "4")
    print(
        f"\nthroughput: gunicorn --workers {args.workers} (WEB_THREADS={threads}), concurrency {args.concurrency}, "
        f"{args.rounds} rounds x {args.requests} requests, medians over rounds (ratio: per round, then median)"
    )
    print(f"{'backend':<10}{'what':<26}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms':>9}{'client':>9}")
    for result in results:
        rounds = result["rounds"]
        for what, label in (
            ("healthz", "GET /healthz"),
            ("floor", "floor: insert + commit"),
            ("callback", "verified callback"),
        ):
            print(
                f"{result['backend']:<10}{label:<26}{median_of(rounds, what, 'per_s'):>9.0f}"
                f"{median_of(rounds, what, 'p50'):>9.1f}{median_of(rounds, what, 'p99'):>9.1f}"
                f"{median_of(rounds, what, 'cpu_ms'):>9.2f}{median_of(rounds, what, 'client_ms'):>9.2f}"
            )
        for baseline in ("healthz", "floor"):
            print(
                f"{result['backend']:<10}{'callback / ' + baseline:<26}"
                f"{median_ratio(rounds, 'per_s', baseline):>8.2f}x{median_ratio(rounds, 'p50', baseline):>8.1f}x"
                f"{median_ratio(rounds, 'p99', baseline):>8.1f}x{median_ratio(rounds, 'cpu_ms', baseline):>8.2f}x"
            )
    print(f"\nack latency, one at a time, {args.latency_requests} of each, interleaved")
    print(f"{'backend':<10}{'callback':<26}{'p50 ms':>9}{'p99 ms':>9}")
    for result in results:
        ack = result["ack"]
        size = f"{args.archive_size / GIB:g} GiB" if args.archive_size >= GIB else f"{args.archive_size >> 20} MiB"
        for kind, label in (("archive", f"enqueues a {size} archive"), ("none", "enqueues nothing")):
            print(f"{result['backend']:<10}{label:<26}{ack[kind]['p50']:>9.2f}{ack[kind]['p99']:>9.2f}")
        print(
            f"{result['backend']:<10}{'ratio':<26}{ack['archive']['p50'] / ack['none']['p50']:>8.2f}x"
            f"{ack['archive']['p99'] / ack['none']['p99']:>8.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests per round and kind")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--latency-requests", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--archive-size", type=int, default=GIB, help="bytes of the archive the URL points at")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 300, 50 latency pairs")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds, args.latency_requests = 300, 3, 50
    results = []
    with tempfile.TemporaryDirectory(prefix="callback-bench-") as tmp, archive_server(args.archive_size) as url:
        for name in args.backends.split(","):
            workdir = Path(tmp) / name
            workdir.mkdir()
            databases = {"sqlite": functools.partial(sqlite_database, workdir), "postgres": postgres_database}
            with databases[name]() as database_url:
                results.append(bench_backend(name, database_url, workdir, url, args))
    print_tables(results, args)


if __name__ == "__main__":
    main()
