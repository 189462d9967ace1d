"""The cost of a request: CPU of the whole gunicorn process group per request, against a bare Flask app.

For each backend (a fresh SQLite file; a fresh schema on the PostgreSQL named by
``TEST_POSTGRES_URL``, default the local server) the bench starts the service as the
Procfile does (``gunicorn -c gunicorn.conf.py``, ``--workers`` processes of
``WEB_THREADS`` threads) and, under the same settings, the bare app
(``bench/floor_app.py``: Flask's ``/healthz`` and ``POST /floor``, one row inserted and
committed). It measures user + system CPU of each server's process group (the master and
its workers: every thread's run time from ``/proc``) per request, for:

- ``GET /healthz``, against the bare app's ``/healthz``;
- a genuine callback (both signatures, recorded), against the bare insert and commit;
- a refused delivery, against bare ``/healthz``: equal parts forged (JWT and HMAC made with
  other keys), malformed (not JSON) and unsigned 64 KB (a request id of 64,000 characters),
  from 100 addresses a round (``X-Forwarded-For`` through one trusted proxy), 100 each at most,
  under ``REFUSAL_RATE_LIMIT``;
- a delivery from an address past ``REFUSAL_RATE_LIMIT``, against bare ``/healthz``;
- ``GET /api/requests`` with a wrong bearer token, against bare ``/healthz``.

Each round runs every kind on both servers in turn, ``--concurrency`` at a time from an
asyncio client on raw sockets (one connection per request); the ratio is taken per round,
and the table prints the medians over rounds.

    .venv/bin/python bench/request_cost.py [--quick] [--requests 600] [--rounds 3] [--concurrency 16]
        [--workers 4] [--backends sqlite,postgres]

``--quick`` (under a minute for both backends): 3 rounds of 300 requests per kind.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.callback_bench import (  # noqa: E402
    PUBLIC_URL,
    address_of,
    floor_posts,
    postgres_database,
    service_env,
    sqlite_database,
)
from bench.floor_app import create_floor_tables  # noqa: E402
from tests.support.load import (  # noqa: E402
    CALLBACK_PATH,
    DELETE_KIND,
    CallbackSigner,
    RawRequest,
    fire,
    get_request,
    http_request,
    register_requests,
    sign_callbacks,
    with_header,
)
from tests.support.processes import Launcher, ServiceProcess  # noqa: E402

#: Refusals an address may have: above the 100 a round sends from each refusing address.
REFUSAL_LIMIT = 300
LIMITED_ADDRESS = "10.255.255.1"

#: (what, the service's kind, the bare app's kind, the issue's goal as a ratio)
ROWS = (
    ("GET /healthz", "healthz", "bare_healthz", 1.3),
    ("genuine callback", "callback", "bare_insert", 1.5),
    ("refused delivery", "refused", "bare_healthz", 2.0),
    ("from a limited address", "limited", "bare_healthz", 1.0),
    ("wrong bearer token", "wrong_token", "bare_healthz", None),
)


def group_cpu_seconds(server: ServiceProcess) -> float:
    """CPU time of ``server``'s process and its children (gunicorn's workers) so far: the sum of every live
    thread's run time from ``/proc/<pid>/task/<tid>/schedstat`` (nanoseconds; ``/proc/<pid>/stat`` counts in
    10 ms ticks, too coarse for a few hundred requests of half a millisecond). A server's threads live as
    long as it does (gunicorn's gthread pools), so a phase's difference is its CPU."""
    total = 0
    for pid in [server.pid, *server.children()]:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
    return total / 1e9


def cpu_ms_per_request(
    server: ServiceProcess, requests: list[RawRequest], concurrency: int, expect: Callable[[int | None], bool]
) -> float:
    address = address_of(server)
    before = group_cpu_seconds(server)
    answers = fire(address, requests, concurrency=concurrency)
    time.sleep(0.05)  # the workers' last log lines and bookkeeping after the answers
    spent = group_cpu_seconds(server) - before
    wrong = [answer for answer in answers if not expect(answer.status)]
    if wrong:
        raise SystemExit(
            f"{len(wrong)} of {len(answers)} answers unexpected: {wrong[0].status} {wrong[0].body[:200]!r}"
        )
    return spent * 1000 / len(requests)


def forwarded(delivery: RawRequest, address: str) -> RawRequest:
    return with_header(delivery, "X-Forwarded-For", address)


def refused_deliveries(count: int, round_number: int) -> list[RawRequest]:
    """Forged, malformed and unsigned 64 KB deliveries in turn, 100 from each address."""
    forger = CallbackSigner(PUBLIC_URL, secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    headers = {"Content-Type": "application/json"}
    big = json.dumps({"requestId": "x" * 64_000, "requestKind": DELETE_KIND, "result": "Processed"}).encode()
    made = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            rid = f"forged-{round_number}-{i}"
            delivery = sign_callbacks(forger, {rid: DELETE_KIND})[0]
        elif kind == 1:
            delivery = RawRequest(
                "", "", http_request("POST", CALLBACK_PATH, host="h", headers=headers, body=b"{not json")
            )
        else:
            delivery = RawRequest("", "", http_request("POST", CALLBACK_PATH, host="h", headers=headers, body=big))
        made.append(forwarded(delivery, f"10.{round_number}.{i // 100 // 250}.{i // 100 % 250 + 1}"))
    return made


def limited_deliveries(count: int) -> list[RawRequest]:
    body = b'{"requestId": "x", "requestKind": "user.delete"}'
    raw = http_request("POST", CALLBACK_PATH, host="h", headers={"Content-Type": "application/json"}, body=body)
    return [forwarded(RawRequest("", "", raw), LIMITED_ADDRESS) for _ in range(count)]


def limit_the_address(service: ServiceProcess, workers: int, concurrency: int) -> None:
    """Refuse ``LIMITED_ADDRESS`` past its limit in every worker (each counts apart without Redis)."""
    for _ in range(20):
        answers = fire(address_of(service), limited_deliveries(REFUSAL_LIMIT * workers), concurrency=concurrency)
        if sum(answer.status == 429 for answer in answers[-100:]) == 100:
            return
    raise SystemExit("the limited address was never limited in every worker")


def bench_backend(name: str, database_url: str, workdir: Path, args: argparse.Namespace) -> list[dict[str, float]]:
    signer = CallbackSigner(PUBLIC_URL, secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    env = {
        **service_env(database_url, workdir, signer.signing_key),
        "REFUSAL_RATE_LIMIT": f"{REFUSAL_LIMIT} per hour",
        "TRUSTED_PROXIES": "1",
        "WEB_CONCURRENCY": str(args.workers),
    }
    genuine = {f"cost-{r}-{i}": DELETE_KIND for r in range(args.rounds) for i in range(args.requests)}
    register_requests(database_url, secret_key=env["SECRET_KEY"], signature_key=signer.signature_key, kinds=genuine)
    create_floor_tables(database_url)
    launcher = Launcher(workdir)
    ok: Callable[[int | None], bool] = lambda status: status == 200  # noqa: E731
    refused: Callable[[int | None], bool] = lambda status: status in (400, 401)  # noqa: E731
    try:
        service = launcher.start_web(env, workers=args.workers)
        bare = launcher.start_web(env, workers=args.workers, app="bench.floor_app:create_floor_app()")
        corpus = sign_callbacks(signer, genuine)
        for server in (service, bare):  # warm up every worker
            fire(address_of(server), [get_request("/healthz") for _ in range(200)], concurrency=args.concurrency)
        limit_the_address(service, args.workers, args.concurrency)
        rounds = []
        for r in range(args.rounds):
            n = args.requests
            batch = corpus[r * n : (r + 1) * n]
            wrong = {"Authorization": f"Bearer gdpr_{secrets.token_urlsafe(32)}"}
            figures = {
                "bare_healthz": cpu_ms_per_request(
                    bare, [get_request("/healthz") for _ in range(n)], args.concurrency, ok
                ),
                "healthz": cpu_ms_per_request(
                    service, [get_request("/healthz") for _ in range(n)], args.concurrency, ok
                ),
                "bare_insert": cpu_ms_per_request(bare, floor_posts(batch), args.concurrency, ok),
                "callback": cpu_ms_per_request(service, batch, args.concurrency, ok),
                "refused": cpu_ms_per_request(service, refused_deliveries(n, r), args.concurrency, refused),
                "limited": cpu_ms_per_request(
                    service, limited_deliveries(n), args.concurrency, lambda status: status == 429
                ),
                "wrong_token": cpu_ms_per_request(
                    service,
                    [
                        RawRequest("", "", http_request("GET", "/api/requests", host="h", headers=wrong))
                        for _ in range(n)
                    ],
                    args.concurrency,
                    lambda status: status == 401,
                ),
            }
            rounds.append(figures)
            print(f"{name} round {r + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()), file=sys.stderr)
    finally:
        launcher.stop_all()
    return rounds


def print_table(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    print(
        f"\nCPU of the gunicorn process group per request (ms): --workers {args.workers}, "
        f"WEB_THREADS={os.environ.get('WEB_THREADS', '4')}, concurrency {args.concurrency}, "
        f"{args.rounds} rounds x {args.requests} requests a kind; medians over rounds, ratio per round then median"
    )
    print(f"{'backend':<10}{'request':<26}{'service':>9}{'bare':>9}{'ratio':>9}{'goal':>8}  against")
    for backend, rounds in results.items():
        for label, kind, baseline, goal in ROWS:
            ours = statistics.median(r[kind] for r in rounds)
            floor = statistics.median(r[baseline] for r in rounds)
            ratio = statistics.median(r[kind] / r[baseline] for r in rounds)
            against = "bare insert + commit" if baseline == "bare_insert" else "bare /healthz"
            goal_text = f"{goal:.1f}x" if goal is not None else "-"
            print(f"{backend:<10}{label:<26}{ours:>9.2f}{floor:>9.2f}{ratio:>8.2f}x{goal_text:>8}  {against}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600, help="requests per round and kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes, both servers")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 300 requests a kind")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 300, 3
    os.environ.setdefault("BENCH_LOG_LEVEL", "INFO")
    results = {}
    with tempfile.TemporaryDirectory(prefix="request-cost-") as tmp:
        for name in args.backends.split(","):
            workdir = Path(tmp) / name
            workdir.mkdir()
            databases = {"sqlite": functools.partial(sqlite_database, workdir), "postgres": postgres_database}
            with databases[name]() as database_url:
                results[name] = bench_backend(name, database_url, workdir, args)
    print_table(results, args)


if __name__ == "__main__":
    main()
