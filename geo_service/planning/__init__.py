"""Planning: gaps after the alternatives, facility siting, what-if scenarios and
future population, with ``answers`` shaping them for the CLI and the API alike.

Floor: imports ``service``, ``registry``, ``indicators``, ``engine``, ``inputs`` and the
base modules.
"""
