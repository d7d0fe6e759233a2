"""Size limits of what the API reads and writes back: request bodies and echoed input."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo_service.api.errors import error_body, prefers_english
from geo_service.i18n import msg


class BodyTooLargeError(HTTPException):
    """A request body exceeds its limit (HTTP 413); ``detail`` is the English reason."""

    def __init__(self, limit: int) -> None:
        self.reason = msg("request body larger than the limit of {n:,} bytes", n=limit)
        super().__init__(413, self.reason.text("en"))

    def response(self, request: Request) -> JSONResponse:
        """The 413 answer, its reason in the request's language (``Accept-Language``)."""
        reason = self.reason.text("en" if prefers_english(request) else "ja")
        return JSONResponse(status_code=self.status_code, content=error_body(reason),
                            headers={"Connection": "close"})


class BodySizeLimit:
    """ASGI middleware: answer 413 to request bodies over a limit, without reading them whole.

    A declared ``Content-Length`` over the limit is refused before the application runs;
    a body streamed without one is counted as it arrives and refused once it passes the
    limit. ``per_path`` gives routes (exact paths) a limit of their own, such as uploads.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int,
                 per_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _answer(BodyTooLargeError(limit), scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLargeError as e:  # read outside FastAPI's body handling
            if started:
                raise
            await _answer(e, scope, receive, send)


async def _answer(error: BodyTooLargeError, scope: Scope, receive: Receive,
                  send: Send) -> None:
    await error.response(Request(scope))(scope, receive, send)
