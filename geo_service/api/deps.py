"""Shared route dependencies: the application state and who is asking."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Any, TypeVar

from anyio import CapacityLimiter
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from starlette.routing import BaseRoute

from geo_service.api.errors import prefers_english
from geo_service.config import ServiceSettings
from geo_service.i18n import msg
from geo_service.registry.auth import (
    AuthenticationError,
    LoginThrottle,
    check_admin,
    user_from_token,
)
from geo_service.registry.store import ResourceStore, User
from geo_service.service.walking import WalkingService

T = TypeVar("T")


@dataclass
class AppState:
    """Everything loaded once at start-up: settings, store, signing key, region services,
    the login throttle and the password-hashing threads."""

    settings: ServiceSettings
    store: ResourceStore
    secret: str
    walking: WalkingService | None = None  # the coverage service, when a region is loaded
    #: imports run in worker threads one at a time, beside (not in) the routes' thread pool
    import_limiter: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(1))
    extra: dict[str, Any] = field(default_factory=dict)
    logins: LoginThrottle = field(init=False)
    hashing: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.logins = LoginThrottle(self.store, secret=self.secret,
                                    per_account=s.login_max_failures,
                                    per_address=s.login_address_max_failures,
                                    window_s=s.login_window_seconds,
                                    first_delay_s=s.login_first_delay_seconds,
                                    max_delay_s=s.login_max_delay_seconds)
        self.hashing = ThreadPoolExecutor(s.hash_threads, thread_name_prefix="bcrypt")

    async def run_hashing(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func`` (bcrypt work) in the hashing threads, not the request threads."""
        return await asyncio.get_running_loop().run_in_executor(self.hashing,
                                                                partial(func, *args))


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/token", auto_error=False)


async def get_state(request: Request) -> AppState:
    """The application state set by :func:`geo_service.api.main.create_app`."""
    return request.app.state.geo


State = Annotated[AppState, Depends(get_state)]


def answer_language(request: Request) -> str:
    """The language of an answer's words (:mod:`geo_service.i18n`): ``en`` when the
    request's ``Accept-Language`` prefers English, else ``ja``."""
    return "en" if prefers_english(request) else "ja"


Language = Annotated[str, Depends(answer_language)]


def forwarded_client(peer: str, forwarded_for: Iterable[str],
                     trusted: Iterable[IPv4Network | IPv6Network]) -> str:
    """The client's address: ``peer`` (who connected), unless it is a trusted proxy; then
    the last address in ``X-Forwarded-For`` (the headers' values, in order) that is not a
    trusted proxy itself. Each proxy appends who connected to it, so only the addresses
    the trusted proxies appended are believed; what the client wrote further left is not.
    A chain the proxies should not have sent (not an address) counts as the last proxy.
    """
    trusted = tuple(trusted)

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    client = peer
    while is_trusted(client) and hops:
        hop = hops.pop()
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # garbage where a proxy's entry should be: keep the proxy's address
        client = hop
    return client


async def client_address(request: Request, state: State) -> str:
    """The address a request comes from (see :func:`forwarded_client` and the
    ``TRUSTED_PROXIES`` setting), e.g. for the login throttle."""
    peer = request.client.host if request.client else "unknown"
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"),
                            state.settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(client_address)]


async def optional_user(state: State,
                        token: Annotated[str | None, Depends(oauth2_scheme)]) -> User | None:
    """The logged-in user, or None for the public; a bad token is an error, not public.

    Async, so that public requests skip a thread-pool round trip; the token check (a
    database read) still runs in the thread pool.
    """
    if token is None:
        return None
    return await run_in_threadpool(user_from_token, state.store, token, state.secret)


def staff_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    """The logged-in user; 401 for the public."""
    if user is None:
        raise AuthenticationError(msg("log in first (OAuth2 password flow at /auth/token)"))
    return user


def admin_user(user: Annotated[User, Depends(staff_user)]) -> User:
    """The logged-in admin; 403 for coordinators."""
    check_admin(user)
    return user


Viewer = Annotated[User | None, Depends(optional_user)]
Staff = Annotated[User, Depends(staff_user)]
Admin = Annotated[User, Depends(admin_user)]


def _calls(dependant: Dependant, function: Any) -> bool:
    return any(d.call is function or _calls(d, function) for d in dependant.dependencies)


def document_optional_login(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """Mark the operations of ``routes`` that the public may call too (staff see more) with
    OpenAPI's empty security requirement ``{}``: logging in is optional there."""
    for route in routes:
        if (isinstance(route, APIRoute) and route.include_in_schema
                and _calls(route.dependant, optional_user)
                and not _calls(route.dependant, staff_user)):
            for method in route.methods:
                operation = schema["paths"][route.path_format][method.lower()]
                operation.setdefault("security", []).append({})
