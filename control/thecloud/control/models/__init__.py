"""The `/v1` API's request and response models, shared by the server, the SDK and the CLI.

Request bodies are closed dataclasses (`requests`), parsed strictly by `parse_json`; responses
are the IAM records and the documents in `responses`. The OpenAPI document is generated from
these same classes (`jsonschema`), so it cannot drift from what the server accepts and returns.
"""

from __future__ import annotations

from thecloud.control.models import requests, responses
from thecloud.control.models.jsonschema import Range, SchemaRegistry, Text, type_schema
from thecloud.control.models.parsing import parse_document, parse_json

__all__ = [
    "Range",
    "SchemaRegistry",
    "Text",
    "parse_document",
    "parse_json",
    "requests",
    "responses",
    "type_schema",
]
