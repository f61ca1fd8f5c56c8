"""Tables of the monitoring area (red lines as code). Imported by ``clearinghouse.db`` for the schema."""

from __future__ import annotations

APPEND_ONLY: tuple[str, ...] = ()
"""Tables of this area the database makes append-only (triggers in ``clearinghouse.db``)."""
