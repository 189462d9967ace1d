"""The ports test servers are given: below the kernel's ephemeral range, free, and a lost race retried."""

from __future__ import annotations

import socket

import pytest

from tests.support import ports
from tests.support.ports import FIRST_PORT, PortTaken, ephemeral_start, free_ports, retrying_start


def test_ports_come_from_below_the_ephemeral_range_and_are_free():
    ports = free_ports(8)
    assert len(set(ports)) == 8
    assert all(FIRST_PORT <= port < ephemeral_start() for port in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_ports_with_an_offset_have_their_partner_free_below_the_range_too():
    ports = free_ports(5, offset=10000)
    assert all(port + 10000 < ephemeral_start() for port in ports)
    assert len(set(ports) | {port + 10000 for port in ports}) == 10


def test_a_port_someone_listens_on_is_passed_over(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_ports(1)[0]))
        taken.listen()
        busy, free = taken.getsockname()[1], free_ports(1)[0]
        candidates = iter([busy, busy, free])
        monkeypatch.setattr(ports._random, "randint", lambda _low, _high: next(candidates))
        assert free_ports(1) == [free]


def test_a_start_that_lost_its_port_is_tried_again_and_one_that_keeps_losing_fails():
    attempts = []

    def loses_once() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise PortTaken("taken")
        return "listening"

    assert retrying_start(loses_once) == "listening" and len(attempts) == 2

    def always_loses() -> str:
        raise PortTaken("taken again")

    with pytest.raises(PortTaken, match="taken again"):
        retrying_start(always_loses, attempts=2)
