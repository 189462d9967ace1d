"""The fault tests' lines of counts, and their summary at the end of a run.

A test's ``report(...)`` (``tests/faults/conftest.py``) records its line as a user property, which
its test report carries, from an xdist worker too; a module's teardown, which has no report of its
own, keeps its line here. The root ``conftest.py`` writes the summary, since under xdist only the
controller writes one and it loads no conftest below the root.
"""

from __future__ import annotations

import pytest

#: The user property each test's line of counts is recorded under.
COUNTS = "counts"

_TEARDOWN_LINES: list[tuple[str, str]] = []


def report_line(nodeid: str, line: str) -> None:
    """Print one line of counts a module's teardown took, and keep it for the summary at the end of the run."""
    _TEARDOWN_LINES.append((nodeid, line))
    print(f"counts: {line}")


def write_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Every test's counts, in the order the tests ended, then those of the modules' teardowns."""
    reported = [
        (report.nodeid, value)
        for key in ("passed", "failed")
        for report in terminalreporter.stats.get(key, [])
        if report.when == "call"
        for name, value in report.user_properties
        if name == COUNTS
    ]
    if reported or _TEARDOWN_LINES:
        terminalreporter.section("fault-injection counts")
        for nodeid, line in reported + _TEARDOWN_LINES:
            terminalreporter.write_line(f"{nodeid}: {line}")
