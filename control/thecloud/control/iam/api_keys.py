"""API keys: issue, authenticate, rotate, revoke and list, with secrets stored only as digests.

A key's secret is shown once, inside the token `create` or `rotate` returns. The store keeps
HMAC-SHA256(server key, key id || 0 || secret), so a copy of the state store alone cannot be
used to log in, and binding the key id into the digest stops a digest from being moved between
keys. A revocation or rotation takes effect on the very next request: without a cache
`authenticate` reads the key every time, and with one (see auth_cache) every IAM write
invalidates what it holds.

Layout: `iam/api-keys/<key id>` holds the key and its digest; `iam/api-key-index/<tenant>/<key
id>` (empty) lists a tenant's keys. Both are written in one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final

from thecloud.control.iam.auth_cache import DecisionCache, IamGeneration
from thecloud.control.iam.directory import DEFAULT_PAGE, Directory
from thecloud.control.iam.errors import AuthenticationError
from thecloud.control.iam.names import validate_name
from thecloud.control.iam.records import TENANT_ID_PREFIX, Principal, PrincipalKind
from thecloud.control.iam.server_key import ServerKey
from thecloud.control.iam.tokens import KEY_ID_PREFIX, format_token, new_secret, parse_token
from thecloud.core.clock import utc_now
from thecloud.core.errors import ConflictError, NotFoundError, StateError
from thecloud.core.ids import new_id, parse_id
from thecloud.core.state import Put, StateStore, Txn
from thecloud.core.state.model import validate_limit
from thecloud.core.state.scoped import list_scoped

__all__ = ["ApiKey", "ApiKeyService", "IssuedApiKey", "new_key_id"]

_KEYS: Final = "iam/api-keys/"
_INDEX: Final = "iam/api-key-index/"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What may be shown about an API key: everything except its secret and digest."""

    id: str
    tenant_id: str
    principal_kind: PrincipalKind
    principal_id: str
    name: str
    created_at: str
    rotated_at: str | None = None
    revoked_at: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A key just created or rotated, with the token holding its secret; shown exactly once."""

    key: ApiKey
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class _StoredKey:
    key: ApiKey
    digest: bytes = field(repr=False)
    version: int

    def encode(self) -> bytes:
        fields = asdict(self.key) | {"digest": self.digest.hex()}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes, version: int) -> _StoredKey:
        try:
            fields: dict[str, Any] = json.loads(raw)
            digest = bytes.fromhex(fields.pop("digest"))
            key = ApiKey(**fields)
            key = replace(key, principal_kind=PrincipalKind(key.principal_kind))
        except (ValueError, TypeError, KeyError) as error:
            # No detail: the record holds a digest, and messages end up in logs.
            raise StateError("a stored API key is unreadable") from error
        return cls(key, digest, version)


def new_key_id() -> str:
    """Return a fresh API key id."""
    return new_id(KEY_ID_PREFIX)


class ApiKeyService:
    """Issues and checks the API keys of users and service accounts."""

    def __init__(
        self,
        store: StateStore,
        directory: Directory,
        server_key: ServerKey,
        clock: Callable[[], str] = utc_now,
        *,
        generation: IamGeneration | None = None,
    ) -> None:
        """`generation`, if given, enables caching verified keys (see auth_cache); whoever
        writes IAM state must then bump it."""
        self._store = store
        self._directory = directory
        self._server_key = server_key
        self._clock = clock
        # Exact token -> principal. Keyed by the whole token (compared by equality, never by a
        # hash alone), so only the very string that was verified can hit; held in memory only.
        self._verified: DecisionCache[Principal] | None = (
            None if generation is None else DecisionCache(generation)
        )
        # Compared against when the key id is unknown, so that path does the same work.
        self._decoy = secrets.token_bytes(hashlib.sha256().digest_size)

    def __repr__(self) -> str:
        return "ApiKeyService(<redacted>)"

    def _digest(self, key_id: str, secret: bytes) -> bytes:
        message = key_id.encode("ascii") + b"\0" + secret
        return hmac.new(self._server_key.material, message, hashlib.sha256).digest()

    async def create(
        self,
        tenant_id: str,
        principal_kind: PrincipalKind,
        principal_id: str,
        name: str,
        *,
        key_id: str | None = None,
    ) -> IssuedApiKey:
        """Issue a key for the account; NotFoundError if the account is not in the tenant.

        `key_id` (from `new_key_id`) names the key in advance; by default a fresh id is used.
        """
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        validate_name(name, "API key")
        if not await self._directory.principal_exists(tenant_id, principal_kind, principal_id):
            raise NotFoundError(f"{principal_kind} {principal_id!r} does not exist in this tenant")
        issued, steps = self.prepare(tenant_id, principal_kind, principal_id, name, key_id=key_id)
        await self._store.commit(Txn(steps))
        return issued

    def prepare(
        self,
        tenant_id: str,
        principal_kind: PrincipalKind,
        principal_id: str,
        name: str,
        *,
        key_id: str | None = None,
    ) -> tuple[IssuedApiKey, tuple[Put, ...]]:
        """Return a new key and the steps storing it, without checking the account: for an
        account created in the same transaction."""
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        key = ApiKey(
            id=new_key_id() if key_id is None else parse_id(key_id, KEY_ID_PREFIX),
            tenant_id=tenant_id,
            principal_kind=principal_kind,
            principal_id=principal_id,
            name=validate_name(name, "API key"),
            created_at=self._clock(),
        )
        secret = new_secret()
        stored = _StoredKey(key, self._digest(key.id, secret), 0)
        steps = (
            Put(_KEYS + key.id, stored.encode(), expect_version=0),
            Put(f"{_INDEX}{tenant_id}/{key.id}", b"", expect_version=0),
        )
        return IssuedApiKey(key, format_token(key.id, secret)), steps

    async def authenticate(self, token: str) -> Principal:
        """Return who `token` belongs to, or raise the one generic AuthenticationError.

        Unknown, revoked and wrong-secret keys all cost one store read and one constant-time
        comparison, so neither the error nor the timing tells which it was.
        """
        cached = None if self._verified is None else self._verified.get(token)
        if cached is not None:
            return cached
        started = 0 if self._verified is None else self._verified.start()
        parsed = parse_token(token)
        if parsed is None:
            raise AuthenticationError
        presented = self._digest(parsed.key_id, parsed.secret)
        entry = await self._store.get(_KEYS + parsed.key_id)
        stored = None if entry is None else _StoredKey.decode(entry.value, entry.version)
        expected = self._decoy if stored is None else stored.digest
        matches = hmac.compare_digest(expected, presented)
        if not matches or stored is None or stored.key.revoked_at is not None:
            raise AuthenticationError
        key = stored.key
        # A deleted account's keys die with it, even if nobody revoked them.
        if not await self._directory.principal_exists(
            key.tenant_id, key.principal_kind, key.principal_id
        ):
            raise AuthenticationError
        principal = Principal(key.tenant_id, key.principal_kind, key.principal_id, key.id)
        if self._verified is not None:
            self._verified.put(token, started, principal)
        return principal

    async def _load(self, tenant_id: str, key_id: str) -> _StoredKey:
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        entry = await self._store.get(_KEYS + parse_id(key_id, KEY_ID_PREFIX))
        stored = None if entry is None else _StoredKey.decode(entry.value, entry.version)
        # Another tenant's key is reported as absent, not as forbidden, to hide that it exists.
        if stored is None or stored.key.tenant_id != tenant_id:
            raise NotFoundError(f"API key {key_id!r} does not exist in this tenant")
        return stored

    async def get(self, tenant_id: str, key_id: str) -> ApiKey:
        """Return the key `key_id` of the tenant (without secret); NotFoundError if absent."""
        return (await self._load(tenant_id, key_id)).key

    async def rotate(self, tenant_id: str, key_id: str) -> IssuedApiKey:
        """Give the key a new secret; the old one fails from the next authenticate on.

        ConflictError if the key is revoked or changed concurrently.
        """
        stored = await self._load(tenant_id, key_id)
        if stored.key.revoked_at is not None:
            raise ConflictError(f"API key {key_id!r} is revoked and cannot be rotated")
        secret = new_secret()
        key = replace(stored.key, rotated_at=self._clock())
        rotated = _StoredKey(key, self._digest(key.id, secret), stored.version)
        await self._store.put(_KEYS + key.id, rotated.encode(), expect_version=stored.version)
        return IssuedApiKey(key, format_token(key.id, secret))

    async def revoke(self, tenant_id: str, key_id: str) -> ApiKey:
        """Revoke the key for good; authenticate refuses it from the next call on."""
        stored = await self._load(tenant_id, key_id)
        if stored.key.revoked_at is not None:
            return stored.key
        key = replace(stored.key, revoked_at=self._clock())
        # A fresh random digest as well, so even a bug that skipped the revoked check would
        # not accept the old secret.
        revoked = _StoredKey(key, secrets.token_bytes(len(stored.digest)), stored.version)
        await self._store.put(_KEYS + key.id, revoked.encode(), expect_version=stored.version)
        return key

    async def list(
        self,
        tenant_id: str,
        *,
        principal_id: str | None = None,
        limit: int = DEFAULT_PAGE,
        start_after: str | None = None,
    ) -> tuple[list[ApiKey], str | None]:
        """Return a page of the tenant's keys (no secrets) and the key id to continue after.

        With `principal_id`, only that account's keys are returned, so a page may hold fewer
        than `limit` keys even when more follow.
        """
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        validate_limit(limit)
        prefix = f"{_INDEX}{tenant_id}/"
        page = await list_scoped(self._store, prefix, limit=limit, start_after=start_after)
        keys: list[ApiKey] = []
        for index_entry in page.entries:
            key_id = index_entry.key.removeprefix(prefix)
            entry = await self._store.get(_KEYS + key_id)
            if entry is None:
                continue
            key = _StoredKey.decode(entry.value, entry.version).key
            if principal_id is None or key.principal_id == principal_id:
                keys.append(key)
        next_id = None if page.next_key is None else page.next_key.removeprefix(prefix)
        return keys, next_id
