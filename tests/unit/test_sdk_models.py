"""The shared models keep secrets out of reprs, however a client happens to print them."""

from __future__ import annotations

import pytest

from thecloud.control.iam import PrincipalKind
from thecloud.control.models import responses
from thecloud.control.models.requests import PutSecret
from thecloud.control.models.responses import ApiKey, SecretWithValue, Tenant
from thecloud.sdk import models

pytestmark = pytest.mark.unit

_TOKEN = "tck_key-0123456789abcdef.SECRET-MATERIAL-THAT-MUST-NOT-LEAK"
_VALUE = "aHVudGVyMi1NVVNULU5PVC1MRUFL"

_KEY = {
    "id": "key-0123456789abcdef",
    "tenant_id": "tnt-0123456789abcdef",
    "principal_kind": "service_account",
    "principal_id": "sa-0123456789abcdef",
    "name": "initial",
    "created_at": "2026-01-31T12:00:00.000Z",
    "revoked_at": None,
}


def _shown(record: object) -> str:
    return repr(record) + str(record) + f"{record}" + f"{record!r}"


def test_the_sdk_reads_keys_into_the_shared_models() -> None:
    issued = models.read(models.IssuedKey, {"key": _KEY, "token": _TOKEN})
    created = models.read(
        models.TenantCreated,
        {
            "tenant": {"id": _KEY["tenant_id"], "name": "beta", "created_at": _KEY["created_at"]},
            "admin_service_account_id": _KEY["principal_id"],
            "admin_key": {"key": _KEY, "token": _TOKEN},
        },
    )
    # One model for server and SDK alike, not a copy per side.
    assert models.IssuedKey is responses.IssuedKey
    assert models.TenantCreated is responses.TenantCreated
    assert isinstance(issued.key, ApiKey)
    assert issued.key.principal_kind is PrincipalKind.SERVICE_ACCOUNT
    assert isinstance(created.tenant, Tenant)
    # The token is there for whoever asks for it, and only then.
    assert issued.token == created.admin_key.token == _TOKEN
    for record in (issued, created):
        assert "SECRET-MATERIAL" not in _shown(record)
        assert "SECRET-MATERIAL" in str(models.as_document(record))


def test_secret_values_stay_out_of_reprs() -> None:
    secret = SecretWithValue("tnt-0123456789abcdef", "db", 1, "t", "t", _VALUE)
    assert _VALUE not in _shown(secret)
    assert _VALUE not in _shown(PutSecret(_VALUE))
