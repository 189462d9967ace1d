"""Where a request's CPU goes: cProfile over the app's WSGI callable, no server, no sockets.

Builds the service on a fresh SQLite file (as ``bench/request_cost.py`` configures it),
then for each kind of request runs ``--requests`` of them through ``app.wsgi_app`` under
cProfile and writes the top functions by cumulative and by own time to
``bench/profiles/<kind>.txt``: ``healthz``, ``callback`` (genuine, signed),
``forged`` (a forged JWT and HMAC), ``wrong_token`` (``GET /api/requests`` with an
unknown bearer token). gunicorn's own share is what ``bench/request_cost.py`` adds.

    .venv/bin/python bench/profile_requests.py [--requests 2000] [--out bench/profiles]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import secrets
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from werkzeug.test import EnvironBuilder  # noqa: E402

from app import create_app  # noqa: E402
from storage.db import Database  # noqa: E402
from tests.support.load import DELETE_KIND, CallbackSigner, callback_json, register_requests  # noqa: E402

PUBLIC_URL = "https://hooks.example.test"
CALLBACK_PATH = "/webhooks/messagebird/personal-data"


def environ_of(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> dict[str, Any]:
    return EnvironBuilder(path=path, method=method, headers=headers or {}, data=body).get_environ()


def signed_environs(signer: CallbackSigner, request_ids: list[str]) -> list[dict[str, Any]]:
    environs = []
    for rid in request_ids:
        raw = signer.sign(rid, callback_json(rid, DELETE_KIND)).raw
        head, body = raw.split(b"\r\n\r\n", 1)
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        headers.pop("Content-Length", None)
        environs.append(environ_of("POST", CALLBACK_PATH, headers, body))
    return environs


def run(app: Callable[..., Any], environs: list[dict[str, Any]]) -> None:
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        return None

    for environ in environs:
        for _chunk in app(environ, start_response):
            pass


def profile(name: str, app: Callable[..., Any], environs: list[dict[str, Any]], out: Path) -> None:
    run(app, environs[:50])  # warm: first-request work is not per-request work
    profiler = cProfile.Profile()
    profiler.enable()
    run(app, environs[50:])
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    text.write(f"# {name}: {len(environs) - 50} requests through app.wsgi_app under cProfile\n")
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    (out / f"{name}.txt").write_text(text.getvalue().replace(str(ROOT) + "/", ""))
    total = stats.total_tt  # type: ignore[attr-defined]  # pstats keeps the profile's total time here
    print(f"{name:<12} {total * 1e6 / (len(environs) - 50):8.0f} us per request under cProfile", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "profiles")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="profile-requests-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        Database(url).upgrade()
        signer = CallbackSigner(PUBLIC_URL, secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        env = {
            "PUBLIC_URL": PUBLIC_URL,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ADMIN_TOKEN": secrets.token_urlsafe(24),
            "MESSAGEBIRD_SIGNING_KEY": signer.signing_key,
            "DATABASE_URL": url,
            "ARCHIVE_STORE_URL": f"file://{tmp}",
            "LOG_FORMAT": "json",
            "REFUSAL_RATE_LIMIT": "1000000/minute",
        }
        rids = [f"profile-{i}" for i in range(args.requests)]
        register_requests(url, secret_key=env["SECRET_KEY"], signature_key=signer.signature_key,
                          kinds=dict.fromkeys(rids, DELETE_KIND))  # fmt: skip
        sys.stdout.flush()
        log_sink = open("/dev/null", "w")  # noqa: SIM115  # the log lines are part of the cost, not of the output
        real_stdout, sys.stdout = sys.stdout, log_sink
        try:
            app = create_app(env).wsgi_app
        finally:
            sys.stdout = real_stdout
        forger = CallbackSigner(PUBLIC_URL, secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        kinds = {
            "healthz": [environ_of("GET", "/healthz") for _ in range(args.requests)],
            "callback": signed_environs(signer, rids),
            "forged": signed_environs(forger, [f"forged-{i}" for i in range(args.requests)]),
            "wrong_token": [
                environ_of("GET", "/api/requests", {"Authorization": f"Bearer gdpr_{secrets.token_urlsafe(32)}"})
                for _ in range(args.requests)
            ],
        }
        from receiver.observability import logs

        logs._SINK.stream = log_sink
        gc.collect()
        gc.freeze()  # the prepared requests are not the app's heap: a collection walking them is not its cost
        for name, environs in kinds.items():
            profile(name, app, environs, args.out)


if __name__ == "__main__":
    main()
