"""Who is calling: the API key from `Authorization: Bearer` or `X-API-Key`, checked by IAM."""

from __future__ import annotations

from thecloud.control.api.request import Request
from thecloud.control.iam import ApiKeyService, AuthenticationError, Principal

__all__ = ["authenticate"]

_BEARER = "bearer "


def _token(request: Request) -> str:
    authorization = request.header("authorization")
    api_key = request.header("x-api-key")
    # Two credentials at once are ambiguous; refusing is safer than picking one.
    if authorization is not None and api_key is not None:
        raise AuthenticationError
    if api_key is not None:
        return api_key.strip()
    if authorization is not None and authorization[: len(_BEARER)].lower() == _BEARER:
        return authorization[len(_BEARER) :].strip()
    raise AuthenticationError


async def authenticate(keys: ApiKeyService, request: Request) -> Principal:
    """Return the caller's principal; AuthenticationError (one generic message) otherwise."""
    return await keys.authenticate(_token(request))
