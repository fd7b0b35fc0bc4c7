"""The SDK's HTTP layer: problem documents become typed errors, pages are followed, keys hidden."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from thecloud.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from thecloud.sdk import (
    ApiError,
    AsyncClient,
    AuthenticationError,
    Client,
    ClientConfig,
    InvalidRequestError,
    NotConfiguredError,
    PermissionDeniedError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServerFaultError,
    TooManyRequestsError,
    TransportError,
    UnexpectedAnswerError,
)

pytestmark = pytest.mark.unit

TOKEN = "tck_key-0000000000000000000000000a_" + "A" * 43
TENANT = "tnt-0000000000000000000000000a"
Handler = Callable[[httpx.Request], httpx.Response]


def _problem(status: int, detail: str, request_id: str = "req-1") -> httpx.Response:
    document = {"type": "about:blank", "title": "x", "status": status, "detail": detail}
    return httpx.Response(
        status,
        json=document,
        headers={"content-type": "application/problem+json", "x-request-id": request_id},
    )


def _client(
    handler: Handler, *, api_key: str | None = TOKEN, tenant: str | None = TENANT
) -> Client:
    config = ClientConfig(api_url="http://api.test", api_key=api_key, tenant=tenant)
    return Client(config=config, http_transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "kind", "core_kind"),
    [
        (400, InvalidRequestError, InvalidArgumentError),
        (401, AuthenticationError, ApiError),
        (403, PermissionDeniedError, ApiError),
        (404, ResourceNotFoundError, NotFoundError),
        (409, ResourceConflictError, ConflictError),
        (412, ResourceConflictError, ConflictError),
        (422, InvalidRequestError, InvalidArgumentError),
        (429, TooManyRequestsError, ApiError),
        (503, ServerFaultError, ApiError),
    ],
)
def test_each_problem_status_raises_its_error_with_the_document(
    status: int, kind: type[ApiError], core_kind: type[Exception]
) -> None:
    with (
        _client(lambda request: _problem(status, "the detail", "req-42")) as client,
        pytest.raises(kind) as raised,
    ):
        client.projects.get("prj-1")

    assert isinstance(raised.value, core_kind)
    problem = raised.value.problem
    assert (problem.status, problem.detail, problem.request_id) == (status, "the detail", "req-42")
    assert str(raised.value) == "the detail"
    assert raised.value.hint


def test_problem_members_beyond_the_standard_ones_are_kept() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"title": "Too Many Requests", "status": 429, "detail": "quota", "quota": "vcpus"}
        return httpx.Response(429, json=body)

    with _client(handler) as client, pytest.raises(TooManyRequestsError) as raised:
        client.projects.create("web")

    assert raised.value.problem.extensions == {"quota": "vcpus"}


def test_a_failure_without_a_json_body_still_raises_for_its_status() -> None:
    with (
        _client(lambda request: httpx.Response(502, text="<html>bad gateway</html>")) as client,
        pytest.raises(ServerFaultError) as raised,
    ):
        client.audit.verify()

    assert raised.value.status == 502


def test_a_success_that_is_not_json_is_an_unexpected_answer() -> None:
    with (
        _client(lambda request: httpx.Response(200, text="not json")) as client,
        pytest.raises(UnexpectedAnswerError, match="not JSON"),
    ):
        client.audit.verify()


def test_an_answer_missing_a_declared_field_is_an_unexpected_answer() -> None:
    with (
        _client(lambda request: httpx.Response(200, json={"intact": True})) as client,
        pytest.raises(UnexpectedAnswerError, match="first_bad_sequence"),
    ):
        client.audit.verify()


def test_an_answer_with_a_mistyped_field_is_an_unexpected_answer() -> None:
    answer = {"intact": "yes", "first_bad_sequence": None}
    with (
        _client(lambda request: httpx.Response(200, json=answer)) as client,
        pytest.raises(UnexpectedAnswerError, match="intact should be bool, not str"),
    ):
        client.audit.verify()


def test_unknown_members_in_an_answer_are_ignored() -> None:
    answer = {"intact": False, "first_bad_sequence": 7, "added_later": [1]}
    with _client(lambda request: httpx.Response(200, json=answer)) as client:
        verdict = client.audit.verify()

    assert (verdict.intact, verdict.first_bad_sequence) == (False, 7)


def test_an_unreachable_server_is_a_transport_error_naming_the_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with _client(handler) as client, pytest.raises(TransportError, match=r"http://api\.test"):
        client.projects.get("prj-1")


def test_without_a_key_nothing_is_sent_and_the_error_says_what_to_do() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    with (
        _client(handler, api_key=None) as client,
        pytest.raises(NotConfiguredError, match=r"THECLOUD_API_KEY.*admin bootstrap"),
    ):
        client.projects.get("prj-1")

    assert sent == []


def _tenants(*ids: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/tenants":
            items = [{"id": i, "name": i, "created_at": "t"} for i in ids]
            return httpx.Response(200, json={"items": items, "next_page_token": None})
        return httpx.Response(200, json={"intact": True, "first_bad_sequence": None})

    return handler


def test_without_a_tenant_the_only_one_the_key_sees_is_used() -> None:
    paths: list[str] = []
    handler = _tenants(TENANT)

    def recording(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return handler(request)

    with _client(recording, tenant=None) as client:
        client.audit.verify()
        client.audit.verify()

    assert paths == ["/v1/tenants", *[f"/v1/tenants/{TENANT}/audit/verify"] * 2]


def test_a_key_that_sees_several_tenants_must_name_one() -> None:
    with (
        _client(_tenants("tnt-a", "tnt-b"), tenant=None) as client,
        pytest.raises(NotConfiguredError, match="THECLOUD_TENANT"),
    ):
        client.audit.verify()


def test_a_list_answer_that_is_not_a_page_is_an_unexpected_answer() -> None:
    with (
        _client(lambda request: httpx.Response(200, json={"items": 3})) as client,
        pytest.raises(UnexpectedAnswerError, match="not a page"),
    ):
        list(client.projects.list())


def test_the_key_is_sent_as_a_bearer_token_and_never_shown() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"intact": True, "first_bad_sequence": None})

    with _client(handler) as client:
        client.audit.verify()
        shown = f"{client!r} {client.config!r} {client._client._transport!r}"

    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert seen[0].url.path == f"/v1/tenants/{TENANT}/audit/verify"
    assert TOKEN not in shown


def test_ids_are_quoted_so_they_cannot_change_the_route() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return _problem(404, "no")

    with _client(handler) as client, pytest.raises(ResourceNotFoundError):
        client.projects.get("../keys?x=1")

    assert paths == [f"/v1/tenants/{TENANT}/projects/..%2Fkeys%3Fx%3D1"]


def _paged(items: list[dict[str, object]], size: int) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("page_token", "0"))
        assert request.url.params["limit"] == str(size)
        end = start + size
        token = str(end) if end < len(items) else None
        return httpx.Response(200, json={"items": items[start:end], "next_page_token": token})

    return handler


def _project(index: int) -> dict[str, object]:
    return {"id": f"prj-{index}", "tenant_id": TENANT, "name": f"p{index}", "created_at": "t"}


def test_listing_follows_page_tokens_to_the_end() -> None:
    items = [_project(i) for i in range(7)]

    with _client(_paged(items, 3)) as client:
        names = [project.name for project in client.projects.list(page_size=3)]

    assert names == [f"p{i}" for i in range(7)]


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


@pytest.mark.anyio
async def test_the_async_client_lists_the_same_pages() -> None:
    items = [_project(i) for i in range(5)]
    config = ClientConfig(api_url="http://api.test", api_key=TOKEN, tenant=TENANT)
    transport = httpx.MockTransport(_paged(items, 2))

    async with AsyncClient(config=config, http_transport=transport) as client:
        names = [project.name async for project in client.projects.list(page_size=2)]

    assert names == [f"p{i}" for i in range(5)]


def test_key_create_sends_the_shared_request_model_and_reads_the_token() -> None:
    bodies: list[object] = []
    key = {
        "id": "key-1",
        "tenant_id": TENANT,
        "principal_kind": "service_account",
        "principal_id": "sva-1",
        "name": "ci",
        "created_at": "t",
        "rotated_at": None,
        "revoked_at": None,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(201, json={"key": key, "token": TOKEN})

    with _client(handler) as client:
        issued = client.keys.create("sva-1", "ci")

    assert bodies == [{"principal_kind": "service_account", "principal_id": "sva-1", "name": "ci"}]
    assert (issued.key.id, issued.token) == ("key-1", TOKEN)
    assert TOKEN not in repr(issued)


class _Flaky:
    """Breaks the first request's connection after sending it, then answers."""

    def __init__(self, status: int, answer: dict[str, object]) -> None:
        self.requests: list[httpx.Request] = []
        self._status = status
        self._answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) == 1:
            raise httpx.ReadError("connection reset by peer", request=request)
        return httpx.Response(self._status, json=self._answer)


def test_a_post_whose_answer_was_lost_is_resent_with_the_same_idempotency_key() -> None:
    flaky = _Flaky(201, _project(1))

    with _client(flaky) as client:
        created = client.projects.create("p1")

    assert created.name == "p1"
    first, second = flaky.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert len(first.headers["idempotency-key"]) == 32


def test_each_post_gets_its_own_idempotency_key() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["idempotency-key"])
        return httpx.Response(201, json=_project(1))

    with _client(handler) as client:
        client.projects.create("p1")
        client.projects.create("p1")

    assert len(set(keys)) == 2


def test_a_put_whose_answer_was_lost_is_not_resent() -> None:
    flaky = _Flaky(200, {})

    with _client(flaky) as client, pytest.raises(TransportError, match="connection reset"):
        client.secrets.put("db", b"v")

    assert len(flaky.requests) == 1
