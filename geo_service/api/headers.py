"""Security headers on every answer (a pure ASGI middleware: no cost beyond the headers).

Every answer says ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
``Referrer-Policy: no-referrer`` and ``Content-Security-Policy: default-src 'self';
base-uri 'none'; frame-ancestors 'none'``. The HTML pages (only ``/docs``, ``/redoc`` and
the OAuth2 redirect page, all served from the service itself) need more: their own inline
scripts, which are allowed by their SHA-256 hash (computed from the page as sent, so
nothing else inline runs), inline styles and ``data:`` images (Swagger UI, ReDoc) and
``blob:`` workers (ReDoc's search).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_COMMON = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"no-referrer")]
CSP = "default-src 'self'; base-uri 'none'; frame-ancestors 'none'"
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def page_csp(html: bytes, image_origins: Sequence[str] = ()) -> str:
    """The Content-Security-Policy of an HTML page of the service: its inline scripts by
    hash, inline styles, ``data:`` images (and the background maps' tiles from
    ``image_origins``) and ``blob:`` workers; the rest same-origin."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html))
    images = " ".join(("'self'", "data:", *image_origins))
    return (f"{CSP}; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
            f"img-src {images}; "
            "worker-src 'self' blob:")


class SecurityHeaders:
    """Add the security headers (see the module) to every HTTP answer."""

    def __init__(self, app: ASGIApp, image_origins: Sequence[str] = ()) -> None:
        self.app = app
        self.image_origins = tuple(image_origins)  # background-map tiles the pages show

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the answer (an HTML page is held until
        complete, to hash its inline scripts)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if any(k == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                    start.update(message, headers=headers + _COMMON)
                    return  # held until the page is complete
                message["headers"] = [*headers, *_COMMON,
                                      (b"content-security-policy", CSP.encode())]
            elif message["type"] == "http.response.body" and start:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                page = b"".join(chunks)
                csp = page_csp(page, self.image_origins)
                start["headers"].append((b"content-security-policy", csp.encode()))
                await send(start)
                message = {"type": "http.response.body", "body": page}
            await send(message)

        await self.app(scope, receive, send_with_headers)
