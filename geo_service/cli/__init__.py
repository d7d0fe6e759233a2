"""The ``geo-service`` command line (Typer): ``app`` and one module per command group.

Floor: the top, beside ``api``; imports anything below, never ``api``.
"""
