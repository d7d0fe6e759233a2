"""Request and response models of ``routes/geocode.py``."""

from __future__ import annotations

from pydantic import BaseModel


class GeocodedPlace(BaseModel):
    """An address found: 住所 and location (degrees)."""

    title: str
    lon: float
    lat: float
