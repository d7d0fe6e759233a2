"""The layer definitions (``*.toml``), installed as the package
``geo_service.layer_definitions`` (see ``[tool.setuptools]`` in pyproject.toml)."""
