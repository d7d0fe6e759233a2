"""The ``geo-service`` command line (Typer)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="geo-service",
    help="Walking access to community support for older people (買い物環境マップ and coverage).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """geo-service: walking accessibility for community support in Japan."""
