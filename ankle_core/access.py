"""Who may open what: roles, the page table, users from sign-in claims, start-up checks.

Streamlit signs users in (OpenID Connect, ``st.login``); this module holds the rules that
are not Streamlit-specific, so they are typed and unit-tested:

- four roles: *clinician* (case pages and their own history), *researcher* (adds cohort,
  models and reader studies), *reader* (a study's reading page only) and *admin* (the PACS
  settings page). A user may hold several.
- :data:`PAGE_ROLES`: the roles that open each page (a page missing from the table cannot
  be opened: new pages must be added here).
- :func:`user_from_claims`: a signed-in user's stable owner id (a digest of the issuer and
  subject, so no e-mail address is stored) and roles, from a claim (``roles``, ``groups`` or a
  dotted path such as ``realm_access.roles``) and/or a configured mapping of subjects or
  e-mail addresses to roles.
- :func:`deployment_problems`: why the app must refuse to start (no sign-in but a network
  address or PACS credentials).
- :class:`AttemptLimiter`: attempts per minute, per user and in total (the study key).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ankle_core.errors import InvalidInputError

__all__ = [
    "PAGE_ROLES",
    "ROLES",
    "AttemptLimiter",
    "RateLimitedError",
    "RolePolicy",
    "User",
    "allowed_pages",
    "deployment_problems",
    "is_loopback_host",
    "local_user",
    "may_open",
    "parse_role_map",
    "user_from_claims",
]

logger = logging.getLogger(__name__)

#: The roles, least to most specialised.
ROLES: tuple[str, ...] = ("clinician", "researcher", "reader", "admin")

_CASES = frozenset({"clinician", "researcher"})
#: Page (file stem under ``pages/``) -> roles that may open it.
PAGE_ROLES: Mapping[str, frozenset[str]] = {
    "radiograph": _CASES,
    "ct_volume": _CASES,
    "library": _CASES,
    "quiz": _CASES,
    "cohort": frozenset({"researcher"}),
    "models": frozenset({"researcher"}),
    "study_owner": frozenset({"researcher"}),
    "reader_study": frozenset({"reader", "researcher"}),
    "pacs_settings": frozenset({"admin"}),
}


class RateLimitedError(InvalidInputError):
    """Too many attempts in the last minute; the message says how long to wait."""


@dataclass(frozen=True)
class User:
    """Whoever uses this browser session.

    Attributes:
        owner_id: stable id that keys their stored data (64 hex characters for a signed-in
            user: sha256 of issuer and subject; ``"local"`` for the local user).
        display_name: what the sidebar shows (name or e-mail; never stored with cases).
        roles: the roles they hold (subset of :data:`ROLES`).
        signed_in: True for an OpenID Connect user, False for the local default user.
    """

    owner_id: str
    display_name: str
    roles: frozenset[str]
    signed_in: bool

    def has_any(self, roles: Iterable[str]) -> bool:
        """Whether the user holds at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)


@dataclass(frozen=True)
class RolePolicy:
    """Where roles come from.

    Attributes:
        claim: the ID-token claim holding role names (a dotted path reaches nested claims,
            e.g. ``realm_access.roles`` for Keycloak); empty to ignore claims.
        mapping: subject or e-mail (lower case) -> roles, added to the claim's roles.
        default_roles: roles of a signed-in user who has none from the claim or mapping.
    """

    claim: str = "roles"
    mapping: Mapping[str, frozenset[str]] = field(default_factory=dict)
    default_roles: frozenset[str] = frozenset()


def local_user() -> User:
    """The one local user of the embedded default (no sign-in, 127.0.0.1 only): every role."""
    return User("local", "Local user", roles=frozenset(ROLES), signed_in=False)


def _role_names(values: Iterable[str]) -> frozenset[str]:
    roles = set()
    for value in values:
        name = value.strip().lower()
        if name not in ROLES:
            raise InvalidInputError(f"Unknown role {value!r}: a role is one of {ROLES}.")
        roles.add(name)
    return frozenset(roles)


def parse_role_map(text: str) -> dict[str, frozenset[str]]:
    """Parse ``"alice@x.org=researcher+admin; bob=reader"`` into a mapping.

    Entries are separated by ``;`` or new lines; roles by ``+`` or ``,``. Keys (a subject or
    an e-mail address) are matched case-insensitively.

    Args:
        text: the mapping (``ANKLE_ROLE_MAP``).

    Returns:
        Lower-cased key -> roles.

    Raises:
        InvalidInputError: an entry without ``=`` or an unknown role.

    >>> sorted(parse_role_map("Alice@x.org=researcher+admin; bob=reader")["alice@x.org"])
    ['admin', 'researcher']
    """
    mapping: dict[str, frozenset[str]] = {}
    for entry in text.replace("\n", ";").split(";"):
        if not entry.strip():
            continue
        key, sep, roles = entry.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"A role-map entry is 'subject=role+role', not {entry!r}.")
        names = [r for r in roles.replace(",", "+").split("+") if r.strip()]
        mapping[key.strip().lower()] = mapping.get(key.strip().lower(), frozenset()) | _role_names(
            names
        )
    return mapping


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _claim_roles(claims: Mapping[str, Any], path: str) -> frozenset[str]:
    if not path:
        return frozenset()
    value = _claim(claims, path)
    if isinstance(value, str):
        values = value.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        values = [str(v) for v in value]
    else:
        return frozenset()
    # Identity providers carry many groups; only the names of our roles count.
    return frozenset(v.strip().lower() for v in values if v.strip().lower() in ROLES)


def user_from_claims(claims: Mapping[str, Any], policy: RolePolicy) -> User:
    """The user an OpenID Connect ID token describes.

    Args:
        claims: the token's claims (``st.user``): ``sub`` is required; ``iss``, ``email``,
            ``name`` and the policy's role claim are used when present.
        policy: where roles come from.

    Returns:
        The user; ``owner_id`` is sha256 of ``iss`` and ``sub`` (stable across sessions).

    Raises:
        InvalidInputError: the claims have no subject.

    >>> u = user_from_claims({"sub": "ann", "roles": ["Reader", "other"]}, RolePolicy())
    >>> sorted(u.roles), len(u.owner_id)
    (['reader'], 64)
    """
    subject = str(claims.get("sub") or "").strip()
    if not subject:
        raise InvalidInputError("The identity provider sent no subject: sign in again.")
    issuer = str(claims.get("iss") or "")
    owner_id = hashlib.sha256(f"{issuer}\0{subject}".encode()).hexdigest()
    roles = set(_claim_roles(claims, policy.claim))
    email = str(claims.get("email") or "").strip().lower()
    for key in (subject.lower(), email):
        if key and key in policy.mapping:
            roles |= policy.mapping[key]
    if not roles:
        roles = set(policy.default_roles)
    name = str(claims.get("name") or claims.get("email") or subject)
    return User(owner_id=owner_id, display_name=name, roles=frozenset(roles), signed_in=True)


def may_open(user: User, page: str) -> bool:
    """Whether ``user`` may open ``page`` (a file stem under ``pages/``).

    Raises:
        InvalidInputError: a page missing from :data:`PAGE_ROLES` (add it there).
    """
    if page not in PAGE_ROLES:
        raise InvalidInputError(f"Page {page!r} has no roles; add it to PAGE_ROLES.")
    return user.has_any(PAGE_ROLES[page])


def allowed_pages(user: User, pages: Iterable[str]) -> list[str]:
    """The pages of ``pages`` that ``user`` may open, in order."""
    return [p for p in pages if may_open(user, p)]


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``).

    >>> is_loopback_host("127.0.0.1"), is_loopback_host("0.0.0.0"), is_loopback_host("")
    (True, False, False)
    """
    if not host:
        return False
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def deployment_problems(
    *, auth_configured: bool, server_address: str | None, pacs_credentials: bool
) -> list[str]:
    """Why the app must not start as configured (empty when it may).

    Without sign-in the app trusts whoever reaches it, so it may only listen on this
    machine and hold no PACS credentials.

    Args:
        auth_configured: an ``[auth]`` section is configured (OpenID Connect sign-in).
        server_address: Streamlit's ``server.address`` (None or empty: every interface).
        pacs_credentials: a PACS password or token is configured.

    Returns:
        One sentence per problem, saying what to change.
    """
    if auth_configured:
        return []
    problems = []
    if not is_loopback_host(server_address):
        where = server_address or "every network interface"
        problems.append(
            f"The server would listen on {where} without sign-in. Configure sign-in ([auth] "
            "in .streamlit/secrets.toml) or set server.address to 127.0.0.1."
        )
    if pacs_credentials:
        problems.append(
            "PACS credentials are configured but nobody signs in, so anyone could use them. "
            "Configure sign-in ([auth] in .streamlit/secrets.toml) or unset "
            "ANKLE_PACS_PASSWORD and ANKLE_PACS_TOKEN."
        )
    return problems


class AttemptLimiter:
    """At most ``per_user`` attempts per user and ``total`` in all, per sliding window.

    Thread-safe; share one per process. Every attempt counts (right or wrong), so a key
    cannot be guessed faster than the limits allow.

    Args:
        per_user: attempts one user may make per window.
        total: attempts all users together may make per window.
        window_s: window length, in seconds.
        clock: monotonic clock in seconds (tests pass a fake).

    >>> t = [0.0]
    >>> lim = AttemptLimiter(per_user=2, total=10, clock=lambda: t[0])
    >>> lim.attempt("a"); lim.attempt("a")
    >>> try:
    ...     lim.attempt("a")
    ... except RateLimitedError:
    ...     print("limited")
    limited
    """

    def __init__(
        self,
        per_user: int = 5,
        total: int = 30,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_user = per_user
        self.total = total
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._all: deque[float] = deque()
        self._by_user: dict[str, deque[float]] = {}

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        while self._all and self._all[0] <= horizon:
            self._all.popleft()
        for who in list(self._by_user):
            times = self._by_user[who]
            while times and times[0] <= horizon:
                times.popleft()
            if not times:
                del self._by_user[who]

    def attempt(self, who: str) -> None:
        """Record one attempt by ``who``, or refuse it.

        Raises:
            RateLimitedError: ``who`` or everyone together used up the window's attempts.
        """
        with self._lock:
            now = self._clock()
            self._prune(now)
            mine = self._by_user.get(who, deque())
            full = mine if len(mine) >= self.per_user else None
            if full is None and len(self._all) >= self.total:
                full = self._all
            if full is not None:
                wait = max(1, round(full[0] + self.window_s - now))
                logger.warning("study key attempts limited (%s)", "user" if full is mine else "all")
                raise RateLimitedError(f"Too many attempts: wait {wait} s and try again.")
            mine.append(now)
            self._by_user[who] = mine
            self._all.append(now)
