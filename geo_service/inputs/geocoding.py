"""Address search for the residents' page: the configured geocoder, called by the service.

``GEOCODER_URL`` (:mod:`geo_service.config`) answers like 国土地理院's AddressSearch
(``https://msearch.gsi.go.jp/address-search/AddressSearch?q=``, the query appended)::

    [{"geometry": {"coordinates": [lon, lat]}, "properties": {"title": "…"}}, …]

The browser never calls the geocoder itself: the page asks ``GET /geocode?q=`` and the
service forwards the query with a short timeout, so a slow or broken geocoder costs the
resident a clear message, not a hanging page.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

#: seconds to wait for the geocoder (connect and read)
TIMEOUT_S = 5.0
#: the longest answer read (bytes); AddressSearch answers are a few kB
MAX_BYTES = 1_000_000
#: at most this many places are returned
MAX_PLACES = 10


class GeocoderError(Exception):
    """The geocoder answered, but not with a usable answer (→ 502)."""


class GeocoderUnavailableError(Exception):
    """The geocoder could not be reached in time (→ 503)."""


@dataclass(frozen=True)
class Place:
    """One address found: its title (住所) and location (degrees)."""

    title: str
    lon: float
    lat: float


def parse_answer(data: Any, *, limit: int = MAX_PLACES) -> list[Place]:
    """The places of an AddressSearch answer; entries without a title or with coordinates
    that are not finite degrees are skipped. Raises :class:`GeocoderError` when the answer
    is not a list."""
    if not isinstance(data, list):
        raise GeocoderError("the geocoder's answer is not a list of places")
    places: list[Place] = []
    for item in data:
        try:
            lon, lat = (float(v) for v in item["geometry"]["coordinates"][:2])
            title = str(item["properties"]["title"]).strip()
        except (KeyError, TypeError, ValueError, IndexError):
            continue
        if not title or not (math.isfinite(lon) and math.isfinite(lat)):
            continue
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            continue
        places.append(Place(title=title, lon=lon, lat=lat))
        if len(places) >= limit:
            break
    return places


def search(base_url: str, query: str, *, timeout: float | None = None,
           limit: int = MAX_PLACES) -> list[Place]:
    """Ask the geocoder at ``base_url`` (the query is appended, URL-encoded) for ``query``.

    ``timeout`` defaults to :data:`TIMEOUT_S`. Raises :class:`GeocoderUnavailableError`
    when it cannot be reached or is too slow,
    :class:`GeocoderError` when it answers with an error status or something unreadable.
    """
    url = base_url + quote(query.strip(), safe="")
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": "geo-service"})
    try:
        with urllib.request.urlopen(request, timeout=timeout or TIMEOUT_S) as response:  # noqa: S310
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as e:
        raise GeocoderError(f"the geocoder answered HTTP {e.code}") from e
    except TimeoutError as e:
        raise GeocoderUnavailableError("the geocoder did not answer in time") from e
    except (urllib.error.URLError, OSError) as e:
        raise GeocoderUnavailableError("the geocoder cannot be reached") from e
    if len(body) > MAX_BYTES:
        raise GeocoderError("the geocoder's answer is too large")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GeocoderError("the geocoder's answer is not JSON") from e
    return parse_answer(data, limit=limit)
