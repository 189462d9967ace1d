"""Both provider simulators on fixed loopback ports, for ``make run`` (``make simulators``).

MessageBird's on ``127.0.0.1:8081`` over HTTPS (its CA written to ``instance/messagebird-ca.pem``)
signs its callbacks with the service's ``MESSAGEBIRD_SIGNING_KEY`` from ``instance/dev.env``;
VoodooSMS's on ``127.0.0.1:8082``. While they run, ``instance/simulators.env`` holds the
settings that point the service at them (``make run`` adds it to ``instance/dev.env``), with
polling and reconciliation intervals short enough to follow a case to its end in a minute;
it is removed when they stop.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from simulators import messagebird, voodoosms
from simulators.serving import Server

ENV_FILE = "simulators.env"
CA_FILE = "messagebird-ca.pem"


def read_env(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of an environment file (``#`` comments and blank lines skipped)."""
    entries = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in entries}


def service_env(messagebird_url: str, voodoosms_url: str, ca_file: Path) -> dict[str, str]:
    """The service's settings that send its requests to the simulators at these URLs."""
    archive_host = messagebird_url.removeprefix("https://")
    return {
        "MESSAGEBIRD_ACCESS_KEY": messagebird.DEFAULT_ACCESS_KEY,
        "MESSAGEBIRD_API_URL": messagebird_url,
        "VOODOOSMS_API_KEY": voodoosms.DEFAULT_API_KEY,
        "VOODOOSMS_API_URL": voodoosms_url,
        "ARCHIVE_ALLOWED_HOSTS": archive_host,
        "ARCHIVE_PRIVATE_HOSTS": archive_host,  # the simulator serves its archives on loopback
        "REQUESTS_CA_BUNDLE": str(ca_file.resolve()),
        "NO_PROXY": "127.0.0.1,localhost",
        "RECONCILE_INTERVAL_SECONDS": "30",
        "CALLBACK_GRACE_SECONDS": "60",
        "VOODOOSMS_POLL_INTERVAL_SECONDS": "2",
        "VOODOOSMS_POLL_MAX_INTERVAL_SECONDS": "10",
    }


def write_env(path: Path, env: Mapping[str, str]) -> None:
    lines = ["# Written by `make simulators` while they run; removed when they stop."]
    path.write_text("\n".join([*lines, *(f"{name}={value}" for name, value in env.items())]) + "\n")


def start(
    instance: Path, messagebird_port: int, voodoosms_port: int
) -> tuple[messagebird.MessageBirdSimulator, list[Server], dict[str, str]]:
    """Both simulators serving in background threads, and the settings that point at them."""
    signing_key = read_env(instance / "dev.env")["MESSAGEBIRD_SIGNING_KEY"]
    birds = messagebird.MessageBirdSimulator(access_key=messagebird.DEFAULT_ACCESS_KEY, signing_key=signing_key)
    bird_server = messagebird.start(birds, ca_file=instance / CA_FILE, port=messagebird_port)
    voodoo = voodoosms.VoodooSmsSimulator(api_key=voodoosms.DEFAULT_API_KEY)
    voodoo_server = voodoosms.start(voodoo, port=voodoosms_port)
    return birds, [bird_server, voodoo_server], service_env(bird_server.url, voodoo_server.url, instance / CA_FILE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--instance", type=Path, default=Path("instance"), help="where dev.env is")
    parser.add_argument("--messagebird-port", type=int, default=8081)
    parser.add_argument("--voodoosms-port", type=int, default=8082)
    arguments = parser.parse_args(argv)
    birds, servers, env = start(arguments.instance, arguments.messagebird_port, arguments.voodoosms_port)
    env_file = arguments.instance / ENV_FILE
    write_env(env_file, env)
    print(
        f"MessageBird simulator: {env['MESSAGEBIRD_API_URL']}, VoodooSMS simulator: {env['VOODOOSMS_API_URL']}; "
        f"{env_file} points the service at them: start `make run` now (or restart it). Ctrl-C stops them.",
        flush=True,
    )
    stop = threading.Event()

    def stopping(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stopping)
    try:
        stop.wait()
    finally:
        env_file.unlink(missing_ok=True)
        for server in servers:
            server.close()
        birds.close()  # its callbacks still to be sent


if __name__ == "__main__":
    main()
