"""``POST /auth/token`` (OAuth2 password flow) and ``GET /auth/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm

from geo_service.api.deps import ClientAddress, Staff, State
from geo_service.api.errors import StrictJSONRoute, error_responses
from geo_service.api.schemas.resources import Token, UserOut
from geo_service.registry.auth import authenticate, create_token

router = APIRouter(prefix="/auth", tags=["auth"], route_class=StrictJSONRoute,
                   responses=error_responses(401))


@router.post("/token", response_model=Token,
             responses=error_responses(422, 429))
async def login(state: State, address: ClientAddress,
                form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """Exchange user name and password for a bearer token that expires.

    Throttled with growing delays per account at the client's address, and per address
    (the counts are in the database); the password check runs in the hashing threads so
    that guessing does not hold up other requests.
    """
    await run_in_threadpool(state.logins.begin, form.username, address)
    user = await state.run_hashing(authenticate, state.store, form.username, form.password)
    await run_in_threadpool(state.logins.succeeded, form.username, address)
    minutes = state.settings.token_minutes
    return Token(access_token=create_token(user, state.secret, minutes=minutes),
                 expires_in=int(minutes * 60))


@router.get("/me", response_model=UserOut)
def me(user: Staff) -> UserOut:
    """The logged-in user."""
    return UserOut(username=user.username, role=user.role, areas=list(user.areas),
                   active=user.active)
