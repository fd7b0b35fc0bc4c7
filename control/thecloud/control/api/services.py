"""The IAM services the API works with, built over one state store and the server's key files."""

from __future__ import annotations

import os
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
from thecloud.core.state import StateStore

__all__ = [
    "KEYS_DIR",
    "MASTER_KEY_FILE",
    "SERVER_KEY_FILE",
    "STORE_DIR",
    "IamServices",
    "build_iam_services",
    "load_keys",
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

    store: StateStore
    directory: Directory
    keys: ApiKeyService
    roles: RoleRepository
    bindings: RoleBindingRepository
    authorizer: Authorizer
    audit: AuditLog
    secrets: SecretStore
    server_key: ServerKey
    master_key: ServerKey


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
    store: StateStore, server_key: ServerKey, master_key: ServerKey
) -> IamServices:
    """Wire the IAM services over `store` with the given keys."""
    directory = Directory(store)
    roles = RoleRepository(store)
    bindings = RoleBindingRepository(store, directory, roles)
    return IamServices(
        store=store,
        directory=directory,
        keys=ApiKeyService(store, directory, server_key),
        roles=roles,
        bindings=bindings,
        authorizer=Authorizer(roles, bindings),
        audit=AuditLog(store),
        secrets=SecretStore(store, master_key),
        server_key=server_key,
        master_key=master_key,
    )
