"""Inputs: read what users bring and normalise it where it enters.

CRS choice and conversion, JIS meshes, tables and vector files (encodings, aliases), area
boundaries (e-Stat 小地域, 国土数値情報 A27/A32, meshes), GTFS-JP stops, a store layer's
points, the configured address search. Floor: imports only the base modules
(``settings``, ``config``, ``_errors``, ``memory``, ``layers``, ``outputs``).
"""
