"""Retention of the answers to data subjects: each package goes with its case's archives, and with their receipt.

A package's ZIP holds the same personal data as the archives it was built from, so it is
kept as long as they are (``ARCHIVE_RETENTION_DAYS`` after the case closed; never while
the case is open or under a legal hold) and deleted the same way: every version removed
from the store, then a receipt on the package (when, by whom, under which policy, what
the store removed) and a ``package_deleted`` entry in the case's history. Its links stop
working with it (410). Packages a later build replaced go at the same time. The client
addresses of downloads are forgotten after ``CLIENT_ADDRESS_RETENTION_DAYS``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases.answers import iso_time
from storage import answers, case_registry
from storage.errors import StorageError

if TYPE_CHECKING:
    from receiver.usecases.retention import ClassOutcome

log = get_logger(__name__)

PACKAGE_DELETED = "package_deleted"
KEPT_OPEN, KEPT_HELD, KEPT_PERIOD = "case open", "legal hold", "period not over"


def apply_to_answers(services: Services, actor: str, should_stop: Callable[[], bool], outcome: ClassOutcome) -> None:
    """Delete the packages whose time has come, with their receipts; forget old download addresses."""
    settings = services.settings
    retention = dt.timedelta(days=settings.archive_retention_days)
    now = services.clock.now()
    with services.database.transaction() as session:
        stored = answers.stored_packages(session)
        outcome.done["download addresses cleared"] = answers.forget_download_addresses(
            session, before=now - dt.timedelta(days=settings.client_address_retention_days)
        )
    outcome.done.update(deleted=0, bytes=0, failed=0)
    for package in stored:
        kept_because = _kept_because(package, retention, now)
        if kept_because:
            outcome.kept[kept_because] += 1
        elif not should_stop():
            _delete(services, package, actor=actor, outcome=outcome, retention_days=settings.archive_retention_days)


def _kept_because(package: answers.StoredPackage, retention: dt.timedelta, now: dt.datetime) -> str | None:
    if package.held:
        return KEPT_HELD
    if package.closed_at is None:
        return KEPT_OPEN
    if package.closed_at + retention > now:
        return KEPT_PERIOD
    return None


def _delete(
    services: Services, package: answers.StoredPackage, *, actor: str, outcome: ClassOutcome, retention_days: int
) -> None:
    try:
        deleted = services.archive_store.delete_all_versions(package.uri)
    except StorageError as error:
        log.warning("package.delete_failed", package_id=package.package_id, reason=error.reason, error=error.message)
        outcome.done["failed"] += 1
        outcome.notes.append(f"not deleted: {package.package_id}: {error.reason}: {error.message}")
        return
    closed = package.closed_at or services.clock.now()
    policy = (
        f"ARCHIVE_RETENTION_DAYS={retention_days}: case closed {iso_time(closed)}, "
        f"due {iso_time(closed + dt.timedelta(days=retention_days))}"
    )
    versions = json.dumps(
        [
            {"versionId": v.version_id, "bytes": v.size, "deleteMarker": v.delete_marker, "partial": v.partial}
            for v in deleted.versions
        ]
    )
    with services.database.transaction() as session:
        row = answers.record_package_deletion(
            session, package.package_id, versions=versions, actor=actor, policy=policy, at=services.clock.now()
        )
        case = case_registry.find(session, package.case_id, for_update=True)
        if row is not None and case is not None:
            case_registry.record_event(
                case,
                actor=actor[:64],
                kind=PACKAGE_DELETED,
                changed="package",
                from_value=row.sha256,
                reason=f"{package.package_id}: {policy}; the store removed {len(deleted.versions)} version(s), "
                f"{deleted.data_bytes} bytes",
            )
    log.info("package.deleted", package_id=package.package_id, bytes=deleted.data_bytes, actor=actor)
    outcome.done["deleted"] += 1
    outcome.done["bytes"] += deleted.data_bytes
