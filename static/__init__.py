"""The web pages (HTML, CSS, JavaScript, messages), installed as ``geo_service.static``
and served by :mod:`geo_service.api.routes.pages`."""
