"""The /v1 router: matches, 404 and 405 stay right when paths repeat, and memory stays bounded."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.api.router import MAX_REMEMBERED_PATHS, Route, Router
from thecloud.control.app import Response

pytestmark = pytest.mark.unit


async def _handler(call: Call) -> Response:
    return Response(200, b"{}", "application/json")


def _router() -> Router:
    return Router(
        [
            Route("GET", "/v1/things/{id}", _handler, "thing.read"),
            Route("GET", "/v1/things/special", _handler, "thing.special"),
        ]
    )


def test_repeated_paths_match_the_same_way_every_time() -> None:
    router = _router()
    for _ in range(3):
        assert router.match("GET", "/v1/things/a").params == {"id": "a"}
        assert router.match("GET", "/v1/things/special").route.audit_action == "thing.special"
        with pytest.raises(ApiError) as missing:
            router.match("GET", "/v1/nothing")
        assert missing.value.status is HTTPStatus.NOT_FOUND
        with pytest.raises(ApiError) as wrong:
            router.match("POST", "/v1/things/a")
        assert wrong.value.status is HTTPStatus.METHOD_NOT_ALLOWED


def test_captured_parameters_are_not_shared_between_calls() -> None:
    router = _router()
    first = router.match("GET", "/v1/things/a")
    first.params["id"] = "changed"

    assert router.match("GET", "/v1/things/a").params == {"id": "a"}


def test_remembered_paths_stay_bounded() -> None:
    router = _router()
    for i in range(MAX_REMEMBERED_PATHS * 2 + 3):
        with pytest.raises(ApiError):
            router.match("GET", f"/v1/unknown-{i}")

    assert len(router._found) <= MAX_REMEMBERED_PATHS
    assert router.match("GET", "/v1/things/b").params == {"id": "b"}
