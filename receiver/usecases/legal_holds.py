"""Legal holds: an operator keeps a case's archives past their retention, then lets them go.

Erasure does not apply where the data is necessary for the establishment, exercise or defence
of legal claims (GDPR Art. 17(3)(e)); the hold is how ops say so, and why, until they release it.

While a case is held, the retention run deletes none of its archives and says so in its
report. Placing and releasing are entries in the case's history naming their actor and
reason. The case's row is locked as the hold changes, the same row a retention run locks
before it claims one of the case's archives: a hold placed while a deletion is already
under way names that archive as ``being deleted`` (the deletion was decided before the
hold), and every other archive of the case is kept from then on.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.orm import Session

from receiver.services import Services
from receiver.usecases.answers import HeldArchive, LegalHoldView, iso_time
from receiver.usecases.case_views import legal_hold_of
from receiver.usecases.documents import LegalHoldDocument, ReleaseHoldDocument, parse
from receiver.usecases.errors import UseCaseError
from storage import case_registry
from storage import retention as kept
from storage.models import Case

PLACED, RELEASED = "legal_hold_placed", "legal_hold_released"


def place_legal_hold(services: Services, case_id: str, document: Any, *, actor: str) -> LegalHoldView:
    """Hold the case's archives; ``conflict`` when it is held already."""
    parsed = parse(LegalHoldDocument, document)
    with services.database.transaction() as session:
        case = _locked_case(session, case_id)
        if case.legal_hold_since is not None:
            raise UseCaseError(
                "conflict",
                f"the case is under a legal hold already, since "
                f"{iso_time(case.legal_hold_since)} by {case.legal_hold_by}",
                reason="already_held",
            )
        case.legal_hold_since, case.legal_hold_by, case.legal_hold_reason = services.clock.now(), actor, parsed.reason
        case_registry.record_event(
            case,
            actor=actor,
            kind=PLACED,
            changed="legalHold",
            from_value="none",
            to_value="held",
            reason=parsed.reason,
        )
        return legal_hold_view(case, kept.case_archives(session, case_id))


def release_legal_hold(services: Services, case_id: str, document: Any, *, actor: str) -> LegalHoldView:
    """End the hold: the archives are deleted when their retention says so; ``conflict`` when none is held."""
    parsed = parse(ReleaseHoldDocument, document if document is not None else {})
    with services.database.transaction() as session:
        case = _locked_case(session, case_id)
        if case.legal_hold_since is None:
            raise UseCaseError("conflict", "the case is not under a legal hold", reason="not_held")
        placed = f"held since {iso_time(case.legal_hold_since)} by {case.legal_hold_by}"
        case.legal_hold_since = case.legal_hold_by = case.legal_hold_reason = None
        case_registry.record_event(
            case,
            actor=actor,
            kind=RELEASED,
            changed="legalHold",
            from_value=placed,
            to_value="none",
            reason=parsed.reason,
        )
        return legal_hold_view(case, kept.case_archives(session, case_id))


def show_legal_hold(services: Services, case_id: str) -> LegalHoldView:
    with services.database.transaction() as session:
        case = case_registry.find(session, case_id)
        if case is None:
            raise UseCaseError("not_found", "no case with this id")
        return legal_hold_view(case, kept.case_archives(session, case_id))


def _locked_case(session: Session, case_id: str) -> Case:
    case = case_registry.find(session, case_id, for_update=True)
    if case is None:
        raise UseCaseError("not_found", "no case with this id")
    return case


def legal_hold_view(case: Case, archives: list[kept.CaseArchive]) -> LegalHoldView:
    """The case's hold and where each of its archives stands."""
    return LegalHoldView.model_construct(
        case_id=case.id,
        legal_hold=legal_hold_of(case),
        archives=[
            HeldArchive.model_construct(
                request_id=archive.request_id, state=_archive_state(archive), deleted_at=iso_time(archive.deleted_at)
            )
            for archive in archives
        ],
    )


def _archive_state(archive: kept.CaseArchive) -> Literal["kept", "being deleted", "deleted"]:
    if archive.deleted_at is not None:
        return "deleted"
    return "being deleted" if archive.deletion_started_at is not None else "kept"
