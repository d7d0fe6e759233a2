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


class SourceInfo(BaseModel):
    """One input of the region: what it gave, its file name, publisher, edition, licence,
    the attribution it requires, and whether it is generated (not real data)."""

    role: str
    file: str
    publisher: str
    edition: str
    licence: str
    attribution: str
    url: str
    synthetic: bool


class RegionInfo(BaseModel):
    """The served region: its name (飯塚市) and 市区町村コード, extent (lon/lat: west,
    south, east, north), walking, and its sources with the attributions every page and
    map made from it shows.

    ``bounds`` is where a point can still be attached to a street (the streets' extent
    plus the snapping distance); ``streets`` the streets' own extent, which the maps are
    fitted to."""

    name: str
    bounds: tuple[float, float, float, float]
    streets: tuple[float, float, float, float] | None = None
    threshold_m: float
    walking_speed_m_per_min: float
    area_layers: list[dict[str, Any]]
    municipality_code: str = ""
    synthetic: bool = False
    attributions: list[str] = []
    sources: list[SourceInfo] = []
    #: the categories people walk to that the region has (public view), 食料品店 first:
    #: the planner opens on one of them
    needs: list[str] = []


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
