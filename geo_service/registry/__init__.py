"""The resource registry: the resource model, its store, import/export and users.

``resources`` (the model and its validation), ``visibility`` (the public view),
``service_areas`` (対象エリア text and outlines), ``store/`` (SQLAlchemy: SQLite or PostGIS,
Alembic migrations), ``columns`` (the headers files carry), ``imports`` (CSV/XLSX in: a
table's rows through ``import_rows``, their cells through ``cells``), ``exports``
(CSV/XLSX/GeoJSON out), ``auth`` (passwords and tokens).
Floor: imports ``indicators``, ``engine``, ``inputs`` and the base modules; never HTTP.
"""
