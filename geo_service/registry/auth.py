"""Who may do what: password hashing, expiring tokens, roles and area permissions.

- The public reads public resources and public fields only (no login).
- A **coordinator** logs in (OAuth2 password flow) and edits the resources of the areas
  assigned to them (``User.areas``, e.g. 日常生活圏域 ids).
- An **admin** edits every resource and manages users.

Passwords are stored as bcrypt hashes (cost ``BCRYPT_ROUNDS``) and must pass
:func:`check_password` (length, not a common password). Tokens are HS256 JWTs carrying
the user name, the role, an expiry and a keyed digest of the user's password hash and
token generation, so a password change or a deactivation ends every token issued before.
The signing key comes from the deployment settings or, on a single machine, from a random
key kept in ``data/secret_key`` (created on first start).

Guessing is slowed by :class:`LoginThrottle` (growing delays per account at a client
address, and per address; counted in the database) and gains no hint from timing: an
unknown user's password is checked against a dummy hash of the same cost.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import math
import os
import secrets
import string
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import bcrypt
import jwt

from geo_service._errors import InputError
from geo_service.i18n import msg
from geo_service.registry.store import (
    LoginRecord,
    NotFoundError,
    ResourceStore,
    User,
    owner_only,
    username_key,
)

MIN_PASSWORD_LENGTH = 10
MIN_DISTINCT_CHARACTERS = 5
BCRYPT_ROUNDS = 12  # cost factor of new hashes (2**12 rounds, about 0.2 s)
_ALGORITHM = "HS256"


class AuthenticationError(Exception):
    """Missing, wrong or expired credentials (HTTP 401)."""


class PermissionDeniedError(PermissionError):
    """An authenticated user may not do this (HTTP 403); the message says why."""


class TooManyLoginsError(Exception):
    """Too many failed logins for an account or from an address (HTTP 429)."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(msg("too many failed logins; try again in {seconds} s",
                             seconds=self.retry_after))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with its argument (for an error raised in a worker process)."""
        return type(self), (self.retry_after,)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The common passwords :func:`check_password` refuses (``common_passwords.txt``)."""
    text = resources.files("geo_service").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def check_password(password: str) -> None:
    """Raise :class:`InputError` (naming the field, never the value) for a weak password.

    Refused: fewer than ``MIN_PASSWORD_LENGTH`` characters, more than bcrypt's 72 bytes,
    fewer than ``MIN_DISTINCT_CHARACTERS`` different characters, and a common password
    (also with digits or punctuation appended: ``iloveyou2024``).
    """
    lowered = password.lower()
    if len(password) < MIN_PASSWORD_LENGTH:
        reason = msg("password must have at least {n} characters", n=MIN_PASSWORD_LENGTH)
    elif len(password.encode("utf-8")) > 72:
        reason = msg("password is longer than 72 bytes")
    elif len(set(password)) < MIN_DISTINCT_CHARACTERS:
        reason = msg("password has too few different characters")
    elif {lowered, lowered.rstrip(string.digits + string.punctuation)} & common_passwords():
        reason = msg("password is too common (on the list of most used passwords); "
                     "choose another")
    else:
        return
    raise InputError(reason, column="password")


def hash_password(password: str) -> str:
    """A bcrypt hash of ``password`` after :func:`check_password`."""
    check_password(password)
    return bcrypt.hashpw(password.encode("utf-8"),
                         bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches the stored hash (constant time)."""
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except ValueError:
        return False


@functools.cache
def _dummy_hash(rounds: int) -> str:
    """A hash of the current cost that no password matches (for unknown users)."""
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds)).decode("ascii")


def authenticate(store: ResourceStore, username: str, password: str) -> User:
    """The active user with these credentials; raise :class:`AuthenticationError`.

    Unknown and deactivated users cost one bcrypt check too, so the answer's timing does
    not tell which user names exist.
    """
    try:
        user: User | None = store.get_user(username)
    except NotFoundError:
        user = None
    matches = verify_password(password, user.password_hash if user else
                              _dummy_hash(BCRYPT_ROUNDS))
    if user is None or not matches or not user.active:
        raise AuthenticationError(msg("incorrect user name or password"))
    return user


def _password_stamp(user: User, secret: str) -> str:
    """A short keyed digest of the user's password hash and token generation: it changes
    with the password and at every deactivation (generation 0 signs the hash alone, as
    before generations existed)."""
    signed = user.password_hash + (f"\n{user.token_generation}" if user.token_generation
                                   else "")
    return hmac.new(secret.encode("utf-8"), signed.encode("utf-8"), "sha256").hexdigest()[:16]


def create_token(user: User, secret: str, *, minutes: float = 60,
                 now: datetime | None = None) -> str:
    """A signed token for ``user`` that expires after ``minutes`` or at a password change."""
    now = now or datetime.now(UTC)
    claims = {"sub": user.username, "role": user.role, "iat": now,
              "exp": now + timedelta(minutes=minutes), "pwd": _password_stamp(user, secret)}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def user_from_token(store: ResourceStore, token: str, secret: str) -> User:
    """The active user a token was issued to; raise :class:`AuthenticationError`."""
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=[_ALGORITHM],
                                            options={"require": ["exp", "sub", "pwd"]})
    except jwt.ExpiredSignatureError:
        raise AuthenticationError(msg("token expired; log in again")) from None
    except jwt.InvalidTokenError:
        raise AuthenticationError(msg("invalid token")) from None
    try:
        user = store.get_user(str(claims["sub"]))
    except NotFoundError:
        raise AuthenticationError(msg("the token's user no longer exists")) from None
    if not user.active:
        raise AuthenticationError(msg("user is deactivated"))
    if not hmac.compare_digest(str(claims["pwd"]), _password_stamp(user, secret)):
        raise AuthenticationError(msg("the password was changed, or the user deactivated, "
                                      "after this token was issued; log in again"))
    return user


class LoginThrottle:
    """Failed logins, counted in the registry database so that every worker process shares
    one count, and throttled without handing anyone a lockout of someone else.

    Every attempt counts as a failure until it succeeds. Counted per account *at* a client
    address: after ``per_account`` failures there, each further attempt from there must
    wait, twice as long each time (``first_delay_s``, then double, up to ``max_delay_s``),
    while the same account logs in from any other address as usual. Counted per address
    too (``per_address``, the same growing delays), against one guess sprayed over many
    accounts; an account that has logged in from that address before is not held up by
    it, so colleagues behind one office address keep working. Failures are forgotten
    ``window_s`` seconds after the last one; a success clears its account at that address.
    IPv6 addresses count by their /64 network (what one household or host is given).
    Keys are keyed digests (``secret``): the database keeps no attempted user name.
    """

    def __init__(self, store: ResourceStore, *, secret: str, per_account: int,
                 per_address: int, window_s: float, first_delay_s: float, max_delay_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._secret = secret.encode("utf-8")
        self._free = {"account": per_account, "address": per_address}
        self._window = window_s
        self._first_delay, self._max_delay = first_delay_s, max_delay_s
        self._clock = clock

    def _key(self, *parts: str) -> str:
        return hmac.new(self._secret, "\0".join(parts).encode("utf-8", "surrogatepass"),
                        "sha256").hexdigest()

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        """The keys of the account at the address, and of the address."""
        try:
            ip = ipaddress.ip_address(address)
            if ip.version == 6:
                address = str(ipaddress.ip_network(f"{ip}/64", strict=False))
        except ValueError:
            pass  # not an IP address (a test client): counted as it is
        return (self._key("account", username_key(username), address),
                self._key("address", address))

    def delay(self, failures: int, free: int) -> float:
        """Seconds an attempt must wait after the last one, after ``failures`` failures
        of which ``free`` are allowed without waiting."""
        if failures < free:
            return 0.0
        return min(self._max_delay, self._first_delay * 2.0 ** min(failures - free, 40))

    def begin(self, username: str, address: str) -> None:
        """Count an attempt; raise :class:`TooManyLoginsError` (nothing counted) while it
        must wait."""
        account, addr = self._keys(username, address)
        now = self._clock()

        def admit(records: Mapping[str, LoginRecord]) -> None:
            mine = records[account]
            checks = [(mine, self._free["account"])]
            if not mine.known:
                checks.append((records[addr], self._free["address"]))
            wait = max(self.delay(r.failures, free) - (now - r.last_at) for r, free in checks)
            if wait > 0:
                raise TooManyLoginsError(wait)

        self.store.count_login_attempt((account, addr), now=now,
                                       forget_before=now - self._window, admit=admit)

    def succeeded(self, username: str, address: str) -> None:
        """The attempt begun for ``username`` from ``address`` logged in."""
        self.store.login_succeeded(*self._keys(username, address))


def check_can_edit(user: User, areas: Iterable[str | None]) -> None:
    """Raise unless ``user`` may edit resources of all ``areas`` (responsible areas).

    Admins may edit everything; coordinators only resources whose area is one of theirs
    (a resource without an area belongs to no coordinator, so only admins edit it).
    """
    if user.role == "admin":
        return
    for area in areas:
        if area is None or area not in user.areas:
            mine = "、".join(user.areas) or msg("none")
            raise PermissionDeniedError(msg(
                "coordinator {user!r} may edit resources of their own areas ({mine}) only, "
                "not of area {area!r}", user=user.username, mine=mine, area=area))


def check_admin(user: User) -> None:
    """Raise unless ``user`` is an admin."""
    if user.role != "admin":
        raise PermissionDeniedError(msg("only an admin may manage users"))


def load_or_create_secret(path: str | Path) -> str:
    """The token-signing key kept in ``path``; made (random, mode 0600) if absent, and made
    readable by its owner only if it was not."""
    path = Path(path)
    if path.exists():
        owner_only(path)
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key)
    return key
