"""Request and response models of ``routes/pages.py``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from geo_service.config import BaseMap


class CategoryStyle(BaseModel):
    """How a category looks on the pages."""

    id: str
    label: str
    label_en: str
    color: str
    icon: str
    kind: str
    food: bool


class LayerStyle(BaseModel):
    """A resource layer's categories."""

    id: str
    label: str
    categories: list[CategoryStyle]


class ChoroplethStyle(BaseModel):
    """The shopping-difficulty map's classes (``layers/difficulty.toml``): ``breaks`` are
    the upper limits of each class but the last, one colour and label per class."""

    breaks: list[float]
    colors: list[str]
    labels: list[str]
    labels_en: list[str]
    legend_title: str
    legend_title_en: str
    no_data_color: str
    no_data_label: str
    no_data_label_en: str


class RegionInfo(BaseModel):
    """The served region: name, extent (lon/lat: west, south, east, north) and walking.

    ``bounds`` is where a point can still be attached to a street (the streets' extent
    plus the snapping distance); ``streets`` the streets' own extent, which the maps are
    fitted to."""

    name: str
    bounds: tuple[float, float, float, float]
    streets: tuple[float, float, float, float] | None = None
    threshold_m: float
    walking_speed_m_per_min: float
    area_layers: list[dict[str, Any]]


class UIConfig(BaseModel):
    """Everything the pages need besides the API's answers."""

    version: str
    categories: list[CategoryStyle]
    layers: list[LayerStyle]
    difficulty: ChoroplethStyle
    basemaps: list[BaseMap]
    geocoder: bool
    region: RegionInfo | None
    nearby_max_minutes: float
    reach_minutes: list[float]
