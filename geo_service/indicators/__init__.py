"""Indicators: pure functions from demand points and distances to per-area tables.

Shopping difficulty (network and straight line) and per-area coverage. Floor: imports
``engine``, ``inputs`` and the base modules.
"""
