"""The services the API works with (IAM, quotas, operations, load balancers), built over one
state store and the server's key files."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from thecloud.control.iam import (
    ApiKeyService,
    AuditLog,
    Authorizer,
    Directory,
    RoleBindingRepository,
    RoleRepository,
    SecretStore,
    ServerKey,
    load_or_create_server_key,
)
from thecloud.control.iam.audited_store import AuditedStore
from thecloud.control.iam.auth_cache import IamGeneration
from thecloud.control.iam.quotas import QuotaService
from thecloud.control.iam.tenant_setup import TenantSetup
from thecloud.control.lb import ConfigParser, LoadBalancerService, native_config_parser
from thecloud.control.operations import OperationStore
from thecloud.core.state import EtcdStateStore, LmdbStateStore, StateStore

__all__ = [
    "KEYS_DIR",
    "MASTER_KEY_FILE",
    "SERVER_KEY_FILE",
    "STORE_DIR",
    "IamServices",
    "build_iam_services",
    "load_keys",
    "open_state_store",
]

#: Under the state directory: the LMDB state store of the control plane.
STORE_DIR: Final = "store.lmdb"
#: Under the state directory: the key files (each 0600).
KEYS_DIR: Final = "keys"
#: HMAC key for API-key digests and page tokens.
SERVER_KEY_FILE: Final = "server.key"
#: AES key for secrets and stored idempotent responses.
MASTER_KEY_FILE: Final = "master.key"


@dataclass(frozen=True, slots=True)
class IamServices:
    """Every IAM service over one store; the keys stay out of reprs."""

    #: The store repositories write through (auditing the current request's change).
    audited: StateStore
    #: The raw store; repositories write through an AuditedStore over it.
    store: StateStore
    directory: Directory
    keys: ApiKeyService
    roles: RoleRepository
    bindings: RoleBindingRepository
    authorizer: Authorizer
    audit: AuditLog
    secrets: SecretStore
    #: Creates tenants with their admin account and key, in one audited commit.
    tenant_setup: TenantSetup
    #: Moves on every IAM change; caches of keys and decisions follow it.
    generation: IamGeneration
    quotas: QuotaService
    operations: OperationStore
    load_balancers: LoadBalancerService
    server_key: ServerKey
    master_key: ServerKey


async def open_state_store(
    state_dir: Path, etcd_endpoint: str | None = None
) -> LmdbStateStore | EtcdStateStore:
    """The control plane's store: etcd at `etcd_endpoint` when set (a cluster), else the embedded
    LMDB store under `state_dir`. The caller closes it."""
    if etcd_endpoint is not None:
        return await EtcdStateStore.open(etcd_endpoint)
    return await LmdbStateStore.open(state_dir / STORE_DIR)


def load_keys(state_dir: Path) -> tuple[ServerKey, ServerKey]:
    """Return (server key, master key) from `<state_dir>/keys/`, creating what is missing."""
    keys_dir = state_dir / KEYS_DIR
    # 0700: the files are 0600 already, but nobody else needs to list them either.
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    server_key = load_or_create_server_key(keys_dir / SERVER_KEY_FILE)
    master_key = load_or_create_server_key(keys_dir / MASTER_KEY_FILE)
    return server_key, master_key


def build_iam_services(
    store: StateStore,
    server_key: ServerKey,
    master_key: ServerKey,
    *,
    lb_config_parser: Callable[[], ConfigParser] = native_config_parser,
) -> IamServices:
    """Wire the IAM and resource services over `store` with the given keys.

    `lb_config_parser` returns the load balancer configuration validator (the data plane's by
    default; tests may pass another).
    """
    audit = AuditLog(store)
    # Repositories write through the audited view: a request's change and its audit entry
    # commit together (see audited_store).
    generation = IamGeneration()
    audited = AuditedStore(store, audit, generation)
    quotas = QuotaService(audited)
    operations = OperationStore(audited)
    directory = Directory(audited)
    roles = RoleRepository(audited)
    bindings = RoleBindingRepository(audited, directory, roles)
    keys = ApiKeyService(audited, directory, server_key, generation=generation)
    return IamServices(
        audited=audited,
        store=store,
        directory=directory,
        keys=keys,
        roles=roles,
        bindings=bindings,
        authorizer=Authorizer(roles, bindings, directory, generation=generation),
        audit=audit,
        secrets=SecretStore(audited, master_key),
        tenant_setup=TenantSetup(audited, directory, bindings, keys),
        generation=generation,
        quotas=quotas,
        operations=operations,
        load_balancers=LoadBalancerService(audited, quotas, operations, lb_config_parser),
        server_key=server_key,
        master_key=master_key,
    )
