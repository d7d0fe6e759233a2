"""Who may do what: password hashing, expiring tokens, roles and area permissions.

- The public reads public resources and public fields only (no login).
- A **coordinator** logs in (OAuth2 password flow) and edits the resources of the areas
  assigned to them (``User.areas``, e.g. 日常生活圏域 ids).
- An **admin** edits every resource and manages users.

Passwords are stored as bcrypt hashes (cost ``BCRYPT_ROUNDS``) and must pass
:func:`check_password` (length, not a common password). Tokens are HS256 JWTs carrying
the user name, the role, an expiry and a keyed digest of the user's password hash, so a
password change ends every token issued before it. The signing key comes from the
deployment settings or, on a single machine, from a random key kept in
``data/secret_key`` (created on first start).

Guessing is slowed by :class:`LoginThrottle` (failed logins per account and per client
address) and gains no hint from timing: an unknown user's password is checked against a
dummy hash of the same cost.
"""

from __future__ import annotations

import functools
import hmac
import math
import os
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import bcrypt
import jwt

from geo_service._errors import InputError
from geo_service.store import NotFoundError, ResourceStore, User, owner_only

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
        super().__init__(f"too many failed logins; try again in {self.retry_after} s")


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
        reason = f"password must have at least {MIN_PASSWORD_LENGTH} characters"
    elif len(password.encode("utf-8")) > 72:
        reason = "password is longer than 72 bytes"
    elif len(set(password)) < MIN_DISTINCT_CHARACTERS:
        reason = "password has too few different characters"
    elif {lowered, lowered.rstrip(string.digits + string.punctuation)} & common_passwords():
        reason = "password is too common (on the list of most used passwords); choose another"
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
        raise AuthenticationError("incorrect user name or password")
    return user


def _password_stamp(user: User, secret: str) -> str:
    """A short keyed digest of the user's password hash; it changes with the password."""
    return hmac.new(secret.encode("utf-8"), user.password_hash.encode("utf-8"),
                    "sha256").hexdigest()[:16]


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
        raise AuthenticationError("token expired; log in again") from None
    except jwt.InvalidTokenError:
        raise AuthenticationError("invalid token") from None
    try:
        user = store.get_user(str(claims["sub"]))
    except NotFoundError:
        raise AuthenticationError("the token's user no longer exists") from None
    if not user.active:
        raise AuthenticationError("user is deactivated")
    if not hmac.compare_digest(str(claims["pwd"]), _password_stamp(user, secret)):
        raise AuthenticationError("the password was changed after this token was issued; "
                                  "log in again")
    return user


class LoginThrottle:
    """Login attempts per account and per client address in a sliding window.

    Every attempt counts as a failure until it succeeds; a success clears the account's
    count and takes its own attempt off the address's. Once ``per_account`` (or
    ``per_address``) attempts lie within ``window_s`` seconds, :meth:`begin` refuses until
    the oldest of them leaves the window. Kept in memory: each worker process counts on its
    own, and a restart forgets.
    """

    def __init__(self, *, per_account: int, per_address: int, window_s: float,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._limits = {"account": per_account, "address": per_address}
        self._window = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._attempts: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def begin(self, username: str, address: str) -> float:
        """Record an attempt and return its stamp; raise :class:`TooManyLoginsError`."""
        now = self._clock()
        keys = (("account", username), ("address", address))
        with self._lock:
            wait = max(self._wait(key, now) for key in keys)
            if wait > 0:
                raise TooManyLoginsError(wait)
            if len(self._attempts) >= self._max_keys:
                self._forget_oldest(now)
            for key in keys:
                self._attempts.setdefault(key, deque()).append(now)
        return now

    def succeeded(self, username: str, address: str, stamp: float) -> None:
        """The attempt ``stamp`` logged in: reset the account, uncount it for the address."""
        with self._lock:
            self._attempts.pop(("account", username), None)
            times = self._attempts.get(("address", address))
            if times is not None and stamp in times:
                times.remove(stamp)

    def _wait(self, key: tuple[str, str], now: float) -> float:
        """Seconds until ``key`` is below its limit again (0: not throttled)."""
        times = self._attempts.get(key)
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            self._attempts.pop(key, None)
            return 0
        limit = self._limits[key[0]]
        return times[-limit] + self._window - now if len(times) >= limit else 0

    def _forget_oldest(self, now: float) -> None:
        """Bound memory: drop expired keys, then the oldest tenth if still full."""
        for key in list(self._attempts):
            self._wait(key, now)
        if len(self._attempts) >= self._max_keys:
            for key in list(self._attempts)[: max(1, self._max_keys // 10)]:
                del self._attempts[key]


def check_can_edit(user: User, areas: Iterable[str | None]) -> None:
    """Raise unless ``user`` may edit resources of all ``areas`` (responsible areas).

    Admins may edit everything; coordinators only resources whose area is one of theirs
    (a resource without an area belongs to no coordinator, so only admins edit it).
    """
    if user.role == "admin":
        return
    for area in areas:
        if area is None or area not in user.areas:
            mine = "、".join(user.areas) or "none"
            raise PermissionDeniedError(
                f"coordinator {user.username!r} may edit resources of their own areas "
                f"({mine}) only, not of area {area!r}")


def check_admin(user: User) -> None:
    """Raise unless ``user`` is an admin."""
    if user.role != "admin":
        raise PermissionDeniedError("only an admin may manage users")


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
