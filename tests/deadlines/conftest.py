"""The calendar most deadline tests use: England and Wales, the UK default."""

from __future__ import annotations

import pytest

from deadlines import Calendar


@pytest.fixture
def england() -> Calendar:
    return Calendar.for_jurisdiction("UK")
