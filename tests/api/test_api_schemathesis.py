"""The OpenAPI document tells the truth: schemathesis with every check, on the grid region.

Every operation is called with generated requests (valid and invalid, a fixed seed, a
bounded number of examples each), anonymously and as an admin, and every answer is checked
against the document: no 5xx, only documented status codes, content types, headers and
bodies, invalid requests refused, valid ones accepted, authentication enforced where
required. The one setting beyond the defaults: a schema-valid request may still be refused
with 422 for its meaning (a point outside the region, an unknown category, an end before
the start), which no JSON Schema can express.

At 20 examples the 23 operations get 1,920 generated requests per role (1,517 from the
coverage phase, 403 fuzzed) besides the checks' own probes: about a minute on 2 cores.
``derandomize`` fixes the seed, so a failure recurs on every run.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from geo_service.api import create_app
from geo_service.config import ServiceSettings
from geo_service.registry.auth import hash_password
from geo_service.registry.store.testing import fresh_store
from geo_service.service.walking import WalkingService
from tests.utils.grid import grid_region

EXAMPLES = 20  # per operation and role
CONFIG = {"checks": {"positive_data_acceptance": {
    "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]}}}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The app on the grid region with an admin, and the admin's token header."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("geo_service.registry.auth.BCRYPT_ROUNDS", 4)
        store = fresh_store("sqlite", tmp)
        store.add_user("admin", hash_password("admin-pass-1"), role="admin")
    app = create_app(ServiceSettings(database_url="sqlite://", data_dir=tmp,
                                     secret_key="k" * 40),
                     store=store, walking=WalkingService(grid_region(), store))
    token = TestClient(app).post("/auth/token", data={"username": "admin",
                                                      "password": "admin-pass-1"})
    return app, {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture(scope="module")
def api_schema(service):
    """The service's own OpenAPI document, read from the app (no network)."""
    app, _ = service
    config = schemathesis.config.SchemathesisConfig.from_dict(CONFIG)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


pytestmark = pytest.mark.slow  # the fast default leaves it out (README, Tests)
schema = schemathesis.pytest.from_fixture("api_schema")
_settings = settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
                     suppress_health_check=list(HealthCheck))


@schema.parametrize()
@_settings
def test_anonymous(case):
    """The public's view: every check passes."""
    case.call_and_validate()


@schema.parametrize()
@_settings
def test_as_admin(case, service):
    """Staff's view (an admin's token): every check passes."""
    case.call_and_validate(headers=service[1])
