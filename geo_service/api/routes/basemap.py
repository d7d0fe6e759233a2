"""The served region's own vector basemap (public): what every map draws where background
tiles cannot load — a municipal closed network (LGWAN), or ``GEO_SERVICE_BASEMAPS=none``.

``GET /basemap?zoom=Z&bbox=W,S,E,N`` answers the streets, area outlines, rivers and
railways of the region generalised for zoom ``Z`` (:mod:`geo_service.engine.basemap`),
those meeting the lon/lat box, at most about MAX_LINES lines (a denser box gets a coarser
copy), gzipped for clients that accept it (the streets compress tenfold). Features carry
their ``kind`` only; nothing of the registry.
"""

from __future__ import annotations

import gzip
import math
import threading
import weakref
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from geo_service._errors import InputError
from geo_service.api.deps import State
from geo_service.api.errors import error_responses
from geo_service.api.views import GeoJSONResponse
from geo_service.engine.basemap import Basemap
from geo_service.i18n import msg
from geo_service.service.walking import WalkingService

router = APIRouter(tags=["pages"], default_response_class=GeoJSONResponse)

#: the most lines (and polygons) one answer holds: a box that would hold more at the zoom
#: asked for is answered from the copy of a lower zoom (coarser; :meth:`Basemap.view`)
MAX_LINES = 8_000
#: how long a browser may keep an answer (the region does not change while served)
MAX_AGE_S = 3600

_basemaps: weakref.WeakKeyDictionary[WalkingService, Basemap] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def basemap_of(walking: WalkingService, outline_layer: str | None = None) -> Basemap:
    """The basemap of the served region: made on the first request, which also starts
    building every zoom's copy in a thread of its own (a large region's finer copies
    take seconds each; a map that zooms in then finds them ready)."""
    with _lock:
        found = _basemaps.get(walking)
        if found is None:
            region = walking.region
            found = Basemap.of_region(region.net, region.areas, region.basemap_extras,
                                      outline_layer=outline_layer)
            _basemaps[walking] = found
            threading.Thread(target=found.warm, name="basemap-warm", daemon=True).start()
    return found


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"west,south,east,north"`` in degrees, checked."""
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(msg("expected four numbers west,south,east,north"),
                         column="bbox", value=text) from None
    if not all(math.isfinite(v) for v in (west, south, east, north)) or \
            not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InputError(msg("west < east within -180…180 and south < north within -90…90"),
                         column="bbox", value=text)
    return west, south, east, north


@router.get("/basemap", responses=error_responses(422),
            response_description="GeoJSON FeatureCollection; each feature's `kind` is "
                                 "water, outline, street or rail")
def basemap(state: State, request: Request,
            zoom: Annotated[float, Query(ge=0, le=24, description="web-map zoom level")],
            bbox: Annotated[str | None, Query(description="west,south,east,north (degrees); "
                                                          "default the whole region")] = None,
            ) -> Response:
    """The region's streets, area outlines, rivers and railways generalised for ``zoom``
    (those meeting ``bbox``): the background the pages draw when tiles cannot load. A box
    holding more than MAX_LINES lines there is answered at a lower zoom (the answer's
    ``zoom`` says which)."""
    assert state.walking is not None  # the route is mounted only with a region
    box = parse_bbox(bbox) if bbox is not None else None
    layer, rows = basemap_of(state.walking, state.settings.area_layer).view(
        zoom, box, max_lines=MAX_LINES)
    body = layer.geojson(rows).encode("utf-8")
    headers = {"Cache-Control": f"public, max-age={MAX_AGE_S}", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):  # a tenth of the bytes
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=GeoJSONResponse.media_type, headers=headers)
