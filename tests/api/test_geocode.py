"""GET /geocode: the configured address search (国土地理院 AddressSearch's answer format),
tried against a tiny geocoder on loopback (no network)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from fastapi.testclient import TestClient

from geo_service.api import create_app
from geo_service.config import ServiceSettings
from geo_service.inputs import geocoding

#: what the fake geocoder answers per query (the 国土地理院 format); other queries: []
ANSWERS: dict[str, Any] = {
    "坂の町本町1-2": [
        {"geometry": {"coordinates": [130.7832, 33.8034], "type": "Point"},
         "type": "Feature", "properties": {"addressCode": "", "title": "坂の町本町一丁目2"}},
        {"geometry": {"coordinates": ["x", 33.8]}, "properties": {"title": "壊れた座標"}},
        {"geometry": {"coordinates": [130.79, 33.81]}, "properties": {"title": ""}},
        {"geometry": {"coordinates": [130.78, 33.80]}, "properties": {"title": "坂の町"}},
    ],
}


class FakeGeocoder(BaseHTTPRequestHandler):
    """Answers /search?q=<address>; ``slow`` sleeps, ``broken`` 500s, ``junk`` not JSON."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        query = unquote(urlsplit(self.path).query.removeprefix("q="))
        self.server.queries.append(query)  # type: ignore[attr-defined]
        if query == "slow":
            time.sleep(1.5)
        if query == "broken":
            self.send_error(500)
            return
        body = b"<html>" if query == "junk" else json.dumps(
            {"error": "x"} if query == "object" else ANSWERS.get(query, [])).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # "slow": the service gave up waiting

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def geocoder() -> Iterator[tuple[str, list[str]]]:
    """The fake geocoder's base URL (query appended) and the queries it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGeocoder)
    server.queries = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/search?q=", server.queries  # type: ignore[attr-defined]
    server.shutdown()


def _client(tmp_path, url: str | None) -> TestClient:
    return TestClient(create_app(ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                                 secret_key="g" * 40, geocoder_url=url)))


def test_geocode_answers_places_in_order(tmp_path, geocoder) -> None:
    url, queries = geocoder
    client = _client(tmp_path, url)
    r = client.get("/geocode", params={"q": "坂の町本町1-2"})
    assert r.status_code == 200
    assert r.json() == [{"title": "坂の町本町一丁目2", "lon": 130.7832, "lat": 33.8034},
                        {"title": "坂の町", "lon": 130.78, "lat": 33.80}]
    assert queries[-1] == "坂の町本町1-2"  # sent URL-encoded, arrived intact
    assert client.get("/geocode", params={"q": "どこにもない"}).json() == []
    assert client.get("/ui/config").json()["geocoder"] is True


def test_geocode_not_configured_is_404(tmp_path) -> None:
    client = _client(tmp_path, None)
    r = client.get("/geocode", params={"q": "坂の町"})
    assert r.status_code == 404
    assert "GEOCODER_URL" in r.json()["detail"]
    assert client.get("/ui/config").json()["geocoder"] is False


@pytest.mark.parametrize("q", ["", " ", "x" * 201])
def test_geocode_rejects_empty_or_long_queries(tmp_path, geocoder, q) -> None:
    assert _client(tmp_path, geocoder[0]).get("/geocode", params={"q": q}).status_code == 422


@pytest.mark.parametrize(("q", "status"), [("broken", 502), ("junk", 502), ("object", 502)])
def test_geocode_bad_answers_are_502(tmp_path, geocoder, q, status) -> None:
    r = _client(tmp_path, geocoder[0]).get("/geocode", params={"q": q})
    assert r.status_code == status
    assert "geocoder" in r.json()["detail"]


def test_geocode_slow_or_unreachable_is_503(tmp_path, geocoder, monkeypatch) -> None:
    monkeypatch.setattr(geocoding, "TIMEOUT_S", 0.3)
    r = _client(tmp_path, geocoder[0]).get("/geocode", params={"q": "slow"})
    assert r.status_code == 503
    assert "in time" in r.json()["detail"]
    r = _client(tmp_path, "http://127.0.0.1:9/none?q=").get("/geocode", params={"q": "a"})
    assert r.status_code == 503
    assert "reached" in r.json()["detail"]


def test_parse_answer_skips_unusable_entries() -> None:
    assert geocoding.parse_answer([{"geometry": {"coordinates": [200, 0]},
                                    "properties": {"title": "外"}}, {}, None, 3]) == []
    many = [{"geometry": {"coordinates": [130.0, 33.0]}, "properties": {"title": f"{i}"}}
            for i in range(20)]
    assert len(geocoding.parse_answer(many)) == geocoding.MAX_PLACES
    with pytest.raises(geocoding.GeocoderError):
        geocoding.parse_answer({"features": []})
