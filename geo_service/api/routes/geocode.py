"""``GET /geocode?q=``: address search for the residents' page, through the geocoder
configured as ``GEOCODER_URL`` (:mod:`geo_service.inputs.geocoding`); 404 when none is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from geo_service._errors import InputError
from geo_service.api.deps import State
from geo_service.api.errors import MessageOut, error_responses
from geo_service.api.schemas.geocode import GeocodedPlace
from geo_service.i18n import msg
from geo_service.inputs import geocoding

router = APIRouter()


@router.get("/geocode", response_model=list[GeocodedPlace], tags=["pages"],
            responses={**error_responses(422),
                       404: {"model": MessageOut, "description": "No geocoder configured"},
                       502: {"model": MessageOut,
                             "description": "The geocoder answered with an error"},
                       503: {"model": MessageOut,
                             "description": "The geocoder cannot be reached in time"}})
def geocode(state: State,
            q: Annotated[str, Query(min_length=1, max_length=200,
                                    description="an address (住所) or place name")],
            ) -> list[GeocodedPlace]:
    """Places matching an address, from the configured geocoder (at most 10)."""
    url = state.settings.geocoder_url
    if not url:
        raise HTTPException(404, "no address search is configured (GEOCODER_URL)")
    if not q.strip():
        raise InputError(msg("an empty address"), column="q", value=q)
    try:
        places = geocoding.search(url, q)
    except geocoding.GeocoderUnavailableError as e:
        raise HTTPException(503, str(e)) from e
    except geocoding.GeocoderError as e:
        raise HTTPException(502, str(e)) from e
    return [GeocodedPlace(title=p.title, lon=p.lon, lat=p.lat) for p in places]
