"""The console role of a person signed in through the identity provider, from the groups their ID token lists.

``OIDC_ROLE_MAP`` maps groups (a name, a path such as Keycloak's ``/ops/operators``,
or an object id as Microsoft Entra ID sends) to the console's roles. A person in
several mapped groups gets the role with the most rights: operator, then auditor,
then viewer. A person in none is refused, and so is a token whose groups the
provider left out (Entra ID's "overage": past 200 groups the token names a Graph
query instead of the groups). The role is taken afresh at every sign-in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from receiver.identity.errors import IdentityError

#: The console roles a provider's group may grant, most rights first.
ROLES_BY_RIGHTS = ("operator", "auditor", "viewer")


def role_for(claims: Mapping[str, Any], *, claim: str, role_map: Iterable[tuple[str, str]]) -> str:
    """The role with the most rights among those ``role_map`` gives the groups in ``claims[claim]``.

    ``IdentityError`` ``groups_overage`` when the provider left the groups out,
    ``no_mapped_group`` when none of them is mapped.
    """
    if groups_left_out(claims, claim):
        raise IdentityError(
            "groups_overage",
            "Your identity provider left your groups out of the sign-in (you belong to more groups than it puts in a "
            "token), so the console cannot tell your role. Ask whoever administers the provider to send only the "
            "groups assigned to this application, or app roles.",
        )
    groups = set(groups_in(claims, claim))
    granted = {role for group, role in role_map if group in groups}
    for role in ROLES_BY_RIGHTS:
        if role in granted:
            return role
    raise IdentityError(
        "no_mapped_group",
        "You signed in, but no group you belong to gives access to this console. "
        "Ask whoever runs the console to add you to one.",
    )


def groups_in(claims: Mapping[str, Any], claim: str) -> list[str]:
    """The groups ``claim`` lists: a top-level claim by its name, else a dotted path (``realm_access.roles``)."""
    value = claims.get(claim) if claim in claims else _nested(claims, claim.split("."))
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def groups_left_out(claims: Mapping[str, Any], claim: str) -> bool:
    """Whether the provider signalled it left the groups out: Entra ID's ``_claim_names`` or ``hasgroups``."""
    if claim in claims:
        return False
    claim_names = claims.get("_claim_names")
    if isinstance(claim_names, Mapping) and claim in claim_names:
        return True
    return claim == "groups" and claims.get("hasgroups") is True


def _nested(claims: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = claims
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
