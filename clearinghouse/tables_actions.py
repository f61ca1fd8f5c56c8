"""Tables of evidence-gated actions on a member's points (red line RL9). Imported by ``clearinghouse.db``."""

from __future__ import annotations

APPEND_ONLY: tuple[str, ...] = ()
"""Tables of this area the database makes append-only (triggers in ``clearinghouse.db``)."""
