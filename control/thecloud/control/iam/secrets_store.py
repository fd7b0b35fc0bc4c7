"""Tenant secrets encrypted at rest with AES-256-GCM, kept in versions.

Each version is encrypted under the master key (a 0600 key file, see `server_key`) with a fresh
96-bit random nonce. The associated data binds the ciphertext to its tenant, name and version,
so a ciphertext copied to another secret or version fails to decrypt instead of leaking there.
Values travel as `SecretValue`, whose repr never shows them, and no message names them.

Layout: `iam/secrets/<tenant>/<name>` holds the metadata (current version) and
`iam/secret-versions/<tenant>/<name>/<version, 10 digits>` each encrypted version; a new version
and the metadata are written in one transaction, expecting the metadata's version, so concurrent
writers cannot both claim the same version number.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from thecloud.control.iam.audited_store import AuditScope
from thecloud.control.iam.directory import DEFAULT_PAGE
from thecloud.control.iam.errors import PreconditionFailedError
from thecloud.control.iam.names import validate_name
from thecloud.control.iam.records import TENANT_ID_PREFIX
from thecloud.control.iam.server_key import ServerKey
from thecloud.core.clock import utc_now
from thecloud.core.errors import ConflictError, InvalidArgumentError, NotFoundError, StateError
from thecloud.core.ids import parse_id
from thecloud.core.state import Delete, Operation, Put, StateStore, Txn
from thecloud.core.state.scoped import list_scoped

__all__ = ["MAX_SECRET_BYTES", "SecretMetadata", "SecretStore", "SecretValue", "SecretVersion"]

#: Largest secret value; secrets are credentials and certificates, not files.
MAX_SECRET_BYTES: Final = 64 * 1024
_NONCE_BYTES: Final = 12
_META: Final = "iam/secrets/"
_VERSIONS: Final = "iam/secret-versions/"
# Alias at module level: inside the class, `list` names a method.
_Versions = list["SecretVersion"]
# etcd refuses transactions of more than 128 steps by default; stay well below.
_VERSIONS_PER_TXN: Final = 100


class SecretValue:
    """A secret's plaintext; repr and str hide it, `reveal()` hands it out deliberately."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise InvalidArgumentError(f"a secret value must be bytes, not {type(value).__name__}")
        if len(value) > MAX_SECRET_BYTES:
            raise InvalidArgumentError(f"a secret value may hold at most {MAX_SECRET_BYTES} bytes")
        self._value = value

    def reveal(self) -> bytes:
        """Return the plaintext; never log it."""
        return self._value

    def __repr__(self) -> str:
        return "SecretValue(<redacted>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and secrets.compare_digest(self._value, other._value)

    # Unhashable: plaintext must not become a dict key or set member.
    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class SecretMetadata:
    """What may be shown about a secret: its name, tenant, current version and times."""

    tenant_id: str
    name: str
    version: int
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class SecretVersion:
    """One stored version of a secret: its number and when it was written (never its value)."""

    version: int
    created_at: str


def _decode_metadata(raw: bytes) -> SecretMetadata:
    try:
        fields: dict[str, Any] = json.loads(raw)
        return SecretMetadata(**fields)
    except (ValueError, TypeError) as error:
        raise StateError("stored secret metadata is unreadable") from error


class SecretStore:
    """Stores, versions and reads tenant secrets under one master key."""

    def __init__(
        self, store: StateStore, master_key: ServerKey, clock: Callable[[], str] = utc_now
    ) -> None:
        self._store = store
        self._aead = AESGCM(master_key.material)
        self._clock = clock

    def __repr__(self) -> str:
        return "SecretStore(<redacted>)"

    @staticmethod
    def _where(tenant_id: str, name: str) -> str:
        return f"{parse_id(tenant_id, TENANT_ID_PREFIX)}/{validate_name(name, 'secret')}"

    async def put(
        self,
        tenant_id: str,
        name: str,
        value: SecretValue,
        *,
        expect_version: int | None = None,
    ) -> SecretMetadata:
        """Store `value` as the secret's next version (version 1 if new) and return metadata.

        Older versions stay readable by number; ConflictError if another writer got there first;
        PreconditionFailedError if `expect_version` is given and the secret is at another version
        (0: it must not exist yet).
        """
        where = self._where(tenant_id, name)
        if not isinstance(value, SecretValue):
            raise InvalidArgumentError("a secret value must be passed as a SecretValue")
        meta_entry = await self._store.get(_META + where)
        current_version = 0 if meta_entry is None else _decode_metadata(meta_entry.value).version
        if expect_version is not None and expect_version != current_version:
            raise PreconditionFailedError(
                f"secret {name!r} is at version {current_version}, not {expect_version}"
            )
        now = self._clock()
        if meta_entry is None:
            tenant, _, secret_name = where.partition("/")
            metadata = SecretMetadata(tenant, secret_name, 1, now, now)
            expect = 0
        else:
            current = _decode_metadata(meta_entry.value)
            metadata = SecretMetadata(
                current.tenant_id, current.name, current.version + 1, current.created_at, now
            )
            expect = meta_entry.version
        nonce = secrets.token_bytes(_NONCE_BYTES)
        aad = f"{where}/{metadata.version}".encode()
        sealed = nonce + self._aead.encrypt(nonce, value.reveal(), aad)
        version_record = json.dumps({"created_at": now, "sealed": sealed.hex()}).encode()
        await self._store.commit(
            Txn(
                (
                    Put(_META + where, _encode_metadata(metadata), expect_version=expect),
                    Put(_version_key(where, metadata.version), version_record, expect_version=0),
                )
            )
        )
        return metadata

    async def metadata(self, tenant_id: str, name: str) -> SecretMetadata:
        """Return the secret's metadata; NotFoundError if it does not exist."""
        entry = await self._store.get(_META + self._where(tenant_id, name))
        if entry is None:
            raise NotFoundError(f"no secret is named {name!r} in this tenant")
        return _decode_metadata(entry.value)

    async def get(self, tenant_id: str, name: str, version: int | None = None) -> SecretValue:
        """Return the current value, or the value of `version`; NotFoundError if absent.

        StateError if the stored ciphertext fails authentication (tampered, moved, or sealed
        under another master key).
        """
        where = self._where(tenant_id, name)
        if version is None:
            version = (await self.metadata(tenant_id, name)).version
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidArgumentError(f"a secret version is an int >= 1, not {version!r}")
        entry = await self._store.get(_version_key(where, version))
        if entry is None:
            raise NotFoundError(f"secret {name!r} has no version {version}")
        try:
            sealed = bytes.fromhex(json.loads(entry.value)["sealed"])
            nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
            plaintext = self._aead.decrypt(nonce, ciphertext, f"{where}/{version}".encode())
        except (ValueError, TypeError, KeyError, InvalidTag):
            # No chained cause: nothing about the stored bytes belongs in logs.
            raise StateError(
                f"secret {name!r} version {version} failed its integrity check"
            ) from None
        return SecretValue(plaintext)

    async def list(
        self, tenant_id: str, *, limit: int = DEFAULT_PAGE, start_after: str | None = None
    ) -> tuple[list[SecretMetadata], str | None]:
        """Return a page of the tenant's secrets (metadata only) and the name to continue after."""
        prefix = f"{_META}{parse_id(tenant_id, TENANT_ID_PREFIX)}/"
        page = await list_scoped(self._store, prefix, limit=limit, start_after=start_after)
        found = [_decode_metadata(entry.value) for entry in page.entries]
        return found, None if page.next_key is None else found[-1].name

    async def versions(self, tenant_id: str, name: str) -> _Versions:
        """Return when each version of the secret was written, oldest first (no values)."""
        where = self._where(tenant_id, name)
        await self.metadata(tenant_id, name)
        prefix = f"{_VERSIONS}{where}/"
        found: _Versions = []
        cursor: str | None = None
        while True:
            page = await self._store.list(prefix, limit=1000, start_after=cursor)
            for entry in page.entries:
                created_at = str(json.loads(entry.value).get("created_at", ""))
                found.append(SecretVersion(int(entry.key.removeprefix(prefix)), created_at))
            if page.next_key is None:
                return found
            cursor = page.next_key

    async def delete(self, tenant_id: str, name: str, *, expect_version: int | None = None) -> None:
        """Delete the secret and every version of it; NotFoundError if it does not exist,
        PreconditionFailedError if `expect_version` is given and differs from its version.

        The metadata and the newest versions go in one transaction (the one an audited request
        records); versions beyond what one transaction may hold go first, and if deletion stops
        half-way the metadata remains, so deleting again finishes the job.
        """
        where = self._where(tenant_id, name)
        entry = await self._store.get(_META + where)
        if entry is None:
            raise NotFoundError(f"no secret is named {name!r} in this tenant")
        versions = _decode_metadata(entry.value).version
        if expect_version is not None and expect_version != versions:
            raise PreconditionFailedError(
                f"secret {name!r} is at version {versions}, not {expect_version}"
            )
        last = max(0, versions - _VERSIONS_PER_TXN)
        with AuditScope.unaudited():
            for version in range(1, last + 1):
                await self._store.delete(_version_key(where, version))
        steps: list[Operation] = [Delete(_META + where, expect_version=entry.version)]
        steps += [Delete(_version_key(where, v)) for v in range(last + 1, versions + 1)]
        try:
            await self._store.commit(Txn(tuple(steps)))
        except ConflictError:
            raise PreconditionFailedError(f"secret {name!r} changed meanwhile") from None


def _version_key(where: str, version: int) -> str:
    return f"{_VERSIONS}{where}/{version:010d}"


def _encode_metadata(metadata: SecretMetadata) -> bytes:
    return json.dumps(asdict(metadata), sort_keys=True, separators=(",", ":")).encode()
