"""The FastAPI service: ``create_app`` builds it, ``geo-service serve`` runs it."""

from __future__ import annotations

from geo_service.api.main import create_app

__all__ = ["create_app"]
