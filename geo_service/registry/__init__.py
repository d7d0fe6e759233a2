"""The resource registry: the resource model, its store, import/export and users.

``resources`` (the model and its validation), ``store/`` (SQLAlchemy: SQLite or PostGIS,
Alembic migrations), ``importers`` (CSV/XLSX in and out), ``auth`` (passwords and tokens).
Floor: imports ``indicators``, ``engine``, ``inputs`` and the base modules; never HTTP.
"""
