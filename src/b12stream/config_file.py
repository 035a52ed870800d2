"""Reading one YAML configuration file into a mapping, with errors that name the file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from b12stream.errors import ConfigError

__all__ = ["read_yaml_mapping"]


def read_yaml_mapping(path: Path) -> Mapping[str, Any]:
    """The file's top-level mapping (empty for an empty file).

    Raises ConfigError naming the file when it cannot be read, is not YAML, or is not a mapping.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path.name}: not valid YAML: {error}") from error
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path.name}: the top level must be a mapping")
    return document
