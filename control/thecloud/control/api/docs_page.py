"""A self-contained HTML page rendering the OpenAPI document: no scripts, no CDN, no fetches.

Operations are listed by tag with their parameters, request body and responses, each schema
shown with an example built from it; the component schemas follow.
"""

from __future__ import annotations

import html
import json
from typing import Any, Final

__all__ = ["render_docs"]

JsonObject = dict[str, Any]
_STYLE: Final = (
    "body{font:15px/1.45 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}"
    "h2{border-bottom:1px solid #ccc;margin-top:2.5rem}"
    ".op{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:.8rem 0}"
    ".m{font-weight:700;display:inline-block;min-width:4.5rem}"
    "pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:13px}"
    "td,th{text-align:left;padding:.15rem .6rem .15rem 0;vertical-align:top}"
)
_MAX_DEPTH: Final = 6


def _resolve(schema: JsonObject, document: JsonObject) -> JsonObject:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    resolved: JsonObject = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


def example(schema: JsonObject, document: JsonObject, depth: int = 0) -> Any:  # noqa: PLR0911
    """Return a plausible example value of `schema`."""
    schema = _resolve(schema, document)
    if depth > _MAX_DEPTH:
        return None
    if "allOf" in schema:
        merged: JsonObject = {}
        for part in schema["allOf"]:
            value = example(part, document, depth + 1)
            if isinstance(value, dict):
                merged |= value
        return merged
    if "anyOf" in schema:
        return example(schema["anyOf"][0], document, depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example(sub, document, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return [example(schema.get("items", {}), document, depth + 1)]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "string":
        return "web" if "pattern" in schema else "string"
    return None


def _schema_block(title: str, schema: JsonObject, document: JsonObject) -> str:
    sample = json.dumps(example(schema, document), indent=2)
    ref = schema.get("$ref")
    name = f" <code>{html.escape(ref.rsplit('/', 1)[-1])}</code>" if isinstance(ref, str) else ""
    return f"<p>{html.escape(title)}{name}</p><pre>{html.escape(sample)}</pre>"


def _operation(path: str, method: str, op: JsonObject, document: JsonObject) -> str:
    parts = [
        f'<div class="op" id="{html.escape(op.get("operationId", ""))}">',
        f'<span class="m">{method.upper()}</span><code>{html.escape(path)}</code>',
        f"<p>{html.escape(op.get('summary', ''))}</p>",
    ]
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{p['in']}</td>"
            f"<td>{'required' if p.get('required') else ''}</td>"
            f"<td>{html.escape(p.get('description', ''))}</td></tr>"
            for p in params
        )
        parts.append(f"<table>{rows}</table>")
    body = op.get("requestBody")
    if body:
        schema = body["content"]["application/json"]["schema"]
        parts.append(_schema_block("Request body", schema, document))
    for status, response in op.get("responses", {}).items():
        for media, content in response.get("content", {}).items():
            title = f"{status} {response.get('description', '')} ({media})"
            parts.append(_schema_block(title, content.get("schema", {}), document))
    parts.append("</div>")
    return "".join(parts)


def render_docs(document: JsonObject) -> str:
    """Return the HTML page for `document`."""
    info = document["info"]
    by_tag: dict[str, list[str]] = {}
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            tag = op.get("tags", ["other"])[0]
            by_tag.setdefault(tag, []).append(_operation(path, method, op, document))
    sections = "".join(
        f"<h2 id='tag-{html.escape(tag)}'>{html.escape(tag)}</h2>{''.join(ops)}"
        for tag, ops in by_tag.items()
    )
    schemas = "".join(
        f"<h3 id='schema-{html.escape(name)}'>{html.escape(name)}</h3>"
        f"<pre>{html.escape(json.dumps(schema, indent=2))}</pre>"
        for name, schema in document["components"]["schemas"].items()
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(info['title'])}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(info['title'])} {html.escape(info['version'])}</h1>"
        f"<p>{html.escape(info.get('description', ''))}</p>"
        "<p>The machine-readable document is at <a href='/openapi.json'>/openapi.json</a>.</p>"
        f"{sections}<h2>Schemas</h2>{schemas}</body></html>"
    )
