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
            },
            # columns of different lengths (JSON Schema cannot say "same length"), and an
            # Arrow body that is not an Arrow stream (a binary string to JSON Schema): 422
            *(
                {
                    "include-path": path,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "401", "404", "409", "422", "429", "5xx"]
                        }
                    },
                }
                for path in ("/v1/exact", "/v1/predict", "/v1/anomaly")
            ),
            # V2 infer: the protocol's tensors are checked by the route, 400 for a bad one
            {
                "include-path-regex": "^/v2/models/.*/infer$",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "400", "401", "404", "409", "429", "5xx"]
                    }
                },
            },
        ]
    }
)
# an Arrow body is a binary string to JSON Schema: sent as the octet stream it is
schemathesis.serializer.alias("application/vnd.apache.arrow.stream", "application/octet-stream")
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
