"""``flask audit verify``: exit 0 with the chain's size and head, 1 naming the first entry that does not match."""

from __future__ import annotations

import re

from storage import audit_chain
from tests.storage.audit_history import tamper, write_history


def verify(app, *args: str):
    return app.test_cli_runner().invoke(args=["audit", "verify", *args])


def test_an_intact_chain_exits_0_with_its_count_and_head(app, services):
    write_history(services.database)
    result = verify(app)
    assert result.exit_code == 0, result.output
    with services.database.reading() as connection:
        head = audit_chain.head(connection)
    assert head.seq == 14  # sealed by the command itself
    assert f"audit chain intact: 14 entries, head 14:{head.hash}; 0 rows pending" in result.output


def test_a_rewritten_row_exits_1_naming_the_entry(app, services):
    write_history(services.database)
    audit_chain.seal(services.database)
    tamper(services.database, "UPDATE case_events SET reason = 'never opened' WHERE kind = 'opened'")
    result = verify(app)
    assert result.exit_code == 1
    assert re.search(
        r"audit chain broken at seq \d+: case_events \d+ rewritten: the row's content changed", result.output
    ), result.output


def test_a_deleted_row_exits_1_naming_the_entry(app, services):
    write_history(services.database)
    audit_chain.seal(services.database)
    tamper(services.database, "DELETE FROM request_events")
    result = verify(app)
    assert result.exit_code == 1
    assert re.search(r"broken at seq \d+: request_events \d+ missing: the row was deleted", result.output)


def test_the_head_is_checked_against_an_outside_copy(app, services):
    write_history(services.database)
    copy = audit_chain.seal(services.database).head
    assert verify(app, "--expect-head", f"{copy.seq}:{copy.hash}").exit_code == 0
    forged = verify(app, "--expect-head", f"{copy.seq}:{'0' * 64}")
    assert forged.exit_code == 1 and f"broken at seq {copy.seq}" in forged.output
    assert "chain_rewritten: the outside copy of the head says" in forged.output


def test_a_malformed_copy_of_the_head_is_refused_clearly(app):
    result = verify(app, "--expect-head", "12-abc")
    assert result.exit_code == 1 and "a head is written SEQ:HASH" in result.output
