"""The embedded patient-state store (SQLite) and its changelog."""
