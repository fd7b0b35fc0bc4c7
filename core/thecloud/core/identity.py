"""The identity of one server installation: an id minted once and kept in its state directory.

The id tells operators and peers which installation they are talking to; it survives restarts and
upgrades and changes only if the state directory is deleted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import lmdb

from thecloud.core.clock import utc_now
from thecloud.core.errors import InvalidArgumentError, StateError
from thecloud.core.ids import new_id, parse_id
from thecloud.core.lmdb_env import open_environment

__all__ = ["ID_PREFIX", "STATE_ENVIRONMENT", "ServerIdentity", "load_or_create_identity"]

#: Type prefix of server ids (`srv-...`).
ID_PREFIX: Final = "srv"
#: Name of the LMDB environment directory inside the state directory.
STATE_ENVIRONMENT: Final = "state.lmdb"
_META_DB: Final = b"meta"
_IDENTITY_KEY: Final = b"server_identity"

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """Who this server installation is: its stable id and when that id was minted."""

    server_id: str
    """`srv-` id, unique across installations."""
    created_at: str
    """ISO 8601 UTC time the identity was first created."""


def _decode(raw: bytes, where: Path) -> ServerIdentity:
    try:
        document = json.loads(raw)
        if not isinstance(document, dict) or set(document) != {"server_id", "created_at"}:
            raise InvalidArgumentError(f"expected server_id and created_at, got {document!r}")
        server_id, created_at = document["server_id"], document["created_at"]
        if not isinstance(server_id, str) or not isinstance(created_at, str):
            raise InvalidArgumentError(f"expected two strings, got {document!r}")
        datetime.fromisoformat(created_at)
        return ServerIdentity(parse_id(server_id, ID_PREFIX), created_at)
    except ValueError as exc:  # json.JSONDecodeError and InvalidArgumentError are ValueErrors
        raise StateError(f"the server identity stored in {where} is unreadable: {exc}") from exc


def load_or_create_identity(state_dir: Path) -> ServerIdentity:
    """Return the identity stored under `state_dir`, minting and storing it on first use.

    Creates `state_dir` (mode 0700) and its LMDB environment if they are missing. Raises
    StateError if the store cannot be opened or holds an identity this version cannot read.
    """
    where = state_dir / STATE_ENVIRONMENT
    with open_environment(where) as env:
        try:
            meta = env.open_db(_META_DB)
            # Read and create in one write transaction: LMDB admits one writer at a time across
            # processes, so two servers starting on a fresh state dir cannot mint two ids.
            with env.begin(db=meta, write=True) as txn:
                raw = txn.get(_IDENTITY_KEY)
                if raw is not None:
                    return _decode(raw, where)
                identity = ServerIdentity(server_id=new_id(ID_PREFIX), created_at=utc_now())
                txn.put(_IDENTITY_KEY, json.dumps(asdict(identity)).encode())
        except lmdb.Error as exc:
            raise StateError(f"cannot read or store the server identity in {where}: {exc}") from exc
    _log.info("created server identity", extra={"server_id": identity.server_id})
    return identity
