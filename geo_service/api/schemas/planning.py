"""Request models of ``routes/planning.py``.

Its response models are the core's typed answers, :mod:`geo_service.planning.answer_types`
(dataclasses documented where they are built), so that an answer is defined once."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: a scenario's slowest walking speed: slower than any walker (a speed near 0 makes every
#: walk infinitely long, and no answer can be computed)
MIN_WALKING_SPEED_MPS = 0.1


class Change(BaseModel):
    """One change: ``close_store`` (``store``: id or name), ``add_store`` (``id``, ``name``,
    ``lon``, ``lat``, ``category``), ``add_stop`` (a 移動販売 stop: ``id``, ``name``,
    ``lon``, ``lat``), ``threshold`` (``metres``), ``speed`` (``mps``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["close_store", "add_store", "add_stop", "threshold", "speed"]
    store: str | None = Field(default=None, max_length=200)
    id: str | None = Field(default=None, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    category: str | None = Field(default=None, max_length=100)
    metres: float | None = Field(default=None, gt=0, le=5000)
    mps: float | None = Field(default=None, ge=MIN_WALKING_SPEED_MPS, le=5,
                              description="flat walking speed (m/s); from the slowest "
                                          "walker with a frame to a runner")


class ScenarioIn(BaseModel):
    """A new scenario: a name and its changes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, description="letters, digits, spaces "
                      "and - _ . ( ) ・")
    description: str = Field(default="", max_length=1000)
    changes: list[Change] = Field(min_length=1, max_length=200)
