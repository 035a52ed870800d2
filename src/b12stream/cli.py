"""The `b12stream` command: dispatches to one module per sub-command.

Exit codes: 0 the work was done (even if some messages were rejected), 2 unusable arguments or
configuration, 1 an unexpected failure.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from b12stream.errors import ConfigError
from b12stream.log import configure_logging

__all__ = ["main"]

_COMMANDS = {
    "inspect": "show what the engine sees in HL7 files, one JSON line per message",
    "replay": "run the whole engine on HL7 files with no broker; events to stdout",
    "run": "consume ORU^R01 from Kafka, publish alerts and reflex orders",
    "produce": "send the messages in HL7 files to a Kafka topic",
    "dead-letters": "show the messages on the dead-letter topic and why; save them to fix and resend",
}
# The levels structlog filters on; any other name would raise on the first log line.
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Only the chosen command's module is imported, so `inspect` never loads the Kafka client."""
    parser = argparse.ArgumentParser(prog="b12stream", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=_LOG_LEVELS, help="default INFO"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in _COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name in argv:
            _module(name).add_arguments(sub)
    return parser


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"b12stream.commands.{name.replace('-', '_')}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser(argv).parse_args(argv)
    configure_logging(args.log_level)
    try:
        return int(_module(args.command).run(args))
    except ConfigError as error:
        print(f"b12stream {args.command}: configuration error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
