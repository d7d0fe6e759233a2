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

Language: a reason that has a Japanese wording (``InputError.reason_ja``, the 412's
message, a JSON body that cannot be read) is answered in Japanese unless the request's
``Accept-Language`` prefers English (:func:`prefers_english`); the pages send their own
language. The other reasons are English.

JSON bodies are read strictly (:class:`StrictJSONRoute`): UTF-8, no ``NaN``/``Infinity``
or numbers beyond a float, integers of at most :data:`MAX_JSON_DIGITS` digits, nested at
most :data:`MAX_JSON_DEPTH` levels; anything else is a 422 saying which rule was broken.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Coroutine, Iterable
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.routing import BaseRoute, Match

from geo_service._errors import ConflictError, InputError, TooLargeError
from geo_service.i18n import Message, msg

MAX_ECHO = 200
MAX_JSON_DEPTH = 32  # arrays and objects in one another; a MultiPolygon body needs 7
MAX_JSON_DIGITS = 4300  # of an integer (Python's own limit of int(), sys.int_info)
_LOCATIONS = ("body", "query", "path", "header", "cookie")
#: the reasons a JSON body is refused for (:class:`_StrictJSONRequest`): JSON's decoder
#: carries the English, the catalogue the Japanese
def _not_a_number(name: str) -> Message:
    return msg("{name} is not a JSON number (RFC 8259)", name=name)


_NOT_UTF8 = msg("the body is not UTF-8 text")
_TOO_LARGE = msg("a number is too large (beyond ±1.8e308)")
_TOO_MANY_DIGITS = msg("an integer has more than {n:,} digits", n=MAX_JSON_DIGITS)
_TOO_DEEP = msg("arrays and objects are nested more than {n} levels deep", n=MAX_JSON_DEPTH)
_JSON_REASONS = {m.text("en"): m for m in (
    _NOT_UTF8, _TOO_LARGE, _TOO_MANY_DIGITS, _TOO_DEEP,
    *(_not_a_number(name) for name in ("NaN", "Infinity", "-Infinity")))}


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
    409: (ErrorOut, "Conflicts with what is stored (an id or user name already taken, or "
                    "the last active admin would be demoted, deactivated or removed)"),
    412: (PreconditionOut, "If-Match does not match the resource's current version; "
                           "nothing was changed"),
    413: (ErrorOut, "The upload is larger than the configured limit"),
    422: (ErrorOut, "Invalid input: the field, the value and the reason"),
    429: (MessageOut, "Too many failed logins of this account from this address, or from "
                      "this address; wait as the Retry-After header says"),
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


def prefers_english(request: Request) -> bool:
    """Whether the request's ``Accept-Language`` ranks English above Japanese (absent, or
    naming neither: Japanese, the service's language)."""
    ranked = []
    for item in request.headers.get("accept-language", "").split(","):
        tag, _, params = item.strip().partition(";")
        q = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        try:
            weight = float(q)
        except ValueError:
            continue
        primary = tag.strip().lower().split("-")[0]
        if primary in ("ja", "en") and weight > 0:
            ranked.append((weight, primary == "ja", primary))
    return bool(ranked) and max(ranked)[2] == "en"


def _reason(e: InputError, english: bool) -> str:
    return e.reason if english or not e.reason_ja else e.reason_ja


def precondition_message(resource_id: str, current: int, expected: Collection[int], *,
                         english: bool) -> str:
    """Why an ``If-Match`` failed, and what to do: the resource was changed since the
    version the caller read, or ``If-Match`` named no version of it at all."""
    if expected:
        message = msg("resource {id!r} is at version {current}, not {expected}: it was "
                      "changed meanwhile; read it again and reapply your change",
                      id=resource_id, current=current,
                      expected=", ".join(map(str, sorted(expected))))
    else:
        message = msg('If-Match names no version of resource {id!r} (its ETag is '
                      '"{current}"); send the ETag of the version you read',
                      id=resource_id, current=current)
    return message.text("en" if english else "ja")


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


def _problem(error: dict[str, Any], english: bool) -> Problem:
    """A pydantic/FastAPI validation error as a :class:`Problem`."""
    loc = [str(part) for part in error.get("loc", ())]
    if loc and loc[0] in _LOCATIONS:
        loc = loc[1:]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, InputError):  # raised by a model validator of ours
        path, column = ".".join(loc), cause.column
        field = (column if not path or (column and column.startswith(path))
                 else f"{path}.{column}" if column else path)
        return Problem(field=shown(field), value=shown(cause.value),
                       reason=_reason(cause, english))
    reason = str(error.get("msg", "invalid"))
    value = error.get("input")
    if error.get("type") == "json_invalid":  # loc holds the character position
        loc, value = [], None
        reason = (f"{reason}: {cause}" if english or cause not in _JSON_REASONS
                  else msg("not readable as JSON: {reason}",
                           reason=_JSON_REASONS[cause]).text("ja"))
    return Problem(field=shown(".".join(loc)) or None, value=shown(value), reason=reason)


def validation_error(request: Request, e: Exception) -> JSONResponse:
    """FastAPI's request validation failure as a 422 :class:`ErrorOut`."""
    assert isinstance(e, RequestValidationError)
    english = prefers_english(request)
    problems = ([_problem(err, english) for err in e.errors()]
                or [Problem(field=None, value=None, reason="invalid request")])
    return JSONResponse(status_code=422,
                        content=_body(problems[0], problems, _message(problems)))


def input_error(request: Request, e: Exception) -> JSONResponse:
    """An :class:`InputError` as :class:`ErrorOut`: 413 for input over a limit, 409 for a
    duplicate id, 422 otherwise; in Japanese where the error says its reason in Japanese,
    unless ``Accept-Language`` prefers English."""
    assert isinstance(e, InputError)
    code = 413 if isinstance(e, TooLargeError) else (
        409 if isinstance(e, ConflictError) else 422)
    japanese = e.reason_ja is not None and not prefers_english(request)
    head = Problem(field=e.column, value=shown(e.value), reason=_reason(e, not japanese))
    problems = [Problem(field=f, value=shown(v), reason=r)
                for f, v, r in getattr(e, "errors", None) or ()] or [head]
    # an upload's Japanese error names its file, as the English does
    message = (str(e) if not japanese
               else e.text("ja") if e.file is not None else _message([head]))
    return JSONResponse(status_code=code,
                        content=_body(head, problems, shown(message, limit=4 * MAX_ECHO)))


#: Seconds a client is asked to wait (``Retry-After``) when the registry is busy.
RETRY_AFTER_BUSY = 2


def registry_busy(request: Request, _: Exception) -> JSONResponse:
    """A write that waited ``SQLITE_BUSY_SECONDS`` for another (an import) and gave up,
    writing nothing, as 503 with ``Retry-After``."""
    message = msg("the registry is busy with another write; nothing was changed, try "
                  "again").text("en" if prefers_english(request) else "ja")
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
    raise json.JSONDecodeError(_not_a_number(name).text("en"), name, 0)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: a JSON number, but none that Python can hold
        raise json.JSONDecodeError(_TOO_LARGE.text("en"), text[:40], 0)
    return number


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_DIGITS:  # int() would raise a plain ValueError
        raise json.JSONDecodeError(_TOO_MANY_DIGITS.text("en"), text[:40], 0)
    return int(text)


def _check_depth(value: Any) -> None:
    """Raise unless ``value`` nests arrays and objects at most :data:`MAX_JSON_DEPTH`
    deep (without recursion: a deep value must not exhaust the stack of whatever reads
    it next)."""
    level = [value]
    for _ in range(MAX_JSON_DEPTH):
        level = [item for v in level if isinstance(v, dict | list)
                 for item in (v.values() if isinstance(v, dict) else v)]
        if not level:
            return
    if any(isinstance(v, dict | list) for v in level):
        raise _too_deep()


def _too_deep() -> json.JSONDecodeError:
    return json.JSONDecodeError(_TOO_DEEP.text("en"), "", 0)


def strict_json(text: str) -> Any:
    """Parse a JSON request body by the rules of the module, raising
    :class:`json.JSONDecodeError` (which FastAPI answers with a 422) for any fault."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                           parse_int=_bounded_int)
    except RecursionError:  # deeper than Python's parser goes
        raise _too_deep() from None
    _check_depth(value)
    return value


class _StrictJSONRequest(Request):
    """A request whose JSON body is read by :func:`strict_json` (FastAPI answers a JSON
    decoding error with the 422 of its validation, any other error with a 400)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise json.JSONDecodeError(_NOT_UTF8.text("en"), "", e.start) from None
            self._json = strict_json(text)
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
