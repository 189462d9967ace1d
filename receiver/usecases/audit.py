"""The tamper-evident history (``storage.audit_chain``): seal what is new, verify the chain, log the head.

Every seal logs the head as ``audit.chain_head`` (``seq``, ``head_hash``, ``sealed``):
shipped with the logs, it is a copy of the head kept outside the database, and so is
the daily checkpoint in ``/metrics``. ``flask audit verify --expect-head SEQ:HASH``
checks the chain against such a copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from receiver.observability.logs import get_logger
from receiver.services import Services
from receiver.usecases import anchoring
from receiver.usecases.anchoring import Anchored, AnchorReport
from storage import audit_chain
from storage.audit_chain import Break, Head, Sealed, Verdict

log = get_logger("receiver.usecases.audit")

_HEAD = re.compile(r"(\d+):([0-9a-f]{64})")


def seal(services: Services) -> Sealed:
    """Seal every row not chained yet (at once, in this process), and log the head."""
    sealed = audit_chain.seal(services.database)
    log.info("audit.chain_head", seq=sealed.head.seq, head_hash=sealed.head.hash, sealed=sealed.count)
    return sealed


def anchor(services: Services) -> Anchored:
    """Seal what is new and time-stamp the head (``flask audit anchor``, the periodic job, every export)."""
    return anchoring.anchor_head(services, seal(services).head)


@dataclass(frozen=True)
class Report:
    """The chain walked and every row compared (``verdict``), and the chain checked against its anchors."""

    verdict: Verdict
    anchors: AnchorReport

    @property
    def breaks(self) -> tuple[Break, ...]:
        return tuple(sorted(self.verdict.breaks + self.anchors.breaks, key=lambda broken: broken.seq))


def verify(services: Services, *, expected: Head | None = None) -> Report:
    """Seal what is new, walk the whole chain and compare every covered row (and check the chain against
    ``expected``, a copy of an earlier head), then check it against every anchor in the database or the store."""
    seal(services)
    report = Report(audit_chain.verify(services.database, expected=expected), anchoring.check_anchors(services))
    verdict = report.verdict
    for broken in report.breaks:
        log.error("audit.chain_broken", seq=broken.seq, table=broken.source, row_key=broken.row_key, kind=broken.kind)
    if not report.breaks:
        log.info(
            "audit.verified",
            entries=verdict.entries,
            seq=verdict.head.seq,
            head_hash=verdict.head.hash,
            pending=verdict.pending,
            anchors=len(report.anchors.anchors),
        )
    return report


def parse_head(text: str) -> Head:
    """``SEQ:HASH`` (as ``audit.chain_head`` and ``audit verify`` print it) as a ``Head``; ``ValueError`` otherwise."""
    matched = _HEAD.fullmatch(text.strip().lower())
    if matched is None:
        raise ValueError("a head is written SEQ:HASH, e.g. 1234:9f86d081...: the seq, a colon, 64 hex digits")
    return Head(int(matched.group(1)), matched.group(2))
