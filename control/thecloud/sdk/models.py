"""What the API returns, as the shared models of `thecloud.control.models`, read leniently.

The server, the OpenAPI document and the SDK use the same dataclasses. `read` builds them from
an answer: members the model does not declare are skipped, so a newer server that adds a field
(or a resource `version`) does not break an older client, while a missing field or an unknown
enum value fails loudly, naming the field.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from thecloud.control.iam.secrets_store import SecretVersion
from thecloud.control.models.requests import PutQuotas as QuotaLimits
from thecloud.control.models.responses import (
    ApiKey,
    AuditEntry,
    AuditVerdict,
    Deleted,
    IssuedKey,
    LoadBalancer,
    LoadBalancerStats,
    Operation,
    Permission,
    Project,
    Quotas,
    Role,
    RoleBinding,
    Secret,
    ServiceAccount,
    Tenant,
    TenantCreated,
    User,
)
from thecloud.sdk.errors import UnexpectedAnswerError

__all__ = [
    "ApiKey",
    "AuditEntry",
    "AuditVerdict",
    "Deleted",
    "IssuedKey",
    "LoadBalancer",
    "LoadBalancerStats",
    "Operation",
    "Permission",
    "Project",
    "Quotas",
    "QuotaLimits",
    "Role",
    "RoleBinding",
    "Secret",
    "SecretValue",
    "SecretVersion",
    "ServiceAccount",
    "Tenant",
    "TenantCreated",
    "User",
    "as_document",
    "read",
]

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class SecretValue:
    """A secret's metadata and its latest value as bytes; the value stays out of reprs."""

    secret: Secret
    value: bytes = field(repr=False)


def _convert(value: Any, hint: Any, where: str) -> Any:  # noqa: PLR0911
    """`value` as `hint` says: dataclasses and enums built, optionals and containers followed."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _convert(value, typing.get_args(hint)[0], where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        (inner, *_) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(value, inner, where)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise UnexpectedAnswerError(f"{where} should be an array")
        (item,) = typing.get_args(hint)[:1]
        items = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise UnexpectedAnswerError(f"{where} is {value!r}, not a {hint.__name__}") from None
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise UnexpectedAnswerError(f"{where} should be an object")
        return value
    return _scalar(value, hint, where)


def _scalar(value: Any, hint: Any, where: str) -> Any:
    if hint is Any:
        return value
    if value is None:
        raise UnexpectedAnswerError(f"{where} is missing")
    # bool is an int in Python, not in JSON; an int is a fine float.
    fits = isinstance(value, hint) and not (isinstance(value, bool) and hint is not bool)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        fits = True
    if not fits:
        raise UnexpectedAnswerError(
            f"{where} should be {hint.__name__}, not {type(value).__name__}"
        )
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(model: type) -> dict[str, Any]:
    # Resolving hints is slow next to reading one record; a listing reads thousands.
    found = _HINTS.get(model)
    if found is None:
        found = _HINTS[model] = typing.get_type_hints(model, include_extras=True)
    return found


def _build(model: type[M], document: object, where: str) -> M:
    if not isinstance(document, Mapping):
        raise UnexpectedAnswerError(f"{where} should be a JSON object")
    hints = _hints(model)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(model):  # type: ignore[arg-type]
        if item.name not in document:
            has_default = (
                item.default is not dataclasses.MISSING
                or item.default_factory is not dataclasses.MISSING
            )
            if not has_default:
                raise UnexpectedAnswerError(f"{where}.{item.name} is missing")
            continue
        values[item.name] = _convert(document[item.name], hints[item.name], f"{where}.{item.name}")
    # Members the model does not declare are skipped: a newer server may add some.
    return model(**values)


def read(model: type[M], document: object) -> M:
    """Return an answer as `model`; UnexpectedAnswerError naming the field if it does not fit."""
    try:
        return _build(model, document, model.__name__)
    except UnexpectedAnswerError as error:
        raise UnexpectedAnswerError(
            f"the server's answer does not fit the model: {error}"
        ) from None


def as_document(record: object) -> dict[str, Any]:
    """Return a record as plain JSON values (enums as their values), for printing."""
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        raise TypeError(f"expected a record, not {type(record).__name__}")
    plain: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(record)))
    return plain
