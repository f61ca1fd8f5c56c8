"""JSON API under /api/v1. Routes turn a request into one service call; they never commit."""

from flask import Blueprint

api = Blueprint("api", __name__)

from clearinghouse.api import contracts, files, partners, periods  # noqa: E402, F401
