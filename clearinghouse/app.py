"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from clearinghouse.config import Config, load_config
from clearinghouse.hub import Hub, open_hub
from clearinghouse.web_errors import register_error_handlers

EXTENSION = "clearinghouse"


def create_app(config: Config | Mapping[str, Any] | None = None, *, hub: Hub | None = None) -> Flask:
    """Build the hub's web application. The scheduler starts here only when ``with_scheduler`` is set
    explicitly (``clearinghouse serve --with-scheduler``), never once per web worker by default."""
    settings = config if isinstance(config, Config) else load_config(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_file_bytes + 64 * 1024
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = hub or open_hub(settings)
    register_error_handlers(app)

    from clearinghouse.api import api

    app.register_blueprint(api, url_prefix="/api/v1")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if settings.with_scheduler:
        from clearinghouse.scheduler import start_background_scheduler

        app.extensions["clearinghouse.scheduler"] = start_background_scheduler(settings)
    return app


def current_hub(app: Flask) -> Hub:
    hub: Hub = app.extensions[EXTENSION]
    return hub
