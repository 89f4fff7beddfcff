"""Property-based fuzzing of the whole OpenAPI schema, in process: no 500s, responses conform.

Schemathesis generates both schema-valid and schema-breaking requests (its
default modes); every answer must be a documented status whose body matches
the documented schema.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from service import Settings, create_app
from tests.service.conftest import TestClient, write_artifacts

ROOT = Path(tempfile.mkdtemp(prefix="jpsi-schemathesis-"))
write_artifacts(ROOT)
# small limits keep generated requests cheap, and the limits' own refusals get fuzzed too
APP = create_app(Settings(artifact_dir=ROOT, max_points=50, max_bins=3, max_pt_values=5))
# Every check runs. One allowance: a schema-valid binned request may still be refused with
# 422 for what JSON Schema cannot say (edges with lo >= hi, a divergent integral), as its
# OpenAPI operation documents.
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-path": "/v1/exact/binned",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "404", "409", "422", "429", "5xx"]
                    }
                },
            }
        ]
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@pytest.fixture(scope="module", autouse=True)
def lifespan():
    with TestClient(APP):  # loads the state the in-process calls need
        yield
    shutil.rmtree(ROOT, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms(case):
    case.call_and_validate()
