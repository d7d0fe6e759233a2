"""A loopback stand-in for OpenStreetMap's Nominatim and Overpass APIs, answering osmnx's
requests with recorded data, so that ``--place`` and ``--stores osm`` run their real code
paths (osmnx's geocoding, Overpass queries, graph building) without the internet.

- ``GET /search`` (Nominatim) → one hand-written result: the place as a rectangle (the
  extent of the recorded Overpass answer, *not* a real administrative outline);
- ``POST /api/interpreter`` (Overpass) → for a walking-network query (``highway``), the
  recorded answer given; for a shop query (``shop``), the hand-written shops given.

Every request is recorded (:attr:`OsmStandIn.requests`) so a test can check the download
really went through the server (and not through a cache).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class OsmStandIn:
    """The server's answers and what it was asked (``(kind, query)`` per request)."""

    place: dict[str, Any]
    walk: bytes
    shops: dict[str, Any]
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def answer(self, method: str, path: str, body: str) -> tuple[int, bytes]:
        """(status, JSON body) for one request."""
        parsed = urlparse(path)
        if method == "GET" and parsed.path.endswith("/search"):
            self.requests.append(("nominatim", parse_qs(parsed.query).get("q", [""])[0]))
            return 200, json.dumps([self.place], ensure_ascii=False).encode()
        if method == "POST" and parsed.path.endswith("/interpreter"):
            query = parse_qs(body).get("data", [""])[0]
            if '"highway"' in query:  # osmnx's walking-network filter
                self.requests.append(("overpass walk", query))
                return 200, self.walk
            if "'shop'" in query:  # osmnx's features query (node['shop'~'…'] …)
                self.requests.append(("overpass shops", query))
                return 200, json.dumps(self.shops, ensure_ascii=False).encode()
        self.requests.append(("unknown", f"{method} {path} {body[:300]}"))
        return 404, b"{}"


def serve(stand_in: OsmStandIn) -> tuple[OsmStandIn, ThreadingHTTPServer]:
    """Start the stand-in on a free loopback port (``stand_in.url`` set); stop it with
    ``server.shutdown()``."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            status, payload = stand_in.answer(method, self.path, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self._reply("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._reply("POST")

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    return stand_in, server
