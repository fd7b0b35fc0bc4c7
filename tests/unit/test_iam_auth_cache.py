"""Which IAM writes can change a cached authentication or authorization result."""

from __future__ import annotations

import pytest

from thecloud.control.iam.auth_cache import changes_results

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("key", "created", "changes"),
    [
        ("iam/api-keys/key-1", True, True),  # keys, roles and bindings always count
        ("iam/api-key-index/tnt-1/key-1", True, True),
        ("iam/roles/tnt-1/ops", True, True),
        ("iam/role-bindings/tnt-1/rb-1", True, True),
        ("iam/service-accounts/tnt-1/sva-1", True, False),  # a new principal grants nothing
        ("iam/names/service-accounts/tnt-1/bot", True, False),
        ("iam/projects/tnt-1/prj-1", True, False),
        ("iam/tenants/tnt-2", True, False),
        ("iam/service-accounts/tnt-1/sva-1", False, True),  # updated or deleted: it counts
        ("iam/tenants/tnt-2", False, True),
        ("iam/quota-usage/tnt-1", False, False),  # read afresh on every use
        ("iam/secrets/tnt-1/db", False, False),
        ("iam/something-new/x", True, True),  # unknown IAM state counts until listed
        ("lb/items/lb-1", False, False),
    ],
)
def test_only_writes_that_can_change_a_result_count(key: str, created: bool, changes: bool) -> None:
    assert changes_results(key, created=created) is changes
