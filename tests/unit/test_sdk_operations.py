"""Waiting on long-running operations: long polls, progress callbacks, failure and timeout."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from thecloud.control import cli
from thecloud.control.cli.session import Session
from thecloud.sdk import Client, ClientConfig, OperationFailedError, OperationTimeoutError
from thecloud.sdk.models import Operation

pytestmark = pytest.mark.unit

TENANT = "tnt-0000000000000000000000000a"


def _operation(status: str, error: str | None = None) -> dict[str, object]:
    return {
        "id": "op-1",
        "tenant_id": TENANT,
        "kind": "lb.create",
        "target": "lb-1",
        "status": status,
        "error": error,
        "result": {"addresses": ["127.0.0.1:8080"]} if status == "succeeded" else None,
        "created_at": "t0",
        "updated_at": "t1",
    }


class Sequence:
    """Answers each GET of the operation with the next status; records the wait asked for."""

    def __init__(self, *statuses: tuple[str, str | None]) -> None:
        self._answers: Iterator[tuple[str, str | None]] = iter(statuses)
        self.waits: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/operations/op-1"
        self.waits.append(request.url.params.get("wait"))
        status, error = next(self._answers)
        return httpx.Response(200, json=_operation(status, error))


def _client(handler: Sequence) -> Client:
    config = ClientConfig(api_url="http://api.test", api_key="tck_x", tenant=TENANT)
    return Client(config=config, http_transport=httpx.MockTransport(handler))


def test_wait_long_polls_until_done_and_reports_each_status() -> None:
    answers = Sequence(("pending", None), ("running", None), ("succeeded", None))
    seen: list[Operation] = []

    with _client(answers) as client:
        done = client.operations.wait("op-1", progress=seen.append)

    assert [op.status for op in seen] == ["pending", "running", "succeeded"]
    assert done.result == {"addresses": ["127.0.0.1:8080"]}
    # The first read is immediate; the others ask the server to hold the answer.
    assert answers.waits[0] is None
    assert all(wait is not None and float(wait) > 0 for wait in answers.waits[1:])


def test_a_failed_operation_raises_with_its_error() -> None:
    answers = Sequence(("running", None), ("failed", "port 8080 is taken"))

    with _client(answers) as client, pytest.raises(OperationFailedError) as raised:
        client.operations.wait("op-1")

    assert "port 8080 is taken" in str(raised.value)
    assert raised.value.operation.status == "failed"


def test_a_wait_that_outlasts_its_timeout_says_how_to_resume() -> None:
    answers = Sequence(("running", None))

    with _client(answers) as client, pytest.raises(OperationTimeoutError) as raised:
        client.operations.wait("op-1", timeout=0)

    assert "thecloud operation wait op-1" in str(raised.value)


def test_the_cli_waits_and_prints_the_result_or_the_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = iter(
        [
            Sequence(("pending", None), ("succeeded", None)),
            Sequence(("running", None), ("failed", "no backend answers")),
        ]
    )

    def client(self: Session) -> Client:
        return _client(next(runs))

    monkeypatch.setattr(Session, "client", client)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")
    monkeypatch.delenv("THECLOUD_CLIENT_CONFIG", raising=False)

    result = CliRunner().invoke(cli.app, ["-o", "json", "operation", "wait", "op-1"])
    failed = CliRunner().invoke(cli.app, ["operation", "wait", "op-1"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "succeeded"
    assert failed.exit_code == 1
    assert "no backend answers" in failed.stderr
    assert "Traceback" not in failed.output
