"""The console role from the ID token's groups: the most rights wins, no mapped group and Entra's overage refused."""

from __future__ import annotations

import pytest

from receiver.identity.errors import IdentityError
from receiver.identity.roles import groups_in, role_for

ROLE_MAP = (
    ("gdpr-viewers", "viewer"),
    ("gdpr-auditors", "auditor"),
    ("gdpr-operators", "operator"),
    ("6f1b1c7e-0d5a-4b39-9a51-3c0d8f1e2a10", "auditor"),  # an Entra ID group's object id
)


def role(claims: dict, claim: str = "groups") -> str:
    return role_for(claims, claim=claim, role_map=ROLE_MAP)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (["gdpr-viewers"], "viewer"),
        (["gdpr-viewers", "gdpr-auditors"], "auditor"),
        (["gdpr-auditors", "gdpr-operators", "gdpr-viewers"], "operator"),
        (["gdpr-viewers", "6f1b1c7e-0d5a-4b39-9a51-3c0d8f1e2a10", "marketing"], "auditor"),
    ],
)
def test_a_person_in_several_mapped_groups_gets_the_role_with_the_most_rights(groups, expected):
    assert role({"groups": groups}) == expected


def test_the_order_of_the_map_and_of_the_groups_does_not_matter():
    reversed_map = tuple(reversed(ROLE_MAP))
    claims = {"groups": ["gdpr-operators", "gdpr-viewers"]}
    assert role_for(claims, claim="groups", role_map=reversed_map) == role(claims) == "operator"


@pytest.mark.parametrize("claims", [{"groups": ["marketing"]}, {"groups": []}, {}, {"groups": "sales"}])
def test_a_person_in_no_mapped_group_is_refused_without_naming_one(claims):
    with pytest.raises(IdentityError) as refused:
        role(claims)
    assert refused.value.reason == "no_mapped_group"
    assert "gdpr" not in refused.value.message and "marketing" not in refused.value.message


def test_a_group_name_must_match_exactly():
    with pytest.raises(IdentityError):
        role({"groups": ["GDPR-OPERATORS", "gdpr-operators-old", " gdpr-operators"]})


@pytest.mark.parametrize(
    "claims",
    [
        {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com"}}},
        {"hasgroups": True},
    ],
)
def test_entras_overage_claim_is_refused_with_why(claims):
    with pytest.raises(IdentityError) as refused:
        role(claims)
    assert refused.value.reason == "groups_overage"
    assert "left your groups out" in refused.value.message


def test_an_overage_marker_beside_the_groups_themselves_is_not_an_overage():
    assert role({"groups": ["gdpr-operators"], "_claim_names": {"groups": "src1"}}) == "operator"


def test_a_single_group_sent_as_a_string_counts():
    assert role({"groups": "gdpr-operators"}) == "operator"


def test_roles_may_come_from_another_claim_or_a_nested_one():
    assert role({"roles": ["gdpr-auditors"]}, claim="roles") == "auditor"
    assert role({"realm_access": {"roles": ["gdpr-viewers"]}}, claim="realm_access.roles") == "viewer"
    assert groups_in({"https://example.com/groups": ["a"]}, "https://example.com/groups") == ["a"]
    assert groups_in({"groups": ["a", 7, None]}, "groups") == ["a"]
