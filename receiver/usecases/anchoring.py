"""Anchors: the audit chain's head time-stamped by an RFC 3161 authority, and the chain checked against them.

``anchor_head`` time-stamps a head the caller has just sealed (``audit.anchor``): the
statement (``audit_chain.anchor_statement``: seq, head hash, tree root over the entries'
digests) goes to the first authority of ``AUDIT_TSA_URL`` that answers within
``AUDIT_TSA_TIMEOUT_SECONDS``, and the verified reply is kept in ``audit_anchors`` and in
the archive store (``storage.anchors``). A head anchored already is not stamped again. An
authority that is down costs one bounded wait and a log line (``audit.anchor_failed``):
the next run tries again, and copies a store could not take then are written on the next.

``check_anchors`` reads every anchor from both places and names, as ``audit_chain.Break``:
- ``anchor_invalid``: a reply that does not verify against ``AUDIT_TSA_CA_FILE`` over its statement;
- ``anchor_deleted``: an anchor the store keeps and the database no longer does;
- ``chain_rewritten``: a chain that no longer reaches an anchor's seq (a cut tail), or
  whose entry there is not the anchored head (a rewritten prefix), or whose tree is not
  the anchored root;
- ``backdated``: a row sealed after an anchor whose own time (``Coverage.time_column``)
  is earlier than that anchor's time by more than the longest sealing delay
  (``longest_sealing_delay``): written after the fact with an old date.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection

from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.timestamping import TimestampError
from settings import Settings
from storage import anchors, audit_chain
from storage.anchors import Anchor
from storage.audit_chain import CHAIN_REWRITTEN, Break, Head
from storage.errors import StorageError

log = get_logger("receiver.usecases.anchoring")

ANCHOR_INVALID, ANCHOR_DELETED, BACKDATED = "anchor_invalid", "anchor_deleted", "backdated"


def longest_sealing_delay(settings: Settings) -> dt.timedelta:
    """How long after its own time a row written by the service may legitimately be sealed.

    An intent's transitions wait for the provider's answer, up to ``SEND_RESOLUTION_MAX_SECONDS``;
    then the next seal (``AUDIT_SEAL_INTERVAL_SECONDS``), which a worker that died holds up
    to its lease (``WORKER_LEASE_SECONDS``).
    """
    seconds = settings.send_resolution_max_seconds + settings.audit_seal_interval_seconds
    return dt.timedelta(seconds=seconds + settings.worker_lease_seconds)


@dataclass(frozen=True)
class Anchored:
    """What one anchor run did: the anchor now covering the head (None: none), whether it was new, why not."""

    anchor: Anchor | None
    new: bool = False
    failure: str | None = None


def anchor_head(services: Services, head: Head) -> Anchored:
    """Time-stamp ``head`` (sealed just before) unless it is anchored already; keep it in both places."""
    publish_unstored(services)
    if not services.timestamper.configured:
        return Anchored(None, failure="no time-stamping authority is configured (AUDIT_TSA_URL)")
    if head.seq == 0:
        return Anchored(None, failure="the chain is empty")
    with services.database.reading() as connection:
        latest = anchors.latest(connection)
        if latest is not None and (latest.seq, latest.head_hash) == (head.seq, head.hash):
            return Anchored(latest)
        root = audit_chain.tree_root(audit_chain.digests_through(connection, head.seq))
    statement = audit_chain.anchor_statement(head.seq, head.hash, root)
    try:
        stamp = services.timestamper.stamp(statement)
    except TimestampError as error:
        log.warning("audit.anchor_failed", seq=head.seq, reason=error.reason)
        return Anchored(None, failure=error.message)
    anchor = Anchor(head.seq, head.hash, root, statement, stamp.reply, stamp.tsa_url, stamp.stamped_at)
    with services.database.connection() as connection:
        anchor_id = anchors.record(connection, anchor)
    _publish(services, anchor_id, anchor)
    log.info("audit.anchored", seq=head.seq, head_hash=head.hash, stamped_at=stamp.stamped_at.isoformat())
    return Anchored(anchor, new=True)


def publish_unstored(services: Services) -> None:
    """Write to the archive store the anchors it does not hold yet (its earlier writes failed)."""
    with services.database.reading() as connection:
        waiting = anchors.unstored(connection)
    for anchor_id, anchor in waiting:
        _publish(services, anchor_id, anchor)


def _publish(services: Services, anchor_id: int, anchor: Anchor) -> None:
    try:
        uri = anchors.publish(services.archive_store, anchor, now=services.clock.now())
    except StorageError as error:
        log.warning("audit.anchor_not_stored", seq=anchor.seq, reason=error.reason)
        return
    with services.database.connection() as connection:
        anchors.mark_stored(connection, anchor_id, uri)


# -- checking the chain against the anchors ------------------------------------------------------


@dataclass(frozen=True)
class AnchorReport:
    """The anchors found (verified, by seq), what does not match them, and what could not be checked."""

    anchors: tuple[Anchor, ...]
    breaks: tuple[Break, ...]
    notes: tuple[str, ...] = ()

    @property
    def latest(self) -> Anchor | None:
        return self.anchors[-1] if self.anchors else None


def check_anchors(services: Services) -> AnchorReport:
    """Every anchor in the database or the store, verified, and the chain checked against each."""
    found, notes = _all_anchors(services)
    if found and not services.timestamper.roots:
        notes.append(
            f"{len(found)} anchors found, none checked: AUDIT_TSA_CA_FILE is unset, so no time-stamp can be verified"
        )
        return AnchorReport((), (), tuple(notes))
    breaks: list[Break] = []
    verified: list[Anchor] = []
    with services.database.reading() as connection:
        for anchor in found:
            checked, problems = _check_one(services, connection, anchor)
            breaks.extend(problems)
            verified.extend([checked] if checked is not None else [])
        verified.sort(key=lambda anchor: anchor.seq)
        breaks.extend(_root_breaks(connection, verified[-1:]))
        breaks.extend(_backdated(connection, verified, longest_sealing_delay(services.settings)))
    if not found:
        notes.append("no anchor exists: the chain's head was never time-stamped outside the database")
    return AnchorReport(tuple(verified), tuple(sorted(breaks, key=lambda b: b.seq)), tuple(notes))


def _all_anchors(services: Services) -> tuple[list[Anchor], list[str]]:
    """The anchors of both places, each once (by its statement and reply), with where it was found."""
    notes: list[str] = []
    with services.database.reading() as connection:
        merged = {_identity(anchor): anchor for anchor in anchors.in_database(connection)}
    try:
        kept = list(anchors.in_store(services.archive_store))
    except StorageError as error:
        kept, notes = [], [f"the archive store's anchors could not be read: {error.message}"]
    for item in kept:
        if isinstance(item, StorageError):
            notes.append(f"an anchor in the archive store could not be read: {item.message}")
            continue
        known = merged.get(_identity(item))
        merged[_identity(item)] = _both(known) if known is not None else item
    return sorted(merged.values(), key=lambda anchor: anchor.seq), notes


def _identity(anchor: Anchor) -> str:
    return hashlib.sha256(anchor.statement + b"\x00" + anchor.reply).hexdigest()


def _both(anchor: Anchor) -> Anchor:
    return dataclasses.replace(anchor, in_store=True)


def _check_one(services: Services, connection: Connection, anchor: Anchor) -> tuple[Anchor | None, list[Break]]:
    """The anchor with its verified time (None if it does not verify), and the breaks it shows."""

    def broken(kind: str, detail: str, *, source: str = "audit_anchors", key: str | None = None) -> Break:
        return Break(kind, anchor.seq, source, key or anchor.name, detail)

    try:
        stamped_at = services.timestamper.check(anchor.reply, anchor.statement)
        seq, head_hash, root = anchors.statement_fields(anchor.statement)
    except (TimestampError, ValueError, KeyError) as error:
        return None, [broken(ANCHOR_INVALID, f"the time-stamp of seq {anchor.seq} does not verify: {error}")]
    when = f"time-stamped {stamped_at:%Y-%m-%dT%H:%M:%SZ}"
    entry = audit_chain.entry_at(connection, seq)
    # what was time-stamped counts, not the row's copy of it
    checked = dataclasses.replace(anchor, seq=seq, head_hash=head_hash, tree_root=root, stamped_at=stamped_at)
    problems = []
    if anchor.in_store and not anchor.in_database:
        problems.append(
            broken(ANCHOR_DELETED, f"the anchor of seq {seq} {when} is in the archive store, not in the database")
        )
    if entry is None:
        last = audit_chain.head(connection)
        problems.append(
            broken(
                CHAIN_REWRITTEN,
                f"the chain was cut: an anchor {when} covers seq {seq}, the chain ends at seq {last.seq}",
                source="audit_chain",
                key=str(seq),
            )
        )
    elif entry.entry_hash != head_hash:
        problems.append(
            broken(
                CHAIN_REWRITTEN,
                f"the chain was rewritten up to here: the anchor {when} says its head was {head_hash}",
                source=entry.source,
                key=entry.row_key,
            )
        )
    return checked, problems


def _root_breaks(connection: Connection, newest: list[Anchor]) -> list[Break]:
    """The newest anchor's tree root recomputed (the head hash already binds every entry before it)."""
    breaks = []
    for anchor in newest:
        if audit_chain.tree_root(audit_chain.digests_through(connection, anchor.seq)) != anchor.tree_root:
            breaks.append(
                Break(CHAIN_REWRITTEN, anchor.seq, "audit_chain", str(anchor.seq), "the tree is not the anchored root")
            )
    return breaks


def _backdated(connection: Connection, verified: list[Anchor], delay: dt.timedelta) -> list[Break]:
    """Rows sealed after an anchor whose own time is earlier than that anchor's time by more than ``delay``."""
    if not verified:
        return []
    seqs = [anchor.seq for anchor in verified]
    times = audit_chain.own_times(connection)
    breaks = []
    for entry in audit_chain.first_versions(connection):
        at = times.get((entry.source, entry.row_key))
        before = bisect.bisect_left(seqs, entry.seq) - 1  # the newest anchor that does not cover this entry
        if at is None or before < 0:
            continue
        anchor = verified[before]
        assert anchor.stamped_at is not None  # verified anchors carry their time
        if at < anchor.stamped_at - delay:
            breaks.append(
                Break(
                    BACKDATED,
                    entry.seq,
                    entry.source,
                    entry.row_key,
                    f"its own time {at:%Y-%m-%dT%H:%M:%SZ} is before the anchor of seq {anchor.seq} "
                    f"(time-stamped {anchor.stamped_at:%Y-%m-%dT%H:%M:%SZ}) by more than the longest sealing delay "
                    f"({int(delay.total_seconds())} s), yet it was sealed after it: inserted after the fact",
                )
            )
    return breaks
