"""One module per `b12stream` sub-command; each has ``add_arguments(parser)`` and ``run(args) -> int``."""
