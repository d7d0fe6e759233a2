"""The API's request and response models, one module per group of routes: ``resources``
(the registry, users, imports), ``planning``, ``profiles``, ``pages``, ``geocode``. Routes
build these from the core's results; internal fields never reach them."""
