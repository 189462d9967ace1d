"""Loopback ports for servers the tests start, chosen below the kernel's ephemeral range.

A port the kernel hands out for ``bind(0)`` comes from the ephemeral range
(``/proc/sys/net/ipv4/ip_local_port_range``), the same range every outgoing connection
takes its port from. Between the probe and the server's own bind, a load test's
thousands of connections (or their sockets in TIME_WAIT) can take it, and a server
given that port fails to start ("Port allocation failed"). The ports here come from
below that range, which outgoing connections never use; a start that still loses the
race to another test process is retried on new ports (``retrying_start``).
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from contextlib import ExitStack, closing
from pathlib import Path
from typing import TypeVar

#: The lowest port handed out: above the well-known and most registered services' ports.
FIRST_PORT = 20000
_FALLBACK_EPHEMERAL_START = 32768
_random = random.SystemRandom()
T = TypeVar("T")


def ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _FALLBACK_EPHEMERAL_START


def free_port() -> int:
    """A loopback port below the ephemeral range that nothing listens on now."""
    return free_ports(1)[0]


def free_ports(count: int, *, offset: int = 0) -> list[int]:
    """``count`` distinct free loopback ports ``p`` below the ephemeral range, each with ``p + offset`` free too
    (SeaweedFS listens on a service's port and on that port plus 10000)."""
    last = ephemeral_start() - 1 - offset
    if last - FIRST_PORT < 4 * count:
        raise RuntimeError(f"too few ports below the ephemeral range for {count} (offset {offset})")
    ports: list[int] = []
    with ExitStack() as held:  # each port held until all are chosen, so none is chosen twice
        while len(ports) < count:
            port = _random.randint(FIRST_PORT, last)
            if port in ports or (offset and port + offset in ports):
                continue
            if _held(held, port) and (not offset or _held(held, port + offset)):
                ports.append(port)
    return ports


def _held(stack: ExitStack, port: int) -> bool:
    sock = stack.enter_context(closing(socket.socket()))
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


class PortTaken(RuntimeError):
    """A server could not listen on the port it was given: another process bound it first."""


def retrying_start(start: Callable[[], T], *, attempts: int = 3) -> T:
    """``start()`` again (it picks new ports each time) when it raises ``PortTaken``."""
    for attempt in range(1, attempts + 1):
        try:
            return start()
        except PortTaken:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
