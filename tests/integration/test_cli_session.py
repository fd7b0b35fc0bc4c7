"""The CLI and the SDK against a real `thecloud serve` over a real socket.

One server for the module: a tenant bootstrapped before it starts and one while it runs, then
the README's first session through the `thecloud` command, and the SDK's sync and async clients
on the same server.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from serving import (
    RunningServer,
    Tenant,
    bootstrap,
    free_port,
    http_backend,
    run_cli,
    running_server,
)

from thecloud.sdk import (
    AsyncClient,
    AuthenticationError,
    Client,
    ClientConfig,
    NotConfiguredError,
    PermissionDeniedError,
    ResourceNotFoundError,
)
from thecloud.sdk.models import Permission

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Cloud:
    server: RunningServer
    workdir: Path
    acme: Tenant
    globex: Tenant

    def cli(
        self, *args: str, key: str | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "THECLOUD_API_URL": self.server.base_url,
            "THECLOUD_API_KEY": key or self.acme.token,
            "THECLOUD_TENANT": self.acme.id,
            "THECLOUD_CLIENT_CONFIG": str(self.workdir / "client.toml"),
        }
        return run_cli(*args, workdir=self.workdir, env=env, stdin=stdin)

    def client(self, token: str | None = None, tenant: str | None = None) -> Client:
        return Client(self.server.base_url, token or self.acme.token, tenant=tenant or self.acme.id)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    workdir = tmp_path_factory.mktemp("cli")
    state_dir = workdir / "state"
    acme = bootstrap(state_dir, workdir, "acme")
    (workdir / "client.toml").write_text("")
    with running_server(state_dir, workdir, "cli") as server:
        # The README bootstraps beside a running server; the second tenant checks that works.
        globex = bootstrap(state_dir, workdir, "globex")
        yield Cloud(server, workdir, acme, globex)


def test_a_first_session_through_the_cli(cloud: Cloud) -> None:
    made = cloud.cli("-o", "json", "service-account", "create", "ci-bot")
    assert made.returncode == 0, made.stderr
    bot = json.loads(made.stdout)["id"]
    granted = cloud.cli("role-binding", "grant", "--principal", bot, "--role", "reader")
    assert granted.returncode == 0, granted.stderr
    issued = cloud.cli("key", "create", "--principal", bot, "--name", "ci")
    assert issued.returncode == 0, issued.stderr
    bot_token = issued.stdout.strip()
    assert bot_token.startswith("tck_")
    assert "shown once" in issued.stderr

    listed = cloud.cli("service-account", "list", key=bot_token)
    assert listed.returncode == 0, listed.stderr
    assert "ci-bot" in listed.stdout
    denied = cloud.cli("project", "create", "web", key=bot_token)
    assert denied.returncode == 1
    assert "HTTP 403" in denied.stderr
    assert "hint: ask a tenant admin" in denied.stderr

    keys = cloud.cli("-o", "yaml", "key", "list", "--principal", bot)
    assert keys.returncode == 0, keys.stderr
    assert bot_token not in keys.stdout
    key_id = bot_token.split("_")[1]
    assert key_id in keys.stdout
    assert cloud.cli("key", "revoke", key_id).returncode == 0
    refused = cloud.cli("service-account", "list", key=bot_token)
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr

    audit = cloud.cli("-o", "json", "audit", "list")
    actions = [entry["action"] for entry in json.loads(audit.stdout)]
    assert {"service-account.create", "role-binding.create", "key.create", "key.revoke"} <= set(
        actions
    )
    verified = cloud.cli("audit", "verify")
    assert verified.returncode == 0, verified.stderr


def test_secrets_round_trip_through_files_and_are_never_printed(cloud: Cloud) -> None:
    target = cloud.workdir / "token.out"

    put = cloud.cli("secret", "put", "api-token", "--from-file", "-", stdin="s3cr3t-value")
    got = cloud.cli("secret", "get", "api-token", "--to-file", str(target))
    listed = cloud.cli("secret", "list")

    assert put.returncode == 0, put.stderr
    assert got.returncode == 0, got.stderr
    assert target.read_text() == "s3cr3t-value"
    assert all("s3cr3t" not in out.stdout + out.stderr for out in (put, got, listed))
    assert "api-token" in listed.stdout


def test_usage_and_connection_errors_say_what_to_do(cloud: Cloud) -> None:
    unreachable = cloud.cli("--api-url", "http://127.0.0.1:9", "project", "list")
    missing = cloud.cli("project", "show", "prj-00000000000000000000000000")

    assert unreachable.returncode == 1
    assert "make run" in unreachable.stderr
    assert missing.returncode == 1
    assert "HTTP 404" in missing.stderr
    assert "Traceback" not in unreachable.stderr + missing.stderr


def test_the_sync_client_pages_and_keeps_tenants_apart(cloud: Cloud) -> None:
    with cloud.client() as acme:
        made = {acme.projects.create(f"p{i}").id for i in range(5)}
        listed = {project.id for project in acme.projects.list(page_size=2)}
        assert made <= listed
        some_project = next(iter(made))

    with cloud.client(tenant=cloud.globex.id) as probe, pytest.raises(ResourceNotFoundError):
        list(probe.projects.list())
    with cloud.client(cloud.globex.token, cloud.globex.id) as globex:
        with pytest.raises(ResourceNotFoundError):
            globex.projects.get(some_project)
        assert [project.id for project in globex.projects.list()] == []


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


@pytest.mark.anyio
async def test_the_async_client_manages_keys_and_secrets(cloud: Cloud) -> None:
    async with AsyncClient(cloud.server.base_url, cloud.acme.token, tenant=cloud.acme.id) as acme:
        bot = await acme.service_accounts.create("async-bot")
        binding = await acme.role_bindings.grant(bot.id, "reader")
        issued = await acme.keys.create(bot.id, "k")
        await acme.secrets.put("blob", bytes(range(256)))
        secret = await acme.secrets.get("blob")
        bindings = [b.id async for b in acme.role_bindings.list(bot.id)]
        rotated = await acme.keys.rotate(issued.key.id)

    assert secret.value == bytes(range(256))
    assert bindings == [binding.id]
    assert rotated.token != issued.token
    url, tenant = cloud.server.base_url, cloud.acme.id
    async with AsyncClient(url, rotated.token, tenant=tenant) as reader:
        with pytest.raises(PermissionDeniedError):
            await reader.secrets.put("blob", b"x")
    async with AsyncClient(url, issued.token, tenant=tenant) as stale:
        with pytest.raises(AuthenticationError):
            await stale.audit.verify()


def test_the_tenant_comes_from_the_key_unless_it_sees_several(cloud: Cloud) -> None:
    url = cloud.server.base_url
    with Client(config=ClientConfig(api_url=url, api_key=cloud.globex.token)) as globex:
        assert globex.tenants.get().id == cloud.globex.id
    # The first tenant bootstrapped is the system tenant: its admin sees every tenant.
    with (
        Client(config=ClientConfig(api_url=url, api_key=cloud.acme.token)) as system,
        pytest.raises(NotConfiguredError, match="several tenants"),
    ):
        list(system.projects.list())
    listed = cloud.cli("-o", "json", "tenant", "list")
    assert {t["id"] for t in json.loads(listed.stdout)} == {cloud.acme.id, cloud.globex.id}


@pytest.fixture
def backend() -> Iterator[str]:
    """An HTTP server on loopback answering every GET; yields its address."""
    with http_backend(b"hello from the backend") as address:
        yield address


def test_a_load_balancer_through_the_cli(cloud: Cloud, backend: str) -> None:
    project = json.loads(cloud.cli("-o", "json", "project", "create", "edge").stdout)["id"]
    port = free_port()
    listen = ["--listen", f"127.0.0.1:{port}", "--backend", backend]

    made = cloud.cli("-o", "json", "lb", "create", "front", "--project", project, *listen, "--wait")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["status"]["state"] == "running"
    answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=5.0)
    assert answer.text == "hello from the backend"

    stats = cloud.cli("-o", "json", "lb", "stats", "front", "--project", project)
    assert json.loads(stats.stdout)["stats"]["requests_total"] >= 1
    table = cloud.cli("lb", "stats", "front", "--project", project)
    assert backend in table.stdout

    moved = free_port()
    config = json.loads(made.stdout)["config"]
    config["listeners"][0]["bind"] = f"127.0.0.1:{moved}"
    spec = cloud.workdir / "front.yaml"
    spec.write_text(yaml.safe_dump(config))
    updated = cloud.cli("lb", "update", "front", "--project", project, "-f", str(spec), "--wait")
    assert updated.returncode == 0, updated.stderr
    assert httpx.get(f"http://127.0.0.1:{moved}/", timeout=5.0).status_code == 200

    gone = cloud.cli("lb", "delete", "front", "--project", project, "--wait")
    assert gone.returncode == 0, gone.stderr
    listed = cloud.cli("-o", "json", "lb", "list", "--project", project)
    assert json.loads(listed.stdout) == []
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{moved}/", timeout=2.0)


def test_lb_create_needs_a_configuration(cloud: Cloud) -> None:
    result = cloud.cli("lb", "create", "x", "--project", "prj-00000000000000000000000000")

    assert result.returncode == 2
    assert "--listen" in result.stderr


def test_every_resource_reads_back_from_the_real_server(cloud: Cloud) -> None:
    with cloud.client() as acme:
        custom = acme.roles.create("auditor", [Permission("read", "audit", False)])
        roles = {role.name: role for role in acme.roles.list()}
        user = acme.users.create("ada")
        acme.secrets.put("rotating", b"v1")
        acme.secrets.put("rotating", b"v2")
        versions = [v.version for v in acme.secrets.versions("rotating")]
        quotas = acme.tenants.quotas()
        tenant = acme.tenants.get()
        shown = acme.roles.get("auditor")
        deleted = [acme.roles.delete("auditor"), acme.users.delete(user.id)]
        secret_gone = acme.secrets.delete("rotating")

    assert not roles["auditor"].builtin
    assert shown.permissions == custom.permissions
    assert versions == [1, 2]
    assert quotas.tenant_id == tenant.id == cloud.acme.id
    assert all(d.deleted for d in [*deleted, secret_gone])


def test_a_resent_post_is_applied_once(cloud: Cloud) -> None:
    # What the SDK's resend after a lost answer relies on: the same key replays the answer.
    url = f"{cloud.server.base_url}/v1/tenants/{cloud.acme.id}/service-accounts"
    headers = {"authorization": f"Bearer {cloud.acme.token}", "idempotency-key": "resend-1"}

    first = httpx.post(url, json={"name": "once"}, headers=headers, timeout=5.0)
    again = httpx.post(url, json={"name": "once"}, headers=headers, timeout=5.0)

    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
