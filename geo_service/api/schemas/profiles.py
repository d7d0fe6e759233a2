"""Request and response models of ``routes/profiles.py``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class NamedResource(BaseModel):
    """A resource located in the area."""

    id: str
    name: str


class CoveringService(BaseModel):
    """A service whose service area covers (part of) the area."""

    id: str
    name: str
    share_65plus: float | None = Field(
        description="share of the area's people 65+ inside the service's area "
                    "(null: no one 65+ lives in the area)")


class CategoryProfile(BaseModel):
    """One category in one area."""

    label: str
    located: list[NamedResource]
    covering: list[CoveringService]
    share_65plus_covered: float | None = Field(
        description="share of the area's people 65+ inside at least one covering service")
    status: Literal["covered", "partly", "none"] = Field(
        description="covered: the covering services reach everyone 65+ in the area; "
                    "partly: a covering service exists but reaches fewer; none: no service "
                    "of the category covers the area")
    share_65plus_within_walk: float | None = Field(
        description="share of the area's people 65+ within the walking threshold of a "
                    "located resource of the category")


class AreaProfile(BaseModel):
    """One area."""

    area_id: str
    name: str
    pop_65plus: float
    categories: dict[str, CategoryProfile]


class ProfileCollection(BaseModel):
    """Every area of a layer."""

    layer: str
    threshold_m: float
    areas: list[AreaProfile]
