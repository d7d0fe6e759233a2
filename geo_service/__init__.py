"""geo-service: walking access to community support for older people in Japan.

The package turns a walking network, population and resource lists into per-point and
per-area accessibility indicators (the shopping-difficulty map, 買い物環境マップ) and
coverage maps. See README.md for a tour.
"""

from __future__ import annotations

__version__ = "0.1.0"
