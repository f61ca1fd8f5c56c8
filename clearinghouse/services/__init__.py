"""Service functions: each owns one unit of work (opens it, commits once, rolls back on any error)."""
