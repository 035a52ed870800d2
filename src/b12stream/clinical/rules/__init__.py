"""The clinical rules R01–R09, one module per rule, each a pure function of a snapshot."""

__all__: list[str] = []
