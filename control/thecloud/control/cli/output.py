"""Printing results as a rich table, JSON or YAML (`-o`), records and lists alike."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from thecloud.sdk.config import OutputFormat
from thecloud.sdk.models import as_document

__all__ = ["print_fields", "print_list", "print_record"]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _dump(document: Any, output: OutputFormat, console: Console) -> None:
    if output == "id":
        # For scripts: `SA=$(thecloud -o id service-account create ci-bot)`.
        for each in document if isinstance(document, list) else [document]:
            console.print(_text(each.get("id")), markup=False, highlight=False)
    elif output == "json":
        console.print_json(json.dumps(document))
    else:
        console.print(yaml.safe_dump(document, sort_keys=False).rstrip(), markup=False)


def print_list(
    records: Iterable[object], columns: Sequence[str], output: OutputFormat, console: Console
) -> None:
    """Print records: a table of `columns`, or every field as a JSON/YAML list."""
    documents = [as_document(record) for record in records]
    if output != "table":
        _dump(documents, output, console)
        return
    table = Table(*(column.upper().replace("_", " ") for column in columns), box=None)
    for document in documents:
        table.add_row(*(_text(document.get(column)) for column in columns))
    console.print(table)


def print_record(record: object, output: OutputFormat, console: Console) -> None:
    """Print one record: a two-column table of its fields, or JSON/YAML."""
    document = as_document(record)
    if output != "table":
        _dump(document, output, console)
        return
    print_fields(document, console)


def print_fields(fields: Mapping[str, Any], console: Console) -> None:
    """Print named values as a two-column table."""
    table = Table(show_header=False, box=None)
    for name, value in fields.items():
        table.add_row(name.replace("_", " "), _text(value))
    console.print(table)
