"""The HL7 files a command reads: named files as given, folders in name order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["input_files"]

# Sample folders keep their provenance notes beside the messages.
_DOCUMENTATION = frozenset({".md", ".rst"})


def input_files(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """The files to read, in order, and the paths that do not exist. A file named explicitly is always
    read; from a directory, dot-files and documentation (``.md``, ``.rst``) are skipped."""
    files: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        if path.is_dir():
            entries = (
                entry
                for entry in path.iterdir()
                if not entry.name.startswith(".") and entry.suffix.lower() not in _DOCUMENTATION
            )
            files.extend(sorted(entry for entry in entries if entry.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(path)
    return files, missing
