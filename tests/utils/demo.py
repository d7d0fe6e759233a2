"""The synthetic demo town with its demo registry, as the service serves it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class DemoService:
    """The demo region saved in ``folder``, its registry (a SQLite file beside it) and the
    settings that serve them."""

    region_dir: Path
    region: Any
    url: str
    store: Any
    settings: Any


def demo_service(folder: Path, *, secret_key: str = "k" * 40) -> DemoService:
    """Run the demo into ``folder/out``, load its region and seed its registry."""
    from geo_service.config import ServiceSettings
    from geo_service.engine.region import Region
    from geo_service.jobs.demo import run_demo
    from geo_service.jobs.demo_registry import seed_demo_registry
    from geo_service.registry.store import open_store

    run_demo(folder / "out")
    region_dir = folder / "out" / "region"
    region = Region.load(region_dir)
    url = f"sqlite:///{folder / 'registry.sqlite3'}"
    store = open_store(url)
    seed_demo_registry(store, region)
    settings = ServiceSettings(database_url=url, region_dir=region_dir, data_dir=folder,
                               secret_key=secret_key)
    return DemoService(region_dir, region, url, store, settings)
