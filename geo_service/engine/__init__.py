"""The engine: the walking network and searches on it, as arrays.

The network and its CSR graphs (network), reading and downloading it from OpenStreetMap
(osm, pbf_reader), slopes from a DEM (elevation), attaching points to its edges
(snapping), cutting extracts (osm_cut), demand points spread along the streets, distance
fields and searches from a point, and the region that holds them. Floor: imports
``inputs`` and the base modules; never the registry, HTTP or anything above.
"""
