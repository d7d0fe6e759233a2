"""The engine: the walking network and searches on it, as arrays.

The network (OSM PBF/XML/Overpass/GraphML readers, downloads, the CSR graph, slopes,
snapping), cutting extracts, demand points spread along the streets, distance fields and
searches from a point, and the region that holds them. Floor: imports ``inputs`` and the
base modules; never the registry, HTTP or anything above.
"""
