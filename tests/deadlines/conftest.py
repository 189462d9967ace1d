"""Calendars the deadline tests share."""

from __future__ import annotations

import pytest

from deadlines import Calendar


@pytest.fixture
def england() -> Calendar:
    return Calendar.for_jurisdiction("UK")


@pytest.fixture
def eu() -> Calendar:
    return Calendar.for_jurisdiction("EU")
