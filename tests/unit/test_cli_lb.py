"""`thecloud lb ...` and the SDK's load balancers over a mock API: configs, names, If-Match."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from thecloud.control import cli
from thecloud.control.cli.load_balancers import flag_config
from thecloud.control.cli.session import Session
from thecloud.sdk import Client, ClientConfig, NotConfiguredError

pytestmark = pytest.mark.unit

TENANT = "tnt-0000000000000000000000000a"
PROJECT = "prj-0000000000000000000000000p"
BASE = f"/v1/tenants/{TENANT}/projects/{PROJECT}/load-balancers"
LB = {
    "id": "lb-1",
    "tenant_id": TENANT,
    "project_id": PROJECT,
    "name": "front",
    "config": flag_config("127.0.0.1:8080", ["127.0.0.1:9001"]),
    "created_at": "t0",
    "updated_at": "t0",
    "status": {
        "state": "running",
        "addresses": {"web": "127.0.0.1:8080"},
        "last_error": None,
        "observed_version": 3,
    },
    "version": 3,
}
OPERATION = {
    "id": "op-1",
    "tenant_id": TENANT,
    "kind": "load-balancer.create",
    "target": f"tenants/{TENANT}/projects/{PROJECT}/load-balancers/lb-1",
    "status": "pending",
    "error": None,
    "result": None,
    "created_at": "t0",
    "updated_at": "t0",
}


class LbApi:
    """A project with one load balancer, `front`; records requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == BASE and request.method == "GET":
            return httpx.Response(200, json={"items": [LB], "next_page_token": None})
        if path == BASE and request.method == "POST":
            return httpx.Response(202, json=OPERATION)
        if path == f"{BASE}/lb-1" and request.method in ("PUT", "DELETE"):
            return httpx.Response(202, json=OPERATION)
        if path == f"{BASE}/lb-1/stats":
            stats = {
                "requests_total": 5,
                "pools": {
                    "app": {
                        "backends": [
                            {
                                "address": "127.0.0.1:9001",
                                "up": True,
                                "active": 0,
                                "requests": 5,
                                "failures": 0,
                                "ejected": False,
                            }
                        ]
                    }
                },
            }
            return httpx.Response(200, json={"id": "lb-1", "state": "running", "stats": stats})
        return httpx.Response(404, json={"title": "Not Found", "status": 404, "detail": path})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LbApi:
    fake = LbApi()

    def client(self: Session) -> Client:
        return Client(config=self.config, http_transport=httpx.MockTransport(fake))

    monkeypatch.setattr(Session, "client", client)
    monkeypatch.delenv("THECLOUD_CLIENT_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("THECLOUD_API_KEY", "tck_x")
    monkeypatch.setenv("THECLOUD_TENANT", TENANT)
    monkeypatch.setenv("THECLOUD_PROJECT", PROJECT)
    return fake


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args))


def test_create_from_flags_sends_one_listener_and_one_pool(api: LbApi) -> None:
    result = run(
        "lb", "create", "front", "--listen", "127.0.0.1:8080", "--backend", "127.0.0.1:9001"
    )

    assert result.exit_code == 0, result.output
    sent = json.loads(api.requests[0].content)
    assert sent == {"name": "front", "config": LB["config"]}
    assert "op-1" in result.stdout


def test_create_from_a_yaml_file(api: LbApi, tmp_path: Path) -> None:
    spec = tmp_path / "front.yaml"
    spec.write_text("listeners:\n  - {name: web, bind: '127.0.0.1:8081', default_pool: app}\n")

    result = run("lb", "create", "front", "-f", str(spec))

    assert result.exit_code == 0, result.output
    assert json.loads(api.requests[0].content)["config"]["listeners"][0]["bind"] == "127.0.0.1:8081"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--listen"),
        (["--listen", "127.0.0.1:1"], "at least one --backend"),
        (["-f", "spec.yaml", "--listen", "127.0.0.1:1"], "not both"),
        (["-f", "/nonexistent/spec.yaml"], "cannot read"),
    ],
)
def test_create_refuses_an_incomplete_configuration(
    api: LbApi, args: list[str], message: str
) -> None:
    result = run("lb", "create", "front", *args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert api.requests == []


def test_a_file_that_is_not_a_mapping_is_refused(api: LbApi, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("- just\n- a list\n")

    result = run("lb", "create", "front", "-f", str(spec))

    assert result.exit_code == 2
    assert "must hold a mapping" in result.stderr


def test_names_resolve_to_ids_and_stats_print_each_backend(api: LbApi) -> None:
    result = run("lb", "stats", "front")
    missing = run("lb", "stats", "back")

    assert result.exit_code == 0, result.output
    assert [r.url.path for r in api.requests[:2]] == [BASE, f"{BASE}/lb-1/stats"]
    assert "requests total" in result.stdout
    assert "127.0.0.1:9001" in result.stdout
    assert missing.exit_code == 2
    assert "no load balancer is named 'back'" in missing.stderr


def test_list_shows_state_and_addresses(api: LbApi) -> None:
    result = run("lb", "list")

    assert result.exit_code == 0, result.output
    assert "running" in result.stdout
    assert "127.0.0.1:8080" in result.stdout


def test_the_sdk_sends_if_match_with_the_version() -> None:
    api = LbApi()
    config = ClientConfig(
        api_url="http://api.test", api_key="tck_x", tenant=TENANT, project=PROJECT
    )

    with Client(config=config, http_transport=httpx.MockTransport(api)) as client:
        client.load_balancers.delete("lb-1", if_match=3)
        client.load_balancers.update("lb-1", {"listeners": []})

    assert api.requests[0].headers["if-match"] == '"3"'
    assert "if-match" not in api.requests[1].headers


def test_the_sdk_needs_a_project() -> None:
    config = ClientConfig(api_url="http://api.test", api_key="tck_x", tenant=TENANT)

    with (
        Client(config=config, http_transport=httpx.MockTransport(LbApi())) as client,
        pytest.raises(NotConfiguredError, match="THECLOUD_PROJECT"),
    ):
        list(client.load_balancers.list())


def test_update_and_delete_take_if_match(api: LbApi, tmp_path: Path) -> None:
    spec = tmp_path / "front.yaml"
    spec.write_text("listeners:\n  - {name: web, bind: '127.0.0.1:8081', default_pool: app}\n")

    updated = run("lb", "update", "lb-1", "-f", str(spec), "--if-match", "2")
    deleted = run("lb", "delete", "lb-1", "--if-match", '"3"')

    assert updated.exit_code == deleted.exit_code == 0, updated.output + deleted.output
    sent = [(r.method, r.headers.get("if-match")) for r in api.requests if r.method != "GET"]
    assert sent == [("PUT", '"2"'), ("DELETE", '"3"')]
