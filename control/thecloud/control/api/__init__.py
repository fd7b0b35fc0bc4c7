"""The `/v1` REST API over IAM, on raw ASGI: routing, parsing, auth, pagination, resources."""

from __future__ import annotations

from thecloud.control.api.mount import StoreBackedApi
from thecloud.control.api.services import IamServices, build_iam_services, load_keys
from thecloud.control.api.v1 import V1Api

__all__ = ["IamServices", "StoreBackedApi", "V1Api", "build_iam_services", "load_keys"]
