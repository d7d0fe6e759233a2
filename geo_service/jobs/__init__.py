"""Jobs: whole runs that compute, then write — the difficulty pipeline, the Dask
batch, the synthetic demo town and its demo registry.

Floor: imports ``reports`` and everything below it; never the API or the CLI.
"""
