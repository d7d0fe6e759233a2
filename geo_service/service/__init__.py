"""The coverage service: a region plus a registry snapshot (no HTTP, no SQL).

``walking`` answers nearby/reach/coverage questions with caches; ``service_coverage`` says
how much of an area's 65+ the covering services reach. Floor: imports ``registry``,
``indicators``, ``engine``, ``inputs`` and the base modules.
"""
