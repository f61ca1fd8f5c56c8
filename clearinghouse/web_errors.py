"""The one place where errors become HTTP answers: JSON ``{"code", "message"}`` with the status the error's
kind calls for. Nothing a client sends can produce a 500 except a genuine bug, which is logged."""

from __future__ import annotations

import logging
import sqlite3

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from clearinghouse.errors import DOMAIN_ERRORS, DomainError, error_body, http_status

log = logging.getLogger(__name__)


def _json(status: int, body: dict[str, object]) -> tuple[Response, int]:
    return jsonify(body), status


def _database_busy(error: BaseException) -> bool:
    original = error.orig if isinstance(error, DBAPIError) else error
    return isinstance(original, sqlite3.OperationalError) and "locked" in str(original)


def register_error_handlers(app: Flask) -> None:
    def domain_error(error: DomainError) -> tuple[Response, int]:
        return _json(http_status(error), error_body(error))

    for error_class in DOMAIN_ERRORS:
        app.register_error_handler(error_class, domain_error)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge) -> tuple[Response, int]:
        return _json(413, {"code": "FILE_TOO_LARGE", "message": "the request exceeds the size limit"})

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        response, _ = _json(status, {"code": f"HTTP_{status}", "message": error.description or error.name})
        for name, value in error.get_headers():
            if name.lower() != "content-type":  # keep Allow, WWW-Authenticate, Retry-After ...
                response.headers[name] = value
        return response, status

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:
        if _database_busy(error):  # another writer held SQLite past the busy timeout: retry later, not a bug
            response, _ = _json(503, {"code": "DATABASE_BUSY", "message": "the hub is busy; nothing was changed"})
            response.headers["Retry-After"] = "1"
            return response, 503
        log.exception("unhandled error")
        return _json(500, {"code": "INTERNAL", "message": "internal error; nothing was changed"})
