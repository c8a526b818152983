"""Roles, the page table, users from OpenID Connect claims, start-up refusal, attempt limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from ankle_core.access import (
    PAGE_ROLES,
    ROLES,
    AttemptLimiter,
    RateLimitedError,
    RolePolicy,
    allowed_pages,
    deployment_problems,
    is_loopback_host,
    local_user,
    may_open,
    parse_role_map,
    user_from_claims,
)
from ankle_core.config import Settings
from ankle_core.errors import InvalidInputError

PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"
ALL_PAGES = sorted(p.stem for p in PAGES_DIR.glob("*.py"))


def test_every_page_has_roles_and_checks_them() -> None:
    assert ALL_PAGES and set(ALL_PAGES) <= set(PAGE_ROLES), set(ALL_PAGES) - set(PAGE_ROLES)
    for stem in ALL_PAGES:
        source = (PAGES_DIR / f"{stem}.py").read_text()
        assert f'require_role("{stem}")' in source, stem


@pytest.mark.parametrize(
    "roles,pages",
    [
        ({"clinician"}, {"radiograph", "ct_volume", "library", "quiz"}),
        (
            {"researcher"},
            {"radiograph", "ct_volume", "library", "quiz", "cohort", "models"}
            | {"study_owner", "reader_study"},
        ),
        ({"reader"}, {"reader_study"}),
        ({"admin"}, {"pacs_settings"}),
        (set(), set()),
    ],
)
def test_each_role_opens_its_pages_only(roles: set[str], pages: set[str]) -> None:
    user = user_from_claims({"sub": "u1", "roles": sorted(roles)}, RolePolicy())
    assert set(allowed_pages(user, ALL_PAGES)) == pages & set(ALL_PAGES)


def test_unknown_page_is_an_error_not_a_silent_yes() -> None:
    with pytest.raises(InvalidInputError, match="PAGE_ROLES"):
        may_open(local_user(), "secret_page")


def test_local_user_holds_every_role_and_is_not_signed_in() -> None:
    user = local_user()
    assert user.roles == frozenset(ROLES) and not user.signed_in
    assert allowed_pages(user, ALL_PAGES) == ALL_PAGES


def test_roles_from_a_nested_claim_the_map_and_the_default() -> None:
    keycloak = {"sub": "k1", "iss": "https://kc/realms/h", "realm_access": {"roles": ["Admin"]}}
    policy = RolePolicy(claim="realm_access.roles")
    assert user_from_claims(keycloak, policy).roles == {"admin"}
    entra = {"sub": "e1", "roles": "researcher other-app-role", "email": "Ann@H.org"}
    mapped = RolePolicy(mapping=parse_role_map("ann@h.org=admin"))
    assert user_from_claims(entra, mapped).roles == {"researcher", "admin"}
    nobody = RolePolicy(default_roles=frozenset({"clinician"}))
    assert user_from_claims({"sub": "x"}, nobody).roles == {"clinician"}
    assert user_from_claims({"sub": "x"}, RolePolicy()).roles == frozenset()


def test_owner_id_is_a_stable_digest_of_issuer_and_subject() -> None:
    a = user_from_claims({"sub": "ann", "iss": "https://idp-a", "email": "a@h.org"}, RolePolicy())
    again = user_from_claims({"sub": "ann", "iss": "https://idp-a", "name": "Ann"}, RolePolicy())
    other_idp = user_from_claims({"sub": "ann", "iss": "https://idp-b"}, RolePolicy())
    assert a.owner_id == again.owner_id != other_idp.owner_id
    assert len(a.owner_id) == 64 and "ann" not in a.owner_id and "a@h.org" not in a.owner_id
    with pytest.raises(InvalidInputError, match="subject"):
        user_from_claims({"email": "a@h.org"}, RolePolicy())


def test_role_map_refuses_unknown_roles_and_settings_read_it() -> None:
    with pytest.raises(InvalidInputError, match="Unknown role"):
        parse_role_map("ann=superuser")
    with pytest.raises(InvalidInputError, match="subject=role"):
        parse_role_map("ann")
    env = {
        "ANKLE_ROLE_CLAIM": "groups",
        "ANKLE_ROLE_MAP": "ann=researcher+admin\nbob=reader",
        "ANKLE_DEFAULT_ROLES": "clinician",
    }
    policy = Settings.from_env(env).roles
    assert policy.claim == "groups" and policy.mapping["bob"] == {"reader"}
    assert policy.default_roles == {"clinician"}


@pytest.mark.parametrize(
    "host,loopback",
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("10.1.1.1", False),
        ("localhost.evil.org", False),
    ],
)
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_without_sign_in_only_a_loopback_server_without_pacs_secrets_may_start() -> None:
    def problems(auth: bool, address: str | None, pacs: bool) -> list[str]:
        return deployment_problems(
            auth_configured=auth, server_address=address, pacs_credentials=pacs
        )

    assert problems(False, "127.0.0.1", False) == []
    exposed = problems(False, None, False)
    assert len(exposed) == 1 and "every network interface" in exposed[0]
    lan = problems(False, "0.0.0.0", True)
    assert len(lan) == 2 and "PACS credentials" in lan[1]
    assert problems(True, "0.0.0.0", True) == []


def test_limiter_counts_per_user_and_in_total_over_a_sliding_minute() -> None:
    now = [0.0]
    limiter = AttemptLimiter(per_user=2, total=3, window_s=60, clock=lambda: now[0])
    limiter.attempt("a")
    limiter.attempt("a")
    with pytest.raises(RateLimitedError, match="wait 60 s"):
        limiter.attempt("a")
    limiter.attempt("b")
    with pytest.raises(RateLimitedError):
        limiter.attempt("c")  # the total is spent
    now[0] = 30.0
    with pytest.raises(RateLimitedError, match="wait 30 s"):
        limiter.attempt("a")
    now[0] = 60.5
    limiter.attempt("a")
    limiter.attempt("c")
