"""schemathesis against a running `thecloud serve`: generated and fuzzed requests for every route.

Every operation gets schema-valid and schema-violating requests (path `tenant` pinned to the
admin's tenant, so requests reach the handlers rather than the tenant check). Checks: no 5xx,
documented status codes, content types and response bodies matching the document, and
schema-violating requests refused with 4xx problem documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from serving import bootstrap, running_server

from thecloud.control.api.openapi import build_openapi
from thecloud.control.api.resources import all_routes
from thecloud.core.version import version

pytestmark = pytest.mark.integration

# Enough to reach every route with valid and invalid input, small enough for CI (~30 s).
MAX_EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A bootstrapped server: (base URL, admin token, tenant id)."""
    workdir = tmp_path_factory.mktemp("schemathesis")
    state_dir = workdir / "state"
    fuzz = bootstrap(state_dir, workdir, "fuzz")
    with running_server(state_dir, workdir, "fuzz") as running:
        yield running.base_url, fuzz.token, fuzz.id


def _document() -> dict[str, Any]:
    # The document is generated from the route table, so it is known without a server; the
    # first test checks the server serves exactly this one.
    return build_openapi(all_routes(), version())


schema = schemathesis.openapi.from_dict(_document())
schema.config.generation.update(modes=["positive", "negative"], max_examples=MAX_EXAMPLES)


def test_the_server_serves_the_generated_document(server: tuple[str, str, str]) -> None:
    served = httpx.get(f"{server[0]}/openapi.json", timeout=5.0)
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(_document()))


@schema.parametrize()
def test_every_route_survives_generated_requests(case: Any, server: tuple[str, str, str]) -> None:
    base_url, token, tenant_id = server
    if "tenant" in (case.path_parameters or {}):
        case.path_parameters["tenant"] = tenant_id
    case.call_and_validate(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
    )
