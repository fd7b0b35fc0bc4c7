"""The fixed documents the API serves without authentication: OpenAPI JSON and the docs page.

Built once from the route table when the API is built; every request gets the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Final

from thecloud.control.api.docs_page import render_docs
from thecloud.control.api.openapi import build_openapi
from thecloud.control.api.router import Route
from thecloud.control.app import Response
from thecloud.core.version import version

__all__ = ["DOCS_PATH", "OPENAPI_PATH", "api_documents"]

#: Where the OpenAPI document is served.
OPENAPI_PATH: Final = "/openapi.json"
#: Where its HTML rendering is served.
DOCS_PATH: Final = "/docs"


def api_documents(routes: Iterable[Route]) -> Mapping[str, Response]:
    """Return the responses for OPENAPI_PATH and DOCS_PATH."""
    document = build_openapi(routes, version())
    return {
        OPENAPI_PATH: Response(200, json.dumps(document).encode(), "application/json"),
        DOCS_PATH: Response(200, render_docs(document).encode(), "text/html; charset=utf-8"),
    }
