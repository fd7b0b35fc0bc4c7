"""Reading a request: a body is read only when the request is framed with one."""

from __future__ import annotations

import pytest

from thecloud.control.api.errors import ApiError
from thecloud.control.api.request import MAX_BODY_BYTES, Request, header_map, read_request
from thecloud.control.app import Message

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


def scope(method: str, headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {"method": method, "path": "/v1/x", "query_string": b"", "headers": headers}


class Messages:
    """An ASGI receive callable that hands out the given messages and counts the calls."""

    def __init__(self, *messages: Message) -> None:
        self.messages = list(messages)
        self.calls = 0

    async def __call__(self) -> Message:
        self.calls += 1
        return self.messages.pop(0)


async def read(request_scope: dict[str, object], receive: Messages, request_id: str) -> Request:
    return await read_request(request_scope, receive, request_id, header_map(request_scope))


async def test_a_request_without_framing_has_no_body_and_waits_for_none() -> None:
    receive = Messages()

    request = await read(scope("GET", [(b"host", b"x")]), receive, "req-1")

    assert request.body == b"" and receive.calls == 0


async def test_chunked_and_sized_bodies_are_read_to_the_end() -> None:
    parts = (
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": False},
    )
    chunked = scope("POST", [(b"transfer-encoding", b"chunked")])
    assert (await read(chunked, Messages(*parts), "req-2")).body == b'{"a":1}'
    sized = scope("POST", [(b"content-length", b"7")])
    assert (await read(sized, Messages(*parts), "req-3")).body == b'{"a":1}'


async def test_an_oversized_declared_body_is_refused_before_reading() -> None:
    receive = Messages()
    too_big = scope("POST", [(b"content-length", str(MAX_BODY_BYTES + 1).encode())])

    with pytest.raises(ApiError) as refused:
        await read(too_big, receive, "req-4")

    assert refused.value.status == 413 and receive.calls == 0
