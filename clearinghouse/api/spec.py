"""The OpenAPI 3.1 description of /api/v1: the packaged ``clearinghouse/openapi.json`` with the fragments in
``clearinghouse/openapi/*.json`` (one per area: their ``paths``, ``components`` and ``tags`` merged in)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from flask import Response

from clearinghouse.api import api

SPEC_RESOURCE = "openapi.json"
FRAGMENTS = "openapi"


def _merge(document: dict[str, Any], fragment: dict[str, Any], name: str) -> None:
    for path, operations in fragment.get("paths", {}).items():
        if path in document["paths"]:
            raise ValueError(f"openapi fragment {name} redefines {path}")
        document["paths"][path] = operations
    for section, items in fragment.get("components", {}).items():
        target = document["components"].setdefault(section, {})
        clash = set(items) & set(target)
        if clash:
            raise ValueError(f"openapi fragment {name} redefines components.{section}: {sorted(clash)}")
        target.update(items)
    document["tags"].extend(fragment.get("tags", []))


@cache
def openapi_spec() -> dict[str, Any]:
    """The whole document, fragments merged (built once per process)."""
    root = files("clearinghouse")
    document: dict[str, Any] = json.loads(root.joinpath(SPEC_RESOURCE).read_bytes())
    fragments = root.joinpath(FRAGMENTS)
    if fragments.is_dir():
        for item in sorted(fragments.iterdir(), key=lambda entry: entry.name):
            if item.name.endswith(".json"):
                _merge(document, json.loads(item.read_bytes()), item.name)
    return document


@cache
def openapi_bytes() -> bytes:
    return json.dumps(openapi_spec(), ensure_ascii=False, indent=2).encode("utf-8")


@api.get("/openapi.json")
def openapi_document() -> Response:
    """No token needed: the description of the API is public."""
    return Response(openapi_bytes(), mimetype="application/json")
