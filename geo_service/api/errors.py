"""Error answers: one body shape per kind, their handlers and their OpenAPI documentation.

- 400 (a malformed multipart upload), 401, 403, 404, 412: ``{"detail": "what went
  wrong"}`` (:class:`MessageOut`);
- 503 (a SQLite registry busy with another write for longer than ``SQLITE_BUSY_SECONDS``):
  ``{"detail": "…"}`` with ``Retry-After``;
- 409, 413, 422: ``{"detail": {"message", "reason", "field", "value", "problems"}}``
  (:class:`ErrorOut`), the same for FastAPI's request validation and for the service's own
  :class:`~geo_service._errors.InputError`. ``problems`` lists every fault found (one
  entry per field), the other members describe the first.

Values are echoed back as JSON-safe text, shortened to :data:`MAX_ECHO` characters: a
``NaN``, a lone surrogate or a megabyte of input never breaks or bloats the answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.routing import BaseRoute, Match

from geo_service._errors import ConflictError, InputError, TooLargeError

MAX_ECHO = 200
_LOCATIONS = ("body", "query", "path", "header", "cookie")


class Problem(BaseModel):
    """One fault: the field (dotted path, or None for the whole input), its value, why."""

    field: str | None
    value: Any = Field(description="the value given (long or non-JSON values as short text)")
    reason: str


class ErrorDetail(Problem):
    """The fault (the first, when there are several) and every fault found."""

    message: str = Field(description="one line naming the field, the value and the reason")
    problems: list[Problem] = Field(default_factory=list)


class ErrorOut(BaseModel):
    """The body of a 409, 413 or 422 answer."""

    detail: ErrorDetail


class MessageOut(BaseModel):
    """The body of a 400, 401, 403, 404 or 429 answer."""

    detail: str


class PreconditionDetail(BaseModel):
    """Why an If-Match failed, and the resource's current ETag."""

    message: str
    etag: str


class PreconditionOut(BaseModel):
    """The body of a 412 answer (the ``ETag`` header names the current version too)."""

    detail: PreconditionDetail


_MODELS: dict[int, tuple[type[BaseModel], str]] = {
    400: (MessageOut, "The upload is not valid multipart/form-data"),
    401: (MessageOut, "Not logged in, or the token is invalid or expired"),
    403: (MessageOut, "Logged in, but not allowed to do this"),
    404: (MessageOut, "No such resource, user, layer or area (or not visible to you)"),
    409: (ErrorOut, "Conflicts with what is stored (an id or user name already taken)"),
    412: (PreconditionOut, "If-Match does not match the resource's current version; "
                           "nothing was changed"),
    413: (ErrorOut, "The upload is larger than the configured limit"),
    422: (ErrorOut, "Invalid input: the field, the value and the reason"),
    429: (MessageOut, "Too many failed logins of this account or from this address; see "
                      "the Retry-After header"),
    503: (MessageOut, "The registry is busy with another write (an import); nothing was "
                      "changed: try again after the Retry-After header's seconds"),
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries of these error status codes (for a route)."""
    return {code: {"model": _MODELS[code][0], "description": _MODELS[code][1]}
            for code in codes}


def errors_as_json(schema: dict[str, Any]) -> None:
    """Document every error answer of the OpenAPI ``schema`` as ``application/json`` (FastAPI
    gives it the media type of the route's success answer, e.g. GeoJSON's)."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            for code, response in operation.get("responses", {}).items():
                if code.startswith("4") and response.get("content"):
                    response["content"] = {
                        "application/json": next(iter(response["content"].values()))}


def shown(value: Any, limit: int = MAX_ECHO) -> Any:
    """``value`` as it may be echoed in JSON: small numbers and None as they are, anything
    else as text with lone surrogates escaped, cut to ``limit`` characters."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) < 2**53:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    text = value if isinstance(value, str) else _short_str(value, limit)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "…"


def _short_str(value: Any, limit: int) -> str:
    try:
        return str(value)[: limit + 1]
    except ValueError:  # an int too long for str()
        return f"<{type(value).__name__}>"


def _message(problems: Iterable[Problem]) -> str:
    return "; ".join(f"{p.field}: {p.reason}" if p.field else p.reason for p in problems)


def error_body(message: str) -> dict[str, Any]:
    """The :class:`ErrorOut` body of a fault of the whole request (no field), e.g. a 413."""
    head = Problem(field=None, value=None, reason=message)
    return _body(head, [head], message)


def _body(head: Problem, problems: list[Problem], message: str) -> dict[str, Any]:
    detail = ErrorDetail(field=head.field, value=head.value, reason=head.reason,
                         message=message, problems=problems)
    return {"detail": detail.model_dump()}


def _problem(error: dict[str, Any]) -> Problem:
    """A pydantic/FastAPI validation error as a :class:`Problem`."""
    loc = [str(part) for part in error.get("loc", ())]
    if loc and loc[0] in _LOCATIONS:
        loc = loc[1:]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, InputError):  # raised by a model validator of ours
        path, column = ".".join(loc), cause.column
        field = (column if not path or (column and column.startswith(path))
                 else f"{path}.{column}" if column else path)
        return Problem(field=shown(field), value=shown(cause.value), reason=cause.reason)
    reason = str(error.get("msg", "invalid"))
    value = error.get("input")
    if error.get("type") == "json_invalid":  # loc holds the character position
        reason, loc, value = f"{reason}: {cause}", [], None
    return Problem(field=shown(".".join(loc)) or None, value=shown(value), reason=reason)


def validation_error(_: Request, e: Exception) -> JSONResponse:
    """FastAPI's request validation failure as a 422 :class:`ErrorOut`."""
    assert isinstance(e, RequestValidationError)
    problems = [_problem(err) for err in e.errors()] or [Problem(field=None, value=None,
                                                                 reason="invalid request")]
    return JSONResponse(status_code=422,
                        content=_body(problems[0], problems, _message(problems)))


def input_error(request: Request, e: Exception) -> JSONResponse:
    """An :class:`InputError` as :class:`ErrorOut`: 413 for input over a limit (in English
    when ``Accept-Language`` prefers it), 409 for a duplicate id, 422 otherwise."""
    assert isinstance(e, InputError)
    if isinstance(e, TooLargeError) and prefers_english(request):
        e = e.in_english()
    code = 413 if isinstance(e, TooLargeError) else (
        409 if isinstance(e, ConflictError) else 422)
    head = Problem(field=e.column, value=shown(e.value), reason=e.reason)
    problems = [Problem(field=f, value=shown(v), reason=r)
                for f, v, r in getattr(e, "errors", None) or ()] or [head]
    return JSONResponse(status_code=code,
                        content=_body(head, problems, shown(str(e), limit=4 * MAX_ECHO)))


def prefers_english(request: Request) -> bool:
    """Whether ``Accept-Language`` ranks English above Japanese (messages that come in
    both are Japanese otherwise, as the pages are)."""
    ranks: dict[str, float] = {}
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        q = params.strip().removeprefix("q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        ranks.setdefault(tag.strip().lower()[:2], weight)
    return ranks.get("en", 0.0) > ranks.get("ja", 0.0)


#: Seconds a client is asked to wait (``Retry-After``) when the registry is busy.
RETRY_AFTER_BUSY = 2


def registry_busy(request: Request, _: Exception) -> JSONResponse:
    """A write that waited ``SQLITE_BUSY_SECONDS`` for another (an import) and gave up,
    writing nothing, as 503 with ``Retry-After``."""
    message = ("the registry is busy with another write; nothing was changed, try again"
               if prefers_english(request) else
               "ほかの書き込み（取り込みなど）の処理中です。変更されていません。少し待ってから"
               "もう一度お試しください")
    return JSONResponse(status_code=503, content={"detail": message},
                        headers={"Retry-After": str(RETRY_AFTER_BUSY)})


def method_not_allowed(routes: Iterable[BaseRoute]) -> Callable[[Request, Exception],
                                                                 JSONResponse]:
    """A 405 handler whose ``Allow`` header lists every method of the path among
    ``routes`` (Starlette names only those of the first route of the path)."""
    routes = [r for r in routes if isinstance(r, APIRoute)]

    def handler(request: Request, e: Exception) -> JSONResponse:
        # the path's route is the first that matches it (as Starlette routes); its
        # methods and those of the other routes of the same path template are allowed
        path = next((r.path_format for r in routes
                     if r.matches(request.scope)[0] != Match.NONE), None)
        allowed = {m for r in routes if r.path_format == path for m in r.methods}
        headers = {"Allow": ", ".join(sorted(allowed))} if allowed else getattr(e, "headers",
                                                                                None)
        return JSONResponse(status_code=405, content={"detail": "Method Not Allowed"},
                            headers=headers)

    return handler


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON number (RFC 8259)", name, 0)


class _StrictJSONRequest(Request):
    """A request whose JSON body must be UTF-8 and may not hold ``NaN``, ``Infinity`` or
    ``-Infinity`` (FastAPI answers a JSON decoding error with the 422 of its validation)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise json.JSONDecodeError("the body is not UTF-8 text", "", e.start) from None
            self._json = json.loads(text, parse_constant=_refuse_constant)
        return self._json


class StrictJSONRoute(APIRoute):
    """A route that refuses ``NaN``/``Infinity`` in JSON bodies (422) instead of storing
    numbers no JSON answer can carry (Python's ``json`` accepts them by default)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, given a :class:`_StrictJSONRequest`."""
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict
