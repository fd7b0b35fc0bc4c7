"""`thecloud <noun> <verb>` over a mock API: output formats, one-time tokens, errors and exits."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from thecloud.control import cli
from thecloud.control.cli.session import Session
from thecloud.sdk import Client

pytestmark = pytest.mark.unit

TOKEN = "tck_key-0000000000000000000000000b_" + "B" * 43
TENANT = "tnt-0000000000000000000000000a"
PROJECT = {"id": "prj-1", "tenant_id": TENANT, "name": "web", "created_at": "2026-01-01"}
KEY = {
    "id": "key-1",
    "tenant_id": TENANT,
    "principal_kind": "service_account",
    "principal_id": "sva-1",
    "name": "ci",
    "created_at": "2026-01-01",
    "rotated_at": None,
    "revoked_at": None,
}
SECRET = {
    "tenant_id": TENANT,
    "name": "db",
    "version": 2,
    "created_at": "2026-01-01",
    "updated_at": "2026-01-02",
}
Route = Callable[[httpx.Request], httpx.Response]


class FakeApi:
    """Answers by (method, path after the tenant); records what it was sent."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, status: int, document: object) -> None:
        self.routes[method, path] = lambda request: httpx.Response(status, json=document)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix(f"/v1/tenants/{TENANT}/")
        route = self.routes.get((request.method, path))
        if route is None:
            body = {"title": "Not Found", "status": 404, "detail": f"there is no {path}"}
            return httpx.Response(404, json=body, headers={"x-request-id": "req-9"})
        return route(request)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeApi:
    """Every client the CLI builds talks to a FakeApi."""
    fake = FakeApi()

    def client(self: Session) -> Client:
        return Client(config=self.config, http_transport=httpx.MockTransport(fake))

    monkeypatch.setattr(Session, "client", client)
    for name in ("THECLOUD_CLIENT_CONFIG", "THECLOUD_API_URL", "THECLOUD_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("THECLOUD_API_KEY", TOKEN)
    monkeypatch.setenv("THECLOUD_TENANT", TENANT)
    return fake


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli.app, list(args), input=stdin)


def test_list_prints_a_table_json_or_yaml(api: FakeApi) -> None:
    api.on("GET", "projects", 200, {"items": [PROJECT], "next_page_token": None})

    table = run("project", "list")
    as_json = run("-o", "json", "project", "list")
    as_yaml = run("--output", "yaml", "project", "list")

    assert table.exit_code == 0, table.output
    assert table.stdout.split()[:3] == ["ID", "NAME", "CREATED"]
    assert "prj-1" in table.stdout
    assert json.loads(as_json.stdout) == [PROJECT]
    assert yaml.safe_load(as_yaml.stdout) == [PROJECT]


def test_output_id_prints_only_ids_for_scripts(api: FakeApi) -> None:
    api.on("GET", "projects", 200, {"items": [PROJECT, PROJECT], "next_page_token": None})
    api.on("POST", "projects", 201, PROJECT)

    listed = run("-o", "id", "project", "list")
    created = run("-o", "id", "project", "create", "web")

    assert listed.exit_code == 0, listed.output
    assert listed.stdout.split("\n") == ["prj-1", "prj-1", ""]
    assert created.stdout == "prj-1\n"


def test_the_output_format_can_come_from_the_environment(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.on("GET", "projects/prj-1", 200, PROJECT)
    monkeypatch.setenv("THECLOUD_OUTPUT", "json")

    result = run("project", "show", "prj-1")

    assert json.loads(result.stdout) == PROJECT


def test_key_create_prints_the_token_alone_on_stdout(api: FakeApi) -> None:
    api.on("POST", "keys", 201, {"key": KEY, "token": TOKEN})

    result = run("key", "create", "--principal", "sva-1", "--name", "ci")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{TOKEN}\n"
    assert "shown once" in result.stderr
    assert json.loads(api.requests[0].content) == {
        "principal_kind": "service_account",
        "principal_id": "sva-1",
        "name": "ci",
    }


def test_key_create_in_json_carries_key_and_token(api: FakeApi) -> None:
    api.on("POST", "keys", 201, {"key": KEY, "token": TOKEN})

    result = run("-o", "json", "key", "create", "--principal", "sva-1", "--name", "ci")

    assert json.loads(result.stdout) == {"key": KEY, "token": TOKEN}


def test_key_list_and_revoke_never_print_a_token(api: FakeApi) -> None:
    api.on("GET", "keys", 200, {"items": [KEY], "next_page_token": None})
    api.on("DELETE", "keys/key-1", 200, KEY | {"revoked_at": "2026-01-03"})

    listed = run("key", "list")
    revoked = run("key", "revoke", "key-1")

    assert "key-1" in listed.stdout
    assert "2026-01-03" in revoked.stdout
    assert TOKEN not in listed.output + revoked.output


def test_an_api_error_is_one_line_and_a_hint_with_exit_1(api: FakeApi) -> None:
    result = run("project", "show", "prj-404")

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == ("thecloud: there is no projects/prj-404 (HTTP 404, request req-9)")
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_no_api_key_says_how_to_get_one_with_exit_2(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("THECLOUD_API_KEY")

    result = run("project", "list")

    assert result.exit_code == 2
    assert "set THECLOUD_API_KEY or run `thecloud admin bootstrap`" in result.stderr
    assert api.requests == []


def test_flags_override_the_environment(api: FakeApi) -> None:
    api.on("GET", "projects", 200, {"items": [], "next_page_token": None})

    result = run("--api-url", "http://other:9", "--api-key", "tck_flag", "project", "list")

    assert result.exit_code == 0, result.output
    (request,) = api.requests
    assert (request.url.host, request.url.port) == ("other", 9)
    assert request.headers["authorization"] == "Bearer tck_flag"


def test_a_bad_output_format_is_a_usage_error(api: FakeApi) -> None:
    result = run("-o", "xml", "project", "list")

    assert result.exit_code == 2
    assert "output must be one of table, json, yaml" in result.stderr


def test_secret_values_go_in_from_stdin_and_out_to_a_private_file(
    api: FakeApi, tmp_path: Path
) -> None:
    api.on("PUT", "secrets/db", 200, SECRET)
    api.on("GET", "secrets/db", 200, SECRET | {"value_base64": "aHVudGVyMg=="})
    target = tmp_path / "db.txt"

    put = run("secret", "put", "db", "--from-file", "-", stdin=b"hunter2")
    got = run("secret", "get", "db", "--to-file", str(target))
    again = run("secret", "get", "db", "--to-file", str(target))

    assert put.exit_code == 0, put.output
    assert json.loads(api.requests[0].content) == {"value_base64": "aHVudGVyMg=="}
    assert got.exit_code == 0, got.output
    assert target.read_bytes() == b"hunter2"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "hunter2" not in put.output + got.output
    assert again.exit_code == 2
    assert "cannot create" in again.stderr


def test_audit_verify_exits_1_when_the_chain_is_broken(api: FakeApi) -> None:
    api.on("GET", "audit/verify", 200, {"intact": False, "first_bad_sequence": 12})

    result = run("audit", "verify")

    assert result.exit_code == 1
    assert "breaks at entry 12" in result.stderr


def test_role_create_sends_the_permissions(api: FakeApi) -> None:
    role = {
        "name": "deployer",
        "builtin": False,
        "permissions": [{"action": "read", "resource_type": "project", "own_only": True}],
    }
    api.on("POST", "roles", 201, role)

    result = run("role", "create", "deployer", "-p", "read:project:own")
    bad = run("role", "create", "deployer", "-p", "read")

    assert result.exit_code == 0, result.output
    assert json.loads(api.requests[0].content)["permissions"] == role["permissions"]
    assert bad.exit_code == 2
    assert "ACTION:RESOURCE_TYPE" in bad.output


def test_a_principal_of_unknown_kind_is_refused_before_any_request(api: FakeApi) -> None:
    result = run("role-binding", "grant", "--principal", "bob", "--role", "reader")

    assert result.exit_code == 2
    assert "usr-" in result.stderr
    assert api.requests == []


def test_tenant_create_prints_the_admin_token_alone(api: FakeApi) -> None:
    tenant = {"id": "tnt-2", "name": "globex", "created_at": "t"}
    made = {
        "tenant": tenant,
        "admin_service_account_id": "sva-2",
        "admin_key": {"key": KEY, "token": TOKEN},
    }
    api.routes["POST", "/v1/tenants"] = lambda request: httpx.Response(201, json=made)

    result = run("tenant", "create", "globex")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{TOKEN}\n"
    assert "tenant tnt-2, admin service account sva-2" in result.stderr


def test_quota_set_sends_every_limit(api: FakeApi) -> None:
    limits = {"instances": 1, "vcpus": 2, "memory_mib": 3, "volume_gib": 4, "load_balancers": 5}
    answer = {"tenant_id": TENANT, **limits, "usage": {}, "version": 1}
    api.on("PUT", "quotas", 200, answer)
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in limits.items()]

    result = run("-o", "json", "quota", "set", *flags)

    assert result.exit_code == 0, result.output
    assert json.loads(api.requests[0].content) == limits
    assert json.loads(result.stdout)["version"] == 1


_LIMITS = ["--instances=1", "--vcpus=1", "--memory-mib=1", "--volume-gib=1", "--load-balancers=1"]
_QUOTAS = {
    "tenant_id": TENANT,
    "instances": 1,
    "vcpus": 1,
    "memory_mib": 1,
    "volume_gib": 1,
    "load_balancers": 1,
    "usage": {},
    "version": 4,
}


@pytest.mark.parametrize(
    ("command", "method", "path", "answer"),
    [
        (("project", "delete", "prj-1"), "DELETE", "projects/prj-1", None),
        (("user", "delete", "usr-1"), "DELETE", "users/usr-1", None),
        (("service-account", "delete", "sva-1"), "DELETE", "service-accounts/sva-1", None),
        (("role", "delete", "ops"), "DELETE", "roles/ops", None),
        (("secret", "delete", "db"), "DELETE", "secrets/db", None),
        (("secret", "put", "db", "--from-file", "-"), "PUT", "secrets/db", SECRET),
        (("quota", "set", *_LIMITS), "PUT", "quotas", _QUOTAS),
    ],
)
def test_every_versioned_change_takes_if_match(
    api: FakeApi, command: tuple[str, ...], method: str, path: str, answer: object
) -> None:
    api.on(method, path, 200, answer or {"id": path.rsplit("/", 1)[-1], "deleted": True})

    conditional = run(*command, "--if-match", "4", stdin=b"value")
    unconditional = run(*command, stdin=b"value")

    assert conditional.exit_code == unconditional.exit_code == 0, conditional.output
    sent, plain = api.requests
    assert (sent.method, sent.headers["if-match"]) == (method, '"4"')
    assert "if-match" not in plain.headers


def test_a_stale_if_match_says_the_resource_moved_on(api: FakeApi) -> None:
    stale = {"title": "Precondition Failed", "status": 412, "detail": "role 'ops' is at 5"}
    api.on("DELETE", "roles/ops", 412, stale)

    result = run("role", "delete", "ops", "--if-match", "4")

    assert result.exit_code == 1
    assert "role 'ops' is at 5" in result.stderr
