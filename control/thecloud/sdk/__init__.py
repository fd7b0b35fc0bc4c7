"""The Cloud's Python SDK: `AsyncClient` (asyncio) and `Client` (blocking) over the `/v1` API.

```python
from thecloud.sdk import Client

with Client() as cloud:  # THECLOUD_API_URL, THECLOUD_API_KEY, THECLOUD_TENANT or the config file
    for project in cloud.projects.list():
        print(project.id, project.name)
```

Failures raise `ApiError` subclasses (`ResourceNotFoundError`, `PermissionDeniedError`, ...)
carrying the server's problem document.
"""

from thecloud.sdk.client import AsyncClient
from thecloud.sdk.config import ClientConfig, load_client_config
from thecloud.sdk.errors import (
    ApiError,
    AuthenticationError,
    InvalidRequestError,
    NotConfiguredError,
    PermissionDeniedError,
    Problem,
    ResourceConflictError,
    ResourceNotFoundError,
    ServerFaultError,
    TooManyRequestsError,
    TransportError,
    UnexpectedAnswerError,
)
from thecloud.sdk.resources.operations import OperationFailedError, OperationTimeoutError
from thecloud.sdk.sync import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ClientConfig",
    "ResourceConflictError",
    "InvalidRequestError",
    "NotConfiguredError",
    "OperationFailedError",
    "OperationTimeoutError",
    "ResourceNotFoundError",
    "PermissionDeniedError",
    "Problem",
    "ServerFaultError",
    "TooManyRequestsError",
    "TransportError",
    "UnexpectedAnswerError",
    "load_client_config",
]
