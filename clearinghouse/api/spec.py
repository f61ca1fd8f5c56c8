"""The OpenAPI 3.1 description of /api/v1, served from the packaged ``clearinghouse/openapi.json``."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from flask import Response

from clearinghouse.api import api

SPEC_RESOURCE = "openapi.json"


@cache
def openapi_bytes() -> bytes:
    """The document exactly as shipped (read once per process)."""
    return files("clearinghouse").joinpath(SPEC_RESOURCE).read_bytes()


@api.get("/openapi.json")
def openapi_document() -> Response:
    """No token needed: the description of the API is public."""
    return Response(openapi_bytes(), mimetype="application/json")
